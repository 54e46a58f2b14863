"""Classes built with real frameworks hash the same in every process and on every supported CPython, and any change
to their source changes the hash; what a framework derives at class creation is never hashed (pydantic's schema,
validator and serializer embed the class's address) and is rebuilt on load (remoteimport/_pydantic.py). Text that
embeds an address is refused at hash time, and frameworks that cannot travel by value are refused at push with a
message naming the class, the member and the reason.

The two-interpreter loads (push, delete the source, import pinned) are in tests/e2e/test_frameworks_e2e.py.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from framework_models import (
    ATTRS_MODULE,
    MSGSPEC_MODULE,
    PYDANTIC_PACKAGE,
    SQLALCHEMY_MODULE,
    install_frameworks,
    write_sources,
)
from hashing_support import describe_differences, hash_in_subprocess, hash_sources, load_module
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import remoteimport
from remoteimport import _pydantic
from remoteimport.errors import UnhashableObjectError

pydantic = pytest.importorskip("pydantic", reason="pydantic is missing: pip install 'pydantic>=2'")

_modules = itertools.count()
PYDANTIC_TARGETS = {"fwmodels.base": None, "fwmodels.leaf": None}


def _hash_in_two_fresh_processes(tmp_path: Path, files: dict[str, str], targets: dict[str, Any]) -> dict[str, str]:
    """Hash ``targets`` in two fresh interpreters, from two folders, under two seeds; they must agree."""
    first = write_sources(tmp_path / "first", files)
    second = write_sources(tmp_path / "elsewhere" / "deeper" / "second", files)
    seed = str(random.randrange(1, 2**32 - 1))
    runs = {"first,PYTHONHASHSEED=0": (first, "0"), f"second,PYTHONHASHSEED={seed}": (second, seed)}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            label: pool.submit(hash_in_subprocess, folder, targets, env={"PYTHONHASHSEED": value})
            for label, (folder, value) in runs.items()
        }
        results = {label: future.result() for label, future in futures.items()}
    difference = describe_differences(results)
    assert not difference, difference
    return next(iter(results.values()))


def _module(tmp_path: Path, source: str) -> Any:
    """Import ``source`` as a module of its own (kept in sys.modules: pydantic and the hasher look it up)."""
    return load_module(tmp_path / f"m{next(_modules)}", f"framework_case_{next(_modules)}", textwrap.dedent(source))


# -- the adapter ----------------------------------------------------------------------------------------------


def test_pydantic_adapter_names_the_pydantic_it_was_checked_against() -> None:
    problems = _pydantic.internals_problems()
    assert problems == [], (
        f"pydantic {pydantic.VERSION} differs from the version remoteimport/_pydantic.py was checked against "
        f"({', '.join(_pydantic.CHECKED_VERSIONS)}): {problems}"
    )


def test_every_member_pydantic_puts_on_a_model_is_either_derived_or_hashed(tmp_path: Path) -> None:
    """A new pydantic release that adds a member to model classes fails here by name: decide in _pydantic.py
    whether it is derived (rebuilt on load, never hashed) or plain data (hashed)."""
    base = write_sources(tmp_path, PYDANTIC_PACKAGE)
    sys.path.insert(0, str(base))
    try:
        from fwmodels import base as models
        from fwmodels import leaf
    finally:
        sys.path.remove(str(base))
    try:
        own_members = set()
        for cls in (models.Trainer, models.Schedule, models.Page, models.Page[int], leaf.Experiment, leaf.Point):
            own_members |= {name for name in vars(cls) if name.startswith("__pydantic") or name.startswith("model_")}
            own_members |= {
                name for name in ("__class_vars__", "__private_attributes__", "__signature__") if name in vars(cls)
            }
        unknown = sorted(own_members - _pydantic.DERIVED_MEMBERS - _pydantic.HASHED_MEMBERS)
        assert not unknown, (
            f"pydantic {pydantic.VERSION} puts members on model classes that remoteimport/_pydantic.py (checked "
            f"against {', '.join(_pydantic.CHECKED_VERSIONS)}) does not know: {unknown}; add each to "
            "DERIVED_MEMBERS or HASHED_MEMBERS"
        )
        assert _pydantic.DERIVED_MEMBERS & own_members == _pydantic.DERIVED_MEMBERS
    finally:
        for name in [name for name in sys.modules if name == "fwmodels" or name.startswith("fwmodels.")]:
            del sys.modules[name]


def test_a_missing_pydantic_internal_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import pydantic._internal._decorators as decorators

    monkeypatch.delattr(decorators, "DecoratorInfos")
    assert _pydantic.internals_problems() == ["pydantic._internal._decorators.DecoratorInfos is missing"]


def test_hashing_a_plain_class_never_imports_pydantic(tmp_path: Path) -> None:
    code = """
        import json, sys
        import remoteimport
        from dataclasses import dataclass

        @dataclass
        class Plain:
            size: int = 3

            def grow(self):
                return self.size * 2

        remoteimport.class_hash(Plain)
        tops = {name.partition(".")[0] for name in sys.modules}
        print(json.dumps(sorted(tops & {"pydantic", "pydantic_core"})))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert json.loads(done.stdout.splitlines()[-1]) == []


# -- pydantic: the same hash everywhere, another hash for another source -------------------------------------


def test_pydantic_models_hash_alike_in_fresh_processes_folders_and_seeds(tmp_path: Path) -> None:
    hashes = _hash_in_two_fresh_processes(tmp_path, PYDANTIC_PACKAGE, PYDANTIC_TARGETS)
    for name in ("Trainer", "Schedule", "Page", "Tags", "Cat", "Dog"):
        assert f"fwmodels.base.{name}" in hashes
    assert {"fwmodels.leaf.Experiment", "fwmodels.leaf.Point"} <= set(hashes)


def test_the_schema_embeds_the_class_address_and_the_hash_does_not_see_it(tmp_path: Path) -> None:
    """Why the derived members are left out: pydantic's refs hold id(cls), in this pydantic as in 2.x before."""
    module = _module(
        tmp_path,
        """
        from pydantic import BaseModel

        class Node(BaseModel):
            value: int = 0
            children: list["Node"] = []
        """,
    )
    schema_text = json.dumps(module.Node.__pydantic_core_schema__, default=str)
    assert str(id(module.Node)) in schema_text
    assert len(remoteimport.class_hash(module.Node)) == 64


MODEL = """
    from typing import Optional
    from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

    class C(BaseModel):
        model_config = ConfigDict(extra="ignore")
        a: int = Field(1, ge=0)
        b: str = "x"
        c: Optional[int] = None

        @field_validator("b")
        @classmethod
        def tidy(cls, value):
            return value.strip()

        @computed_field
        @property
        def double(self) -> int:
            return self.a * 2
"""

# Each a real change of the model's source: each must change the hash.
MODEL_MUTATIONS = {
    "field type": ("a: int = Field(1, ge=0)", "a: float = Field(1, ge=0)"),
    "default": ('b: str = "x"', 'b: str = "y"'),
    "constraint value": ("Field(1, ge=0)", "Field(1, ge=1)"),
    "constraint kind": ("Field(1, ge=0)", "Field(1, gt=0)"),
    "added constraint": ("Field(1, ge=0)", "Field(1, ge=0, le=9)"),
    "description": ("Field(1, ge=0)", 'Field(1, ge=0, description="count")'),
    "alias": ("Field(1, ge=0)", 'Field(1, ge=0, alias="A")'),
    "required instead of None": ("c: Optional[int] = None", "c: Optional[int]"),
    "field order": ('a: int = Field(1, ge=0)\n    b: str = "x"', 'b: str = "x"\n    a: int = Field(1, ge=0)'),
    "added field": ("c: Optional[int] = None", "c: Optional[int] = None\n    d: list[int] = []"),
    "validator body": ("return value.strip()", "return value.lower()"),
    "validator target": ('@field_validator("b")', '@field_validator("b", mode="before")'),
    "model_config": ('ConfigDict(extra="ignore")', 'ConfigDict(extra="forbid")'),
    "computed field body": ("return self.a * 2", "return self.a * 3"),
    "computed field return type": ("def double(self) -> int:", "def double(self) -> float:"),
}


def test_every_change_to_a_models_source_changes_its_hash(tmp_path: Path) -> None:
    source = textwrap.dedent(MODEL)
    variants = {name: source.replace(*change) for name, change in MODEL_MUTATIONS.items()}
    for name, variant in variants.items():
        assert variant != source, f"the mutation {name!r} did not apply"
    original, again, *mutated = hash_sources(tmp_path, [source, source, *variants.values()], "C")
    assert original == again
    unchanged = [name for name, digest in zip(variants, mutated, strict=True) if digest == original]
    assert not unchanged, f"these changes left the hash unchanged: {unchanged}"
    assert len(set(mutated)) == len(mutated), "two different changes gave the same hash"


def test_rebuilding_a_model_replaces_a_smuggled_validator_and_keeps_the_hash(tmp_path: Path) -> None:
    """What a payload brings of the derived members is never used: regenerate_models() builds them again from
    the fields and decorators the hash covers."""
    module = _module(
        tmp_path,
        """
        from pydantic import BaseModel, Field, field_validator

        class Strict(BaseModel):
            size: int = Field(1, gt=0)
            name: str = "n"

            @field_validator("name")
            @classmethod
            def shout(cls, value):
                return value.upper()

        class Lax(BaseModel):
            size: int = -5
            name: str = "n"
        """,
    )
    strict, lax = module.Strict, module.Lax
    before = remoteimport.class_hash(strict)
    for member in ("__pydantic_validator__", "__pydantic_serializer__", "__pydantic_core_schema__"):
        setattr(strict, member, getattr(lax, member))  # what a tampered payload could bring
    assert remoteimport.class_hash(strict) == before  # the hash does not cover them ...
    assert strict(size=-1).size == -1  # ... and the smuggled validator lets a bad value through
    _pydantic.regenerate_models([strict, lax])
    with pytest.raises(pydantic.ValidationError, match="greater than 0"):
        strict(size=-1)
    assert strict(size=2, name="ab").model_dump() == {"size": 2, "name": "AB"}
    assert lax(size=-1).size == -1
    assert remoteimport.class_hash(strict) == before
    assert str(id(strict)) in json.dumps(strict.__pydantic_core_schema__, default=str)


# -- a property: random models ---------------------------------------------------------------------------------

FIELD_TYPES = {
    "int": ("int", [0, 3, -7], "ge=0"),
    "float": ("float", [0.5, 2.0], "gt=0"),
    "str": ("str", ["", "abc"], "min_length=1"),
    "optional": ("Optional[int]", [None, 4], None),
    "list": ("list[str]", [[], ["a"]], "max_length=3"),
    "dict": ("dict[str, int]", [{}, {"k": 1}], None),
}


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str
    default: Any  # `...` for a required field
    constrained: bool


@st.composite
def model_specs(draw: st.DrawFn) -> tuple[FieldSpec, ...]:
    names = draw(st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=5, unique=True))
    specs = []
    for name in names:
        kind = draw(st.sampled_from(sorted(FIELD_TYPES)))
        _, defaults, constraint = FIELD_TYPES[kind]
        default = draw(st.sampled_from([..., *defaults]))
        constrained = constraint is not None and draw(st.booleans())
        specs.append(FieldSpec(name, kind, default, constrained))
    return tuple(specs)


def render_model(fields: tuple[FieldSpec, ...]) -> str:
    lines = ["from typing import Optional", "from pydantic import BaseModel, Field", "", "class Generated(BaseModel):"]
    for spec in fields:
        annotation, _, constraint = FIELD_TYPES[spec.kind]
        default = "..." if spec.default is ... else repr(spec.default)
        if spec.constrained:
            lines.append(f"    {spec.name}: {annotation} = Field({default}, {constraint})")
        elif spec.default is ...:
            lines.append(f"    {spec.name}: {annotation}")
        else:
            lines.append(f"    {spec.name}: {annotation} = {default}")
    return "\n".join(lines) + "\n"


def sample_input(fields: tuple[FieldSpec, ...]) -> dict[str, Any]:
    values = {"int": 2, "float": 1.5, "str": "xy", "optional": None, "list": ["a", "b"], "dict": {"z": 9}}
    return {spec.name: values[spec.kind] for spec in fields}


def bad_input(fields: tuple[FieldSpec, ...]) -> dict[str, Any]:
    values = {"int": "x", "float": "y", "str": 3, "optional": "z", "list": "no", "dict": [1]}
    return {spec.name: values[spec.kind] for spec in fields}


def test_random_models_hash_alike_in_fresh_processes(tmp_path: Path) -> None:
    sources: dict[str, None] = {}

    @settings(max_examples=25, deadline=None, database=None, phases=[Phase.generate])
    @given(model_specs())
    def collect(fields: tuple[FieldSpec, ...]) -> None:
        sources[render_model(fields)] = None

    collect()
    files = {f"model_{index}.py": source for index, source in enumerate(sources)}
    hashes = _hash_in_two_fresh_processes(
        tmp_path, files, {f"model_{index}": ["Generated"] for index in range(len(files))}
    )
    assert len(hashes) == len(files) >= 10


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(fields=model_specs())
def test_random_models_rebuild_to_the_same_hash_and_behaviour(tmp_path: Path, fields: tuple[FieldSpec, ...]) -> None:
    """Rebuilding the derived members (as a load does) changes neither the hash nor what the model accepts."""
    (digest,) = hash_sources(tmp_path, [render_model(fields)], "Generated", module_name="generated_model")
    module = _module(tmp_path, render_model(fields))
    model = module.Generated
    assert remoteimport.class_hash(model) == digest
    accepted = model(**sample_input(fields)).model_dump_json()
    with pytest.raises(pydantic.ValidationError) as before:
        model(**bad_input(fields))
    _pydantic.regenerate_models([model])
    assert remoteimport.class_hash(model) == digest
    assert model(**sample_input(fields)).model_dump_json() == accepted
    with pytest.raises(pydantic.ValidationError) as after:
        model(**bad_input(fields))
    assert [error["type"] for error in after.value.errors()] == [error["type"] for error in before.value.errors()]


# -- the address guard -------------------------------------------------------------------------------------------


def test_a_str_holding_the_id_of_a_hashed_object_is_refused(tmp_path: Path) -> None:
    module = _module(
        tmp_path,
        """
        class Holder:
            pass

        class Registry:
            schema = {"type": "model", "ref": None}
            entry = Holder()

        Registry.schema["ref"] = f"{__name__}.Registry:{id(Registry)}"  # what pydantic's core schema holds
        """,
    )
    with pytest.raises(UnhashableObjectError) as raised:
        remoteimport.class_hash(module.Registry)
    message = str(raised.value)
    assert "cannot hash Registry.schema" in message and f"{id(module.Registry)}" in message
    assert "is the id() of Registry (type)" in message and "differs in every process" in message


def test_a_hex_id_of_a_nested_object_is_refused(tmp_path: Path) -> None:
    module = _module(
        tmp_path,
        """
        class Part:
            pass

        class Machine:
            part = Part()
            label = None

        Machine.label = "part@" + hex(id(Machine.part))
        """,
    )
    with pytest.raises(UnhashableObjectError, match=r"cannot hash Machine\.label: .* is the id\(\) of a .*Part"):
        remoteimport.class_hash(module.Machine)


def test_a_repr_with_an_address_is_refused(tmp_path: Path) -> None:
    module = _module(
        tmp_path,
        """
        class Widget:
            fallback = repr(object())

            def run(self, value=str(object())):
                return value
        """,
    )
    with pytest.raises(UnhashableObjectError, match=r"cannot hash Widget\.(fallback|run\.__defaults__.*): .*repr\(\)"):
        remoteimport.class_hash(module.Widget)


def test_hex_and_digit_strings_that_are_not_addresses_hash(tmp_path: Path) -> None:
    source = '''
        class Constants:
            """Prints <Widget object at 0x7f3b2c1d0e90> in the docs: a docstring is what the source says."""

            digest = "5fb02771bc4ed3cb5806a64f84b63550b8a633da637367354d7185947daf8bde"
            colour = "deadbeefcafe"
            register = "0xDEADBEEF00"
            uuid = "550e8400-e29b-41d4-a716-446655440000"
            phone = "00441234567890"
            big = 123456789012345678
            numbers = ["140234567891234", "0x7f0000001000"]
    '''
    first, second = hash_sources(tmp_path, [textwrap.dedent(source)] * 2, "Constants")
    assert first == second


# -- attrs ---------------------------------------------------------------------------------------------------------


def test_attrs_classes_hash_alike_in_fresh_processes(tmp_path: Path) -> None:
    """attrs generates __hash__ with a str hash in its code (PYTHONHASHSEED changes it): generated methods are
    left out, the fields (__attrs_attrs__: validators, converters, defaults) are hashed."""
    pytest.importorskip("attrs", reason="attrs is missing: pip install attrs")
    hashes = _hash_in_two_fresh_processes(tmp_path, ATTRS_MODULE, {"fwattrs": ["Point", "Frozen", "Classic", "Suite"]})
    assert len(set(hashes.values())) == 4


def test_a_change_to_an_attrs_field_changes_the_hash(tmp_path: Path) -> None:
    pytest.importorskip("attrs", reason="attrs is missing: pip install attrs")
    source = textwrap.dedent(
        """
        import attrs

        @attrs.frozen
        class C:
            a: int = attrs.field(default=1, converter=int)
            b: str = "x"
        """
    )
    variants = [
        source,
        source.replace("default=1", "default=2"),
        source.replace("converter=int", "converter=float"),
        source.replace('b: str = "x"', 'b: str = "y"'),
        source.replace("@attrs.frozen", "@attrs.define"),
    ]
    hashes = hash_sources(tmp_path, variants, "C")
    assert len(set(hashes)) == len(variants)


# -- refused at push, with the class, the member and the reason --------------------------------------------------


def _push_refused(tmp_path: Path, files: dict[str, str], module_name: str, class_name: str) -> str:
    folder = write_sources(tmp_path / "src", files)
    sys.path.insert(0, str(folder))
    try:
        module = __import__(module_name)
        store = tmp_path / "store"
        with pytest.raises(UnhashableObjectError) as raised:
            remoteimport.push(getattr(module, class_name), store=str(store))
        assert not (store / "blobs").exists() or not any((store / "blobs").rglob("*.blob")), "something was written"
        return str(raised.value)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(module_name, None)


def test_a_msgspec_struct_of_the_users_code_is_refused_at_push(tmp_path: Path) -> None:
    pytest.importorskip("msgspec", reason="msgspec is missing: pip install msgspec")
    message = _push_refused(tmp_path, MSGSPEC_MODULE, "fwmsgspec", "Order")
    assert message.startswith("cannot hash Order: Order is a msgspec.Struct, which cannot travel by value")
    assert "Order.__struct_fields__" in message and "installed classes travel by name" in message


def test_a_sqlalchemy_model_of_the_users_code_is_refused_at_push(tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy", reason="SQLAlchemy is missing: pip install 'sqlalchemy>=2'")
    message = _push_refused(tmp_path, SQLALCHEMY_MODULE, "fwsqlalchemy", "User")
    assert message.startswith("cannot hash User: User is a SQLAlchemy declarative class")
    assert "(User.__mapper__)" in message and "installed classes travel by name" in message
    # A class that only uses such a model is refused at the model, by its path.
    message = _push_refused(tmp_path / "again", SQLALCHEMY_MODULE, "fwsqlalchemy", "Report")
    assert message.startswith("cannot hash Report.model: User is a SQLAlchemy declarative class")


def test_a_pydantic_dataclass_is_refused(tmp_path: Path) -> None:
    module = _module(
        tmp_path,
        """
        import pydantic.dataclasses

        @pydantic.dataclasses.dataclass
        class Settings:
            size: int = 1
        """,
    )
    with pytest.raises(UnhashableObjectError, match=r"^cannot hash Settings: Settings is a pydantic dataclass"):
        remoteimport.class_hash(module.Settings)


def test_a_model_pydantic_has_not_built_yet_is_refused_until_it_is_built(tmp_path: Path) -> None:
    """Its validator is pydantic's placeholder, which cannot travel; once built, the model hashes and pushes (the
    loading host builds it again anyway)."""
    module = _module(
        tmp_path,
        """
        from pydantic import BaseModel, ConfigDict, Field

        class Lazy(BaseModel):
            model_config = ConfigDict(defer_build=True)
            n: int = Field(1, lt=10)

        class User:
            kind = Lazy
        """,
    )
    with pytest.raises(UnhashableObjectError) as raised:
        remoteimport.class_hash(module.User)
    assert str(raised.value).startswith("cannot hash User.kind: Lazy is a pydantic model that is not built yet")
    assert "Call Lazy.model_rebuild() before pushing it" in str(raised.value)
    module.Lazy.model_rebuild()
    store = tmp_path / "store"
    full = remoteimport.push(module.User, store=str(store))
    assert full == remoteimport.class_hash(module.User)


# -- every supported CPython -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def framework_pythons(venv_pythons: dict[str, Path]) -> dict[str, Path]:
    """The suite's venvs (tests/conftest.py) with this process's pydantic and attrs installed in them."""
    return install_frameworks(venv_pythons)


@pytest.mark.slow
def test_framework_classes_hash_alike_on_every_python(framework_pythons: dict[str, Path], tmp_path: Path) -> None:
    folder = write_sources(tmp_path / "src", {**PYDANTIC_PACKAGE, **ATTRS_MODULE})
    targets = {**PYDANTIC_TARGETS, "fwattrs": None}
    with ThreadPoolExecutor(max_workers=len(framework_pythons)) as pool:
        futures = {
            f"py{minor}": pool.submit(hash_in_subprocess, folder, targets, python=python, env={"PYTHONHASHSEED": "0"})
            for minor, python in framework_pythons.items()
        }
        results = {label: future.result() for label, future in futures.items()}
    difference = describe_differences(results)
    assert not difference, f"framework classes hash differently between Python versions; {difference}"
    assert len(next(iter(results.values()))) >= 12
