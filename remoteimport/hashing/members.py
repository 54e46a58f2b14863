"""Member rules: which parts of a class namespace are its identity, and which are machinery.

What the interpreter derives (``__dict__``, ``__qualname__``, line numbers ...), what a framework adds, the
methods class factories generate (dataclasses, named tuples, attrs: their fields are encoded instead), enum's
bookkeeping, and members a base already defines are left out; dataclass fields and enum members are described
here for the encoder to encode, and so are a pydantic model's fields and decorators (its schema, validator and
serializer, which embed the class's address, are left out: :mod:`remoteimport._pydantic`). Classes of frameworks
that cannot travel by value (msgspec, SQLAlchemy) are refused here, by :func:`unsupported_framework`.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import types
import typing
from collections.abc import Mapping
from typing import Any

from remoteimport import _pydantic
from remoteimport.capture import made_by_loaded_version, object_travels_by_value
from remoteimport.framework import is_framework_member, is_protocol_init, unwrap_method
from remoteimport.hashing import source  # by module: a patched helper (tests: reference run) is seen here too

# Always derived by the interpreter, or positional (line numbers), or differing between Python versions.
_DERIVED_MEMBERS = frozenset(
    {
        "__dict__",
        "__weakref__",
        "__module__",
        "__qualname__",
        "__firstlineno__",
        "__static_attributes__",
        "__abstractmethods__",
        "_abc_impl",
        "__slotnames__",  # cached by copyreg the first time an instance is pickled
        "__parameters__",
        "__protocol_attrs__",
        "__callable_proto_members_only__",
        "__non_callable_proto_members__",
        "_is_protocol",
        "_is_runtime_protocol",
        "__readonly_keys__",  # 3.13's TypedDict: derived from the annotations (ReadOnly[...]), which are encoded
        "__mutable_keys__",
        "__dataclass_fields__",  # encoded separately, field by field
        "__dataclass_params__",
    }
)


def _unless_missing(value: Any) -> Any:
    # By type, not identity: a class loaded from a store carries a copy of dataclasses.MISSING.
    return "<MISSING>" if type(value) is type(dataclasses.MISSING) else value


_DATACLASS_PARAMS = ("init", "repr", "eq", "order", "unsafe_hash", "frozen")
_FIELD_ATTRS = ("init", "repr", "hash", "compare", "kw_only")


def _innermost_code(func: Any) -> Any:
    """The code of a function, of a static/class method's, or of what a ``functools.wraps`` wrapper wraps."""
    func = unwrap_method(func)
    while hasattr(func, "__wrapped__"):
        func = func.__wrapped__
    return getattr(func, "__code__", None)


def _is_attrs_file(filename: str) -> bool:
    """Code attrs generated (it registers the text with linecache) or its own functions it puts on a class
    (``__getstate__``, ``__setattr__``, 3.13's ``__replace__``), wherever attrs is installed, also once loaded
    (with a version-tagged file name)."""
    if filename.startswith("<attrs generated "):
        return True
    filename = filename.rpartition(" [")[0] if filename.endswith("]") else filename
    return filename.replace("\\", "/").endswith("/attr/_make.py")


def _is_generated_code(func: Any) -> bool:
    """Code exec'd from a string by a class factory (dataclass ``__init__``, namedtuple ``__new__``, attrs'
    methods), also when wrapped with ``functools.wraps`` (3.10's dataclass ``__repr__``), and attrs' own
    functions it puts on a class. attrs' generated ``__hash__`` embeds a str hash, which PYTHONHASHSEED changes."""
    code = _innermost_code(func)
    if code is None:
        return False
    if _is_attrs_file(code.co_filename):
        return True
    if not code.co_filename.startswith("<"):
        return False
    # "<string>" may have lines in linecache (3.13 registers `python -c` code there) that are not this code's.
    return source._source_encoding(code)[0] is None


def _is_attrs_code(func: Any) -> bool:
    """What attrs generated or put on a class that has source: the rule before they were left out (versions
    stored then) hashed it like any method."""
    code = _innermost_code(func)
    return code is not None and _is_attrs_file(code.co_filename) and source._source_encoding(code)[0] is not None


def _is_user_function(value: Any) -> bool:
    target = unwrap_method(value)
    if not isinstance(target, types.FunctionType):
        return False
    return object_travels_by_value(target) or made_by_loaded_version(target)


def _enum_members(cls: Any) -> dict[str, Any]:
    """Name -> value of every member and alias. A class attribute holding a member counts too: from 3.11 on,
    cloudpickle rebuilds a Flag's multi-bit alias (``ALL = A | B``) as such an attribute. Sorted like any
    mapping, so the member order of 3.10 (which iterates multi-bit flags) and 3.11+ cannot differ."""
    members = {name: member.value for name, member in cls.__members__.items()}
    for name, value in vars(cls).items():
        if name not in members and isinstance(value, cls):
            members[name] = value.value
    return members


_ABSENT = object()


def _inherited_namespace(cls: type) -> Mapping[str, Any]:
    """What the direct bases define, the way cloudpickle sees it: it leaves out of a pickled class every member
    that *is* the base's (the ``__hash__ = None`` Python adds next to ``__eq__`` ...); the class it rebuilds then
    inherits that member. Both must hash alike, so such members are no part of the encoding either."""
    if len(cls.__bases__) == 1:
        return vars(cls.__bases__[0])
    merged: dict[str, Any] = {}
    for base in reversed(cls.__bases__):
        merged.update(vars(base))
    return merged


def _class_members(
    cls: type, *, attrs_generated_code: bool = False, typing_init: bool = False
) -> list[tuple[str, Any]]:
    """The members that make the class's identity, sorted. ``attrs_generated_code``: keep what attrs generated
    (with its source) and its own functions, as versions pushed before attrs' were left out were hashed;
    ``typing_init``: keep the ``__init__`` typing puts on a subclass of a Protocol when it is first instantiated,
    as versions pushed before it was left out were hashed (:func:`remoteimport.hashing.stored_class_hash`)."""
    namespace = vars(cls)
    is_namedtuple = issubclass(cls, tuple) and "_fields" in namespace
    # Class factories that record the fields they generate methods from on the class: dataclasses, named
    # tuples, attrs (whose generated __hash__ embeds a str hash, which PYTHONHASHSEED changes). The fields are
    # encoded; the generated code (exec'd from a string, no source file) is not.
    generates_methods = "__dataclass_fields__" in namespace or is_namedtuple or "__attrs_attrs__" in namespace
    is_dataclass = "__dataclass_fields__" in namespace
    is_enum = isinstance(cls, enum.EnumMeta)
    is_pydantic = _pydantic.is_model(cls)
    inherited = _inherited_namespace(cls)
    members = []
    for name, value in namespace.items():
        if name in _DERIVED_MEMBERS or type(value).__name__ == "member_descriptor":
            continue
        if inherited.get(name, _ABSENT) is value:
            continue  # the very object a base defines (``__hash__ = None`` next to ``__eq__``): inherited anyway
        if name == "__init__" and not typing_init and is_protocol_init(cls, value):
            continue  # typing put it there at the first instantiation: the class is the same before and after
        if name == "__doc__" and (value is None or is_enum and value == "An enumeration."):
            continue
        if name == "__annotations__" and not value:
            continue
        if name == "__orig_bases__" and not any(typing.get_origin(base) for base in value):
            continue  # no generic parameters, only what the bases say (3.12 adds it to NamedTuple, TypedDict)
        if is_framework_member(value) or (
            generates_methods and _is_generated_code(value) and not (attrs_generated_code and _is_attrs_code(value))
        ):
            continue
        if is_pydantic and _pydantic.is_derived_member(name, value):
            continue  # schema, validator ... (embedding id(cls)): framework_description() describes the rest
        if is_enum and (name in cls.__members__ or isinstance(value, cls)):
            continue  # members (and aliases held as plain attributes) are encoded by _enum_members
        if is_enum and name[:2] == "__" and name != "__doc__" and not _is_user_function(value):
            continue  # dunders enum copies in from the mixed-in type (IntEnum.__format__ from 3.11 on)
        if is_enum and name[:1] == "_" == name[-1:] and name[:2] != "__" and not _is_user_function(value):
            continue  # enum's own _sunder_ bookkeeping (_member_map_ ...), which varies between versions
        if is_namedtuple and type(value).__name__ == "_tuplegetter":
            continue  # field accessors, derived from _fields (and moved between modules in 3.12)
        if is_dataclass and name == "__hash__" and value is None:
            continue
        if is_dataclass and name == "__doc__" and isinstance(value, str) and value.startswith(cls.__name__ + "("):
            continue  # dataclass's generated signature doc, which may embed default reprs
        if name == "__doc__" and isinstance(value, str):
            value = inspect.cleandoc(value)  # 3.13 strips docstring indentation at compile time
        if is_pydantic and name == "model_config":
            value = _pydantic.config_description(value)  # without what the installed pydantic derives in it
        members.append((name, value))
    members.sort(key=lambda item: item[0])
    return members


# Metaclasses that are no part of a class's encoding: enum's is implied by its members, encoded apart.
_ENUM_METACLASSES = {enum.EnumMeta}


def _dataclass_params(cls: type) -> str:
    """The arguments ``@dataclass(...)`` was given that change the generated methods."""
    params = vars(cls)["__dataclass_params__"]
    return "dataclass(" + ",".join(f"{p}={getattr(params, p)}" for p in _DATACLASS_PARAMS) + ")"


def _field_description(name: str, field: dataclasses.Field) -> tuple[Any, ...]:
    """What a dataclass field means: its name, type, default (or factory), flags, metadata and kind."""
    default, factory = _unless_missing(field.default), _unless_missing(field.default_factory)
    flags = tuple(_unless_missing(getattr(field, attr, None)) for attr in _FIELD_ATTRS)
    return (name, field.type, default, factory, flags, dict(field.metadata), field._field_type.name)


def framework_description(cls: type) -> tuple[Any, ...] | None:
    """What a framework's class machinery made of the class statement, described without what it derives:
    a pydantic model's fields and decorator records (:func:`remoteimport._pydantic.describe`). None for other
    classes (dataclass fields are encoded by the encoder itself)."""
    return _pydantic.describe(cls) if _pydantic.is_model(cls) else None


_INSTALL_IT = (
    "Keep it in a package installed (pip install, not editable) on both hosts: installed classes travel by name"
)


_SQLALCHEMY_MEMBERS = ("__mapper__", "__table__", "_sa_registry", "_sa_class_manager")


def unsupported_framework(cls: type) -> str | None:
    """Why a class of the user's own code cannot travel by value, or None. Such a framework builds what the
    class needs when the ``class`` statement runs (a C layout, a mapper registered with others), which a class
    rebuilt on another host as an empty skeleton and then its namespace never gets again: it would load broken."""
    namespace = vars(cls)
    if type(cls) is type and "_sa_class_manager" not in namespace and "__is_pydantic_dataclass__" not in namespace:
        return None  # the common case, in one test
    name = cls.__qualname__
    metaclass_module = type(cls).__module__ or ""
    if metaclass_module.partition(".")[0] == "msgspec":
        return (
            f"{name} is a msgspec.Struct, which cannot travel by value: msgspec lays its fields out in C when the "
            f"class is created ({name}.__struct_fields__), and a class rebuilt from its namespace on another host "
            f"would have no fields. {_INSTALL_IT}"
        )
    mapped = [member for member in _SQLALCHEMY_MEMBERS if member in namespace]
    if metaclass_module.partition(".")[0] == "sqlalchemy" or mapped:
        member = mapped[0] if mapped else "__class__"
        return (
            f"{name} is a SQLAlchemy declarative class, which cannot travel by value: its mapper and table "
            f"({name}.{member}) are registered with the others of its registry and MetaData when the class is "
            f"created (weak references, locks, event hooks), which a class rebuilt on another host would lack. "
            f"{_INSTALL_IT}"
        )
    if _pydantic.is_unbuilt(cls):
        return (
            f"{name} is a pydantic model that is not built yet (model_config defer_build=True, or an annotation "
            f"pydantic could not resolve): its validator ({name}.__pydantic_validator__) is a placeholder that "
            f"cannot travel. Call {name}.model_rebuild() before pushing it (the loading host builds it again anyway)"
        )
    if "__is_pydantic_dataclass__" in namespace:
        return (
            f"{name} is a pydantic dataclass, which remoteimport does not support yet: its schema and validator "
            f"({name}.__pydantic_validator__) embed the class's address. Make it a pydantic.BaseModel, or "
            f"{_INSTALL_IT[0].lower()}{_INSTALL_IT[1:]}"
        )
    return None
