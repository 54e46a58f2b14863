"""What a version ships of its files (issue 24): the statements of the code it carries, at their own line numbers.

``code_objects.shipped_source`` keeps every top-level statement (decorators included) that holds a code object
the payload carries or defines one of its classes, and every import; other lines are left empty, nothing follows
the last line kept. A property test checks, over generated modules, what the loading host relies on: each kept
line is the file's line at the same number, the shipped text compiles to the very code objects the payload
carries (what another Python compiles, and what the load-time agreement check compares), and the hasher reads
the same source for every function from it as from the whole file (so the re-hash gives the pushed hash).
End to end, in fresh interpreters and across Pythons: tests/e2e/test_trimmed_source.py.
"""

from __future__ import annotations

import ast
import importlib
import io
import itertools
import linecache
import sys
import types
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remoteimport import capture, code_objects
from remoteimport.code_objects import shipped_source, source_mismatches, version_filename
from remoteimport.hashing import source as hashing_source


def _lines(text: str) -> list[str]:
    """The lines of ``text`` as linecache reads a file (split at newlines only)."""
    return io.StringIO(text).readlines()


MODULE = '''"""A module docstring."""
from __future__ import annotations

import os

TAX = 0.2  # a constant


def helper(x):
    return x + 1


@staticmethod
def unused(y):
    return y


class Base:
    kind = "base"


class Shop(Base):
    @property
    def name(self):
        return os.sep + helper(1)


if os.sep == "/":
    class Later:
        pass
a = 1; b = lambda: a
'''


def test_a_file_ships_the_statements_of_its_code_and_classes_at_their_lines() -> None:
    lines = _lines(MODULE)
    shop_name = lines.index("    def name(self):\n") - 1  # the first line of the property's code: its decorator
    shipped = _lines(shipped_source(lines, [shop_name + 1, lines.index("def helper(x):\n") + 1], ["Base"]))
    kept = {number: line for number, line in enumerate(shipped) if line.strip()}
    assert all(line == lines[number] for number, line in kept.items())
    assert [line.rstrip("\n") for line in kept.values()] == [
        "from __future__ import annotations",  # changes how the rest compiles
        "import os",
        "def helper(x):",
        "    return x + 1",
        "class Base:",  # a class of the payload without code of its own: found by its name
        '    kind = "base"',
        "class Shop(Base):",
        "    @property",
        "    def name(self):",
        "        return os.sep + helper(1)",
    ]
    assert len(shipped) == lines.index("        return os.sep + helper(1)\n") + 1  # nothing after the last kept


def test_decorators_blocks_and_shared_lines_are_kept_whole() -> None:
    lines = _lines(MODULE)
    unused = lines.index("def unused(y):\n") + 1
    shipped = _lines(shipped_source(lines, [unused - 1, len(lines)], ["Later"]))
    assert shipped[unused - 2 : unused + 1] == lines[unused - 2 : unused + 1]  # from the decorator on
    assert shipped[-4:] == lines[-4:]  # the `if` block defining Later; both statements of the last line
    compile("".join(shipped), "shipped.py", "exec")


def test_a_text_that_does_not_parse_is_shipped_whole() -> None:
    lines = ["def f(:\n", "    pass\n"]
    assert shipped_source(lines, [1]) == "".join(lines)


def test_a_nested_class_ships_the_statement_it_is_nested_in() -> None:
    lines = _lines("X = 1\n\n\nclass Outer:\n    class Inner:\n        size = 2\n\n\nY = 2\n")
    assert shipped_source(lines, [], ["Outer"]) == "\n\n\nclass Outer:\n    class Inner:\n        size = 2\n"


def test_capture_ships_the_class_lines_of_a_module_of_many_classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def classes(prefix: str) -> str:
        return "".join(f"class {prefix}{i}:\n    def apply(self, x):\n        return x + {i}\n\n\n" for i in range(200))

    text = "from __future__ import annotations\n\n\n" + classes("Before") + "class Target(Before3):\n    pass\n\n\n"
    text += classes("After")
    (tmp_path / "many_classes_module.py").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("many_classes_module")
    monkeypatch.setitem(sys.modules, "many_classes_module", module)  # removed again when the test ends
    captured = capture.capture_class(module.Target, path="Target")
    assert list(captured.source) == [module.__file__]  # Target has no code: its base's file
    shipped = _lines(captured.source[module.__file__])
    assert len(captured.source[module.__file__]) < len(text) / 10
    assert {line for line in shipped if line.startswith("class ")} == {"class Before3:\n", "class Target(Before3):\n"}
    assert all(not line.strip() or line == _lines(text)[number] for number, line in enumerate(shipped))


def test_a_part_that_would_not_compile_to_the_code_is_not_shipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should trimming ever cut what a code object needs, the push ships the whole file rather than refuse."""
    text = "import os\n\n\nclass Greeter:\n    def greet(self):\n        return os.sep\n"
    (tmp_path / "greeter_module.py").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("greeter_module")
    monkeypatch.setitem(sys.modules, "greeter_module", module)
    monkeypatch.setattr(capture, "shipped_source", lambda lines, places, names=(): "".join(lines[:3]))
    assert capture.capture_class(module.Greeter, path="Greeter").source == {module.__file__: text}


# ---------------------------------------------------------------------------------------------------------
# The property, over generated modules.

PROLOGUE = '''"""Generated."""
from __future__ import annotations

import functools


def deco(function):
    return function


class Base:
    def method(self, value):
        return value
'''

# Each template is one or more top-level statements (with whatever surrounds them), numbered by {i}.
TEMPLATES = [
    'def f{i}(x, y={i}):\n    """Doc {i}."""\n    return [v * x for v in range(y)]\n',
    "@deco\n@functools.lru_cache(maxsize=None)\ndef g{i}(a):\n    return (lambda b: a + b)({i})\n",
    (
        "class C{i}(Base):\n    k = {i}\n\n    class Inner:\n        def m(self):\n            return {i}\n\n"
        "    def method(self, value):\n        return super().method(value) + self.k\n\n"
        "    @property\n    def p(self):\n        return sorted([1, 2], key=lambda z: -z)\n"
    ),
    "v{i} = {i}; w{i} = lambda q: q + v{i}  # two statements, one line\n",
    "# a comment {i}\n\n\n",
    '\nTEXT{i} = """\nat column zero\n  indented {i}\n"""\n',
    "if len(__name__) > 1:\n    def cond{i}():\n        return {i}\nelse:\n    def cond{i}():\n        return -{i}\n",
    "try:\n    import json as j{i}\nexcept ImportError:\n    j{i} = None\n",
    'def s{i}():\n    return """\ntext at column zero {i}\n""" + str(\n        {i}\n    )\n',
    "async def a{i}(items):\n    return [x async for x in items]\n",
    "def m{i}(value):\n    match value:\n        case [x, *_]:\n            return x\n        case _:\n"
    "            return {i}\n",
    "\x0c\n",  # a form feed line between sections
    "def t{i}(x): return x  # one line\n",
    "a{i} = (\n    {i}\n); b{i} = lambda: a{i}  # a statement ends on the line the next one starts\n",
    "def ann{i}(x: int, y: list[int] | None = None) -> dict:\n    def inner(z: Undefined{i}) -> int:\n"
    "        return z\n\n    return {{}}\n",
    "for n{i} in range(2):\n    pass\nelse:\n    def loop{i}():\n        return n{i}\n",
    "try:\n    def tried{i}():\n        return 1\nexcept(ValueError):\n    pass\nfinally:\n    x{i} = 2\n",
    "total{i} = 1 + \\\n2 + (lambda: {i})()  # a backslash: the next line starts at column zero\n",
    'doc{i} = """\ndef looks_like_code():\n    return 0\nclass Neither:\n    pass\n"""\n',
    "@deco(\n{i}\n)\nclass Decorated{i}:\n    def m(self):\n        return {i}\n",
    (
        "class D{i}:\n    def __init__(self):\n        self.x = [\n            y\n            for y in range({i})\n"
        "        ]\n\n    def method(self):\n        def inner():\n            return self.x\n        return inner\n"
    ),
]

_numbers = itertools.count()


@st.composite
def modules(draw: st.DrawFn) -> tuple[str, list[int], list[str]]:
    """A module text, the indexes of code objects a payload carries (by compile order) and class names."""
    chosen = draw(st.lists(st.sampled_from(range(len(TEMPLATES))), min_size=1, max_size=14))
    text = PROLOGUE + "".join("\n" * draw(st.integers(0, 2)) + TEMPLATES[t].format(i=i) for i, t in enumerate(chosen))
    carried = draw(st.lists(st.integers(0, 200), max_size=6))
    names = draw(st.lists(st.sampled_from(["Base", "C0", "C1", "D2", "f0", "Missing"]), max_size=3))
    return text, carried, names


def _statements_of_the_whole(text: str) -> tuple[tuple[int, int, frozenset[str], bool], ...]:
    """What ``code_objects._top_level_statements`` finds, from the AST of the whole text at once."""
    groups: list[tuple[int, int, frozenset[str], bool]] = []
    for node in ast.parse(text).body:
        first = min([node.lineno, *(decorator.lineno for decorator in getattr(node, "decorator_list", ()))])
        last, defined = node.end_lineno or node.lineno, code_objects._defined_names(node)
        is_import = isinstance(node, (ast.Import, ast.ImportFrom))
        if groups and first <= groups[-1][1]:
            before = groups.pop()
            first, last, defined, is_import = (
                before[0],
                max(last, before[1]),
                defined | before[2],
                is_import or before[3],
            )
        groups.append((first, last, defined, is_import))
    return tuple(groups)


def _functions(module_code: types.CodeType) -> list[types.CodeType]:
    """Every code object below the module's, in the compiler's order (what a payload may carry)."""
    found, pending = [], [module_code]
    while pending:
        code = pending.pop(0)
        nested = [const for const in code.co_consts if isinstance(const, types.CodeType)]
        found.extend(nested)
        pending.extend(nested)
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(modules())
def test_the_shipped_part_of_a_file_serves_the_loading_host_as_the_file_did(
    module: tuple[str, list[int], list[str]],
) -> None:
    text, carried, names = module
    filename = f"/generated/module_{next(_numbers)}.py"
    codes = _functions(compile(text, filename, "exec", dont_inherit=True))
    carried_codes = [codes[index % len(codes)] for index in carried]
    lines = _lines(text)
    shipped = shipped_source(lines, [code.co_firstlineno for code in carried_codes], names)
    # What the loader registers in linecache (loader._fill_linecache) under the version's own file name.
    shipped_lines = shipped.splitlines(keepends=True)

    # The statements are found a few at a time (a module's whole AST is large): as in the whole AST.
    assert code_objects._top_level_statements(text) == _statements_of_the_whole(text)
    # Line numbers: every shipped line is empty or the file's line at that number.
    assert len(shipped_lines) <= len(lines)
    assert all(line == "\n" or line == lines[number] for number, line in enumerate(shipped_lines))
    # Another Python compiles the shipped text (as it is: no flags), the agreement check compares it with the
    # bytecode: the same code objects at the same places.
    compiled = _functions(compile(shipped, filename, "exec", dont_inherit=True))
    assert all(code in compiled for code in carried_codes)
    assert source_mismatches([(code, filename) for code in carried_codes], {filename: shipped}) == []
    # The classes named keep their statement.
    for name in names:
        header = next((line for line in lines if line.startswith(f"class {name}(") or line == f"class {name}:\n"), None)
        if header is not None:
            assert header in shipped_lines and shipped_lines.index(header) == lines.index(header)

    # The hasher reads the same source for each carried function (and those nested in it) from the shipped text
    # under the version's file name as from the whole file under its own.
    tagged = version_filename(filename, "Generated@0123456789ab")
    linecache.cache[filename] = (len(text), None, lines, filename)
    linecache.cache[tagged] = (len(shipped), None, shipped_lines, tagged)
    try:
        for code in carried_codes:
            for inner in [code, *_functions(code)]:
                expected = hashing_source._source_encoding(inner)
                assert hashing_source._source_encoding(inner.replace(co_filename=tagged)) == expected, inner
    finally:
        del linecache.cache[filename], linecache.cache[tagged]


@pytest.mark.parametrize("template", range(len(TEMPLATES)))
def test_every_template_reads_the_same_when_each_of_its_functions_is_carried_alone(template: int) -> None:
    """The property's examples may miss a template: each one, in the middle of others, every code object alone."""
    text = PROLOGUE + "".join(TEMPLATES[t].format(i=i) for i, t in enumerate([0, template, 2, template]))
    filename = f"/generated/template_{template}.py"
    lines = _lines(text)
    for code in _functions(compile(text, filename, "exec", dont_inherit=True)):
        shipped = shipped_source(lines, [code.co_firstlineno])
        assert code in _functions(compile(shipped, filename, "exec", dont_inherit=True)), (template, code)
        assert source_mismatches([(code, filename)], {filename: shipped}) == [], (template, code)
        tagged = version_filename(filename, f"T@{template}")
        linecache.cache[filename] = (len(text), None, lines, filename)
        linecache.cache[tagged] = (len(shipped), None, shipped.splitlines(keepends=True), tagged)
        try:
            assert hashing_source._source_encoding(code.replace(co_filename=tagged)) == hashing_source._source_encoding(
                code
            )
        finally:
            del linecache.cache[filename], linecache.cache[tagged]
