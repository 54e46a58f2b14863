"""The only module that patches LabChain (PyPI ``framework3``, import ``labchain``) or names its private parts.

LabChain gives two hooks, and :mod:`remoteimport.integrations.labchain` plugs into both without patching: a
``PetClassManager`` subclass as ``Container.pcm``, and as the persistent factory's manager. Three things have no
hook; they are replaced here, and :func:`internals_problems` (run by tests/e2e/test_labchain.py against the
framework3 the tests install) names the installed framework3 when any of them changes:

- ``BasePlugin.__new__`` rewrites the class being instantiated, every time: it replaces ``__init__`` with a
  closure around a typeguard-instrumented copy, sets ``_original_init_stored`` and replaces every method with a
  typeguard-instrumented copy (recompiled from its *module's* source). A class's content hash would change with
  its first instance, a push of it afterwards would ship bytecode its source does not compile to, and on a host
  that loaded the class from a store there is no module source: instantiation fails. :func:`plugin_new` does
  the same for the instance (LabChain's attribute bookkeeping) and leaves the class alone when remoteimport
  hashes it by content (the user's own code, or a version loaded from a store); it checks the constructor's
  arguments against ``__init__``'s annotations with typeguard's public ``check_type`` instead. LabChain's own
  plugins (hashed by name) keep the original.
- ``BasePlugin.item_dump`` gives an Enum member its ``.value`` and a dataclass instance a plain dict: neither
  comes back as what it was. :func:`item_dump` is LabChain's, with such parameters first turned into nested
  configs (``{"clazz": ..., "version_hash": ..., "params": ...}``) that ``build_from_dump`` constructs again.
- ``PetFactory`` keeps its manager and the versions it registered in ``_manager`` and ``_version_control``:
  :func:`set_factory_manager` and :func:`record_factory_version` write them.

Checked against framework3 **1.2.11** (:data:`CHECKED_VERSIONS`).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import threading
import types
import typing
import weakref
from collections.abc import Callable
from typing import Any

from remoteimport.errors import DependencyError

__all__ = [
    "CHECKED_VERSIONS",
    "check_internals",
    "content_hashed",
    "install",
    "installed_version",
    "internals_problems",
    "record_factory_version",
    "set_factory_manager",
]

CHECKED_VERSIONS = ("1.2.11",)
_LOG = logging.getLogger("remoteimport")

# "module:qualname" -> sha256 of its source in every checked version. These are what the replacements copy
# (__new__, item_dump) or what the integration relies on LabChain doing (bind writes the hash its manager gives
# into `_hash`; the factory asks its `_manager`; build_from_dump asks the factory's get_version).
SOURCE_DIGESTS = {
    "labchain.base.base_clases:BasePlugin.__new__": (
        "f89f0d91700278a368309860c4c210a75829975c300d71c00c4beafdd3be089a"
    ),
    "labchain.base.base_clases:BasePlugin.item_dump": (
        "fd68e87a598edce6768072b5768786893cb97f967a0518edabdfc189c957060b"
    ),
    "labchain.base.base_clases:BasePlugin.build_from_dump": (
        "e3aa3f2a3d7253a40d79913ebeaf4a53e17bddaa1c404b9f7b6cb74b4ddbb419"
    ),
    "labchain.container.container:Container.bind": ("7169e52c77e5e92fd4b816e07c1619d770487ef67b9a4216ad2817fdd8b9e48b"),
    "labchain.container.persistent.pet_factory:PetFactory.__init__": (
        "295b516be8e7298827344614d0eed4df1c1d40cde073c7d6739d40892d478650"
    ),
    "labchain.container.persistent.pet_factory:PetFactory.__getitem__": (
        "3f4d8aa48048f967c6d44535c0edfcc3fe3c9dc2f8f5cc259b572af52014afa0"
    ),
    "labchain.container.persistent.pet_factory:PetFactory.get_version": (
        "ccf6a02f795c30cf1da18a501b36654404e55561fadcfabab4a9ea20fc7da854"
    ),
    "labchain.container.persistent.pet_factory:PetFactory.push_all": (
        "d2ea13691d22ecd000ce26e84d4572ed655d074734c79ad6dfa5375c403ae579"
    ),
}
# What the manager overrides: LabChain's PetClassManager must still call them by these names and parameters.
MANAGER_METHODS = {
    "_get_remote_latest_meta": ("self", "class_name"),
    "check_status": ("self", "class_obj"),
    "get_class_hash": ("self", "class_obj"),
    "persist_class": ("self", "class_obj"),
    "push": ("self", "class_obj"),
    "pull": ("self", "class_name", "code_hash"),
    "recover_class": ("self", "class_name", "code_hash"),
}


def installed_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("framework3")
    except metadata.PackageNotFoundError:
        return "unknown"


def _source_digest(target: Any) -> str:
    return hashlib.sha256(inspect.getsource(target).encode("utf-8")).hexdigest()


def _resolve(dotted: str) -> Any:
    import importlib

    module_name, _, qualname = dotted.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        found = found.__dict__[part] if isinstance(found, type) else getattr(found, part)
    if isinstance(found, (staticmethod, classmethod)):
        found = found.__func__
    return _ORIGINALS.get(dotted, found)


def internals_problems(*, digests: bool = True) -> list[str]:
    """What differs from the framework3 versions this module was checked against: a missing piece, a changed
    parameter list of a manager method, and (``digests``) a changed source of what is copied or relied on."""
    problems = []
    for dotted, digest in SOURCE_DIGESTS.items():
        try:
            target = _resolve(dotted)
        except (ImportError, AttributeError, KeyError):
            problems.append(f"{dotted} is missing")
            continue
        if digests:
            try:
                found = _source_digest(target)
            except (OSError, TypeError):
                problems.append(f"{dotted} has no source to check")
                continue
            if found != digest:
                problems.append(f"{dotted} changed (source sha256 {found}, checked: {digest})")
    try:
        from labchain.container.persistent.pet_class_manager import PetClassManager
    except ImportError:
        return [*problems, "labchain.container.persistent.pet_class_manager:PetClassManager is missing"]
    for name, parameters in MANAGER_METHODS.items():
        method = PetClassManager.__dict__.get(name)
        if method is None:
            problems.append(f"PetClassManager.{name} is missing")
            continue
        found_parameters = tuple(inspect.signature(method).parameters)
        if found_parameters != parameters:
            problems.append(f"PetClassManager.{name} takes {found_parameters}, not {parameters}")
    return problems


def check_internals() -> None:
    """Raise :class:`DependencyError` naming the installed framework3 when a piece the integration replaces or
    calls is missing, or a manager method takes other parameters (source changes: the tests' business)."""
    problems = internals_problems(digests=False)
    if problems:
        raise DependencyError(
            f"framework3 {installed_version()} differs from the versions remoteimport.integrations.labchain was "
            f"checked against ({', '.join(CHECKED_VERSIONS)}): {'; '.join(problems)}. Install one of those "
            f"(pip install 'framework3=={CHECKED_VERSIONS[-1]}')."
        )
    if installed_version() not in CHECKED_VERSIONS:
        _LOG.warning(
            "framework3 %s is not among the versions remoteimport.integrations.labchain was checked against (%s)",
            installed_version(),
            ", ".join(CHECKED_VERSIONS),
        )


# ---------------------------------------------------------------------------------------------------------
# The factory's private attributes


def set_factory_manager(factory: Any, manager: Any) -> None:
    """Make ``manager`` the one ``factory`` (a ``PetFactory``) asks for latest versions, pulls and pushes."""
    factory._manager = manager


def record_factory_version(factory: Any, name: str, full_hash: str) -> None:
    """What ``factory.get_version(name, full_hash)`` answers from memory (the class registered under ``name``)."""
    factory._version_control[name] = full_hash


# ---------------------------------------------------------------------------------------------------------
# Instantiation that leaves content-hashed classes alone

_ORIGINALS: dict[str, Any] = {}  # "module:qualname" -> LabChain's own, while replaced
_INSTALL_LOCK = threading.Lock()
_CONTENT_HASHED: weakref.WeakKeyDictionary[type, bool] = weakref.WeakKeyDictionary()
# class -> (its __init__, {parameter: resolved annotation}) for the constructor check
_INIT_HINTS: weakref.WeakKeyDictionary[type, tuple[Any, dict[str, Any]]] = weakref.WeakKeyDictionary()
_VALUE_ENCODER: list[Callable[[Any], Any]] = []


def content_hashed(cls: type) -> bool:
    """True when remoteimport hashes ``cls`` by content: the user's own code, or a class a loaded version made.
    LabChain must not rewrite those (the hash would change; a loaded one has no module source to rewrite)."""
    known = _CONTENT_HASHED.get(cls)
    if known is None:
        from remoteimport.capture import made_by_loaded_version, object_travels_by_value

        known = _CONTENT_HASHED[cls] = object_travels_by_value(cls) or made_by_loaded_version(cls)
    return known


def plugin_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    """``BasePlugin.__new__`` of framework3 1.2.11 without what it does to the class (module docstring)."""
    if not content_hashed(cls):
        return _ORIGINALS["labchain.base.base_clases:BasePlugin.__new__"](cls, *args, **kwargs)
    from labchain.base.base_clases import BasePlugin

    instance = super(BasePlugin, cls).__new__(cls)  # type: ignore[misc]
    # LabChain's bookkeeping, as its __new__ does it: which keyword arguments are public and private attributes.
    init_signature = inspect.signature(cls.__init__)  # type: ignore[misc]
    has_var_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in init_signature.parameters.values())
    instance.__dict__["_init_signature"] = init_signature
    instance.__dict__["_has_var_keyword"] = has_var_keyword
    if has_var_keyword:
        instance.__dict__["_public_attributes"] = {k: v for k, v in kwargs.items() if not k.startswith("_")}
        instance.__dict__["_private_attributes"] = {k: v for k, v in kwargs.items() if k.startswith("_")}
    else:
        parameters = init_signature.parameters
        instance.__dict__["_public_attributes"] = {
            k: v for k, v in kwargs.items() if not k.startswith("_") and k in parameters
        }
        instance.__dict__["_private_attributes"] = {
            k: v for k, v in kwargs.items() if k.startswith("_") and k in parameters
        }
    instance.__dict__["_initialization_complete"] = False
    if __debug__:  # as typeguard's @typechecked, which does nothing under python -O
        _check_arguments(cls, init_signature, args, kwargs)
    return instance


def _check_arguments(cls: type, signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """The arguments of ``cls(...)`` against ``__init__``'s annotations (typeguard.TypeCheckError, as LabChain's
    instrumented ``__init__`` raises). Annotations that do not resolve here are not checked."""
    from typeguard import TypeCheckError, check_type

    try:
        bound = signature.bind(None, *args, **kwargs)  # None: self
    except TypeError:
        return  # __init__ itself raises the error Python gives
    hints = _init_hints(cls)
    if not hints:
        return
    for name, value in list(bound.arguments.items())[1:]:
        hint = hints.get(name)
        if hint is None or hint is Any:
            continue
        kind = signature.parameters[name].kind
        expected = (
            tuple[hint, ...]  # type: ignore[valid-type]
            if kind is inspect.Parameter.VAR_POSITIONAL
            else dict[str, hint]  # type: ignore[valid-type]
            if kind is inspect.Parameter.VAR_KEYWORD
            else hint
        )
        try:
            check_type(value, expected)
        except TypeCheckError as exc:
            raise TypeCheckError(f'argument "{name}" of {cls.__qualname__}(): {exc}') from None


def _init_hints(cls: type) -> dict[str, Any]:
    init = cls.__init__  # type: ignore[misc]
    cached = _INIT_HINTS.get(cls)
    if cached is not None and cached[0] is init:
        return cached[1]
    hints: dict[str, Any] = {}
    annotations = getattr(init, "__annotations__", None) or {}
    namespace = getattr(init, "__globals__", {})
    for name, annotation in annotations.items():
        if name == "return":
            continue
        try:
            # One at a time: a name the loading host cannot resolve leaves only that parameter unchecked.
            alone = types.SimpleNamespace(__annotations__={name: annotation})
            hints[name] = typing.get_type_hints(alone, namespace)[name]
        except Exception:  # noqa: BLE001 - any failure to evaluate an annotation means: not checked
            _LOG.debug("%s.__init__: the annotation of %r does not resolve here; not checked", cls.__qualname__, name)
    _INIT_HINTS[cls] = (init, hints)
    return hints


# ---------------------------------------------------------------------------------------------------------
# item_dump that keeps Enum members and dataclass instances


def item_dump(self: Any, include: list[str] = [], **kwargs: Any) -> dict[str, Any]:  # noqa: B006 - LabChain's
    """``BasePlugin.item_dump`` of framework3 1.2.11, with Enum and dataclass parameters (at any depth of lists,
    tuples and dicts) first made nested configs by the integration's value encoder."""
    import numpy as np
    from fastapi.encoders import jsonable_encoder
    from labchain.base.base_clases import BasePlugin

    encode = _VALUE_ENCODER[0]
    custom_encoder = {
        BasePlugin: lambda v: v.item_dump(include=include, **kwargs),
        type: lambda v: {"clazz": v.__name__, "version_hash": v._hash},
        np.integer: lambda x: int(x),
        np.floating: lambda x: float(x),
    }
    included = {k: v for k, v in self._private_attributes.items() if k in include}
    dump = {
        "clazz": self.__class__.__name__,
        "version_hash": self._hash,
        "params": jsonable_encoder(encode(self._public_attributes), custom_encoder=custom_encoder, **kwargs),
    }
    if include != []:
        dump.update(**jsonable_encoder(encode(included), custom_encoder=custom_encoder, **kwargs))
    return dump


# ---------------------------------------------------------------------------------------------------------
# Installing the replacements


def install(value_encoder: Callable[[Any], Any]) -> None:
    """Replace ``BasePlugin.__new__`` and ``BasePlugin.item_dump`` (once; later calls change the encoder only)."""
    from labchain.base.base_clases import BasePlugin

    with _INSTALL_LOCK:
        _VALUE_ENCODER[:] = [value_encoder]
        new_name = "labchain.base.base_clases:BasePlugin.__new__"
        if new_name not in _ORIGINALS:
            _ORIGINALS[new_name] = BasePlugin.__dict__["__new__"].__func__
            _ORIGINALS["labchain.base.base_clases:BasePlugin.item_dump"] = BasePlugin.__dict__["item_dump"]
            BasePlugin.__new__ = staticmethod(plugin_new)  # type: ignore[assignment]
            BasePlugin.item_dump = item_dump  # type: ignore[method-assign]
