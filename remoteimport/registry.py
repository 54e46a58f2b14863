"""Publishing and loading class versions: ``persist``, ``push``, ``status``, ``versions``, ``get_version``...

Push: hash the class, upload its blob only if absent, then append to the history, then move ``latest``.
Load: read the blob, verify its digest, Python version and requirements — all before unpickling — then
unpickle once per process and publish the class as ``<namespace>.<Name>@<full hash>`` so that instances
pickle by reference and unpickle in any interpreter with the import hook.

    >>> import remoteimport
    >>> @remoteimport.persist
    ... class Doubler:
    ...     def apply(self, x):
    ...         return 2 * x
    >>> store = remoteimport.Store("memory://registry-doc")
    >>> full = remoteimport.push(Doubler, store=store)
    >>> remoteimport.status(Doubler, store=store)
    'synced'
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Literal, TypeVar, overload

from remoteimport import _env, _listings
from remoteimport._files import STALE_TEMPORARY_AGE
from remoteimport.blob import CROSS_PYTHON_FORMAT, decode_blob, encode_blob, header_end, make_header
from remoteimport.capture import capture_class
from remoteimport.code_objects import python_tag
from remoteimport.errors import (
    IncompatibleBlobError,
    IntegrityError,
    PushError,
    RemoteImportError,
    TagExistsError,
    UntrustedBlobError,
    VersionInUseError,
    VersionNotFoundError,
)
from remoteimport.hashing import class_hash
from remoteimport.loader import class_from_blob, load_class, stored_blob_problem, unchecked_code
from remoteimport.names import validate_name, validate_namespace, validate_tag, validate_version
from remoteimport.provenance import Collector, pushed_by
from remoteimport.signing import ENV_SIGNING_KEY, SigningKey, signature_state, signing_key_from
from remoteimport.store import Store, Version, resolve_store

__all__ = [
    "persist",
    "push",
    "publish",
    "PushResult",
    "push_all",
    "status",
    "status_report",
    "StatusReport",
    "versions",
    "get_version",
    "rollback",
    "tag",
    "untag",
    "tags",
    "sign",
    "promote",
    "PromoteResult",
    "delete",
    "DeleteResult",
    "gc",
    "GarbageItem",
    "DEFAULT_NAMESPACE",
]

DEFAULT_NAMESPACE = _env.DEFAULT_NAMESPACE
Status = Literal["synced", "out_of_sync", "untracked"]
C = TypeVar("C", bound=type)

# name -> class for every @persist-ed class in this process (the newest definition wins)
_PERSISTED: dict[str, type] = {}
# class -> (name, store) options given to @persist
_OPTIONS: weakref.WeakKeyDictionary[type, tuple[str, Store | str | None]] = weakref.WeakKeyDictionary()


# ---------------------------------------------------------------------------------------------------------
# Publishing


@overload
def persist(cls: C, /) -> C: ...
@overload
def persist(
    *, name: str | None = None, auto_push: bool = False, store: Store | str | None = None
) -> Callable[[C], C]: ...


def persist(
    cls: C | None = None,
    /,
    *,
    name: str | None = None,
    auto_push: bool = False,
    store: Store | str | None = None,
) -> C | Callable[[C], C]:
    """Mark a class as persistent. Cheap: nothing is hashed or uploaded unless ``auto_push=True``.

    Use as ``@persist`` or ``@persist(name="Other", store="s3://bucket/classes")``; then ``push(cls)`` or
    ``push_all()`` uploads it. The class's own ``__init__``, if it has one, is wrapped so that instances
    record their constructor arguments for :func:`remoteimport.dump` (docs/configs.md); the class hash
    still covers the original ``__init__`` by content. Nothing else about the class changes.
    """

    def mark(target: C) -> C:
        if not isinstance(target, type):
            raise TypeError(f"@persist decorates classes, not {type(target).__qualname__} objects")
        stored_name = validate_name(name if name is not None else target.__name__)  # name="" is refused
        from remoteimport.config import record_constructor_arguments

        record_constructor_arguments(target)
        _PERSISTED[stored_name] = target
        _OPTIONS[target] = (stored_name, store)
        if auto_push:
            push(target)
        return target

    return mark(cls) if cls is not None else mark


def is_persisted(cls: type) -> bool:
    """True when ``cls`` was decorated with :func:`persist` in this process."""
    return cls in _OPTIONS


def push_target(cls: type, name: str | None = None, store: Store | str | None = None) -> tuple[str, Store]:
    """The name and store that ``push``/``status`` use for ``cls``: the arguments, then the options given
    to ``@persist``, then the class's own name and the default store."""
    persisted_name, persisted_store = _OPTIONS.get(cls, (None, None))
    stored_name = validate_name(name if name is not None else persisted_name or cls.__name__)
    return stored_name, resolve_store(store if store is not None else persisted_store)


@dataclasses.dataclass(frozen=True)
class PushResult:
    """What :func:`publish` did: ``action`` is ``"new"`` (blob written), ``"unchanged"`` (already stored and
    latest), ``"moved"`` (already stored; ``latest`` now points at it), ``"repaired"`` (a stored blob of
    this version did not load on this host and was replaced by a verified one) or ``"signed"`` (the stored
    version was unsigned, or signed the old way, and is now signed by the push's key); ``detail`` says why."""

    name: str
    hash: str
    store: str
    action: Literal["new", "unchanged", "moved", "repaired", "signed", "upgraded"]
    detail: str = ""


def push(cls: type, store: Store | str | None = None, name: str | None = None, *, message: str | None = None) -> str:
    """Upload ``cls`` (if this version is not stored intact yet) and make it ``latest``; return its full hash.

    ``message`` (one line, at most 1,000 characters) is recorded with the push: in the history entry and, for a
    new version, in its blob's provenance with who pushed it, from which host and git commit (docs/provenance.md).
    A push that changes nothing records nothing. :func:`publish` does the same and also says what it did.

    On an object store a new version costs 4 requests (read the blob: absent; write it; add a history entry; move
    ``latest``) and an unchanged one 2 (read the blob; read ``latest``)."""
    return publish(cls, store, name, message=message).hash


def publish(
    cls: type, store: Store | str | None = None, name: str | None = None, *, message: str | None = None
) -> PushResult:
    """:func:`push`, returning a :class:`PushResult`.

    A stored blob of this version that is damaged, or that does not load and re-hash on this host (e.g.
    written by a release with a loader bug), is replaced by a freshly made blob that does — verified before it
    is written — and the history records a ``repair``. With a signing key, a stored version that is unsigned
    (or signed the old way by this key) is replaced by a signed blob and the history records a ``sign``. A
    stored blob this host's trust policy refuses, or that another key signed, is never unpickled here, nor
    replaced. A version already stored keeps the provenance of the push that wrote it: the history entry records
    this push's (who, ``message``)."""
    collector = Collector(message)  # a bad message is refused before anything is read or written
    stored_name, target = push_target(cls, name, store)
    full_hash = class_hash(cls)
    stored = target.read_blob_if_present(stored_name, full_hash)
    state = _stored_state(stored, target, stored_name, full_hash)
    if state.kind == "ok":
        action = "unchanged" if target.latest(stored_name) == full_hash else "moved"
        move = action == "moved"
        revived = move and stored is not None and _revive(target, stored_name, full_hash, stored)
    else:
        data = _replacement(cls, target, stored_name, full_hash, state, collector)
        target.write_blob(stored_name, full_hash, data, known_absent=True)  # absent, or to be replaced
        _keep_headers(target, {(stored_name, full_hash): data})
        action = _ACTIONS[state.kind]
        # A new version's `latest` must move (no ref can point at it yet); otherwise only if it points elsewhere.
        move = action == "new" or target.latest(stored_name) != full_hash
        revived = False
    if action != "unchanged":
        # The history entry before the pointer: a push that fails in between is completed by pushing again
        # (its entry may then appear twice). The other way round, `latest` would have moved with no entry,
        # and pushing again would find nothing to do.
        entry = Version(
            stored_name, full_hash, time.time(), _python_version(), action=_HISTORY[state.kind], **collector.history()
        )
        target.append_history(entry)
        if move:
            target.set_latest(stored_name, full_hash)
            if revived and stored is not None:
                _keep_revived(target, stored_name, full_hash, stored)
    return PushResult(stored_name, full_hash, target.url, action, state.detail)


def _keep_headers(target: Store, blobs: Mapping[tuple[str, str], bytes]) -> None:
    """Keep the headers of blobs this host has just written in its blob cache, under the ETag the store gives
    each (on S3 the MD5 of its bytes: remoteimport._listings.written_etag), as `ls` keeps those it reads: so `ls`
    and the web view on this host read none of them (docs/storage.md). Never fails the push."""
    cache = target.policy.cache
    if cache is None or target.is_local or not blobs:
        return
    headers = {}
    for (name, full_hash), data in blobs.items():
        etag = _listings.written_etag(target.fs, data)
        end = header_end(data[:64])
        if etag is not None and end is not None and end <= len(data):
            headers[(name, full_hash, etag)] = bytes(data[:end])
    cache.keep_headers(headers)


def _revive(target: Store, name: str, full_hash: str, data: bytes) -> bool:
    """A push about to point refs at an old blob it found stored writes it again first (True when it did): its
    age is then the push's, so ``gc``, which removes only blobs older than an hour that no ref names, leaves it
    alone while the refs are written (an orphan a failed push left behind may be hours old, and no ref names it
    yet). A blob younger than half that age is left as it is: no ``gc`` can take it before the refs are in."""
    try:
        modified = target.blob_modified(name, full_hash)
    except (OSError, RemoteImportError):
        modified = None
    if modified is not None and time.time() - modified < STALE_TEMPORARY_AGE / 2:
        return False
    target.write_blob(name, full_hash, data, known_absent=True)
    return True


def _keep_revived(target: Store, name: str, full_hash: str, data: bytes) -> None:
    """After the refs: the blob is still there (a ``gc`` that looked before the refs and the rewrite existed
    may have removed it); written again if not, so a ref never names a missing blob."""
    if not target.has_blob(name, full_hash):
        _LOG.warning("%s@%s vanished from %s while a push moved refs to it; written again", name, full_hash, target.url)
        target.write_blob(name, full_hash, data, known_absent=True)


def push_all(store: Store | str | None = None, *, message: str | None = None) -> dict[str, str]:
    """Push every ``@persist``-ed class of this process; return ``{name: full hash}``.

    Every class is hashed first; then, per store, :data:`PUSH_ALL_CHUNK` classes at a time, the steps of
    :func:`push`, each one batch (concurrent on object stores: fsspec's async calls): read the blobs, write the
    missing ones (and replace any that :func:`publish` would replace), read ``latest`` where the blob was there,
    add the history entries, move the pointers (only once the chunk's blobs are complete). A chunk is written
    while the next one's blobs are made: memory holds two chunks however many classes there are, and requests
    and pickling overlap. A failure stops the push at its chunk; every version of the chunks before is complete.
    ``message`` and the provenance are recorded as by :func:`push` (git runs once per folder of classes)."""
    collector = Collector(message)  # one for the whole call: git runs once per folder, not once per class
    batches: dict[Store, list[tuple[str, type, str]]] = {}
    for key, cls in sorted(_PERSISTED.items()):
        stored_name, target = push_target(cls, key, store)
        batches.setdefault(target, []).append((stored_name, cls, class_hash(cls)))
    from concurrent.futures import ThreadPoolExecutor  # push_all only: a plain push starts no thread

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="remoteimport-push-all") as writer:
        writing = None
        for target, items in batches.items():
            for start in range(0, len(items), PUSH_ALL_CHUNK):
                chunk = _prepared_chunk(target, items[start : start + PUSH_ALL_CHUNK], collector)
                if writing is not None:
                    writing.result()  # the chunk before is complete (or its failure is raised here)
                writing = writer.submit(_write_chunk, target, chunk, collector)
        if writing is not None:
            writing.result()
    return dict(sorted((name, full_hash) for items in batches.values() for name, _, full_hash in items))


#: How many classes :func:`push_all` prepares and writes at a time (per step, at most
#: :data:`~remoteimport.store.BATCH_CONCURRENCY` requests are in flight).
PUSH_ALL_CHUNK = 256


@dataclasses.dataclass
class _Chunk:
    """What :func:`push_all` writes for a chunk of classes, in this order: ``blobs`` (new or replacing), the
    history entries and ``latest`` of ``moved``; ``revive``: the stored blobs of ``moved`` to write again first
    (see :func:`_revive`); ``kinds``: the stored state of each version (its history action)."""

    blobs: dict[tuple[str, str], bytes]
    moved: dict[str, str]
    revive: dict[tuple[str, str], bytes]
    kinds: dict[tuple[str, str], str]


def _prepared_chunk(target: Store, items: list[tuple[str, type, str]], collector: Collector | None = None) -> _Chunk:
    """Read the chunk's stored blobs (and ``latest`` where they serve) and make the blobs to write."""
    stored = target.read_blobs_if_present([(name, full_hash) for name, _, full_hash in items])
    states = {key: _stored_state(stored[key], target, *key) for key in stored}
    blobs = {
        (name, full_hash): _replacement(cls, target, name, full_hash, states[(name, full_hash)], collector)
        for name, cls, full_hash in items
        if states[(name, full_hash)].kind != "ok"
    }
    latest = target.latest_many([name for name, _, full_hash in items if (name, full_hash) not in blobs])
    moved = {name: full_hash for name, _, full_hash in items if latest.get(name, "") != full_hash}
    revive = {
        (name, full_hash): data
        for name, full_hash in moved.items()
        if (name, full_hash) not in blobs and (data := stored[(name, full_hash)]) is not None
    }
    return _Chunk(blobs, moved, revive, {key: state.kind for key, state in states.items()})


def _write_chunk(target: Store, chunk: _Chunk, collector: Collector | None = None) -> None:
    """The writes of :func:`push_all` for one chunk: blobs, then history entries, then ``latest``."""
    target.write_blobs(chunk.blobs)
    _keep_headers(target, chunk.blobs)
    revived = {key: data for key, data in chunk.revive.items() if _revive(target, *key, data)}
    now, recorded = time.time(), (collector or Collector()).history()
    target.append_history_many(
        [
            Version(
                name,
                full_hash,
                now,
                _python_version(),
                action=_HISTORY[chunk.kinds[(name, full_hash)]],
                **recorded,
            )
            for name, full_hash in chunk.moved.items()
        ]
    )
    target.set_latest_many(chunk.moved)
    for (name, full_hash), data in revived.items():
        _keep_revived(target, name, full_hash, data)


@dataclasses.dataclass(frozen=True)
class _StoredState:
    """What a push must do about the stored blob of a version: ``ok`` (nothing), ``absent``, ``damaged``,
    ``broken`` (intact but does not load here) or ``unsigned`` (to be signed with the push's key)."""

    kind: Literal["ok", "absent", "damaged", "broken", "unsigned", "upgradable"]
    detail: str = ""


_ACTIONS = {
    "absent": "new",
    "damaged": "repaired",
    "broken": "repaired",
    "unsigned": "signed",
    "upgradable": "upgraded",
}
_HISTORY = {
    "ok": "push",
    "absent": "push",
    "damaged": "repair",
    "broken": "repair",
    "unsigned": "sign",
    "upgradable": "upgrade",
}
_LOG = logging.getLogger("remoteimport")
# (store URL, name, hash, payload digest) of stored blobs this process has seen load and re-hash
_VERIFIED: set[tuple[str, str, str, str]] = set()


def _stored_state(data: bytes | None, target: Store, name: str, full_hash: str) -> _StoredState:
    """Whether the stored ``data`` of ``name@full_hash`` serves as it is: intact, loading on this host (one of a
    newer format counts: it is not ours to replace) and, when the push signs, signed."""
    if data is None:
        return _StoredState("absent")
    try:
        blob = decode_blob(data, expected_hash=full_hash, expected_name=name, source=target.blob_url(name, full_hash))
    except IncompatibleBlobError:
        return _StoredState("ok")
    except IntegrityError as exc:
        return _StoredState("damaged", f"damaged ({exc})")
    key = (target.url, name, full_hash, blob.header.payload_sha256)
    if key not in _VERIFIED:
        problem = stored_blob_problem(target, name, full_hash, blob)
        if problem is not None:
            return _StoredState("broken", f"it does not load on this host ({problem})")
        _VERIFIED.add(key)
    signing_key = target.policy.signing_key
    if signing_key is not None:
        state = signature_state(blob.header, signing_key.public)
        if state in ("unsigned", "legacy"):
            what = "unsigned" if state == "unsigned" else "signed the old way (name, hash and payload only)"
            return _StoredState(
                "unsigned", f"the stored copy was {what}; now signed by {signing_key.public.fingerprint}"
            )
        if state == "invalid":
            return _StoredState("ok", "signed by another key; left as it is")
    if blob.header.format < CROSS_PYTHON_FORMAT and blob.header.python == python_tag():
        # It loads on its own Python only; a fresh blob loads there too and on every other. Never at the cost of
        # a signature: a signed copy is upgraded only by a push that signs with the same key.
        signed = blob.header.signature is not None
        if not signed or (signing_key is not None and signature_state(blob.header, signing_key.public) == "valid"):
            return _StoredState(
                "upgradable",
                f"the stored copy (blob format {blob.header.format}) loaded on Python {python_tag()} only; "
                "now every supported Python loads it",
            )
    return _StoredState("ok")


def _replacement(
    cls: type, target: Store, name: str, full_hash: str, state: _StoredState, collector: Collector | None = None
) -> bytes:
    """A fresh blob of ``cls`` for a version whose stored blob is ``state``, with the provenance ``collector``
    gives. A replacement must load: one blob that does not load is never swapped for another."""
    data = _blob_bytes(cls, name, full_hash, target, collector)
    if state.kind == "absent":
        return data
    where = target.blob_url(name, full_hash)
    try:
        class_from_blob(decode_blob(data, source=where), where=f"a fresh blob for {where}", signature_checked=True)
    except (RemoteImportError, ImportError) as exc:
        raise PushError(
            f"cannot replace the stored blob of {name}@{full_hash} ({state.detail}): a fresh blob of the class does "
            f"not load on this host either ({type(exc).__name__}: {exc}). Nothing was written."
        ) from exc
    _VERIFIED.add((target.url, name, full_hash, decode_blob(data).header.payload_sha256))
    level = logging.INFO if state.kind == "unsigned" else logging.WARNING  # a repair is news; signing is asked for
    _LOG.log(level, "replaced the stored blob of %s@%s in %s: %s", name, full_hash, target.url, state.detail)
    return data


def _blob_bytes(cls: type, name: str, full_hash: str, target: Store, collector: Collector | None = None) -> bytes:
    """The encoded (and, with a signing key, signed) blob of ``cls``, its provenance in the signed header."""
    captured = capture_class(cls, path=cls.__qualname__)
    header = make_header(
        name,
        full_hash,
        captured.payload,
        requirements=captured.requirements,
        source=captured.source,
        qualname=cls.__qualname__,
        module=cls.__module__,
        provenance=(collector or Collector()).header(cls),
    )
    signing_key = target.policy.signing_key
    if signing_key is not None:
        header = signing_key.sign(header)
    return encode_blob(header, captured.payload)


@dataclasses.dataclass(frozen=True)
class StatusReport:
    """What :func:`status_report` found: the state, both hashes it compared, and where."""

    name: str  # the name the class is stored under
    state: Status
    local: str  # the class's hash here
    latest: str | None  # the store's latest version of the name (None: never pushed)
    store: str  # the store's URL


def status_report(cls: type, store: Store | str | None = None, name: str | None = None) -> StatusReport:
    """:func:`status` with both hashes it compared (one read of ``latest``, one hash).

    >>> import remoteimport
    >>> class Halver:
    ...     def apply(self, x):
    ...         return x / 2
    >>> remoteimport.registry.status_report(Halver, store="memory://status-doc").state
    'untracked'
    """
    stored_name, target = push_target(cls, name, store)
    latest = target.latest(stored_name)
    local = class_hash(cls)
    state: Status = "untracked" if latest is None else "synced" if latest == local else "out_of_sync"
    return StatusReport(stored_name, state, local, latest, target.url)


def status(cls: type, store: Store | str | None = None, name: str | None = None) -> Status:
    """``"synced"`` when the store's latest is this exact code, ``"out_of_sync"`` when it differs,
    ``"untracked"`` when the name was never pushed (both hashes: :func:`status_report`)."""
    return status_report(cls, store, name).state


def versions(
    name: str, store: Store | str | None = None, *, limit: int | None = None, offset: int = 0
) -> list[Version]:
    """The history of ``name``, newest first (hash, time, Python version, push or rollback): all of it, or a
    page of ``limit`` entries after skipping ``offset`` (a page costs one listing and a read per entry)."""
    validate_name(name)  # before the store is even opened
    target = resolve_store(store)
    history = target.history(name, limit=limit, offset=offset)
    if not history and not target.exists(name):
        raise target.name_not_found(name)
    return history


def rollback(name: str, hash_or_prefix: str, store: Store | str | None = None, *, message: str | None = None) -> str:
    """Point ``latest`` back at an earlier version (recorded in the history, with who did it and ``message``);
    return its full hash. ``hash_or_prefix``: a full hash, 8+ leading hex digits or a tag
    (:meth:`Store.resolve_version`).

    The version's blob must be intact (format, digest, name and hash checked; nothing is unpickled): a damaged
    one raises :class:`IntegrityError` and nothing is changed."""
    validate_name(name)  # before the store is even opened
    validate_version(hash_or_prefix)
    recorded = Collector(message).history()  # a bad message is refused before the store is opened
    target = resolve_store(store)
    full_hash = target.resolve_version(name, hash_or_prefix)
    _require_intact(target, name, full_hash, f"roll {name} back to {full_hash}")
    target.append_history(Version(name, full_hash, time.time(), _python_version(), action="rollback", **recorded))
    target.set_latest(name, full_hash)  # after its history entry, as in push
    return full_hash


def _require_intact(target: Store, name: str, full_hash: str, doing: str) -> None:
    """Refuse to point a ref at a version whose blob is missing or damaged (checked, never unpickled)."""
    data = target.read_blob_if_present(name, full_hash)
    if data is None:
        raise VersionNotFoundError(f"{name}@{full_hash} is not in the store {target.url}; nothing was changed")
    where = target.blob_url(name, full_hash)
    try:
        decode_blob(data, expected_hash=full_hash, expected_name=name, source=where)
    except IntegrityError as exc:
        raise IntegrityError(
            f"refusing to {doing}, its blob is damaged: {exc}. Nothing was changed. "
            "Pushing that version of the class again repairs the blob (and makes it the latest)."
        ) from exc


def tag(name: str, hash_or_prefix: str, tag: str, store: Store | str | None = None, *, force: bool = False) -> str:
    """Point the tag ``tag`` of ``name`` at a version (full hash, 8+ hex digits, another tag or ``latest``:
    :meth:`Store.resolve_version`); return its full hash.

    ``labchain_remote.Name@tag`` then imports that version. Moving an existing tag to another version needs
    ``force=True``; tagging the version a tag already points at changes nothing. The version's blob must be
    intact (checked, never unpickled). The move is recorded in the history (action ``tag``), before the ref.
    Example: ``tag("MyFilter", "0123abcd", "prod")``, then ``import labchain_remote.MyFilter@prod``.
    """
    validate_name(name)  # before the store is even opened
    validate_version(hash_or_prefix)
    validate_tag(tag)
    target = resolve_store(store)
    full_hash = target.resolve_version(name, hash_or_prefix)
    try:
        current = target.tag_target(name, tag)
    except IntegrityError:
        if not force:
            raise
        current = None  # a damaged tag ref: --force is its repair (its message says so)
    if current == full_hash:
        return full_hash
    if current is not None and not force:
        raise TagExistsError(
            f"the tag {tag!r} of {name} already points at {current} in the store {target.url}; nothing was "
            f"changed. Move it with force=True (`remoteimport tag {name}@{full_hash[:12]} {tag} --force`)."
        )
    _require_intact(target, name, full_hash, f"tag {name}@{full_hash} as {tag!r}")
    target.append_history(
        Version(name, full_hash, time.time(), _python_version(), action="tag", tag=tag, by=pushed_by())
    )
    target.set_tag(name, tag, full_hash)  # after its history entry, as in push
    return full_hash


_tag_version = tag  # for promote, whose parameter `tag` hides the function


def untag(name: str, tag: str, store: Store | str | None = None) -> str:
    """Remove the tag ``tag`` of ``name`` (recorded in the history: action ``untag``); return the full hash it
    pointed at. The version itself stays. An absent tag raises :class:`TagNotFoundError`."""
    validate_name(name)
    validate_tag(tag)
    target = resolve_store(store)
    full_hash = target.resolve_tag(name, tag)
    target.append_history(
        Version(name, full_hash, time.time(), _python_version(), action="untag", tag=tag, by=pushed_by())
    )
    target.delete_tag(name, tag)
    return full_hash


def tags(name: str, store: Store | str | None = None) -> dict[str, str]:
    """``{tag: full hash}`` for every tag of ``name`` (one listing and one read per tag)."""
    validate_name(name)
    return resolve_store(store).tags(name)


def sign(
    name: str,
    hash_or_prefix: str | None = None,
    store: Store | str | None = None,
    *,
    key: str | os.PathLike[str] | SigningKey | None = None,
    include_unsigned: bool = False,
) -> dict[str, str]:
    """Sign stored versions of ``name`` (one — a hash, prefix, tag or ``latest`` — or all when ``hash_or_prefix``
    is None) with ``key`` (default:
    the store's signing key, ``$REMOTEIMPORT_SIGNING_KEY``) over their whole header; return ``{hash: outcome}``.

    Re-signs versions this key signed the old way (name, hash and payload only), and unsigned ones only with
    ``include_unsigned`` (you vouch for what someone wrote to the store). Each is first loaded and re-hashed on
    this host — so run it where that code may run, on the Python version it was pushed from — and the history
    records a ``sign``. Versions signed by another key, damaged or not loading are left as they are."""
    validate_name(name)
    if hash_or_prefix is not None:
        validate_version(hash_or_prefix)
    target = resolve_store(store)
    signing_key = signing_key_from(key) if key is not None else target.policy.signing_key
    if signing_key is None:
        raise PushError(f"no signing key: pass key=PATH or set {ENV_SIGNING_KEY} to the publisher's private key")
    hashes = [target.resolve_version(name, hash_or_prefix)] if hash_or_prefix is not None else target.blob_hashes(name)
    if not hashes:
        raise target.name_not_found(name)
    outcomes = {}
    for full_hash in hashes:
        outcomes[full_hash] = _sign_one(target, name, full_hash, signing_key, include_unsigned)
    return outcomes


def _sign_one(target: Store, name: str, full_hash: str, key: SigningKey, include_unsigned: bool) -> str:
    where = target.blob_url(name, full_hash)
    try:
        blob = target.read_verified_blob(name, full_hash)
    except (IntegrityError, IncompatibleBlobError) as exc:
        return f"left as it is: {exc}"
    state = signature_state(blob.header, key.public)
    if state == "valid":
        return "already signed by this key"
    if state == "invalid":
        signer = (blob.header.signature or {}).get("key", "?")
        return f"left as it is: signed by {signer}, not by this key ({key.public.fingerprint})"
    if state == "unsigned" and not include_unsigned:
        return "left as it is: unsigned (sign unsigned versions with include_unsigned / --include-unsigned)"
    try:
        if state == "unsigned":
            # Nobody vouched for these bytes: sign only what this host compared, code object by code object,
            # with the source the hash names (bytecode hashed as bytecode says nothing a reader can check).
            unchecked = unchecked_code(blob, where=where)
        else:
            class_from_blob(blob, where=where, signature_checked=False)
            unchecked = []
    except (RemoteImportError, ImportError) as exc:
        return f"left as it is: it does not load on this host ({type(exc).__name__}: {exc})"
    if unchecked:
        return (
            f"left as it is: {unchecked[0]}{f' (and {len(unchecked) - 1} more)' if len(unchecked) > 1 else ''}, "
            "so this host cannot vouch for it; push the class again from its source with the signing key"
        )
    signed = encode_blob(key.sign(blob.header), blob.payload)
    target.write_blob(name, full_hash, signed, known_absent=True)
    _keep_headers(target, {(name, full_hash): signed})
    target.append_history(Version(name, full_hash, time.time(), _python_version(), action="sign", by=pushed_by()))
    return f"signed by {key.public.fingerprint} (it was {'unsigned' if state == 'unsigned' else 'signed the old way'})"


# ---------------------------------------------------------------------------------------------------------
# Loading


def get_version(
    name: str, hash_or_prefix: str, store: Store | str | None = None, *, namespace: str = DEFAULT_NAMESPACE
) -> type:
    """The class ``name`` at the version ``hash_or_prefix`` (a full hash, 8 or more hex digits, a tag or
    ``latest``: :meth:`Store.resolve_version`)."""
    validate_name(name)  # before the store is even opened
    validate_version(hash_or_prefix)
    validate_namespace(namespace)
    target = resolve_store(store)
    return load_class(target, namespace, name, target.resolve_version(name, hash_or_prefix, namespace=namespace))


def _python_version() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


# ---------------------------------------------------------------------------------------------------------
# Promoting, deleting and collecting garbage


@dataclasses.dataclass(frozen=True)
class PromoteResult:
    """What :func:`promote` did in the target store: ``blob`` is ``"copied"`` (it was absent), ``"replaced"``
    (the target's copy was damaged) or ``"unchanged"`` (the target already held it intact); ``latest_moved`` and
    ``tag`` say which refs moved; ``detail`` explains."""

    name: str
    hash: str
    source: str
    target: str
    blob: Literal["copied", "replaced", "unchanged"]
    latest_moved: bool = False
    tag: str | None = None
    detail: str = ""

    @property
    def changed(self) -> bool:
        return self.blob != "unchanged" or self.latest_moved or self.tag is not None


def promote(
    name: str,
    hash_or_prefix: str,
    target: Store | str,
    *,
    source: Store | str | None = None,
    tag: str | None = None,
    make_latest: bool = False,
) -> PromoteResult:
    """Copy the version ``name@hash_or_prefix`` (a hash, prefix, tag or ``latest`` of ``source``) from ``source``
    (default: the default store) to ``target``, byte for byte, so its signature travels with it; then record a
    ``promote`` in the target's history.

    The blob is checked before anything is written (digest, name and hash; and the target's trust policy, so a
    target that trusts keys never receives a blob it would refuse), and read back from the target after the
    copy; nothing is unpickled. ``make_latest`` also points the target's ``latest`` at it, ``tag`` tags it
    there. A version the target already holds intact is not copied again (a no-op when no ref moves either).

    >>> staging, prod = Store("memory://promote-doc-a"), Store("memory://promote-doc-b")
    >>> full = push(Doubler, store=staging)  # doctest: +SKIP
    >>> promote("Doubler", full[:8], prod, source=staging, make_latest=True).blob  # doctest: +SKIP
    'copied'
    """
    validate_name(name)  # before any store is opened
    validate_version(hash_or_prefix)
    origin, destination = resolve_store(source), resolve_store(target)
    if origin.url == destination.url and origin.storage_options == destination.storage_options:
        raise RemoteImportError(f"cannot promote {name} from the store {origin.url} to itself: give another --to")
    full_hash = origin.resolve_version(name, hash_or_prefix)
    if tag is not None:
        _check_tag_is_free(destination, name, full_hash, tag)
    data = origin.read_blob(name, full_hash)
    try:
        blob = decode_blob(data, expected_hash=full_hash, expected_name=name, source=origin.blob_url(name, full_hash))
    except IntegrityError as exc:
        raise IntegrityError(
            f"refusing to promote {name}@{full_hash}: its blob in the store {origin.url} is damaged ({exc}). "
            "Nothing was written. Pushing that version of the class to the source again repairs it."
        ) from exc
    where = destination.blob_url(name, full_hash)
    # refuse before writing; nothing loads here
    destination.policy.trust.check(blob.header, where=where, local_store=True)
    state, detail = _target_copy_state(destination, name, full_hash, data)
    if state != "unchanged":
        destination.write_blob(name, full_hash, data, known_absent=True)
        _keep_headers(destination, {(name, full_hash): data})
        _verify_copy(destination, name, full_hash, data, remove_on_failure=state == "copied")
    move = make_latest and destination.latest(name) != full_hash
    tagged = tag is not None and destination.tags(name).get(tag) != full_hash
    if state != "unchanged" or move:
        destination.append_history(
            Version(
                name, full_hash, time.time(), _python_version(), action="promote", source=origin.url, by=pushed_by()
            )
        )
    if move:
        destination.set_latest(name, full_hash)  # after its history entry, as in push
    if tagged:
        _tag_version(name, full_hash, tag, store=destination)  # records its own `tag` history entry
    return PromoteResult(name, full_hash, origin.url, destination.url, state, move, tag if tagged else None, detail)


def _target_copy_state(
    destination: Store, name: str, full_hash: str, data: bytes
) -> tuple[Literal["copied", "replaced", "unchanged"], str]:
    existing = destination.read_blob_if_present(name, full_hash)
    if existing is None:
        return "copied", ""
    where = destination.blob_url(name, full_hash)
    try:
        existing_blob = decode_blob(existing, expected_hash=full_hash, expected_name=name, source=where)
    except IncompatibleBlobError:
        return "unchanged", "the target holds it in a newer blob format; left as it is"
    except IntegrityError as exc:
        return "replaced", f"the target's copy was damaged ({exc})"
    if existing != data:
        # Checked as a new copy would be: one the target's policy refuses (planted unsigned, another signer)
        # gives way to the copy that passed it; a `latest` moved onto a refused copy would fail every import.
        try:
            destination.policy.trust.check(existing_blob.header, where=where, local_store=True)
        except UntrustedBlobError as exc:
            return "replaced", f"the target's own copy was refused by its trust policy ({exc})"
        return "unchanged", "the target already holds it intact (its copy differs, e.g. signed otherwise; kept)"
    return "unchanged", "the target already holds it intact"


def _verify_copy(destination: Store, name: str, full_hash: str, data: bytes, *, remove_on_failure: bool) -> None:
    """Read the copy back and check it as a load would before unpickling (digest, name, hash, trust policy)."""
    where = destination.blob_url(name, full_hash)
    written = destination.read_blob_if_present(name, full_hash)
    try:
        if written != data:
            raise IntegrityError(f"{where} does not hold the bytes just written ({_size(written)} read back)")
        blob = decode_blob(written, expected_hash=full_hash, expected_name=name, source=where)
        destination.policy.trust.check(blob.header, where=where, local_store=True)
    except IntegrityError as exc:
        if remove_on_failure:
            destination.delete_blob(name, full_hash)  # no ref names it yet
        raise IntegrityError(
            f"the copy of {name}@{full_hash} in the store {destination.url} failed its check after writing: {exc}. "
            "No ref was moved; promote again."
        ) from exc


def _size(data: bytes | None) -> str:
    return "nothing" if data is None else f"{len(data)} bytes"


def _check_tag_is_free(destination: Store, name: str, full_hash: str, tag: str) -> None:
    """Refuse, before anything is written, a tag that already names another version in the target."""
    validate_tag(tag)
    current = destination.tags(name).get(tag)
    if current is not None and current != full_hash:
        raise RemoteImportError(
            f"the tag {tag!r} of {name} already points at {current} in the store {destination.url}; nothing was "
            f"written. Promote without --tag, then move the tag with `remoteimport tag {name}@{full_hash[:12]} "
            f"{tag} --force`."
        )


@dataclasses.dataclass(frozen=True)
class DeleteResult:
    """What :func:`delete` removed: the version's blob, and with ``force`` the refs that named it."""

    name: str
    hash: str
    store: str
    removed_latest: bool = False
    removed_tags: tuple[str, ...] = ()


def delete(name: str, hash_or_prefix: str, store: Store | str | None = None, *, force: bool = False) -> DeleteResult:
    """Delete the version ``name@hash_or_prefix`` (a hash, prefix, tag or ``latest``): its blob is removed, the
    history records a ``delete``.

    The version ``latest`` points at, or a tagged one, is refused (:class:`VersionInUseError`) unless
    ``force``: then ``latest`` is removed (it never points at a missing blob; ``rollback`` sets it again) and so
    are the tags. This host's blob cache forgets the version; other hosts' caches may still serve pinned
    imports of it."""
    validate_name(name)  # before the store is even opened
    validate_version(hash_or_prefix)
    target = resolve_store(store)
    full_hash = target.resolve_version(name, hash_or_prefix)
    if not target.has_blob(name, full_hash):
        raise VersionNotFoundError(f"{name}@{full_hash} is not in the store {target.url}; nothing was deleted")
    is_latest = target.latest(name) == full_hash
    tagged = tuple(sorted(tag for tag, tagged_hash in target.tags(name).items() if tagged_hash == full_hash))
    reasons = ["`latest` points at it"] if is_latest else []
    reasons += [f"it is tagged {', '.join(tagged)}"] if tagged else []
    if reasons and not force:
        first = (["point latest elsewhere (`remoteimport rollback`)"] if is_latest else []) + (
            [f"remove the tag{'s' if len(tagged) > 1 else ''} (`remoteimport untag {name} TAG`)"] if tagged else []
        )
        raise VersionInUseError(
            f"refusing to delete {name}@{full_hash} from the store {target.url}: {' and '.join(reasons)}. Nothing was "
            f"deleted. First {' and '.join(first)}, or pass --force (force=True) to delete it and remove those refs."
        )
    target.append_history(Version(name, full_hash, time.time(), _python_version(), action="delete", by=pushed_by()))
    if is_latest:
        target.delete_latest(name)  # before the blob: latest never points at a missing blob
    for tag in tagged:
        untagger = globals().get("untag")
        if callable(untagger):
            untagger(name, tag, store=target)
        else:
            target.delete_tag(name, tag)
    target.delete_blob(name, full_hash)
    cache = target.policy.cache
    if cache is not None:
        cache.discard(name, full_hash)
    return DeleteResult(name, full_hash, target.url, is_latest, tagged)


@dataclasses.dataclass(frozen=True)
class GarbageItem:
    """One thing :func:`gc` found: a ``temporary`` file of a crashed write, or an ``unreferenced`` blob (no
    ``latest``, tag or history entry names it); ``removed`` once gone; ``kept`` with the reason when it is left."""

    kind: Literal["temporary", "unreferenced"]
    path: str
    size: int | None = None
    age: float | None = None  # seconds since it was last written, when the backend says
    name: str | None = None
    hash: str | None = None
    kept: str | None = None  # why it was left (too recent, age unknown), None for a removable item
    removed: bool = False


def gc(
    store: Store | str | None = None, *, dry_run: bool = True, min_age: float = STALE_TEMPORARY_AGE
) -> list[GarbageItem]:
    """Find what nothing needs in a store: temporary files of crashed local writes, and blobs no ``latest``, tag
    or history entry names (e.g. written by a push that failed before its history entry). Only items older than
    ``min_age`` seconds (an hour) are removable: a younger one may belong to a push in progress. Removes them
    only when ``dry_run`` is False. A name whose refs cannot be read (a damaged ref) is left alone.

    >>> gc(Store("memory://gc-doc"))
    []
    """
    target = resolve_store(store)
    now = time.time()
    found: list[GarbageItem] = []
    for path, size, modified in target.temporary_files():
        age = now - modified
        kept = None if age >= min_age else f"younger than {min_age:g} s: may be a write in progress"
        found.append(GarbageItem("temporary", path, size, age, kept=kept))
    for name in sorted(set(target.blob_names()) | set(target.names())):
        for full_hash in _unreferenced_hashes(target, name):
            modified = target.blob_modified(name, full_hash)
            age = None if modified is None else now - modified
            kept = None
            if age is None:
                kept = "its age is unknown: may belong to a push in progress"
            elif age < min_age:
                kept = f"younger than {min_age:g} s: may belong to a push in progress"
            found.append(
                GarbageItem("unreferenced", target.blob_path(name, full_hash), None, age, name, full_hash, kept)
            )
    if dry_run:
        return found
    outcome = []
    for item in found:
        if item.kept is None and item.kind == "temporary":
            target.remove_temporary_file(item.path)
            item = dataclasses.replace(item, removed=True)
        elif item.kept is None and item.name is not None and item.hash is not None:
            # Looked up again just before: a ref written since the listing keeps its blob, and so does a write
            # since (a push reviving it writes it again before its refs: registry._revive).
            if item.hash not in _unreferenced_hashes(target, item.name):
                item = dataclasses.replace(item, kept="a ref names it now")
            elif _written_since(target, item.name, item.hash, now - min_age):
                item = dataclasses.replace(item, kept="written again since it was listed: a push may be reviving it")
            else:
                target.delete_blob(item.name, item.hash)
                item = dataclasses.replace(item, removed=True)
        outcome.append(item)
    return outcome


def _written_since(target: Store, name: str, full_hash: str, moment: float) -> bool:
    """Whether the blob was written after ``moment`` (or is gone, or its age is unknown now)."""
    try:
        modified = target.blob_modified(name, full_hash)
    except (OSError, RemoteImportError):
        return True
    return modified is None or modified > moment


def _unreferenced_hashes(target: Store, name: str) -> list[str]:
    """Blobs of ``name`` that no ref or history entry names ([] when a ref cannot be read: keep everything)."""
    try:
        referenced = target.named_hashes(name)
    except IntegrityError as exc:
        _LOG.warning("gc: leaving %s alone in %s: %s", name, target.url, exc)
        return []
    return [full_hash for full_hash in target.blob_hashes(name) if full_hash not in referenced]
