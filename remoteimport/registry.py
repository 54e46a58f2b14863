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

import sys
import time
import weakref
from collections.abc import Callable
from typing import Literal, TypeVar, overload

from remoteimport.blob import decode_blob, encode_blob, make_header
from remoteimport.capture import capture_class
from remoteimport.errors import IncompatibleBlobError, IntegrityError, VersionNotFoundError
from remoteimport.hashing import class_hash
from remoteimport.loader import load_class
from remoteimport.names import validate_hash, validate_name, validate_namespace
from remoteimport.store import Store, Version

__all__ = ["persist", "push", "push_all", "status", "versions", "get_version", "rollback", "DEFAULT_NAMESPACE"]

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


def push(cls: type, store: Store | str | None = None, name: str | None = None) -> str:
    """Upload ``cls`` (if this version is not stored intact yet) and make it ``latest``; return its full hash.

    On an object store a new version costs 4 requests (read the blob: absent; write it; move ``latest``;
    add a history entry) and an unchanged one 2 (read the blob; read ``latest``)."""
    stored_name, target = push_target(cls, name, store)
    full_hash = class_hash(cls)
    if _is_intact(target.read_blob_if_present(stored_name, full_hash), stored_name, full_hash):
        moved = target.latest(stored_name) != full_hash
    else:
        # Absent (so no ref can point at it yet), or left damaged by a push that failed part-way: write it whole.
        target.write_blob(stored_name, full_hash, _blob_bytes(cls, stored_name, full_hash, target), known_absent=True)
        moved = True
    if moved:
        # The history entry before the pointer: a push that fails in between is completed by pushing again
        # (its entry may then appear twice). The other way round, `latest` would have moved with no entry,
        # and pushing again would find nothing to do.
        target.append_history(Version(stored_name, full_hash, time.time(), _python_version()))
        target.set_latest(stored_name, full_hash)
    return full_hash


def push_all(store: Store | str | None = None) -> dict[str, str]:
    """Push every ``@persist``-ed class of this process; return ``{name: full hash}``.

    The steps of :func:`push`, each one batch per store, concurrent on object stores (fsspec's async calls):
    read every blob, write the missing ones, read ``latest`` where the blob was there, add the history
    entries, move the pointers (only once every blob is complete)."""
    batches: dict[Store, list[tuple[str, type, str]]] = {}
    for key, cls in sorted(_PERSISTED.items()):
        stored_name, target = push_target(cls, key, store)
        batches.setdefault(target, []).append((stored_name, cls, class_hash(cls)))
    pushed: dict[str, str] = {}
    for target, items in batches.items():
        stored = target.read_blobs_if_present([(name, full_hash) for name, _, full_hash in items])
        missing = {
            (name, full_hash): _blob_bytes(cls, name, full_hash, target)
            for name, cls, full_hash in items
            if not _is_intact(stored[(name, full_hash)], name, full_hash)
        }
        target.write_blobs(missing)
        latest = target.latest_many([name for name, _, full_hash in items if (name, full_hash) not in missing])
        moved = {name: full_hash for name, _, full_hash in items if latest.get(name, "") != full_hash}
        now = time.time()
        target.append_history_many(
            [Version(name, full_hash, now, _python_version()) for name, full_hash in moved.items()]
        )
        target.set_latest_many(moved)
        pushed.update({name: full_hash for name, _, full_hash in items})
    return dict(sorted(pushed.items()))


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


def _is_intact(data: bytes | None, name: str, full_hash: str) -> bool:
    """True when ``data`` is a complete blob of ``name@full_hash`` (one from a newer format counts: it is
    not ours to replace). A truncated or damaged blob is not: the push writes it again."""
    if data is None:
        return False
    try:
        decode_blob(data, expected_hash=full_hash, expected_name=name)
    except IncompatibleBlobError:
        return True
    except IntegrityError:
        return False
    return True


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
    """Point ``latest`` back at an earlier version (recorded in the history); return its full hash."""
    validate_name(name)  # before the store is even opened
    validate_hash(hash_or_prefix)
    target = resolve_store(store)
    full_hash = target.resolve(name, hash_or_prefix)
    if not target.has_blob(name, full_hash):
        raise VersionNotFoundError(f"{name}@{full_hash} is not in the store {target.url}; nothing was changed")
    target.append_history(Version(name, full_hash, time.time(), _python_version(), action="rollback"))
    target.set_latest(name, full_hash)  # after its history entry, as in push
    return full_hash


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
