"""What travels by value and what by reference.

Code the user wrote — ``__main__``, notebook cells, modules and packages outside the standard library and
site-packages (including editable installs of the user's own project) — travels **by value**: it is hashed by
content and pickled by value, because the remote host does not have it. Everything installed (the standard
library, built-in modules, site-packages, remoteimport itself, classes already imported from a store) travels
**by reference**: it is named, recorded as a requirement, and must exist on the remote host.

This module is the single place that decides; hashing and pickling both ask it.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import linecache
import os
import pickle
import struct
import sys
import threading
import types
import typing
import weakref
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from remoteimport import _cloudpickle, _metrics
from remoteimport import _distributions as _installed
from remoteimport.code_objects import CodeRebuilder, python_tag, rebuild_code, reduce_code
from remoteimport.errors import IncompatibleBlobError, PushError

# Set on every module the import hook creates; such modules are importable on any host with the hook.
REMOTE_MODULE_MARKER = "__remoteimport_ref__"

_INSTALLED_DIR_NAMES = frozenset({"site-packages", "dist-packages"})


@functools.lru_cache(maxsize=1)
def _stdlib_dirs() -> tuple[str, ...]:
    # The folder of os.py is the stdlib (lib-dynload lies inside it); sysconfig.get_paths() would say the
    # same but costs a millisecond on first use, which the first hash of a process would pay.
    return (os.path.realpath(os.path.dirname(os.__file__)) + os.sep,)


@functools.lru_cache(maxsize=4096)
def _file_is_installed(path: str) -> bool:
    real = os.path.realpath(path)
    if any(part in _INSTALLED_DIR_NAMES for part in real.split(os.sep)):
        return True
    return real.startswith(_stdlib_dirs())


def module_travels_by_value(module_name: str | None) -> bool:
    """True when the module's code is the user's own and must travel by value.

    >>> module_travels_by_value("json")
    False
    >>> module_travels_by_value("__main__")
    True
    """
    if not module_name or module_name == "__main__":
        return True
    top = module_name.partition(".")[0]
    if top == "remoteimport" or top in sys.builtin_module_names:
        return False
    module = sys.modules.get(module_name)
    if module is None:
        # Not importable by name (built by exec/type() under a made-up module name): only its value exists.
        return True
    return _module_object_travels_by_value(module)


def _module_object_travels_by_value(module: ModuleType) -> bool:
    if getattr(module, REMOTE_MODULE_MARKER, None):
        return False
    spec = getattr(module, "__spec__", None)
    if spec is not None and spec.origin in ("built-in", "frozen"):
        return False
    path = getattr(module, "__file__", None)
    if path is None:
        # A file-less submodule (typing.io) belongs with its package; a file-less top-level module was
        # made at run time (exec, types.ModuleType) and exists nowhere else.
        package, dot, _ = module.__name__.rpartition(".")
        return module_travels_by_value(package) if dot else True
    return not _file_is_installed(path)


def installed_method_name(method: types.MethodType) -> tuple[ModuleType, str] | None:
    """``(module, name)`` when an installed module exposes the bound method ``method`` under that name:
    ``random.choice`` is a method of the module's own hidden ``Random`` instance. It travels (and is hashed) by
    that name, like a function of the module, never as a copy of the instance (whose state differs per process).
    """
    function = getattr(method, "__func__", None)
    module_name = getattr(function, "__module__", None)
    module = sys.modules.get(module_name or "")
    if module is None or module_travels_by_value(module_name):
        return None
    name = getattr(function, "__name__", "")
    return (module, name) if getattr(module, name, None) == method else None


def object_travels_by_value(obj: object) -> bool:
    """True when ``obj`` (a class or function) is defined in the user's own code."""
    return module_travels_by_value(getattr(obj, "__module__", None))


# Modules whose class factories and metaclasses put functions on user classes (``Protocol.__init__``,
# namedtuple's ``_make`` ...): such members are the framework's, not the user's code.
FRAMEWORK_MODULES = frozenset({"typing", "typing_extensions", "enum", "abc", "_abc", "dataclasses", "collections"})


def unwrap_method(value: Any) -> Any:
    """The function of a ``staticmethod`` or ``classmethod``; anything else as it is."""
    return value.__func__ if isinstance(value, (staticmethod, classmethod)) else value


def is_framework_member(value: Any) -> bool:
    """A function that typing/enum/abc/dataclasses/namedtuple put on a class (hashing leaves it out; a class
    loaded on another Python keeps its own Python's: :mod:`remoteimport.regenerate`)."""
    target = unwrap_method(value)
    if not callable(target) or isinstance(target, type):
        return False
    return getattr(target, "__module__", None) in FRAMEWORK_MODULES


# ---------------------------------------------------------------------------------------------------------
# Pickling a class for the store, and checking its requirements on the way back.


@dataclasses.dataclass(frozen=True)
class Capture:
    """What a push sends: the pickled class, the source of the code that travels by value (file name ->
    text, so the remote host gets real tracebacks and can re-hash), and the distributions it references."""

    payload: bytes
    source: dict[str, str]
    requirements: dict[str, str]


_PICKLE_LOCK = threading.Lock()


def capture_class(cls: type, *, path: str) -> Capture:
    """Pickle ``cls`` with every user module by value. ``path`` names the class in error messages."""
    import cloudpickle

    by_value = [
        module
        for name, module in list(sys.modules.items())
        if isinstance(module, ModuleType) and name != "__main__" and _is_user_module(name, module)
    ]
    # register_pickle_by_value is process-global: hold it only while this pickle is made.
    with _PICKLE_LOCK:
        registered = []
        try:
            for module in by_value:
                if not _cloudpickle.is_registered_pickle_by_value(module):
                    cloudpickle.register_pickle_by_value(module)
                    registered.append(module)
            buffer = io.BytesIO()
            pickler = _recording_pickler()(buffer, protocol=pickle.DEFAULT_PROTOCOL)
            try:
                pickler.dump(cls)
            except Exception as exc:
                raise PushError(_unpicklable_message(cls, path, exc)) from exc
        finally:
            for module in registered:
                cloudpickle.unregister_pickle_by_value(module)
    return Capture(buffer.getvalue(), pickler.sources(), _distributions(pickler.referenced_modules))


def unpickle_class(payload: bytes, rebuilder: CodeRebuilder) -> Any:
    """Unpickle a verified payload so that every version gets classes of its own.

    cloudpickle tracks dynamic classes by an id that stays the same for every pickle of one class object,
    and maps it back to the live class when it sees it again. Left alone, two versions pushed from one
    process would load as one class — in the producer's own process, the user's live class, which would
    then be modified. This unpickler makes the classes without tracking them. Code objects are built by
    ``rebuilder`` (:class:`~remoteimport.code_objects.CodeRebuilder`: version-tagged file names, and code
    pushed from another Python compiled from the shipped source); objects of the standard library whose layout
    differs between Python versions are read by :func:`remoteimport.regenerate.substitute_class`.
    It holds no lock: unpickling may import other remote classes (a base class from the store), which
    unpickle in turn, maybe in another thread that holds that module's import lock.
    """
    return _untracked_unpickler()(io.BytesIO(payload), rebuilder).load()


@functools.cache
def _untracked_unpickler() -> type:
    from remoteimport.regenerate import keep_native_members, substitute_class, vanished_global

    untracked = _cloudpickle.untracked_constructors()
    legacy_code = _cloudpickle.legacy_code_constructor()
    class_setstate = _cloudpickle.class_setstate_constructor()

    class UntrackedUnpickler(pickle.Unpickler):
        def __init__(self, file: Any, rebuilder: CodeRebuilder) -> None:
            super().__init__(file)
            self.rebuilder = rebuilder

        def find_class(self, module: str, name: str) -> Any:
            cross_version = self.rebuilder.pushed_from not in (None, python_tag())
            try:
                found = super().find_class(module, name)
            except AttributeError:
                vanished = vanished_global(module, name) if cross_version else None
                if vanished is None:
                    raise
                return vanished
            if found is rebuild_code:
                return self.rebuilder.rebuild
            if found is legacy_code:
                return _cloudpickle.legacy_code_interceptor(self.rebuilder.adopt)
            if cross_version and found is class_setstate:
                return keep_native_members(class_setstate, self.rebuilder)
            found = substitute_class(found, cross_version=cross_version)
            make_class = untracked.get(found)
            if make_class is None:
                return found
            made = self.rebuilder.classes

            def make_and_record(*args: Any) -> Any:
                klass = make_class(*args)
                made.append(klass)
                return klass

            return make_and_record

    return UntrackedUnpickler


def _is_user_module(name: str, module: ModuleType) -> bool:
    try:
        return module_travels_by_value(name) and getattr(module, "__file__", None) is not None
    except Exception:  # a lazy module raising on attribute access: leave it alone
        return False


def _reduce_cached_property(prop: functools.cached_property) -> tuple[Any, ...]:
    # Rebuilt from its function and attribute name: 3.11's cached_property also holds an RLock (which cannot be
    # pickled, and which 3.12 dropped); the receiving Python makes whatever lock it uses.
    state = {name: value for name, value in vars(prop).items() if name != "lock"}
    return functools.cached_property, (prop.func,), state


def _installed_alias(cls: type) -> tuple[Any, ...] | None:
    """An installed class that its module exposes under another name than its ``__qualname__`` (``_json.Encoder``
    is ``_json.make_encoder``): a reference to that name. cloudpickle, not finding the class by its qualified name,
    would pickle it by value, and a C type rebuilt by value lacks its slots (``Encoder.default``)."""
    module = sys.modules.get(cls.__module__ or "")
    if module is None:
        return None
    found: Any = module
    for part in cls.__qualname__.split("."):
        found = getattr(found, part, None)
    if found is cls:
        return None  # pickled by name, as usual
    for name, value in vars(module).items():
        if value is cls:
            return getattr, (module, name)
    return None


def _reduce_typed_dict(cls: type) -> tuple[Any, ...]:
    # cloudpickle rebuilds a class from its __bases__, which for a TypedDict is (dict,): _TypedDictMeta then
    # refuses ("cannot inherit from both a TypedDict type and a non-TypedDict base class"). Class syntax again:
    namespace = {name: value for name, value in vars(cls).items() if name not in ("__dict__", "__weakref__")}
    bases = namespace.get("__orig_bases__") or (typing.TypedDict,)
    return _typed_dict, (cls.__name__, bases, namespace, cls.__total__)


def _typed_dict(name: str, bases: tuple[Any, ...], namespace: dict[str, Any], total: bool) -> type:
    """A TypedDict class made as its ``class`` statement made it, with the original's attributes (the merged
    annotations and key sets, which the statement derives from its bases)."""
    made = types.new_class(name, bases, {"total": total}, lambda body: body.update(namespace))
    for attribute, value in namespace.items():
        if vars(made).get(attribute, namespace) is not value:
            setattr(made, attribute, value)
    if "__orig_bases__" in vars(made) and "__orig_bases__" not in namespace:
        del made.__orig_bases__  # new_class() records them; a TypedDict statement before 3.12 did not
    return made


def is_singledispatch(function: types.FunctionType) -> bool:
    """A ``functools.singledispatch`` function: known by its registry (type -> implementation), never by functools'
    own wrapper, caches and closures, which differ between versions and fill up with use."""
    registry = getattr(function, "registry", None)
    return function.__code__.co_filename == functools.__file__ and isinstance(registry, Mapping)


def _singledispatch(registry: dict[type, Any], method: bool) -> Any:
    """A ``functools.singledispatch`` function (or ``singledispatchmethod``) with the same registry."""
    made = (functools.singledispatchmethod if method else functools.singledispatch)(registry[object])
    for cls, implementation in registry.items():
        if cls is not object:
            made.register(cls, implementation)
    return made


_LRU_CACHE_WRAPPER = type(functools.lru_cache(maxsize=None)(len))


def _lru_cached(function: Any, maxsize: int | None, typed: bool) -> Any:
    """A ``functools.lru_cache`` wrapper of a function that travels by value, rebuilt (with an empty cache)."""
    return functools.lru_cache(maxsize=maxsize, typed=typed)(function)


def _named_singleton(obj: Any) -> tuple[Any, ...] | None:
    """An instance of a user's class that pickles as a module-level name (``__reduce__`` returning a string, as
    sentinels do: jinja2's ``missing``), rebuilt by value: the remote host has no such module to name. Within
    one class's payload every reference gets the same object, so ``is`` comparisons keep working."""
    cls = type(obj)
    if isinstance(obj, (type, types.FunctionType, ModuleType)) or cls.__new__ is not object.__new__:
        return None
    if cls.__reduce__ is object.__reduce__ or not object_travels_by_value(cls):
        return None
    try:
        reduced = obj.__reduce_ex__(pickle.DEFAULT_PROTOCOL)
    except Exception:
        return None
    if not isinstance(reduced, str):
        return None
    return object.__new__, (cls,), getattr(obj, "__dict__", None) or None


# Objects the standard library does not know how to pickle, rebuilt from their constructor arguments (the same
# that hashing.py encodes them by). Exact types: a subclass may carry state of its own.
_REDUCERS: dict[type, Any] = {
    functools.cached_property: _reduce_cached_property,
    struct.Struct: lambda packer: (struct.Struct, (packer.format,)),
    # Per-thread values belong to the threads of this process: the remote host gets empty storage.
    threading.local: lambda storage: (threading.local, ()),
    # Like cloudpickle's WeakSet: the entries alive now (a cache of weak references is usually empty at push)
    weakref.WeakKeyDictionary: lambda mapping: (weakref.WeakKeyDictionary, (dict(mapping),)),
    weakref.WeakValueDictionary: lambda mapping: (weakref.WeakValueDictionary, (dict(mapping),)),
}


@functools.cache
def _recording_pickler() -> type:
    """The pickler subclass needs cloudpickle: built on first use so importing capture stays cheap."""
    import cloudpickle

    class RecordingPickler(cloudpickle.Pickler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.filenames: set[str] = set()
            self.referenced_modules: set[str] = set()

        def reducer_override(self, obj: Any) -> Any:
            reducer = _REDUCERS.get(type(obj))
            if reducer is not None:
                return reducer(obj)
            if isinstance(obj, types.FunctionType) and is_singledispatch(obj):
                # functools' own closure, with its weak dispatch cache: rebuilt from the registry instead
                return _singledispatch, (dict(obj.registry), False)
            if type(obj) is functools.singledispatchmethod:
                return _singledispatch, (dict(obj.dispatcher.registry), True)
            if type(obj) is _LRU_CACHE_WRAPPER and object_travels_by_value(obj.__wrapped__):
                # pickle would name it (module.qualname), and the remote host has no such module
                parameters = obj.cache_parameters()
                return _lru_cached, (obj.__wrapped__, parameters["maxsize"], parameters["typed"])
            named = _named_singleton(obj)
            if named is not None:
                return named
            if isinstance(obj, types.MethodType):
                exposed = installed_method_name(obj)
                if exposed is not None:
                    return getattr, exposed
            if isinstance(obj, type) and typing.is_typeddict(obj) and object_travels_by_value(obj):
                return _reduce_typed_dict(obj)
            if isinstance(obj, types.CodeType):
                # Only the code of by-value functions is ever pickled; ship it with its file name, our way.
                self.filenames.add(obj.co_filename)
                return reduce_code(obj)
            if isinstance(obj, types.FunctionType):
                if object_travels_by_value(obj):
                    self.filenames.add(obj.__code__.co_filename)
                else:
                    self.referenced_modules.add(obj.__module__ or "")
            elif isinstance(obj, type) and not object_travels_by_value(obj):
                self.referenced_modules.add(obj.__module__ or "")
                alias = _installed_alias(obj)
                if alias is not None:
                    return alias
            elif isinstance(obj, ModuleType) and not module_travels_by_value(obj.__name__):
                self.referenced_modules.add(obj.__name__)
            return super().reducer_override(obj)

        def sources(self) -> dict[str, str]:
            found = {}
            for filename in sorted(self.filenames):
                lines = linecache.getlines(filename)
                if lines:
                    found[filename] = "".join(lines)
            return found

    return RecordingPickler


def _unpicklable_message(cls: type, path: str, exc: Exception) -> str:
    for attribute, value in sorted(vars(cls).items()):
        if isinstance(value, (types.GetSetDescriptorType, types.MemberDescriptorType)):
            continue  # __dict__, __weakref__, slots: made by type(), never pickled (cloudpickle leaves them out)
        try:
            _recording_pickler()(io.BytesIO(), protocol=pickle.DEFAULT_PROTOCOL).dump(value)  # as capture_class does
        except Exception as attribute_exc:
            return (
                f"cannot push {path}: its attribute {path}.{attribute} ({type(value).__qualname__}) cannot be "
                f"pickled ({attribute_exc}). Nothing was written. Store plain data on the class instead "
                "(create such objects in __init__ or lazily)."
            )
    return f"cannot push {path}: pickling it failed ({type(exc).__name__}: {exc}). Nothing was written."


def _distributions(module_names: set[str]) -> dict[str, str]:
    """Installed distributions (name -> version) that provide these modules; the stdlib is left out.

    Only the referenced modules are looked up, each through the metadata next to its files
    (:mod:`remoteimport._distributions`): a push costs the same however many distributions are installed.
    A module whose files do not tell falls back to ``importlib.metadata`` (which scans them all, once)."""
    tops = {name.partition(".")[0] for name in module_names if name}
    tops -= set(sys.stdlib_module_names) | set(sys.builtin_module_names) | {"remoteimport", "builtins", ""}
    found: dict[str, str] = {}
    for top in sorted(tops):
        owners = _installed.module_distributions(top, module_names)
        if owners is None:
            owners = _scanned_distributions(top)
        for owner in owners:
            found[owner.name] = owner.version
    return found


def _scanned_distributions(top: str) -> list[_installed.Distribution]:
    """The slow way, for modules whose files carry no metadata (zip imports, unusual installers)."""
    import importlib.metadata as metadata
    import logging

    logging.getLogger("remoteimport").debug("the distribution of %s: scanning every installed one", top)
    owners = []
    for dist in _packages_distributions(tuple(sys.path)).get(top, []):
        try:
            owners.append(_installed.Distribution((dist, metadata.version(dist))))
        except metadata.PackageNotFoundError:
            continue
    return owners


@functools.lru_cache(maxsize=4)
def _packages_distributions(path: tuple[str, ...]) -> dict[str, list[str]]:
    """Top-level module -> distributions, once per ``sys.path``: reading every installed distribution's
    metadata takes 0.03-0.3 s, which ``push_all`` of many classes would otherwise pay per class."""
    import importlib.metadata as metadata

    return metadata.packages_distributions()


def check_requirements(requirements: dict[str, str], *, what: str) -> None:
    """Refuse (before unpickling) when a distribution the blob needs is missing or at another major version.

    The version is read from the distribution's ``METADATA`` directly (no ``importlib.metadata``, no email
    parser: this runs on every load); ``importlib.metadata`` only confirms a distribution that seems missing."""
    with _metrics.phase("requirements"):
        _check_requirements(requirements, what=what)


def _check_requirements(requirements: dict[str, str], *, what: str) -> None:
    for dist, wanted in sorted(requirements.items()):
        have = _installed.distribution_version(dist)
        if have is None:
            import importlib.metadata as metadata

            try:
                have = metadata.version(dist)
            except metadata.PackageNotFoundError:
                raise IncompatibleBlobError(
                    f"{what} needs the distribution {dist}=={wanted}, which is not installed on this host. "
                    f"Install it: pip install '{dist}=={wanted}'"
                ) from None
        if have.split(".")[0] != wanted.split(".")[0]:
            raise IncompatibleBlobError(
                f"{what} was pushed with {dist} {wanted} but this host has {dist} {have} (another major "
                f"version). Install a matching one: pip install '{dist}=={wanted}'"
            )
