"""Plugging remoteimport into distributed engines and frameworks through their own extension points.

- :mod:`remoteimport.integrations.dask`: ``client.register_plugin(RemoteImportPlugin(store))`` (docs/engines.md);
- :mod:`remoteimport.integrations.ray`: ``ray.init(runtime_env=runtime_env(store))`` (docs/engines.md);
- :mod:`remoteimport.integrations.labchain`: ``enable(store)``, LabChain's persistence through a store
  (docs/labchain.md); the LabChain internals it replaces live in ``_labchain_internals.py`` alone.

Both modules share :class:`Served`: what a process needs to serve a namespace, resolved on the driver so that
it travels (a lock's pins and trusted keys' bytes, not paths that may not exist on a worker).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Served"]


@dataclass(frozen=True)
class Served:
    """A namespace served from a store, with its lock and trusted keys: picklable, resolved where it is made.

    ``lock``: None lets each process find its own (``$REMOTEIMPORT_LOCK`` or ``./remoteimport.lock``), False
    uses none; a path is read here. ``trusted_keys``: None lets each process use ``$REMOTEIMPORT_TRUSTED_KEYS``;
    paths are read here."""

    store_url: str
    namespace: str
    storage_options: tuple[tuple[str, Any], ...] = ()
    lock: Any = None  # remoteimport.lock.Lock | False | None
    trusted_keys: tuple[Any, ...] | None = None  # remoteimport.signing.PublicKey

    @classmethod
    def resolve(
        cls,
        store: Any = None,
        namespace: str | None = None,
        *,
        lock: Any = None,
        trusted_keys: Iterable[str | os.PathLike[str] | Any] | None = None,
    ) -> Served:
        from remoteimport._startup import default_namespace
        from remoteimport.lock import Lock, read_lock
        from remoteimport.names import validate_namespace
        from remoteimport.signing import PublicKey, load_public_key
        from remoteimport.store import Store, default_store_url

        if not isinstance(store, Store):
            # Store() does no I/O for remote URLs and makes a local path absolute: workers' cwd differs
            store = Store(os.fspath(store) if store is not None else default_store_url())
        url, options = store.unredacted_url, tuple(sorted(store.storage_options.items()))  # workers open it
        if lock is not None and lock is not False and not isinstance(lock, Lock):
            lock = read_lock(lock)
        keys = None
        if trusted_keys is not None:
            keys = tuple(key if isinstance(key, PublicKey) else load_public_key(key) for key in trusted_keys)
        return cls(
            store_url=url,
            namespace=validate_namespace(namespace if namespace is not None else default_namespace()),
            storage_options=options,
            lock=lock,
            trusted_keys=keys,
        )

    def serve(self) -> None:
        """Serve the namespace in this process (:func:`remoteimport.install`), unless it already is, alike."""
        from remoteimport import hook
        from remoteimport.store import Store

        store = Store(self.store_url, **dict(self.storage_options))
        keys = self._keys_here()
        current = hook.installed().get(self.namespace)
        if (
            current is not None
            and current.store.url == store.url
            and (self.lock is None or (current.lock or False) == self.lock)
            and (keys is None or current.store.policy.trust.trusted == keys)
        ):
            return
        hook.install(store, self.namespace, trusted_keys=keys, lock=self.lock)

    def _keys_here(self) -> tuple[Any, ...] | None:
        """The keys this process trusts for the namespace: what both the client and this host's own
        ``$REMOTEIMPORT_TRUSTED_KEYS`` accept (the rule of remoteimport.served). A client with no keys (an
        empty list) leaves this host's own policy as it is: it never switches a worker's keys off."""
        from remoteimport.served import keys_both_accept
        from remoteimport.signing import TrustPolicy

        if not self.trusted_keys:
            return None  # None, or empty: $REMOTEIMPORT_TRUSTED_KEYS of this process decides
        both = keys_both_accept(
            self.namespace,
            [(key, key) for key in self.trusted_keys],
            TrustPolicy.resolve().trusted,
            offered_by="the client",
            advice="Put the client's key among this host's trusted keys.",
        )
        return tuple(key for key, _ in both)
