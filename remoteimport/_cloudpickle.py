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

**Loading without importing cloudpickle.** A payload names the functions that rebuild it
(``cloudpickle.cloudpickle._make_function``, ``_class_setstate`` ...). Importing cloudpickle to get them costs a
fresh process more than everything else a pinned import does (``typing``, ``inspect``, ``dataclasses``,
``logging``, ``platform``, ``uuid``: docs/performance.md), so the loader's unpickler takes them from
:func:`reconstructor`: copies of the few that by-value classes and functions use, identical in behaviour to
cloudpickle's in every checked version (what :data:`RECONSTRUCTOR_DIGESTS` records and
:func:`reconstructor_problems` checks: a release that changes one is named), except that classes are not
tracked (see above). Any other name is cloudpickle's own, imported then.
"""

from __future__ import annotations

import builtins
import sys
import types

from remoteimport import _memo
from remoteimport.errors import DependencyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

__all__ = [
    "CHECKED_VERSIONS",
    "check_internals",
    "class_setstate_constructor",
    "function_constructor",
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
    """The installed cloudpickle's version, from its metadata when cloudpickle is not imported (a load does not
    import it: see the module docstring)."""
    module = sys.modules.get("cloudpickle")
    if module is None:
        from remoteimport._distributions import distribution_version

        version = distribution_version("cloudpickle")
        if version is not None:
            return version
        import cloudpickle as module
    return str(getattr(module, "__version__", "unknown"))


def _module() -> ModuleType:
    import cloudpickle.cloudpickle as internals

    return internals


def internals_problems(*, reconstructors: bool = True) -> list[str]:
    """What differs from the checked versions in the installed cloudpickle ([] when nothing does).

    ``reconstructors``: also compare cloudpickle's reconstructors with the loader's copies (reading their
    source: ~25 ms). The test suite does, against the lowest and the newest allowed cloudpickle; a push does
    not (a copy that rebuilt a class otherwise would fail the post-load re-hash, which runs again whenever the
    installed cloudpickle changes: loader._environment_key)."""
    import inspect

    internals = _module()
    problems = reconstructor_problems() if reconstructors else []
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


@_memo.cache
def check_internals() -> None:
    """Raise :class:`DependencyError` naming the installed cloudpickle when an internal we rely on changed."""
    problems = internals_problems(reconstructors=False)
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
    """``{the skeleton constructor a payload's find_class gives: one that skips the class tracker}``: each
    unpickled class is a new class object, never one cloudpickle saw before. (The copies
    :func:`reconstructor` gives never track: each maps to itself.)"""
    return {_make_skeleton_class: _make_skeleton_class, _make_skeleton_enum: _make_skeleton_enum}


def legacy_code_constructor() -> Callable[[str], Any]:
    """``_builtin_type``, which payloads made by cloudpickle's own code-object reduction name."""
    return _builtin_type


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


def function_constructor() -> Callable[..., Any]:
    """``_make_function(code, globals, name, argdefs, closure)``, which payloads of by-value functions name."""
    return _make_function


def class_setstate_constructor() -> Callable[[Any, Any], Any]:
    """``_class_setstate(obj, (namespace, slot state))``, which payloads of by-value classes name."""
    return _class_setstate


# ---------------------------------------------------------------------------------------------------------
# The reconstructors a payload names, without importing cloudpickle (see the module docstring). Each is
# cloudpickle's function of the same name (3.1.x's where 3.0.0 differs: 3.1 also interns type_kwargs keys and
# keeps 3.13's __firstlineno__), but that skeletons are never looked up in or added to its class tracker.


def _instance(cls: type) -> Any:
    return cls()


@_instance
class _empty_cell_value:  # noqa: N801 - cloudpickle's name (an instance, as there): payloads may name it
    """Sentinel for empty closures."""

    @classmethod
    def __reduce__(cls) -> str:
        return cls.__name__


def _make_function(code: Any, globals: Any, name: Any, argdefs: Any, closure: Any) -> Any:  # noqa: A002
    # Setting __builtins__ in globals is needed for nogil CPython.
    globals["__builtins__"] = __builtins__
    return types.FunctionType(code, globals, name, argdefs, closure)


def _function_setstate(obj: Any, state: Any) -> None:
    state, slotstate = state
    obj.__dict__.update(state)
    obj_globals = slotstate.pop("__globals__")
    obj_closure = slotstate.pop("__closure__")
    # the submodules a function needs were imported by unpickling them; they only served as references
    slotstate.pop("_cloudpickle_submodules")
    obj.__globals__.update(obj_globals)
    obj.__globals__["__builtins__"] = __builtins__
    if obj_closure is not None:
        for index, cell in enumerate(obj_closure):
            try:
                value = cell.cell_contents
            except ValueError:  # cell is empty
                continue
            obj.__closure__[index].cell_contents = value
    for key, value in slotstate.items():
        setattr(obj, key, value)


def _make_empty_cell() -> Any:
    return types.CellType()


def _make_cell(value: Any = _empty_cell_value) -> Any:
    cell = _make_empty_cell()
    if value is not _empty_cell_value:
        cell.cell_contents = value
    return cell


def subimport(name: str) -> Any:
    __import__(name)  # __import__("a.b") returns a: the submodule is sys.modules' entry
    return sys.modules[name]


def dynamic_subimport(name: str, vars: dict[str, Any]) -> Any:  # noqa: A002
    module = types.ModuleType(name)
    module.__dict__.update(vars)
    module.__dict__["__builtins__"] = builtins.__dict__
    return module


def _builtin_type(name: str) -> Any:
    if name == "ClassType":  # payloads of cloudpickle < 1.3
        return type
    return getattr(types, name)


def _class_setstate(obj: Any, state: Any) -> Any:
    state, slotstate = state
    registry = None
    for attrname, attr in state.items():
        if attrname == "_abc_impl":
            registry = attr
        else:
            setattr(obj, attrname, attr)
    if sys.version_info >= (3, 13) and "__firstlineno__" in state:
        # the setattr above deleted it again (type.__setattr__ does so for __firstlineno__)
        obj.__firstlineno__ = state["__firstlineno__"]
    if registry is not None:
        for subclass in registry:
            obj.register(subclass)
    return obj


def _make_skeleton_class(
    type_constructor: Any, name: Any, bases: Any, type_kwargs: Any, class_tracker_id: Any, extra: Any
) -> Any:
    type_kwargs = {sys.intern(key): value for key, value in type_kwargs.items()}
    return types.new_class(name, bases, {"metaclass": type_constructor}, lambda ns: ns.update(type_kwargs))


def _make_skeleton_enum(
    bases: Any, name: Any, qualname: Any, members: Any, module: Any, class_tracker_id: Any, extra: Any
) -> Any:
    enum_base = bases[-1]  # an enum's Enum base comes last
    metacls = enum_base.__class__
    classdict = metacls.__prepare__(name, bases)
    for member_name, member_value in members.items():
        classdict[member_name] = member_value
    enum_class = metacls.__new__(metacls, name, bases, classdict)
    enum_class.__module__ = module
    enum_class.__qualname__ = qualname
    return enum_class


_RECONSTRUCTORS: dict[str, Any] = {"_empty_cell_value": _empty_cell_value} | {
    function.__name__: function
    for function in (
        _make_function,
        _function_setstate,
        _make_empty_cell,
        _make_cell,
        subimport,
        dynamic_subimport,
        _builtin_type,
        _class_setstate,
        _make_skeleton_class,
        _make_skeleton_enum,
    )
}
#: The modules a payload names them in (cloudpickle_fast: a 3.x alias module of older payloads' names).
PAYLOAD_MODULES = frozenset({"cloudpickle.cloudpickle", "cloudpickle.cloudpickle_fast"})

#: name -> digests of cloudpickle's function (its source without the docstring: _source_digest) in every
#: checked version whose behaviour the copy above has. _make_skeleton_class and _class_setstate changed in 3.1.0
#: (interning; __firstlineno__): 3.0.0's are listed too, since the copies do what 3.1 added on top, harmlessly.
RECONSTRUCTOR_DIGESTS: dict[str, frozenset[str]] = {
    "_empty_cell_value": frozenset({"cb38f3"}),
    "_make_function": frozenset({"66e9a6"}),
    "_function_setstate": frozenset({"e50581"}),
    "_make_empty_cell": frozenset({"ef8612"}),
    "_make_cell": frozenset({"db8fec"}),
    "subimport": frozenset({"a5b415"}),
    "dynamic_subimport": frozenset({"e41f1f"}),
    "_builtin_type": frozenset({"e41efa"}),
    "_class_setstate": frozenset({"f66e66", "aae4dc", "235178"}),  # 3.0.0; 3.1.0-3.1.1; 3.1.2+ (a comment)
    "_make_skeleton_class": frozenset({"d7a2ce", "807b6e"}),  # 3.0.0; 3.1.0+
    "_make_skeleton_enum": frozenset({"d68efb"}),
}


def reconstructor(module: str, name: str) -> Any:
    """What a payload's ``module.name`` (a :data:`PAYLOAD_MODULES` module) means: the copy above, else
    cloudpickle's own."""
    found = _RECONSTRUCTORS.get(name)
    if found is not None:
        return found
    import importlib

    return getattr(importlib.import_module(module), name)


def _source_digest(source: str) -> str:
    """The first 6 hex digits of the SHA-256 of a top-level definition's source text (from its first decorator to
    its last line), its docstring and blank lines left out: the same on every Python (an AST dump is not)."""
    import ast
    import hashlib

    lines = source.splitlines()
    node = ast.parse(source).body[0]
    keep = set(range(node.end_lineno or len(lines)))  # type: ignore[attr-defined]
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        if isinstance(body[0].value.value, str):
            keep -= set(range(body[0].lineno - 1, body[0].end_lineno or body[0].lineno))
    text = "\n".join(lines[index].rstrip() for index in sorted(keep) if lines[index].strip())
    return hashlib.sha256(text.encode()).hexdigest()[:6]


def reconstructor_problems() -> list[str]:
    """The reconstructors whose cloudpickle original differs from every checked version's ([] when none)."""
    import inspect
    import textwrap

    internals = _module()
    problems = []
    for name, digests in RECONSTRUCTOR_DIGESTS.items():
        original = getattr(internals, name, None)
        if original is None:
            problems.append(f"cloudpickle.cloudpickle.{name} is missing")
            continue
        defined = original if isinstance(original, (type, types.FunctionType)) else type(original)
        found = _source_digest(textwrap.dedent(inspect.getsource(defined)))
        if found not in digests:
            problems.append(f"cloudpickle.cloudpickle.{name} changed (source digest {found})")
    return problems
