"""Deterministic content hashes of classes and functions.

``class_hash(obj)`` walks a class (or function) and everything of the user's that it depends on, writes a
canonical text encoding of it, and returns the SHA-256 of that encoding prefixed by a scheme identifier.

What is encoded (see docs/hashing.md for the full list):

- functions by the **normalized AST of their source** (no line numbers, comments or layout), plus their
  runtime defaults, keyword-only defaults, closure cell contents, attributes and every module-level name
  they use (transitively, cycles handled). Code with no source (``exec``, ``type()``, ``python -c``) falls
  back to its bytecode, which is tied to the running Python version — the encoding says so explicitly;
- classes by name, bases, metaclass and their namespace in sorted order, with dataclass fields, enum members,
  ``__slots__`` and the wrappers (``staticmethod``, ``property``, ``functools.partial`` ...) unwrapped;
- values by type-tagged canonical encodings; sets and dicts are sorted so ``PYTHONHASHSEED`` cannot leak in;
- objects from installed distributions and the standard library by qualified name only.

Nothing here performs I/O except reading source through ``linecache``, and no ``repr()`` of a code object,
function or arbitrary object ever reaches the digest. Unknown types raise
:class:`~remoteimport.errors.UnhashableObjectError`; teach the hasher with :func:`register`.

    >>> class Scale:
    ...     factor = 2
    ...     def apply(self, x):
    ...         return x * self.factor
    >>> len(class_hash(Scale))
    64
"""

from __future__ import annotations

import ast
import collections
import copyreg
import dataclasses
import dis
import enum
import functools
import hashlib
import inspect
import linecache
import operator
import re
import struct
import sys
import threading
import types
import typing
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from remoteimport.capture import (
    installed_method_name,
    is_framework_member,
    is_singledispatch,
    module_travels_by_value,
    object_travels_by_value,
    unwrap_method,
)
from remoteimport.errors import UnhashableObjectError

__all__ = ["SCHEME", "class_hash", "register", "unregister"]

#: Prefix of every digest input. Changing the encoding means changing this, never a silent drift.
SCHEME = "remoteimport-hash-v1"

_ENCODERS: dict[type, Callable[[Any], Any]] = {}


def register(type_: type, encoder: Callable[[Any], Any]) -> None:
    """Teach the hasher to encode instances of ``type_`` (and its subclasses).

    ``encoder(obj)`` must return plain data the hasher already knows (str, int, bytes, tuples, lists, dicts,
    ...) that changes whenever the object's behaviour-relevant state changes.

    >>> import array
    >>> register(array.array, lambda values: (values.typecode, values.tolist()))
    >>> unregister(array.array)
    """
    if not isinstance(type_, type):
        raise TypeError(f"register() needs a type as its first argument, got {type(type_).__name__}")
    if not callable(encoder):
        raise TypeError("register() needs a callable encoder as its second argument")
    _ENCODERS[type_] = encoder


def unregister(type_: type) -> None:
    """Remove an encoder added with :func:`register` (no error if none was registered)."""
    _ENCODERS.pop(type_, None)


# Built-in encoders, in the very table register() feeds (like cloudpickle's dispatch table): each gives an
# object's constructor arguments, which are what the object means, and the same on every Python version.
# Other objects the standard library pickles through copyreg are encoded by their copyreg reduction (reduced()).
register(re.Pattern, lambda pattern: (pattern.pattern, pattern.flags))
register(struct.Struct, lambda packer: packer.format)
# Per-thread storage is state, not behaviour; it arrives empty on the remote host (capture.py): its type only.
register(threading.local, lambda storage: type(storage))
# Locks are this process's synchronisation state: whether one is held is not behaviour, and the remote host gets a
# fresh, unlocked lock of the same type (capture.py). Their type only; a Condition is its lock (waiters left out).
register(type(threading.Lock()), lambda lock: type(lock))
register(type(threading.RLock()), lambda lock: type(lock))
register(threading.Condition, lambda condition: (type(condition), condition._lock))
# The entries alive now, as they are pickled (capture.py; cloudpickle does the same for WeakSet).
register(weakref.WeakKeyDictionary, lambda mapping: dict(mapping))
register(weakref.WeakValueDictionary, lambda mapping: dict(mapping))


def class_hash(obj: Any) -> str:
    """Return the 64-hex-character SHA-256 content hash of a class or function.

    The same program gives the same hash in every process, directory and (for code with source) every
    CPython version from 3.10 on; any change of behaviour changes it.
    """
    if not isinstance(obj, (type, types.FunctionType)):
        raise TypeError(
            f"class_hash() takes a class or a function, got an instance of {type(obj).__qualname__}; "
            "pass the class itself (type(obj)) to hash its definition"
        )
    encoding = _Encoder().root(obj)
    return hashlib.sha256(f"{SCHEME}\n{encoding}".encode("utf-8", "surrogatepass")).hexdigest()


# ---------------------------------------------------------------------------------------------------------
# Class namespaces: what is identity and what is machinery the interpreter or a framework adds.

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


def _is_generated_code(func: Any) -> bool:
    """Code exec'd from a string by a class factory (dataclass ``__init__``, namedtuple ``__new__``),
    also when wrapped with ``functools.wraps`` (3.10's dataclass ``__repr__``)."""
    func = unwrap_method(func)
    while hasattr(func, "__wrapped__"):
        func = func.__wrapped__
    code = getattr(func, "__code__", None)
    # "<string>" may have lines in linecache (3.13 registers `python -c` code there) that are not this code's.
    return code is not None and code.co_filename.startswith("<") and _source_encoding(code)[0] is None


def _is_user_function(value: Any) -> bool:
    target = unwrap_method(value)
    return isinstance(target, types.FunctionType) and object_travels_by_value(target)


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


def _class_members(cls: type) -> list[tuple[str, Any]]:
    namespace = vars(cls)
    is_namedtuple = issubclass(cls, tuple) and "_fields" in namespace
    # Class factories that record the fields they generate methods from on the class: dataclasses, named
    # tuples, attrs (whose generated __hash__ embeds a str hash, which PYTHONHASHSEED changes). The fields are
    # encoded; the generated code (exec'd from a string, no source file) is not.
    generates_methods = "__dataclass_fields__" in namespace or is_namedtuple or "__attrs_attrs__" in namespace
    is_dataclass = "__dataclass_fields__" in namespace
    is_enum = isinstance(cls, enum.EnumMeta)
    inherited = _inherited_namespace(cls)
    members = []
    for name, value in namespace.items():
        if name in _DERIVED_MEMBERS or type(value).__name__ == "member_descriptor":
            continue
        if inherited.get(name, _ABSENT) is value:
            continue  # the very object a base defines (``__hash__ = None`` next to ``__eq__``): inherited anyway
        if name == "__doc__" and (value is None or is_enum and value == "An enumeration."):
            continue
        if name == "__annotations__" and not value:
            continue
        if name == "__orig_bases__" and not any(typing.get_origin(base) for base in value):
            continue  # no generic parameters, only what the bases say (3.12 adds it to NamedTuple, TypedDict)
        if is_framework_member(value) or (generates_methods and _is_generated_code(value)):
            continue
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
        members.append((name, value))
    members.sort(key=lambda item: item[0])
    return members


# ---------------------------------------------------------------------------------------------------------
# Source -> normalized AST.

_SKIPPED_AST_FIELDS = frozenset({"type_comment", "kind"})
_ATOM_TYPES = frozenset({str, int, float, complex, bytes, bool, type(None), type(Ellipsis)})
# Per node type, computed once: its opening text and its encoded fields as (field, " field=") pairs in sorted
# order, or None for leaves (Load, Store, Add ...), whose whole text is the opening ("(Load)").
_AST_SPECS: dict[type, tuple[str, tuple[tuple[str, str], ...] | None]] = {}


def _ast_spec(node_type: type) -> tuple[str, tuple[tuple[str, str], ...] | None]:
    spec = _AST_SPECS.get(node_type)
    if spec is None:
        fields = tuple(sorted(f for f in node_type._fields if f not in _SKIPPED_AST_FIELDS))
        name = node_type.__name__
        spec = (f"({name}", tuple((field, f" {field}=") for field in fields)) if fields else (f"({name})", None)
        _AST_SPECS[node_type] = spec
    return spec


def _encode_ast(node: Any, out: list[str], names: set[str]) -> None:  # noqa: C901 - hot loop, kept flat
    """Canonical text of an AST: node types and non-empty fields only, no positions, stable across 3.10+.

    Empty lists and ``None`` are omitted so that fields added by newer Pythons (``type_params=[]``) do not
    change the encoding of code that does not use them.
    """
    node_type = type(node)
    if node_type is list:
        out.append(f"[{len(node)}")
        for item in node:
            out.append(" ")
            _encode_ast(item, out, names)
        out.append("]")
        return
    spec = _AST_SPECS.get(node_type)
    if spec is None:
        if not isinstance(node, ast.AST):
            out.append(_atom(node))
            return
        spec = _ast_spec(node_type)
    head, fields = spec
    if fields is None:  # a leaf
        out.append(head)
        return
    if node_type is ast.Name:
        names.add(node.id)
    elif node_type is ast.Attribute:
        dotted = _dotted_name(node)
        if dotted:
            names.add(dotted)
    elif node_type is ast.JoinedStr:
        node = _merge_fstring_constants(node)
    out.append(head)
    for field, prefix in fields:
        value = getattr(node, field, None)
        if value is None:
            continue
        kind = type(value)
        if kind is str:  # identifiers: the commonest atom, written as _atom() writes it
            out.append(f"{prefix}s{len(value)}:{value}")
        elif kind is list:
            if value:
                out.append(prefix)
                _encode_ast(value, out, names)
        elif kind in _ATOM_TYPES:
            out.append(prefix + _atom(value))
        else:
            spec = _AST_SPECS.get(kind)
            if spec is not None and spec[1] is None:  # a leaf (ctx=Load(), op=Add() ...)
                out.append(prefix + spec[0])
            else:
                out.append(prefix)
                _encode_ast(value, out, names)
    out.append(")")


def _merge_fstring_constants(node: ast.JoinedStr) -> ast.JoinedStr:
    # 3.12's f-string parser splits literal text differently ("a{{b" -> "a{", "b"); join adjacent pieces.
    values: list[ast.AST] = []
    for value in node.values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            if not value.value:
                continue
            if values and isinstance(values[-1], ast.Constant) and isinstance(values[-1].value, str):
                values[-1] = ast.Constant(values[-1].value + value.value)
                continue
        values.append(value)
    return ast.JoinedStr(values=values)


def _atom(value: Any) -> str:
    """Type-tagged text of a constant that can appear in an AST or a code object."""
    kind = type(value)
    if kind is str:  # the commonest first (exact types only: subclasses take the isinstance() chain below)
        return f"s{len(value)}:{value}"
    if kind is int:
        return f"i{value};"
    if value is None or value is Ellipsis or isinstance(value, bool):
        return f"<{value}>"
    if isinstance(value, int):
        return f"i{value};"
    if isinstance(value, float):
        return f"f{value.hex()};"
    if isinstance(value, complex):
        return f"c{value.real.hex()},{value.imag.hex()};"
    if isinstance(value, str):
        return f"s{len(value)}:{value}"
    if isinstance(value, bytes):
        return f"b{len(value)}:{value.hex()}"
    raise TypeError(f"not an atom: {type(value).__qualname__}")


def _parse_block(lines: list[str]) -> ast.Module | None:
    text = "".join(lines)
    if lines and lines[0][:1] in (" ", "\t"):
        text = "if 1:\n" + text  # an indented block parses as the body of a dummy statement
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


_SECOND, _THIRD = operator.itemgetter(1), operator.itemgetter(2)


def _last_line(code: types.CodeType) -> int:
    """The last source line any instruction of ``code`` (or code nested in it) comes from."""
    # The largest line number of the table (None: no line), by iterators run in C: this is hot.
    if hasattr(code, "co_positions"):  # 3.11+: end lines of multi-line expressions too
        lines = map(_SECOND, code.co_positions())
    else:
        lines = map(_THIRD, code.co_lines())
    last = max(code.co_firstlineno, max(filter(None, lines), default=0))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            last = max(last, _last_line(const))
    return last


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _function_block(code: types.CodeType, lines: list[str]) -> ast.Module | None:
    """Parse the ``def`` block starting at ``co_firstlineno`` (its first decorator).

    The line table gives a lower bound for the block's end; lines indented deeper than the ``def`` (and
    blank or comment lines) continue it. Cheaper than tokenizing (``inspect.getblock``), and just as exact:
    if the text does not parse yet (a string with dedented lines), one more line is taken and tried again."""
    start = code.co_firstlineno - 1
    base = _indent(lines[start])
    end = max(_last_line(code), start + 1)
    while end <= len(lines):
        while end < len(lines) and (
            not lines[end].strip() or lines[end].lstrip().startswith("#") or _indent(lines[end]) > base
        ):
            end += 1
        tree = _parse_block(lines[start:end])
        if tree is not None:
            return tree
        end += 1
    return None


def _function_node(code: types.CodeType, lines: list[str]) -> ast.AST | list[ast.AST] | None:
    """The AST of the ``def`` (with decorators) or ``lambda`` that compiled to ``code``, or None."""
    if not lines or code.co_firstlineno > len(lines):
        return None
    if code.co_name == "<lambda>":
        return _lambda_nodes(code, lines)
    tree = _function_block(code, lines)
    if tree is None or not tree.body:
        return None
    node = tree.body[0]
    if isinstance(node, ast.If) and lines[code.co_firstlineno - 1][:1] in (" ", "\t"):
        node = node.body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name != code.co_name:
        return None
    return node if _arg_names(node.args) == _code_arg_names(code) else None


def _lambda_nodes(code: types.CodeType, lines: list[str]) -> list[ast.AST] | None:
    wanted = _code_arg_names(code)
    on_line = _lambdas_by_line(code.co_filename, lines).get(code.co_firstlineno, [])
    candidates = [node for node in on_line if _arg_names(node.args) == wanted]
    if len(candidates) > 1:
        # Several lambdas with these arguments on one line: keep those that compile to this very code.
        # (Same test on every Python version, so the choice, and the hash, agree across versions.)
        same = [node for node in candidates if _compiles_to(node, code)]
        candidates = same[:1] if same else candidates
    return candidates or None


def _compiles_to(node: ast.Lambda, code: types.CodeType) -> bool:
    try:
        compiled = compile(ast.fix_missing_locations(ast.Expression(body=node)), code.co_filename, "eval")
    except (SyntaxError, ValueError, TypeError):
        return False
    inner = [const for const in compiled.co_consts if isinstance(const, types.CodeType)]
    return bool(inner) and inner[0].co_code == code.co_code and inner[0].co_consts == code.co_consts


_LAMBDA_INDEX: dict[str, tuple[list[str], dict[int, list[ast.Lambda]]]] = {}


def _lambdas_by_line(filename: str, lines: list[str]) -> dict[int, list[ast.Lambda]]:
    """Every lambda of a module by its line (a lambda's own line may not parse alone); cached per file
    while linecache holds the same lines."""
    cached = _LAMBDA_INDEX.get(filename)
    if cached is not None and cached[0] is lines:
        return cached[1]
    index: dict[int, list[ast.Lambda]] = {}
    try:
        tree = ast.parse("".join(lines))
    except (SyntaxError, ValueError):
        tree = None
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Lambda):
            index.setdefault(node.lineno, []).append(node)
    _LAMBDA_INDEX[filename] = (lines, index)
    return index


def _arg_names(args: ast.arguments) -> tuple[str, ...]:
    return tuple(a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs])


def _code_arg_names(code: types.CodeType) -> tuple[str, ...]:
    return code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]


def _dotted_name(node: ast.Attribute) -> str | None:
    """``helpers.scale`` for an attribute chain rooted at a plain name, so helpers in user modules count."""
    chain = [node.attr]
    base = node.value
    while isinstance(base, ast.Attribute):
        chain.append(base.attr)
        base = base.value
    if not isinstance(base, ast.Name):
        return None
    return ".".join([base.id, *reversed(chain)])


# File name -> (the lines its entries were made from, code -> (canonical AST text, names)). Code objects compare
# by value (name, first line, bytecode, constants, names ...), so a function compiled again from the same text (a
# reloaded module, a class rebuilt by cloudpickle) finds its entry; an entry counts only while linecache holds
# that same text. Bounded: a few files (all dropped when one more comes), a few thousand entries per file.
_SOURCE_CACHE: dict[str, tuple[list[str], dict[types.CodeType, tuple[str | None, list[str]]]]] = {}
_SOURCE_CACHE_FILES = 32
_SOURCE_CACHE_ENTRIES = 4096


def _source_encoding(code: types.CodeType) -> tuple[str | None, list[str]]:
    """(canonical AST text, names it reads) for code with source; (None, []) when there is none.

    Cached per source text: hashing unchanged code again costs a look-up."""
    lines = linecache.getlines(code.co_filename)
    if not lines:
        return None, []
    file_entry = _SOURCE_CACHE.get(code.co_filename)
    if file_entry is None or (file_entry[0] is not lines and file_entry[0] != lines):
        if len(_SOURCE_CACHE) >= _SOURCE_CACHE_FILES:
            _SOURCE_CACHE.clear()
        file_entry = _SOURCE_CACHE[code.co_filename] = (lines, {})
    encodings = file_entry[1]
    cached = encodings.get(code)
    if cached is not None:
        return cached
    if len(encodings) >= _SOURCE_CACHE_ENTRIES:
        encodings.clear()
    node = _function_node(code, lines)
    text, names = None, []
    if node is not None:
        out: list[str] = []
        found: set[str] = set()
        _encode_ast(node, out, found)
        # Only names the code reads as globals at run time: a name used just in an annotation or a decorator,
        # or a local that shares its name with an attribute, is not shipped with the function (cloudpickle
        # sends exactly these), so it cannot be identity.
        readable = set(_code_names(code))
        text, names = "".join(out), sorted(name for name in found if name.partition(".")[0] in readable)
    encodings[code] = (text, names)
    return text, names


_GLOBAL_OPS = frozenset(dis.opmap[name] for name in ("LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL"))
_GLOBAL_OPCODE = re.compile(b"[" + b"".join(re.escape(bytes([op])) for op in sorted(_GLOBAL_OPS)) + b"]")
_LOAD_GLOBAL = dis.opmap["LOAD_GLOBAL"]
_EXTENDED_ARG = dis.opmap["EXTENDED_ARG"]
# From 3.11 on, LOAD_GLOBAL's argument is the name's index shifted left once (the low bit: "push NULL too").
_LOAD_GLOBAL_SHIFT = 1 if sys.version_info >= (3, 11) else 0


def _global_access_names(code: types.CodeType) -> set[str]:
    """The names of ``code``'s own global-access instructions: what ``dis.get_instructions`` reports as their
    ``argval``, found without decoding every instruction (hot: once per function hashed).

    ``co_code`` is always the de-optimized bytecode, whose inline CACHE entries (3.11+) are zero bytes, so
    every code unit holding a global-access opcode is an instruction, and the EXTENDED_ARG prefixes of its
    argument are the units right before it (EXTENDED_ARG has no cache entries)."""
    raw = code.co_code
    opcodes = raw[::2]
    found = set()
    for match in _GLOBAL_OPCODE.finditer(opcodes):
        unit = match.start()
        arg = raw[2 * unit + 1]
        shift = 8
        prefix = unit - 1
        while prefix >= 0 and opcodes[prefix] == _EXTENDED_ARG:
            arg |= raw[2 * prefix + 1] << shift
            shift += 8
            prefix -= 1
        if opcodes[unit] == _LOAD_GLOBAL:
            arg >>= _LOAD_GLOBAL_SHIFT
        found.add(code.co_names[arg])
    return found


def _code_names(code: types.CodeType) -> list[str]:
    """The global names ``code`` (and code nested in it) uses: those of its global-access instructions, which
    are the globals cloudpickle ships with a function. (``co_names`` holds attribute names too: ``self.x``
    next to a module-level ``x`` that the function never reads.) Not cached: scanning costs less than a
    look-up keyed by the code object (whose hash covers all of its bytecode)."""
    names = _global_access_names(code)
    nested = [const for const in code.co_consts if isinstance(const, types.CodeType)]
    while nested:
        inner = nested.pop()
        names |= _global_access_names(inner)
        nested.extend(const for const in inner.co_consts if isinstance(const, types.CodeType))
    return sorted(names)


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


# ---------------------------------------------------------------------------------------------------------
# The encoder.


def _qualified_name(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "?")
    return f"{module}:{qualname}"


_ENUM_METACLASSES = {enum.EnumMeta}
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
_TYPING_MODULES = frozenset({"typing", "typing_extensions"})
# The commonest types, whose base classes need no look-up in the table of encoders (one per value: hot).
_UNREGISTERED_BUILTINS = frozenset({str, int, float, bool, bytes, tuple, list, dict, type(None), types.FunctionType})


def _public_module(module: str, value: Any) -> str:
    """The public module that exposes a built-in under its name: ``open`` says it comes from ``io`` on 3.11 and
    from ``_io`` on 3.12; both are ``io.open``."""
    public = module.lstrip("_")
    if public != module and getattr(sys.modules.get(public), getattr(value, "__name__", ""), None) is value:
        return public
    return module


def _is_typing_object(value: Any) -> bool:
    """typing's forms, aliases and classes, and ``list[int]`` / ``int | None`` from ``types``."""
    if type(value).__module__ in _TYPING_MODULES:
        return True
    if isinstance(value, type) and value.__module__ in _TYPING_MODULES:
        return True
    return type(value).__name__ in ("GenericAlias", "UnionType") and type(value).__module__ == "types"


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

    def __init__(self) -> None:
        self.stack: list[int] = []
        self.lowest_backref = sys.maxsize
        self.digests: dict[int, str] = {}  # id -> digest of a self-contained object already encoded
        self.keepalive: list[Any] = []  # holds encoded objects so their ids stay unique during the walk
        self.root_object: Any = None  # hashed by content even when installed or loaded from a store
        self.too_deep_at: str | None = None  # path of the innermost value when the recursion limit was hit

    def root(self, obj: Any) -> str:
        """The object asked about is always encoded by content, even when it comes from an installed
        package or a store (where it would be referenced by name as a dependency)."""
        out: list[str] = []
        self.root_object = obj
        try:
            self.value(obj, out, obj.__qualname__)
        except RecursionError:
            raise self._too_deep(self.too_deep_at or obj.__qualname__) from None
        return "".join(out)

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
        return isinstance(value, type) and value.__module__ not in _TYPING_MODULES and not self._by_reference(value)

    def _by_reference(self, obj: Any) -> bool:
        return obj is not self.root_object and not object_travels_by_value(obj)

    # -- shared machinery --------------------------------------------------------------------------------

    def _enter(self, obj: Any, out: list[str]) -> bool:
        """Emit a back-reference and return False when ``obj`` is already being encoded."""
        try:
            depth = self.stack.index(id(obj))
        except ValueError:
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
        inner: list[str] = []
        self.stack.append(id(obj))
        try:
            body(inner)
        finally:
            self.stack.pop()
        own_lowest = self.lowest_backref
        self.lowest_backref = min(outer_lowest, own_lowest)
        text = "".join(inner)
        digest = "#" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest() + ";"
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
        """Sets and dict items: each encoded alone, then sorted, so iteration order never matters."""
        if not self._enter(obj, out):
            return
        self.stack.append(id(obj))
        try:
            encoded = []
            for item in items:
                sub: list[str] = []
                self.value(item, sub, f"{path}{{...}}")
                encoded.append("".join(sub))
            encoded.sort()
            out.append(f"{tag}{len(encoded)}[{''.join(encoded)}]")
        finally:
            self.stack.pop()

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
        try:
            if value is None or value is Ellipsis or value is NotImplemented or type(value) is bool:
                out.append(f"<{value}>")
                return
            encoder = self._registered_encoder(type(value))
            if encoder is not None:
                out.append(f"R{_qualified_name(type(value))}(")
                self.value(encoder(value), out, f"{path} -> {type(value).__qualname__}")
                out.append(")")
                return
            kind = type(value)
            if kind in (int, float, complex, str, bytes):
                out.append(_atom(value))
            elif kind is bytearray:
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
                self.reduced(value, out, path)
        except RecursionError:
            # Nested deeper than the interpreter lets us follow. Note the innermost path only (no calls here:
            # the stack is full); root() turns it into an error that names it.
            if self.too_deep_at is None:
                self.too_deep_at = path
            raise

    def _registered_encoder(self, kind: type) -> Callable[[Any], Any] | None:
        encoder = _ENCODERS.get(kind)
        if encoder is not None or kind in _UNREGISTERED_BUILTINS:
            return encoder
        for base in kind.__mro__[1:]:
            encoder = _ENCODERS.get(base)
            if encoder is not None:
                return encoder
        return None

    # -- classes and functions ---------------------------------------------------------------------------

    def klass(self, cls: type, out: list[str], path: str) -> None:
        if self._by_reference(cls):
            out.append("C" + _atom(_qualified_name(cls)))
            return
        self._digest_of(cls, out, path, lambda inner: self._class_body(cls, inner, path))

    def _class_body(self, cls: type, out: list[str], path: str) -> None:
        out.append("class" + _atom(cls.__name__))
        bases = tuple(base for base in cls.__bases__ if base is not object)
        self._container(bases, out, "bases", bases, f"{path}.__bases__")
        metaclass = type(cls)
        if metaclass is not type and metaclass not in _ENUM_METACLASSES:
            out.append("meta")
            self.value(metaclass, out, f"{path}.__class__")
        for name, member in _class_members(cls):
            out.append("." + _atom(name))
            self.value(member, out, f"{path}.{name}")
        if isinstance(cls, enum.EnumMeta):
            members = _enum_members(cls)
            self._sorted(members, out, "enum_members", members.items(), f"{path}.__members__")
        fields = vars(cls).get("__dataclass_fields__")
        if fields is not None:
            self._dataclass(cls, fields, out, path)

    def _dataclass(self, cls: type, fields: dict[str, Any], out: list[str], path: str) -> None:
        params = vars(cls)["__dataclass_params__"]
        out.append("dataclass(" + ",".join(f"{p}={getattr(params, p)}" for p in _DATACLASS_PARAMS) + ")")
        for name in sorted(fields):
            field = fields[name]
            default, factory = _unless_missing(field.default), _unless_missing(field.default_factory)
            flags = tuple(_unless_missing(getattr(field, attr, None)) for attr in _FIELD_ATTRS)
            described = (name, field.type, default, factory, flags, dict(field.metadata), field._field_type.name)
            self._container(field, out, "field", described, f"{path}.{name}")

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
        source_text, names = _source_encoding(code)
        if source_text is not None:
            out.append("ast:" + source_text)
        else:
            out.append(f"bytecode{sys.version_info[0]}.{sys.version_info[1]}:")
            self._code(code, out, path)
            names = _code_names(code)
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
