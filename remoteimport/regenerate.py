"""Loading a version pushed from another Python: what its shipped source cannot rebuild.

The loader compiles the code of a version pushed from another CPython from the shipped source
(:class:`~remoteimport.code_objects.CodeRebuilder`). Two things need more:

- **Methods made at run time by a class factory** — the ``__init__``, ``__repr__``, ``__eq__`` ... that
  :mod:`dataclasses` builds with ``exec``, and ``namedtuple``'s ``__new__`` — have no source. They follow
  from the fields (the hash leaves them out for that reason), so :func:`regenerate` asks the same factory on
  this Python to make them again, from the fields and parameters the payload carries. Nothing else of the
  class changes.
- **Members the standard library's class machinery puts on a class** (``typing.Protocol``'s
  ``__subclasshook__`` and ``__init__``, ``enum``'s ...) are the pushing Python's in the payload, and may use
  private helpers this Python lacks. The hash leaves them out; the new class already got this Python's own
  when it was made, and :func:`keep_native_members` keeps those. A private standard-library name this Python
  lacks unpickles as a :class:`VanishedGlobal` that says so when used.
- **Standard-library objects whose layout differs between versions**: ``dataclasses``' parameters record
  gained fields in 3.12. :func:`substitute_class` gives the unpickler a class that accepts either layout.
  It also makes ``dataclasses.MISSING`` unpickle as itself (pickle would make a copy, which ``dataclasses``
  does not recognise when a loaded dataclass is subclassed), on every load.

And on every load, from any Python: **what a framework derives from a class statement** and the hash leaves out
(a pydantic model's schema, validator and serializer, which embed the class's address) is dropped from what
the payload brought and built again by this host's framework, from the members the hash covers
(:func:`remoteimport._pydantic.regenerate_models`).
"""

from __future__ import annotations

import contextlib
import sys
import types

from remoteimport import _memo, _pydantic
from remoteimport.code_objects import CodeRebuilder, python_tag
from remoteimport.errors import IncompatibleBlobError
from remoteimport.framework import FRAMEWORK_MODULES, is_framework_member, unwrap_method

# dataclasses, inspect and collections are imported only where a payload needs them: a class that is not a
# dataclass or a namedtuple loads without them (docs/performance.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import dataclasses
    from collections.abc import Callable, Iterator
    from typing import Any

__all__ = ["VanishedGlobal", "keep_native_members", "regenerate", "substitute_class", "vanished_global"]

# Parameters of dataclasses.dataclass() that a pushing Python may lack, with the defaults it implied.
_PARAMETER_DEFAULTS = {"match_args": True, "kw_only": False, "slots": False, "weakref_slot": False}


@_memo.cache
def _missing_class() -> type:
    """A ``dataclasses._MISSING_TYPE`` that unpickles (NEWOBJ calls ``__new__``) as the one ``MISSING``."""
    import dataclasses

    def __new__(cls: type, *args: Any) -> Any:
        return dataclasses.MISSING

    return type("_Missing", (dataclasses._MISSING_TYPE,), {"__new__": __new__, "__module__": __name__})


@_memo.cache
def _params_class() -> type:
    """``dataclasses._DataclassParams`` with a slot for every parameter some supported Python records."""
    import dataclasses

    params = dataclasses._DataclassParams  # type: ignore[attr-defined]
    have = set(getattr(params, "__slots__", ()))
    missing = tuple(name for name in _PARAMETER_DEFAULTS if name not in have)
    if not missing or not have:
        return params
    return type(params.__name__, (params,), {"__slots__": missing, "__module__": params.__module__})


def substitute_class(found: Any, *, cross_version: bool) -> Any:
    """What the unpickler uses for the global ``found`` (itself, for nearly everything)."""
    dataclasses = sys.modules.get("dataclasses")
    if dataclasses is None:  # then found is none of its names
        return found
    if found is dataclasses._MISSING_TYPE:  # type: ignore[attr-defined]
        return _missing_class()
    if cross_version and found is dataclasses._DataclassParams:  # type: ignore[attr-defined]
        return _params_class()
    return found


class VanishedGlobal:
    """What a private name of the standard library that this Python lacks unpickles as (another Python's
    helper, referenced by a member this Python replaces); using it says what happened."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __repr__(self) -> str:
        return f"<{self.module}.{self.name}: not in this Python {sys.version_info[0]}.{sys.version_info[1]}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise IncompatibleBlobError(
            f"{self.module}.{self.name} (used by a version pushed from another Python) does not exist in this "
            f"Python {sys.version_info[0]}.{sys.version_info[1]}; load that version with the Python it was pushed from"
        )


def vanished_global(module: str, name: str) -> VanishedGlobal | None:
    """A stand-in for ``module.name`` when it is a private name of the standard library (which changes
    between Python versions without notice), else None."""
    top = module.partition(".")[0]
    if name.startswith("_") and (top in sys.stdlib_module_names or top in sys.builtin_module_names):
        return VanishedGlobal(module, name)
    return None


def _is_framework_function(value: Any) -> bool:
    return isinstance(unwrap_method(value), VanishedGlobal) or is_framework_member(value)


# What the pushing Python derived from a class body that this one derives its own way or not at all: left out
# of a class pushed from another Python. typing.Protocol's caches (3.12+, recomputed here by
# _rerun_framework_metaclasses); 3.13's __firstlineno__ and __static_attributes__ on older Pythons, whose
# typing would take them for members of a Protocol.
_FOREIGN_DERIVED = frozenset(
    {"__protocol_attrs__", "__callable_proto_members_only__", "__non_callable_proto_members__"}
    | ({"__firstlineno__", "__static_attributes__"} if sys.version_info < (3, 13) else set())
)


def keep_native_members(
    class_setstate: Callable[[Any, Any], Any], rebuilder: CodeRebuilder
) -> Callable[[Any, Any], Any]:
    """A stand-in for cloudpickle's ``_class_setstate`` that keeps a framework member (see the module
    docstring) this Python already put on the new class when the pushed one cannot run here: its code could not
    be rebuilt, or it uses a private standard-library name this Python lacks."""

    def setstate(obj: Any, state: Any) -> Any:
        namespace, slot_state = state
        own = vars(obj)
        kept = {
            name: value
            for name, value in namespace.items()
            if name not in _FOREIGN_DERIVED
            and not (name in own and _is_framework_function(own[name]) and _cannot_run(value, rebuilder))
        }
        return class_setstate(obj, (kept, slot_state))

    return setstate


def _cannot_run(value: Any, rebuilder: CodeRebuilder) -> bool:
    if isinstance(value, VanishedGlobal):
        return True
    for function in _functions(value):
        if function.__code__ in rebuilder.stand_ins:
            return True
        used = [function.__globals__.get(name) for name in function.__code__.co_names]
        used += [cell.cell_contents for cell in function.__closure__ or () if _filled(cell)]
        if any(isinstance(item, VanishedGlobal) for item in used):
            return True
    return False


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def regenerate(cls: type, rebuilder: CodeRebuilder) -> None:
    """Replace the stand-ins ``rebuilder`` made for run-time generated methods (see the module docstring) in
    ``cls``, its by-value bases and nested classes; raise :class:`IncompatibleBlobError` if any is left.
    First, on every load, the derived members of the pydantic models the payload made (see the module docstring).
    """
    _pydantic.regenerate_models(rebuilder.classes)
    if rebuilder.pushed_from in (None, python_tag()):
        _regenerate_factory_methods(rebuilder)
        return
    classes = _related_classes(cls, rebuilder.classes)
    _drop_vanished_members(classes)
    _rerun_framework_metaclasses(classes, rebuilder.classes)
    if not rebuilder.stand_ins:
        return
    for klass in _with_stand_ins(classes, rebuilder):
        generated = [name for name, value in vars(klass).items() if _stand_ins_of(value, rebuilder)]
        if "__dataclass_fields__" in vars(klass) and "__dataclass_params__" in vars(klass):
            _regenerate_dataclass(klass, generated)
        elif issubclass(klass, tuple) and "_fields" in vars(klass) and generated == ["__new__"]:
            _regenerate_namedtuple_new(klass)
    for klass in _with_stand_ins(classes, rebuilder):
        name, value = next((n, v) for n, v in vars(klass).items() if _stand_ins_of(v, rebuilder))
        what = rebuilder.stand_ins[_stand_ins_of(value, rebuilder)[0]]
        raise IncompatibleBlobError(
            f"{rebuilder.label}: {klass.__qualname__}.{name} cannot run on this Python {python_tag()}: "
            f"the code of {what}. Load {rebuilder.label} with Python {rebuilder.pushed_from}."
        )


# What dataclasses.dataclass generates (by exec, so with no source): on any Python, made again from the fields and
# parameters, which the hash covers.
_DATACLASS_METHODS = frozenset(
    {
        "__init__", "__repr__", "__eq__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__",
        "__setattr__", "__delattr__", "__getstate__", "__setstate__", "__replace__",
    }
)  # fmt: skip


def _regenerate_factory_methods(rebuilder: CodeRebuilder) -> None:
    """On the pushing Python a payload's bytecode runs as it is. What ``dataclasses`` and ``namedtuple`` generated
    has no source, so neither the hash (which covers the fields and parameters instead) nor the agreement of
    bytecode and shipped source vouches for it: a store writer could change a dataclass's ``__init__`` and keep
    the version's hash. So it is made again from the fields and parameters here too, as on another Python."""
    if not rebuilder.unverified:
        return
    for klass in rebuilder.classes:
        namespace = vars(klass)
        codes = {
            name: [function.__code__ for function in _functions(value) if function.__code__ in rebuilder.unverified]
            for name, value in list(namespace.items())
        }
        generated = [name for name, found in codes.items() if found]
        if not generated:
            continue
        if "__dataclass_fields__" in namespace and "__dataclass_params__" in namespace:
            if not set(generated) <= _DATACLASS_METHODS:
                continue
            _regenerate_dataclass(klass, generated)
        elif issubclass(klass, tuple) and "_fields" in namespace and generated == ["__new__"]:
            _regenerate_namedtuple_new(klass)
        else:
            continue
        for name in generated:
            for code in codes[name]:
                rebuilder.mark_replaced(code)


def _drop_vanished_members(classes: list[type]) -> None:
    """Members the pushing Python's machinery added that this Python's lacks (3.13's dataclass
    ``__replace__`` is ``dataclasses._replace``): this Python would not have added them, so they go."""
    for klass in classes:
        for name, value in list(vars(klass).items()):
            if isinstance(unwrap_method(value), VanishedGlobal):
                type.__delattr__(klass, name)


def _rerun_framework_metaclasses(classes: list[type], made: list[type]) -> None:
    """A framework metaclass's ``__init__`` computes facts from the class namespace (3.12's
    ``typing.Protocol`` keeps the protocol's members in ``__protocol_attrs__``). The payload's classes were
    made empty and then filled, so this Python's metaclass saw nothing: let it look again, as class creation
    does. Only for metaclasses of ``typing`` and friends (user metaclasses ran at creation, as designed)."""
    made_ids = {id(klass) for klass in made}
    for klass in classes:
        metaclass = type(klass)
        if id(klass) not in made_ids or metaclass.__module__ not in FRAMEWORK_MODULES:
            continue
        if metaclass.__init__ is not type.__init__:
            metaclass.__init__(klass, klass.__name__, klass.__bases__, dict(vars(klass)))


def _related_classes(cls: type, made: list[type]) -> list[type]:
    """The classes the payload made (in the order made: bases first), and ``cls``, its bases and the classes
    nested in them, bases before subclasses."""
    found: list[type] = []
    seen: set[int] = set()

    def visit(klass: type) -> None:
        if id(klass) in seen:
            return
        seen.add(id(klass))
        for base in reversed(klass.__mro__[1:]):
            visit(base)
        for value in list(vars(klass).values()):
            if isinstance(value, type):
                visit(value)
        found.append(klass)

    for klass in [*made, cls]:
        visit(klass)
    return found


def _with_stand_ins(classes: list[type], rebuilder: CodeRebuilder) -> list[type]:
    return [klass for klass in classes if any(_stand_ins_of(value, rebuilder) for value in vars(klass).values())]


def _functions(value: Any) -> Iterator[types.FunctionType]:
    """The functions a class attribute holds: itself, a static/class method's, a property's accessors, and
    what a ``functools.wraps`` wrapper wraps."""
    pending, seen = [value], set()
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, types.FunctionType):
            yield item
            wrapped = item.__dict__.get("__wrapped__")
            if wrapped is not None:
                pending.append(wrapped)
        elif isinstance(item, (staticmethod, classmethod)):
            pending.append(unwrap_method(item))
        elif isinstance(item, property):
            pending.extend(accessor for accessor in (item.fget, item.fset, item.fdel) if accessor is not None)


def _stand_ins_of(value: Any, rebuilder: CodeRebuilder) -> list[types.CodeType]:
    return [function.__code__ for function in _functions(value) if function.__code__ in rebuilder.stand_ins]


@_memo.cache
def _dataclass_parameters() -> tuple[str, ...]:
    import dataclasses
    import inspect

    return tuple(name for name in inspect.signature(dataclasses.dataclass).parameters if name != "cls")


def _regenerate_dataclass(klass: type, generated: list[str]) -> None:
    """Run this Python's ``dataclasses.dataclass`` over ``klass`` again, in place, with the generated methods
    taken out and each field given as the ``Field`` the payload carries; every other attribute is put back
    exactly as it was (slots stay slots: the class is not remade)."""
    import dataclasses

    fields: dict[str, dataclasses.Field] = vars(klass)["__dataclass_fields__"]
    params = vars(klass)["__dataclass_params__"]
    own = [name for name in vars(klass).get("__annotations__", {}) if name in fields]
    saved = {name: vars(klass)[name] for name in own if name in vars(klass)}
    for name in generated:
        delattr(klass, name)
    for name in own:
        field = fields[name]
        for attribute in ("default", "default_factory", "kw_only"):
            if type(getattr(field, attribute, None)) is dataclasses._MISSING_TYPE:  # type: ignore[attr-defined]
                setattr(field, attribute, dataclasses.MISSING)
        type.__setattr__(klass, name, field)
    arguments = {name: getattr(params, name, _PARAMETER_DEFAULTS.get(name)) for name in _dataclass_parameters()}
    arguments["slots"] = False  # the class already has its slots; slots=True would make another class
    arguments.pop("weakref_slot", None)
    with _annotation_namespace(klass, fields):
        remade = dataclasses.dataclass(klass, **arguments)
    assert remade is klass
    for name in own:
        if name in saved:
            type.__setattr__(klass, name, saved[name])
        elif name in vars(klass):
            type.__delattr__(klass, name)


@contextlib.contextmanager
def _annotation_namespace(klass: type, fields: dict[str, Any]) -> Iterator[None]:
    """While ``dataclasses`` processes ``klass`` again: its string annotations (``from __future__ import
    annotations``) are classified (ClassVar, InitVar, KW_ONLY) through ``sys.modules[klass.__module__]``, which a
    host without the source lacks. A stand-in module is put there meanwhile, holding the names the class's methods
    use and, for each annotation's head name, what the payload's fields say it was (so ``CV[int]`` after ``from
    typing import ClassVar as CV`` is a ClassVar again). A module that exists is left as it is."""
    import dataclasses
    import re
    import typing

    module_name = klass.__module__
    if sys.modules.get(module_name) is not None:
        yield
        return
    namespace: dict[str, Any] = {}
    for value in vars(klass).values():
        for function in _functions(value):
            namespace.update({k: v for k, v in function.__globals__.items() if not k.startswith("__")})
    kinds = {"_FIELD_CLASSVAR": (typing, "ClassVar"), "_FIELD_INITVAR": (dataclasses, "InitVar")}
    for name, annotation in vars(klass).get("__annotations__", {}).items():
        if not isinstance(annotation, str):
            continue
        head = re.match(r"^(?:\s*(\w+)\s*\.)?\s*(\w+)", annotation)
        if head is None:
            continue
        field = fields.get(name)
        kind = getattr(getattr(field, "_field_type", None), "name", None) if field is not None else "KW_ONLY"
        owner, attribute = kinds.get(kind or "", (dataclasses, "KW_ONLY") if kind == "KW_ONLY" else (None, None))
        if owner is None:
            continue
        if head.group(1):
            namespace[head.group(1)] = owner
        else:
            namespace[head.group(2)] = getattr(owner, attribute)
    stand_in = types.ModuleType(module_name)
    stand_in.__dict__.update(namespace)
    sys.modules[module_name] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(module_name) is stand_in:
            del sys.modules[module_name]


def _regenerate_namedtuple_new(klass: type) -> None:
    """``namedtuple``'s ``__new__`` is ``eval``'d from a string; make this Python's for the same fields and
    give it the pickled one's defaults."""
    stand_in = vars(klass)["__new__"]
    stand_in = unwrap_method(stand_in)
    import collections

    fresh = collections.namedtuple(klass.__name__, klass._fields).__new__  # type: ignore[attr-defined]
    made = types.FunctionType(fresh.__code__, fresh.__globals__, "__new__", stand_in.__defaults__, fresh.__closure__)
    made.__qualname__ = stand_in.__qualname__
    made.__doc__ = stand_in.__doc__
    made.__kwdefaults__ = stand_in.__kwdefaults__
    made.__module__ = stand_in.__module__
    type.__setattr__(klass, "__new__", staticmethod(made))
