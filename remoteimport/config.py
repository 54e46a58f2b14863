"""Configs: rebuild an object from the exact class versions and constructor arguments it was made with.

``dump(obj)`` gives a JSON-safe dict; ``build(config)`` makes a new object from it, importing every class
through the hook at the version the config pins::

    {"clazz": "labchain_remote.Pipeline@<full hash>",
     "params": {"filters": [{"clazz": "labchain_remote.MyFilter@<full hash>", "params": {"scale": 3}}]}}

Instances of ``@persist`` classes record the arguments they were constructed with: ``persist`` wraps the
class's own ``__init__`` in :func:`_recording_init`. The wrapper lives here, in an installed module, so it
travels by reference, and the class's hash still covers the original ``__init__`` by content (the hasher
encodes an installed closure by its name and the contents of its cells). See docs/configs.md for why, and
for when to pickle a trained instance instead. Its name, ``remoteimport.config:_recording_init.<locals>.__init__``,
is therefore part of the hash of every persisted class with an ``__init__`` of its own, and stored payloads name
``remoteimport.config._record``: moving them to another module would make every such stored class
``out_of_sync``, so recording stays here (``registry.persist`` imports it when a class is decorated).

A config is input from outside, so ``build`` constructs **only classes from the store** (through the trust
policy of the namespace's store): an installed class (``package.module:Class``) is built only when the caller
allows it by name, because constructing one can run anything (``subprocess:Popen``)::

    >>> import remoteimport
    >>> config = {"clazz": "fractions:Fraction", "params": {"numerator": 3, "denominator": 4}}
    >>> remoteimport.build(config, allow=["fractions:Fraction"])
    Fraction(3, 4)
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import math
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from remoteimport import _env
from remoteimport.capture import REMOTE_MODULE_MARKER
from remoteimport.errors import ConfigError
from remoteimport.names import format_reference, parse_reference, validate_hash, validate_namespace

if TYPE_CHECKING:
    from remoteimport.store import Store

__all__ = ["ConfigError", "ENV_BUILD_ALLOW", "dump", "build", "recorded_arguments"]

_CONFIG_KEYS = ("clazz", "params")
ENV_BUILD_ALLOW = _env.BUILD_ALLOW  # comma-separated installed classes build() may construct


# ---------------------------------------------------------------------------------------------------------
# Recording constructor arguments (installed by @persist)

# id(instance) -> (weak reference to it, its arguments); the entry goes when the instance dies. Kept beside the
# object, never in its state, so its pickles, copies, vars() and __eq__ are unchanged.
_ARGUMENTS: dict[int, tuple[weakref.ref[Any], dict[str, Any]]] = {}
_SIGNATURES: weakref.WeakKeyDictionary[Callable[..., Any], inspect.Signature] = weakref.WeakKeyDictionary()


def _recording_init(original: Callable[..., None]) -> Callable[..., None]:
    """Wrap a class's own ``__init__`` so its instances remember the arguments they were made with.

    Deterministic and content-hashed: the hasher encodes this closure as ``remoteimport.config:
    _recording_init.<locals>.__init__`` plus its one cell, ``original``, by content. ``__wrapped__`` lets
    ``inspect.signature(cls)`` see the original parameters."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        _record(self, original, args, kwargs)

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    __init__.__doc__ = original.__doc__
    __init__.remoteimport_records_arguments = True  # type: ignore[attr-defined]
    return __init__


def record_constructor_arguments(cls: type) -> None:
    """Make ``cls`` record its instances' constructor arguments (idempotent; called by ``@persist``).

    Only a class's *own* ``__init__`` is wrapped: a class that inherits one records through its base when
    the base is persisted (and otherwise records nothing, which :func:`dump` reports)."""
    import enum

    own = vars(cls).get("__init__")
    if not callable(own) or getattr(own, "remoteimport_records_arguments", False) or isinstance(cls, enum.EnumMeta):
        return
    if not inspect.isfunction(own):
        return  # a staticmethod, a C function, a functools.partialmethod...: not a plain method to wrap
    cls.__init__ = _recording_init(own)  # type: ignore[misc]


def _record(instance: Any, original: Callable[..., None], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    # Only the __init__ the instance's class really uses records: a base's wrapper called through super()
    # from an unrecorded subclass __init__ must not pass the base's arguments off as the subclass's.
    if getattr(type(instance).__init__, "__wrapped__", None) is not original:
        return
    signature = _SIGNATURES.get(original)
    if signature is None:
        signature = _SIGNATURES[original] = inspect.signature(original)
    try:
        bound = signature.bind(instance, *args, **kwargs)
    except TypeError:
        return
    arguments = dict(list(bound.arguments.items())[1:])  # without self
    key = id(instance)
    try:
        reference = weakref.ref(instance, lambda _: _ARGUMENTS.pop(key, None))
    except TypeError:
        return  # no __weakref__ (a __slots__ class): dump() explains
    _ARGUMENTS[key] = (reference, arguments)


def recorded_arguments(obj: Any) -> dict[str, Any] | None:
    """The constructor arguments ``obj`` was made with (as given, without defaults), or None if not recorded."""
    entry = _ARGUMENTS.get(id(obj))
    if entry is None or entry[0]() is not obj:
        return None
    return dict(entry[1])


# ---------------------------------------------------------------------------------------------------------
# dump


def dump(obj: Any, *, store: Store | str | None = None, namespace: str | None = None) -> dict[str, Any]:
    """The config of ``obj``: ``{"clazz": "<namespace>.<Name>@<full hash>", "params": {...}}``, JSON-safe.

    ``params`` are the arguments ``obj`` was constructed with; instances of persisted classes among them
    (also inside lists and dicts) are dumped the same way. A class imported through the hook is named by
    the version it was loaded at; a local ``@persist`` class by its content hash, which must already be in
    ``store`` (default: the store given to ``@persist``, else the default store) — dump never pushes.

        >>> config = remoteimport.dump(MyFilter(scale=3))                       # doctest: +SKIP
        >>> config                                                               # doctest: +SKIP
        {'clazz': 'labchain_remote.MyFilter@9f2c...', 'params': {'scale': 3}}
    """
    namespace = validate_namespace(namespace if namespace is not None else _env.namespace())
    if not _is_dumpable_instance(obj):
        raise ConfigError(
            f"dump() takes an instance of a @remoteimport.persist class (or of a class imported through the "
            f"hook), not a {type(obj).__module__}.{type(obj).__qualname__}"
        )
    return _Dumper(store, namespace).instance(obj, "config")


class _Dumper:
    def __init__(self, store: Any, namespace: str) -> None:
        self.store = store
        self.namespace = namespace
        self.references: dict[type, str] = {}  # one hash and one store check per class
        self.active: list[int] = []  # ids of the objects and containers being dumped (a cycle is an error)

    def instance(self, obj: Any, path: str) -> dict[str, Any]:
        cls = type(obj)
        reference = self.reference(cls, path)
        arguments = recorded_arguments(obj)
        if arguments is None:
            if cls.__init__ is not object.__init__:
                raise ConfigError(_unrecorded_message(cls, path))
            arguments = {}
        with self.entered(obj, path):
            params = {name: self.value(value, f"{path}.{name}") for name, value in arguments.items()}
        return {"clazz": reference, "params": params}

    @contextlib.contextmanager
    def entered(self, obj: Any, path: str) -> Iterator[None]:
        if id(obj) in self.active:
            raise ConfigError(f"cannot dump {path}: it contains itself (a config is a tree, not a graph)")
        self.active.append(id(obj))
        try:
            yield
        finally:
            self.active.pop()

    def value(self, value: Any, path: str) -> Any:
        if value is None or type(value) in (bool, int, str):
            return value
        if type(value) is float:
            if not math.isfinite(value):
                raise ConfigError(f"cannot dump {path} = {value!r}: JSON has no NaN or infinity")
            return value
        if type(value) in (list, tuple):
            with self.entered(value, path):
                return [self.value(item, f"{path}[{index}]") for index, item in enumerate(value)]
        if type(value) is dict:
            for key in value:
                if not isinstance(key, str):
                    raise ConfigError(
                        f"cannot dump {path}: its key {key!r} is a {type(key).__name__}; JSON object keys are "
                        "strings (convert the keys, or pass a list of pairs)"
                    )
            if "clazz" in value:
                raise ConfigError(
                    f"cannot dump {path}: a plain dict with a 'clazz' key would be read back as an object by "
                    "build(); rename that key"
                )
            with self.entered(value, path):
                return {key: self.value(item, f"{path}[{key!r}]") for key, item in value.items()}
        if _is_dumpable_instance(value):
            return self.instance(value, path)
        raise ConfigError(
            f"cannot dump {path}: it is a {type(value).__module__}.{type(value).__qualname__}, which is neither "
            "a JSON value (str, int, float, bool, None, a list or a dict with str keys) nor an instance of a "
            "@remoteimport.persist class. Pass plain data to the constructor, or persist and push that class."
        )

    def reference(self, cls: type, path: str) -> str:
        reference = self.references.get(cls)
        if reference is None:
            reference = self.references[cls] = self._reference(cls, path)
        return reference

    def _reference(self, cls: type, path: str) -> str:
        remote = _remote_reference(cls)
        if remote is not None:
            return remote
        from remoteimport.hashing import class_hash
        from remoteimport.registry import push_target

        name, target = push_target(cls, None, self.store)
        full_hash = class_hash(cls)
        if not target.has_blob(name, full_hash):
            latest = target.latest(name)
            state = (
                "it was never pushed"
                if latest is None
                else f"the store's latest is {latest[:12]}: the code changed since it was pushed"
            )
            raise ConfigError(
                f"cannot dump {path}: this version of {cls.__qualname__} ({name}@{full_hash[:12]}) is not in the "
                f"store {target.url} ({state}). Push it first — remoteimport.push({cls.__qualname__}) or "
                "`remoteimport push module:Class` — dump never pushes, so a config always names stored code."
            )
        return format_reference(self.namespace, name, full_hash)


def _remote_reference(cls: type) -> str | None:
    """``namespace.Name@full_hash`` for a class imported through the hook (also after its namespace was
    uninstalled), else None."""
    module = sys.modules.get(cls.__module__)
    if module is not None and getattr(module, REMOTE_MODULE_MARKER, None):
        return cls.__module__
    if "@" not in cls.__module__:  # no real module has an "@" in its name
        return None
    try:
        reference = parse_reference(cls.__module__)
        validate_hash(reference.version, allow_prefix=False)
    except ValueError:
        return None
    return cls.__module__ if reference.name == cls.__qualname__ else None


def _is_dumpable_instance(value: Any) -> bool:
    """An instance of a class that can record its arguments (persisted, or loaded through the hook)."""
    cls = type(value)
    if _remote_reference(cls) is not None:
        return True
    from remoteimport.registry import is_persisted

    return is_persisted(cls) or recorded_arguments(value) is not None


def _unrecorded_message(cls: type, path: str) -> str:
    return (
        f"cannot dump {path}: the constructor arguments of this {cls.__qualname__} were not recorded. Only "
        f"instances created by calling a @remoteimport.persist class whose own or inherited __init__ is "
        "wrapped record them: decorate the class (above @dataclass, so the generated __init__ exists), and "
        "create the instance after decorating it. Copies, unpickled instances and instances of a __slots__ "
        "class without __weakref__ carry no arguments: dump the original object, or add '__weakref__' to "
        "__slots__."
    )


# ---------------------------------------------------------------------------------------------------------
# build


def build(config: dict[str, Any], store: Store | str | None = None, *, allow: Iterable[str] | None = None) -> Any:
    """A new object from a config made by :func:`dump` (or written by hand, or received from anyone).

    ``clazz`` is ``namespace.Name@hash`` (exactly that version; a prefix of 8+ hex digits works too),
    ``namespace.Name@tag`` (the version the tag points at, e.g. ``@prod``), ``namespace.Name@latest`` (the
    version the store's ``latest`` names, like an import of it) or ``namespace.Name`` (the latest version, or the
    pin of an active lock). Such a class comes through the
    import hook that serves the namespace — with its store, lock and trusted keys — when ``store`` is None or
    that hook's store; else from ``store``, under ``store``'s trust policy *and* the namespace's. A namespace
    no hook serves needs ``store``.

    ``package.module:Class`` names an installed class, which is built only if ``allow`` (or
    ``$REMOTEIMPORT_BUILD_ALLOW``, comma-separated) lists it — ``"package.module:Class"``, or
    ``"package.module:*"`` for every class of that module; else :class:`ConfigError` before anything is
    imported.
    """
    allowed = _allowed_installed_classes(allow)
    return _build_object(config, store, "config", allowed)


def _allowed_installed_classes(allow: Iterable[str] | None) -> frozenset[str]:
    if isinstance(allow, str):
        raise ConfigError(f"allow must be a list of 'package.module:Class' names, not the string {allow!r}")
    given = list(allow or [])
    given += _env.items(ENV_BUILD_ALLOW)
    for entry in given:
        module_name, colon, qualname = entry.partition(":") if isinstance(entry, str) else ("", "", "")
        names_ok = all(part.isidentifier() for part in module_name.split("."))
        if not colon or not names_ok or not (qualname == "*" or all(p.isidentifier() for p in qualname.split("."))):
            raise ConfigError(
                f"invalid allow entry {entry!r} (argument or ${ENV_BUILD_ALLOW}): expected 'package.module:Class' "
                "or 'package.module:*'"
            )
    return frozenset(given)


def _build_object(config: Any, store: Any, path: str, allowed: frozenset[str]) -> Any:
    if not isinstance(config, dict) or "clazz" not in config:
        raise ConfigError(f"{path} is not a config: expected a dict {{'clazz': ..., 'params': {{...}}}}")
    unknown = sorted(set(config) - set(_CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"{path} has unknown keys {unknown}: a config holds only 'clazz' and 'params'")
    params = config.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(key, str) for key in params):
        raise ConfigError(f"{path}['params'] must be a dict of parameter names to values")
    cls = resolve_class(config["clazz"], store, allow=allowed, path=path)
    arguments = {name: _build_value(value, store, f"{path}.{name}", allowed) for name, value in params.items()}
    return _construct(cls, arguments, config["clazz"], path)


def _build_value(value: Any, store: Any, path: str, allowed: frozenset[str]) -> Any:
    if isinstance(value, dict):
        if "clazz" in value:
            return _build_object(value, store, path, allowed)
        return {key: _build_value(item, store, f"{path}[{key!r}]", allowed) for key, item in value.items()}
    if isinstance(value, list):
        return [_build_value(item, store, f"{path}[{index}]", allowed) for index, item in enumerate(value)]
    return value


def resolve_class(
    clazz: Any, store: Store | str | None = None, *, allow: Iterable[str] = (), path: str = "clazz"
) -> type:
    """The class a config's ``clazz`` names: ``namespace.Name[@hash|@tag|@latest]``, or ``package.module:Class`` when
    ``allow`` lists it (see :func:`build`)."""
    if not isinstance(clazz, str):
        raise ConfigError(f"clazz must be a string such as 'labchain_remote.MyFilter@<hash>', not {clazz!r}")
    if ":" in clazz:
        return _installed_class(clazz, frozenset(allow), path)
    reference = parse_reference(clazz)  # InvalidNameError for anything malformed, before any storage access
    from remoteimport import hook
    from remoteimport.loader import load_class
    from remoteimport.store import resolve_store

    finder = hook.installed().get(reference.namespace)
    if finder is None and store is None:
        finder = _start_zero_code_finder(reference.namespace)
    if finder is not None and (store is None or resolve_store(store) == finder.store):
        if reference.version is None:
            return finder.latest_class(reference.name)  # honours the namespace's lock
        return getattr(importlib.import_module(clazz), reference.name)
    if store is None:
        raise ConfigError(
            f"{path}: no import hook serves the namespace {reference.namespace!r} on this host, so {clazz!r} has no "
            f"store (and no trust policy) to come from. Serve it first — remoteimport.install(STORE, "
            f"namespace={reference.namespace!r}, trusted_keys=[...]) — or pass build(config, store=STORE)."
        )
    target = resolve_store(store)
    full_hash = target.resolve_version(reference.name, reference.version, namespace=reference.namespace)
    return load_class(target, reference.namespace, reference.name, full_hash)


def _start_zero_code_finder(namespace: str) -> Any:
    """The real finder of a namespace the start-up hook (``$REMOTEIMPORT_STORE``, ``$REMOTEIMPORT_SERVED``) waits
    for, installed now."""
    from remoteimport import hook

    if not any(getattr(f, "remoteimport_startup", False) and f.waits_for(namespace) for f in sys.meta_path):
        return None
    importlib.import_module(namespace)
    return hook.installed().get(namespace)


def _installed_class(clazz: str, allowed: frozenset[str], path: str) -> type:
    module_name, _, qualname = clazz.partition(":")
    parts = qualname.split(".")
    if not all(p.isidentifier() for p in module_name.split(".")) or not all(p.isidentifier() for p in parts):
        raise ConfigError(
            f"invalid clazz {clazz!r}: expected 'package.module:Class' for an installed class or "
            "'namespace.Name@<hash>' for a stored one"
        )
    if clazz not in allowed and f"{module_name}:*" not in allowed:
        # Checked before the import: importing a module runs its code (`this:X` prints a poem).
        raise ConfigError(
            f"refused {path}: clazz {clazz!r} is an installed class, and build() constructs only classes from the "
            "store unless the caller allows an installed one (constructing it could run anything). Nothing was "
            f"imported. If this config is trusted, allow it: build(config, allow=[{clazz!r}]) or "
            f"{ENV_BUILD_ALLOW}={clazz}"
        )
    found: Any = importlib.import_module(module_name)
    for index, part in enumerate(parts):
        try:
            found = getattr(found, part)
        except AttributeError:
            where = ".".join([module_name, *parts[:index]])
            raise ConfigError(f"clazz {clazz!r}: {where} has no attribute {part!r}") from None
    if not isinstance(found, type):
        raise ConfigError(f"clazz {clazz!r} is a {type(found).__name__}, not a class")
    return found


def _construct(cls: type, arguments: dict[str, Any], clazz: str, path: str) -> Any:
    """Call ``cls`` with ``arguments`` laid out by its signature (positional-only and ``*args`` included)."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # no signature (some built-in types): keywords only
        return cls(**arguments)
    parameters = signature.parameters
    unknown = [name for name in arguments if name not in parameters]
    if unknown:
        raise ConfigError(
            f"cannot build {path} ({clazz}): it has no parameter {', '.join(map(repr, unknown))}; its parameters "
            f"are {', '.join(parameters) or 'none'}"
        )
    for name, parameter in parameters.items():
        if name not in arguments:
            continue
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            arguments[name] = tuple(arguments[name])
        elif parameter.kind is inspect.Parameter.VAR_KEYWORD and not isinstance(arguments[name], dict):
            raise ConfigError(f"cannot build {path} ({clazz}): **{name} must be a dict of keyword arguments")
    bound = inspect.BoundArguments(signature, arguments)  # type: ignore[arg-type]
    try:
        signature.bind(*bound.args, **bound.kwargs)
    except TypeError as exc:
        raise ConfigError(f"cannot build {path} ({clazz}): {exc}") from None
    return cls(*bound.args, **bound.kwargs)
