"""What travels by value and what by reference.

Code the user wrote — ``__main__``, notebook cells, modules and packages outside the standard library and
site-packages (including editable installs of the user's own project) — travels **by value**: it is hashed by
content and pickled by value, because the remote host does not have it. Everything installed (the standard
library, built-in modules, site-packages, remoteimport itself, classes already imported from a store) travels
**by reference**: it is named, recorded as a requirement, and must exist on the remote host.

This module is the single place that decides; hashing and pickling both ask it.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
from types import ModuleType

# Set on every module the import hook creates; such modules are importable on any host with the hook.
REMOTE_MODULE_MARKER = "__remoteimport_ref__"

_INSTALLED_DIR_NAMES = frozenset({"site-packages", "dist-packages"})


@functools.lru_cache(maxsize=1)
def _stdlib_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths.get("stdlib"), paths.get("platstdlib"), os.path.dirname(os.__file__)}
    return tuple(sorted(os.path.realpath(d) + os.sep for d in dirs if d))


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
        return True
    return not _file_is_installed(path)


def object_travels_by_value(obj: object) -> bool:
    """True when ``obj`` (a class or function) is defined in the user's own code."""
    return module_travels_by_value(getattr(obj, "__module__", None))
