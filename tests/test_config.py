"""Tests for remoteimport.config: recording constructor arguments, dump and build.

In-process on a temporary folder store (the ``remote_store`` fixture of our own pytest plugin); the
two-interpreter tests at the end dump in a producer whose source is then gone and build in fresh consumers
(``isolated_python``).
"""

from __future__ import annotations

import dataclasses
import fractions
import inspect
import json
import os
import pickle
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import remoteimport
from remoteimport.config import ConfigError, recorded_arguments
from remoteimport.errors import InvalidNameError, NameNotFoundError
from remoteimport.hashing import class_hash
from remoteimport.store import Store


@remoteimport.persist
class Scale:
    def __init__(self, factor: float = 2.0, *, label: str = "scale") -> None:
        self.factor = factor
        self.label = label

    def apply(self, x: float) -> float:
        return x * self.factor


@remoteimport.persist
class Pipeline:
    # Annotations name builtins only: a loaded class is re-hashed, and its functions keep only the globals
    # their bytecode reads (typing.Any in an annotation would be missing there).
    def __init__(self, steps: list, options: dict | None = None) -> None:
        self.steps = steps
        self.options = options or {}

    def apply(self, x: float) -> float:
        for step in self.steps:
            x = step.apply(x)
        return x


@remoteimport.persist
class Odd:
    """Positional-only, *args and **kwargs parameters."""

    def __init__(self, first: int, /, *rest: int, **named: str) -> None:
        self.values = (first, *rest)
        self.named = named


@remoteimport.persist
class NoInit:
    kind = "plain"


@remoteimport.persist
class ChildOfScale(Scale):
    """Inherits the recording __init__ of Scale."""


class UnpersistedChild(Scale):
    def __init__(self, factor: float) -> None:
        super().__init__(factor * 10)


@remoteimport.persist
class Slotted:
    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value


@remoteimport.persist
@dataclasses.dataclass
class Settings:
    size: int
    mode: str = "fast"


@pytest.fixture
def pushed(remote_store: Store) -> Store:
    for cls in (Scale, Pipeline, Odd, NoInit, ChildOfScale, Slotted, Settings):
        remoteimport.push(cls, store=remote_store)
    return remote_store


# -- recording -------------------------------------------------------------------------------------------


def test_instances_record_the_arguments_they_were_given() -> None:
    assert recorded_arguments(Scale(3, label="x")) == {"factor": 3, "label": "x"}
    assert recorded_arguments(Scale()) == {}  # defaults are not recorded: the pinned code has them
    assert recorded_arguments(Odd(1, 2, 3, a="b")) == {"first": 1, "rest": (2, 3), "named": {"a": "b"}}
    assert recorded_arguments(ChildOfScale(5)) == {"factor": 5}
    assert recorded_arguments(UnpersistedChild(1)) is None  # Scale's arguments are not UnpersistedChild's


def test_recording_leaves_the_instance_and_the_signature_alone() -> None:
    scale = Scale(3)
    assert vars(scale) == {"factor": 3, "label": "scale"}
    assert pickle.loads(pickle.dumps(scale)).factor == 3
    assert str(inspect.signature(Scale)) == "(factor: 'float' = 2.0, *, label: 'str' = 'scale') -> 'None'"
    with pytest.raises(TypeError, match="unexpected keyword"):
        Scale(nope=1)  # type: ignore[call-arg]


def test_persist_twice_wraps_once_and_keeps_the_hash() -> None:
    before = class_hash(Scale)
    init = Scale.__init__
    assert remoteimport.persist(Scale) is Scale and Scale.__init__ is init
    assert class_hash(Scale) == before


def _two_versions_of_init() -> tuple[type, type]:
    def first() -> type:
        class Versioned:
            def __init__(self, k: int = 1) -> None:
                self.k = k

        return Versioned

    def second() -> type:
        class Versioned:
            def __init__(self, k: int = 1) -> None:
                self.k = k + 1

        return Versioned

    return first(), second()


def test_the_hash_covers_the_original_init_by_content() -> None:
    one, two = _two_versions_of_init()
    assert class_hash(one) != class_hash(two)
    wrapped_one, wrapped_two = (remoteimport.persist(cls) for cls in _two_versions_of_init())
    assert class_hash(wrapped_one) != class_hash(wrapped_two)  # the wrapper does not hide the body
    again, _ = (remoteimport.persist(cls) for cls in _two_versions_of_init())
    assert class_hash(again) == class_hash(wrapped_one)  # deterministic: same code, same hash


def test_push_status_and_loading_work_with_the_wrapper(remote_store: Store, remote_import: Callable[..., Any]) -> None:
    full = remoteimport.push(Scale, store=remote_store)
    assert remoteimport.status(Scale, store=remote_store) == "synced"
    namespace = remote_import(remote_store)
    loaded = namespace.Scale
    assert loaded is not Scale and class_hash(loaded) == full
    assert recorded_arguments(loaded(4)) == {"factor": 4}  # the loaded class keeps recording


# -- dump ------------------------------------------------------------------------------------------------


def test_dump_names_exact_versions_and_nests(pushed: Store) -> None:
    pipeline = Pipeline([Scale(3), Scale(factor=0.5, label="half")], options={"mode": ("a", "b"), "n": None})
    config = remoteimport.dump(pipeline, store=pushed)
    scale_ref = f"labchain_remote.Scale@{class_hash(Scale)}"
    assert config == {
        "clazz": f"labchain_remote.Pipeline@{class_hash(Pipeline)}",
        "params": {
            "steps": [
                {"clazz": scale_ref, "params": {"factor": 3}},
                {"clazz": scale_ref, "params": {"factor": 0.5, "label": "half"}},
            ],
            "options": {"mode": ["a", "b"], "n": None},
        },
    }
    assert json.loads(json.dumps(config)) == config
    assert remoteimport.dump(NoInit(), store=pushed)["params"] == {}
    assert remoteimport.dump(Scale(), store=pushed, namespace="team.models")["clazz"].startswith("team.models.Scale@")


def test_dump_refuses_a_class_that_is_not_in_the_store(remote_store: Store) -> None:
    with pytest.raises(ConfigError, match=r"never pushed.*Push it first.*dump never pushes"):
        remoteimport.dump(Scale(2), store=remote_store)
    remoteimport.push(Scale, store=remote_store)
    one, two = (remoteimport.persist(name="Versioned", store=remote_store)(cls) for cls in _two_versions_of_init())
    remoteimport.push(one)
    with pytest.raises(ConfigError, match=r"Versioned@.*the code changed since it was pushed"):
        remoteimport.dump(two())


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (object(), r"config\.steps\[1\]: it is a builtins\.object, which is neither a JSON value"),
        ({1: "a"}, r"config\.steps\[1\]: its key 1 is a int"),
        ({"clazz": "x"}, r"a plain dict with a 'clazz' key"),
        (float("nan"), r"config\.steps\[1\] = nan: JSON has no NaN"),
        ({"deep": [fractions.Fraction(1, 3)]}, r"config\.steps\[1\]\['deep'\]\[0\]: it is a fractions\.Fraction"),
    ],
)
def test_dump_names_the_parameter_it_cannot_encode(pushed: Store, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        remoteimport.dump(Pipeline([Scale(), value]), store=pushed)


def test_dump_refuses_what_it_cannot_rebuild(pushed: Store) -> None:
    with pytest.raises(ConfigError, match="takes an instance of a @remoteimport.persist class"):
        remoteimport.dump({"a": 1}, store=pushed)
    with pytest.raises(ConfigError, match="__slots__"):
        remoteimport.dump(Slotted(1), store=pushed)  # no __weakref__: nothing could be recorded
    with pytest.raises(ConfigError, match="not recorded.*Copies, unpickled instances"):
        remoteimport.dump(pickle.loads(pickle.dumps(Scale(3))), store=pushed)
    steps: list[Any] = [Scale()]
    steps.append(steps)
    with pytest.raises(ConfigError, match="contains itself"):
        remoteimport.dump(Pipeline(steps), store=pushed)


# -- build -----------------------------------------------------------------------------------------------


def test_build_round_trips_through_the_hook(pushed: Store, remote_import: Callable[..., ModuleType]) -> None:
    remote_import(pushed)
    original = Pipeline([Scale(3), Scale(0.5)], options={"mode": "fast"})
    config = remoteimport.dump(original, store=pushed)
    rebuilt = remoteimport.build(config)
    assert type(rebuilt).__module__ == f"labchain_remote.Pipeline@{class_hash(Pipeline)}"
    assert rebuilt.apply(2) == original.apply(2) == 3
    assert rebuilt.options == {"mode": "fast"}
    assert remoteimport.dump(rebuilt) == config  # a rebuilt object dumps to the same config


def test_build_lays_out_positional_only_and_variadic_parameters(pushed: Store) -> None:
    config = remoteimport.dump(Odd(1, 2, 3, a="x"), store=pushed)
    assert config["params"] == {"first": 1, "rest": [2, 3], "named": {"a": "x"}}
    rebuilt = remoteimport.build(config, store=pushed)  # no hook: exactly that version from the store
    assert rebuilt.values == (1, 2, 3) and rebuilt.named == {"a": "x"}


def test_dataclasses_record_through_their_generated_init(pushed: Store) -> None:
    assert recorded_arguments(Settings(3, mode="slow")) == {"size": 3, "mode": "slow"}
    assert str(inspect.signature(Settings)) == "(size: 'int', mode: 'str' = 'fast') -> None"
    config = remoteimport.dump(Settings(3, mode="slow"), store=pushed)
    assert config == {
        "clazz": f"labchain_remote.Settings@{class_hash(Settings)}",
        "params": {"size": 3, "mode": "slow"},
    }


def test_an_object_of_a_loaded_class_dumps_after_its_namespace_is_gone(
    pushed: Store, remote_import: Callable[..., ModuleType]
) -> None:
    namespace = remote_import(pushed)
    scale = namespace.Scale(7)
    remoteimport.uninstall("labchain_remote")
    assert remoteimport.dump(scale, store=Store(pushed.url + "-elsewhere")) == {
        "clazz": f"labchain_remote.Scale@{class_hash(Scale)}",
        "params": {"factor": 7},
    }


def test_build_installed_classes_by_loader_string() -> None:
    config = {"clazz": "fractions:Fraction", "params": {"numerator": 1, "denominator": 3}}
    assert remoteimport.build(config, allow=["fractions:Fraction"]) == fractions.Fraction(1, 3)
    nested = remoteimport.build({"clazz": "collections:OrderedDict", "params": {}}, allow=["collections:*"])
    assert nested == {}


def test_build_of_a_name_without_version_follows_the_namespace(
    pushed: Store, remote_import: Callable[..., ModuleType]
) -> None:
    namespace = remote_import(pushed)
    built = remoteimport.build({"clazz": "labchain_remote.Scale", "params": {"factor": 5}})
    assert type(built) is namespace.Scale and built.apply(1) == 5


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ("labchain_remote.Scale", ConfigError, "is not a config"),
        ({"clazz": "x.Y", "extra": 1}, ConfigError, r"unknown keys \['extra'\]"),
        ({"clazz": 3}, ConfigError, "clazz must be a string"),
        ({"clazz": "Scale"}, InvalidNameError, "expected 'namespace.Name'"),
        ({"clazz": "labchain_remote.Scale@9xyz"}, InvalidNameError, "invalid hash"),
        ({"clazz": "labchain_remote.../etc"}, InvalidNameError, "invalid"),
        ({"clazz": "os.path:../x"}, ConfigError, "expected 'package.module:Class'"),
        ({"clazz": "fractions:Nope"}, ConfigError, "fractions has no attribute 'Nope'"),
        ({"clazz": "os:getcwd"}, ConfigError, "not a class"),
        ({"clazz": "fractions:Fraction", "params": {"bogus": 1}}, ConfigError, "no parameter 'bogus'"),
        ({"clazz": "fractions:Fraction", "params": []}, ConfigError, "must be a dict"),
    ],
)
def test_build_refuses_malformed_configs_clearly(
    config: Any, error: type[Exception], message: str, forbidden_store: Store
) -> None:
    with pytest.raises(error, match=message):
        remoteimport.build(config, store=forbidden_store, allow=["fractions:*", "os:getcwd", "os.path:*"])
    assert forbidden_store.fs.calls == []  # refused before any storage access


def test_build_reports_missing_arguments_and_unknown_names(pushed: Store) -> None:
    with pytest.raises(ConfigError, match="missing a required argument: 'steps'"):
        remoteimport.build({"clazz": f"labchain_remote.Pipeline@{class_hash(Pipeline)}"}, store=pushed)
    with pytest.raises(NameNotFoundError, match="no class named 'Nope'"):
        remoteimport.build({"clazz": "labchain_remote.Nope", "params": {}}, store=pushed)


# -- across interpreters ---------------------------------------------------------------------------------

PRODUCER_MODULE = """
    import remoteimport

    OFFSET = 1

    @remoteimport.persist
    class AddOne:
        def __init__(self, times=1):
            self.times = times

        def apply(self, x):
            return x + OFFSET * self.times

    @remoteimport.persist
    class Chain:
        def __init__(self, steps, name="chain"):
            self.steps = steps
            self.name = name
            self.trained = None

        def fit(self, data):
            self.trained = sum(data)
            return self

        def apply(self, x):
            for step in self.steps:
                x = step.apply(x)
            return x
"""


def test_dump_in_a_producer_build_in_fresh_consumers(
    remote_store: Store, isolated_python: Callable[..., Any], tmp_path: Path
) -> None:
    produced = isolated_python(
        """
        import remoteimport
        from mylab import AddOne, Chain
        remoteimport.push_all()
        chain = Chain([AddOne(2), AddOne()], name="demo")
        result = {"config": remoteimport.dump(chain), "value": chain.apply(10),
                  "hashes": {"AddOne": remoteimport.class_hash(AddOne), "Chain": remoteimport.class_hash(Chain)}}
        """,
        files={"mylab.py": PRODUCER_MODULE},
        install=False,
    )  # the producer's folder (and mylab.py) is deleted when it exits
    config = produced["config"]
    assert config["clazz"] == f"labchain_remote.Chain@{produced['hashes']['Chain']}"

    pickles = tmp_path / "trained.pkl"
    consumer = isolated_python(
        f"""
        import json, pickle, sys
        import remoteimport
        chain = remoteimport.build({config!r})
        assert "mylab" not in sys.modules
        result = {{"value": chain.apply(10), "module": type(chain).__module__,
                  "redumped": remoteimport.dump(chain),
                  "rehash": remoteimport.class_hash(type(chain.steps[0]))}}
        chain.fit([1, 2, 3])
        with open({str(pickles)!r}, "wb") as file:
            pickle.dump(chain, file)                 # a trained instance, by reference to its version
        """
    )
    assert consumer["value"] == produced["value"] == 13
    assert consumer["module"] == config["clazz"]
    assert consumer["redumped"] == config  # an object built on host B dumps to the same config ...
    assert consumer["rehash"] == produced["hashes"]["AddOne"]  # ... and its classes hash as on host A

    third = isolated_python(
        f"""
        import pickle
        import remoteimport
        rebuilt = remoteimport.build({consumer["redumped"]!r})
        with open({str(pickles)!r}, "rb") as file:
            trained = pickle.load(file)
        result = {{"rebuilt": [rebuilt.apply(0), rebuilt.trained], "trained": [trained.apply(0), trained.trained],
                  "same_class": type(trained) is type(rebuilt)}}
        """
    )
    assert third == {"rebuilt": [3, None], "trained": [3, 6], "same_class": True}


def test_the_documented_example_runs(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[1] / "docs" / "configs.md"
    example = re.findall(r"```python\n(.*?)```", docs.read_text(), flags=re.S)[0]
    (tmp_path / "configs_example.py").write_text(example)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("REMOTEIMPORT_")}
    done = subprocess.run(
        [sys.executable, "configs_example.py"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-3].startswith("6 labchain_remote.Pipeline@") and lines[-2:] == ["5 True", "1/3"]
    assert json.loads("\n".join(lines[:-3]))["params"]["name"] == "demo"


@pytest.mark.parametrize("entry", ["subprocess", "subprocess:", "os.path:../x", ":Popen", "a b:C", "x:*.Y"])
def test_malformed_allow_entries_are_refused_by_name(entry: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"clazz": "fractions:Fraction", "params": {"numerator": 1}}
    with pytest.raises(ConfigError, match="invalid allow entry"):
        remoteimport.build(config, allow=[entry])
    monkeypatch.setenv("REMOTEIMPORT_BUILD_ALLOW", f"fractions:Fraction, {entry}")
    with pytest.raises(ConfigError, match=r"invalid allow entry .*REMOTEIMPORT_BUILD_ALLOW"):
        remoteimport.build(config)


def test_allow_as_a_single_string_is_refused() -> None:
    with pytest.raises(ConfigError, match="must be a list"):
        remoteimport.build({"clazz": "fractions:Fraction"}, allow="fractions:Fraction")  # type: ignore[arg-type]


def test_a_module_wildcard_allows_its_classes_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMOTEIMPORT_BUILD_ALLOW", "fractions:*")
    assert remoteimport.build({"clazz": "fractions:Fraction", "params": {"numerator": 2}}) == fractions.Fraction(2)
    with pytest.raises(ConfigError, match="'decimal:Decimal' is an installed class"):
        remoteimport.build({"clazz": "decimal:Decimal", "params": {"value": "1"}})
