"""What travels by value and what by reference.

Code the user wrote — ``__main__``, notebook cells, modules and packages outside the standard library and
site-packages (including editable installs of the user's own project) — travels **by value**: it is hashed by
content and pickled by value, because the remote host does not have it. Everything installed (the standard
library, built-in modules, site-packages, remoteimport itself, classes already imported from a store) travels
**by reference**: it is named, recorded as a requirement, and must exist on the remote host.

This module is the single place that decides; hashing and pickling both ask it.
"""

from __future__ import annotations

import _thread
import io
import operator
import os
import sys
import types
from collections.abc import Iterable, Mapping
from types import ModuleType

from remoteimport import _cloudpickle, _memo, _metrics, _pydantic, graphs
from remoteimport import _distributions as _installed
from remoteimport._record import record
from remoteimport.code_objects import (
    CodeRebuilder,
    current_lines,
    is_pseudo_filename,
    python_tag,
    rebuild_code,
    reduce_code,
    shipped_source,
    source_mismatches,
    stale_bytecode,
)
from remoteimport.errors import IncompatibleBlobError, PushError
from remoteimport.framework import (  # noqa: F401 - re-exported
    FRAMEWORK_MODULES,
    is_framework_member,
    is_protocol_hook,
    unwrap_method,
)

try:  # the C unpickler that pickle.Unpickler is, without pickle.py (which imports re: docs/performance.md)
    from _pickle import Unpickler as _Unpickler
except ImportError:  # pragma: no cover - Pythons without the C accelerator
    from pickle import Unpickler as _Unpickler

TYPE_CHECKING = False
if TYPE_CHECKING:
    import functools
    from typing import Any

_PROTOCOL = 4  # pickle.DEFAULT_PROTOCOL on every supported Python (3.8-3.13); checked by the tests

# Set on every module the import hook creates; such modules are importable on any host with the hook.
REMOTE_MODULE_MARKER = "__remoteimport_ref__"

_INSTALLED_DIR_NAMES = frozenset({"site-packages", "dist-packages"})


@_memo.cache
def _stdlib_dirs() -> tuple[str, ...]:
    # The folder of os.py is the stdlib (lib-dynload lies inside it); sysconfig.get_paths() would say the
    # same but costs a millisecond on first use, which the first hash of a process would pay.
    return (os.path.realpath(os.path.dirname(os.__file__)) + os.sep,)


@_memo.bounded(4096)
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


def made_by_loaded_version(obj: object) -> bool:
    """True when ``obj`` is the user's own code that a loaded version brought by value (a helper, a method, a
    nested class: :mod:`remoteimport.graphs`), now published under that version's module. It travelled by value
    when the version was pushed, so the version's hash encodes it by content."""
    if not graphs.graphs_of(obj):
        return False
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    return bool(getattr(module, REMOTE_MODULE_MARKER, None))


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


# ---------------------------------------------------------------------------------------------------------
# Pickling a class for the store, and checking its requirements on the way back.


@record
class Capture:
    """What a push sends: the pickled class, the source of the code that travels by value (file name ->
    text, so the remote host gets real tracebacks and can re-hash), and the distributions it references."""

    payload: bytes
    source: dict[str, str]
    requirements: dict[str, str]


_PICKLE_LOCK = _thread.allocate_lock()


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
            pickler = _recording_pickler()(buffer, protocol=_PROTOCOL)
            try:
                pickler.dump(cls)
            except Exception as exc:
                raise PushError(_unpicklable_message(cls, path, exc)) from exc
        finally:
            for module in registered:
                cloudpickle.unregister_pickle_by_value(module)
    sources = pickler.sources()
    stale = source_mismatches([(code, code.co_filename) for code in pickler.codes.values()], sources)
    if stale:
        problem = f"cannot push {path}: {stale[0]}{f' (and {len(stale) - 1} more)' if len(stale) > 1 else ''}: "
        # A new interpreter runs old code too when Python's own cache is stale: restarting would not help.
        cached = next(((filename, pyc) for filename in sources if (pyc := stale_bytecode(filename))), None)
        if cached:
            raise PushError(
                f"{problem}stale __pycache__ (Python reuses bytecode when mtime (whole seconds) and size match): "
                f"{cached[1]} holds an earlier text of {cached[0]}, and every new interpreter runs it in the file's "
                f"place. Delete {cached[1]} or touch {cached[0]}, then restart the interpreter and push again."
            )
        raise PushError(
            f"{problem}the running code is not the text of its file, which changed after the module was imported, "
            "so the hash (taken from the text) would name other code than the class runs. Reload the module "
            "(importlib.reload) or restart the interpreter, then push again."
        )
    if pickler.own_imports:
        _metrics.warning(_own_imports_message(path, pickler.own_imports))
    return Capture(buffer.getvalue(), sources, _distributions(pickler.referenced_modules))


def _own_imports_message(path: str, own_imports: dict[str, str]) -> str:
    """The push's warning about imports of the user's own modules inside functions that travel with it."""
    module, function = next(iter(own_imports.items()))
    others = f" (and {len(own_imports) - 1} more: {', '.join(list(own_imports)[1:4])})" if len(own_imports) > 1 else ""
    head, _, leaf = module.rpartition(".")
    statement = f"from {head} import {leaf}" if head else f"import {module}"
    return (
        f"remoteimport: {path}: {function} imports {module} inside its body{others}. That module is your own code, "
        "which travels with a version only through the names the version's code uses, so on a host without it "
        f"the call fails with ModuleNotFoundError. Import it at the top of the module ({statement}, or a relative "
        "import) and use it through that name."
    )


def unpickle_class(payload: bytes | memoryview, rebuilder: CodeRebuilder) -> Any:
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
    return _untracked_unpickler()(_PayloadFile(payload), rebuilder).load()


class _PayloadFile:
    """A read-only file over a payload that never copies it whole (``io.BytesIO`` copies all but a ``bytes``
    object; the loader's payload is a view of the blob): the unpickler reads its frames (64 KiB) with
    :meth:`read`, and a large ``bytes`` value straight into the object it makes with :meth:`readinto`."""

    def __init__(self, payload: bytes | memoryview) -> None:
        self._view = memoryview(payload)
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        start = self._position
        end = len(self._view) if size < 0 else min(start + size, len(self._view))
        self._position = end
        return bytes(self._view[start:end])

    def readinto(self, buffer: Any) -> int:
        with memoryview(buffer) as view, view.cast("B") as target:
            part = self._view[self._position : self._position + len(target)]
            target[: len(part)] = part
        self._position += len(part)
        return len(part)

    def readline(self, size: int = -1) -> bytes:
        """Up to and including the next newline: what opcodes outside a frame read (protocols 0 to 3)."""
        end = len(self._view) if size < 0 else min(self._position + size, len(self._view))
        scanned = self._position
        while scanned < end:  # a page at a time, not a copy of the rest of the payload
            found = bytes(self._view[scanned : min(scanned + 4096, end)]).find(b"\n")
            if found >= 0:
                return self.read(scanned + found + 1 - self._position)
            scanned += 4096
        return self.read(end - self._position)


@_memo.cache
def _untracked_unpickler() -> type:
    from remoteimport.regenerate import keep_native_members, substitute_class, vanished_global

    untracked = _cloudpickle.untracked_constructors()
    legacy_code = _cloudpickle.legacy_code_constructor()
    class_setstate = _cloudpickle.class_setstate_constructor()
    make_function = _cloudpickle.function_constructor()

    class UntrackedUnpickler(_Unpickler):
        def __init__(self, file: Any, rebuilder: CodeRebuilder) -> None:
            super().__init__(file)
            self.rebuilder = rebuilder

        def find_class(self, module: str, name: str) -> Any:
            cross_version = self.rebuilder.pushed_from not in (None, python_tag())
            try:
                if module in _cloudpickle.PAYLOAD_MODULES:  # without importing cloudpickle: see _cloudpickle
                    found = _cloudpickle.reconstructor(module, name)
                else:
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
            rebuilder = self.rebuilder
            if found is make_function:
                return _recording(found, rebuilder.functions)
            if found is class_setstate or found is setattr:
                if cross_version and found is class_setstate:
                    found = keep_native_members(class_setstate, rebuilder)
                # A class reused from another version (rebuilder.substitutions) is complete: its namespace is
                # never set again from this payload.
                return _sparing(found, rebuilder.reused) if rebuilder.substitutions else found
            found = substitute_class(found, cross_version=cross_version)
            make_class = untracked.get(found)
            if make_class is None:
                return found
            made = rebuilder.classes

            def make_and_record(*args: Any) -> Any:
                number, rebuilder.skeletons = rebuilder.skeletons, rebuilder.skeletons + 1
                reused = rebuilder.substitutions.get(number)
                if reused is not None:
                    rebuilder.reused.append(reused)
                    return reused
                # a class skeleton's arguments start (metaclass, name, bases, type_kwargs); an enum's, with bases
                metaclass = args[0] if isinstance(args[0], type) else None
                if metaclass is not None and any(klass is metaclass for klass in made):
                    klass = _skeleton_of_by_value_metaclass(metaclass, *args[1:4], made)
                else:
                    klass = make_class(*args)
                made.append(klass)
                return klass

            return make_and_record

    return UntrackedUnpickler


def _recording(make: Any, made: list[Any]) -> Any:
    """``make``, with what it returns appended to ``made``."""

    def make_and_record(*args: Any) -> Any:
        obj = make(*args)
        made.append(obj)
        return obj

    return make_and_record


def _sparing(setter: Any, reused: list[type]) -> Any:
    """``setter(obj, ...)`` (``_class_setstate``, ``setattr``), except on a class in ``reused``."""

    def set_unless_reused(obj: Any, *args: Any) -> Any:
        if any(obj is klass for klass in reused):
            return obj
        return setter(obj, *args)

    return set_unless_reused


def _skeleton_of_by_value_metaclass(
    metaclass: type, name: str, bases: tuple[Any, ...], type_kwargs: dict[str, Any], made: list[type]
) -> type:
    """The empty skeleton of a class whose metaclass this payload made (travels by value), made without running
    that metaclass's own ``__prepare__``/``__new__``/``__init__``: only those of its nearest installed ancestor
    (``type``, ``ABCMeta`` ...), which set up what C code relies on.

    Why: what the user's metaclass did to the class (fields it computed, methods it wrapped) is already in the
    namespace the payload restores from the producer, so running it again on an empty namespace only repeats it
    on the wrong input; and a metaclass may refuse new classes once its module is imported (jinja2's ``NodeType``
    replaces its ``__new__`` with one that raises), which the payload's rebuilt metaclass would do too: class
    creation after import stays refused on the loading host, as on the producer, while the producer's classes
    load. The class is still an instance of the rebuilt metaclass."""
    native = next(klass for klass in metaclass.__mro__ if not any(klass is own for own in made))
    resolved = types.resolve_bases(bases)
    namespace = native.__prepare__(name, resolved)
    namespace.update({sys.intern(key): value for key, value in type_kwargs.items()})  # as cloudpickle does
    if resolved is not bases:
        namespace["__orig_bases__"] = bases  # as types.new_class does
    klass = native.__new__(metaclass, name, resolved, namespace)
    native.__init__(klass, name, resolved, namespace)
    return klass


def _is_user_module(name: str, module: ModuleType) -> bool:
    try:
        return module_travels_by_value(name) and getattr(module, "__file__", None) is not None
    except Exception:  # a lazy module raising on attribute access: leave it alone
        return False


def _reduce_cached_property(prop: functools.cached_property) -> tuple[Any, ...]:
    # Rebuilt from its function and attribute name: 3.11's cached_property also holds an RLock (which cannot be
    # pickled, and which 3.12 dropped); the receiving Python makes whatever lock it uses.
    import functools

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


def _is_typed_dict(cls: type) -> bool:
    import typing  # imported by cloudpickle anyway: this runs on push only

    return typing.is_typeddict(cls)


def _reduce_typed_dict(cls: type) -> tuple[Any, ...]:
    # cloudpickle rebuilds a class from its __bases__, which for a TypedDict is (dict,): _TypedDictMeta then
    # refuses ("cannot inherit from both a TypedDict type and a non-TypedDict base class"). Class syntax again:
    namespace = {name: value for name, value in vars(cls).items() if name not in ("__dict__", "__weakref__")}
    import typing

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
    functools = sys.modules.get("functools")  # a singledispatch function means functools was imported
    return (
        functools is not None and function.__code__.co_filename == functools.__file__ and isinstance(registry, Mapping)
    )


def _singledispatch(registry: dict[type, Any], method: bool) -> Any:
    """A ``functools.singledispatch`` function (or ``singledispatchmethod``) with the same registry."""
    import functools

    made = (functools.singledispatchmethod if method else functools.singledispatch)(registry[object])
    for cls, implementation in registry.items():
        if cls is not object:
            made.register(cls, implementation)
    return made


def _functools() -> Any:
    import functools  # pushing imports it anyway (cloudpickle does): a load does not need it

    return functools


@_memo.cache
def _lru_cache_wrapper() -> type:
    return type(_functools().lru_cache(maxsize=None)(len))


def _lru_cached(function: Any, maxsize: int | None, typed: bool) -> Any:
    """A ``functools.lru_cache`` wrapper of a function that travels by value, rebuilt (with an empty cache)."""
    import functools

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
        reduced = obj.__reduce_ex__(_PROTOCOL)
    except Exception:
        return None
    if not isinstance(reduced, str):
        return None
    return object.__new__, (cls,), getattr(obj, "__dict__", None) or None


def _module_instance(module: ModuleType) -> tuple[Any, ...] | None:
    """An instance of a ``types.ModuleType`` subclass (six's lazy ``six.moves`` modules), which pickle cannot
    reduce. Found in ``sys.modules`` under a name of installed code, it is imported by that name on load, as
    cloudpickle does with modules. Otherwise (a module of the user's own code, which the remote host cannot
    import) it is rebuilt by value: an instance of its class with the producer's namespace, as cloudpickle rebuilds
    a module that travels by value (and like it, not put in ``sys.modules``). Plain modules: None (cloudpickle's)."""
    if type(module) is ModuleType:
        return None
    names = [name for name, found in list(sys.modules.items()) if found is module]
    for name in sorted(names, key=lambda name: name != module.__name__):
        if not module_travels_by_value(name):
            import importlib  # push only

            return importlib.import_module, (name,)
    namespace = {name: value for name, value in vars(module).items() if name != "__builtins__"}
    return _new_module, (type(module),), namespace, None, None, _set_module_namespace


def _new_module(cls: type[ModuleType]) -> ModuleType:
    """An empty instance of a module class (its own ``__init__`` is not run: the namespace is the producer's)."""
    return ModuleType.__new__(cls)


def _set_module_namespace(module: ModuleType, namespace: dict[str, Any]) -> None:
    vars(module).update(namespace)


def _state_set_without_lookup(obj: Any) -> tuple[Any, ...] | None:
    """An instance of a by-value class with ``__getattr__`` and no ``__setstate__``, whose state is set the way
    pickle's default does, by a setter that looks nothing up on it. Pickle itself would look ``__setstate__`` up
    on the half-made instance, calling ``__getattr__`` before the instance has its state (six's
    ``MovedModule.__getattr__`` reads ``self.mod``, which calls ``__getattr__`` again: endless recursion)."""
    cls = type(obj)
    if getattr(cls, "__getattr__", None) is None or getattr(cls, "__setstate__", None) is not None:
        return None
    if isinstance(obj, (type, ModuleType)) or not object_travels_by_value(cls):
        return None
    try:
        reduced = obj.__reduce_ex__(_PROTOCOL)
    except Exception:
        return None
    if not isinstance(reduced, tuple) or len(reduced) < 3 or reduced[2] is None:
        return None
    function, arguments, state, *items = reduced[:5]
    items += [None] * (2 - len(items))
    return function, arguments, state, *items, _set_instance_state


def _set_instance_state(obj: Any, state: Any) -> None:
    """What pickle's BUILD does for an object without ``__setstate__``: ``(dict, slots)`` or a dict."""
    slot_state = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slot_state = state
    if state:
        vars(obj).update(state)
    for name, value in (slot_state or {}).items():
        setattr(obj, name, value)


# Objects the standard library does not know how to pickle, rebuilt from their constructor arguments (the same
# that hashing/table.py encodes them by). Exact types: a subclass may carry state of its own.
@_memo.cache
def _reducers() -> dict[type, Any]:
    """Built on the first push: a load imports none of these modules for it (docs/performance.md)."""
    import functools
    import struct
    import threading
    import weakref

    return {
        functools.cached_property: _reduce_cached_property,
        struct.Struct: lambda packer: (struct.Struct, (packer.format,)),
        # Per-thread values belong to the threads of this process: the remote host gets empty storage.
        threading.local: lambda storage: (threading.local, ()),
        # Locks are this process's synchronisation state: a fresh, unlocked lock of the same type (hashed by type
        # only). Named by constructors every CPython has (threading.Lock is a class named _thread.lock from 3.13 on).
        type(threading.Lock()): lambda lock: (_thread.allocate_lock, ()),
        type(threading.RLock()): lambda lock: (threading.RLock, ()),
        # A Condition is its lock (pickle's memo keeps a lock shared with other attributes shared); no waiters.
        threading.Condition: lambda condition: (threading.Condition, (condition._lock,)),
        # Like cloudpickle's WeakSet: the entries alive now (a cache of weak references is usually empty at push)
        weakref.WeakKeyDictionary: lambda mapping: (weakref.WeakKeyDictionary, (dict(mapping),)),
        weakref.WeakValueDictionary: lambda mapping: (weakref.WeakValueDictionary, (dict(mapping),)),
    }


# ---------------------------------------------------------------------------------------------------------
# Class attributes set once every class of the payload is complete.
#
# cloudpickle rebuilds a by-value class in two steps: an empty skeleton, then its namespace. An instance held in
# that namespace is rebuilt while it is unpickled, by its own class's reduction (``IPv4Network(...)`` calls the
# class; an object with ``__setstate__`` has it called): if that class is a by-value class of the same payload
# still being built, it has no ``__init__``/``__setstate__`` yet (ipaddress's ``_IPv4Constants`` holds
# ``IPv4Network`` instances, and ``IPv4Network`` reaches ``_IPv4Constants``). So such attributes are left out of
# the namespace and pickled after the class graph: first the classes of the instances they hold (which may defer
# attributes of their own: those are handled the same way, one level deeper), then one ``setattr`` call per
# attribute. The unpickler runs the deeper levels first, so every class is complete, and an attribute found
# while pickling the classes another one needs is set before it (ipaddress's ``_BaseV4._netmask_cache`` before
# ``_IPv4Constants``' networks, whose constructor uses it); each instance is rebuilt by normal pickle rules.
# A payload without such attributes is unchanged.

_CONTAINERS = (list, tuple, set, frozenset, dict)


def _by_value_instance_classes(value: Any) -> list[type]:
    """The classes that travel by value of the instances ``value`` is or contains (through lists, tuples, sets
    and dicts), each once. Classes and functions themselves are rebuilt from skeletons: they need no deferring."""
    pending, seen, found = [value], set(), {}
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if not isinstance(item, (type, types.FunctionType)) and object_travels_by_value(type(item)):
            found.setdefault(id(type(item)), type(item))
        if isinstance(item, _CONTAINERS):  # also the user's own subclasses (a named tuple, a dict subclass)
            pending.extend(dict.items(item) if isinstance(item, dict) else item)
    return list(found.values())


class _ClassGraph:
    """The top-level object of a payload whose classes have deferred attributes (see above)."""

    def __init__(self, cls: type) -> None:
        self.cls = cls


class _DeferredAttributes:
    """The deferred attributes recorded and not yet pickled when the pickler reaches this object."""


class _DeferredAttribute:
    """One deferred class attribute: pickled as ``setattr(cls, name, value)``, run as soon as it is read."""

    def __init__(self, cls: type, name: str, value: Any) -> None:
        self.cls, self.name, self.value = cls, name, value


def _class_namespace(reduced: tuple[Any, ...]) -> dict[str, Any] | None:
    """The namespace in a by-value class's reduction (skeleton, its arguments, ``(namespace, slot state)``, None,
    None, setter), or None when its state has another shape."""
    state = reduced[2]
    return state[0] if type(state) is tuple and len(state) == 2 and type(state[0]) is dict else None


def _with_namespace(reduced: tuple[Any, ...], namespace: dict[str, Any]) -> tuple[Any, ...]:
    return (*reduced[:2], (namespace, reduced[2][1]), *reduced[3:])


def _loading_namespace(cls: type, namespace: dict[str, Any]) -> dict[str, Any]:
    """What a by-value class's namespace ships, which the loading host's setter (cloudpickle's
    ``_class_setstate``: ``setattr`` for each entry, in every release remoteimport loads with) sets on the class
    it made from the class's plain name and bases. Neither change is part of the class's hash:

    - without the members its bases' ``__init_subclass__`` makes again there: typing's ``_proto_hook`` on a
      subclass of a ``Protocol`` (a closure made per class on Python 3.10 and 3.11, so it travelled by value and
      the blob shipped all of typing.py, 120 kB; :func:`remoteimport.framework.is_protocol_hook`);
    - with its ``__qualname__`` when that is not its plain name (a nested class, ``Model.Config``): it is never in
      a class's ``__dict__``, so ``Model.Config`` came back as ``Config`` (and its instances pickled by a name
      that is not there)."""
    if is_protocol_hook(namespace.get("__subclasshook__")) and any(
        getattr(base, "_is_protocol", False) for base in cls.__mro__[1:]
    ):
        namespace = {name: value for name, value in namespace.items() if name != "__subclasshook__"}
    qualname = cls.__qualname__
    if qualname != cls.__name__ and "<" not in qualname and "__qualname__" not in namespace:
        namespace = {**namespace, "__qualname__": qualname}
    return namespace


def _class_graph(target: Any, *steps: Any) -> Any:
    """``target``, once the unpickler has run ``steps`` (it runs each call as it reads it: nothing left to do)."""
    return target


@_memo.cache
def _recording_pickler() -> type:
    """The pickler subclass needs cloudpickle: built on first use so importing capture stays cheap."""
    import cloudpickle

    class RecordingPickler(cloudpickle.Pickler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.output = args[0] if args else kwargs["file"]
            self.filenames: set[str] = set()
            self.codes: dict[int, types.CodeType] = {}  # the code objects pickled (by id): see source_mismatches
            self.classes: list[type] = []  # the by-value classes pickled: their statements are shipped (sources)
            self.referenced_modules: set[str] = set()
            self.own_imports: dict[str, str] = {}  # {the user's module: a function importing it in its body}
            self.optional_lines: dict[str, list[tuple[int, int]]] = {}  # see imported_modules
            # (class, name, value, classes of its by-value instances): see _by_value_instance_classes
            self.deferred: list[tuple[type, str, Any, list[type]]] = []
            self.deferred_pickled = 0  # how many of them are pickled already

        def dump(self, obj: Any) -> None:
            start = self.output.tell()
            super().dump(obj)
            if self.deferred:
                # Whether any attribute is deferred is known only once the graph is pickled: then pickle it
                # again, as a call that returns it once the deferred attributes are set.
                self.output.seek(start)
                self.output.truncate()
                self.clear_memo()
                self.deferred, self.deferred_pickled = [], 0
                super().dump(_ClassGraph(obj))

        def reducer_override(self, obj: Any) -> Any:
            if type(obj) is _ClassGraph:
                return _class_graph, (obj.cls, _DeferredAttributes())
            if type(obj) is _DeferredAttributes:
                return self._reduce_deferred()
            if type(obj) is _DeferredAttribute:
                return setattr, (obj.cls, obj.name, obj.value)
            reducer = _reducers().get(type(obj))
            if reducer is not None:
                return reducer(obj)
            if isinstance(obj, types.FunctionType) and is_singledispatch(obj):
                # functools' own closure, with its weak dispatch cache: rebuilt from the registry instead
                return _singledispatch, (dict(obj.registry), False)
            if type(obj) is _functools().singledispatchmethod:
                return _singledispatch, (dict(obj.dispatcher.registry), True)
            if type(obj) is _lru_cache_wrapper() and object_travels_by_value(obj.__wrapped__):
                # pickle would name it (module.qualname), and the remote host has no such module
                parameters = obj.cache_parameters()
                return _lru_cached, (obj.__wrapped__, parameters["maxsize"], parameters["typed"])
            named = _named_singleton(obj)
            if named is not None:
                return named
            if isinstance(obj, ModuleType):
                module = _module_instance(obj)
                if module is not None:
                    if module[0] is not _new_module:
                        self.referenced_modules.add(module[1][0])
                    return module
            else:
                without_lookup = _state_set_without_lookup(obj)
                if without_lookup is not None:
                    return without_lookup
            if isinstance(obj, types.MethodType):
                exposed = installed_method_name(obj)
                if exposed is not None:
                    return getattr, exposed
            if isinstance(obj, type) and _is_typed_dict(obj) and object_travels_by_value(obj):
                return _reduce_typed_dict(obj)
            if isinstance(obj, types.CodeType):
                # Only the code of by-value functions is ever pickled; ship it with its file name, our way.
                self.filenames.add(obj.co_filename)
                self.codes[id(obj)] = obj
                return reduce_code(obj)
            if isinstance(obj, types.FunctionType):
                if object_travels_by_value(obj):
                    self.filenames.add(obj.__code__.co_filename)
                    # `import x` in its body runs wherever it is called: x is a requirement as if imported at the top
                    homes = _import_homes(obj, self.optional_lines)
                    self.referenced_modules.update(homes["installed"])
                    for module in sorted(homes["own"]):
                        self.own_imports.setdefault(module, obj.__qualname__)
                else:
                    self.referenced_modules.add(obj.__module__ or "")
            elif isinstance(obj, type) and not object_travels_by_value(obj):
                parametrized = _pydantic.parametrization(obj)
                if parametrized is not None:  # RootModel[list[str]]: made again by the loading host's pydantic
                    origin, args = parametrized
                    return operator.getitem, (origin, args[0] if len(args) == 1 else args)
                self.referenced_modules.add(obj.__module__ or "")
                alias = _installed_alias(obj)
                if alias is not None:
                    return alias
            elif isinstance(obj, ModuleType) and not module_travels_by_value(obj.__name__):
                self.referenced_modules.add(obj.__name__)
            elif isinstance(obj, type):
                self.classes.append(obj)
            reduced = super().reducer_override(obj)
            if isinstance(obj, type) and type(reduced) is tuple and len(reduced) == 6:
                namespace = _class_namespace(reduced)
                if namespace is not None:
                    return _with_namespace(reduced, self._defer_instances(obj, _loading_namespace(obj, namespace)))
            return reduced

        def _defer_instances(self, cls: type, namespace: dict[str, Any]) -> dict[str, Any]:
            """A by-value class's namespace without the attributes that hold instances of by-value classes, which
            are recorded in ``self.deferred`` instead (see the comment above :func:`_by_value_instance_classes`)."""
            deferred = []
            for name, value in namespace.items():
                classes = _by_value_instance_classes(value)
                if classes:
                    deferred.append(name)
                    self.deferred.append((cls, name, value, classes))
            return {name: value for name, value in namespace.items() if name not in deferred} if deferred else namespace

        def _reduce_deferred(self) -> tuple[Any, ...]:
            """The attributes deferred since the last call: ``_class_graph(None, classes of their instances,
            <the ones those classes defer>, setattr(...) per attribute, <the ones their values defer>)``."""
            entries = self.deferred[self.deferred_pickled :]
            self.deferred_pickled = len(self.deferred)
            if not entries:
                return _class_graph, (None,)
            classes = {id(klass): klass for entry in entries for klass in entry[3]}
            setters = [_DeferredAttribute(*entry[:3]) for entry in entries]
            return _class_graph, (None, tuple(classes.values()), _DeferredAttributes(), *setters, _DeferredAttributes())

        def sources(self) -> dict[str, str]:
            """File name -> what the payload ships of it (:func:`~remoteimport.code_objects.shipped_source`):
            the statements of the code objects and classes pickled, at their own line numbers. Shipped whole: a
            pseudo file (``<string>``: what ran under that name need not be the code's text), an installed one
            (a framework's closure, typing's ``_proto_hook``: another Python keeps its own when the pushing
            Python's whole file does not compile there, remoteimport.regenerate), and a file whose part would
            not compile to the code it carries where the whole file does."""
            names: dict[str, set[str]] = {}
            for cls in self.classes:
                module_file = getattr(sys.modules.get(cls.__module__ or ""), "__file__", None)
                names.setdefault(module_file or "", set()).add(cls.__qualname__.partition(".")[0])
            found = {}
            for filename in sorted(self.filenames):
                lines = current_lines(filename)
                if not lines:
                    continue
                codes = [(code, filename) for code in self.codes.values() if code.co_filename == filename]
                whole = "".join(lines)
                if is_pseudo_filename(filename) or _file_is_installed(filename):
                    found[filename] = whole
                    continue
                # The statements assigning the module's names the code reads (`FACTOR = 2`) go too: their
                # values travel by value, and a reader (show, diff, the web view) must see what changed.
                wanted = set(names.get(filename, ())) | _global_names_read(code for code, _ in codes)
                shipped = shipped_source(lines, [code.co_firstlineno for code, _ in codes], wanted)
                if shipped != whole and source_mismatches(codes, {filename: shipped}):
                    if not source_mismatches(codes, {filename: whole}):
                        import logging

                        logging.getLogger("remoteimport").debug("%s shipped whole: its part does not compile", filename)
                        shipped = whole
                found[filename] = shipped
            return found

    return RecordingPickler


def _global_names_read(codes: Iterable[types.CodeType]) -> set[str]:
    """The names ``codes`` and the code nested in them (comprehensions, lambdas, inner functions) look up."""
    found: set[str] = set()
    pending = list(codes)
    while pending:
        code = pending.pop()
        found.update(code.co_names)
        pending.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    return found


def _unpicklable_message(cls: type, path: str, exc: Exception) -> str:
    for attribute, value in sorted(vars(cls).items()):
        if isinstance(value, (types.GetSetDescriptorType, types.MemberDescriptorType)):
            continue  # __dict__, __weakref__, slots: made by type(), never pickled (cloudpickle leaves them out)
        try:
            _recording_pickler()(io.BytesIO(), protocol=_PROTOCOL).dump(value)  # as capture_class does
        except Exception as attribute_exc:
            return (
                f"cannot push {path}: its attribute {path}.{attribute} ({type(value).__qualname__}) cannot be "
                f"pickled ({attribute_exc}). Nothing was written. Store plain data on the class instead "
                "(create such objects in __init__ or lazily)."
            )
    return f"cannot push {path}: pickling it failed ({type(exc).__name__}: {exc}). Nothing was written."


# ---------------------------------------------------------------------------------------------------------
# Imports inside shipped functions: their modules are requirements too.


def imported_modules(
    function: types.FunctionType, optional_lines: dict[str, list[tuple[int, int]]] | None = None
) -> set[str]:
    """The installed modules that a by-value function's own import statements name (in its body, and in the
    functions, classes and comprehensions nested in it), as absolute names: they run where the function is
    called, so their distributions are requirements like those of the modules it references.

    Left out: modules that travel by value (a relative import into the user's own package), modules not
    installed on this host (an optional import), and any import inside a ``try:`` whose handler catches
    ``ImportError`` (the code copes without it). ``optional_lines`` keeps the ``try:`` line ranges of each file
    already read (one push reads each file once). Bytecode is read with :mod:`dis`: at push time only.

    >>> def fit():
    ...     import json, remoteimport.names
    ...     try:
    ...         import not_installed_here
    ...     except ImportError:
    ...         pass
    >>> sorted(imported_modules(fit))
    ['remoteimport.names']
    """
    return _import_homes(function, optional_lines)["installed"]


def own_modules_imported(
    function: types.FunctionType, optional_lines: dict[str, list[tuple[int, int]]] | None = None
) -> set[str]:
    """The user's own modules (those that travel by value) that a by-value function's import statements name in
    its body: such an import runs on the loading host, which does not have the user's code, so it fails there
    (``from .utils import scale`` in a method). Imports inside a ``try:`` that catches ``ImportError`` are left
    out (the code copes without them)."""
    return _import_homes(function, optional_lines)["own"]


def _import_homes(
    function: types.FunctionType, optional_lines: dict[str, list[tuple[int, int]]] | None
) -> dict[str, set[str]]:
    """The modules a by-value function's import statements name, by where they live here (:func:`_module_home`):
    ``{"installed": ..., "own": ...}``, each module looked up once; imports in a ``try:`` that catches
    ``ImportError`` left out."""
    homes: dict[str, set[str]] = {"installed": set(), "own": set()}
    for name, line, code in _imports_of(function):
        home = _module_home(name)
        if home is not None and not _is_optional(code, line, optional_lines):
            homes[home].add(name)
    return homes


def _imports_of(function: types.FunctionType) -> list[tuple[str, int, types.CodeType]]:
    """``(absolute module name, line, code object)`` of each import statement in a function's body and in the
    functions, classes and comprehensions nested in it. Bytecode is read with :mod:`dis`: at push time only."""
    import dis

    package = function.__globals__.get("__package__")
    if package is None:
        package = (function.__module__ or "").rpartition(".")[0]
    found = []
    for code in _code_objects(function.__code__):
        line = code.co_firstlineno
        pushed: list[object] = [None, None]  # what the last two instructions loaded: an import's level and fromlist
        for instruction in dis.get_instructions(code):
            positions = getattr(instruction, "positions", None)  # 3.11+; 3.10 numbers only a line's first one
            if positions is not None and positions.lineno is not None:
                line = positions.lineno
            elif type(instruction.starts_line) is int:
                line = instruction.starts_line
            if instruction.opname == "IMPORT_NAME":
                level = pushed[0] if type(pushed[0]) is int else 0
                name = _absolute_module(instruction.argval, level, package)
                if name:
                    found.append((name, line, code))
            loads = instruction.opname in ("LOAD_CONST", "LOAD_SMALL_INT")
            pushed = [pushed[1], instruction.argval if loads else None]
    return found


def _code_objects(code: types.CodeType) -> list[types.CodeType]:
    found = [code]
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            found.extend(_code_objects(constant))
    return found


def _absolute_module(name: str, level: int, package: str) -> str | None:
    """What ``from <level dots><name> import ...`` names in ``package`` (importlib's ``_resolve_name``); None
    when it would fail wherever it runs."""
    if not level:
        return name
    bits = package.rsplit(".", level - 1)
    if not package or len(bits) < level:
        return None
    return f"{bits[0]}.{name}" if name else bits[0]


def _module_home(name: str) -> str | None:
    """Where the module ``name`` lives on this host: ``"installed"`` (it travels by reference: a requirement),
    ``"own"`` (the user's code, which travels by value), or None: the standard library, a module this host cannot
    find (an optional import the code copes without), or a package spread over both kinds of folder."""
    parts = name.split(".")
    if parts[0] in sys.stdlib_module_names or parts[0] in sys.builtin_module_names:
        return None
    for end in range(len(parts), 0, -1):  # the deepest package of it imported here decides
        module = sys.modules.get(".".join(parts[:end]))
        if isinstance(module, ModuleType):
            return "own" if module_travels_by_value(module.__name__) else "installed"
    from importlib.machinery import PathFinder

    spec = PathFinder.find_spec(parts[0])  # where it would be found: nothing is imported
    if spec is None:
        return None
    where = [spec.origin] if spec.has_location and spec.origin else list(spec.submodule_search_locations or ())
    installed = [_file_is_installed(path) for path in where]
    return "installed" if installed and all(installed) else "own" if installed and not any(installed) else None


_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


def _is_optional(code: types.CodeType, line: int, optional_lines: dict[str, list[tuple[int, int]]] | None) -> bool:
    """Whether ``line`` of the code's file lies in a ``try:`` body whose handlers catch ``ImportError``."""
    filename = code.co_filename
    known = optional_lines if optional_lines is not None else {}
    if filename not in known:
        import ast

        ranges = []
        try:
            tree = ast.parse("".join(current_lines(filename)))
        except (SyntaxError, ValueError):
            tree = None
        tries = (ast.Try, getattr(ast, "TryStar", ast.Try))
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, tries) and any(_catches_import_error(handler) for handler in node.handlers):
                ranges.append((node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno))
        known[filename] = ranges
    return any(start <= line <= end for start, end in known[filename])


def _catches_import_error(handler: Any) -> bool:
    if handler.type is None:
        return True  # a bare except
    kinds = handler.type.elts if type(handler.type).__name__ == "Tuple" else [handler.type]
    names = {getattr(kind, "id", None) or getattr(kind, "attr", None) for kind in kinds}
    return not names.isdisjoint(_IMPORT_ERRORS)


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


@_memo.bounded(4)
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
