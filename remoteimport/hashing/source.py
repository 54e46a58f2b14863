"""Source -> canonical text: finding a function's source, parsing its block, encoding the AST.

A function is identified by the normalized AST of its ``def`` (or ``lambda``): node types and non-empty fields
only, no positions, comments or layout, stable across CPython 3.10+. Here too: the type-tagged text of
constants (:func:`_atom`), the scan of ``co_code`` for the global names a function reads (what cloudpickle
ships with it), and the caches: per source text (``_SOURCE_CACHE``) and the lambdas of a file by line
(``_LAMBDA_INDEX``). Reads source through ``linecache`` only, as the file is now
(``code_objects.current_lines``).
"""

from __future__ import annotations

import ast
import dis
import operator
import re
import sys
import types
from typing import Any

from remoteimport.code_objects import current_lines

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
    lines = current_lines(code.co_filename)
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
