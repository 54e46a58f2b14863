"""The walker: one traversal of a class or function and everything of the user's it depends on.

:class:`_Encoder` dispatches each value: first the table of :mod:`remoteimport.hashing.table` (registered and
built-in encoders), then its own rules by type (atoms, containers, enums, typing forms, classes, functions,
wrappers, builtins), and last the pickle protocol's reduction. Classes and functions are encoded as the digest
of their own encoding; cycles become relative back-references. Class members come from
:mod:`remoteimport.hashing.members`, function source from :mod:`remoteimport.hashing.source`.
"""

from __future__ import annotations

import collections
import copyreg
import enum
import functools
import sys
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

from remoteimport import _pydantic, graphs
from remoteimport.capture import (
    installed_method_name,
    is_singledispatch,
    made_by_loaded_version,
    module_travels_by_value,
    object_travels_by_value,
)
from remoteimport.errors import UnhashableObjectError
from remoteimport.framework import TYPING_MODULES
from remoteimport.hashing import source  # by module: a patched helper (tests: reference run) is seen here too
from remoteimport.hashing.addresses import MIN_LENGTH, address_problem
from remoteimport.hashing.members import (
    _ENUM_METACLASSES,
    _class_members,
    _dataclass_params,
    _enum_members,
    _field_description,
    framework_description,
    unsupported_framework,
)
from remoteimport.hashing.source import _atom
from remoteimport.hashing.stream import LARGE, SPILL, _Hex, _Stream, in_order, text
from remoteimport.hashing.table import _registered_encoder


def _qualified_name(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "?")
    return f"{module}:{qualname}"


_MODULE_DUNDERS = frozenset(
    {"__file__", "__cached__", "__spec__", "__loader__", "__name__", "__package__", "__path__", "__builtins__"}
)
_FUNCTION_WRAPPERS = (staticmethod, classmethod)
_BUILTIN_CALLABLES = (
    types.BuiltinFunctionType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.MethodWrapperType,
    types.ClassMethodDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
)


def _public_module(module: str, value: Any) -> str:
    """The public module that exposes a built-in under its name: ``open`` says it comes from ``io`` on 3.11 and
    from ``_io`` on 3.12; both are ``io.open``."""
    public = module.lstrip("_")
    if public != module and getattr(sys.modules.get(public), getattr(value, "__name__", ""), None) is value:
        return public
    return module


def _is_typing_object(value: Any) -> bool:
    """typing's forms, aliases and classes, and ``list[int]`` / ``int | None`` from ``types``."""
    if type(value).__module__ in TYPING_MODULES:
        return True
    if isinstance(value, type) and value.__module__ in TYPING_MODULES:
        return True
    return type(value).__name__ in ("GenericAlias", "UnionType") and type(value).__module__ == "types"


def _resolve_global(func_globals: dict[str, Any], dotted: str) -> tuple[str, Any] | None:
    """Follow ``a.b.c`` through user modules; stop at the first object that is not one."""
    first, *rest = dotted.split(".")
    if first not in func_globals:
        return None
    path, value = first, func_globals[first]
    for attr in rest:
        if not (isinstance(value, types.ModuleType) and module_travels_by_value(value.__name__)):
            break
        if not hasattr(value, attr):
            break
        path, value = f"{path}.{attr}", getattr(value, attr)
    return path, value


def _canonical_state(cls: type, state: Any) -> Any:
    """Instance state split the way pickle splits it for real slots: ``(__dict__ or None, {slot: value})``.

    cloudpickle rebuilds a class with ``__slots__`` as one whose instances keep those attributes in their
    ``__dict__``; an instance of it pickles as one dict where the original gave the pair. Splitting by the slot
    names the class declares gives both the original's form."""
    if type(state) is tuple and len(state) == 2 and all(part is None or type(part) is dict for part in state):
        merged = {**(state[0] or {}), **(state[1] or {})}
    elif type(state) is dict:
        merged = state
    else:
        return state
    names = copyreg._slotnames(cls)  # type: ignore[attr-defined]  # pickle's own list (mangled, whole MRO)
    if not names:
        return state
    slots = {name: merged[name] for name in names if name in merged}
    rest = {name: value for name, value in merged.items() if name not in slots} or None
    return (rest, slots) if slots else rest


class _Encoder:
    """One traversal. Objects being encoded sit on a stack; meeting one again emits a relative back-reference,
    so cycles terminate and the result depends only on the graph, never on identities or visit order."""

    def __init__(
        self, *, check_addresses: bool = True, attrs_generated_code: bool = False, typing_init: bool = False
    ) -> None:
        self.check_addresses = check_addresses  # hashing/addresses.py: what a push may not name a version by
        self.attrs_generated_code = attrs_generated_code  # the attrs rule of blobs pushed before it (members.py)
        self.typing_init = typing_init  # the rule for a Protocol subclass's __init__ of blobs pushed before it
        self.stack: list[int] = []
        self.lowest_backref = sys.maxsize
        self.digests: dict[int, str] = {}  # id -> digest of a self-contained object already encoded
        self.keepalive: list[Any] = []  # holds encoded objects so their ids stay unique during the walk
        self.root_object: Any = None  # hashed by content even when installed or loaded from a store
        self.too_deep_at: str | None = None  # path of the innermost value when the recursion limit was hit
        # For the address guard (hashing/addresses.py): the str values encoded that are long enough to hold an
        # address, with their paths, and id -> every object entered (kept alive, so no id is reused meanwhile).
        self.texts: list[tuple[str, str]] = []
        self.entered: dict[int, Any] = {}
        self.root_graphs: tuple[int, ...] = ()  # the loaded versions the root travelled in (remoteimport.graphs)
        self.held_large = 0  # large pieces held in lists so far (not fed to a stream): see _sorted

    def digest(self, obj: Any, prefix: str) -> str:
        """The SHA-256 (hex) of ``prefix`` and the encoding of ``obj``, fed as the walk goes: the encoding is
        never made whole (hashing/stream.py)."""
        stream = _Stream(prefix)
        self._root(obj, stream)
        return stream.hexdigest()

    def root(self, obj: Any) -> str:
        """The encoding of ``obj`` as text: to read it (the hash path, :meth:`digest`, never makes it)."""
        pieces: list[Any] = []
        self._root(obj, pieces)
        return text(pieces)

    def _root(self, obj: Any, out: list[Any]) -> None:
        """The object asked about is always encoded by content, even when it comes from an installed
        package or a store (where it would be referenced by name as a dependency)."""
        self.root_object = obj
        self.root_graphs = graphs.graphs_of(obj)[:1]  # the version that made it: what travelled with it then
        try:
            self.value(obj, out, obj.__qualname__)
        except RecursionError:
            raise self._too_deep(self.too_deep_at or obj.__qualname__) from None
        problem = address_problem(self.texts, self.entered) if self.check_addresses else None
        if problem is not None:
            raise UnhashableObjectError(problem)

    def _too_deep(self, path: str) -> UnhashableObjectError:
        shown = path if len(path) <= 160 else f"{path[:120]}...{path[-30:]}"
        return UnhashableObjectError(
            f"cannot hash {shown}: nested too deeply for the hasher to follow (Python's recursion limit is "
            f"{sys.getrecursionlimit()}). Store the data flatter, or as one str or bytes value "
            "(e.g. json.dumps(...)), which hashes whatever the depth of its content"
        )

    def _user_typing_class(self, value: Any) -> bool:
        """A user's Protocol or TypedDict: its metaclass comes from typing, but it is a class like any other,
        encoded by content (not by its name, as typing's own forms are)."""
        return isinstance(value, type) and value.__module__ not in TYPING_MODULES and not self._by_reference(value)

    def _by_reference(self, obj: Any) -> bool:
        # A member of a loaded version travelled by value with the root (when pushed, it was the user's own
        # code): it is encoded by content, as then, although its module now names the loaded version.
        if obj is self.root_object or object_travels_by_value(obj):
            return False
        return not (graphs.shares_graph(self.root_graphs, obj) and made_by_loaded_version(obj))

    # -- shared machinery --------------------------------------------------------------------------------

    def _enter(self, obj: Any, out: list[str]) -> bool:
        """Emit a back-reference and return False when ``obj`` is already being encoded."""
        try:
            depth = self.stack.index(id(obj))
        except ValueError:
            self.entered[id(obj)] = obj
            return True
        out.append(f"^{len(self.stack) - depth};")
        self.lowest_backref = min(self.lowest_backref, depth)
        return False

    # While its parts are encoded, an object sits on the stack (meeting it again is a back-reference): pushed
    # and popped in try/finally by each method below (a context manager per object costs more than the rest).

    def _digest_of(self, obj: Any, out: list[str], path: str, body: Callable[[list[str]], None]) -> None:
        """Encode a function or class as the digest of its own encoding, reusing it where it repeats."""
        cached = self.digests.get(id(obj))
        if cached is not None:
            out.append(cached)
            return
        if not self._enter(obj, out):
            return
        depth = len(self.stack)
        outer_lowest, self.lowest_backref = self.lowest_backref, sys.maxsize
        inner = _Stream()
        self.stack.append(id(obj))
        try:
            body(inner)
        finally:
            self.stack.pop()
        own_lowest = self.lowest_backref
        self.lowest_backref = min(outer_lowest, own_lowest)
        digest = "#" + inner.hexdigest() + ";"
        out.append(digest)
        if own_lowest >= depth:  # refers to nothing outside itself: its digest holds in any context
            self.digests[id(obj)] = digest
            self.keepalive.append(obj)

    def _container(self, obj: Any, out: list[str], tag: str, items: Iterable[Any], path: str) -> None:
        if not self._enter(obj, out):
            return
        self.stack.append(id(obj))
        try:
            items = list(items)
            out.append(f"{tag}{len(items)}[")
            for index, item in enumerate(items):
                self.value(item, out, f"{path}[{index}]")
            out.append("]")
        finally:
            self.stack.pop()

    def _sorted(self, obj: Any, out: list[str], tag: str, items: Iterable[Any], path: str) -> None:
        """Sets and dict items: each encoded alone, then sorted by its text, so iteration order never matters."""
        if not self._enter(obj, out):
            return
        self.stack.append(id(obj))
        try:
            encoded: list[Any] = []
            held_before = self.held_large
            for item in items:
                sub: list[Any] = []
                held = self.held_large
                self.value(item, sub, f"{path}{{...}}")
                # its text when it holds no large value (the common case), else its pieces (never joined)
                encoded.append("".join(sub) if self.held_large == held else sub)
            in_order(encoded)
            out.append(f"{tag}{len(encoded)}[")
            if self.held_large == held_before:
                out.extend(encoded)  # small texts all: a stream feeds them SPILL at a time (see value())
            else:
                add = out.put if type(out) is _Stream else out.append
                for item in encoded:
                    for piece in (item,) if type(item) is str else item:
                        add(piece)
            out.append("]")
        finally:
            self.stack.pop()

    def _large(self, piece: str | _Hex, out: list[Any]) -> None:
        """A large value, by reference: fed to the digest at once, or held (a sorted item's, the text's)."""
        if type(out) is _Stream:
            out.feed(piece)
        else:
            out.append(piece)
            self.held_large += 1

    def _fail(self, value: Any, path: str, reason: str = "") -> UnhashableObjectError:
        type_name = f"{type(value).__module__}.{type(value).__qualname__}"
        detail = f" ({reason})" if reason else ""
        return UnhashableObjectError(
            f"cannot hash {path} -> {type_name}{detail}: remoteimport has no deterministic encoding for "
            f"{type(value).__qualname__} objects. Store plain data instead, or teach the hasher with "
            f"remoteimport.hashing.register({type(value).__qualname__}, lambda obj: <plain data that "
            "captures its behaviour>)"
        )

    # -- dispatch ----------------------------------------------------------------------------------------

    def value(self, value: Any, out: list[str], path: str) -> None:  # noqa: C901 - one flat dispatch table
        if len(out) >= SPILL and type(out) is _Stream:
            out.spill()
        try:
            if value is None or value is Ellipsis or value is NotImplemented or type(value) is bool:
                out.append(f"<{value}>")
                return
            encoder = _registered_encoder(type(value))
            if encoder is not None:
                out.append(f"R{_qualified_name(type(value))}(")
                self.value(encoder(value), out, f"{path} -> {type(value).__qualname__}")
                out.append(")")
                return
            kind = type(value)
            if kind in (int, float, complex, str, bytes):
                if (kind is str or kind is bytes) and len(value) >= LARGE:
                    # _atom()'s text, its value fed (hexed, compared) a slice at a time: hashing/stream.py
                    out.append(f"{'s' if kind is str else 'b'}{len(value)}:")
                    self._large(value if kind is str else _Hex(value), out)
                else:
                    out.append(_atom(value))
                if kind is str and len(value) >= MIN_LENGTH:
                    self.texts.append((value, path))
            elif kind is bytearray:
                if len(value) >= LARGE:
                    out.append(f"Bb{len(value)}:")
                    self._large(_Hex(value), out)
                else:
                    out.append("B" + _atom(bytes(value)))
            elif kind is tuple:
                self._container(value, out, "T", value, path)
            elif kind is list:
                self._container(value, out, "L", value, path)
            elif kind in (dict, types.MappingProxyType):
                self._sorted(value, out, "D", ((k, v) for k, v in value.items()), path)
            elif kind in (set, frozenset):
                self._sorted(value, out, "S" if kind is set else "F", value, path)
            elif kind is range:
                out.append(f"range({value.start},{value.stop},{value.step})")
            elif kind is slice:
                self._container(value, out, "slice", (value.start, value.stop, value.step), path)
            elif isinstance(value, enum.Flag):
                # By value: a combination's .name is None on 3.10 and "A|B" from 3.11 on.
                out.append("Flag(")
                self.value(type(value), out, path)
                self.value(value.value, out, path)
                out.append(")")
            elif isinstance(value, enum.Enum):
                out.append("E(")
                self.value(type(value), out, path)
                out.append(_atom(value.name) + ")")
            elif _is_typing_object(value) and not self._user_typing_class(value):
                self.typing_object(value, out, path)
            elif isinstance(value, types.ModuleType):
                out.append("M" + _atom(value.__name__))
            elif isinstance(value, type):
                self.klass(value, out, path)
            elif isinstance(value, types.FunctionType) and is_singledispatch(value):
                self._container(value, out, "singledispatch", (dict(value.registry),), path)
            elif isinstance(value, functools.singledispatchmethod):
                self._container(value, out, "singledispatchmethod", (dict(value.dispatcher.registry),), path)
            elif isinstance(value, types.FunctionType):
                self.function(value, out, path)
            elif isinstance(value, _FUNCTION_WRAPPERS):
                out.append(f"{kind.__name__}(")
                self.value(value.__func__, out, path)
                out.append(")")
            elif isinstance(value, types.MethodType):
                exposed = installed_method_name(value)
                if exposed is not None:  # random.choice: by name, not the state of random's own Random
                    out.append("attr" + _atom(f"{exposed[0].__name__}:{exposed[1]}"))
                else:
                    self._container(value, out, "method", (value.__func__, value.__self__), path)
            elif isinstance(value, property):
                self._container(value, out, "property", (value.fget, value.fset, value.fdel), path)
            elif isinstance(value, functools.cached_property):
                self._container(value, out, "cached_property", (value.func,), path)
            elif isinstance(value, (functools.partial, functools.partialmethod)):
                args = (value.func, tuple(value.args), dict(value.keywords))
                self._container(value, out, f"{kind.__name__}", args, path)
            elif type(value).__name__ == "_lru_cache_wrapper" and hasattr(value, "cache_parameters"):
                params = value.cache_parameters()
                self._container(value, out, "lru_cache", (value.__wrapped__, params["maxsize"], params["typed"]), path)
            elif isinstance(value, _BUILTIN_CALLABLES):
                self.builtin(value, out, path)
            elif isinstance(value, typing.TypeVar):
                args = (
                    value.__name__,
                    value.__bound__,
                    value.__constraints__,
                    value.__covariant__,
                    value.__contravariant__,
                )
                self._container(value, out, "TypeVar", args, path)
            elif isinstance(value, (tuple, list, dict, set, frozenset, int, float, str, bytes)):
                self.builtin_subclass(value, out, path)
            else:
                field = _pydantic.field_description(value)  # None unless pydantic is imported and it is one
                if field is not None:
                    self._container(value, out, "pydantic_field", (field,), path)
                else:
                    self.reduced(value, out, path)
        except RecursionError:
            # Nested deeper than the interpreter lets us follow. Note the innermost path only (no calls here:
            # the stack is full); root() turns it into an error that names it.
            if self.too_deep_at is None:
                self.too_deep_at = path
            raise

    # -- classes and functions ---------------------------------------------------------------------------

    def klass(self, cls: type, out: list[str], path: str) -> None:
        if self._by_reference(cls):
            parametrized = _pydantic.parametrization(cls)
            if parametrized is not None:
                # RootModel[list[str]]: made on demand by pydantic, named by nothing importable: its origin and
                # arguments (how capture.py pickles it too)
                self._container(cls, out, "parametrized", parametrized, path)
                return
            out.append("C" + _atom(_qualified_name(cls)))
            return
        self._digest_of(cls, out, path, lambda inner: self._class_body(cls, inner, path))

    def _class_body(self, cls: type, out: list[str], path: str) -> None:
        unsupported = unsupported_framework(cls)
        if unsupported is not None:
            raise UnhashableObjectError(f"cannot hash {path}: {unsupported}")
        out.append("class" + _atom(cls.__name__))
        bases = tuple(base for base in cls.__bases__ if base is not object)
        self._container(bases, out, "bases", bases, f"{path}.__bases__")
        metaclass = type(cls)
        if metaclass is not type and metaclass not in _ENUM_METACLASSES:
            out.append("meta")
            self.value(metaclass, out, f"{path}.__class__")
        for name, member in _class_members(
            cls, attrs_generated_code=self.attrs_generated_code, typing_init=self.typing_init
        ):
            out.append("." + _atom(name))
            self.value(member, out, f"{path}.{name}")
        if isinstance(cls, enum.EnumMeta):
            members = _enum_members(cls)
            self._sorted(members, out, "enum_members", members.items(), f"{path}.__members__")
        fields = vars(cls).get("__dataclass_fields__")
        if fields is not None:
            self._dataclass(cls, fields, out, path)
        described = framework_description(cls)  # a pydantic model's fields and validators
        if described is not None:
            out.append("framework")
            self.value(described, out, f"{path}.<{described[0]} fields and decorators>")

    def _dataclass(self, cls: type, fields: dict[str, Any], out: list[str], path: str) -> None:
        out.append(_dataclass_params(cls))
        for name in sorted(fields):
            field = fields[name]
            self._container(field, out, "field", _field_description(name, field), f"{path}.{name}")

    def function(self, func: types.FunctionType, out: list[str], path: str) -> None:
        if self._by_reference(func) and "<locals>" not in func.__qualname__:
            out.append("F" + _atom(_qualified_name(func)))
            return
        self._digest_of(func, out, path, lambda inner: self._function_body(func, inner, path))

    def _function_body(self, func: types.FunctionType, out: list[str], path: str) -> None:
        code = func.__code__
        if self._by_reference(func):
            # A closure made by installed code: named, plus whatever its cells captured.
            out.append("installed_closure" + _atom(_qualified_name(func)))
            self._closure(func, out, path)
            return
        source_text, names = source._source_encoding(code)
        if source_text is not None:
            out.append("ast:" + source_text)
        else:
            out.append(f"bytecode{sys.version_info[0]}.{sys.version_info[1]}:")
            self._code(code, out, path)
            names = source._code_names(code)
            self.value(func.__annotations__, out, f"{path}.__annotations__")
        self.value(func.__defaults__, out, f"{path}.__defaults__")
        self.value(func.__kwdefaults__, out, f"{path}.__kwdefaults__")
        self._closure(func, out, path)
        if vars(func):
            self.value(vars(func), out, f"{path}.__dict__")
        self._globals(func, names, out, path)

    def _closure(self, func: types.FunctionType, out: list[str], path: str) -> None:
        cells = func.__closure__ or ()
        for name, cell in zip(func.__code__.co_freevars, cells, strict=False):
            out.append("cell" + _atom(name))
            try:
                contents = cell.cell_contents
            except ValueError:
                out.append("<empty>")
                continue
            self.value(contents, out, f"{path}.<closure {name}>")

    def _globals(self, func: types.FunctionType, names: list[str], out: list[str], path: str) -> None:
        seen: set[str] = set()
        for dotted in names:
            resolved = _resolve_global(func.__globals__, dotted)
            if resolved is None or resolved[0] in seen:
                continue
            name, value = resolved
            seen.add(name)
            out.append("global" + _atom(name))
            if name in _MODULE_DUNDERS:
                out.append("<module attribute>")  # its value is a path or a module name: not identity
                continue
            self.value(value, out, f"{path} -> {name}")

    def _code(self, code: types.CodeType, out: list[str], path: str) -> None:
        """Bytecode fallback for code with no source: everything but positions and file names."""
        out.append(f"code{_atom(code.co_name)}{code.co_argcount},{code.co_posonlyargcount},")
        out.append(f"{code.co_kwonlyargcount},{code.co_flags};{_atom(code.co_code)}")
        out.append(_atom(getattr(code, "co_exceptiontable", b"")))
        for names in (code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars):
            out.append(_atom("\x00".join(names)))
        out.append(f"consts{len(code.co_consts)}[")
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self._code(const, out, path)
            else:
                self.value(const, out, path)
        out.append("]")

    # -- everything else ---------------------------------------------------------------------------------

    def builtin(self, value: Any, out: list[str], path: str) -> None:
        owner = getattr(value, "__objclass__", None)
        bound = getattr(value, "__self__", None)
        out.append("builtin" + _atom(getattr(value, "__qualname__", None) or value.__name__))
        if owner is not None:
            self.value(owner, out, path)
        elif bound is not None and not isinstance(bound, (types.ModuleType, type)):
            self.value(bound, out, f"{path}.__self__")
        else:
            module = getattr(value, "__module__", None) or getattr(bound, "__name__", "") or ""
            out.append(_atom(_public_module(module, value)))

    def typing_object(self, value: Any, out: list[str], path: str) -> None:
        origin = typing.get_origin(value)
        args = typing.get_args(value)
        if isinstance(value, typing.ForwardRef):
            out.append("forwardref" + _atom(value.__forward_arg__))
        elif origin is typing.Union or type(value).__name__ == "UnionType":
            self._container(value, out, "union", args, path)
        elif origin is not None and origin is not value:  # get_origin(typing.Generic) is Generic itself
            out.append("generic(")
            self.value(origin, out, path)
            self.value(args, out, path)
            out.append(")")
        elif getattr(value, "_name", None) or isinstance(getattr(value, "__name__", None), str):
            # Special forms and typing's classes: Any is a class from 3.11 on, Annotated one in 3.10.
            out.append("typing" + _atom(getattr(value, "_name", None) or value.__name__))
        else:
            self.reduced(value, out, path)

    def builtin_subclass(self, value: Any, out: list[str], path: str) -> None:
        """Named tuples, Counter, OrderedDict ...: the type, the builtin content, and any instance state."""
        out.append("sub(")
        self.value(type(value), out, path)
        for base in (dict, frozenset, set, tuple, list, bytes, str, float, int):
            if isinstance(value, base):
                self.value(base(value), out, path)
                break
        if isinstance(value, collections.defaultdict):
            self.value(value.default_factory, out, f"{path}.default_factory")
        state = getattr(value, "__dict__", None)
        if state:
            self.value(state, out, f"{path}.__dict__")
        out.append(")")

    def reduced(self, value: Any, out: list[str], path: str) -> None:
        """Any other object, by the pickle protocol's description of it: constructor, arguments, state."""
        try:
            reduced = value.__reduce_ex__(4)
        except RecursionError:
            raise  # the stack is full (deep nesting), not a verdict on the object: see value()
        except Exception as exc:
            # A type that pickles only through copyreg's dispatch table (copyreg.pickle(...)). Not consulted
            # first: loaded classes' instances have an entry there too (references.py), which names the version.
            reducer = copyreg.dispatch_table.get(type(value))
            if reducer is None:
                raise self._fail(value, path, str(exc)) from None
            reduced = reducer(value)
        if isinstance(reduced, str):
            # A module-level singleton pickled by its name (a sentinel such as jinja2's ``missing``): its class
            # and that name. (The remote host gets it by value: capture.py.)
            self._container(value, out, "named", (type(value), reduced), f"{path} -> {type(value).__qualname__}")
            return
        if not isinstance(reduced, tuple) or len(reduced) < 2:
            raise self._fail(value, path, "its __reduce_ex__ gives no constructor and arguments")
        parts = list(reduced[:5]) + [None] * (5 - len(reduced[:5]))
        parts[2] = _canonical_state(type(value), parts[2])
        for index in (3, 4):  # list and dict items arrive as iterators
            if parts[index] is not None:
                parts[index] = list(parts[index])
        self._container(value, out, "reduce", parts, f"{path} -> {type(value).__qualname__}")
