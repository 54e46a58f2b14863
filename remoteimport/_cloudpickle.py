"""The only module that names cloudpickle's private internals.

Everything else in remoteimport uses cloudpickle's public API (``Pickler``, ``register_pickle_by_value``,
``dumps``). The few private names below have no public equivalent; they are checked, by name and by signature,
the first time they are needed, and :func:`check_internals` (run by the test suite against the lowest and the
newest cloudpickle that ``pyproject.toml`` allows) names the installed version when one of them changes.

Checked against cloudpickle **3.0.0, 3.1.0, 3.1.1, 3.1.2 and 3.1.3** (:data:`CHECKED_VERSIONS`).

What they are for:

- ``_make_skeleton_class`` / ``_make_skeleton_enum``: cloudpickle's payloads rebuild by-value classes through
  these. The loader substitutes versions that skip cloudpickle's class tracker, so two versions of one class
  (or the producer's own live class) are never merged into one (:func:`untracked_constructors`).
- ``_builtin_type``: blobs pushed before remoteimport shipped code objects itself (``code_objects``) hold
  cloudpickle's own code-object reduction, ``_builtin_type("CodeType")(*args)``. The loader intercepts it to
  give those code objects their shipped file (:func:`legacy_code_interceptor`). New blobs do not need it.
- ``_class_setstate``: fills a by-value class from its pickled namespace. Loading a version pushed from another
  Python, the loader keeps the members this Python's ``typing``/``enum``/``abc`` put on the new class instead
  of the pushing Python's (:func:`class_setstate_constructor`, :mod:`remoteimport.regenerate`).
- ``_is_registered_pickle_by_value``: a module the *user* registered for pickling by value stays registered
  after a push (:func:`is_registered_pickle_by_value`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any

from remoteimport.errors import DependencyError

__all__ = [
    "CHECKED_VERSIONS",
    "check_internals",
    "class_setstate_constructor",
    "installed_version",
    "is_registered_pickle_by_value",
    "legacy_code_constructor",
    "legacy_code_interceptor",
    "untracked_constructors",
]

CHECKED_VERSIONS = ("3.0.0", "3.1.0", "3.1.1", "3.1.2", "3.1.3")

# private name -> its positional parameters, as every checked version defines them
_INTERNALS: dict[str, tuple[str, ...]] = {
    "_make_skeleton_class": ("type_constructor", "name", "bases", "type_kwargs", "class_tracker_id", "extra"),
    "_make_skeleton_enum": ("bases", "name", "qualname", "members", "module", "class_tracker_id", "extra"),
    "_builtin_type": ("name",),
    "_is_registered_pickle_by_value": ("module",),
    "_class_setstate": ("obj", "state"),
}


def installed_version() -> str:
    import cloudpickle

    return str(getattr(cloudpickle, "__version__", "unknown"))


def _module() -> ModuleType:
    import cloudpickle.cloudpickle as internals

    return internals


def internals_problems() -> list[str]:
    """What differs from the checked versions in the installed cloudpickle ([] when nothing does)."""
    import inspect

    internals = _module()
    problems = []
    for name, parameters in _INTERNALS.items():
        function = getattr(internals, name, None)
        if not callable(function):
            problems.append(f"cloudpickle.cloudpickle.{name} is missing")
            continue
        try:
            found = tuple(inspect.signature(function).parameters)
        except (TypeError, ValueError):
            continue  # a builtin without a signature: nothing to compare
        if found != parameters:
            problems.append(f"cloudpickle.cloudpickle.{name} takes ({', '.join(found)}), not ({', '.join(parameters)})")
    return problems


@functools.cache
def check_internals() -> None:
    """Raise :class:`DependencyError` naming the installed cloudpickle when an internal we rely on changed."""
    problems = internals_problems()
    if problems:
        raise DependencyError(
            f"remoteimport relies on cloudpickle internals checked with cloudpickle {', '.join(CHECKED_VERSIONS)}, "
            f"but the installed cloudpickle {installed_version()} differs: {'; '.join(problems)}. Install a "
            "checked version (pip install 'cloudpickle>=3.0,<3.2') or upgrade remoteimport."
        )


def is_registered_pickle_by_value(module: ModuleType) -> bool:
    """True when ``module`` is registered with ``cloudpickle.register_pickle_by_value`` (by anyone)."""
    check_internals()
    return bool(_module()._is_registered_pickle_by_value(module))


def untracked_constructors() -> dict[Callable[..., Any], Callable[..., Any]]:
    """``{cloudpickle's skeleton constructor: a replacement that skips the class tracker}``, for an unpickler's
    ``find_class``: each unpickled class is a new class object, never one cloudpickle saw before."""
    check_internals()
    internals = _module()

    def make_class(type_constructor: Any, name: Any, bases: Any, type_kwargs: Any, tracker_id: Any, extra: Any) -> Any:
        return internals._make_skeleton_class(type_constructor, name, bases, type_kwargs, None, extra)

    def make_enum(bases: Any, name: Any, qualname: Any, members: Any, module: Any, tracker_id: Any, extra: Any) -> Any:
        return internals._make_skeleton_enum(bases, name, qualname, members, module, None, extra)

    return {internals._make_skeleton_class: make_class, internals._make_skeleton_enum: make_enum}


def legacy_code_constructor() -> Callable[[str], Any]:
    """cloudpickle's ``_builtin_type``, which payloads made by cloudpickle's own code-object reduction name."""
    check_internals()
    return _module()._builtin_type


def legacy_code_interceptor(adopt: Callable[[Any], Any]) -> Callable[[str], Any]:
    """A stand-in for :func:`legacy_code_constructor` that passes every code object it builds through
    ``adopt(code)`` (which returns the code to use); other built-in types are left as they are."""
    builtin_type = legacy_code_constructor()

    def intercepted(name: str) -> Any:
        made = builtin_type(name)
        if name != "CodeType":
            return made

        def make_code(*args: Any) -> Any:
            return adopt(made(*args))

        return make_code

    return intercepted


def class_setstate_constructor() -> Callable[[Any, Any], Any]:
    """cloudpickle's ``_class_setstate(obj, (namespace, slot state))``, which payloads of by-value classes name."""
    check_internals()
    return _module()._class_setstate
