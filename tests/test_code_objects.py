"""remoteimport/code_objects.py: code objects travel with their file, name and first line, and come back with
the version-tagged file name on every nested code object."""

from __future__ import annotations

import io
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
