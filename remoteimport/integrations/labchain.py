"""LabChain on remoteimport: its Remote Injection API, run through a remoteimport store (docs/labchain.md).

LabChain (PyPI ``framework3``, import ``labchain``) users change one line, their storage line::

    import remoteimport.integrations.labchain as ri_labchain
    ri_labchain.enable("s3://bucket/classes", trusted_keys=["publisher.pub"], signing_key="publisher.key")

and the rest runs as before, on the host with the source and on hosts without it: ``@Container.bind(persist=True)``
and ``Container.ppif.push_all()`` push through remoteimport (its hash, history, signatures, tags);
``Container.pcm.get_class_hash(X)``, ``check_status(X)`` and ``_get_remote_latest_meta(name)`` answer from the
store; ``Container.ppif.get_version(name, hash, prefix or tag)`` and ``BasePlugin.build_from_dump(config,
Container.ppif)`` load through remoteimport, under the store's trust policy, the very class
``labchain_remote.Name@hash`` imports.

It plugs in where LabChain lets it: :class:`RemoteClassManager` (a ``PetClassManager``) becomes ``Container.pcm``
and the persistent factory's manager. What LabChain gives no hook for is replaced in one module,
:mod:`remoteimport.integrations._labchain_internals`, checked against the framework3 versions it names.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Iterable
from typing import Any

from labchain import Container
from labchain.base import BasePlugin
from labchain.container.persistent.pet_class_manager import PetClassManager

from remoteimport.errors import PushError
from remoteimport.hashing import class_hash, register
from remoteimport.integrations import _labchain_internals as internals
from remoteimport.names import LATEST

__all__ = ["RemoteClassManager", "VersionHash", "enable", "version_hash"]

_LOG = logging.getLogger("remoteimport")


class VersionHash(str):
    """The version hash LabChain keeps on a persisted class, ``cls._hash``: its remoteimport content hash.

    LabChain writes it into the class when binding it, so it is part of the class from then on; being derived
    from the class, what it holds is no part of the class's identity: the hasher encodes every ``VersionHash``
    alike (registered below), and the class hashes the same before and after its hash is written into it, here
    and on every host that loads it. Its name is part of the blob format (stored classes carry instances)."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        return (VersionHash, (str(self),))


register(VersionHash, lambda _: "labchain version hash")

# Enum and dataclass classes whose members item_dump wrote in this process: (name, content hash) -> class
_VALUE_CLASSES: dict[tuple[str, str], type] = {}
_CLASS_HASHES: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()
_ENABLE_LOCK = threading.Lock()


def version_hash(cls: type) -> VersionHash:
    """The remoteimport hash of a LabChain plugin class, as its ``_hash`` holds it from now on."""
    if not (isinstance(cls, type) and issubclass(cls, BasePlugin)):
        return VersionHash(class_hash(cls))
    current = vars(cls).get("_hash")
    if not isinstance(current, VersionHash):
        if "_original_init_stored" in vars(cls):
            raise PushError(
                f"{cls.__qualname__} was instantiated before remoteimport.integrations.labchain.enable(): LabChain's "
                "BasePlugin.__new__ has rewritten its methods (typeguard), so this process no longer holds the code "
                "of its source. Call enable() before creating instances (right after your imports), and run again."
            )
        cls._hash = VersionHash("")  # the slot LabChain fills when binding: in the class before it is hashed
    full = VersionHash(class_hash(cls))
    if vars(cls)["_hash"] != full:
        cls._hash = full
    return full


class RemoteClassManager(PetClassManager):
    """LabChain's class manager, answering from a remoteimport store (``Container.pcm`` once enabled).

    Every class is stored under its ``__name__``, as LabChain names it; versions are remoteimport content hashes
    (:func:`remoteimport.class_hash`). ``store`` is a :class:`remoteimport.Store` (its trust policy and signing
    key apply); ``namespace`` the one ``labchain_remote.Name@hash`` imports come from."""

    def __init__(self, store: Any, namespace: str) -> None:
        super().__init__(Container.storage)  # LabChain's storage keeps serving what else uses it (cached data)
        self.store = store
        self.namespace = namespace

    def __repr__(self) -> str:
        return f"RemoteClassManager({self.store.url!r}, namespace={self.namespace!r})"

    def get_class_hash(self, class_obj: type) -> VersionHash:  # type: ignore[override]
        """The class's remoteimport content hash (what ``push`` stores it under)."""
        return version_hash(class_obj)

    def check_status(self, class_obj: type) -> str:
        """``"synced"``, ``"out_of_sync"`` or ``"untracked"``: this code against the store's latest of its name."""
        from remoteimport.registry import status

        version_hash(class_obj)
        return status(class_obj, store=self.store, name=class_obj.__name__)

    def _get_remote_latest_meta(self, class_name: str) -> dict[str, str] | None:
        """``{"hash": <latest full hash>, "class_name": name}``, or None when the store has no such name."""
        from remoteimport.errors import InvalidNameError

        try:
            latest = self.store.latest(class_name)
        except InvalidNameError:
            return None  # not a name a class can be stored under (LabChain's own plugins are asked for too)
        return None if latest is None else {"hash": latest, "class_name": class_name}

    def persist_class(self, class_obj: type) -> str:
        """Store this version (signed with the store's key) without moving ``latest``; return its hash."""
        from remoteimport.registry import promote, push
        from remoteimport.store import Store

        name, full = class_obj.__name__, version_hash(class_obj)
        if self.store.has_blob(name, full):
            return full
        # A push moves `latest`; promote copies a version byte for byte and moves no ref unless asked.
        staging = Store(f"memory://remoteimport-labchain/{uuid.uuid4().hex}", signing_key=self.store.policy.signing_key)
        try:
            push(class_obj, store=staging, name=name)
            promote(name, full, self.store, source=staging)
        finally:
            staging.fs.rm(staging.root, recursive=True)
        return full

    def push(self, class_obj: type) -> None:
        """Push the class (if this version is not stored intact yet) and make it the store's latest."""
        from remoteimport.registry import publish

        version_hash(class_obj)
        result = publish(class_obj, store=self.store, name=class_obj.__name__)
        _LOG.info("LabChain push %s@%s to %s: %s", result.name, result.hash[:12], result.store, result.action)

    def pull(self, class_name: str, code_hash: str | None = None) -> type:
        """The class at ``code_hash`` (a full hash, a prefix of 8+ hex digits or a tag; None: the latest), loaded
        through remoteimport under the store's trust policy and the namespace's."""
        from remoteimport.registry import get_version

        # An Enum or dataclass of an item_dump config: a class a loaded version brought, or dumped here (no I/O)
        known = _known_value_class(class_name, code_hash, self.namespace)
        if known is not None:
            return known
        return get_version(class_name, code_hash or LATEST, store=self.store, namespace=self.namespace)

    def recover_class(self, class_name: str, code_hash: str) -> type:
        """:meth:`pull` of exactly ``code_hash``."""
        return self.pull(class_name, code_hash)


# ---------------------------------------------------------------------------------------------------------
# Enum and dataclass parameters in item_dump configs


def _value_class_hash(cls: type) -> str:
    found = _CLASS_HASHES.get(cls)
    if found is None:
        found = _CLASS_HASHES[cls] = class_hash(cls)
        _VALUE_CLASSES[(cls.__name__, found)] = cls
    return found


def _is_value_class(cls: type) -> bool:
    """An Enum or dataclass of the user's own code, or one a loaded version brought (what travels by value)."""
    if not (issubclass(cls, enum.Enum) or dataclasses.is_dataclass(cls)):
        return False
    return internals.content_hashed(cls)


def encode_values(value: Any) -> Any:
    """``value`` with every Enum member and dataclass instance of the user's code (in lists, tuples and dicts)
    made a nested config that ``BasePlugin.build_from_dump`` constructs again: ``{"clazz": "Mode", "version_hash":
    <its content hash>, "params": {"value": ...}}``, or the dataclass's ``__init__`` fields as ``params``."""
    kind = type(value)
    if kind is dict:
        return {key: encode_values(item) for key, item in value.items()}
    if kind in (list, tuple):
        return [encode_values(item) for item in value]
    if isinstance(value, BasePlugin) or isinstance(value, type):
        return value  # LabChain's own encoders
    if isinstance(value, enum.Enum) and _is_value_class(kind):
        return {"clazz": kind.__name__, "version_hash": _value_class_hash(kind), "params": {"value": value.value}}
    if dataclasses.is_dataclass(value) and _is_value_class(kind):
        fields = [field.name for field in dataclasses.fields(value) if field.init]
        params = {name: encode_values(getattr(value, name)) for name in fields}
        return {"clazz": kind.__name__, "version_hash": _value_class_hash(kind), "params": params}
    return value


def _known_value_class(name: str, code_hash: str | None, namespace: str) -> type | None:
    """An Enum or dataclass named ``name`` with content hash ``code_hash`` (or a prefix of it) that this process
    knows: written by item_dump here, or brought by a version loaded from the store (checked by the loader)."""
    from remoteimport.names import MIN_PREFIX, is_hash_like

    if not (is_hash_like(code_hash) and len(code_hash) >= MIN_PREFIX):  # type: ignore[arg-type]
        return None  # a tag, or too short a prefix to mean one class
    code_hash = code_hash.lower()  # type: ignore[union-attr]
    for (known_name, full), cls in list(_VALUE_CLASSES.items()):
        if known_name == name and full.startswith(code_hash):
            return cls
    from remoteimport import graphs

    for graph in graphs.registered(namespace):
        for cls in graph.classes:
            if cls.__name__ == name and _is_value_class(cls) and _value_class_hash(cls).startswith(code_hash):
                return cls
    return None


# ---------------------------------------------------------------------------------------------------------
# Enabling


def enable(
    store: Any,
    *,
    trusted_keys: Iterable[str | os.PathLike[str] | Any] | None = None,
    signing_key: str | os.PathLike[str] | Any | None = None,
    namespace: str | None = None,
    **storage_options: Any,
) -> RemoteClassManager:
    """Run LabChain's persistent classes through the remoteimport store ``store``; return the manager.

    ``store``: a URL (``s3://bucket/classes``), a local path or a :class:`remoteimport.Store`; other keyword
    arguments are its fsspec storage options. ``trusted_keys``: ``.pub`` files; when given, only versions signed
    by one of them load (docs/security.md). ``signing_key``: the private key pushes sign with. ``namespace``:
    where ``Name@hash`` imports come from (default ``$REMOTEIMPORT_NAMESPACE``, else ``labchain_remote``).

    Call it where the storage line was, before instances are created; classes bound before are taken over.
    Calling it again switches stores (staging, then production). It serves the namespace from the store
    (:func:`remoteimport.install`), so ``labchain_remote.Name@hash`` imports the class the factory gives."""
    from remoteimport import hook
    from remoteimport._env import namespace as default_namespace
    from remoteimport.names import validate_namespace
    from remoteimport.store import Store

    chosen = validate_namespace(namespace if namespace is not None else default_namespace())
    if isinstance(store, Store):
        if signing_key is not None or storage_options:
            raise TypeError("enable(Store(...)) takes the store's options from the Store: give signing_key there")
        resolved = store.with_trust(trusted_keys) if trusted_keys is not None else store
    else:
        resolved = Store(os.fspath(store), trusted_keys=trusted_keys, signing_key=signing_key, **storage_options)
    with _ENABLE_LOCK:
        internals.install(encode_values)
        hook.install(resolved, chosen)
        installed = RemoteClassManager(resolved, chosen)
        Container.pcm = installed
        internals.set_factory_manager(Container.ppif, installed)
        for name, cls in list(Container.ppif):  # bound before: now hashed (and pushed) the remoteimport way
            internals.record_factory_version(Container.ppif, name, version_hash(cls))
    return installed


# Importing this module is what runs LabChain through remoteimport in a process: a host that calls enable(), and
# any process that loads a stored LabChain class (its `_hash` is a VersionHash, so unpickling it imports this
# module), including worker processes and hosts served by $REMOTEIMPORT_STORE alone. There, LabChain's
# BasePlugin.__new__ would rewrite the loaded class from its module's source, which does not exist: instantiation
# would fail. enable() adds the managers.
internals.check_internals()
internals.install(encode_values)
