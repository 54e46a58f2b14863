"""class_hash, one example per thing it covers.

Most tests hash two variants of a module that differ in exactly one detail; each variant is written to its
own directory and imported under the same module name (see ``hashing_support.hash_sources``), so the only
difference the hasher can see is the one under test.
"""

from __future__ import annotations

import json
import sys
import textwrap
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from hashing_support import SHA256_HEX, fresh_directory, hash_sources, load_module

import remoteimport
from remoteimport import class_hash, hashing
from remoteimport.errors import RemoteImportError, UnhashableObjectError

HashPair = Callable[..., list[str]]


@pytest.fixture
def hashes(tmp_path: Path) -> HashPair:
    """``hashes(source_a, source_b, ..., name="C")``: the hash of ``name`` in each (dedented) source."""

    def compute(*sources: str, name: str = "C") -> list[str]:
        return hash_sources(tmp_path, [textwrap.dedent(source) for source in sources], name)

    return compute


def differ(source_a: str, source_b: str, name: str = "C", *, id: str) -> object:
    return pytest.param(source_a, source_b, name, id=id)


# ---------------------------------------------------------------------------------------------------------
# Pairs of modules whose object ``name`` must hash differently, grouped by what differs.

METHOD_BODIES = [
    differ(
        "class C:\n    def f(self):\n        return 1\n",
        "class C:\n    def f(self):\n        return 2\n",
        id="body-constant",
    ),
    differ(
        "class C:\n    def f(self, a, b):\n        return a + b\n",
        "class C:\n    def f(self, a, b):\n        return a - b\n",
        id="body-operator",
    ),
    differ(
        "class C:\n    def f(self, x):\n        x.append(1)\n        x.append(2)\n",
        "class C:\n    def f(self, x):\n        x.append(2)\n        x.append(1)\n",
        id="body-statement-order",
    ),
    differ(
        """
        class C:
            def f(self, values):
                def step(v):
                    return v + 1
                return [step(v) for v in values]
        """,
        """
        class C:
            def f(self, values):
                def step(v):
                    return v + 2
                return [step(v) for v in values]
        """,
        id="nested-function-body",
    ),
    differ(
        """
        class C:
            def f(self):
                def outer():
                    def inner(v, scale=2):
                        return v * scale
                    return inner
                return outer()
        """,
        """
        class C:
            def f(self):
                def outer():
                    def inner(v, scale=3):
                        return v * scale
                    return inner
                return outer()
        """,
        id="doubly-nested-function-default",
    ),
    differ(
        "class C:\n    def f(self, xs):\n        return sorted(xs, key=lambda v: v * 2)\n",
        "class C:\n    def f(self, xs):\n        return sorted(xs, key=lambda v: v * 3)\n",
        id="lambda-in-method",
    ),
    differ(
        "class C:\n    key = staticmethod(lambda v: v + 1)\n",
        "class C:\n    key = staticmethod(lambda v: v - 1)\n",
        id="lambda-as-attribute",
    ),
    differ(
        "class C:\n    inc, dec = staticmethod(lambda v: v + 1), staticmethod(lambda v: v - 1)\n",
        "class C:\n    inc, dec = staticmethod(lambda v: v - 1), staticmethod(lambda v: v + 1)\n",
        id="two-lambdas-on-one-line-swapped",
    ),
    differ(
        "PAIR = (lambda v: v + 1, lambda v: v - 1)\nclass C:\n    pick = staticmethod(PAIR[0])\n",
        "PAIR = (lambda v: v + 1, lambda v: v - 1)\nclass C:\n    pick = staticmethod(PAIR[1])\n",
        id="which-of-two-lambdas-on-one-line",
    ),
    differ(
        "class C:\n    def f(self, xs):\n        return [v for v in xs if v > 0]\n",
        "class C:\n    def f(self, xs):\n        return [v for v in xs if v >= 0]\n",
        id="list-comprehension",
    ),
    differ(
        "class C:\n    def f(self, xs):\n        return {str(v) for v in xs}\n",
        "class C:\n    def f(self, xs):\n        return {repr(v) for v in xs}\n",
        id="set-comprehension",
    ),
    differ(
        "class C:\n    def f(self, xs):\n        return {v: v * 2 for v in xs}\n",
        "class C:\n    def f(self, xs):\n        return {v: v * 3 for v in xs}\n",
        id="dict-comprehension",
    ),
    differ(
        "class C:\n    def f(self, xs):\n        return sum(v for v in xs)\n",
        "class C:\n    def f(self, xs):\n        return sum(v * v for v in xs)\n",
        id="generator-expression",
    ),
    differ(
        "class C:\n    def f(self):\n        return self.a\n",
        "class C:\n    def f(self):\n        return self.b\n",
        id="attribute-name",
    ),
]

CONSTANTS = [
    differ(
        f"class C:\n    def f(self):\n        return {a}\n",
        f"class C:\n    def f(self):\n        return {b}\n",
        id=i,
    )
    for a, b, i in [
        ("1", "2", "int"),
        ("2**70", "2**70 + 1", "big-int"),
        ("1", "True", "int-vs-bool"),
        ("1", "1.0", "int-vs-float"),
        ("0.5", "0.25", "float"),
        ("1e300", "1e299", "float-exponent"),
        ("1j", "2j", "complex"),
        ("'a'", "'b'", "str"),
        ("'a'", "b'a'", "str-vs-bytes"),
        ("b'a'", "b'b'", "bytes"),
        ("None", "False", "none-vs-false"),
        ("...", "None", "ellipsis-vs-none"),
        ("(1, 2)", "(1, 3)", "tuple"),
        ("(1, 2)", "[1, 2]", "tuple-vs-list"),
        ("{'a', 'b'}", "{'a', 'c'}", "set-of-strings"),
        ("{'a', 'b'}", "{'a', 'b', 'c'}", "set-element-added"),
        ("frozenset({'a'})", "frozenset({'a', 'b'})", "frozenset-of-strings"),
    ]
] + [
    differ(
        "class C:\n    def f(self, x):\n        return x in {'alpha', 'beta'}\n",
        "class C:\n    def f(self, x):\n        return x in {'alpha', 'beta', 'gamma'}\n",
        id="membership-set-folded-to-frozenset-constant",
    ),
]

DEFAULTS = [
    differ(
        "class C:\n    def f(self, a=1):\n        return a\n",
        "class C:\n    def f(self, a=2):\n        return a\n",
        id="positional-default",
    ),
    differ(
        "class C:\n    def f(self, *, a='x'):\n        return a\n",
        "class C:\n    def f(self, *, a='y'):\n        return a\n",
        id="keyword-only-default",
    ),
    differ(
        "class C:\n    def f(self, a=1):\n        return a\n",
        "class C:\n    def f(self, *, a=1):\n        return a\n",
        id="positional-vs-keyword-only",
    ),
    differ(
        "class C:\n    def f(self, a=(1,)):\n        return a\n",
        "class C:\n    def f(self, a=(1, 2)):\n        return a\n",
        id="tuple-default",
    ),
    differ(
        "DEFAULT = 1\nclass C:\n    def f(self, a=DEFAULT):\n        return a\n",
        "DEFAULT = 2\nclass C:\n    def f(self, a=DEFAULT):\n        return a\n",
        id="default-from-module-constant",
    ),
    differ(
        "class C:\n    def f(self, *, a=frozenset({'x', 'y'})):\n        return a\n",
        "class C:\n    def f(self, *, a=frozenset({'x', 'z'})):\n        return a\n",
        id="keyword-only-frozenset-default",
    ),
]

ANNOTATIONS = [
    differ(
        "class C:\n    def f(self, x: int):\n        return x\n",
        "class C:\n    def f(self, x: str):\n        return x\n",
        id="parameter-annotation",
    ),
    differ(
        "class C:\n    def f(self) -> int:\n        return 1\n",
        "class C:\n    def f(self) -> str:\n        return 1\n",
        id="return-annotation",
    ),
    differ("class C:\n    x: int\n", "class C:\n    x: str\n", id="class-annotation"),
    differ(
        "from typing import Optional\nclass C:\n    x: Optional[int] = None\n",
        "from typing import Optional\nclass C:\n    x: Optional[str] = None\n",
        id="class-annotation-typing-generic",
    ),
    differ(
        "class C:\n    x: dict[str, int] = {}\n",
        "class C:\n    x: dict[str, float] = {}\n",
        id="class-annotation-builtin-generic",
    ),
]

DECORATED = [
    differ(
        "class C:\n    @staticmethod\n    def f(a):\n        return a\n",
        "class C:\n    @classmethod\n    def f(a):\n        return a\n",
        id="staticmethod-vs-classmethod",
    ),
    differ(
        "class C:\n    @staticmethod\n    def f(a):\n        return a + 1\n",
        "class C:\n    @staticmethod\n    def f(a):\n        return a + 2\n",
        id="staticmethod-body",
    ),
    differ(
        "class C:\n    @classmethod\n    def f(cls, a=1):\n        return a\n",
        "class C:\n    @classmethod\n    def f(cls, a=2):\n        return a\n",
        id="classmethod-default",
    ),
    differ(
        "class C:\n    @property\n    def f(self):\n        return 1\n",
        "class C:\n    def f(self):\n        return 1\n",
        id="property-vs-method",
    ),
    differ(
        "class C:\n    @property\n    def f(self):\n        return 1\n",
        "class C:\n    @property\n    def f(self):\n        return 2\n",
        id="property-getter",
    ),
    differ(
        """
        class C:
            @property
            def f(self):
                return self._f
            @f.setter
            def f(self, value):
                self._f = value
        """,
        """
        class C:
            @property
            def f(self):
                return self._f
            @f.setter
            def f(self, value):
                self._f = value * 2
        """,
        id="property-setter",
    ),
    differ(
        "import functools\nclass C:\n    @functools.cached_property\n    def f(self):\n        return 1\n",
        "import functools\nclass C:\n    @functools.cached_property\n    def f(self):\n        return 2\n",
        id="cached-property-body",
    ),
    differ(
        "import functools\nclass C:\n    @functools.cached_property\n    def f(self):\n        return 1\n",
        "import functools\nclass C:\n    @property\n    def f(self):\n        return 1\n",
        id="cached-property-vs-property",
    ),
    differ(
        "import functools\nclass C:\n    @functools.lru_cache(maxsize=32)\n    def f(self, n):\n        return n\n",
        "import functools\nclass C:\n    @functools.lru_cache(maxsize=64)\n    def f(self, n):\n        return n\n",
        id="lru-cache-maxsize-in-class",
    ),
    differ(
        "import functools\nclass C:\n    @functools.lru_cache(maxsize=32)\n    def f(self, n):\n        return n\n",
        "import functools\nclass C:\n    @functools.lru_cache(maxsize=32)\n    def f(self, n):\n        return -n\n",
        id="lru-cache-wrapped-body",
    ),
    # Wrappers built outside the class body: only the objects (not the class's text) carry the difference.
    differ(
        """
        import functools
        def _impl(n):
            return n * 2
        _CACHED = functools.lru_cache(maxsize=32)(_impl)
        class C:
            compute = staticmethod(_CACHED)
        """,
        """
        import functools
        def _impl(n):
            return n * 2
        _CACHED = functools.lru_cache(maxsize=64)(_impl)
        class C:
            compute = staticmethod(_CACHED)
        """,
        id="lru-cache-maxsize-object",
    ),
    differ(
        """
        import functools
        def _impl(n):
            return n * 2
        _CACHED = functools.lru_cache(maxsize=32)(_impl)
        class C:
            compute = staticmethod(_CACHED)
        """,
        """
        import functools
        def _impl(n):
            return n * 2
        _CACHED = functools.lru_cache(maxsize=32, typed=True)(_impl)
        class C:
            compute = staticmethod(_CACHED)
        """,
        id="lru-cache-typed-object",
    ),
    differ(
        """
        import functools
        def _impl(n):
            return n * 2
        _CACHED = functools.lru_cache(maxsize=32)(_impl)
        class C:
            compute = staticmethod(_CACHED)
        """,
        """
        import functools
        def _impl(n):
            return n * 3
        _CACHED = functools.lru_cache(maxsize=32)(_impl)
        class C:
            compute = staticmethod(_CACHED)
        """,
        id="lru-cache-wrapped-function-object",
    ),
    differ(
        "import functools\ndef _scale(f, v):\n    return f * v\nclass C:\n    double = functools.partial(_scale, 2)\n",
        "import functools\ndef _scale(f, v):\n    return f * v\nclass C:\n    double = functools.partial(_scale, 3)\n",
        id="partial-positional-argument",
    ),
    differ(
        "import functools\ndef _scale(f, v):\n    return f * v\nclass C:\n    times = functools.partial(_scale, f=2)\n",
        "import functools\ndef _scale(f, v):\n    return f * v\nclass C:\n    times = functools.partial(_scale, f=3)\n",
        id="partial-keyword-argument",
    ),
    differ(
        "import functools\ndef _scale(f, v):\n    return f * v\nclass C:\n    double = functools.partial(_scale, 2)\n",
        "import functools\ndef _scale(f, v):\n    return f + v\nclass C:\n    double = functools.partial(_scale, 2)\n",
        id="partial-wrapped-function",
    ),
    differ(
        """
        import functools
        def _scale(f, v):
            return f * v
        _DOUBLE = functools.partial(_scale, 2)
        class C:
            def run(self, v):
                return _DOUBLE(v)
        """,
        """
        import functools
        def _scale(f, v):
            return f * v
        _DOUBLE = functools.partial(_scale, 4)
        class C:
            def run(self, v):
                return _DOUBLE(v)
        """,
        id="partial-as-module-global",
    ),
    differ(
        """
        import functools
        def tag(label):
            def decorate(function):
                @functools.wraps(function)
                def wrapper(*args):
                    return label, function(*args)
                return wrapper
            return decorate
        class C:
            @tag("a")
            def f(self):
                return 1
        """,
        """
        import functools
        def tag(label):
            def decorate(function):
                @functools.wraps(function)
                def wrapper(*args):
                    return label, function(*args)
                return wrapper
            return decorate
        class C:
            @tag("b")
            def f(self):
                return 1
        """,
        id="own-decorator-argument",
    ),
    differ(
        """
        import functools
        def tag(function):
            @functools.wraps(function)
            def wrapper(*args):
                return "tagged", function(*args)
            return wrapper
        class C:
            @tag
            def f(self):
                return 1
        """,
        """
        import functools
        def tag(function):
            @functools.wraps(function)
            def wrapper(*args):
                return "labelled", function(*args)
            return wrapper
        class C:
            @tag
            def f(self):
                return 1
        """,
        id="own-decorator-body",
    ),
]

_ATTRIBUTE_PRELUDE = "import enum, http\nclass Color(enum.Enum):\n    RED = 1\n    GREEN = 2\n"
CLASS_ATTRIBUTES = [
    differ(
        f"{_ATTRIBUTE_PRELUDE}class C:\n    value = {a}\n",
        f"{_ATTRIBUTE_PRELUDE}class C:\n    value = {b}\n",
        id=i,
    )
    for a, b, i in [
        ("1", "2", "int"),
        ("1", "True", "int-vs-bool"),
        ("1", "1.0", "int-vs-float"),
        ("0.0", "-0.0", "zero-vs-negative-zero"),
        ("2.5", "2.75", "float"),
        ("'a'", "'b'", "str"),
        ("'1'", "1", "str-vs-int"),
        ("b'a'", "'a'", "bytes-vs-str"),
        ("None", "0", "none-vs-zero"),
        ("None", "False", "none-vs-false"),
        ("[1, 2]", "[2, 1]", "list-order"),
        ("[1, 2]", "(1, 2)", "list-vs-tuple"),
        ("(1,)", "(1, (2,))", "nested-tuple"),
        ("{'a': 1}", "{'a': 2}", "dict-value"),
        ("{'a': 1}", "{'b': 1}", "dict-key"),
        ("{'a': 1, 'b': 2}", "{'a': 1, 'b': 2, 'c': 3}", "dict-item-added"),
        ("{'x', 'y'}", "{'x', 'z'}", "set-element"),
        ("{'x', 'y'}", "{'x', 'y', 'z'}", "set-element-added"),
        ("{'x', 'y'}", "{'x'}", "set-element-removed"),
        ("{'x'}", "frozenset({'x'})", "set-vs-frozenset"),
        ("set()", "frozenset()", "empty-set-vs-empty-frozenset"),
        ("{'k': {'deep', 'er'}}", "{'k': {'deep', 'est'}}", "set-nested-in-dict"),
        ("Color.RED", "Color.GREEN", "user-enum-member"),
        ("http.HTTPStatus.OK", "http.HTTPStatus.NOT_FOUND", "stdlib-enum-member"),
        ("(Color.RED, Color.GREEN)", "(Color.GREEN, Color.RED)", "enum-members-in-tuple"),
    ]
] + [
    differ(
        "class C:\n    a = 1\n",
        "class C:\n    a = 1\n    b = 1\n",
        id="attribute-added",
    ),
    differ("class C:\n    a = 1\n", "class C:\n    b = 1\n", id="attribute-renamed"),
]

SLOTS_AND_NESTED = [
    differ(
        "class C:\n    __slots__ = ('a', 'b')\n",
        "class C:\n    __slots__ = ('a', 'c')\n",
        id="slots-names",
    ),
    differ("class C:\n    __slots__ = ('a',)\n", "class C:\n    pass\n", id="slots-vs-dict"),
    differ(
        "class C:\n    class Inner:\n        def f(self):\n            return 1\n",
        "class C:\n    class Inner:\n        def f(self):\n            return 2\n",
        id="nested-class-method",
    ),
    differ(
        "class C:\n    class Inner:\n        class Deepest:\n            tags = {'a', 'b'}\n",
        "class C:\n    class Inner:\n        class Deepest:\n            tags = {'a', 'c'}\n",
        id="doubly-nested-class-attribute",
    ),
]

_DATACLASS = "from dataclasses import dataclass, field\n"
DATACLASSES = [
    differ(
        _DATACLASS + "@dataclass\nclass C:\n    x: int = 1\n",
        _DATACLASS + "@dataclass\nclass C:\n    x: int = 2\n",
        id="field-default",
    ),
    differ(
        _DATACLASS + "@dataclass\nclass C:\n    x: int = 1\n",
        _DATACLASS + "@dataclass\nclass C:\n    x: str = 1\n",
        id="field-type",
    ),
    differ(
        _DATACLASS + "@dataclass\nclass C:\n    x: list = field(default_factory=list)\n",
        _DATACLASS + "@dataclass\nclass C:\n    x: list = field(default_factory=dict)\n",
        id="field-default-factory",
    ),
    differ(
        _DATACLASS + "@dataclass\nclass C:\n    x: dict = field(default_factory=lambda: {'a': 1})\n",
        _DATACLASS + "@dataclass\nclass C:\n    x: dict = field(default_factory=lambda: {'a': 2})\n",
        id="field-default-factory-lambda",
    ),
    differ(
        _DATACLASS + "@dataclass\nclass C:\n    x: int = 1\n",
        _DATACLASS + "@dataclass(frozen=True)\nclass C:\n    x: int = 1\n",
        id="frozen",
    ),
    differ(
        _DATACLASS + "@dataclass\nclass C:\n    x: int = 1\n",
        _DATACLASS + "@dataclass(order=True)\nclass C:\n    x: int = 1\n",
        id="order",
    ),
    differ(
        _DATACLASS + "@dataclass\nclass C:\n    x: int = 1\n",
        _DATACLASS + "@dataclass\nclass C:\n    x: int = 1\n    y: int = 2\n",
        id="field-added",
    ),
    differ(
        _DATACLASS + "@dataclass\nclass C:\n    x: int = 1\n    y: int = 2\n",
        _DATACLASS + "@dataclass\nclass C:\n    y: int = 2\n    x: int = 1\n",
        id="field-order",
    ),
    differ(
        _DATACLASS + "@dataclass\nclass C:\n    x: int = field(default=1)\n",
        _DATACLASS + "@dataclass\nclass C:\n    x: int = field(default=1, repr=False)\n",
        id="field-repr-flag",
    ),
    differ(
        _DATACLASS + "@dataclass\nclass C:\n    x: int = field(default=1, metadata={'unit': 'm'})\n",
        _DATACLASS + "@dataclass\nclass C:\n    x: int = field(default=1, metadata={'unit': 's'})\n",
        id="field-metadata",
    ),
    differ(
        _DATACLASS + "@dataclass\nclass C:\n    x: int = 1\n    def f(self):\n        return self.x\n",
        _DATACLASS + "@dataclass\nclass C:\n    x: int = 1\n    def f(self):\n        return -self.x\n",
        id="dataclass-method",
    ),
]

_ENUM = "import enum\n"
ENUMS = [
    differ(
        _ENUM + "class C(enum.Enum):\n    A = 1\n    B = 2\n",
        _ENUM + "class C(enum.Enum):\n    A = 1\n    B = 3\n",
        id="member-value",
    ),
    differ(
        _ENUM + "class C(enum.Enum):\n    A = 1\n",
        _ENUM + "class C(enum.Enum):\n    A = 1\n    B = 2\n",
        id="member-added",
    ),
    differ(_ENUM + "class C(enum.Enum):\n    A = 1\n", _ENUM + "class C(enum.Enum):\n    Z = 1\n", id="member-renamed"),
    differ(
        _ENUM + "class C(enum.Enum):\n    A = 1\n    B = 1\n",
        _ENUM + "class C(enum.Enum):\n    A = 1\n    B = 2\n",
        id="alias-vs-member",
    ),
    differ(_ENUM + "class C(enum.Enum):\n    A = 1\n", _ENUM + "class C(enum.IntEnum):\n    A = 1\n", id="enum-base"),
    differ(
        _ENUM + "class C(enum.Enum):\n    A = 1\n    def f(self):\n        return self.value\n",
        _ENUM + "class C(enum.Enum):\n    A = 1\n    def f(self):\n        return self.name\n",
        id="enum-method",
    ),
    differ(
        _ENUM + "class C(enum.Flag):\n    R = 1\n    W = 2\n    RW = R | W\n",
        _ENUM + "class C(enum.Flag):\n    R = 1\n    W = 2\n    RW = R\n",
        id="flag-combination",
    ),
]

_BASES = """
class A:
    def f(self):
        return {a}

class B(A):
    tags = {b}

class C(B):
    pass
"""
BASES = [
    differ(_BASES.format(a=1, b="{'x'}"), _BASES.format(a=2, b="{'x'}"), id="grandparent-method"),
    differ(_BASES.format(a=1, b="{'x'}"), _BASES.format(a=1, b="{'x', 'y'}"), id="parent-attribute"),
    differ(
        "class M:\n    pass\nclass B:\n    pass\nclass C(M, B):\n    pass\n",
        "class M:\n    pass\nclass B:\n    pass\nclass C(B, M):\n    pass\n",
        id="base-order",
    ),
    differ("class C(dict):\n    pass\n", "class C(list):\n    pass\n", id="stdlib-base-by-name"),
]

_HELPERS = """
THRESHOLD = {threshold}

def _clip(v):
    return min(v, THRESHOLD)

def _normalize(v):
    return _clip(v) / {divisor}

class Helper:
    def apply(self, v):
        return v * {factor}

class C:
    def f(self, v):
        return _normalize(v) + Helper().apply(v)
"""
_CYCLE = """
def is_even(n):
    return True if n == 0 else is_odd(n - 1)

def is_odd(n):
    return {odd_base} if n == 0 else is_even(n - 1)

class C:
    def f(self, n):
        return is_even(n)
"""
MODULE_LEVEL = [
    differ(
        _HELPERS.format(threshold=10, divisor=2, factor=3),
        _HELPERS.format(threshold=10, divisor=4, factor=3),
        id="helper-function-body",
    ),
    differ(
        _HELPERS.format(threshold=10, divisor=2, factor=3),
        _HELPERS.format(threshold=11, divisor=2, factor=3),
        id="constant-used-by-helper-of-helper",
    ),
    differ(
        _HELPERS.format(threshold=10, divisor=2, factor=3),
        _HELPERS.format(threshold=10, divisor=2, factor=5),
        id="module-level-class-used-by-method",
    ),
    differ(_CYCLE.format(odd_base=False), _CYCLE.format(odd_base=None), id="mutually-recursive-helpers"),
    differ(
        "NAMES = {'ada', 'grace'}\nclass C:\n    def f(self, n):\n        return n in NAMES\n",
        "NAMES = {'ada', 'linus'}\nclass C:\n    def f(self, n):\n        return n in NAMES\n",
        id="module-level-set-of-strings",
    ),
]

_FACTORY = """
def make(value):
    class C:
        def f(self):
            return value
    return C

C = make({value})
"""
_FUNCTION_FACTORY = """
def outer(value):
    def C():
        return value
    return C

C = outer({value})
"""
CLOSURES = [
    differ(_FACTORY.format(value=1), _FACTORY.format(value=2), id="class-closure-cell"),
    differ(_FACTORY.format(value="{'a', 'b'}"), _FACTORY.format(value="{'a', 'c'}"), id="class-closure-cell-set"),
    differ(_FUNCTION_FACTORY.format(value=1), _FUNCTION_FACTORY.format(value=2), id="function-closure-cell"),
    differ(
        "def helper():\n    return 1\n" + _FUNCTION_FACTORY.format(value="helper"),
        "def helper():\n    return 2\n" + _FUNCTION_FACTORY.format(value="helper"),
        id="closure-cell-holding-user-function",
    ),
]

STDLIB_BY_NAME = [
    differ(
        "import json\nclass C:\n    encode = staticmethod(json.dumps)\n",
        "import json\nclass C:\n    encode = staticmethod(json.loads)\n",
        id="stdlib-function-attribute",
    ),
    differ(
        "import collections\nclass C:\n    kind = collections.OrderedDict\n",
        "import collections\nclass C:\n    kind = collections.Counter\n",
        id="stdlib-class-attribute",
    ),
    differ(
        "import math\nclass C:\n    root = staticmethod(math.sqrt)\n",
        "import math\nclass C:\n    root = staticmethod(math.exp)\n",
        id="builtin-function-attribute",
    ),
    differ(
        "import json\nclass C:\n    def f(self, v):\n        return json.dumps(v)\n",
        "import json\nclass C:\n    def f(self, v):\n        return json.loads(v)\n",
        id="stdlib-function-used-in-method",
    ),
    differ(
        "import pytest\nclass C:\n    check = staticmethod(pytest.approx)\n",
        "import pytest\nclass C:\n    check = staticmethod(pytest.raises)\n",
        id="installed-package-function-attribute",
    ),
]


@pytest.mark.parametrize(
    ("source_a", "source_b", "name"),
    METHOD_BODIES
    + CONSTANTS
    + DEFAULTS
    + ANNOTATIONS
    + DECORATED
    + CLASS_ATTRIBUTES
    + SLOTS_AND_NESTED
    + DATACLASSES
    + ENUMS
    + BASES
    + MODULE_LEVEL
    + CLOSURES
    + STDLIB_BY_NAME,
)
def test_one_difference_changes_the_hash(hashes: HashPair, source_a: str, source_b: str, name: str) -> None:
    hash_a, hash_b = hashes(source_a, source_b, name=name)
    assert SHA256_HEX.fullmatch(hash_a) and SHA256_HEX.fullmatch(hash_b)
    assert hash_a != hash_b


# ---------------------------------------------------------------------------------------------------------
# Pairs that must hash the same: layout, unrelated code, location.

_LAYOUT_BASE = """\
import functools

LIMIT = 3

def helper(v):
    return v * LIMIT

class C:
    tags = {"a", "b", "c"}

    @staticmethod
    def s(x, *, y=(1, 2)):
        return helper(x) + len(y)

    def f(self, values):
        total = [v for v in values if v in {"x", "y"}]
        return functools.reduce(lambda a, b: a + b, total, 0)
"""
_LAYOUT_VARIANTS = {
    "comments": _LAYOUT_BASE.replace(
        "    def f(self, values):\n", "    # a comment\n    def f(self, values):  # why\n"
    ).replace("        return helper", "        # explain\n        return helper"),
    "blank-lines": _LAYOUT_BASE.replace("\n\n", "\n\n\n\n").replace("        total =", "\n        total ="),
    "shifted-down": "# header\n" * 40 + _LAYOUT_BASE,
    "trailing-whitespace": "".join(line + "   \t\n" for line in _LAYOUT_BASE.splitlines()),
    "crlf-line-endings": _LAYOUT_BASE.replace("\n", "\r\n"),
    "two-space-indent": "\n".join(
        " " * ((len(line) - len(line.lstrip(" "))) // 2) + line.lstrip(" ") for line in _LAYOUT_BASE.splitlines()
    ),
    "unrelated-function-added": _LAYOUT_BASE + "\ndef unrelated():\n    return 42\n",
    "unrelated-constant-added": "UNRELATED = {'p', 'q'}\n" + _LAYOUT_BASE,
}


@pytest.mark.parametrize("variant", sorted(_LAYOUT_VARIANTS))
def test_layout_and_unrelated_code_do_not_change_the_hash(tmp_path: Path, variant: str) -> None:
    assert _LAYOUT_VARIANTS[variant] != _LAYOUT_BASE
    original, changed = hash_sources(tmp_path, [_LAYOUT_BASE, _LAYOUT_VARIANTS[variant]], "C")
    assert original == changed


def test_same_source_in_two_directories_hashes_the_same(hashes: HashPair) -> None:
    first, second = hashes(_LAYOUT_BASE, _LAYOUT_BASE)
    assert first == second


def test_module_dunder_file_does_not_leak_the_directory(hashes: HashPair) -> None:
    # Path(__file__).parent / "data.json" is common; the checkout's location must not enter the hash.
    source = "from pathlib import Path\nclass C:\n    def data(self):\n        return Path(__file__).parent\n"
    first, second = hashes(source, source)
    assert first == second


def test_mutually_recursive_helpers_hash_without_recursion_error(hashes: HashPair) -> None:
    first, second = hashes(_CYCLE.format(odd_base=False), _CYCLE.format(odd_base=False))
    assert first == second
    (is_even,) = hashes(_CYCLE.format(odd_base=False), name="is_even")
    (is_odd,) = hashes(_CYCLE.format(odd_base=False), name="is_odd")
    assert is_even != is_odd


# ---------------------------------------------------------------------------------------------------------
# Using a class (caches filling up, lazily created members) changes neither its hash nor its hashability.

_USE_CASES = {
    "lru-cache-method": (
        "import functools\nclass C:\n    @functools.lru_cache(maxsize=8)\n    def f(self, n):\n        return n\n",
        "c = C(); c.f(1); c.f(2); c.f(1)",
    ),
    "cache-staticmethod": (
        "import functools\nclass C:\n    @staticmethod\n    @functools.cache\n    def f(n):\n        return n\n",
        "C.f(1); C.f(2)",
    ),
    "cached-property": (
        "import functools\nclass C:\n    @functools.cached_property\n    def f(self):\n        return [1]\n",
        "C().f",
    ),
    "singledispatchmethod": (
        """
        import functools
        class C:
            @functools.singledispatchmethod
            def f(self, arg):
                return "default"
            @f.register
            def _(self, arg: int):
                return "int"
        """,
        "c = C(); c.f(1); c.f('x'); c.f(2.5)",
    ),
    "module-level-singledispatch": (
        """
        import functools
        @functools.singledispatch
        def render(value):
            return str(value)
        @render.register
        def _(value: int):
            return hex(value)
        class C:
            def show(self, value):
                return render(value)
        """,
        "C().show(1); C().show('x'); C().show(2.5)",
    ),
    "enum-lookups-and-flag-combinations": (
        "import enum\nclass C(enum.Flag):\n    R = 1\n    W = 2\n    X = 4\n",
        "C(1); C['W']; C.R | C.X; C(7); list(C)",
    ),
    "abc-isinstance-caches": (
        "import abc\nclass C(abc.ABC):\n    @abc.abstractmethod\n    def f(self): ...\n"
        "class D(C):\n    def f(self):\n        return 1\n",
        "isinstance(D(), C); issubclass(int, C); C.register(float); isinstance(1.5, C)",
    ),
    "dataclass-instances": (
        "from dataclasses import dataclass, field\n@dataclass(order=True)\n"
        "class C:\n    x: int = 0\n    y: list = field(default_factory=list)\n",
        "a, b = C(1), C(2); a < b; a == b; repr(a); a.y.append(1)",
    ),
}


@pytest.mark.parametrize("case", sorted(_USE_CASES))
def test_using_the_class_changes_neither_its_hash_nor_its_hashability(tmp_path: Path, case: str) -> None:
    source, exercise = _USE_CASES[case]
    module = load_module(fresh_directory(tmp_path), "hashing_case_use", textwrap.dedent(source))
    try:
        before = class_hash(module.C)
        exec(exercise, vars(module))
        after = class_hash(module.C)
    finally:
        sys.modules.pop("hashing_case_use", None)
    assert before == after


# ---------------------------------------------------------------------------------------------------------
# Objects from the standard library are named, never walked.


def test_stdlib_function_is_not_descended_into(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = (
        "import json\nclass C:\n    encode = staticmethod(json.dumps)\n"
        "    def f(self, v):\n        return json.dumps(v)\n"
    )
    module = load_module(fresh_directory(tmp_path), "hashing_case_stdlib", source)
    try:
        before = class_hash(module.C)
        # Were json.dumps walked by content, its defaults and the module global it reads would be hashed.
        monkeypatch.setattr(json.dumps, "__kwdefaults__", {**json.dumps.__kwdefaults__, "sort_keys": True})
        monkeypatch.setattr(json, "_default_encoder", json.JSONEncoder(indent=2))
        assert class_hash(module.C) == before
    finally:
        sys.modules.pop("hashing_case_stdlib", None)


# ---------------------------------------------------------------------------------------------------------
# Unencodable values and register().

# A generator: running state that neither the hasher nor pickle can encode (locks used to be the example; they
# hash by type now: test_hashing_copyreg.py).
_GENERATOR_SOURCE = "class MyFilter:\n    stream = (n for n in range(3))\n    def apply(self, x):\n        return x\n"


def test_unencodable_attribute_names_its_path_and_the_fix(hashes: HashPair) -> None:
    with pytest.raises(UnhashableObjectError) as caught:
        hashes(_GENERATOR_SOURCE, name="MyFilter")
    message = str(caught.value)
    assert "MyFilter.stream" in message
    assert "builtins.generator" in message
    assert "remoteimport.hashing.register" in message
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, RemoteImportError)
    assert remoteimport.UnhashableObjectError is UnhashableObjectError


def test_unencodable_value_nested_in_a_container_names_the_attribute(hashes: HashPair) -> None:
    source = "class MyFilter:\n    config = {'guard': [(n for n in range(3))]}\n"
    with pytest.raises(UnhashableObjectError) as caught:
        hashes(source, name="MyFilter")
    assert "MyFilter.config" in str(caught.value)
    assert "register" in str(caught.value)


def test_unencodable_module_global_used_by_a_method_names_it(hashes: HashPair) -> None:
    source = "_STREAM = (n for n in range(3))\nclass MyFilter:\n    def run(self):\n        return _STREAM\n"
    with pytest.raises(UnhashableObjectError) as caught:
        hashes(source, name="MyFilter")
    assert "_STREAM" in str(caught.value)


def test_register_makes_a_type_encodable_and_its_encoding_counts(hashes: HashPair) -> None:
    try:
        hashing.register(types.GeneratorType, lambda generator: "stream-v1")
        first, again = hashes(_GENERATOR_SOURCE, _GENERATOR_SOURCE, name="MyFilter")
        hashing.register(types.GeneratorType, lambda generator: ("stream-v2", 2))
        (second,) = hashes(_GENERATOR_SOURCE, name="MyFilter")
    finally:
        hashing.unregister(types.GeneratorType)
    assert SHA256_HEX.fullmatch(first)
    assert first == again
    assert first != second
    with pytest.raises(UnhashableObjectError):
        hashes(_GENERATOR_SOURCE, name="MyFilter")


def test_register_encoder_sees_the_instance(hashes: HashPair) -> None:
    source = "def {kind}():\n    yield 1\nclass MyFilter:\n    stream = {kind}()\n"
    try:
        hashing.register(types.GeneratorType, lambda generator: ["made by", generator.__name__])
        numbers, letters = hashes(source.format(kind="numbers"), source.format(kind="letters"), name="MyFilter")
    finally:
        hashing.unregister(types.GeneratorType)
    assert numbers != letters


# ---------------------------------------------------------------------------------------------------------
# The hash itself.


def test_plain_function_hashes_and_is_stable(hashes: HashPair) -> None:
    source = "def C(x, y=2):\n    return x + y\n"
    first, second = hashes(source, source)
    (changed,) = hashes("def C(x, y=3):\n    return x + y\n")
    assert SHA256_HEX.fullmatch(first)
    assert first == second != changed


def test_hash_is_64_lowercase_hex_and_repeatable(tmp_path: Path) -> None:
    module = load_module(fresh_directory(tmp_path), "hashing_case_repeat", _LAYOUT_BASE)
    try:
        results = [class_hash(module.C), class_hash(module.helper), class_hash(module.C), class_hash(module.C)]
    finally:
        sys.modules.pop("hashing_case_repeat", None)
    for digest in results:
        assert SHA256_HEX.fullmatch(digest), digest
    assert results[0] == results[2] == results[3] != results[1]


def test_function_without_source_falls_back_and_still_tells_changes_apart() -> None:
    namespaces: list[dict] = [{"__name__": "hashing_case_exec"}, {"__name__": "hashing_case_exec"}]
    exec("def f(x):\n    return x + 1\n", namespaces[0])
    exec("def f(x):\n    return x + 2\n", namespaces[1])
    first, second = (class_hash(namespace["f"]) for namespace in namespaces)
    assert first == class_hash(namespaces[0]["f"])
    assert SHA256_HEX.fullmatch(first) and first != second
