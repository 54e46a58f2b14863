"""I/O: a content-addressed store of class blobs on any fsspec filesystem.

Layout under the store's root (every name and hash validated by :mod:`remoteimport.names` first)::

    blobs/<Name>/<hash[:2]>/<hash>.blob         immutable; sharded so a prefix lookup lists one folder
    refs/<Name>/latest                          the current version's full hash
    refs/<Name>/history/<time_ns>-<hash[:16]>-<random>.json   one object per push: append-only

A ref is written only after its blob is completely written; writes are atomic (a temporary file renamed into
place on local disks; object stores replace objects whole). Nothing is ever overwritten but ``latest``.

    >>> store = Store("memory://doc-example")
    >>> store.names()
    []
"""

from __future__ import annotations

import copy
import functools
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from remoteimport.errors import (
    AmbiguousPrefixError,
    IntegrityError,
    InvalidNameError,
    NameNotFoundError,
    RemoteImportError,
    StoreError,
    StoreUnreachableError,
    VersionNotFoundError,
)
from remoteimport.names import HASH_LENGTH, validate_hash, validate_name
from remoteimport.signing import PublicKey, SigningKey, TrustPolicy, signing_key_from

ENV_STORE = "REMOTEIMPORT_STORE"
ENV_ALLOW_HTTP = "REMOTEIMPORT_ALLOW_HTTP"


@dataclass(frozen=True)
class Version:
    """One entry of a name's history: what was pushed, when, from which Python."""

    name: str
    hash: str
    time: float
    python: str
    action: str = "push"  # or "rollback"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Version:
        return cls(
            name=validate_name(data["name"]),
            hash=validate_hash(data["hash"], allow_prefix=False),
            time=float(data["time"]),
            python=str(data["python"]),
            action=str(data.get("action", "push")),
        )


def default_store_url() -> str:
    """``$REMOTEIMPORT_STORE`` if set, else ``<user data dir>/remoteimport/store`` (the embedded default)."""
    configured = os.environ.get(ENV_STORE)
    if configured:
        return configured
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("remoteimport", appauthor=False), "store")


class Store:
    """A store of class versions at an fsspec URL or a local path.

    ``Store("/srv/classes")``, ``Store("s3://bucket/prefix", anon=False)``, ``Store("memory://x")``: keyword
    arguments are fsspec ``storage_options`` for the backend.
    """

    def __init__(
        self,
        url: str | os.PathLike[str],
        *,
        signing_key: str | os.PathLike[str] | SigningKey | None = None,
        trusted_keys: Iterable[str | os.PathLike[str] | PublicKey] | None = None,
        allow_http: bool = False,
        **storage_options: Any,
    ) -> None:
        url = os.fspath(url)
        if not url:
            raise StoreError("empty store URL: give a path or an fsspec URL such as 's3://bucket/prefix'")
        if url.lower().startswith("http://") and not (allow_http or os.environ.get(ENV_ALLOW_HTTP) == "1"):
            raise StoreError(
                f"refusing the plain-http store {url}: anyone on the network path could swap the code you import. "
                f"Use https://, or pass allow_http=True / set {ENV_ALLOW_HTTP}=1 if you accept that risk."
            )
        self._signing_key_arg = signing_key
        self._trusted_keys_arg = None if trusted_keys is None else tuple(trusted_keys)
        import fsspec
        from fsspec.core import url_to_fs

        try:
            self.fs, root = url_to_fs(url, **storage_options)
        except (ImportError, ValueError) as exc:
            raise StoreError(f"cannot open store {url!r}: {exc}. {_backend_hint(url)}") from exc
        self.root = root.rstrip("/") if root not in ("/", "") else root
        self.storage_options = storage_options
        self._local = isinstance(self.fs, fsspec.implementations.local.LocalFileSystem)
        # Local stores are named by their absolute path: the same in messages, comparisons and other processes.
        self.url = self.root if self._local else url
        # memory:// lives in this process: as private as a local folder.
        self.is_local = self._local or "memory" in _protocols(self.fs)

    @functools.cached_property
    def signing_key(self) -> SigningKey | None:
        """The key pushes are signed with: ``signing_key=``, else ``$REMOTEIMPORT_SIGNING_KEY``, else None."""
        return signing_key_from(self._signing_key_arg)

    @functools.cached_property
    def trust(self) -> TrustPolicy:
        """What loads accept: ``trusted_keys=``, else ``$REMOTEIMPORT_TRUSTED_KEYS`` (see :mod:`signing`)."""
        return TrustPolicy.resolve(self._trusted_keys_arg)

    def with_trust(self, trusted_keys: Iterable[str | os.PathLike[str] | PublicKey]) -> Store:
        """The same store, loading only blobs signed by one of ``trusted_keys``."""
        clone = copy.copy(self)
        clone._trusted_keys_arg = tuple(trusted_keys)
        clone.__dict__.pop("trust", None)
        return clone

    @classmethod
    def default(cls) -> Store:
        """The store named by ``$REMOTEIMPORT_STORE``, else a folder in the user's data directory."""
        return cls(default_store_url())

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Store) and (self.url, self.storage_options) == (other.url, other.storage_options)

    def __hash__(self) -> int:
        return hash(self.url)

    # -- paths: the one place that turns names into keys ------------------------------------------------

    def _path(self, *parts: str) -> str:
        return "/".join([self.root, *parts]) if self.root else "/".join(parts)

    def blob_path(self, name: str, full_hash: str) -> str:
        validate_name(name)
        full_hash = validate_hash(full_hash, allow_prefix=False)
        return self._path("blobs", name, full_hash[:2], f"{full_hash}.blob")

    def _latest_path(self, name: str) -> str:
        return self._path("refs", validate_name(name), "latest")

    def _history_dir(self, name: str) -> str:
        return self._path("refs", validate_name(name), "history")

    # -- blobs ---------------------------------------------------------------------------------------------

    def has_blob(self, name: str, full_hash: str) -> bool:
        path = self.blob_path(name, full_hash)
        with self._errors("check", path):
            return bool(self.fs.exists(path))

    def write_blob(self, name: str, full_hash: str, data: bytes) -> None:
        """Write a blob atomically. Blobs are immutable: an existing one is left as it is."""
        self._write_atomic(self.blob_path(name, full_hash), data)

    def read_blob(self, name: str, full_hash: str, *, namespace: str | None = None) -> bytes:
        path = self.blob_path(name, full_hash)
        with self._errors("read", path):
            try:
                return bytes(self.fs.cat_file(path))
            except FileNotFoundError:
                pass
        if not self.exists(name):
            raise self.name_not_found(name, namespace)
        raise VersionNotFoundError(
            f"{name}@{full_hash} is not in the store {self.url}: its blob {path} is missing. "
            + self._known_versions(name)
        )

    def blob_hashes(self, name: str) -> list[str]:
        """Every version of ``name`` that has a blob, sorted (lists every shard: for audits, not imports)."""
        folder = self._path("blobs", validate_name(name))
        with self._errors("list", folder):
            try:
                found = self.fs.find(folder)
            except FileNotFoundError:
                return []
        return sorted(base[: -len(".blob")] for base in map(_base_name, found) if base.endswith(".blob"))

    def resolve(self, name: str, hash_or_prefix: str, *, namespace: str | None = None) -> str:
        """Full hash of the one version of ``name`` whose hash starts with ``hash_or_prefix``.

        ``namespace`` (the import hook's) is only named in the error for an unknown name."""
        prefix = validate_hash(hash_or_prefix)
        if len(prefix) == HASH_LENGTH:
            return prefix
        shard = self._path("blobs", validate_name(name), prefix[:2])
        with self._errors("list", shard):
            try:
                entries = self.fs.ls(shard, detail=False)
            except FileNotFoundError:
                entries = []
        candidates = sorted(
            base[: -len(".blob")]
            for base in map(_base_name, entries)
            if base.endswith(".blob") and base.startswith(prefix)
        )
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            if not self.exists(name):
                raise self.name_not_found(name, namespace)
            raise VersionNotFoundError(
                f"no version of {name} in {self.url} has a hash starting with {prefix!r}. " + self._known_versions(name)
            )
        raise AmbiguousPrefixError(
            f"hash prefix {prefix!r} of {name} is ambiguous in {self.url}; candidates: "
            + ", ".join(candidates)
            + ". Give more digits."
        )

    # -- refs ----------------------------------------------------------------------------------------------

    def latest(self, name: str) -> str | None:
        """The full hash ``latest`` points at, or None when the name was never pushed."""
        path = self._latest_path(name)
        with self._errors("read", path):
            try:
                data = self.fs.cat_file(path)
            except FileNotFoundError:
                return None
        return _hash_in_ref(data, path, self.url)

    def set_latest(self, name: str, full_hash: str) -> None:
        """Point ``latest`` at a version whose blob is already complete in the store."""
        validate_hash(full_hash, allow_prefix=False)
        self._write_atomic(self._latest_path(name), full_hash.encode("ascii"), overwrite=True)

    def append_history(self, version: Version) -> None:
        """Add one history object; concurrent pushes never touch each other's objects."""
        key = f"{time.time_ns():020d}-{version.hash[:16]}-{secrets.token_hex(4)}.json"
        data = json.dumps(version.to_json(), sort_keys=True).encode()
        self._write_atomic(self._history_dir(version.name) + "/" + key, data)

    def history(self, name: str) -> list[Version]:
        """Every push and rollback of ``name``, newest first."""
        folder = self._history_dir(name)
        with self._errors("list", folder):
            try:
                entries = self.fs.ls(folder, detail=False)
            except FileNotFoundError:
                return []
            # Only finished entries: a write in progress (or one that crashed) leaves a ".tmp-" file here.
            keys = sorted((key for key in entries if _base_name(key).endswith(".json")), reverse=True)
            contents = self.fs.cat(keys) if keys else {}
        return [_history_entry(contents[key], key, self.url) for key in keys]

    def names(self) -> list[str]:
        """Every class name with a ``latest`` pointer in this store, sorted."""
        folder = self._path("refs")
        with self._errors("list", folder):
            try:
                entries = self.fs.ls(folder, detail=False)
            except FileNotFoundError:
                return []
        return sorted(_base_name(entry) for entry in entries)

    def exists(self, name: str) -> bool:
        return self.latest(name) is not None

    def _known_versions(self, name: str, shown: int = 10) -> str:
        """The versions a user can choose from, for error messages (one recursive listing; errors only)."""
        folder = self._path("blobs", validate_name(name))
        with self._errors("list", folder):
            try:
                found = sorted(
                    base[: -len(".blob")] for base in map(_base_name, self.fs.find(folder)) if base.endswith(".blob")
                )
            except FileNotFoundError:
                found = []
        if not found:
            return f"The store has no versions of {name}."
        more = f" and {len(found) - shown} more" if len(found) > shown else ""
        return f"Versions of {name} in the store: {', '.join(h[:12] for h in found[:shown])}{more}."

    def name_not_found(self, name: str, namespace: str | None = None) -> NameNotFoundError:
        """The error for an unknown name, with the closest names the store does have."""
        import difflib

        close = difflib.get_close_matches(name, self.names(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else " Push it first with `remoteimport push`."
        where = f" (namespace {namespace!r})" if namespace else ""
        error = NameNotFoundError(f"no class named {name!r} in the store {self.url}{where}.{hint}")
        error.name = f"{namespace}.{name}" if namespace else name
        return error

    # -- mechanics -----------------------------------------------------------------------------------------

    def _write_atomic(self, path: str, data: bytes, *, overwrite: bool = False) -> None:
        with self._errors("write", path):
            if not self._local:
                if not overwrite and self.fs.exists(path):
                    return
                self.fs.pipe_file(path, data)  # object stores: a PUT replaces the object whole
                return
            folder = os.path.dirname(path)
            os.makedirs(folder, exist_ok=True)
            if not overwrite and os.path.exists(path):
                return
            handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, path)
            except BaseException:
                if os.path.exists(temporary):
                    os.unlink(temporary)
                raise

    @contextmanager
    def _errors(self, action: str, path: str) -> Iterator[None]:
        """Backend failures become :class:`StoreUnreachableError` naming the store; our own errors and
        missing files pass through."""
        try:
            yield
        except (FileNotFoundError, RemoteImportError):
            raise
        except Exception as exc:
            raise StoreUnreachableError(
                f"cannot {action} {path} in the store {self.url}: {type(exc).__name__}: {exc}. "
                "Check the URL, your network and credentials (storage_options / environment)."
            ) from exc


def _base_name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _hash_in_ref(data: bytes, path: str, url: str) -> str:
    try:
        return validate_hash(data.decode("ascii").strip(), allow_prefix=False)
    except (UnicodeDecodeError, InvalidNameError):
        raise IntegrityError(
            f"the ref {path} in the store {url} does not hold a full hash ({data[:80]!r}); it was altered or "
            "damaged. Point it at a good version with `remoteimport rollback NAME HASH`."
        ) from None


def _history_entry(data: bytes, path: str, url: str) -> Version:
    try:
        return Version.from_json(json.loads(data))
    except (ValueError, KeyError, TypeError, InvalidNameError) as exc:
        raise IntegrityError(
            f"the history entry {path} in the store {url} is malformed ({type(exc).__name__}: {exc}); it was "
            "altered or damaged. Remove that one file to repair the history."
        ) from None


def _protocols(fs: Any) -> tuple[str, ...]:
    return fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)


def _backend_hint(url: str) -> str:
    protocol = url.split("://", 1)[0] if "://" in url else "file"
    extra = {"s3": "s3", "gs": "gcs", "gcs": "gcs"}.get(protocol)
    if extra:
        return f"Install the backend: pip install 'remoteimport[{extra}]'."
    return "Check the URL's protocol (fsspec must know it)."
