"""Policy: what loads from a store accept (trust), where verified blobs are kept (cache), what pushes sign with.

A :class:`~remoteimport.store.Store` only moves bytes. The policy arguments a user gives it
(``Store(url, trusted_keys=..., signing_key=..., cache=...)``) are kept, unread, in a :class:`Policy`, which
``store.policy`` holds and the layers above read: the loader (trust, cache), the registry (signing key, the trust
check before copying) and the read-only views (trust, to show signatures). Each setting is resolved on first use,
from its argument or else its environment variable, so building a store reads no key file, imports no
cryptography and opens no cache folder.

    >>> import remoteimport
    >>> store = remoteimport.Store("memory://policy-doc", cache=False)
    >>> store.policy.cache is None, store.policy.trust.trusted
    (True, ())
"""

from __future__ import annotations

from remoteimport import _memo

TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from collections.abc import Iterable

    from remoteimport.cache import BlobCache
    from remoteimport.signing import PublicKey, SigningKey, TrustPolicy

__all__ = ["Policy"]


class Policy:
    """A store's load and publish policy, resolved lazily from the arguments it was made with.

    ``signing_key``: a private key (or its path) pushes are signed with, else ``$REMOTEIMPORT_SIGNING_KEY``;
    ``trusted_keys``: public keys (or paths) loads require a signature from, else ``$REMOTEIMPORT_TRUSTED_KEYS``;
    ``cache``: the local cache of verified blobs (:func:`remoteimport.cache.resolve_cache`), on by default for a
    remote store (``local_store=False``) and off for a folder or ``memory://``.
    """

    def __init__(
        self,
        *,
        signing_key: str | os.PathLike[str] | SigningKey | None = None,
        trusted_keys: Iterable[str | os.PathLike[str] | PublicKey] | None = None,
        cache: BlobCache | str | os.PathLike[str] | bool | None = None,
        local_store: bool,
    ) -> None:
        self._signing_key = signing_key
        self._trusted_keys = None if trusted_keys is None else tuple(trusted_keys)
        self._require_signatures = False  # or'ed with $REMOTEIMPORT_REQUIRE_SIGNATURES (with_trust sets it)
        self._cache = cache
        self.local_store = local_store

    @_memo.cached_property
    def signing_key(self) -> SigningKey | None:
        """The key pushes are signed with: ``signing_key=``, else ``$REMOTEIMPORT_SIGNING_KEY``, else None."""
        from remoteimport.signing import signing_key_from

        return signing_key_from(self._signing_key)

    @_memo.cached_property
    def trust(self) -> TrustPolicy:
        """What loads accept: ``trusted_keys=``, else ``$REMOTEIMPORT_TRUSTED_KEYS`` (see :mod:`signing`)."""
        from remoteimport.signing import TrustPolicy

        return TrustPolicy.resolve(self._trusted_keys, require_signatures=self._require_signatures)

    @property
    def trusted_keys_given(self) -> tuple[str | os.PathLike[str] | PublicKey, ...] | None:
        """The ``trusted_keys`` as given (paths or keys), unread; None: ``$REMOTEIMPORT_TRUSTED_KEYS`` decides."""
        return self._trusted_keys

    @_memo.cached_property
    def cache(self) -> BlobCache | None:
        """The local cache of verified blobs loads use (None: no cache)."""
        from remoteimport.cache import resolve_cache

        return resolve_cache(self._cache, local_store=self.local_store)

    def with_trust(
        self, trusted_keys: Iterable[str | os.PathLike[str] | PublicKey], *, require_signatures: bool = False
    ) -> Policy:
        """The same policy (its cache and signing key too, once resolved), but loading only blobs signed by
        one of ``trusted_keys``; ``require_signatures``: unsigned blobs are refused even when that is empty."""
        import copy

        clone = copy.copy(self)
        clone._trusted_keys = tuple(trusted_keys)
        clone._require_signatures = require_signatures
        clone.__dict__.pop("trust", None)
        return clone

    def __eq__(self, other: object) -> bool:
        # What a policy accepts is what identifies it: a store that accepts unsigned code is not the same as
        # one that refuses it, even at one URL.
        return isinstance(other, Policy) and self.trust == other.trust

    def __hash__(self) -> int:
        return hash(self.trust)

    def __repr__(self) -> str:  # reads no key file: a repr never fails
        keys = "$REMOTEIMPORT_TRUSTED_KEYS" if self._trusted_keys is None else f"{len(self._trusted_keys)} key(s)"
        return f"Policy(trusted_keys={keys}, local_store={self.local_store})"
