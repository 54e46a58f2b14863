"""The only module that names pydantic's internals: what a pydantic v2 model derives when its class is created,
what of it the hash describes instead, and how a loaded model gets its derived parts again.

A model's class statement is turned by pydantic's ``ModelMetaclass`` into fields (``__pydantic_fields__``: the
class attributes and annotations become ``FieldInfo`` objects and leave the namespace), decorator records
(``__pydantic_decorators__``: which method validates or serializes what), and from those a core schema, a
validator and a serializer. The schema, the validator, the serializer and the decorator records embed the
class's ``id()`` (``'ref': 'myproj.Config:94855474335632'``): hashed as they are, a model would get another hash in
every process. So (docs/hashing.md, "Members frameworks derive"):

- **hashing** leaves :data:`DERIVED_MEMBERS` out and encodes :func:`describe` instead: every field, in order,
  by what ``Field(...)`` and the annotation say, and every decorator by its kind, name, function and arguments
  (never the ``cls_ref`` string that holds the address). Everything else of the class (methods with their
  decorators, ``model_config``, ``__annotations__``, private attributes ...) is hashed like any class member;
- **loading** (:func:`regenerate_models`, called by :mod:`remoteimport.regenerate` on every load) throws away the
  schema, validator, serializer, signature and caches the payload brought, and has pydantic build them again
  (``model_rebuild(force=True)``) from the fields, decorator records and config, which the hash covers (through
  :func:`describe`): a payload cannot smuggle in a validator its hash does not name. (A decorator record's
  ``cls_ref`` stays the pushing process's string: pydantic uses it only in one error message.)

Stdlib only at module level; pydantic is never imported here: a class is a model only if pydantic is already
imported (:func:`is_model`), and then its modules are in ``sys.modules``.

Checked against pydantic **2.13.4** and **2.14.4**, which hash a model alike (:data:`CHECKED_VERSIONS`;
tests/e2e/test_frameworks_e2e.py builds a venv of each);
:func:`internals_problems` names what changed in another release (tests/test_frameworks.py runs it).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

__all__ = [
    "CHECKED_VERSIONS",
    "DERIVED_MEMBERS",
    "HASHED_MEMBERS",
    "config_description",
    "describe",
    "field_description",
    "internals_problems",
    "is_derived_member",
    "is_model",
    "is_unbuilt",
    "parametrization",
    "regenerate_models",
]

CHECKED_VERSIONS = ("pydantic 2.13.4 (pydantic-core 2.46.4)", "pydantic 2.14.4 (pydantic-core 2.50.5)")

_CONSTRUCTION = "pydantic._internal._model_construction"  # ModelMetaclass, _DeprecatedFieldDescriptor

# Derived by ModelMetaclass.__new__ and complete_model_class() from the class statement, or caches: never hashed,
# rebuilt on load. The fields and decorator records are described by describe() instead.
DERIVED_MEMBERS = frozenset(
    {
        "__pydantic_core_schema__",  # embeds id(cls) in its refs
        "__pydantic_validator__",  # built from the schema (pickled with it)
        "__pydantic_serializer__",
        "__pydantic_decorators__",  # its Decorator.cls_ref embeds id(cls): described by describe()
        "__pydantic_fields__",  # described by describe()
        "__pydantic_computed_fields__",  # from the decorator records
        "__pydantic_complete__",
        "__pydantic_custom_init__",  # from __init__
        "__pydantic_post_init__",  # from model_post_init
        "__pydantic_setattr_handlers__",  # a cache filled by use
        "__pydantic_parent_namespace__",  # the defining frame's locals (a process's objects)
        "__signature__",  # from the fields and __init__
    }
)

# What else ModelMetaclass puts in a model's namespace: plain data (or a function of pydantic's around the user's
# model_post_init), the same in every process, hashed like any member; the rebuilt model uses them as loaded.
HASHED_MEMBERS = frozenset(
    {
        "model_config",  # merged with the bases' config
        "model_post_init",  # pydantic's wrapper that also sets private attributes
        "__class_vars__",
        "__private_attributes__",  # PrivateAttr defaults, taken out of the namespace
        "__pydantic_generic_metadata__",  # origin, args and parameters of a generic model
        "__pydantic_extra_info__",  # the annotation of __pydantic_extra__, if any
    }
)

# Names this module uses, checked by internals_problems(): (module, attribute).
_INTERNALS = (
    (_CONSTRUCTION, "ModelMetaclass"),
    (_CONSTRUCTION, "_DeprecatedFieldDescriptor"),
    ("pydantic.fields", "FieldInfo"),
    ("pydantic.fields", "ModelPrivateAttr"),
    ("pydantic._internal._decorators", "DecoratorInfos"),
    ("pydantic._internal._decorators", "Decorator"),
    ("pydantic.main", "BaseModel"),
)


def is_model(cls: type) -> bool:
    """True for a pydantic v2 model class (``BaseModel`` and its subclasses); never imports pydantic."""
    construction = sys.modules.get(_CONSTRUCTION)
    return construction is not None and isinstance(cls, construction.ModelMetaclass)


def is_unbuilt(cls: type) -> bool:
    """A model pydantic has not built yet (``defer_build=True``, or an annotation it could not resolve): its
    validator is a placeholder (``MockValSer``) that builds the model on first use, and does not unpickle."""
    return is_model(cls) and vars(cls).get("__pydantic_complete__") is False


def parametrization(cls: type) -> tuple[type, tuple[Any, ...]] | None:
    """``(origin, args)`` for a class pydantic made by parametrizing a generic model (``RootModel[list[str]]``,
    ``Page[int]``), else None. Such a class exists only once something asks for it: pydantic names it after the
    parametrization and files it in its origin's module only in the process that made it."""
    if not is_model(cls):
        return None
    metadata = vars(cls).get("__pydantic_generic_metadata__") or {}
    origin = metadata.get("origin")
    return (origin, tuple(metadata.get("args", ()))) if origin is not None else None


def is_derived_member(name: str, value: Any) -> bool:
    """A member of a model's class namespace that pydantic derived (see :data:`DERIVED_MEMBERS`), including the
    descriptors ``complete_model_class`` puts on deprecated fields."""
    return name in DERIVED_MEMBERS or (
        type(value).__name__ == "_DeprecatedFieldDescriptor" and type(value).__module__ == _CONSTRUCTION
    )


def describe(cls: type) -> tuple[Any, ...]:
    """What the hash encodes of a model instead of its derived members: plain data and the user's functions.

    - every field (inherited ones too), in the order pydantic keeps them (the order of ``model_dump``): its name
      and the ``FieldInfo`` attributes that are set (:func:`_field`);
    - every decorator record, by kind and name: the function, the shim pydantic wraps it in (if any) and the
      decorator's arguments (``@field_validator("name", mode="before")``, a computed field's property and return
      type). Not its ``cls_ref``, which embeds the class's address."""
    namespace = vars(cls)
    fields = [(name, _field(info)) for name, info in namespace.get("__pydantic_fields__", {}).items()]
    return ("pydantic", fields, _decorators(namespace.get("__pydantic_decorators__")))


# model_config keys that pydantic 2.11-2.13 derive from `populate_by_name` (2.14 no longer does): a config that
# says populate_by_name has them implied, whatever the installed pydantic wrote.
_IMPLIED_BY_POPULATE_BY_NAME = {"validate_by_name": True, "validate_by_alias": True}


def config_description(config: Any) -> Any:
    """A model's ``model_config`` as the hash encodes it: what the class statement (and its bases) said, without
    the keys the installed pydantic derives from them, so one source hashes alike under every pydantic 2."""
    if not isinstance(config, dict) or not config.get("populate_by_name"):
        return config
    return {
        key: value
        for key, value in config.items()
        if not (key in _IMPLIED_BY_POPULATE_BY_NAME and value == _IMPLIED_BY_POPULATE_BY_NAME[key])
    }


def field_description(value: Any) -> dict[str, Any] | None:
    """A pydantic ``FieldInfo`` or ``ModelPrivateAttr`` met anywhere (a field, ``__private_attributes__``, a
    default) by its public attributes (:func:`_field`), never its private caches: pydantic 2.14 fills
    ``ModelPrivateAttr._default_factory_takes_validated_data`` on first use, so hashing the whole state gave a
    model another hash once it had been used. None for anything else."""
    fields = sys.modules.get("pydantic.fields")
    if fields is None or not isinstance(value, (fields.FieldInfo, fields.ModelPrivateAttr)):
        return None
    return _field(value)


def _field(info: Any) -> dict[str, Any]:
    """A ``FieldInfo`` by its public attributes that are set (``None`` is pydantic's "not given", except for a
    default; ``repr=True`` and empty metadata are its defaults): attributes a later pydantic adds, unset, change
    nothing. A required field's default is pydantic's undefined marker, recorded as ``"<required>"``."""
    described: dict[str, Any] = {"kind": type(info).__name__} if type(info).__name__ != "FieldInfo" else {}
    for name in type(info).__slots__:
        if name[:1] == "_":
            continue
        value = getattr(info, name, None)
        if name == "default":
            described[name] = "<required>" if type(value).__name__ == "PydanticUndefinedType" else value
        elif value is None or (name == "repr" and value is True) or (name == "metadata" and not value):
            continue
        else:
            described[name] = value
    return described


def _decorators(infos: Any) -> dict[str, dict[str, tuple[Any, Any, Any]]]:
    if infos is None:
        return {}
    kinds = {kind: getattr(infos, kind) for kind in type(infos).__dataclass_fields__}
    return {
        kind: {name: (record.func, record.shim, record.info) for name, record in records.items()}
        for kind, records in kinds.items()
        if records
    }


def regenerate_models(classes: Iterable[type]) -> None:
    """Give the models among ``classes`` (the classes a payload made) their derived members again, built by this
    host's pydantic from the fields, decorator records and config the hash covers; what the payload brought of
    them is dropped first, for every model, so that no model's schema is built from another's shipped one."""
    models = [cls for cls in classes if is_model(cls)]
    if not models:
        return
    base_model = sys.modules["pydantic.main"].BaseModel
    for cls in models:
        namespace = vars(cls)
        for name in ("__pydantic_core_schema__", "__pydantic_validator__", "__pydantic_serializer__", "__signature__"):
            if name in namespace:
                type.__delattr__(cls, name)
        for name, value in list(namespace.items()):
            if is_derived_member(name, value) and name not in DERIVED_MEMBERS:
                type.__delattr__(cls, name)  # a deprecated field's descriptor: set again below
        # As ModelMetaclass.__new__ sets them:
        type.__setattr__(cls, "__pydantic_setattr_handlers__", {})
        type.__setattr__(cls, "__pydantic_parent_namespace__", None)
        type.__setattr__(cls, "__pydantic_custom_init__", not getattr(cls.__init__, "__pydantic_base_init__", False))
        post_init = None if cls.model_post_init is base_model.model_post_init else "model_post_init"
        type.__setattr__(cls, "__pydantic_post_init__", post_init)
    for cls in models:
        # _parent_namespace_depth=0: resolve names in nothing of this frame (the fields' types are resolved).
        cls.model_rebuild(force=True, _parent_namespace_depth=0)


def internals_problems() -> list[str]:
    """What of the pydantic internals this module names is missing in the installed pydantic ([] if all there)."""
    import importlib

    problems = []
    for module_name, attribute in _INTERNALS:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            problems.append(f"{module_name} cannot be imported ({exc})")
            continue
        if not hasattr(module, attribute):
            problems.append(f"{module_name}.{attribute} is missing")
    if problems:
        return problems
    fields = sys.modules["pydantic.fields"].FieldInfo
    if not {"annotation", "default", "default_factory", "metadata"} <= set(getattr(fields, "__slots__", ())):
        problems.append("FieldInfo.__slots__ no longer lists annotation, default, default_factory and metadata")
    infos = sys.modules["pydantic._internal._decorators"].DecoratorInfos
    if "field_validators" not in getattr(infos, "__dataclass_fields__", {}):
        problems.append("DecoratorInfos is no longer a dataclass with field_validators")
    decorator = sys.modules["pydantic._internal._decorators"].Decorator
    if not {"func", "shim", "info", "cls_ref"} <= set(getattr(decorator, "__dataclass_fields__", {})):
        problems.append("Decorator no longer has the fields func, shim, info and cls_ref")
    base_model = sys.modules["pydantic.main"].BaseModel
    rebuild = getattr(base_model.model_rebuild, "__func__", None)
    parameters = getattr(getattr(rebuild, "__code__", None), "co_varnames", ())
    if "force" not in parameters or "_parent_namespace_depth" not in parameters:
        problems.append("BaseModel.model_rebuild() no longer takes force and _parent_namespace_depth")
    if getattr(base_model.__init__, "__pydantic_base_init__", None) is not True:
        problems.append("BaseModel.__init__ no longer carries __pydantic_base_init__")
    return problems
