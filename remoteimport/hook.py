"""The ``sys.meta_path`` finder and loaders that turn imports into store look-ups.

After ``install(store, namespace="labchain_remote")``:

- ``import labchain_remote`` gives a package whose attributes are the store's classes at ``latest``
  (``from labchain_remote import MyFilter``; ``dir(labchain_remote)`` lists the names);
- ``importlib.import_module("labchain_remote.MyFilter@0123abcd")`` gives the module of exactly that version
  (its attribute ``MyFilter`` is the class). A prefix (8+ hex digits) and the full hash give the same module;
  so does a tag (``labchain_remote.MyFilter@prod``), resolved to its full hash once per process (a tag moved
  later is seen by new processes, as for any module already imported).

The finder only parses names (refusing malformed ones before any storage access) and returns specs; the
loaders ask :mod:`remoteimport.loader` for verified classes.

    >>> import remoteimport
    >>> finder = remoteimport.install("memory://hook-doc", namespace="hook_doc_remote")
    >>> import hook_doc_remote
    >>> dir(hook_doc_remote)
    []
    >>> remoteimport.uninstall("hook_doc_remote")
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from _thread import _local as _thread_local
from _thread import allocate_lock
from importlib.machinery import ModuleSpec
from types import ModuleType

from remoteimport import _env, _metrics, loader, served
from remoteimport.errors import NameNotFoundError
from remoteimport.lock import Lock, check_store, resolve_lock
from remoteimport.names import (
    format_reference,
    member_module_name,
    split_member_module,
    split_versioned,
    validate_name,
    validate_namespace,
)
from remoteimport.store import Store, resolve_store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

__all__ = ["RemoteFinder", "install", "uninstall", "installed"]

_FINDERS: dict[str, RemoteFinder] = {}
_INSTALL_LOCK = allocate_lock()


class RemoteFinder:  # a sys.meta_path finder (importlib.abc costs ~10 ms of imports)
    """Finds ``<namespace>`` and ``<namespace>.<Name>@<hash>`` for one store."""

    def __init__(self, store: Store, namespace: str, lock: Lock | None = None) -> None:
        self.store = store
        self.namespace = validate_namespace(namespace)
        self.lock = lock  # when set, `from namespace import Name` gives the lock's pin instead of latest

    def __repr__(self) -> str:
        return f"RemoteFinder({self.namespace!r} -> {self.store.url!r})"

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if fullname == self.namespace:
            return ModuleSpec(fullname, _NamespaceLoader(self), is_package=True)
        if not fullname.startswith(self.namespace + "."):
            return None
        versioned, member = split_member_module(fullname[len(self.namespace) + 1 :])  # raises on malformed names
        name, version = split_versioned(versioned)
        if member is not None and version is not None:
            return ModuleSpec(fullname, _MemberLoader(self, name, version, member))
        if version is None:
            # Reached by `import ns.Name`, and by `from ns import Name` once the namespace's __getattr__ found no
            # such class: then the store's message (which store, which close names) is what the user needs. It
            # carries no module name, or the import system would swallow it and say only "cannot import name".
            try:
                self.latest_class(name)
            except NameNotFoundError as missing:
                raise NameNotFoundError(str(missing)) from None
            raise ImportError(
                f"{fullname} is a class, not a module: write `from {self.namespace} import {name}` for the "
                f"latest version, or import `{self.namespace}.{name}@<hash>` for an exact one",
                name=fullname,
            )
        return ModuleSpec(fullname, _VersionLoader(self, name, version))

    def latest_class(self, name: str) -> type:
        """The class ``name`` at the lock's pin when a lock is active, else at the store's current ``latest``."""
        validate_name(name)
        full_hash = self.lock.pin(name) if self.lock is not None else None
        if full_hash is None:
            # One statement reads `latest` once (_OneStatement); other lookups within latest_ttl share a read.
            with _metrics.phase("resolve"):
                full_hash = self.store.latest(name, max_age=self.store.latest_ttl)
        if full_hash is None:
            raise self.store.name_not_found(name, namespace=self.namespace)
        module = importlib.import_module(format_reference(self.namespace, name, full_hash))
        return getattr(module, name)

    def names(self) -> list[str]:
        """What ``from namespace import ...`` can give: the lock's names under a strict lock, else the store's."""
        if self.lock is not None and self.lock.unlisted == "error":
            return list(self.lock.pins)
        return self.store.names()


class _NamespaceLoader:
    def __init__(self, finder: RemoteFinder) -> None:
        self.finder = finder

    def create_module(self, spec: ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        namespace = self.finder.namespace
        module.__path__ = []

        def __getattr__(attribute: str) -> type:
            if attribute.startswith("__") and attribute.endswith("__"):
                # Probed by the import system and tools (__path__, __file__, __wrapped__ ...): never a class of
                # the store, never worth a request. `_Private` is an ordinary class name.
                raise AttributeError(f"module {namespace!r} has no attribute {attribute!r}")
            handed = _STATEMENT.take(namespace, attribute)
            if handed is not None:
                return handed
            try:
                found = _finder_for(namespace).latest_class(attribute)
                if sys._getframe(1).f_code.co_name == "_handle_fromlist":
                    _STATEMENT.hand_over(namespace, attribute, found)
                return found
            except NameNotFoundError as missing:
                if missing.name != f"{namespace}.{attribute}":
                    raise  # another name is missing (a dependency)
                # A name the store lacks is an absent attribute, so hasattr() and getattr(m, X, default) work;
                # `from namespace import X` then asks the finder for `namespace.X`, which gives the store's message.
                raise AttributeError(str(missing), name=attribute) from missing

        def __dir__() -> list[str]:
            return _finder_for(namespace).names()

        module.__getattr__ = __getattr__  # type: ignore[attr-defined]
        module.__dir__ = __dir__  # type: ignore[attr-defined]


class _VersionLoader:
    def __init__(self, finder: RemoteFinder, name: str, version: str) -> None:
        self.finder, self.name, self.version = finder, name, version

    def create_module(self, spec: ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        full_hash = self.finder.store.resolve_version(self.name, self.version, namespace=self.finder.namespace)
        full_name = format_reference(self.finder.namespace, self.name, full_hash)
        if module.__name__ != full_name:
            # A prefix or a tag: this name becomes an alias of the full-hash module (the import system returns
            # whatever sys.modules holds once exec_module is done).
            sys.modules[module.__name__] = importlib.import_module(full_name)
            return
        loader.load_class(self.finder.store, self.finder.namespace, self.name, full_hash)


class _MemberLoader:
    """``ns.Name@<version>/myproj/layers``: what version ``Name@<version>`` brought of the user's module
    ``myproj.layers`` (its helpers, nested classes: :mod:`remoteimport.graphs`), as pickles name them."""

    def __init__(self, finder: RemoteFinder, name: str, version: str, member: str) -> None:
        self.finder, self.name, self.version, self.member = finder, name, version, member

    def create_module(self, spec: ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        full_hash = self.finder.store.resolve_version(self.name, self.version, namespace=self.finder.namespace)
        version_module = format_reference(self.finder.namespace, self.name, full_hash)
        importlib.import_module(version_module)  # loading the version publishes its member modules
        full_name = member_module_name(version_module, self.member)
        found = sys.modules.get(full_name)
        if found is None or found is module and not vars(module).get(loader.REMOTE_MODULE_MARKER):
            raise ImportError(
                f"{version_module} brought nothing of the module {self.member!r}, so {module.__name__} does not "
                f"exist (`remoteimport show {self.finder.namespace}.{self.name}@{full_hash[:12]}` lists what it "
                "ships)",
                name=module.__name__,
            )
        sys.modules[module.__name__] = found  # the import system returns what sys.modules holds


class _OneStatement:
    """``from ns import X`` looks ``X`` up twice: ``hasattr`` in importlib's ``_handle_fromlist``, then the
    ``getattr`` of the statement itself. The class the first lookup found is handed to the second, so one statement
    resolves ``latest`` once and gives one version, however long the load took and whatever was pushed meanwhile.

    Per thread; an entry is taken once, and only within :data:`_STATEMENT_SECONDS` of the first lookup's end (a
    bare ``__import__("ns", fromlist=["X"])`` whose second lookup never comes leaves nothing that lasts)."""

    def __init__(self) -> None:
        self._local = _thread_local()  # threading.local, without importing threading on the import path

    def hand_over(self, namespace: str, name: str, cls: type) -> None:
        pending = self._local.__dict__.setdefault("pending", {})
        pending[namespace, name] = (time.monotonic(), cls)

    def take(self, namespace: str, name: str) -> type | None:
        pending = self._local.__dict__.get("pending")
        if not pending:
            return None
        entry = pending.pop((namespace, name), None)
        if entry is None or time.monotonic() - entry[0] > _STATEMENT_SECONDS:
            return None
        return entry[1]


_STATEMENT_SECONDS = 5.0  # between the two lookups of one statement: microseconds, unless the thread is starved
_STATEMENT = _OneStatement()


def _finder_for(namespace: str) -> RemoteFinder:
    finder = _FINDERS.get(namespace)
    if finder is None:
        raise ImportError(f"the namespace {namespace!r} was uninstalled; call remoteimport.install() again")
    return finder


def install(
    store: Store | str | None = None,
    namespace: str | None = None,
    *,
    trusted_keys: Iterable[str | os.PathLike[str]] | None = None,
    lock: Lock | str | os.PathLike[str] | bool | None = None,
) -> RemoteFinder:
    """Serve ``namespace`` from ``store`` (default: ``$REMOTEIMPORT_STORE`` or the local default store).

    Several namespaces may point at several stores; installing a namespace again replaces its store.
    ``trusted_keys``: public-key files (``.pub`` from ``remoteimport keygen``); when given, only blobs
    signed by one of them are loaded (default: ``$REMOTEIMPORT_TRUSTED_KEYS``).
    ``namespace`` defaults to ``$REMOTEIMPORT_NAMESPACE``, else ``labchain_remote``.
    ``lock``: a lock file path or :class:`~remoteimport.lock.Lock` pinning what ``from namespace import Name``
    gives; None (the default) uses ``$REMOTEIMPORT_LOCK`` or ``./remoteimport.lock`` when it names this
    namespace; False uses no lock. The lock's store must be this store (docs/configs.md).

    Worker processes started from here (multiprocessing, ``ProcessPoolExecutor``, joblib) serve the namespace
    alike, never under a weaker trust policy: it is recorded in ``$REMOTEIMPORT_SERVED``
    (:mod:`remoteimport.served`, docs/engines.md#worker-processes).
    """
    namespace = validate_namespace(namespace if namespace is not None else _env.namespace())  # before I/O
    resolved = resolve_store(store)
    if trusted_keys is not None:
        resolved = resolved.with_trust(trusted_keys)
    active_lock = resolve_lock(lock, namespace)
    if active_lock is not None:
        check_store(active_lock, resolved.url, namespace)
    finder = RemoteFinder(resolved, namespace, lock=active_lock)
    with _INSTALL_LOCK:
        previous = _FINDERS.get(finder.namespace)
        if previous is not None and previous in sys.meta_path:
            sys.meta_path.remove(previous)
        # An explicit install replaces the zero-code start-up finder of the namespace (remoteimport._startup).
        for startup in [f for f in sys.meta_path if getattr(f, "remoteimport_startup", False)]:
            if getattr(startup, "namespace", None) == namespace:
                sys.meta_path.remove(startup)
        _FINDERS[finder.namespace] = finder
        loader.serve_namespace(finder.namespace, resolved.policy.trust)
        sys.meta_path.append(finder)
        served.record(finder.namespace, resolved, active_lock)  # for the worker processes started from here
    return finder


def uninstall(namespace: str | RemoteFinder | None = None) -> None:
    """Remove a namespace's finder and forget its modules (classes already imported keep working).

    ``namespace`` defaults to ``$REMOTEIMPORT_NAMESPACE``, else ``labchain_remote``."""
    if namespace is None:
        namespace = _env.namespace()
    name = namespace.namespace if isinstance(namespace, RemoteFinder) else validate_namespace(namespace)
    with _INSTALL_LOCK:
        finder = _FINDERS.pop(name, None)
        if finder is not None and finder in sys.meta_path:
            sys.meta_path.remove(finder)
        loader.stop_serving(name)
        served.forget(name)
        for module_name in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module_name]


def installed() -> dict[str, RemoteFinder]:
    """namespace -> finder for every installed namespace."""
    return dict(_FINDERS)
