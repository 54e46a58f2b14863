"""I/O: a content-addressed store of class blobs on any fsspec filesystem.

Layout under the store's root (every name and hash validated by :mod:`remoteimport.names` first)::

    blobs/<Name>/<hash[:2]>/<hash>.blob         immutable; sharded so a prefix lookup lists one folder
    refs/<Name>/latest                          the current version's full hash
    refs/<Name>/tags/<tag>                      a tagged version's full hash (names.validate_tag: never a hash)
    refs/<Name>/history/<time_ns>-<hash[:16]>-<random>.json   one object per push: append-only

A ref is written only after its blob is completely written; writes are atomic (a temporary file renamed into
place on local disks; object stores replace objects whole). Nothing is ever overwritten but ``latest`` and tags
(and a blob a push found damaged).

Request budget on object stores (docs/storage.md): every read is one ranged GET (a plain ``cat_file`` costs
s3fs a HEAD first), a listing is one LIST per 1,000 keys, transient failures are retried with bounded
backoff by one layer only (the backend's own for s3fs and gcsfs, configured with the store's ``timeout`` and
``retries``; this module's for the others, and for an answer's body cut short on s3fs, which botocore's retries
do not reach), and the fsspec filesystem is only opened on the first storage
access, so a pinned import served from the local cache (:mod:`remoteimport.cache`) never imports s3fs or gcsfs.

Local folders may be writable by others: a file there is only read when it is a regular file inside the
store's root (no link, FIFO or device is followed or opened), and writes never go through a link leading out.

    >>> store = Store("memory://doc-example")
    >>> store.names()
    []
"""

from __future__ import annotations

import errno
import functools
import os
import time
from collections import namedtuple

from remoteimport import _env, _listings, _memo, _metrics
from remoteimport._files import TEMPORARY_PREFIX, NotRegularFileError, read_regular_file, write_atomically
from remoteimport._record import asdict, record
from remoteimport.blob import Blob, decode_blob, header_end, read_header
from remoteimport.errors import (
    AmbiguousPrefixError,
    IntegrityError,
    InvalidNameError,
    NameNotFoundError,
    RemoteImportError,
    StoreError,
    StoreUnreachableError,
    TagNotFoundError,
    VersionNotFoundError,
)
from remoteimport.names import (
    HASH_LENGTH,
    LATEST,
    is_full_hash,
    is_hash_like,
    validate_hash,
    validate_name,
    validate_tag,
    validate_version,
)
from remoteimport.policy import Policy
from remoteimport.provenance import MAX_TEXT_LENGTH

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any, TypeVar

    from fsspec import AbstractFileSystem

    from remoteimport.blob import BlobHeader
    from remoteimport.cache import BlobCache
    from remoteimport.signing import PublicKey, SigningKey

    T = TypeVar("T")

# The settings' names and defaults live in remoteimport._env; these names stay importable from here.
ENV_STORE = _env.STORE
ENV_ALLOW_HTTP = _env.ALLOW_HTTP
ENV_LATEST_TTL = _env.LATEST_TTL
DEFAULT_LATEST_TTL = _env.DEFAULT_LATEST_TTL  # seconds an import may reuse a `latest` it has just read
ENV_TIMEOUT = _env.TIMEOUT
ENV_RETRIES = _env.RETRIES
DEFAULT_TIMEOUT = _env.DEFAULT_TIMEOUT
DEFAULT_RETRIES = _env.DEFAULT_RETRIES
RETRY_DELAY = 0.02  # seconds before the first retry; x3 each time (0.02, 0.06, 0.18: bounded, < 0.3 s)
# Seconds a whole network operation may take beyond timeout x attempts: botocore's backoff (up to 1 + 2 s before
# the 2nd and 3rd attempts at the default retries), TLS and the client's set-up. Defaults: a 17 s deadline.
DEADLINE_MARGIN = 5.0
# Where a store says it is retrying a silent endpoint (INFO, once per operation): the command line prints it on
# stderr; a program sees it only if it configured logging to show INFO records.
PROGRESS_LOGGER = "remoteimport.progress"
_LOCAL_PROTOCOLS = ("file", "local")
# Backends that retry by themselves: configured with the store's timeout and retries (_backend_options), and
# then not retried again by Store._attempt (one retry layer, one budget).
_SELF_RETRYING_MODULES = frozenset({"s3fs", "gcsfs"})


@record
class Version:
    """One entry of a name's history: what was pushed, when, from which Python."""

    name: str
    hash: str
    time: float
    python: str
    action: str = "push"  # or "rollback", "repair", "sign", "promote", "delete"
    source: str | None = None  # a promote's: the store it was copied from (omitted from JSON when None)
    tag: str | None = None  # a "tag"'s or "untag"'s: the tag set or removed (omitted from JSON when None)
    # Display only (history entries are unsigned store data): who did it, "user@host", and a push's or rollback's
    # message (remoteimport.provenance); omitted from JSON when None, as in entries written before they existed.
    by: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        # Optional fields are left out when unset, so entries read by older releases keep their shape.
        return {key: value for key, value in asdict(self).items() if value is not None or key in _REQUIRED_FIELDS}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Version:
        return cls(
            name=validate_name(data["name"]),
            hash=validate_hash(data["hash"], allow_prefix=False),
            time=float(data["time"]),
            python=str(data["python"]),
            action=str(data.get("action", "push")),
            source=None if data.get("source") is None else str(data["source"]),
            tag=None if data.get("tag") is None else validate_tag(data["tag"]),
            by=_short_text(data.get("by"), "by"),
            message=_short_text(data.get("message"), "message"),
        )


def _short_text(value: object, key: str) -> str | None:
    """A history entry's ``by`` or ``message``: None, or text of at most provenance.MAX_TEXT_LENGTH characters
    (shown escaped: the CLI's terminal_text, the web view's HTML escaping)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key!r} is a JSON {type(value).__name__}, not text")
    if len(value) > MAX_TEXT_LENGTH:
        raise ValueError(f"{key!r} is {len(value)} characters long, more than {MAX_TEXT_LENGTH}")
    return value


_REQUIRED_FIELDS = frozenset({"name", "hash", "time", "python", "action"})


@record
class SkippedEntry:
    """Something under ``refs/`` that is not a class, skipped by listings: a stray file (``.DS_Store``), a
    folder whose name is not a valid class name, a link."""

    path: str
    reason: str


class NameListing(namedtuple("NameListing", ("names", "skipped"))):
    """What :meth:`Store.scan_names` found: the class names, and the entries it skipped (for admin tools)."""

    __slots__ = ()
    names: list[str]
    skipped: list[SkippedEntry]


class NameRefs(namedtuple("NameRefs", ("latest", "tags", "blob_etag"), defaults=(None,))):
    """A class's refs (:meth:`Store.refs_many`): ``latest`` (its full hash; None when there is none) and ``tags``
    (``{tag: full hash}``, sorted), either one an IntegrityError when its ref is damaged; ``blob_etag``: the
    ETag of the latest version's blob when a listing gave it (S3, GCS), which the headers this host keeps are keyed
    by (:func:`remoteimport.compare.read_version_headers`)."""

    __slots__ = ()


def default_store_url() -> str:
    """``$REMOTEIMPORT_STORE`` if set, else ``<user data dir>/remoteimport/store`` (the embedded default)."""
    configured = _env.store_url()
    if configured:
        return configured
    return os.path.join(_env.user_dir("data"), "store")


class Store:
    """A store of class versions at an fsspec URL or a local path.

    ``Store("/srv/classes")``, ``Store("s3://bucket/prefix", anon=False)``, ``Store("memory://x")``: other
    keyword arguments are fsspec ``storage_options`` for the backend (they win over the defaults below).
    ``signing_key``, ``trusted_keys`` and ``cache`` are not the store's: they are kept, unread, as
    ``store.policy`` (:class:`remoteimport.policy.Policy`) for the loader and the registry.
    ``latest_ttl``: seconds an import may reuse a ``latest`` it has just read (default
    ``$REMOTEIMPORT_LATEST_TTL`` or 1); ``timeout``: seconds a request may wait for a connection or for the
    next bytes of an answer (default ``$REMOTEIMPORT_TIMEOUT`` or 4); ``retries``: extra attempts after a
    transient failure (default ``$REMOTEIMPORT_RETRIES`` or 2), made by s3fs/gcsfs themselves on those backends.
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
        retries: int | None = None,
        timeout: float | None = None,
        **storage_options: Any,
    ) -> None:
        url = os.fspath(url)
        if not url:
            raise StoreError("empty store URL: give a path or an fsspec URL such as 's3://bucket/prefix'")
        # A chained URL (`simplecache::s3://bucket/classes`) is where its last link is: every check reads that.
        self._protocol = protocol = _protocol(url)
        if protocol == "http" and not (allow_http or os.environ.get(_env.ALLOW_HTTP) == "1"):
            raise StoreError(
                f"refusing the plain-http store {redact_url(url)}: anyone on the network path could swap the code "
                f"you import. Use https://, or pass allow_http=True / set {ENV_ALLOW_HTTP}=1 if you accept that risk."
            )
        self.latest_ttl = _latest_ttl(latest_ttl)
        self.retries = _retries_setting(retries)
        self.timeout = _timeout_setting(timeout)
        self._latest_memo: dict[str, tuple[float, str | None]] = {}
        self.storage_options = storage_options
        self._fs_url = url
        self._local = protocol in _LOCAL_PROTOCOLS
        # memory:// lives in this process: as private as a local folder.
        self.is_local = self._local or protocol == "memory"
        self.policy = Policy(signing_key=signing_key, trusted_keys=trusted_keys, cache=cache, local_store=self.is_local)
        if self._local and "::" not in url and os.sep == "/":
            # A plain local folder is read and written with os calls alone (fsspec is imported only by the
            # admin operations that list through it): a pinned import from a folder imports no fsspec.
            self.__dict__["root"] = _local_root(url)
        elif self.is_local or "::" in url:
            self._open()  # no third-party backend to import: open now and name local stores by their path
        else:
            _check_backend(redact_url(url), protocol)  # cheap: the backend is imported on the first storage access
        # Local stores are named by their absolute path: the same in messages, comparisons and other processes.
        self.unredacted_url = self.root if self._local else url
        # What messages, listings, lock files and the web view show: never a password (`redact_url`).
        self.url = redact_url(self.unredacted_url)

    @_memo.cached_property
    def fs(self) -> AbstractFileSystem:
        """The fsspec filesystem, opened on first use (importing s3fs alone takes 0.2-0.3 s)."""
        self._open()
        return self.__dict__["fs"]

    @_memo.cached_property
    def root(self) -> str:
        """The store's root path on its filesystem (no protocol)."""
        self._open()
        return self.__dict__["root"]

    def _open(self) -> None:
        with _metrics.phase("open"):  # importing s3fs and its clients: often most of a cold import's time
            self._open_filesystem()

    def _open_filesystem(self) -> None:
        from fsspec.core import url_to_fs

        given, protocol = self.storage_options, self._protocol
        if "::" in self._fs_url:  # fsspec gives a chained URL's links the options named by their protocol
            options = dict(given)
            options[protocol] = _backend_options(
                protocol, given.get(protocol) or {}, timeout=self.timeout, retries=self.retries
            )
        else:
            options = _backend_options(protocol, given, timeout=self.timeout, retries=self.retries)
        try:
            fs, root = url_to_fs(self._fs_url, **options)
        except (ImportError, ValueError, TypeError) as exc:
            url = redact_url(self._fs_url)
            raise StoreError(f"cannot open store {url!r}: {redact_url(str(exc))}. {_backend_hint(url)}") from exc
        _one_retry_layer(fs)
        self.__dict__.setdefault("fs", fs)
        self.__dict__.setdefault("root", root.rstrip("/") if root not in ("/", "") else root)

    def with_trust(
        self, trusted_keys: Iterable[str | os.PathLike[str] | PublicKey], *, require_signatures: bool = False
    ) -> Store:
        """The same store, loading only blobs signed by one of ``trusted_keys`` (:meth:`Policy.with_trust`)."""
        import copy

        clone = copy.copy(self)
        clone.policy = self.policy.with_trust(trusted_keys, require_signatures=require_signatures)
        return clone

    @classmethod
    def default(cls) -> Store:
        """The store named by ``$REMOTEIMPORT_STORE``, else a folder in the user's data directory."""
        return cls(default_store_url())

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def __eq__(self, other: object) -> bool:
        # The policy is part of a store's identity: a store that accepts unsigned code is not the same as one
        # that refuses it, even at one URL.
        return isinstance(other, Store) and (self.unredacted_url, self.storage_options, self.policy) == (
            other.unredacted_url,
            other.storage_options,
            other.policy,
        )

    def __hash__(self) -> int:
        return hash(self.unredacted_url)

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

    def _tags_dir(self, name: str) -> str:
        return self._path("refs", validate_name(name), "tags")

    def _tag_path(self, name: str, tag: str) -> str:
        return self._tags_dir(name) + "/" + validate_tag(tag)

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
        with _metrics.phase("fetch"):
            data = self._get_many([path])[path]
        if data is not None:
            return data
        if not self.exists(name):
            raise self.name_not_found(name, namespace)
        raise VersionNotFoundError(
            f"{name}@{full_hash} is not in the store {self.url}: its blob {path} is missing. "
            + self._known_versions(name)
        )

    def read_header_bytes(
        self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], bytes | IntegrityError | None]:
        """``{(name, full hash): the bytes of its blob up to the end of its header}``: one ranged read of the first
        :data:`HEADER_READ_SIZE` bytes each, concurrent on async backends, and a second one only for a longer
        header. None for a missing blob; a local store's planted file (a link, a FIFO) gets its IntegrityError.
        Unchecked: :meth:`header_in` checks them."""
        paths = {key: self.blob_path(*key) for key in keys}
        starts = self._get_ranges({path: (0, HEADER_READ_SIZE) for path in paths.values()}, refusals_in_place=True)
        ends = {path: header_end(start) for path, start in starts.items() if isinstance(start, bytes)}
        longer = {
            path: (HEADER_READ_SIZE, end)
            for path, end in ends.items()
            if end is not None and len(starts[path]) == HEADER_READ_SIZE < end
        }
        rests = self._get_ranges(longer, refusals_in_place=True)
        found: dict[tuple[str, str], bytes | IntegrityError | None] = {}
        for key, path in paths.items():
            start, rest, end = starts[path], rests.get(path), ends.get(path)
            if isinstance(start, bytes) and isinstance(rest, (bytes, IntegrityError)):
                found[key] = start + rest if isinstance(rest, bytes) else rest
            elif isinstance(start, bytes):
                found[key] = start[:end] if end is not None else start
            else:
                found[key] = start
        return found

    def header_in(
        self, name: str, full_hash: str, data: bytes | IntegrityError | None
    ) -> BlobHeader | RemoteImportError:
        """The header of ``name@full_hash`` from the start of its blob (:meth:`read_header_bytes`), or the error
        that says what is wrong with it."""
        path = self.blob_path(name, full_hash)
        if isinstance(data, IntegrityError):
            return data  # a planted file (a link, a FIFO) in a local store
        if data is None:
            return VersionNotFoundError(
                f"{name}@{full_hash} is not in the store {self.url}: its blob {path} is missing."
            )
        source = self.blob_url(name, full_hash)
        try:
            header = read_header(data, source=source)
        except RemoteImportError as exc:
            return exc
        if (header.name, header.hash) != (name, full_hash):
            return IntegrityError(
                f"{source}: its header says {header.name}@{header.hash}, not {name}@{full_hash} (the blob was "
                "altered, or copied under another key)"
            )
        return header

    def read_verified_blob(self, name: str, full_hash: str, *, namespace: str | None = None) -> Blob:
        """The blob of ``name@full_hash`` with its format, name, hash and payload digest checked
        (:func:`~remoteimport.blob.decode_blob`; nothing is unpickled): where every reader of a stored version
        starts. Raises IntegrityError for a damaged blob, IncompatibleBlobError for a newer format."""
        data = self.read_blob(name, full_hash, namespace=namespace)
        return decode_blob(data, expected_hash=full_hash, expected_name=name, source=self.blob_url(name, full_hash))

    def blob_hashes(self, name: str) -> list[str]:
        """Every version of ``name`` that has a blob, sorted (lists every shard: for audits, not imports).
        Files that are not named ``<full hash>.blob`` (temporary files, strays) are not versions."""
        folder = self._path("blobs", validate_name(name))
        if self._local:
            self._check_inside(folder)
            found = self._attempt("list", folder, lambda: _file_names_under(folder))
        else:
            try:
                found = [_base_name(path) for path in self._attempt("list", folder, lambda: self.fs.find(folder))]
            except FileNotFoundError:
                return []
        return sorted(full_hash for full_hash in map(_hash_of_blob_file, found) if full_hash is not None)

    def resolve(self, name: str, hash_or_prefix: str, *, namespace: str | None = None) -> str:
        """Full hash of the one version of ``name`` whose hash starts with ``hash_or_prefix``.

        ``namespace`` (the import hook's) is only named in the error for an unknown name."""
        prefix = validate_hash(hash_or_prefix)
        if len(prefix) == HASH_LENGTH:
            return prefix
        shard = self._path("blobs", validate_name(name), prefix[:2])
        entries = self._list(shard)  # one shard: at most 1/256 of the name's versions
        found = (_hash_of_blob_file(_base_name(entry)) for entry in entries)
        candidates = sorted(full_hash for full_hash in found if full_hash is not None and full_hash.startswith(prefix))
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
        found = self._refs_read({path: name for name, path in paths.items()})
        now = time.monotonic()
        result = {}
        for name, path in paths.items():
            full_hash = found[path]
            if isinstance(full_hash, IntegrityError):
                raise full_hash
            result[name] = full_hash
            self._latest_memo[name] = (now, full_hash)
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

    # -- tags: refs/<Name>/tags/<tag>, each holding a full hash, written and validated like `latest` ---------

    def tag_target(self, name: str, tag: str) -> str | None:
        """The full hash the tag points at, or None when the name has no such tag: one request."""
        path = self._tag_path(name, tag)
        data = self._get_many([path])[path]
        return None if data is None else _hash_in_ref(data, path, self.url, fix=_TAG_FIX.format(name=name, tag=tag))

    def tags(self, name: str) -> dict[str, str]:
        """``{tag: full hash}`` for every tag of ``name``, sorted: one listing and one read per tag (concurrent
        on async backends). Files that are not tags (a local write in progress, strays) are skipped."""
        tags = self.tags_many([name])[name]
        if isinstance(tags, IntegrityError):
            raise tags
        return tags

    def tags_many(self, names: Iterable[str]) -> dict[str, dict[str, str] | IntegrityError]:
        """:meth:`tags` of many names, for listings (``ls`` pages): one listing per name, then a read per tag
        found, each step concurrent on async backends. A name with a damaged tag gets the
        :class:`IntegrityError` saying so in place of its tags, so one planted file does not hide the others."""
        folders = {validate_name(name): self._tags_dir(name) for name in names}
        listed = self._list_many(list(folders.values()))
        result: dict[str, dict[str, str] | IntegrityError] = {}
        entries: dict[str, list[str]] = {}
        for name, folder in folders.items():
            files = listed[folder]
            if isinstance(files, IntegrityError):
                result[name] = files
            else:
                entries[name] = sorted(path for path in files if _is_valid_tag(_base_name(path)))
        found = self._refs_read({path: name for name, paths in entries.items() for path in paths})
        for name, paths in entries.items():
            result[name] = _tag_map({_base_name(path): found[path] for path in paths})
        return {name: result[name] for name in folders}  # in the order asked for

    def refs_many(self, names: Iterable[str]) -> dict[str, NameRefs]:
        """``{name: NameRefs(latest, tags)}`` of many names, for listings (``ls`` pages): what :meth:`latest_many`
        and :meth:`tags_many` say, with a damaged ref's IntegrityError in place of that name's ``latest`` or tags.

        On S3 and GCS (s3fs, gcsfs) without a request per name: two listings of the page's range of names (a
        request per 1,000 keys each, the two at once): ``refs/`` grouped by ``/history/`` gives each ``latest`` and
        tag with the MD5 of its content (S3's ETag, GCS's ``md5Hash``); ``blobs/`` gives every stored hash, whose
        MD5s say which hash each ref holds. A ref whose MD5 matches none (an object written in parts or under
        SSE-KMS, a hash with no blob, a ref moved between the two listings, a damaged ref) is read as elsewhere.
        Other backends: :meth:`latest_many`'s and :meth:`tags_many`'s requests (local folders read files)."""
        names = sorted({validate_name(name) for name in names})
        if not names:
            return {}
        listed = self._listed_refs(names) if not self._local and _listings.usable(self.fs) else None
        if listed is None:
            latest_found = self._refs_read({self._latest_path(name): name for name in names})
            tags_found = self.tags_many(names)
            return {name: NameRefs(latest_found[self._latest_path(name)], tags_found[name]) for name in names}
        latest, tags, unread, etags = listed
        found = self._refs_read(unread)
        result = {}
        for name in names:
            pointed = found.get(self._latest_path(name), latest.get(name))
            named = _tag_map(
                {tag: found.get(self._tag_path(name, tag), full_hash) for tag, full_hash in tags.get(name, {}).items()}
            )
            etag = etags.get((name, pointed)) if isinstance(pointed, str) else None
            result[name] = NameRefs(pointed, named, etag)
        return result

    def _listed_refs(
        self, names: list[str]
    ) -> (
        tuple[dict[str, str | None], dict[str, dict[str, str | None]], dict[str, str], dict[tuple[str, str], str]]
        | None
    ):
        """:meth:`refs_many`'s listings (s3fs, gcsfs): ``({name: latest hash}, {name: {tag: hash}}, {ref path: name},
        {(name, hash): its blob's ETag})``, a hash None and its path in the third mapping when the listings do
        not say which it is. None when the server refused the listing (one that takes no multi-character
        delimiter): then refs are read one by one."""
        from fsspec.asyn import sync

        async def both() -> list[list[_listings.Listed]]:
            import asyncio

            first, last = names[0], names[-1]
            return list(
                await asyncio.gather(
                    _listings.list_range(self.fs, self._path("refs"), first=first, last=last, delimiter="/history/"),
                    _listings.list_range(self.fs, self._path("blobs"), first=first, last=last),
                )
            )

        try:
            refs, blobs = self._attempt("list", self._path("refs"), lambda: sync(self.fs.loop, both))
        except FileNotFoundError:  # no bucket: there are no refs to list (`ls` said so before)
            return {}, {}, {}, {}
        except StoreUnreachableError as exc:
            if not _refused_listing(exc.__cause__):
                raise
            return None
        by_md5: dict[str, dict[str, str]] = {}
        etags: dict[tuple[str, str], str] = {}
        for entry in blobs:  # <Name>/<hash[:2]>/<hash>.blob
            parts = entry.key.split("/")
            full_hash = _hash_of_blob_file(parts[2]) if len(parts) == 3 else None
            if full_hash is not None and parts[1] == full_hash[:2]:
                by_md5.setdefault(parts[0], {})[_md5_hex(full_hash)] = full_hash
                if entry.etag is not None:
                    etags[(parts[0], full_hash)] = entry.etag
        wanted = set(names)
        latest: dict[str, str | None] = {}
        tags: dict[str, dict[str, str | None]] = {}
        unread: dict[str, str] = {}
        for entry in refs:
            parts = entry.key.split("/")
            if entry.folder or parts[0] not in wanted:
                continue
            name, known = parts[0], by_md5.get(parts[0], {})
            if parts[1:] == ["latest"]:
                latest[name] = known.get(entry.md5 or "")
                if latest[name] is None:
                    unread[self._latest_path(name)] = name
            elif len(parts) == 3 and parts[1] == "tags" and _is_valid_tag(parts[2]):
                tags.setdefault(name, {})[parts[2]] = known.get(entry.md5 or "")
                if tags[name][parts[2]] is None:
                    unread[self._tag_path(name, parts[2])] = name
        return latest, tags, unread, etags

    def _refs_read(self, refs: Mapping[str, str]) -> dict[str, str | None | IntegrityError]:
        """``{path: the full hash the ref there holds}`` for ``{path: its class name}``: one read each, concurrent;
        None for a ref that is not there, the IntegrityError saying what is wrong for a damaged (or, locally, a
        planted) one, so one bad ref does not take the others down."""
        found = self._get_ranges({path: (0, None) for path in refs}, refusals_in_place=True)
        result: dict[str, str | None | IntegrityError] = {}
        for path, name in refs.items():
            data = found[path]
            if data is None or isinstance(data, IntegrityError):
                result[path] = data
                continue
            folder, base = path.rsplit("/", 2)[-2:]
            fix = {"fix": _TAG_FIX.format(name=name, tag=base)} if folder == "tags" else {}
            try:
                result[path] = _hash_in_ref(data, path, self.url, **fix)
            except IntegrityError as exc:
                result[path] = exc
        return result

    def resolve_version(self, name: str, version: str | None, *, namespace: str | None = None) -> str:
        """Full hash of what follows ``@`` in a reference: a hash or prefix (:meth:`resolve`), ``latest`` (or
        None: no ``@``) for what the ``latest`` pointer names, or a tag; told apart by
        :mod:`remoteimport.names`. The one resolver of every command, import, config, lock and web page.

        What names no version raises :class:`VersionNotFoundError` (:class:`TagNotFoundError` for a tag) naming
        what was looked for and what there is: ``no version or tag 'nothere1' of MyFilter in the store ...
        (versions: 8aeb178e45a1, ad383cdb48d5; tags: prod)``. Only that error path lists the versions."""
        with _metrics.phase("resolve"):
            version = LATEST if version is None else validate_version(version)  # before any storage access
            if version == LATEST:
                full_hash = self.latest(name)
                if full_hash is None:
                    raise self.name_not_found(name, namespace)
                return full_hash
            try:
                if is_hash_like(version):
                    return self.resolve(name, version, namespace=namespace)
                full_hash = self.tag_target(name, version)
                if full_hash is not None:
                    return full_hash
                if not self.exists(name):
                    raise self.name_not_found(name, namespace)
            except VersionNotFoundError:
                pass  # no version has that prefix: said below, with the tags too
            found, shown = self.blob_hashes(name), 10
            versions = ", ".join(each[:12] for each in found[:shown])
            if len(found) > shown:
                versions += f" and {len(found) - shown} more"
            error = VersionNotFoundError if is_hash_like(version) else TagNotFoundError
            raise error(
                f"no version or tag {version!r} of {name} in the store {self.url} (versions: {versions or 'none'}; "
                f"tags: {', '.join(self.tags(name)) or 'none'})"
            )

    def resolve_tag(self, name: str, tag: str, *, namespace: str | None = None) -> str:
        """The full hash the tag points at; :class:`TagNotFoundError` (naming the tags there are) if none. For
        tags only (``untag``); what follows ``@`` goes through :meth:`resolve_version`."""
        full_hash = self.tag_target(name, tag)
        if full_hash is not None:
            return full_hash
        if not self.exists(name):
            raise self.name_not_found(name, namespace)
        known = ", ".join(self.tags(name)) or "none"
        raise TagNotFoundError(f"{name} has no tag {tag!r} in the store {self.url} (its tags: {known})")

    def set_tag(self, name: str, tag: str, full_hash: str) -> None:
        """Point the tag at a version whose blob is already complete in the store (atomically, like latest)."""
        self._put_many({self._tag_path(name, tag): validate_hash(full_hash, allow_prefix=False).encode("ascii")})

    def delete_tag(self, name: str, tag: str) -> None:
        """Remove the tag's ref (nothing else: its version and history stay)."""
        path = self._tag_path(name, tag)

        def remove() -> None:
            if self._local:
                self._check_inside(path)
                os.remove(path)  # the link itself, were one planted: never what it points at
            else:
                self.fs.rm_file(path)

        try:
            self._attempt("delete", path, remove)
        except FileNotFoundError:
            pass  # already gone: the outcome asked for

    def append_history(self, version: Version) -> None:
        """Add one history object; concurrent pushes never touch each other's objects."""
        self.append_history_many([version])

    def append_history_many(self, versions: Iterable[Version]) -> None:
        """Add one history object per version. Keys are unique by construction (time, hash, random), so no
        existence check is needed for "never overwrite", and a retried write rewrites only its own key."""
        entries = {}
        for version in versions:
            key = f"{time.time_ns():020d}-{version.hash[:16]}-{os.urandom(4).hex()}.json"
            data = _json().dumps(version.to_json(), sort_keys=True).encode()
            entries[self._history_dir(version.name) + "/" + key] = data
        self._put_many(entries)

    def named_hashes(self, name: str) -> set[str]:
        """The versions of ``name`` something names: ``latest``, its tags and its history entries (what an import,
        a pin or a rollback can be sent to; ``gc`` keeps them, ``doctor`` loads them). Raises
        :class:`~remoteimport.errors.IntegrityError` when a ref cannot be read (then what they name is unknown)."""
        named = {version.hash for version in self.history(name)}
        named.update(self.tags(name).values())
        latest = self.latest(name)
        if latest is not None:
            named.add(latest)
        return named

    def history(self, name: str, *, limit: int | None = None, offset: int = 0) -> list[Version]:
        """Pushes and rollbacks of ``name``, newest first: all of them, or ``limit`` after skipping ``offset``.

        One listing (a request per 1,000 entries on object stores) and one read per entry returned, so a page
        of a long history costs a page of reads."""
        keys = _finished_entries(self._list(self._history_dir(name)))
        page = keys[offset:] if limit is None else keys[offset : offset + limit]
        contents = self._get_many(page)
        return [_history_entry(contents[key], key, self.url) for key in page if contents[key] is not None]

    def history_keys_many(self, names: Iterable[str]) -> dict[str, list[str] | IntegrityError]:
        """``{name: the keys of its history entries, newest first}``: one listing per name (a request per 1,000
        entries on object stores), concurrent. A key says when and which version (:func:`history_key_parts`), so
        a history can be ordered, grouped and paged before any entry is read (the web view). A listing refused
        (a local folder reached through a planted link) gets its IntegrityError in place."""
        folders = {name: self._history_dir(name) for name in names}
        listed = self._list_many(list(folders.values()))
        return {
            name: found if isinstance(found, IntegrityError) else _finished_entries(found)
            for name, found in ((name, listed[folder]) for name, folder in folders.items())
        }

    def history_entries(self, keys: Iterable[str]) -> dict[str, Version | IntegrityError]:
        """The history entries at ``keys`` (from :meth:`history_keys_many`), one read each, concurrent; an entry
        that is gone or malformed gets the IntegrityError saying so in its place, so one damaged entry does not
        take a page down."""
        keys = list(dict.fromkeys(keys))
        found = self._get_many(keys)
        entries: dict[str, Version | IntegrityError] = {}
        for key in keys:
            data = found[key]
            if data is None:
                entries[key] = IntegrityError(
                    f"the history entry {key} in the store {self.url} is gone (removed while it was being read)"
                )
                continue
            try:
                entries[key] = _history_entry(data, key, self.url)
            except IntegrityError as exc:
                entries[key] = exc
        return entries

    def names(self, *, after: str | None = None, limit: int | None = None) -> list[str]:
        """Class names with refs, sorted: all, or ``limit`` of those sorting after ``after``. One listing (a
        request per 1,000 names on object stores). Entries that are not classes are skipped
        (:meth:`scan_names` says which)."""
        return self.scan_names(after=after, limit=limit).names

    def scan_names(self, *, after: str | None = None, limit: int | None = None) -> NameListing:
        """:meth:`names`, and every entry under ``refs/`` that was skipped because it is not a class: a file
        (``.DS_Store``), a folder whose name is not a valid class name, or (local folders) a link. One listing.

        >>> Store("memory://doc-scan").scan_names()
        NameListing(names=[], skipped=[])
        """
        folder = self._path("refs")
        names, skipped = [], []
        if not self._local and _listings.usable(self.fs):  # S3 and GCS start after ``after``, stop at ``limit``
            entries = self._listed_names(folder, after=after, limit=limit)
        else:
            entries = self._list(folder, detail=True)
        for entry in sorted(entries, key=lambda entry: entry["name"]):
            base = _base_name(entry["name"])
            reason = None
            if self._local and entry.get("islink"):
                reason = "a symbolic link (remoteimport never makes links)"
            elif entry.get("type") != "directory":
                reason = "not a folder (a stray file)"
            elif not _is_valid_name(base):
                reason = "not a valid class name"
            if reason is None:
                names.append(base)
            else:
                skipped.append(SkippedEntry(f"{folder}/{base}", reason))
        if after is not None:
            names = [name for name in names if name > after]
        return NameListing(names if limit is None else names[:limit], skipped)

    def _listed_names(self, folder: str, *, after: str | None, limit: int | None) -> list[dict[str, str]]:
        """:meth:`scan_names`'s listing on S3 and GCS (s3fs, gcsfs), as fsspec's info dicts: from past ``after``
        (a page of ``ls --after NAME`` does not list the names before it) to ``limit`` names (one request for up
        to 1,000 entries)."""
        from fsspec.asyn import sync

        def listing() -> list[_listings.Listed]:
            return sync(
                self.fs.loop,
                _listings.list_range,
                self.fs,
                folder,
                after=after,
                delimiter="/",
                folders=limit,
                counts=_is_valid_name,
            )

        try:
            listed = self._attempt("list", folder, listing)
        except FileNotFoundError:
            listed = []
        return [{"name": f"{folder}/{entry.key}", "type": "directory" if entry.folder else "file"} for entry in listed]

    def exists(self, name: str) -> bool:
        return self.latest(name) is not None

    def is_present(self) -> bool:
        """Whether the store itself exists: its folder (local), or its bucket (object stores, where an empty
        prefix is not an object and so counts once the bucket exists). An existing empty store is present.
        One or two requests; for admin tools (``remoteimport ls``), which must tell "missing" from "empty".

        >>> Store("memory://doc-present-never-written").is_present()
        False
        """
        root = self.root.rstrip("/")
        if self._attempt("check", root or "/", lambda: self.fs.exists(root or "/")):
            return True
        bucket = root.lstrip("/").split("/", 1)[0]
        if self._local or not bucket or bucket == root.lstrip("/"):
            return False
        return bool(self._attempt("check", bucket, lambda: self.fs.exists(bucket)))

    def _known_versions(self, name: str, shown: int = 10, found: list[str] | None = None) -> str:
        """The versions a user can choose from, for error messages (one recursive listing; errors only)."""
        found = self.blob_hashes(name) if found is None else found
        if not found:
            return f"The store has no versions of {name}."
        more = f" and {len(found) - shown} more" if len(found) > shown else ""
        return f"Versions of {name} in the store: {', '.join(h[:12] for h in found[:shown])}{more}."

    def name_not_found(self, name: str, namespace: str | None = None) -> NameNotFoundError:
        """The error for a name without a ``latest`` pointer: the closest names the store does have, or, when
        the name has versions but its pointer was deleted, how to set it again."""
        import difflib

        where = f" (namespace {namespace!r})" if namespace else ""
        versions = self.blob_hashes(validate_name(name))  # a listing, on this error path only
        if versions:
            example = versions[-1][:12] if len(versions) == 1 else "<hash>"
            error = NameNotFoundError(
                f"{name!r} has versions in the store {self.url}{where} but no latest pointer "
                f"(refs/{name}/latest is missing). {self._known_versions(name, found=versions)} Point latest at "
                f"one with `remoteimport rollback {name} {example}`, or import one by hash."
            )
            error.name = f"{namespace}.{name}" if namespace else name
            return error
        known = [other for other in self.names() if other != name]
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else " Push it first with `remoteimport push`."
        if not known:
            hint += " The store holds no classes at all: check its URL (bucket and prefix)."
        error = NameNotFoundError(f"no class named {name!r} in the store {self.url}{where}.{hint}")
        error.name = f"{namespace}.{name}" if namespace else name
        return error

    # -- removal and audits (delete, gc: remoteimport.registry) ---------------------------------------------

    def delete_blob(self, name: str, full_hash: str) -> None:
        """Remove a version's blob (a no-op when it is absent). Callers first make sure no ref needs it."""
        self._remove(self.blob_path(name, full_hash))

    def delete_latest(self, name: str) -> None:
        """Remove the ``latest`` pointer of ``name`` (a no-op when there is none)."""
        self._remove(self._latest_path(name))
        self._latest_memo.pop(name, None)

    def blob_names(self) -> list[str]:
        """Names that have a folder under ``blobs/``, sorted: also those with no refs at all (a first push that
        failed before its history entry). Entries that are not valid names are skipped."""
        folder = self._path("blobs")
        entries = self._list(folder, detail=True)
        return sorted(
            _base_name(entry["name"])
            for entry in entries
            if entry.get("type") == "directory"
            and not (self._local and entry.get("islink"))
            and _is_valid_name(_base_name(entry["name"]))
        )

    def blob_modified(self, name: str, full_hash: str) -> float | None:
        """When the blob was last written (seconds since the epoch), None when the backend cannot say."""
        path = self.blob_path(name, full_hash)
        if self._local:
            self._check_inside(path)
            return os.stat(path, follow_symlinks=False).st_mtime
        try:
            return self._attempt("check", path, lambda: self.fs.modified(path)).timestamp()
        except (NotImplementedError, AttributeError, KeyError):
            return None

    def temporary_files(self) -> list[tuple[str, int, float]]:
        """``(path, size, modification time)`` of every temporary file (``.tmp-*``) under a local store: writes
        in progress, or writes that crashed. Object stores have none (a PUT replaces an object whole)."""
        if not self._local:
            return []
        self._check_inside(self.root)
        found = []
        for folder, _, files in os.walk(self.root):  # links to folders are not walked into
            for base in files:
                if base.startswith(TEMPORARY_PREFIX):
                    path = os.path.join(folder, base)
                    try:
                        status = os.stat(path, follow_symlinks=False)
                    except OSError:
                        continue  # finished (renamed) meanwhile
                    found.append((path, status.st_size, status.st_mtime))
        return sorted(found)

    def remove_temporary_file(self, path: str) -> None:
        """Remove one temporary file :meth:`temporary_files` listed (nothing else: the name is checked)."""
        if not os.path.basename(path).startswith(TEMPORARY_PREFIX):
            raise StoreError(f"refusing to remove {path}: it is not a temporary file ({TEMPORARY_PREFIX}*)")
        self._remove(path)

    def _remove(self, path: str) -> None:
        def remove() -> None:
            if self._local:
                self._check_inside(os.path.dirname(path))
                try:
                    os.unlink(path)  # a link planted there is removed itself, never followed
                except FileNotFoundError:
                    pass
                return
            try:
                self.fs.rm_file(path)
            except FileNotFoundError:
                pass

        self._attempt("remove", path, remove)

    # -- mechanics -----------------------------------------------------------------------------------------

    def _get_many(self, paths: list[str]) -> dict[str, bytes | None]:
        """Whole objects, one ranged GET each (concurrent on async backends); None for a missing one.
        A transient failure is retried for the paths that failed."""
        return self._get_ranges({path: (0, None) for path in paths})

    def _get_ranges(
        self, ranges: Mapping[str, tuple[int, int | None]], *, refusals_in_place: bool = False
    ) -> dict[str, Any]:
        """``{path: (start, end)}`` -> the bytes from ``start`` up to ``end`` (None: the end) of each object, one
        ranged GET each (concurrent on async backends); None for a missing object, ``b""`` for a range that starts
        past its end. A transient failure is retried for the paths that failed. Local files are read from
        ``start`` to ``end`` alone (their reads refuse links and FIFOs: remoteimport._files);
        ``refusals_in_place``: such a refusal's IntegrityError is returned in place of the bytes (listings), not
        raised."""
        found: dict[str, Any] = {}

        def fetch(pending: list[str]) -> None:
            if len(pending) > 1 and not self._local and getattr(self.fs, "async_impl", False):
                # fsspec's own batching: concurrent ranged reads (one GET each: a plain cat asks s3fs for the
                # size first), exceptions returned in place; an empty object has no byte 0 (416)
                starts, ends = zip(*(ranges[path] for path in pending), strict=True)
                ranged = self.fs.cat_ranges(
                    list(pending), list(starts), list(ends), batch_size=BATCH_CONCURRENCY, on_error="return"
                )
                results = [
                    _read_plainly_if_empty(self.fs, path, got, start=ranges[path][0])
                    for path, got in zip(pending, ranged, strict=True)
                ]
            else:
                results = []
                for path in pending:
                    start, end = ranges[path]
                    try:
                        read = self._read_local if self._local else functools.partial(_read_range, self.fs)
                        results.append(read(path, start, end))
                    except Exception as exc:  # noqa: BLE001  (sorted out below, like the async results)
                        results.append(exc)
            failure = None
            for path, result in zip(list(pending), results, strict=True):
                if isinstance(result, FileNotFoundError):
                    found[path] = None
                elif isinstance(result, IntegrityError) and refusals_in_place:
                    found[path] = result
                elif isinstance(result, BaseException):
                    failure = failure or result
                    continue
                else:
                    found[path] = bytes(result)
                pending.remove(path)
            if failure is not None:
                raise failure

        for batch in _batches(list(ranges)):
            label = batch[0] if len(batch) == 1 else f"{len(batch)} objects"
            self._attempt("read", label, lambda batch=batch: fetch(batch))
        return found

    def _put_many(self, files: Mapping[str, bytes]) -> None:
        """Write whole objects (replacing any): concurrent PUTs on async backends, atomic renames locally."""
        if not files:
            return
        if len(files) > 1 and not self._local and getattr(self.fs, "async_impl", False):
            large = [path for path, data in files.items() if _large_upload_options(self.fs, data)]
            for path in large:  # one at a time, each in parts one after another (_large_upload_options)
                self._write_atomic(path, files[path], skip_if_present=False)
            for batch in _batches([path for path in files if path not in large]):

                def put(batch: list[str] = batch) -> None:
                    # fsspec's own batching; the first failure is raised, and the retry rewrites the batch's
                    # objects (each PUT is idempotent)
                    self.fs.pipe({path: files[path] for path in batch}, batch_size=BATCH_CONCURRENCY)

                # One operation per batch, each with its own deadline: 800 refs are many round trips.
                self._attempt("write", batch[0] if len(batch) == 1 else f"{len(batch)} objects", put)
            return
        for path, data in files.items():
            self._write_atomic(path, data, skip_if_present=False)

    def _list(self, folder: str, *, detail: bool = False) -> list[Any]:
        """The paths directly under ``folder`` ([] when there is none), never from a stale listing cache;
        ``detail``: fsspec's info dicts instead (the same single request on object stores)."""
        if self._local:
            self._check_inside(folder)
        try:
            return self._attempt("list", folder, lambda: self.fs.ls(folder, detail=detail, refresh=True))
        except FileNotFoundError:
            return []

    def _list_many(self, folders: list[str]) -> dict[str, list[str] | IntegrityError]:
        """``{folder: the files directly in it}`` ([] when there is none), never from a stale listing cache: one
        listing each, concurrent on s3fs and gcsfs. A missing folder costs S3 one LIST too: s3fs's ``ls`` lists
        the parent as well before it says a folder is missing, its ``find`` with a ``prefix`` does not (gcsfs
        asks twice either way). A local folder reached through a planted link gets the IntegrityError in place."""
        if self._local or not _lists_by_prefix(self.fs):
            listed: dict[str, list[str] | IntegrityError] = {}
            for folder in folders:
                try:
                    listed[folder] = self._list(folder)
                except IntegrityError as exc:
                    listed[folder] = exc
            return listed
        found: dict[str, list[str] | IntegrityError] = {}

        def fetch(pending: list[str]) -> None:
            from fsspec.asyn import sync

            failure = None
            listed = sync(self.fs.loop, _list_by_prefix, self.fs, pending)
            for folder, result in zip(list(pending), listed, strict=True):
                if isinstance(result, BaseException) and not isinstance(result, FileNotFoundError):
                    failure = failure or result
                    continue
                found[folder] = [] if isinstance(result, BaseException) else result
                pending.remove(folder)
            if failure is not None:
                raise failure

        for batch in _batches(list(dict.fromkeys(folders))):
            label = batch[0] if len(batch) == 1 else f"{len(batch)} folders"
            self._attempt("list", label, lambda batch=batch: fetch(batch))
        return found

    def _read_local(self, path: str, start: int = 0, end: int | None = None) -> bytes:
        """A local store's file (from ``start`` up to ``end``): only a regular file inside the store is read (a
        planted link, FIFO or device would leak another file or block the import)."""
        self._check_inside(path)
        try:
            return read_regular_file(path, start, end)
        except NotRegularFileError as exc:
            raise IntegrityError(
                f"refusing {path} in the store {self.url}: it is {exc.kind}, not a regular file. remoteimport "
                "never makes one, so someone who can write to the store put it there: remove it, and check who "
                "can write to the store."
            ) from None

    def _check_inside(self, path: str) -> None:
        """Refuse a local ``path`` that resolves outside the store's root: a link planted on its way would make
        a read leak another file, or a write land elsewhere."""
        root = os.path.realpath(self.root)
        real = os.path.realpath(path)
        if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
            raise IntegrityError(
                f"refusing {path} in the store {self.url}: it resolves to {real}, outside the store (a symbolic "
                "link was planted on its way; remoteimport never makes links). Remove the link, and check who "
                "can write to the store."
            )

    def _write_atomic(self, path: str, data: bytes, *, skip_if_present: bool) -> None:
        if not self._local:

            def put() -> None:
                if skip_if_present and self.fs.exists(path):
                    return
                # object stores: a PUT replaces the object whole (a large one in parts, one part at a time)
                self.fs.pipe_file(path, data, **_large_upload_options(self.fs, data))

            self._attempt("write", path, put)
            return

        def write_locally() -> None:
            self._check_inside(path)  # before its folders are made: never through a planted link
            if skip_if_present and os.path.lexists(path):
                return
            write_atomically(path, data, fsync=True)  # with the umask's mode: others sharing the folder read it

        self._attempt("write", path, write_locally)

    def _attempt(self, action: str, path: str, operation: Callable[[], T]) -> T:
        """Run one storage operation. Transient failures (a reset connection, a timeout) are retried
        ``retries`` times with bounded exponential backoff, here unless the backend retries by itself (s3fs,
        gcsfs: configured with the same budget by :func:`_backend_options`). A response body cut short is
        retried here on s3fs too, within the same budget and the operation's one deadline: botocore's retries
        end when the headers have arrived (:func:`_body_read_outside_retries`). Other backend failures become
        :class:`StoreUnreachableError` naming the store; our own errors and missing files pass through."""
        by_backend = not self._local and _retries_by_itself(self.fs)
        retries = self.retries if not by_backend or _body_read_outside_retries(self.fs) else 0
        # A backend that retries by itself gets one deadline for the whole operation, our body retries included.
        until = time.monotonic() + self.timeout * (self.retries + 1) + DEADLINE_MARGIN if by_backend else None
        delay = RETRY_DELAY
        attempt = 0
        noticed: list[bool] = []  # the "retrying" notice: once per operation
        while True:
            try:
                return self._within_deadline(
                    operation, backend_attempts=self.retries + 1 if by_backend else 1, noticed=noticed, until=until
                )
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
                retrying = _is_cut_body(exc) if by_backend else _is_transient(exc) or _is_cut_body(exc)
                if attempt < retries and retrying and (until is None or time.monotonic() + delay < until):
                    attempt += 1
                    if not by_backend:  # the backend's own notice covers its silences; a cut body was no silence
                        self._notice_retrying(
                            noticed, (retries + 1) * self.timeout + RETRY_DELAY * (3**retries - 1) / 2
                        )
                    time.sleep(delay)
                    delay *= 3
                    continue
                tried = f" (after {attempt + 1} attempts)" if attempt else ""
                waited = (
                    f" Each request waits {self.timeout:g} s for an answer (${ENV_TIMEOUT}) and is retried "
                    f"{_retried(self.fs, self.retries)} (${ENV_RETRIES})."
                    if _is_timeout(exc)
                    else f" The connection dropped while the answer was read; it is read again {self.retries} "
                    f"times (${ENV_RETRIES})."
                    if _is_cut_body(exc)
                    else ""
                )
                failure = f"{type(exc).__name__}: {redact_url(str(exc))}" if str(exc) else type(exc).__name__
                raise StoreUnreachableError(
                    f"cannot {action} {path} in the store {self.url}{tried}: {failure}. "
                    f"Check the URL, your network and credentials (storage_options / environment).{waited}"
                ) from exc

    def _within_deadline(
        self,
        operation: Callable[[], T],
        *,
        backend_attempts: int,
        noticed: list[bool] | None = None,
        until: float | None = None,
    ) -> T:
        """Run a network operation with a deadline for all of it: ``timeout`` per attempt the backend makes,
        plus its backoff. Per-request timeouts alone do not bound a backend that retries on its own schedule
        (gcsfs: 6 attempts with up to 31 s of sleeps, whatever it is told). On the deadline the operation is
        left to finish in its thread (fsspec's I/O loop) and a TimeoutError is raised here. Still waiting after
        one attempt's ``timeout``, the backend is retrying (or the answer is long): :meth:`_notice_retrying`.
        ``until``: the :func:`time.monotonic` instant that deadline ends at, when an earlier attempt of the same
        operation started it (:meth:`_attempt`)."""
        if self.is_local:
            return operation()
        import threading  # only for network stores: a local or cached import starts no thread

        deadline = self.timeout * backend_attempts + DEADLINE_MARGIN
        if until is None:
            until = time.monotonic() + deadline
        outcome: dict[str, Any] = {}
        finished = threading.Event()

        def run() -> None:
            try:
                outcome["value"] = operation()
            except BaseException as exc:  # noqa: BLE001  (re-raised in the calling thread)
                outcome["error"] = exc
            finally:
                finished.set()

        threading.Thread(target=run, name="remoteimport-storage", daemon=True).start()
        waiting = max(0.0, min(self.timeout, until - time.monotonic()))
        if not finished.wait(waiting) and noticed is not None and backend_attempts > 1:
            self._notice_retrying(noticed, deadline)
        if not finished.wait(max(0.0, until - time.monotonic())):
            raise TimeoutError(f"no complete answer within {deadline:g} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def _notice_retrying(self, noticed: list[bool], at_most: float) -> None:
        """Say once per operation that a silent store is being retried, and for how long at most (INFO on
        :data:`PROGRESS_LOGGER`, which only the command line shows): a dead endpoint otherwise looks like a hang."""
        if noticed:
            return
        noticed.append(True)
        import logging  # a slow network operation: the import costs nothing next to the wait

        logging.getLogger(PROGRESS_LOGGER).info(
            "no answer from %s after %g s: retrying, for at most %g s in all ($%s, $%s)",
            self.url,
            self.timeout,
            round(at_most, 1),
            ENV_TIMEOUT,
            ENV_RETRIES,
        )


def _blob_key(name: str, full_hash: str) -> str:
    """The one place a blob's key is made: ``blobs/<Name>/<hash[:2]>/<hash>.blob`` (validated first)."""
    validate_name(name)
    full_hash = validate_hash(full_hash, allow_prefix=False)
    return f"blobs/{name}/{full_hash[:2]}/{full_hash}.blob"


def _hash_of_blob_file(base: str) -> str | None:
    """The full hash a blob's file name says (``<hash>.blob``: :func:`_blob_key`), or None for another file (a
    temporary file, a stray)."""
    full_hash = base[: -len(".blob")] if base.endswith(".blob") else None
    return full_hash if is_full_hash(full_hash) else None


def _backend_module(fs: Any) -> str:
    """The top-level module of ``fs``'s class: ``"s3fs"``, ``"gcsfs"``, ``"fsspec"`` ... (which backend it is)."""
    return type(fs).__module__.split(".", 1)[0]


def _large_upload_options(fs: Any, data: bytes) -> dict[str, Any]:
    """s3fs uploads an object of 100 MB or more in 50 MB parts, up to 10 at once, each part a copy of its slice:
    a 200 MB blob held its size again in parts. One part at a time: one part's copy at most (the parts'
    requests are sequential; a blob that large spends its time in the transfer anyway)."""
    if _backend_module(fs) != "s3fs" or len(data) < _LARGE_UPLOAD:
        return {}
    return {"max_concurrency": 1}


_LARGE_UPLOAD = 100 * 2**20  # s3fs's multipart threshold (2 x its 50 MB chunk)


def _read_range(fs: Any, path: str, start: int = 0, end: int | None = None) -> bytes:
    # A ranged read (from byte 0 for a whole object) is one GET; s3fs's plain cat_file first asks for the size
    # (a HEAD).
    try:
        return fs.cat_file(path, start=start, end=end)
    except Exception as exc:
        if not _range_not_satisfiable(exc):
            raise
        if start:
            return b""  # the range starts past the object's end (HTTP 416): nothing there
        return fs.cat_file(path)  # an empty object has no byte 0 (HTTP 416): read it plainly


def _read_plainly_if_empty(fs: Any, path: str, result: Any, *, start: int = 0) -> Any:
    """A batch's result for ``path``; an empty object's "range not satisfiable" is read plainly instead (a range
    starting past an object's end is ``b""``)."""
    if not isinstance(result, Exception) or not _range_not_satisfiable(result):
        return result
    if start:
        return b""
    try:
        return fs.cat_file(path)
    except Exception as exc:  # noqa: BLE001  (returned in place, like the batch's own)
        return exc


def _range_not_satisfiable(exc: Exception) -> bool:
    if isinstance(exc, FileNotFoundError):
        return False
    return (isinstance(exc, OSError) and exc.errno == errno.EINVAL) or "range" in str(exc).lower()


BATCH_CONCURRENCY = 64  # requests in flight at once for a batch (push_all, ls, a history page)


def _batches(items: list[T]) -> list[list[T]]:
    """``items`` in batches of BATCH_CONCURRENCY: each batch one storage operation, with its own deadline and
    retries (a page of 1,000 reads is many round trips, not one request's worth of waiting)."""
    return [items[first : first + BATCH_CONCURRENCY] for first in range(0, len(items), BATCH_CONCURRENCY)]


# Bytes of a blob read for its header alone (ls, the web view's class list): the whole header of all but blobs
# shipping more source than that, which cost a second ranged read for the rest of their header.
HEADER_READ_SIZE = 64 * 1024


def _lists_by_prefix(fs: Any) -> bool:
    """Whether ``fs`` lists a folder in one request whether it exists or not through ``find(parent,
    prefix=...)`` (:func:`_list_by_prefix`): s3fs and gcsfs, whose ``find`` takes a key prefix."""
    return _backend_module(fs) in ("s3fs", "gcsfs")


async def _list_by_prefix(fs: Any, folders: list[str]) -> list[Any]:
    """The files directly in each of ``folders``, one listing each, BATCH_CONCURRENCY at a time on ``fs``'s loop;
    exceptions are returned in place (as fsspec's batches return them)."""
    import asyncio

    limit = asyncio.Semaphore(BATCH_CONCURRENCY)

    async def list_one(folder: str) -> list[str]:
        parent, base = folder.rstrip("/").rsplit("/", 1)
        async with limit:
            found = await fs._find(parent, prefix=base + "/")
        return [path for path in found if path.rsplit("/", 1)[0] == folder]  # not what sits in sub-folders

    return await asyncio.gather(*(list_one(folder) for folder in folders), return_exceptions=True)


_TRANSIENT_ERRNOS = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EPIPE, errno.EAGAIN})


def _is_timeout(exc: BaseException) -> bool:
    """A request that got no answer in time (botocore's ReadTimeoutError, aiohttp's, fsspec's, the OS's)."""
    return isinstance(exc, TimeoutError) or "timeout" in type(exc).__name__.lower()


def _retries_by_itself(fs: Any) -> bool:
    """Whether ``fs`` is a backend that retries by itself, configured by :func:`_backend_options` (a wrapper
    around one, like the tests' fault injector, is not: its faults reach no backend retry)."""
    return _backend_module(fs) in _SELF_RETRYING_MODULES


def _body_read_outside_retries(fs: Any) -> bool:
    """Whether ``fs`` retries by itself but not the reading of a response's body: s3fs, whose one retry layer
    (botocore's) ends when the headers have arrived, its own loop being set to one attempt
    (:func:`_one_retry_layer`). gcsfs reads the body inside its retry loop."""
    return _backend_module(fs) == "s3fs"


# A response body cut short (a connection dropped mid-download), by the names their libraries give them: aiohttp,
# botocore (aiobotocore wraps aiohttp's connection errors during a read in ResponseStreamingError), http.client.
# Named, not imported: importing aiohttp or botocore to recognise them would cost every store.
_CUT_BODY_ERRORS = frozenset(
    {
        ("aiohttp", "ClientPayloadError"),
        ("botocore", "ResponseStreamingError"),
        ("botocore", "IncompleteReadError"),
        ("http", "IncompleteRead"),
    }
)


def _is_cut_body(exc: BaseException) -> bool:
    """A failure while reading a response's body: the answer started and was cut short (:meth:`Store._attempt`
    retries it on s3fs too, whose retries end with the headers). A reset reaching us from s3fs as a plain
    ConnectionResetError is one too: botocore names the resets it sees before the headers (its own classes)."""
    if isinstance(exc, ConnectionResetError):
        return True
    return any((kind.__module__.split(".", 1)[0], kind.__name__) in _CUT_BODY_ERRORS for kind in type(exc).__mro__)


def _backend_options(protocol: str, given: Mapping[str, Any], *, timeout: float, retries: int) -> dict[str, Any]:
    """``given`` storage options, plus timeouts and the retry budget for backends that would otherwise wait
    minutes on a silent endpoint. What the user gave wins, key by key.

    - s3fs: botocore is the one retry layer (it covers every request, listings included, and honours
      throttling): ``retries + 1`` attempts, connect and read timeouts. s3fs's own loop is set to one attempt
      when the filesystem is opened (:func:`_one_retry_layer`).
    - gcsfs: its per-request timeout (its retries are fixed by gcsfs: 6 attempts, 1-16 s apart).
    - http(s): aiohttp's connect and read timeouts (no backend retries: Store._attempt retries).
    """
    options = dict(given)
    if protocol in ("s3", "s3a"):
        config = dict(options.get("config_kwargs") or {})
        if isinstance(config.get("retries"), dict):
            config["retries"] = dict(config["retries"])  # botocore adds to it: leave the caller's dict alone
        config.setdefault("connect_timeout", timeout)
        config.setdefault("read_timeout", timeout)
        # botocore keeps 10 connections by default: a batch of BATCH_CONCURRENCY requests would wait for them
        config.setdefault("max_pool_connections", BATCH_CONCURRENCY)
        config.setdefault("retries", {"total_max_attempts": retries + 1})
        options["config_kwargs"] = config
    elif protocol in ("gs", "gcs"):
        options.setdefault("requests_timeout", _aiohttp_timeout(timeout))
    elif protocol in ("http", "https"):
        client = dict(options.get("client_kwargs") or {})
        client.setdefault("timeout", _aiohttp_timeout(timeout))
        options["client_kwargs"] = client
    return options


def _retried(fs: Any, retries: int) -> str:
    """How often a failed request is retried, for messages: gcsfs fixes its own number."""
    if _backend_module(fs) == "gcsfs":
        return f"{getattr(type(fs), 'retries', 6) - 1} times by gcsfs (a number gcsfs fixes)"
    return f"{retries} times"


def _one_retry_layer(fs: Any) -> None:
    """s3fs retries some errors (timeouts among them) itself, 5 attempts by default, and twice over for reads
    (an outer and an inner loop): on top of botocore's that is up to 25 x botocore's attempts. Its ``retries``
    is a class attribute, not a constructor option; one attempt leaves botocore as the only retry layer."""
    if _backend_module(fs) == "s3fs":
        fs.retries = 1


def _aiohttp_timeout(timeout: float) -> Any:
    import aiohttp  # only for backends built on it, which import it anyway

    # Per connection and per read, so a large blob on a slow but live link still arrives; aiohttp's default
    # 5-minute cap on a whole request stays.
    return aiohttp.ClientTimeout(total=300, sock_connect=timeout, sock_read=timeout)


def _is_transient(exc: BaseException) -> bool:
    """A failure worth retrying: a dropped connection or a timeout (not a refused one: nobody is there)."""
    if isinstance(exc, ConnectionRefusedError):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS


def _protocol(url: str) -> str:
    """The protocol of the filesystem that holds ``url``'s data, as fsspec's ``split_protocol`` reads it:
    ``file`` for a plain path. In a chained URL that is the last link (``simplecache::s3://bucket/classes`` is
    on ``s3``; ``simplecache`` only caches what it reads there). Without importing fsspec: local stores never
    need it.

    >>> _protocol("simplecache::s3://bucket/classes"), _protocol("/srv/classes"), _protocol("HTTP://host/x")
    ('s3', 'file', 'http')
    """
    last = url.rsplit("::", 1)[-1]
    if "://" in last:
        protocol = last.split("://", 1)[0].lower()
        if len(protocol) > 1:  # not a Windows drive letter
            return protocol
    if last.startswith("data:"):
        return "data"
    return "file"


def store_protocol(url: str) -> str:
    """The protocol of the filesystem a store URL names (a chained URL's last link), for every check that
    depends on where a store is: local or not, plain http or not."""
    return _protocol(url)


_AUTHORITY_ENDS = frozenset("/?#\\ \t\r\n'\"<>`")


def redact_url(text: str) -> str:
    """``text`` with the user information of every URL in it (``https://user:password@host``) replaced by
    ``***``: how a store URL is shown in messages, listings and pages. The store itself uses the real URL.

    >>> redact_url("simplecache::https://user:secret@example.com/classes")
    'simplecache::https://***@example.com/classes'
    """
    if "@" not in text or "://" not in text:
        return text
    parts, start = [], 0
    while (found := text.find("://", start)) != -1:
        begin = found + 3
        end = begin
        while end < len(text) and text[end] not in _AUTHORITY_ENDS:
            end += 1
        at = text.rfind("@", begin, end)
        if at == -1:
            parts.append(text[start:end])
        else:
            parts.append(text[start:begin] + "***")
            parts.append(text[at:end])
        start = end
    parts.append(text[start:])
    return "".join(parts)


def resolve_store(store: Store | str | os.PathLike[str] | None) -> Store:
    """A :class:`Store` from a Store, a URL/path, or None (the default store: ``$REMOTEIMPORT_STORE``, else a
    folder in the user's data directory).

    >>> resolve_store("memory://doc-example").url
    'memory://doc-example'
    """
    if isinstance(store, Store):
        return store
    if store is None:
        return Store.default()
    return Store(store)


def normalized_store_url(url: str) -> str:
    """The one way store URLs are compared (a lock's store against the served one, ...), without opening the
    store: a local folder by its absolute, normalised path (``file://``, ``~`` and ``..`` resolved as
    :attr:`Store.url` resolves them); other URLs as written, without a trailing slash.

    >>> normalized_store_url("file:///srv/classes/"), normalized_store_url("s3://bucket/classes/")
    ('/srv/classes', 's3://bucket/classes')
    """
    if _protocol(url) in _LOCAL_PROTOCOLS and "::" not in url:
        if os.sep == "/":
            return os.path.normpath(_local_root(url))
        return os.path.normpath(os.path.abspath(url.removeprefix("file://")))
    return redact_url(url).rstrip("/")  # as Store.url shows it: credentials are not part of a store's name


def _local_root(url: str) -> str:
    """A local store's root, exactly as fsspec's ``LocalFileSystem`` makes it (POSIX): the URL without
    ``file://``/``local://``, absolute, without a trailing slash."""
    for prefix in ("file://", "file:", "local://", "local:"):
        if url.startswith(prefix):
            url = url[len(prefix) :]
            break
    if url.startswith("~"):
        url = os.path.expanduser(url)
    elif not url.startswith("/"):
        relative = "" if url == "." else url[2:] if url.startswith("./") else url
        url = f"{os.getcwd()}/{relative}"
    return url.rstrip("/") or "/"


# The backends of the common object stores: when installed, a store on them is accepted without importing
# fsspec (a pinned import served from the blob cache needs neither). Other protocols ask fsspec's registry.
_COMMON_BACKENDS = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "abfs": "adlfs", "az": "adlfs"}


def _json() -> Any:
    import json  # history and pointers only: a pinned import reads neither (docs/performance.md)

    return json


def _find_spec(module: str) -> object:
    import importlib.util

    return importlib.util.find_spec(module)


def _check_backend(url: str, protocol: str) -> None:
    """Refuse a URL whose fsspec backend is unknown or not installed, without importing the backend."""
    common = _COMMON_BACKENDS.get(protocol)
    if common is not None and _find_spec(common) is not None:
        return
    from fsspec.registry import known_implementations, registry

    if protocol in registry:
        return
    known = known_implementations.get(protocol)
    if known is None:
        raise StoreError(f"cannot open store {url!r}: fsspec knows no protocol {protocol!r}. {_backend_hint(url)}")
    module = known["class"].split(".", 1)[0]
    if _find_spec(module) is None:
        reason = known.get("err") or f"{module} is not installed"
        raise StoreError(f"cannot open store {url!r}: {reason}. {_backend_hint(url)}")


def _timeout_setting(value: float | None) -> float:
    timeout = _number_setting(value, ENV_TIMEOUT, DEFAULT_TIMEOUT, float, "a number of seconds (e.g. 5 or 0.5)")
    if not timeout > 0:
        raise StoreError(f"the store timeout must be more than 0 seconds, not {timeout} (${ENV_TIMEOUT} or timeout=)")
    return timeout


def _retries_setting(value: int | None) -> int:
    retries = _number_setting(value, ENV_RETRIES, DEFAULT_RETRIES, int, "a whole number of retries (e.g. 3 or 0)")
    if retries < 0:
        raise StoreError(f"the store retries must be 0 or more, not {retries} (${ENV_RETRIES} or retries=)")
    return retries


def _number_setting(value: T | None, variable: str, default: T, parse: Callable[[str], T], expected: str) -> T:
    """``value`` when given, else the environment variable ``variable`` when set, else ``default``."""
    if value is not None:
        return value
    try:
        return _env.number(variable, default, parse, expected)
    except ValueError as exc:
        raise StoreError(str(exc)) from None


def _latest_ttl(value: float | None) -> float:
    if value is not None:
        return float(value)
    return _number_setting(None, ENV_LATEST_TTL, DEFAULT_LATEST_TTL, float, "a number of seconds (e.g. 1 or 0.5)")


def _base_name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


_TAG_FIX = "Point it at a good version with `remoteimport tag {name}@HASH {tag} --force`."


def _hash_in_ref(
    data: bytes, path: str, url: str, *, fix: str = "Point it at a good version with `remoteimport rollback NAME HASH`."
) -> str:
    try:
        return validate_hash(data.decode("ascii").strip(), allow_prefix=False)
    except (UnicodeDecodeError, InvalidNameError):
        raise IntegrityError(
            f"the ref {path} in the store {url} does not hold a full hash ({_describe_ref(data)}); it was altered "
            f"or damaged. {fix}"
        ) from None


def _describe_ref(data: bytes) -> str:
    """What a bad ref holds, for messages: its text only when it looks like (part of) a hash, so a message
    never carries the bytes of some other file that ended up there."""
    text = data.strip()
    if not text:
        return "it is empty"
    if len(text) <= 2 * HASH_LENGTH and text.isascii() and is_hash_like(text.decode("ascii")):
        return f"it holds {text.decode('ascii')!r}"
    return f"it holds {len(data)} bytes that are not a hash"


def history_key_parts(key: str) -> tuple[int, str] | None:
    """``(time in ns, first 16 hex digits of the version's hash)`` that a history entry's key names
    (``<20 digits>-<16 hex digits>-<random>.json``: :meth:`Store.append_history_many` makes them), or None for a
    key of another shape (then only the entry says).

    >>> history_key_parts("refs/A/history/00000000000000000012-0123456789abcdef-9f8e.json")
    (12, '0123456789abcdef')
    """
    base = _base_name(key)
    parts = base[: -len(".json")].split("-") if base.endswith(".json") else []
    if len(parts) != 3 or len(parts[0]) != 20 or not parts[0].isdigit() or not parts[2].isalnum():
        return None
    if len(parts[1]) != 16 or not all(c in "0123456789abcdef" for c in parts[1]) or not parts[0].isascii():
        return None
    return int(parts[0]), parts[1]


def _finished_entries(keys: Iterable[str]) -> list[str]:
    """Only finished entries, newest first: a local write in progress (or one that crashed) leaves a ".tmp-"
    file in a history folder."""
    return sorted((key for key in keys if _base_name(key).endswith(".json")), reverse=True)


def _history_entry(data: bytes, path: str, url: str) -> Version:
    try:
        return Version.from_json(_json().loads(data))
    except (ValueError, KeyError, TypeError, RecursionError, InvalidNameError) as exc:
        raise IntegrityError(
            f"the history entry {path} in the store {url} is malformed ({_describe_history_error(exc)}); it was "
            "altered or damaged. Remove that one file to repair the history."
        ) from None


def _describe_history_error(exc: BaseException) -> str:
    """What is wrong with a history entry, without quoting its contents (they may be another file's)."""
    if isinstance(exc, _json().JSONDecodeError):
        return f"not JSON: {exc.msg} at byte {exc.pos}"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply"
    if isinstance(exc, KeyError):
        return f"the key {exc.args[0]!r} is missing"
    return f"a field has a wrong type or value ({type(exc).__name__})"


def _tag_map(found: Mapping[str, str | None | IntegrityError]) -> dict[str, str] | IntegrityError:
    """``{tag: full hash}``, sorted, from what each tag's ref holds (:meth:`Store._refs_read`): a tag gone since it
    was listed is left out; a damaged one's IntegrityError (the first, by tag) stands for them all."""
    for tag in sorted(found):
        if isinstance(found[tag], IntegrityError):
            return found[tag]  # type: ignore[return-value]
    return {tag: full_hash for tag, full_hash in sorted(found.items()) if isinstance(full_hash, str)}


def _md5_hex(text: str) -> str:
    """The hex MD5 of a ref holding ``text``: what S3 gives as its ETag (an identifier here, not a safeguard)."""
    import hashlib

    return hashlib.md5(text.encode("ascii"), usedforsecurity=False).hexdigest()


def _refused_listing(exc: BaseException | None) -> bool:
    """Whether a failed listing was refused (S3 took no multi-character delimiter, say): then refs are read one
    by one. A silent or cut connection is not a refusal: the store is unreachable, and reading refs would be too."""
    return exc is not None and not (
        _is_timeout(exc) or _is_cut_body(exc) or _is_transient(exc) or isinstance(exc, ConnectionError)
    )


def _is_valid_tag(text: str) -> bool:
    try:
        validate_tag(text)
    except InvalidNameError:
        return False
    return True


def _is_valid_name(text: str) -> bool:
    try:
        validate_name(text)
    except InvalidNameError:
        return False
    return True


def _file_names_under(folder: str) -> list[str]:
    """The names of the files anywhere under a local ``folder`` ([] when there is none). Links to folders are
    not walked into: a planted one must not send a listing across the disk."""
    return [name for _, _, files in os.walk(folder) for name in files if not name.startswith(TEMPORARY_PREFIX)]


def _backend_hint(url: str) -> str:
    protocol = _protocol(url)
    backends = {"s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"), "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs")}
    backend = backends.get(protocol)
    if backend:
        # The distribution itself: it installs from any index, whether remoteimport came from a checkout or a wheel
        return f"Install the backend: pip install {backend[0]} (what remoteimport's '{backend[1]}' extra installs)."
    return "Check the URL's protocol (fsspec must know it)."
