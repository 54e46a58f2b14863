"""I/O: the local cache of verified blobs, so a pinned import needs no storage request at all.

Blobs are content-addressed: ``(name, full hash)`` names exactly one class, whichever store it came from, so
one cache serves every store. An entry is only ever *used* after its payload digest, name and hash check out
(:func:`remoteimport.blob.decode_blob`); the loader then applies the trust policy, the Python and
requirement checks and the re-hash exactly as for a blob fetched from the store. A corrupt entry is dropped
and fetched again — never unpickled.

Layout, under ``$REMOTEIMPORT_CACHE_DIR`` (default: ``<user cache dir>/remoteimport``)::

    blobs/<Name>/<hash[:2]>/<full hash>.blob

The cache is bounded (``$REMOTEIMPORT_CACHE_SIZE``, default 1 GB): after each new entry, the least recently
used entries are evicted until it fits. Writes are atomic (a temporary file renamed into place), so processes
sharing one cache never see a partial entry; a temporary file left by a write that crashed counts towards the
bound and is removed once it is :data:`STALE_TEMPORARY_AGE` old. Entries are readable by their owner only.

    >>> import tempfile
    >>> cache = BlobCache(tempfile.mkdtemp())
    >>> cache.get("MyFilter", "ab" * 32) is None
    True
"""

from __future__ import annotations

import os
import stat
import time

from remoteimport import _env, _metrics
from remoteimport._files import (
    STALE_TEMPORARY_AGE,
    TEMPORARY_PREFIX,
    make_private_folders,
    read_regular_file,
    write_atomically,
)
from remoteimport.blob import Blob, decode_blob
from remoteimport.errors import IncompatibleBlobError, IntegrityError, RemoteImportError
from remoteimport.names import is_etag, validate_hash, validate_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

ENV_CACHE_DIR = _env.CACHE_DIR
ENV_CACHE_SIZE = _env.CACHE_SIZE
DISABLED = _env.CACHE_OFF  # REMOTEIMPORT_CACHE_DIR=off turns the cache off
DEFAULT_MAX_BYTES = _env.DEFAULT_CACHE_BYTES
_ENVIRONMENT_KEY_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")

_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "ki": 2**10, "mi": 2**20, "gi": 2**30}


class BlobCache:
    """A folder of verified blobs, bounded to ``max_bytes`` (least recently used entries go first).

    ``get`` returns a verified :class:`~remoteimport.blob.Blob` or None; ``put`` stores blob bytes the loader
    has verified; ``discard`` drops one entry.
    """

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = os.path.abspath(os.fspath(directory))
        if max_bytes < 0:
            raise RemoteImportError(f"the blob cache size must be 0 or more bytes, not {max_bytes}")
        self.max_bytes = max_bytes
        self._warned = False
        self._private = False  # the folder is known to be the owner's only (see _make_private)

    @classmethod
    def default(cls) -> BlobCache | None:
        """The cache named by ``$REMOTEIMPORT_CACHE_DIR`` (None when it is ``off``), else a folder in the
        user's cache directory; bounded by ``$REMOTEIMPORT_CACHE_SIZE``."""
        configured = _env.text(ENV_CACHE_DIR)
        if configured.lower() == DISABLED:
            return None
        if not configured:
            configured = _env.user_dir("cache")  # platformdirs' answer, without importing it on Linux
        return cls(configured, _configured_size())

    def __repr__(self) -> str:
        return f"BlobCache({self.directory!r}, max_bytes={self.max_bytes})"

    def path(self, name: str, full_hash: str) -> str:
        """Where the entry for ``name@full_hash`` lives (the same layout as a store's blobs)."""
        full_hash = validate_hash(full_hash, allow_prefix=False)
        return os.path.join(self.directory, "blobs", validate_name(name), full_hash[:2], f"{full_hash}.blob")

    def get(self, name: str, full_hash: str) -> Blob | None:
        """The verified blob of ``name@full_hash``, or None when absent (or corrupt: then it is dropped)."""
        with _metrics.phase("cache"):
            return self._get(name, full_hash)

    def _get(self, name: str, full_hash: str) -> Blob | None:
        path = self.path(name, full_hash)
        try:
            data = read_regular_file(path)  # never blocks on a FIFO, never follows a link
        except OSError as exc:  # absent, evicted meanwhile, not a plain file, or unreadable: fetch from the store
            _metrics.debug("cache miss for %s@%s (%s)", name, full_hash[:12], type(exc).__name__)
            return None
        try:
            blob = decode_blob(data, expected_hash=full_hash, expected_name=name, source=path)
        except IncompatibleBlobError:  # written by a newer remoteimport sharing this cache: not ours to drop
            _metrics.debug("cache entry %s is of a newer format: fetching from the store", path)
            return None
        except IntegrityError as exc:
            _metrics.debug("dropping the damaged cache entry %s: %s", path, exc)
            self.discard(name, full_hash)
            return None
        try:
            os.utime(path)  # recently used: evicted last
        except OSError:
            pass
        return blob

    def put(self, name: str, full_hash: str, data: bytes) -> None:
        """Store blob bytes the loader has verified, then evict down to the size bound. A cache that cannot
        be written never fails an import: it warns once and the import goes on uncached."""
        path = self.path(name, full_hash)
        if self.max_bytes == 0 or len(data) > self.max_bytes:
            return
        try:
            # Concurrent writers of one key write the same verified bytes; private: the cache is the user's own.
            self._make_private()
            write_atomically(path, data, private=True)
            self.evict(keep=path)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                _metrics.warning(
                    f"remoteimport: cannot write the blob cache {self.directory} ({exc}); imports keep working "
                    f"but are not cached. Set {ENV_CACHE_DIR} to a writable folder, or to 'off'."
                )

    # -- headers of stored blobs, for listings: keyed by the blob's ETag in its store ---------------------------

    def header_path(self, name: str, full_hash: str, etag: str) -> str:
        """Where the cached header of ``name@full_hash`` lives, as the store's blob with ETag ``etag`` holds it."""
        if not is_etag(etag):
            raise ValueError(f"not an ETag: {etag!r}")
        blob = self.path(name, full_hash)
        return blob[: -len(".blob")] + f".{etag}.header"

    def get_header(self, name: str, full_hash: str, etag: str) -> bytes | None:
        """The start of a stored blob up to the end of its header, as :meth:`keep_headers` kept it for the blob
        whose ETag in its store is ``etag`` (None when absent). An ETag changes whenever an object's bytes do
        (a blob signed after it was pushed is rewritten), so a kept header is the store's blob's, byte for byte.
        Unchecked, like a header read from the store: the reader checks it (``Store.header_in``)."""
        path = self.header_path(name, full_hash, etag)
        try:
            data = read_regular_file(path)
        except OSError:
            return None
        try:
            os.utime(path)
        except OSError:
            pass
        return data

    def keep_headers(self, headers: Mapping[tuple[str, str, str], bytes]) -> None:
        """Keep header bytes (``{(name, full hash, ETag): bytes}``) that a listing read (``ls``, the web view) or
        a push wrote, so the next listing reads none of them: a few kilobytes each, bounded and evicted with the
        blobs (once for them all). Never fails the listing or the push."""
        kept = False
        for (name, full_hash, etag), data in headers.items():
            path = self.header_path(name, full_hash, etag)
            if self.max_bytes == 0 or len(data) > self.max_bytes:
                continue
            try:
                self._make_private()
                write_atomically(path, data, private=True)
                kept = True
            except OSError as exc:
                _metrics.debug("cannot keep the header %s: %s", path, exc)
        if kept:
            try:
                self.evict()
            except OSError as exc:
                _metrics.debug("cannot evict from %s: %s", self.directory, exc)

    # -- re-hash records: "this payload re-hashed to this hash here" (docs/security.md) -------------------

    def _rehash_record(self, name: str, full_hash: str, payload_sha256: str, environment: str) -> str:
        if not (0 < len(environment) <= 100 and _ENVIRONMENT_KEY_CHARACTERS.issuperset(environment)):
            raise ValueError(f"not an environment key: {environment!r}")
        return os.path.join(
            self.directory,
            "rehashed",
            environment,
            validate_name(name),
            f"{validate_hash(full_hash, allow_prefix=False)}-{validate_hash(payload_sha256, allow_prefix=False)}",
        )

    def rehashed(self, name: str, full_hash: str, payload_sha256: str, environment: str) -> bool:
        """True when a payload with this SHA-256, unpickled in ``environment`` (Python, remoteimport and
        cloudpickle versions), re-hashed to ``full_hash`` on this host before: the loader need not re-hash it
        again. One ``stat``; a record that is not a plain file does not count."""
        try:
            status = os.stat(self._rehash_record(name, full_hash, payload_sha256, environment), follow_symlinks=False)
        except (OSError, ValueError):
            return False
        return stat.S_ISREG(status.st_mode)

    def record_rehashed(self, name: str, full_hash: str, payload_sha256: str, environment: str) -> None:
        """Remember that the payload re-hashed to ``full_hash`` (see :meth:`rehashed`); best effort, private."""
        try:
            self._make_private()
            write_atomically(self._rehash_record(name, full_hash, payload_sha256, environment), b"", private=True)
        except (OSError, ValueError) as exc:
            _metrics.debug("could not record the re-hash of %s@%s: %s", name, full_hash[:12], exc)

    def _make_private(self) -> None:
        """Before the first write: the cache folder exists with mode 0o700 (created so, with any missing folder
        above it). One that already exists with wider permissions is narrowed when this user owns it: others
        must not read the blobs or plant re-hash records (docs/security.md); a folder owned by someone else is
        warned about once and used as it is."""
        if self._private:
            return
        make_private_folders(self.directory)
        status = os.stat(self.directory)
        if os.name == "posix" and status.st_mode & 0o077:  # Windows folders have no such bits
            if status.st_uid == os.getuid():
                os.chmod(self.directory, 0o700)
                _metrics.debug("narrowed the blob cache folder %s to mode 0700", self.directory)
            elif not self._warned:
                self._warned = True
                _metrics.warning(
                    f"remoteimport: the blob cache {self.directory} is open to other users (mode "
                    f"{stat.S_IMODE(status.st_mode):o}) and owned by someone else; set {ENV_CACHE_DIR} to a "
                    "folder of your own."
                )
        self._private = True

    def discard(self, name: str, full_hash: str) -> None:
        """Drop one entry (a no-op when it is absent)."""
        _unlink(self.path(name, full_hash))

    def entries(self) -> list[tuple[str, int, float]]:
        """``(path, size, last use)`` of every entry; temporary files of writes are skipped."""
        return self._scan()[0]

    def temporary_files(self) -> list[tuple[str, int, float]]:
        """``(path, size, last change)`` of the temporary files of writes in progress, or of writes that
        crashed (those are removed by :meth:`evict` once :data:`STALE_TEMPORARY_AGE` old)."""
        return self._scan()[1]

    def size(self) -> int:
        """Total bytes held, temporary files included."""
        entries, temporaries = self._scan()
        return sum(size for _, size, _ in entries + temporaries)

    def evict(self, keep: str | None = None) -> None:
        """Remove the temporary files of crashed writes, then the least recently used entries until the cache
        holds at most ``max_bytes`` (temporary files of writes in progress count towards it)."""
        entries, temporaries = self._scan()
        stale_before = time.time() - STALE_TEMPORARY_AGE
        total = 0
        for path, size, changed in temporaries:
            if changed < stale_before:
                _unlink(path)
            else:
                total += size
        entries.sort(key=lambda entry: entry[2])
        total += sum(size for _, size, _ in entries)
        for path, size, _ in entries:
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            _unlink(path)
            total -= size

    def clear(self) -> None:
        """Remove every entry (and the temporary files of crashed writes; not those of writes in progress)."""
        entries, temporaries = self._scan()
        stale_before = time.time() - STALE_TEMPORARY_AGE
        for path, _, changed in entries + temporaries:
            if path.endswith((".blob", ".header")) or changed < stale_before:
                _unlink(path)
        import shutil

        shutil.rmtree(os.path.join(self.directory, "rehashed"), ignore_errors=True)  # links are not followed

    def _scan(self) -> tuple[list[tuple[str, int, float]], list[tuple[str, int, float]]]:
        """``(entries, temporary files)``, each a list of ``(path, size, modification time)``: one walk."""
        entries: list[tuple[str, int, float]] = []
        temporaries: list[tuple[str, int, float]] = []
        for path, temporary in _walk_files(os.path.join(self.directory, "blobs")):
            try:
                status = os.stat(path, follow_symlinks=False)
            except OSError:
                continue
            (temporaries if temporary else entries).append((path, status.st_size, status.st_mtime))
        return entries, temporaries


def resolve_cache(value: BlobCache | str | os.PathLike[str] | bool | None, *, local_store: bool) -> BlobCache | None:
    """The cache a store uses. ``value`` is a :class:`BlobCache`, a folder, ``True`` (the default cache),
    ``False`` (none) or ``None``: the default cache for remote stores, none for local folders and
    ``memory://`` (reading them is as cheap as reading a cache)."""
    if isinstance(value, BlobCache):
        return value
    if value is None:
        return None if local_store else BlobCache.default()
    if value is True:
        return BlobCache.default()
    if value is False:
        return None
    return BlobCache(value, _configured_size())


def _configured_size() -> int:
    """``$REMOTEIMPORT_CACHE_SIZE`` in bytes, else the default bound."""
    size = _env.text(ENV_CACHE_SIZE)
    return parse_size(size, ENV_CACHE_SIZE) if size else DEFAULT_MAX_BYTES


def parse_size(text: str, what: str = "size") -> int:
    """Bytes from ``"500000"``, ``"200MB"``, ``"1.5G"`` or ``"512MiB"``.

    >>> parse_size("200MB"), parse_size("1GiB"), parse_size("0")
    (200000000, 1073741824, 0)
    """
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?\s*", text, flags=re.IGNORECASE)
    if not match:
        raise RemoteImportError(f"{what}={text!r} is not a size; write bytes or e.g. '500MB', '2GB', '512MiB'")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "").lower()])


def _walk_files(folder: str) -> Iterator[tuple[str, bool]]:
    """``(path, is a temporary file)`` of every entry and every temporary file under ``folder``."""
    try:
        names = os.scandir(folder)
    except OSError:
        return
    with names:
        for entry in names:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk_files(entry.path)
            elif entry.name.startswith(TEMPORARY_PREFIX):
                yield entry.path, True
            elif entry.name.endswith((".blob", ".header")):
                yield entry.path, False


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
