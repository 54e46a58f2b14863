"""remoteimport/code_objects.py: code objects travel with their file, name and first line, and come back with
the version-tagged file name on every nested code object."""

from __future__ import annotations

import io
import linecache
import marshal
import pickle
import re
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remoteimport.code_objects import CODE_FORMAT, CodeRebuilder, python_tag, rebuild_code, reduce_code
from remoteimport.errors import IncompatibleBlobError, IntegrityError


def _all_code(code: types.CodeType) -> list[types.CodeType]:
    found = [code]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found.extend(_all_code(const))
    return found


def _function_code(source: str, filename: str, name: str = "f") -> types.CodeType:
    namespace: dict = {}
    exec(compile(source, filename, "exec", dont_inherit=True), namespace)
    return namespace[name].__code__


SOURCE = """\
def f(xs, n=2):
    squares = [x * x for x in xs]
    key = lambda v: -v
    def inner(y):
        return y + n
    return sorted(map(inner, squares), key=key)
"""


class _CodePickler(pickle.Pickler):
    def reducer_override(self, obj: object) -> object:
        return reduce_code(obj) if isinstance(obj, types.CodeType) else NotImplemented


def test_plain_unpickling_gives_back_the_code_unchanged() -> None:
    code = _function_code(SOURCE, "/src/mod.py")
    buffer = io.BytesIO()
    _CodePickler(buffer).dump({"code": code})
    rebuilt = pickle.loads(buffer.getvalue())["code"]
    assert rebuilt == code and rebuilt.co_filename == "/src/mod.py"


def test_rebuilder_tags_every_nested_code_object() -> None:
    code = _function_code(SOURCE, "/src/mod.py")
    rebuilt = CodeRebuilder("f@0123abcd4567", {"/src/mod.py": SOURCE}).rebuild(*reduce_code(code)[1])
    names = {inner.co_name for inner in _all_code(rebuilt)}
    assert {"f", "<lambda>", "inner"} <= names
    assert {inner.co_filename for inner in _all_code(rebuilt)} == {"/src/mod.py [f@0123abcd4567]"}
    assert rebuilt.co_code == code.co_code


def test_a_newer_code_format_asks_for_an_upgrade() -> None:
    args = list(reduce_code(_function_code(SOURCE, "/src/mod.py"))[1])
    args[0] = CODE_FORMAT + 1
    with pytest.raises(IncompatibleBlobError, match="Upgrade remoteimport"):
        rebuild_code(*args)


def test_code_of_another_python_is_refused_before_unmarshalling() -> None:
    args = list(reduce_code(_function_code(SOURCE, "/src/mod.py"))[1])
    args[1], args[5] = "2.7", b"\x00garbage"
    with pytest.raises(IncompatibleBlobError, match=f"compiled by Python 2.7; this is Python {python_tag()}"):
        rebuild_code(*args)


@pytest.mark.parametrize("data", [b"", b"\xff\x00\x01", marshal.dumps(42), "text"])
def test_damaged_code_is_an_integrity_error(data: object) -> None:
    args = list(reduce_code(_function_code(SOURCE, "/src/mod.py"))[1])
    args[5] = data
    with pytest.raises(IntegrityError, match="nothing of it was run"):
        rebuild_code(*args)


def test_legacy_code_is_placed_by_name_line_and_bytecode() -> None:
    # Two shipped files define `describe` at the same line; cloudpickle 3.1.3 left no file name on the code.
    first = "class C:\n    def describe(self):\n        return 'a'\n"
    second = "class C:\n    def describe(self):\n        return 'b' + str(self)\n"
    sources = {"/src/first.py": first, "/src/second.py": second}
    rebuilder = CodeRebuilder("C@0123abcd4567", sources)
    for filename, text in sources.items():
        code = _function_code(text + "\ndescribe = C.describe\n", "<x>", "describe")
        stripped = code.replace(co_filename="<dynamic-code>")
        assert rebuilder.adopt(stripped).co_filename == f"{filename} [C@0123abcd4567]"


def test_legacy_code_with_its_file_name_keeps_it_and_unknown_code_is_left_untagged_by_file() -> None:
    rebuilder = CodeRebuilder("A@0123abcd4567", {"/src/mod.py": SOURCE})
    code = _function_code(SOURCE, "/src/mod.py")
    assert rebuilder.adopt(code).co_filename == "/src/mod.py [A@0123abcd4567]"
    other = _function_code("def g():\n    return 1\n", "<dynamic-code>", "g")
    assert rebuilder.adopt(other).co_filename == "<dynamic-code> [A@0123abcd4567]"


_EXPRESSIONS = st.recursive(
    st.sampled_from(["x", "n", "1", "'s'", "(x, n)"]),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "*", "-"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda e: f"[{e} for x in range(3)]"),
        inner.map(lambda e: f"(lambda x: {e})(n)"),
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(body=_EXPRESSIONS, label=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}@[0-9a-f]{12}", fullmatch=True))
def test_property_round_trip_keeps_behaviour_and_tags_the_whole_tree(body: str, label: str) -> None:
    source = f"def f(x, n=3):\n    return {body}\n"
    code = _function_code(source, "/src/generated.py")
    rebuilt = CodeRebuilder(label, {"/src/generated.py": source}).rebuild(*reduce_code(code)[1])
    assert {c.co_filename for c in _all_code(rebuilt)} == {f"/src/generated.py [{label}]"}
    assert [c.co_code for c in _all_code(rebuilt)] == [c.co_code for c in _all_code(code)]
    original, copy = types.FunctionType(code, {}, "f", (3,)), types.FunctionType(rebuilt, {}, "f", (3,))
    try:
        expected = original(2)
    except TypeError as exc:  # e.g. 's' - 1: the copy fails the same way
        with pytest.raises(TypeError, match=re.escape(str(exc))):
            copy(2)
    else:
        assert copy(2) == expected


# -- code pushed from another Python: compiled from the shipped source -------------------------------------
# The loading Python is simulated by the `python` argument: any other version takes the path another CPython
# takes (tests/e2e/test_cross_python.py runs the real pairs). The bytecode is replaced by garbage to prove it is
# never unmarshalled on that path.

OTHER = "3.99"


def _shipped(filename: str, source: str) -> None:
    """Put ``source`` in linecache as the pushing host has it (what the locator compiles)."""
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)


def _as_if_pushed_from_another_python(code: types.CodeType) -> list[object]:
    args = list(reduce_code(code)[1])
    args[1], args[5] = OTHER, b"\x00not this Python's bytecode"
    return args


def test_code_of_another_python_is_compiled_from_the_shipped_source() -> None:
    _shipped("/src/other.py", SOURCE)
    code = _function_code(SOURCE, "/src/other.py")
    rebuilder = CodeRebuilder("f@0123abcd4567", {"/src/other.py": SOURCE}, pushed_from=OTHER)
    rebuilt = rebuilder.rebuild(*_as_if_pushed_from_another_python(code))
    assert rebuilt.co_code == code.co_code and rebuilt.co_freevars == code.co_freevars
    assert {c.co_filename for c in _all_code(rebuilt)} == {"/src/other.py [f@0123abcd4567]"}
    assert rebuilder.stand_ins == {}


_LAMBDA_BODIES = st.lists(st.sampled_from(["x", "x + 1", "x * 2", "-x", "x * x", "(lambda y: y + x)(1)"]), min_size=2)


@settings(max_examples=40, deadline=None)
@given(bodies=_LAMBDA_BODIES)
def test_property_lambdas_sharing_a_line_are_told_apart(bodies: list[str]) -> None:
    """Same name, same first line, maybe the same bytecode: the locator's ordinal picks the right one."""
    source = f"fs = [{', '.join(f'lambda x: {body}' for body in bodies)}]\n"
    filename = f"/src/lambdas_{abs(hash(source))}.py"
    _shipped(filename, source)
    namespace: dict = {}
    exec(compile(source, filename, "exec", dont_inherit=True), namespace)
    rebuilder = CodeRebuilder("L@0123abcd4567", {filename: source}, pushed_from=OTHER)
    for function in namespace["fs"]:
        rebuilt = rebuilder.rebuild(*_as_if_pushed_from_another_python(function.__code__))
        assert types.FunctionType(rebuilt, {})(5) == function(5)


def test_code_without_shipped_source_becomes_a_stand_in_that_says_why() -> None:
    code = _function_code(SOURCE, "/src/mod.py", "f").co_consts  # f's nested `inner` closes over n
    inner = next(c for c in code if isinstance(c, types.CodeType) and c.co_name == "inner")
    rebuilder = CodeRebuilder("f@0123abcd4567", {}, pushed_from=OTHER)
    stand_in = rebuilder.rebuild(*_as_if_pushed_from_another_python(inner))
    assert stand_in.co_name == "inner" and stand_in.co_freevars == inner.co_freevars == ("n",)
    assert stand_in in rebuilder.stand_ins
    function = types.FunctionType(stand_in, {}, "inner", None, (types.CellType(2),))
    with pytest.raises(IncompatibleBlobError) as caught:
        function(1)
    message = str(caught.value)
    assert "'inner' (/src/mod.py, line 4, compiled by Python 3.99): it has no shipped source" in message
    assert f"this Python {python_tag()}" in message and "with Python 3.99" in message


def test_shipped_source_this_python_cannot_compile_becomes_a_stand_in_naming_the_syntax_error() -> None:
    code = _function_code(SOURCE, "/src/mod.py")
    rebuilder = CodeRebuilder("f@0123abcd4567", {"/src/mod.py": "def f(:\n"}, pushed_from=OTHER)
    rebuilt = rebuilder.rebuild(*_as_if_pushed_from_another_python(code))
    assert "does not compile here (SyntaxError" in rebuilder.stand_ins[rebuilt]


def test_code_format_1_of_another_python_is_compiled_when_its_place_is_unique_and_refused_otherwise() -> None:
    code = _function_code(SOURCE, "/src/mod.py")
    args = _as_if_pushed_from_another_python(code)[:6]
    args[0] = 1
    rebuilt = CodeRebuilder("f@0123abcd4567", {"/src/mod.py": SOURCE}, pushed_from=OTHER).rebuild(*args)
    assert rebuilt.co_code == code.co_code
    with pytest.raises(IncompatibleBlobError, match="has no shipped source. Load it with Python 3.99"):
        CodeRebuilder("f@0123abcd4567", {}, pushed_from=OTHER).rebuild(*args)


@pytest.mark.parametrize("freevars", [["not a name"], ["def"], ["x); import os; (y"]])
def test_a_locator_naming_impossible_free_variables_is_refused(freevars: list[str]) -> None:
    code = _function_code(SOURCE, "/src/mod.py")
    args = _as_if_pushed_from_another_python(code)
    args[6] = {"freevars": freevars}
    with pytest.raises(IntegrityError, match="names a free variable"):
        CodeRebuilder("f@0123abcd4567", {}, pushed_from=OTHER).rebuild(*args)


@pytest.mark.parametrize("ordinal", [-1, 10**9, True, "0", None, 2.0])
def test_a_nonsense_ordinal_is_ignored_and_the_unique_place_still_found(ordinal: object) -> None:
    _shipped("/src/other.py", SOURCE)
    code = _function_code(SOURCE, "/src/other.py")
    args = _as_if_pushed_from_another_python(code)
    args[6] = {"freevars": list(code.co_freevars), "ordinal": ordinal}
    rebuilt = CodeRebuilder("f@0123abcd4567", {"/src/other.py": SOURCE}, pushed_from=OTHER).rebuild(*args)
    assert rebuilt.co_code == code.co_code
