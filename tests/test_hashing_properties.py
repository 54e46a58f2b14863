"""Property tests of class_hash over generated class sources.

A strategy draws a :class:`ClassSpec` (methods whose bodies use constants of every kind, class attributes,
optional staticmethod/classmethod/property, module-level helper and constant, user base class); ``render``
turns it into module source. Three properties:

(a) determinism: the same source hashes the same in fresh interpreters with different ``PYTHONHASHSEED`` and
    from different directories (sets of strings are the trap: their iteration order follows the seed);
(b) sensitivity: every behavioural mutation of the spec changes the hash;
(c) layout invariance: comments, blank lines, shifting, trailing whitespace leave the hash unchanged.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import string
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hashing_support import SHA256_HEX, describe_differences, hash_in_subprocess, hash_sources, write_modules
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

CLASS_NAME = "Generated"
_module_numbers = itertools.count()

# ---------------------------------------------------------------------------------------------------------
# The model of a generated module.

# A body item is (kind, value): "const" renders repr(value); "set"/"frozenset" render a set display (or a
# frozenset() call) of the strings in the tuple ``value`` — a set display is built at run time, while
# ``x in {...}`` is folded by the compiler into a frozenset constant.
BodyItem = tuple[str, Any]


@dataclass(frozen=True)
class Method:
    name: str
    items: tuple[BodyItem, ...]
    default: Any
    keyword_default: Any
    membership: tuple[str, ...]  # rendered as ``if x in {...}``; empty means no membership test


@dataclass(frozen=True)
class ClassSpec:
    methods: tuple[Method, ...]
    tags: frozenset[str]  # the set-of-strings class attribute every class has
    attributes: tuple[tuple[str, Any], ...]
    special_kind: str | None  # "staticmethod" or "classmethod"
    special: Method | None
    property_value: Any  # used only when has_property
    has_property: bool
    helper_factor: int | None  # module-level def _helper(v): return v * factor
    setting: Any  # module-level SETTING used by the first method, when has_setting
    has_setting: bool
    base_value: Any  # class Base: def base_method(self): return base_value, when has_base
    has_base: bool


def render_set(elements: tuple[str, ...] | frozenset[str], kind: str = "set") -> str:
    inner = ", ".join(repr(element) for element in elements)
    if kind == "frozenset":
        return f"frozenset({{{inner}}})" if elements else "frozenset()"
    return f"{{{inner}}}" if elements else "set()"


def render_item(item: BodyItem) -> str:
    kind, value = item
    return repr(value) if kind == "const" else render_set(value, kind)


def render_method(method: Method, decorator: str | None, spec: ClassSpec, first: bool) -> list[str]:
    signature = f"y={method.default!r}, *, z={method.keyword_default!r}"
    if decorator is None:
        head = [f"    def {method.name}(self, x, {signature}):"]
    else:  # the first parameter is named alike, so swapping the decorator is the only difference
        head = [f"    @{decorator}", f"    def {method.name}(x, {signature}):"]
    body = [f"        values = [{', '.join(render_item(item) for item in method.items)}]"]
    if method.membership:
        body += [f"        if x in {render_set(method.membership)}:", "            return values"]
    extras = []
    if first and spec.helper_factor is not None:
        extras.append("_helper(x)")
    if first and spec.has_setting:
        extras.append("SETTING")
    body.append(f"        return (x, y, z, values{''.join(', ' + extra for extra in extras)})")
    return head + body


def render(spec: ClassSpec) -> str:
    lines: list[str] = []
    if spec.has_setting:
        lines += [f"SETTING = {spec.setting!r}", ""]
    if spec.helper_factor is not None:
        lines += ["def _helper(v):", f"    return v * {spec.helper_factor}", ""]
    if spec.has_base:
        lines += ["class Base:", "    def base_method(self):", f"        return {spec.base_value!r}", ""]
    lines.append(f"class {CLASS_NAME}(Base):" if spec.has_base else f"class {CLASS_NAME}:")
    lines.append(f"    tags = {render_set(sorted(spec.tags))}")
    lines += [f"    {name} = {value!r}" for name, value in spec.attributes]
    if spec.special is not None:
        lines += render_method(spec.special, spec.special_kind, spec, first=False)
    if spec.has_property:
        lines += ["    @property", "    def prop(self):", f"        return {spec.property_value!r}"]
    for index, method in enumerate(spec.methods):
        lines += render_method(method, None, spec, first=index == 0)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------
# Strategies.

short_text = st.text(max_size=6)
constants = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    short_text,
    st.binary(max_size=4),
)
constant_values = constants | st.lists(constants, max_size=3).map(tuple)
string_sets = st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=6, unique=True).map(tuple)

body_items = st.one_of(
    st.tuples(st.just("const"), constant_values),
    st.tuples(st.sampled_from(["set", "frozenset"]), string_sets),
)

hashable_scalars = st.integers(-1000, 1000) | short_text
attribute_values = st.recursive(
    constants,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(hashable_scalars, children, max_size=3),
        st.sets(hashable_scalars, max_size=4),
        st.frozensets(short_text, max_size=4),
    ),
    max_leaves=8,
)


@st.composite
def methods(draw: st.DrawFn, name: str) -> Method:
    return Method(
        name=name,
        items=tuple(draw(st.lists(body_items, min_size=1, max_size=5))),
        default=draw(constant_values),
        keyword_default=draw(constant_values),
        membership=draw(st.just(()) | string_sets),
    )


@st.composite
def class_specs(draw: st.DrawFn) -> ClassSpec:
    method_count = draw(st.integers(1, 3))
    attributes = draw(st.lists(attribute_values, max_size=4))
    special_kind = draw(st.sampled_from([None, "staticmethod", "classmethod"]))
    return ClassSpec(
        methods=tuple(draw(methods(f"method_{index}")) for index in range(method_count)),
        tags=frozenset(draw(st.sets(st.text(min_size=1, max_size=6), min_size=2, max_size=8))),
        attributes=tuple((f"attr_{index}", value) for index, value in enumerate(attributes)),
        special_kind=special_kind,
        special=None if special_kind is None else draw(methods("special")),
        property_value=draw(constant_values),
        has_property=draw(st.booleans()),
        helper_factor=draw(st.none() | st.integers(-50, 50)),
        setting=draw(attribute_values),
        has_setting=draw(st.booleans()),
        base_value=draw(constant_values),
        has_base=draw(st.booleans()),
    )


# ---------------------------------------------------------------------------------------------------------
# Mutations: each returns a spec that behaves differently, or None when the spec has nothing to mutate.


def changed_value(value: Any) -> Any:
    """A value of (mostly) the same shape that compares, prints and behaves differently."""
    if isinstance(value, bool):
        return not value
    if value is None:
        return 0
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.0 if abs(value) < 1e15 else value / 2
    if isinstance(value, str):
        if not value:
            return "a"
        replacement = "b" if value[0] == "a" else "a"
        return replacement + value[1:]
    if isinstance(value, bytes):
        return bytes([(value[0] + 1) % 256]) + value[1:] if value else b"a"
    if isinstance(value, tuple):
        return (*value, 0)
    if isinstance(value, list):
        return [*value, 0]
    if isinstance(value, dict):
        return {**value, fresh_string(value): 0}
    if isinstance(value, (set, frozenset)):
        return type(value)({*value, fresh_string(value)})
    raise TypeError(f"no mutation for {type(value).__name__}")


def fresh_string(existing: Any) -> str:
    return next(f"new{n}" for n in itertools.count() if f"new{n}" not in existing)


def with_method(spec: ClassSpec, index: int, method: Method) -> ClassSpec:
    methods_ = list(spec.methods)
    methods_[index] = method
    return dataclasses.replace(spec, methods=tuple(methods_))


def mutate_body_item(spec: ClassSpec, data: st.DataObject) -> ClassSpec:
    index = data.draw(st.integers(0, len(spec.methods) - 1), label="method")
    method = spec.methods[index]
    position = data.draw(st.integers(0, len(method.items) - 1), label="item")
    kind, value = method.items[position]
    new_value = changed_value(value) if kind == "const" else (*value, fresh_string(value))
    items = method.items[:position] + ((kind, new_value),) + method.items[position + 1 :]
    return with_method(spec, index, dataclasses.replace(method, items=items))


def mutate_membership(spec: ClassSpec, data: st.DataObject) -> ClassSpec | None:
    method = spec.methods[0]
    if not method.membership:
        return None
    membership = (*method.membership, fresh_string(method.membership))
    return with_method(spec, 0, dataclasses.replace(method, membership=membership))


def mutate_default(spec: ClassSpec, data: st.DataObject) -> ClassSpec:
    method = spec.methods[-1]
    return with_method(spec, len(spec.methods) - 1, dataclasses.replace(method, default=changed_value(method.default)))


def mutate_keyword_default(spec: ClassSpec, data: st.DataObject) -> ClassSpec:
    method = spec.methods[0]
    return with_method(spec, 0, dataclasses.replace(method, keyword_default=changed_value(method.keyword_default)))


def mutate_attribute(spec: ClassSpec, data: st.DataObject) -> ClassSpec | None:
    if not spec.attributes:
        return None
    index = data.draw(st.integers(0, len(spec.attributes) - 1), label="attribute")
    attributes = list(spec.attributes)
    name, value = attributes[index]
    attributes[index] = (name, changed_value(value))
    return dataclasses.replace(spec, attributes=tuple(attributes))


def add_tag(spec: ClassSpec, data: st.DataObject) -> ClassSpec:
    return dataclasses.replace(spec, tags=spec.tags | {fresh_string(spec.tags)})


def remove_tag(spec: ClassSpec, data: st.DataObject) -> ClassSpec:
    removed = data.draw(st.sampled_from(sorted(spec.tags)), label="removed tag")
    return dataclasses.replace(spec, tags=spec.tags - {removed})


def mutate_helper_body(spec: ClassSpec, data: st.DataObject) -> ClassSpec | None:
    if spec.helper_factor is None:
        return None
    return dataclasses.replace(spec, helper_factor=spec.helper_factor + 1)


def mutate_setting(spec: ClassSpec, data: st.DataObject) -> ClassSpec | None:
    return dataclasses.replace(spec, setting=changed_value(spec.setting)) if spec.has_setting else None


def mutate_base_method(spec: ClassSpec, data: st.DataObject) -> ClassSpec | None:
    return dataclasses.replace(spec, base_value=changed_value(spec.base_value)) if spec.has_base else None


def swap_static_and_class_method(spec: ClassSpec, data: st.DataObject) -> ClassSpec | None:
    if spec.special_kind is None:
        return None
    swapped = "classmethod" if spec.special_kind == "staticmethod" else "staticmethod"
    return dataclasses.replace(spec, special_kind=swapped)


def mutate_special_body(spec: ClassSpec, data: st.DataObject) -> ClassSpec | None:
    if spec.special is None:
        return None
    kind, value = spec.special.items[0]
    new_item = (kind, changed_value(value) if kind == "const" else (*value, fresh_string(value)))
    return dataclasses.replace(
        spec, special=dataclasses.replace(spec.special, items=(new_item, *spec.special.items[1:]))
    )


def mutate_property(spec: ClassSpec, data: st.DataObject) -> ClassSpec | None:
    if not spec.has_property:
        return None
    return dataclasses.replace(spec, property_value=changed_value(spec.property_value))


def rename_method(spec: ClassSpec, data: st.DataObject) -> ClassSpec:
    index = data.draw(st.integers(0, len(spec.methods) - 1), label="renamed method")
    method = spec.methods[index]
    return with_method(spec, index, dataclasses.replace(method, name=method.name + "_renamed"))


MUTATIONS = [
    mutate_body_item,
    mutate_membership,
    mutate_default,
    mutate_keyword_default,
    mutate_attribute,
    add_tag,
    remove_tag,
    mutate_helper_body,
    mutate_setting,
    mutate_base_method,
    swap_static_and_class_method,
    mutate_special_body,
    mutate_property,
    rename_method,
]


# ---------------------------------------------------------------------------------------------------------
# Properties.


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hashing_properties")


def test_rendered_sources_compile() -> None:
    @settings(max_examples=100, deadline=None, database=None)
    @given(class_specs())
    def check(spec: ClassSpec) -> None:
        compile(render(spec), "<generated>", "exec")

    check()


def collect_sources(count: int) -> list[str]:
    """``count`` generated sources (duplicates dropped), drawn by Hypothesis across many examples."""
    sources: dict[str, None] = {}

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(class_specs())
    def collect(spec: ClassSpec) -> None:
        sources[render(spec)] = None

    collect()
    return list(sources)


def test_same_source_same_hash_across_seeds_directories_and_processes(workdir: Path) -> None:
    sources = collect_sources(40)
    assert len(sources) >= 20
    modules = {f"determinism_{index}": source for index, source in enumerate(sources)}
    targets = {module_name: [CLASS_NAME] for module_name in modules}
    first = workdir / "determinism_a"
    second = workdir / "elsewhere" / "a" / "deeper" / "determinism_b"
    write_modules(first, modules)
    write_modules(second, modules)
    random_seed = str(random.randrange(1, 2**32 - 1))
    runs = {
        "dir_a,PYTHONHASHSEED=0": (first, "0"),
        "dir_b,PYTHONHASHSEED=12345": (second, "12345"),
        f"dir_b,PYTHONHASHSEED={random_seed}": (second, random_seed),
    }
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        futures = {
            label: pool.submit(hash_in_subprocess, directory, targets, env={"PYTHONHASHSEED": seed})
            for label, (directory, seed) in runs.items()
        }
        results = {label: future.result() for label, future in futures.items()}
    # And this process (whatever its seed), importing the same text from yet another directory.
    third = workdir / "determinism_c"
    results["this-process"] = {
        f"{module}.{CLASS_NAME}": hash_sources(third, [source], CLASS_NAME, module_name=module)[0]
        for module, source in modules.items()
    }
    for digest in results["this-process"].values():
        assert SHA256_HEX.fullmatch(digest)
    difference = describe_differences(results)
    if difference:
        first_key = difference.splitlines()[1].split(":")[0].strip()
        source = modules[first_key.rsplit(".", 1)[0]]
        pytest.fail(f"{difference}\n\nsource of {first_key}:\n{source}", pytrace=False)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=class_specs(), data=st.data())
def test_every_behavioural_mutation_changes_the_hash(workdir: Path, spec: ClassSpec, data: st.DataObject) -> None:
    original = render(spec)
    mutants = {}
    for mutation in MUTATIONS:
        mutated = mutation(spec, data)
        if mutated is not None:
            mutants[mutation.__name__] = render(mutated)
            assert mutants[mutation.__name__] != original, mutation.__name__
    module_name = f"sensitivity_{next(_module_numbers)}"
    original_hash, *mutant_hashes = hash_sources(
        workdir, [original, *mutants.values()], CLASS_NAME, module_name=module_name
    )
    unchanged = [name for name, digest in zip(mutants, mutant_hashes, strict=True) if digest == original_hash]
    assert not unchanged, f"these mutations left the hash unchanged: {unchanged}\n--- original:\n{original}" + "".join(
        f"--- {name}:\n{mutants[name]}" for name in unchanged
    )


# Comment text never holds ":" or "=" so that no line can become a "coding:" declaration.
comment_text = st.text(alphabet=string.ascii_letters + string.digits + " #-_'\"()[]{},.", max_size=20)


@st.composite
def layout_changes(draw: st.DrawFn, source: str) -> str:
    lines = source.splitlines()
    # Insertions before line i (i == len(lines) appends): comment lines at any indentation, blank lines.
    insertions: dict[int, list[str]] = {}
    for _ in range(draw(st.integers(0, 8), label="insertions")):
        position = draw(st.integers(0, len(lines)), label="position")
        kind = draw(st.sampled_from(["comment", "blank", "whitespace"]), label="kind")
        indent = " " * draw(st.integers(0, 12), label="indent")
        text = {"comment": f"{indent}# {draw(comment_text)}", "blank": "", "whitespace": indent}[kind]
        insertions.setdefault(position, []).append(text)
    changed = []
    for index, line in enumerate(lines):
        changed += insertions.get(index, [])
        if draw(st.booleans(), label="trailing whitespace"):
            line += draw(st.sampled_from([" ", "  ", "\t", " \t "]), label="whitespace")
        if draw(st.integers(0, 4), label="end-of-line comment") == 0:
            line += f"  # {draw(comment_text)}"
        changed.append(line)
    changed += insertions.get(len(lines), [])
    shift = draw(st.integers(0, 60), label="shift")
    header = [draw(st.sampled_from(["", "# shifted", "    # shifted"])) for _ in range(shift)]
    return "\n".join(header + changed) + "\n"


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=class_specs(), data=st.data())
def test_layout_changes_leave_the_hash_unchanged(workdir: Path, spec: ClassSpec, data: st.DataObject) -> None:
    original = render(spec)
    relaid = data.draw(layout_changes(original), label="relaid source")
    module_name = f"layout_{next(_module_numbers)}"
    original_hash, relaid_hash = hash_sources(workdir, [original, relaid], CLASS_NAME, module_name=module_name)
    assert original_hash == relaid_hash, f"--- original:\n{original}--- relaid:\n{relaid}"
