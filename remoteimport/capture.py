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
import sys
import threading
import types
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from remoteimport import _cloudpickle
from remoteimport.code_objects import CodeRebuilder, rebuild_code, reduce_code
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


def object_travels_by_value(obj: object) -> bool:
    """True when ``obj`` (a class or function) is defined in the user's own code."""
    return module_travels_by_value(getattr(obj, "__module__", None))


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


def unpickle_class(payload: bytes, *, label: str, sources: Mapping[str, str]) -> Any:
    """Unpickle a verified payload so that every version gets classes of its own.

    cloudpickle tracks dynamic classes by an id that stays the same for every pickle of one class object,
    and maps it back to the live class when it sees it again. Left alone, two versions pushed from one
    process would load as one class — in the producer's own process, the user's live class, which would
    then be modified. This unpickler makes the classes without tracking them. Code objects get the file
    names under which the loader registered ``sources`` (:class:`~remoteimport.code_objects.CodeRebuilder`).
    It holds no lock: unpickling may import other remote classes (a base class from the store), which
    unpickle in turn, maybe in another thread that holds that module's import lock.
    """
    return _untracked_unpickler()(io.BytesIO(payload), CodeRebuilder(label, sources)).load()


@functools.cache
def _untracked_unpickler() -> type:
    untracked = _cloudpickle.untracked_constructors()
    legacy_code = _cloudpickle.legacy_code_constructor()

    class UntrackedUnpickler(pickle.Unpickler):
        def __init__(self, file: Any, rebuilder: CodeRebuilder) -> None:
            super().__init__(file)
            self.rebuilder = rebuilder

        def find_class(self, module: str, name: str) -> Any:
            found = super().find_class(module, name)
            if found is rebuild_code:
                return self.rebuilder.rebuild
            if found is legacy_code:
                return _cloudpickle.legacy_code_interceptor(self.rebuilder.adopt)
            return untracked.get(found, found)

    return UntrackedUnpickler


def _is_user_module(name: str, module: ModuleType) -> bool:
    try:
        return module_travels_by_value(name) and getattr(module, "__file__", None) is not None
    except Exception:  # a lazy module raising on attribute access: leave it alone
        return False


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
    import cloudpickle

    for attribute, value in sorted(vars(cls).items()):
        if isinstance(value, (types.GetSetDescriptorType, types.MemberDescriptorType)):
            continue  # __dict__, __weakref__, slots: made by type(), never pickled (cloudpickle leaves them out)
        try:
            cloudpickle.dumps(value)
        except Exception as attribute_exc:
            return (
                f"cannot push {path}: its attribute {path}.{attribute} ({type(value).__qualname__}) cannot be "
                f"pickled ({attribute_exc}). Nothing was written. Store plain data on the class instead "
                "(create such objects in __init__ or lazily)."
            )
    return f"cannot push {path}: pickling it failed ({type(exc).__name__}: {exc}). Nothing was written."


def _distributions(module_names: set[str]) -> dict[str, str]:
    """Installed distributions (name -> version) that provide these modules; the stdlib is left out."""
    tops = {name.partition(".")[0] for name in module_names if name}
    tops -= set(sys.stdlib_module_names) | set(sys.builtin_module_names) | {"remoteimport", "builtins", ""}
    if not tops:
        return {}
    import importlib.metadata as metadata

    providers = _packages_distributions(tuple(sys.path))
    found: dict[str, str] = {}
    for top in sorted(tops):
        for dist in providers.get(top, []):
            try:
                found[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
    return found


@functools.lru_cache(maxsize=4)
def _packages_distributions(path: tuple[str, ...]) -> dict[str, list[str]]:
    """Top-level module -> distributions, once per ``sys.path``: reading every installed distribution's
    metadata takes about 0.2 s, which ``push_all`` of many classes would otherwise pay per class."""
    import importlib.metadata as metadata

    return metadata.packages_distributions()


def check_requirements(requirements: dict[str, str], *, what: str) -> None:
    """Refuse (before unpickling) when a distribution the blob needs is missing or at another major version."""
    import importlib.metadata as metadata

    for dist, wanted in sorted(requirements.items()):
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
