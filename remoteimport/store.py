"""I/O: a content-addressed store of class blobs on any fsspec filesystem.

Layout under the store's root (every name and hash validated by :mod:`remoteimport.names` first)::

    blobs/<Name>/<hash[:2]>/<hash>.blob         immutable; sharded so a prefix lookup lists one folder
    refs/<Name>/latest                          the current version's full hash
    refs/<Name>/history/<time_ns>-<hash[:16]>-<random>.json   one object per push: append-only

A ref is written only after its blob is completely written; writes are atomic (a temporary file renamed into
place on local disks; object stores replace objects whole). Nothing is ever overwritten but ``latest`` (and a
blob a push found damaged).

Request budget on object stores (docs/storage.md): every read is one ranged GET (a plain ``cat_file`` costs
s3fs a HEAD first), a listing is one LIST per 1,000 keys, transient failures are retried with bounded
backoff, and the fsspec filesystem is only opened on the first storage access, so a pinned import served
from the local cache (:mod:`remoteimport.cache`) never imports s3fs or gcsfs.

    >>> store = Store("memory://doc-example")
    >>> store.names()
    []
"""

from __future__ import annotations

import copy
import errno
import functools
import importlib.util
import json
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from remoteimport._files import write_atomically
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

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from remoteimport.cache import BlobCache

ENV_STORE = "REMOTEIMPORT_STORE"
ENV_ALLOW_HTTP = "REMOTEIMPORT_ALLOW_HTTP"
ENV_LATEST_TTL = "REMOTEIMPORT_LATEST_TTL"
DEFAULT_LATEST_TTL = 1.0  # seconds an import may reuse a `latest` it has just read (see Store.latest)
DEFAULT_RETRIES = 3  # extra attempts after a transient failure
RETRY_DELAY = 0.02  # seconds before the first retry; x3 each time (0.02, 0.06, 0.18: bounded, < 0.3 s)
_LOCAL_PROTOCOLS = ("file", "local")
T = TypeVar("T")


@dataclass(frozen=True)
class Version:
    """One entry of a name's history: what was pushed, when, from which Python."""

    name: str
    hash: str
    time: float
    python: str
    action: str = "push"  # or "rollback", "repair"

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

    ``Store("/srv/classes")``, ``Store("s3://bucket/prefix", anon=False)``, ``Store("memory://x")``: other
    keyword arguments are fsspec ``storage_options`` for the backend. ``cache``: the local blob cache
    (:func:`remoteimport.cache.resolve_cache`: default on for remote stores); ``latest_ttl``: seconds an
    import may reuse a ``latest`` it has just read (default ``$REMOTEIMPORT_LATEST_TTL`` or 1); ``retries``:
    extra attempts after a transient failure.
    """

    def __init__(
        self,
        url: str | os.PathLike[str],
        *,
        signing_key: str | os.PathLike[str] | SigningKey | None = None,
        trusted_keys: Iterable[str | os.PathLike[str] | PublicKey] | None = None,
        allow_http: bool = False,
        cache: BlobCache | str | os.PathLike[str] | bool | None = None,
        latest_ttl: float | None = None,
        retries: int = DEFAULT_RETRIES,
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
        self._cache_arg = cache
        self.latest_ttl = _latest_ttl(latest_ttl)
        self.retries = retries
        self._latest_memo: dict[str, tuple[float, str | None]] = {}
        self.storage_options = storage_options
        self._fs_url = url
        protocol = _protocol(url)
        self._local = protocol in _LOCAL_PROTOCOLS
        # memory:// lives in this process: as private as a local folder.
        self.is_local = self._local or protocol == "memory"
        if self.is_local or "::" in url:
            self._open()  # no third-party backend to import: open now and name local stores by their path
        else:
            _check_backend(url, protocol)  # cheap: the backend is imported on the first storage access
        # Local stores are named by their absolute path: the same in messages, comparisons and other processes.
        self.url = self.root if self._local else url

    @functools.cached_property
    def fs(self) -> AbstractFileSystem:
        """The fsspec filesystem, opened on first use (importing s3fs alone takes 0.2-0.3 s)."""
        self._open()
        return self.__dict__["fs"]

    @functools.cached_property
    def root(self) -> str:
        """The store's root path on its filesystem (no protocol)."""
        self._open()
        return self.__dict__["root"]

    @functools.cached_property
    def cache(self) -> BlobCache | None:
        """The local cache of verified blobs this store's loads use (None: no cache)."""
        from remoteimport.cache import resolve_cache

        return resolve_cache(self._cache_arg, local_store=self.is_local)

    def _open(self) -> None:
        from fsspec.core import url_to_fs

        try:
            fs, root = url_to_fs(self._fs_url, **self.storage_options)
        except (ImportError, ValueError, TypeError) as exc:
            raise StoreError(f"cannot open store {self._fs_url!r}: {exc}. {_backend_hint(self._fs_url)}") from exc
        self.__dict__.setdefault("fs", fs)
        self.__dict__.setdefault("root", root.rstrip("/") if root not in ("/", "") else root)

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
        return self._path(_blob_key(name, full_hash))

    def blob_url(self, name: str, full_hash: str) -> str:
        """The blob's location for messages: the store's URL and key, without opening the filesystem."""
        return self.url.rstrip("/") + "/" + _blob_key(name, full_hash)

    def _latest_path(self, name: str) -> str:
        return self._path("refs", validate_name(name), "latest")

    def _history_dir(self, name: str) -> str:
        return self._path("refs", validate_name(name), "history")

    # -- blobs ---------------------------------------------------------------------------------------------

    def has_blob(self, name: str, full_hash: str) -> bool:
        path = self.blob_path(name, full_hash)
        return self._attempt("check", path, lambda: bool(self.fs.exists(path)))

    def write_blob(self, name: str, full_hash: str, data: bytes, *, known_absent: bool = False) -> None:
        """Write a blob atomically. Blobs are immutable: an existing one is left as it is.

        ``known_absent``: the caller has just looked (:meth:`read_blob_if_present`) and found no intact blob,
        so the existence check (a request on object stores) is skipped and a damaged blob is replaced."""
        self._write_atomic(self.blob_path(name, full_hash), data, skip_if_present=not known_absent)

    def read_blob_if_present(self, name: str, full_hash: str) -> bytes | None:
        """The blob's bytes, or None when it is absent: one request."""
        path = self.blob_path(name, full_hash)
        return self._get_many([path])[path]

    def read_blobs_if_present(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bytes | None]:
        """``{(name, full hash): bytes or None}`` for many blobs, fetched concurrently on async backends."""
        paths = {key: self.blob_path(*key) for key in keys}
        found = self._get_many(list(paths.values()))
        return {key: found[path] for key, path in paths.items()}

    def write_blobs(self, blobs: Mapping[tuple[str, str], bytes]) -> None:
        """Write many blobs the caller found absent (see ``known_absent``), concurrently on async backends."""
        self._put_many({self.blob_path(*key): data for key, data in blobs.items()})

    def read_blob(self, name: str, full_hash: str, *, namespace: str | None = None) -> bytes:
        path = self.blob_path(name, full_hash)
        data = self._get_many([path])[path]
        if data is not None:
            return data
        if not self.exists(name):
            raise self.name_not_found(name, namespace)
        raise VersionNotFoundError(
            f"{name}@{full_hash} is not in the store {self.url}: its blob {path} is missing. "
            + self._known_versions(name)
        )

    def blob_hashes(self, name: str) -> list[str]:
        """Every version of ``name`` that has a blob, sorted (lists every shard: for audits, not imports)."""
        folder = self._path("blobs", validate_name(name))
        try:
            found = self._attempt("list", folder, lambda: self.fs.find(folder))
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
        entries = self._list(shard)  # one shard: at most 1/256 of the name's versions
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

    def latest(self, name: str, *, max_age: float = 0.0) -> str | None:
        """The full hash ``latest`` points at, or None when the name was never pushed: one request.

        ``max_age``: seconds for which a value this Store object read (or wrote) may be reused without asking
        the store. Publishing always asks (0); the import hook passes :attr:`latest_ttl`, because
        ``from ns import X`` looks ``X`` up twice."""
        validate_name(name)
        if max_age > 0:
            memo = self._latest_memo.get(name)
            if memo is not None and time.monotonic() - memo[0] <= max_age:
                return memo[1]
        return self.latest_many([name])[name]

    def latest_many(self, names: Iterable[str]) -> dict[str, str | None]:
        """``{name: latest full hash or None}``, the reads concurrent on async backends (``ls`` pages)."""
        paths = {name: self._latest_path(name) for name in names}
        found = self._get_many(list(paths.values()))
        now = time.monotonic()
        result = {}
        for name, path in paths.items():
            data = found[path]
            result[name] = None if data is None else _hash_in_ref(data, path, self.url)
            self._latest_memo[name] = (now, result[name])
        return result

    def set_latest(self, name: str, full_hash: str) -> None:
        """Point ``latest`` at a version whose blob is already complete in the store."""
        self.set_latest_many({name: full_hash})

    def set_latest_many(self, pointers: Mapping[str, str]) -> None:
        """Move several ``latest`` pointers (each blob already complete), concurrently on async backends."""
        for full_hash in pointers.values():
            validate_hash(full_hash, allow_prefix=False)
        self._put_many({self._latest_path(name): full_hash.encode("ascii") for name, full_hash in pointers.items()})
        now = time.monotonic()
        for name, full_hash in pointers.items():
            self._latest_memo[name] = (now, full_hash)

    def append_history(self, version: Version) -> None:
        """Add one history object; concurrent pushes never touch each other's objects."""
        self.append_history_many([version])

    def append_history_many(self, versions: Iterable[Version]) -> None:
        """Add one history object per version. Keys are unique by construction (time, hash, random), so no
        existence check is needed for "never overwrite", and a retried write rewrites only its own key."""
        entries = {}
        for version in versions:
            key = f"{time.time_ns():020d}-{version.hash[:16]}-{secrets.token_hex(4)}.json"
            data = json.dumps(version.to_json(), sort_keys=True).encode()
            entries[self._history_dir(version.name) + "/" + key] = data
        self._put_many(entries)

    def history(self, name: str, *, limit: int | None = None, offset: int = 0) -> list[Version]:
        """Pushes and rollbacks of ``name``, newest first: all of them, or ``limit`` after skipping ``offset``.

        One listing (a request per 1,000 entries on object stores) and one read per entry returned, so a page
        of a long history costs a page of reads."""
        folder = self._history_dir(name)
        # Only finished entries: a local write in progress (or one that crashed) leaves a ".tmp-" file here.
        keys = sorted((key for key in self._list(folder) if _base_name(key).endswith(".json")), reverse=True)
        page = keys[offset:] if limit is None else keys[offset : offset + limit]
        contents = self._get_many(page)
        return [_history_entry(contents[key], key, self.url) for key in page if contents[key] is not None]

    def names(self, *, after: str | None = None, limit: int | None = None) -> list[str]:
        """Class names with a ``latest`` pointer, sorted: all, or ``limit`` of those sorting after ``after``.
        One listing (a request per 1,000 names on object stores)."""
        found = sorted(_base_name(entry) for entry in self._list(self._path("refs")))
        if after is not None:
            found = [name for name in found if name > after]
        return found if limit is None else found[:limit]

    def exists(self, name: str) -> bool:
        return self.latest(name) is not None

    def _known_versions(self, name: str, shown: int = 10) -> str:
        """The versions a user can choose from, for error messages (one recursive listing; errors only)."""
        found = self.blob_hashes(name)
        if not found:
            return f"The store has no versions of {name}."
        more = f" and {len(found) - shown} more" if len(found) > shown else ""
        return f"Versions of {name} in the store: {', '.join(h[:12] for h in found[:shown])}{more}."

    def name_not_found(self, name: str, namespace: str | None = None) -> NameNotFoundError:
        """The error for an unknown name, with the closest names the store does have."""
        import difflib

        known = self.names()
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else " Push it first with `remoteimport push`."
        if not known:
            hint += " The store holds no classes at all: check its URL (bucket and prefix)."
        where = f" (namespace {namespace!r})" if namespace else ""
        error = NameNotFoundError(f"no class named {name!r} in the store {self.url}{where}.{hint}")
        error.name = f"{namespace}.{name}" if namespace else name
        return error

    # -- mechanics -----------------------------------------------------------------------------------------

    def _get_many(self, paths: list[str]) -> dict[str, bytes | None]:
        """Whole objects, one ranged GET each (concurrent on async backends); None for a missing one.
        A transient failure is retried for the paths that failed."""
        found: dict[str, bytes | None] = {}
        pending = list(dict.fromkeys(paths))

        def fetch() -> None:
            if len(pending) > 1 and getattr(self.fs, "async_impl", False):
                from fsspec.asyn import sync

                coroutines = [_read_whole_async(self.fs, path) for path in pending]
                results = sync(self.fs.loop, _gather, coroutines)
            else:
                results = []
                for path in pending:
                    try:
                        results.append(_read_whole(self.fs, path))
                    except Exception as exc:  # noqa: BLE001  (sorted out below, like the async results)
                        results.append(exc)
            failure = None
            for path, result in zip(list(pending), results, strict=True):
                if isinstance(result, FileNotFoundError):
                    found[path] = None
                elif isinstance(result, BaseException):
                    failure = failure or result
                    continue
                else:
                    found[path] = bytes(result)
                pending.remove(path)
            if failure is not None:
                raise failure

        if pending:
            self._attempt("read", pending[0] if len(pending) == 1 else f"{len(pending)} objects", fetch)
        return found

    def _put_many(self, files: Mapping[str, bytes]) -> None:
        """Write whole objects (replacing any): concurrent PUTs on async backends, atomic renames locally."""
        if not files:
            return
        if len(files) > 1 and getattr(self.fs, "async_impl", False):
            from fsspec.asyn import sync

            def put() -> None:
                results = sync(self.fs.loop, _gather, [self.fs._pipe_file(path, data) for path, data in files.items()])
                failure = next((result for result in results if isinstance(result, BaseException)), None)
                if failure is not None:
                    raise failure  # the retry rewrites every object: each PUT is idempotent

            self._attempt("write", f"{len(files)} objects", put)
            return
        for path, data in files.items():
            self._write_atomic(path, data, skip_if_present=False)

    def _list(self, folder: str) -> list[str]:
        """The paths directly under ``folder`` ([] when there is none), never from a stale listing cache."""
        try:
            return self._attempt("list", folder, lambda: self.fs.ls(folder, detail=False, refresh=True))
        except FileNotFoundError:
            return []

    def _write_atomic(self, path: str, data: bytes, *, skip_if_present: bool) -> None:
        if not self._local:

            def put() -> None:
                if skip_if_present and self.fs.exists(path):
                    return
                self.fs.pipe_file(path, data)  # object stores: a PUT replaces the object whole

            self._attempt("write", path, put)
            return

        def write_locally() -> None:
            if skip_if_present and os.path.exists(path):
                return
            write_atomically(path, data, fsync=True)

        self._attempt("write", path, write_locally)

    def _attempt(self, action: str, path: str, operation: Callable[[], T]) -> T:
        """Run one storage operation. Transient failures (a reset connection, a timeout) are retried
        ``retries`` times with bounded exponential backoff; other backend failures become
        :class:`StoreUnreachableError` naming the store; our own errors and missing files pass through."""
        delay = RETRY_DELAY
        attempt = 0
        while True:
            try:
                return operation()
            except RemoteImportError:
                raise
            except FileNotFoundError as exc:
                if action != "write":
                    raise  # an absent object: the caller decides what that means
                raise StoreUnreachableError(
                    f"cannot write {path} in the store {self.url}: {exc}. Does the bucket exist? Create it (or "
                    "fix the URL) and push again."
                ) from exc
            except Exception as exc:
                if attempt < self.retries and _is_transient(exc):
                    attempt += 1
                    time.sleep(delay)
                    delay *= 3
                    continue
                tried = f" (after {attempt + 1} attempts)" if attempt else ""
                raise StoreUnreachableError(
                    f"cannot {action} {path} in the store {self.url}{tried}: {type(exc).__name__}: {exc}. "
                    "Check the URL, your network and credentials (storage_options / environment)."
                ) from exc


def _blob_key(name: str, full_hash: str) -> str:
    """The one place a blob's key is made: ``blobs/<Name>/<hash[:2]>/<hash>.blob`` (validated first)."""
    validate_name(name)
    full_hash = validate_hash(full_hash, allow_prefix=False)
    return f"blobs/{name}/{full_hash[:2]}/{full_hash}.blob"


def _read_whole(fs: Any, path: str) -> bytes:
    # A ranged read from byte 0 is one GET; s3fs's plain cat_file first asks for the size (a HEAD).
    try:
        return fs.cat_file(path, start=0)
    except Exception as exc:
        if not _range_not_satisfiable(exc):
            raise
        return fs.cat_file(path)  # an empty object has no byte 0 (HTTP 416): read it plainly


async def _read_whole_async(fs: Any, path: str) -> bytes:
    try:
        return await fs._cat_file(path, start=0)
    except Exception as exc:
        if not _range_not_satisfiable(exc):
            raise
        return await fs._cat_file(path)


def _range_not_satisfiable(exc: Exception) -> bool:
    if isinstance(exc, FileNotFoundError):
        return False
    return (isinstance(exc, OSError) and exc.errno == errno.EINVAL) or "range" in str(exc).lower()


BATCH_CONCURRENCY = 64  # requests in flight at once for a batch (push_all, ls, a history page)


async def _gather(coroutines: list[Any]) -> list[Any]:
    """Await ``coroutines`` at most :data:`BATCH_CONCURRENCY` at a time; results (or exceptions) in order."""
    import asyncio

    semaphore = asyncio.Semaphore(BATCH_CONCURRENCY)

    async def bounded(coroutine: Any) -> Any:
        async with semaphore:
            return await coroutine

    return await asyncio.gather(*(bounded(coroutine) for coroutine in coroutines), return_exceptions=True)


_TRANSIENT_ERRNOS = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EPIPE, errno.EAGAIN})


def _is_transient(exc: BaseException) -> bool:
    """A failure worth retrying: a dropped connection or a timeout (not a refused one: nobody is there)."""
    if isinstance(exc, ConnectionRefusedError):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS


def _protocol(url: str) -> str:
    from fsspec.core import split_protocol

    protocol, _ = split_protocol(url.split("::", 1)[0])
    return protocol or "file"


def _check_backend(url: str, protocol: str) -> None:
    """Refuse a URL whose fsspec backend is unknown or not installed, without importing the backend."""
    from fsspec.registry import known_implementations, registry

    if protocol in registry:
        return
    known = known_implementations.get(protocol)
    if known is None:
        raise StoreError(f"cannot open store {url!r}: fsspec knows no protocol {protocol!r}. {_backend_hint(url)}")
    module = known["class"].split(".", 1)[0]
    if importlib.util.find_spec(module) is None:
        reason = known.get("err") or f"{module} is not installed"
        raise StoreError(f"cannot open store {url!r}: {reason}. {_backend_hint(url)}")


def _latest_ttl(value: float | None) -> float:
    if value is not None:
        return float(value)
    configured = os.environ.get(ENV_LATEST_TTL, "").strip()
    if not configured:
        return DEFAULT_LATEST_TTL
    try:
        return float(configured)
    except ValueError:
        raise StoreError(f"{ENV_LATEST_TTL}={configured!r} is not a number of seconds (e.g. 1 or 0.5)") from None


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


def _backend_hint(url: str) -> str:
    protocol = url.split("://", 1)[0] if "://" in url else "file"
    extra = {"s3": "s3", "gs": "gcs", "gcs": "gcs"}.get(protocol)
    if extra:
        return f"Install the backend: pip install 'remoteimport[{extra}]'."
    return "Check the URL's protocol (fsspec must know it)."
