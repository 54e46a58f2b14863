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
from collections.abc import Callable
from typing import Literal, TypeVar, overload

from remoteimport.blob import decode_blob, encode_blob, make_header
from remoteimport.capture import capture_class
from remoteimport.errors import (
    IncompatibleBlobError,
    IntegrityError,
    PushError,
    RemoteImportError,
    VersionNotFoundError,
)
from remoteimport.hashing import class_hash
from remoteimport.loader import class_from_blob, load_class, stored_blob_problem
from remoteimport.names import validate_hash, validate_name, validate_namespace
from remoteimport.signing import ENV_SIGNING_KEY, SigningKey, signature_state, signing_key_from
from remoteimport.store import Store, Version

__all__ = [
    "persist",
    "push",
    "publish",
    "PushResult",
    "push_all",
    "status",
    "versions",
    "get_version",
    "rollback",
    "sign",
    "DEFAULT_NAMESPACE",
]

DEFAULT_NAMESPACE = "labchain_remote"
Status = Literal["synced", "out_of_sync", "untracked"]
C = TypeVar("C", bound=type)

# name -> class for every @persist-ed class in this process (the newest definition wins)
_PERSISTED: dict[str, type] = {}
# class -> (name, store) options given to @persist
_OPTIONS: weakref.WeakKeyDictionary[type, tuple[str, Store | str | None]] = weakref.WeakKeyDictionary()


def resolve_store(store: Store | str | None) -> Store:
    """A :class:`Store` from a Store, a URL/path, or None (the default store)."""
    if isinstance(store, Store):
        return store
    if store is None:
        return Store.default()
    return Store(store)


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
    action: Literal["new", "unchanged", "moved", "repaired", "signed"]
    detail: str = ""


def push(cls: type, store: Store | str | None = None, name: str | None = None) -> str:
    """Upload ``cls`` (if this version is not stored intact yet) and make it ``latest``; return its full hash.

    :func:`publish` does the same and also says what it did. On an object store a new version costs 4
    requests (read the blob: absent; write it; add a history entry; move ``latest``) and an unchanged one 2
    (read the blob; read ``latest``)."""
    return publish(cls, store, name).hash


def publish(cls: type, store: Store | str | None = None, name: str | None = None) -> PushResult:
    """:func:`push`, returning a :class:`PushResult`.

    A stored blob of this version that is damaged, or that does not load and re-hash on this host (e.g.
    written by a release with a loader bug), is replaced by a freshly made blob that does — verified before it
    is written — and the history records a ``repair``. With a signing key, a stored version that is unsigned
    (or signed the old way by this key) is replaced by a signed blob and the history records a ``sign``. A
    stored blob this host's trust policy refuses, or that another key signed, is never unpickled here, nor
    replaced."""
    stored_name, target = push_target(cls, name, store)
    full_hash = class_hash(cls)
    state = _stored_state(target.read_blob_if_present(stored_name, full_hash), target, stored_name, full_hash)
    if state.kind == "ok":
        action = "unchanged" if target.latest(stored_name) == full_hash else "moved"
        move = action == "moved"
    else:
        data = _replacement(cls, target, stored_name, full_hash, state)
        target.write_blob(stored_name, full_hash, data, known_absent=True)  # absent, or to be replaced
        action = _ACTIONS[state.kind]
        # A new version's `latest` must move (no ref can point at it yet); otherwise only if it points elsewhere.
        move = action == "new" or target.latest(stored_name) != full_hash
    if action != "unchanged":
        # The history entry before the pointer: a push that fails in between is completed by pushing again
        # (its entry may then appear twice). The other way round, `latest` would have moved with no entry,
        # and pushing again would find nothing to do.
        entry = Version(stored_name, full_hash, time.time(), _python_version(), action=_HISTORY[state.kind])
        target.append_history(entry)
        if move:
            target.set_latest(stored_name, full_hash)
    return PushResult(stored_name, full_hash, target.url, action, state.detail)


def push_all(store: Store | str | None = None) -> dict[str, str]:
    """Push every ``@persist``-ed class of this process; return ``{name: full hash}``.

    The steps of :func:`push`, each one batch per store, concurrent on object stores (fsspec's async calls):
    read every blob, write the missing ones (and replace any that :func:`publish` would replace), read
    ``latest`` where the blob was there, add the history entries, move the pointers (only once every blob is
    complete)."""
    batches: dict[Store, list[tuple[str, type, str]]] = {}
    for key, cls in sorted(_PERSISTED.items()):
        stored_name, target = push_target(cls, key, store)
        batches.setdefault(target, []).append((stored_name, cls, class_hash(cls)))
    pushed: dict[str, str] = {}
    for target, items in batches.items():
        stored = target.read_blobs_if_present([(name, full_hash) for name, _, full_hash in items])
        states = {
            (name, full_hash): _stored_state(stored[(name, full_hash)], target, name, full_hash)
            for name, _, full_hash in items
        }
        written = {
            (name, full_hash): _replacement(cls, target, name, full_hash, states[(name, full_hash)])
            for name, cls, full_hash in items
            if states[(name, full_hash)].kind != "ok"
        }
        target.write_blobs(written)
        latest = target.latest_many([name for name, _, full_hash in items if (name, full_hash) not in written])
        moved = {name: full_hash for name, _, full_hash in items if latest.get(name, "") != full_hash}
        now = time.time()
        target.append_history_many(
            [
                Version(name, full_hash, now, _python_version(), action=_HISTORY[states[(name, full_hash)].kind])
                for name, full_hash in moved.items()
            ]
        )
        target.set_latest_many(moved)
        pushed.update({name: full_hash for name, _, full_hash in items})
    return dict(sorted(pushed.items()))


@dataclasses.dataclass(frozen=True)
class _StoredState:
    """What a push must do about the stored blob of a version: ``ok`` (nothing), ``absent``, ``damaged``,
    ``broken`` (intact but does not load here) or ``unsigned`` (to be signed with the push's key)."""

    kind: Literal["ok", "absent", "damaged", "broken", "unsigned"]
    detail: str = ""


_ACTIONS = {"absent": "new", "damaged": "repaired", "broken": "repaired", "unsigned": "signed"}
_HISTORY = {"ok": "push", "absent": "push", "damaged": "repair", "broken": "repair", "unsigned": "sign"}
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
    if target.signing_key is not None:
        state = signature_state(blob.header, target.signing_key.public)
        if state in ("unsigned", "legacy"):
            what = "unsigned" if state == "unsigned" else "signed the old way (name, hash and payload only)"
            return _StoredState(
                "unsigned", f"the stored copy was {what}; now signed by {target.signing_key.public.fingerprint}"
            )
        if state == "invalid":
            return _StoredState("ok", "signed by another key; left as it is")
    return _StoredState("ok")


def _replacement(cls: type, target: Store, name: str, full_hash: str, state: _StoredState) -> bytes:
    """A fresh blob of ``cls`` for a version whose stored blob is ``state``. A replacement must load: one blob
    that does not load is never swapped for another."""
    data = _blob_bytes(cls, name, full_hash, target)
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


def _blob_bytes(cls: type, name: str, full_hash: str, target: Store) -> bytes:
    """The encoded (and, with a signing key, signed) blob of ``cls``."""
    captured = capture_class(cls, path=cls.__qualname__)
    header = make_header(
        name,
        full_hash,
        captured.payload,
        requirements=captured.requirements,
        source=captured.source,
        qualname=cls.__qualname__,
        module=cls.__module__,
    )
    if target.signing_key is not None:
        header = target.signing_key.sign(header)
    return encode_blob(header, captured.payload)


def status(cls: type, store: Store | str | None = None, name: str | None = None) -> Status:
    """``"synced"`` when the store's latest is this exact code, ``"out_of_sync"`` when it differs,
    ``"untracked"`` when the name was never pushed."""
    stored_name, target = push_target(cls, name, store)
    latest = target.latest(stored_name)
    if latest is None:
        return "untracked"
    return "synced" if latest == class_hash(cls) else "out_of_sync"


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


def rollback(name: str, hash_or_prefix: str, store: Store | str | None = None) -> str:
    """Point ``latest`` back at an earlier version (recorded in the history); return its full hash.

    The version's blob must be intact (format, digest, name and hash checked; nothing is unpickled): a damaged
    one raises :class:`IntegrityError` and nothing is changed."""
    validate_name(name)  # before the store is even opened
    validate_hash(hash_or_prefix)
    target = resolve_store(store)
    full_hash = target.resolve(name, hash_or_prefix)
    data = target.read_blob_if_present(name, full_hash)
    if data is None:
        raise VersionNotFoundError(f"{name}@{full_hash} is not in the store {target.url}; nothing was changed")
    where = target.blob_url(name, full_hash)
    try:
        decode_blob(data, expected_hash=full_hash, expected_name=name, source=where)
    except IntegrityError as exc:
        raise IntegrityError(
            f"refusing to roll {name} back to {full_hash}, its blob is damaged: {exc}. Nothing was changed. "
            "Pushing that version of the class again repairs the blob (and makes it the latest)."
        ) from exc
    target.append_history(Version(name, full_hash, time.time(), _python_version(), action="rollback"))
    target.set_latest(name, full_hash)  # after its history entry, as in push
    return full_hash


def sign(
    name: str,
    hash_or_prefix: str | None = None,
    store: Store | str | None = None,
    *,
    key: str | os.PathLike[str] | SigningKey | None = None,
    include_unsigned: bool = False,
) -> dict[str, str]:
    """Sign stored versions of ``name`` (one, or all when ``hash_or_prefix`` is None) with ``key`` (default:
    the store's signing key, ``$REMOTEIMPORT_SIGNING_KEY``) over their whole header; return ``{hash: outcome}``.

    Re-signs versions this key signed the old way (name, hash and payload only), and unsigned ones only with
    ``include_unsigned`` (you vouch for what someone wrote to the store). Each is first loaded and re-hashed on
    this host — so run it where that code may run, on the Python version it was pushed from — and the history
    records a ``sign``. Versions signed by another key, damaged or not loading are left as they are."""
    validate_name(name)
    if hash_or_prefix is not None:
        validate_hash(hash_or_prefix)
    target = resolve_store(store)
    signing_key = signing_key_from(key) if key is not None else target.signing_key
    if signing_key is None:
        raise PushError(f"no signing key: pass key=PATH or set {ENV_SIGNING_KEY} to the publisher's private key")
    hashes = [target.resolve(name, hash_or_prefix)] if hash_or_prefix is not None else target.blob_hashes(name)
    if not hashes:
        raise target.name_not_found(name)
    outcomes = {}
    for full_hash in hashes:
        outcomes[full_hash] = _sign_one(target, name, full_hash, signing_key, include_unsigned)
    return outcomes


def _sign_one(target: Store, name: str, full_hash: str, key: SigningKey, include_unsigned: bool) -> str:
    where = target.blob_url(name, full_hash)
    try:
        blob = decode_blob(target.read_blob(name, full_hash), expected_hash=full_hash, expected_name=name, source=where)
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
        class_from_blob(blob, where=where, signature_checked=False)
    except (RemoteImportError, ImportError) as exc:
        return f"left as it is: it does not load on this host ({type(exc).__name__}: {exc})"
    target.write_blob(name, full_hash, encode_blob(key.sign(blob.header), blob.payload), known_absent=True)
    target.append_history(Version(name, full_hash, time.time(), _python_version(), action="sign"))
    return f"signed by {key.public.fingerprint} (it was {'unsigned' if state == 'unsigned' else 'signed the old way'})"


# ---------------------------------------------------------------------------------------------------------
# Loading


def get_version(
    name: str, hash_or_prefix: str, store: Store | str | None = None, *, namespace: str = DEFAULT_NAMESPACE
) -> type:
    """The class ``name`` at exactly the version ``hash_or_prefix`` (8 or more hex digits)."""
    validate_name(name)  # before the store is even opened
    validate_hash(hash_or_prefix)
    validate_namespace(namespace)
    target = resolve_store(store)
    return load_class(target, namespace, name, target.resolve(name, hash_or_prefix, namespace=namespace))


def _python_version() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"
