"""Issue 13: the hasher's fast paths give byte-identical encodings, so no stored hash changes.

Each fast path of :mod:`remoteimport.hashing` is checked against the plain implementation it replaced, kept
here as the reference: the global-name scan of ``co_code`` against ``dis.get_instructions``, the AST encoder
against the recursive walk, the line-table bound against the loop over ``co_positions()``/``co_lines()``.
Then whole hashes: the hash corpus computed with the reference helpers against the fast ones (also with
stale source in linecache), and golden hashes of odd layouts, the same on every CPython from 3.10 on (taken
before the change). Last, the cache per source text: hit after a reload, never stale, bounded.

The checks are plain functions so that other interpreters can run them without pytest (see ``main``):
``PYTHONPATH=/work/main python3.13 tests/test_hashing_speedups.py``.
"""

from __future__ import annotations

import ast
import dis
import importlib
import importlib.util
import inspect
import linecache
import random
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:  # the cross-version run (main) needs neither
    import pytest
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - only without the test extras
    pytest = None  # type: ignore[assignment]

from remoteimport import hashing

TESTS = Path(__file__).resolve().parent
CORPUS_DIR = TESTS / "hash_corpus"

# Standard-library modules present (as source) on every supported Python: thousands of code objects and all
# of the syntax the hasher meets, big functions included (EXTENDED_ARG).
STDLIB_MODULES = (
    "argparse",
    "ast",
    "asyncio.base_events",
    "collections",
    "configparser",
    "dataclasses",
    "difflib",
    "doctest",
    "email._header_value_parser",
    "enum",
    "fractions",
    "functools",
    "http.client",
    "inspect",
    "json.encoder",
    "logging",
    "pathlib",
    "pickle",
    "pydoc",
    "statistics",
    "string",
    "subprocess",
    "tarfile",
    "textwrap",
    "typing",
    "unittest.case",
    "urllib.parse",
    "zipfile",
    "_pydecimal",
)

# Odd layouts: decorators (one spaced out by a comment and a blank line), strings and continuation lines at
# column 0, a call spread over lines, several lambdas on one line, f-strings, match, global and del, tabs.
ODD_LAYOUTS = '''\
"""Odd source layouts for the hasher."""
import functools
import os.path as osp

G = 1
NAMES = {}

def deco(f):
    return f

@deco
@functools.lru_cache(maxsize=None)
def decorated(x):
    return x + G

def dedented_string():
    text = """
first
  second
"""
    return text + str(G)

def backslash():
    total = 1 + \\
2
    return total

def long_call(a,
b=1,
    *c, d=2, **e):
    return (a,
b, c, d, e, G)

pair = (lambda x: x + G, lambda x: x - G)
same = [lambda y: y * 2, lambda y: y * 3]
def one_liner(x): return x + G

async def coroutine(x):
    async with x as y:
        await y
    return [z async for z in x]

def uses_global():
    global G
    G = G + 1
    del NAMES["x"]
    return osp.join("a", "b")

def fstrings(x):
    return f"a{{b}}{x!r:>{G}}" f"c" "d{x}" f"{x=}"

def matcher(x):
    match x:
        case [1, *rest]:
            return rest
        case {"k": v, **kw}:
            return v
        case str() | bytes() as s if s:
            return s
        case _:
            return None

def nested():
    def inner(a=G):
        return a + G
    class Local:
        def m(self):
            return inner(G)
    return Local, (lambda: inner)

class WithDecorated:
    @staticmethod
    def s(x):
        return x

    @property
    def p(self):
        return G

    @p.setter
    def p(self, value):
        global G
        G = value

    # a comment
    @deco

    def spaced(self):
        return osp.sep

class Tabs:
\tdef tabbed(self):
\t\treturn G
'''


def many_globals_source(count: int = 700) -> str:
    """A module whose function and method read hundreds of globals: their indexes need EXTENDED_ARG."""
    lines = [f"g{i} = {i}" for i in range(count)]
    lines.append("def many():")
    lines.append("    return [" + ", ".join(f"g{i}" for i in range(count)) + "]")
    lines.append("class Many:")
    lines.append("    def m(self):")
    lines.append(f"        global g{count - 1}")
    lines.append(f"        g{count - 1} = " + " + ".join(f"g{i}" for i in range(0, count, 3)))
    lines.append("        return many()")
    return "\n".join(lines) + "\n"


# Computed by the hasher before issue 13, identical on CPython 3.10, 3.11, 3.12 and 3.13 (os.path: posixpath).
GOLDEN = {
    "odd_layouts.WithDecorated": "f2c4ff1c3d0df76da8d583c0ed31e3385fa642f5ee704a5f52d31bd74a8e6777",
    "odd_layouts.Tabs": "824a4d06054d77fd01a2df5df94f329f0739016a1ca42839ccd43173d007df92",
    "odd_layouts.deco": "da9941a951c26e7106c7a764c01a01c6cadcc3c5a83b228696a007e9594510a8",
    "odd_layouts.dedented_string": "7bbe87d9d101bac4b16fcbb9a6eb15b88d06b4ba14e5759430494f8d1ef97591",
    "odd_layouts.backslash": "e98119eeaf7f910cb99ff263ff0c54ed9a26a4a38a2f5b268cec147a176d9dd4",
    "odd_layouts.long_call": "f856e5549380cc6bf96c031afdc1f82596c905e58bfcd8dd95e300731d0cd23e",
    "odd_layouts.one_liner": "f83d7f47fcc57ecb9811f05bb4b16b8b93ca92b8f9d9602bd74d89caca25bffb",
    "odd_layouts.coroutine": "abb4d68aecb8176c69756f7229216e5c1559d203f7bac42de227f5a83727a78d",
    "odd_layouts.uses_global": "b536df2846730486349fcdaed79007ae901d148d472f0b54f34d1bb82025e274",
    "odd_layouts.fstrings": "5dc8a6fb386295690af426da533badfe6dacf32a6af40d03e2545f58f64c5f2d",
    "odd_layouts.matcher": "de7276c5f8cd5b67ed034c39a70c5991f5b8eb807f37db2a21a5ca94b327fdf2",
    "odd_layouts.nested": "34daf77b33c9c410346c5d7b3e07cf86090dab1d4b0db7a7e9eaa002c978c75a",
    "odd_layouts.pair[0]": "f59329c847272e4964fd676abd84188f1a61d8bece0c2da98f2d01f2126b5d0d",
    "odd_layouts.pair[1]": "3cd99c47a24032f8a40f42e1d15db96b64cf7095bfcdd9d734de39544526f85e",
    "odd_layouts.same[0]": "a59c48cd6d27dd99deb1ba13f8b799f340d5ff91dbac0930c6f17a8e2c96a922",
    "odd_layouts.same[1]": "0656b9435c4169da95bf7d35601e4ca6c29b10fc4378eec672ac71ce707f9a7b",
    "odd_layouts.nested()[0]": "280170d5d2e444ce724a1295ed1bc5a2d206f3fa0b4552acbf5e366886233c59",
    "odd_layouts.nested()[1]": "b30262e4684433be26f1bfa0f1ce816ee816145eef66d8dffd1940b974389c91",
    "many_globals.Many": "7ec1de4f076e6c7163a65151b12b738d5c2dd6e129baf290de81015304941800",
    "many_globals.many": "b129764953520da82ed868e694c56d7ac0d0eb3630ed9e4c4cffadc658e65192",
    # benchmarks/run.py's class_source("ProcFilter", 10): the class of the "first class_hash" benchmark
    "proc_filters.ProcFilter": "b6029cc970b0fa00101b146f72172e7f74b4db0c463996a2290f83ee771eedbe",
}


# ---------------------------------------------------------------------------------------------------------
# The reference implementations: remoteimport.hashing as it was before issue 13.

_GLOBAL_OPS = frozenset(dis.opmap[name] for name in ("LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL"))


def reference_global_names(code: types.CodeType) -> set[str]:
    return {instruction.argval for instruction in dis.get_instructions(code) if instruction.opcode in _GLOBAL_OPS}


def reference_code_names(code: types.CodeType) -> list[str]:
    names = reference_global_names(code)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.update(reference_code_names(const))
    return sorted(names)


def reference_last_line(code: types.CodeType) -> int:
    last = code.co_firstlineno
    if hasattr(code, "co_positions"):
        for _, end_line, _, _ in code.co_positions():
            if end_line is not None and end_line > last:
                last = end_line
    else:
        for _, _, line in code.co_lines():
            if line is not None and line > last:
                last = line
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            last = max(last, reference_last_line(const))
    return last


_REFERENCE_FIELDS: dict[type, tuple[str, ...]] = {}


def reference_encode_ast(node: Any, out: list[str], names: set[str]) -> None:
    node_type = type(node)
    if node_type is list:
        out.append(f"[{len(node)}")
        for item in node:
            out.append(" ")
            reference_encode_ast(item, out, names)
        out.append("]")
        return
    if not isinstance(node, ast.AST):
        out.append(hashing._atom(node))
        return
    if node_type is ast.Name:
        names.add(node.id)
    elif node_type is ast.Attribute:
        dotted = hashing._dotted_name(node)
        if dotted:
            names.add(dotted)
    elif node_type is ast.JoinedStr:
        node = hashing._merge_fstring_constants(node)
    fields = _REFERENCE_FIELDS.get(node_type)
    if fields is None:
        fields = _REFERENCE_FIELDS[node_type] = tuple(
            sorted(f for f in node_type._fields if f not in ("type_comment", "kind"))
        )
    if not fields:
        out.append(f"({node_type.__name__})")
        return
    out.append(f"({node_type.__name__}")
    for field in fields:
        value = getattr(node, field, None)
        if value is None or (type(value) is list and not value):
            continue
        out.append(f" {field}=")
        if type(value) in (str, int, float, complex, bytes, bool, type(None), type(Ellipsis)):
            out.append(hashing._atom(value))
        else:
            reference_encode_ast(value, out, names)
    out.append(")")


def reference_source_encoding(code: types.CodeType) -> tuple[str | None, list[str]]:
    """Uncached, with the reference helpers."""
    lines = linecache.getlines(code.co_filename)
    node = hashing._function_node(code, lines)
    if node is None:
        return None, []
    out: list[str] = []
    found: set[str] = set()
    reference_encode_ast(node, out, found)
    readable = set(reference_code_names(code))
    return "".join(out), sorted(name for name in found if name.partition(".")[0] in readable)


def reference_helpers() -> dict[str, Any]:
    """The names to replace in remoteimport.hashing.source (which owns them) to hash as before issue 13."""
    return {
        "_source_encoding": reference_source_encoding,
        "_encode_ast": reference_encode_ast,
        "_code_names": reference_code_names,
        "_last_line": reference_last_line,
    }


# ---------------------------------------------------------------------------------------------------------
# Material: code objects and trees of real modules, modules written to a folder.


def stdlib_sources() -> Iterator[tuple[str, str]]:
    for name in STDLIB_MODULES:
        path = inspect.getsourcefile(importlib.import_module(name))
        assert path is not None, name
        yield path, Path(path).read_text(encoding="utf-8")


def code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from code_objects(const)


def function_code(source: str) -> types.CodeType:
    """The code of the one function ``source`` defines."""
    module = compile(source, "<generated>", "exec")
    return next(const for const in module.co_consts if isinstance(const, types.CodeType))


def stdlib_code_objects() -> list[types.CodeType]:
    return [code for path, text in stdlib_sources() for code in code_objects(compile(text, path, "exec"))]


def load(folder: Path, module_name: str, source: str) -> types.ModuleType:
    """Write ``source`` as ``folder/module_name.py`` and import it (replacing any module of that name)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module_name}.py"
    path.write_text(source, encoding="utf-8")
    linecache.checkcache(str(path))
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def own_objects(module: types.ModuleType) -> dict[str, Any]:
    """Every class and function the module defines at top level, by ``module.name``."""
    return {
        f"{module.__name__}.{name}": value
        for name, value in sorted(vars(module).items())
        if isinstance(value, (type, types.FunctionType)) and value.__module__ == module.__name__
    }


def golden_objects(folder: Path) -> dict[str, Any]:
    odd = load(folder, "odd_layouts", ODD_LAYOUTS)
    many = load(folder, "many_globals", many_globals_source())
    spec = importlib.util.spec_from_file_location("_benchmarks_run", TESTS.parent / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    benchmarks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmarks)
    procs = load(folder, "proc_filters", benchmarks.class_source("ProcFilter", 10))
    local, lam = odd.nested()
    objects = {**own_objects(odd), **own_objects(many), "proc_filters.ProcFilter": procs.ProcFilter}
    objects.update(
        {
            "odd_layouts.pair[0]": odd.pair[0],
            "odd_layouts.pair[1]": odd.pair[1],
            "odd_layouts.same[0]": odd.same[0],
            "odd_layouts.same[1]": odd.same[1],
            "odd_layouts.nested()[0]": local,
            "odd_layouts.nested()[1]": lam,
        }
    )
    return {key: objects[key] for key in GOLDEN}


def corpus_objects(folder: Path) -> dict[str, Any]:
    """The hash corpus (tests/hash_corpus), the odd layouts and the many-globals module."""
    objects: dict[str, Any] = {}
    for path in sorted(CORPUS_DIR.glob("corpus_*.py")):
        objects.update(own_objects(load(folder, f"speedups_{path.stem}", path.read_text(encoding="utf-8"))))
    objects.update(golden_objects(folder))
    return objects


def clear_caches() -> None:
    hashing._SOURCE_CACHE.clear()
    hashing._LAMBDA_INDEX.clear()


def hashes(objects: dict[str, Any], *, reference: bool = False) -> dict[str, str]:
    """class_hash of each object, with the fast helpers or (``reference=True``) those before issue 13."""
    saved = {name: getattr(hashing.source, name) for name in reference_helpers()}
    clear_caches()
    if reference:
        for name, helper in reference_helpers().items():
            setattr(hashing.source, name, helper)
    try:
        results = {}
        for key, obj in objects.items():
            try:
                results[key] = hashing.class_hash(obj)
            except Exception as exc:  # the same failure both ways counts as the same result
                results[key] = f"{type(exc).__name__}: {exc}"
        return results
    finally:
        for name, helper in saved.items():
            setattr(hashing.source, name, helper)
        clear_caches()


# ---------------------------------------------------------------------------------------------------------
# The checks.


def global_access_source(padding: int, uses: list[tuple[str, int]]) -> str:
    """A function using globals ``g<index>`` as ``uses`` says, after reading ``padding`` other names first
    (co_names lists names in order of first use: padding pushes the indexes past 255, into EXTENDED_ARG)."""
    declared = sorted({index for kind, index in uses if kind in ("store", "delete")})
    body = []
    if declared:
        body.append("global " + ", ".join(f"g{index}" for index in declared))
    if padding:
        body.append("_ = (" + ", ".join(f"p{i}" for i in range(padding)) + ",)")
    templates = {
        "read": "x = g{0} + 1",
        "store": "g{0} = x",
        "delete": "del g{0}",
        "attribute": "x = g{0}.attr.g{0}",
        "call": "x = g{0}(x, key=g{0})",
        "comprehension": "x = [g{0} for _ in x]",
        "lambda": "x = lambda: g{0}",
        "nested": "def inner():\n        return g{0}",
        "local": "x = self.g{0}",
    }
    body.extend(templates[kind].format(index) for kind, index in uses)
    return "def generated(self, x=None):\n    x = 0\n" + "".join(f"    {line}\n" for line in body) + "    return x\n"


def check_global_scan(codes: list[types.CodeType]) -> int:
    """The scan agrees with dis on every code object; returns how many had EXTENDED_ARG."""
    extended = 0
    for code in codes:
        assert hashing._global_access_names(code) == reference_global_names(code), code
        extended += dis.opmap["EXTENDED_ARG"] in code.co_code[::2]
    for code in codes[:2000]:
        assert hashing._code_names(code) == reference_code_names(code), code
    return extended


def check_cache_units_are_zero(codes: list[types.CodeType]) -> None:
    """What the scan relies on: in co_code, every inline cache entry (3.11+) is two zero bytes."""
    for code in codes:
        raw = code.co_code
        for instruction in dis.get_instructions(code):
            end = instruction.offset + 2 + 2 * _cache_entries(instruction.opcode)
            assert raw[instruction.offset + 2 : end] == bytes(end - instruction.offset - 2), code


def _cache_entries(opcode: int) -> int:
    import opcode as opcodes

    table = getattr(opcodes, "_inline_cache_entries", None)
    if table is None:  # 3.10: none
        return 0
    if isinstance(table, dict):  # 3.13: by name
        return table.get(dis.opname[opcode], 0)
    return table[opcode]


def check_last_line(codes: list[types.CodeType]) -> None:
    for code in codes:
        assert hashing._last_line(code) == reference_last_line(code), code


def check_ast_encoding(sources: list[tuple[str, str]]) -> None:
    for path, text in sources:
        tree = ast.parse(text)
        fast: list[str] = []
        slow: list[str] = []
        fast_names: set[str] = set()
        slow_names: set[str] = set()
        hashing._encode_ast(tree, fast, fast_names)
        reference_encode_ast(tree, slow, slow_names)
        assert "".join(fast) == "".join(slow), path
        assert fast_names == slow_names, path


def check_random_global_sources(rounds: int, seed: int = 13) -> None:
    """The Hypothesis property below, drawn with random (for interpreters without Hypothesis)."""
    chooser = random.Random(seed)
    kinds = ("read", "store", "delete", "attribute", "call", "comprehension", "lambda", "nested", "local")
    for _ in range(rounds):
        uses = [(chooser.choice(kinds), chooser.randrange(400)) for _ in range(chooser.randrange(1, 12))]
        source = global_access_source(chooser.choice((0, 3, 130, 260, 700)), uses)
        check_global_scan(list(code_objects(compile(source, "<generated>", "exec"))))


def check_corpus(folder: Path) -> int:
    """Fast and reference helpers hash the corpus alike, also when linecache holds edited source."""
    objects = corpus_objects(folder)
    fast = hashes(objects)
    assert fast == hashes(objects, reference=True)
    # Stale source: each corpus file edited after import (lines added at the top) -- as when a loaded class's
    # file was changed since it was pushed. Whatever the hasher then finds, both ways must find the same.
    for path in sorted(folder.glob("speedups_corpus_*.py")):
        path.write_text("# edited\n\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
        linecache.checkcache(str(path))
    stale = {key: obj for key, obj in objects.items() if key.startswith("speedups_")}
    assert hashes(stale) == hashes(stale, reference=True)
    return len(fast)


def check_golden(folder: Path) -> None:
    objects = golden_objects(folder)
    clear_caches()
    assert {key: hashing.class_hash(obj) for key, obj in objects.items()} == GOLDEN


# ---------------------------------------------------------------------------------------------------------
# The tests.

if pytest is not None:

    @pytest.fixture(scope="module")
    def stdlib_codes() -> list[types.CodeType]:
        return stdlib_code_objects()

    def test_global_scan_matches_dis_on_the_standard_library(stdlib_codes: list[types.CodeType]) -> None:
        assert len(stdlib_codes) > 3000
        assert check_global_scan(stdlib_codes) > 0  # EXTENDED_ARG met, not only assumed

    def test_inline_caches_are_zero_in_co_code(stdlib_codes: list[types.CodeType]) -> None:
        check_cache_units_are_zero(stdlib_codes[::7])

    def test_global_scan_matches_dis_on_hand_made_code() -> None:
        source = global_access_source(300, [("read", 5), ("store", 7), ("delete", 9), ("lambda", 11)])
        code = function_code(source)
        assert dis.opmap["EXTENDED_ARG"] in code.co_code[::2]
        # the same instructions under other names, and without any global access at all
        check_global_scan([code.replace(co_names=tuple(f"n{i}" for i in range(len(code.co_names))))])
        check_global_scan([function_code("def f(x):\n    return x.y\n")])

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        padding=st.sampled_from((0, 1, 127, 128, 255, 256, 300, 700)),
        uses=st.lists(
            st.tuples(
                st.sampled_from(
                    ("read", "store", "delete", "attribute", "call", "comprehension", "lambda", "nested", "local")
                ),
                st.integers(min_value=0, max_value=400),
            ),
            min_size=1,
            max_size=12,
        ),
    )
    def test_global_scan_matches_dis_on_generated_functions(padding: int, uses: list[tuple[str, int]]) -> None:
        check_global_scan(list(code_objects(compile(global_access_source(padding, uses), "<generated>", "exec"))))

    def test_last_line_matches_the_reference(stdlib_codes: list[types.CodeType]) -> None:
        check_last_line(stdlib_codes)

    def test_ast_encoding_matches_the_reference() -> None:
        check_ast_encoding([*stdlib_sources(), ("<odd layouts>", ODD_LAYOUTS)])

    @pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")  # the corpus's own regexes
    def test_corpus_hashes_match_the_reference_helpers(tmp_path: Path) -> None:
        assert check_corpus(tmp_path) > 50

    def test_golden_hashes(tmp_path: Path) -> None:
        check_golden(tmp_path)

    def test_unchanged_source_is_encoded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        module = load(tmp_path, "speedups_reloaded", ODD_LAYOUTS)
        first = hashing.class_hash(module.WithDecorated)
        parsed: list[types.CodeType] = []
        original = hashing._function_node
        counting = lambda code, lines: parsed.append(code) or original(code, lines)
        monkeypatch.setattr(hashing.source, "_function_node", counting)
        # Imported again: new code objects from the same text (which linecache may have read anew).
        reloaded = load(tmp_path, "speedups_reloaded", ODD_LAYOUTS)
        assert reloaded.WithDecorated is not module.WithDecorated
        assert hashing.class_hash(reloaded.WithDecorated) == first
        assert parsed == []
        assert hashing.class_hash(reloaded.Tabs) == GOLDEN["odd_layouts.Tabs"]  # not hashed before: encoded now
        assert len(parsed) == 1

    def test_changed_source_is_encoded_anew(tmp_path: Path) -> None:
        old = load(tmp_path, "speedups_changed", "class C:\n    def f(self):\n        return 1\n").C
        before = hashing.class_hash(old)
        new = load(tmp_path, "speedups_changed", "class C:\n    def f(self):\n        return 22\n").C
        after = hashing.class_hash(new)
        # The old class's code is the same object as before, but linecache holds the new text now: the entry
        # made from the old text must not be used (the hash is whatever an empty cache gives).
        stale = hashing.class_hash(old)
        clear_caches()
        assert after != before and hashing.class_hash(new) == after
        assert stale != before and hashing.class_hash(old) == stale

    def test_source_cache_is_bounded(tmp_path: Path) -> None:
        for index in range(hashing._SOURCE_CACHE_FILES + 5):
            module = load(tmp_path, f"speedups_bounded_{index}", f"def f():\n    return {index}\n")
            hashing.class_hash(module.f)
            assert len(hashing._SOURCE_CACHE) <= hashing._SOURCE_CACHE_FILES


def main() -> None:
    """The checks without pytest, for the other interpreters: prints what was checked."""
    import tempfile

    codes = stdlib_code_objects()
    extended = check_global_scan(codes)
    check_cache_units_are_zero(codes[::7])
    check_last_line(codes)
    check_ast_encoding([*stdlib_sources(), ("<odd layouts>", ODD_LAYOUTS)])
    check_random_global_sources(300)
    with tempfile.TemporaryDirectory() as folder:
        corpus = check_corpus(Path(folder) / "corpus")
        check_golden(Path(folder) / "golden")
    version = ".".join(map(str, sys.version_info[:3]))
    print(f"{version}: {len(codes)} code objects ({extended} with EXTENDED_ARG), {corpus} corpus objects: identical")


if __name__ == "__main__":
    main()
