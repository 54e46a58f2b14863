"""Classes built with real frameworks, pushed from one interpreter, their source deleted, imported pinned in a
fresh isolated one: they accept and reject the same inputs and produce the same output there. A pydantic model's
schema, validator and serializer are built again on load from what the hash covers, never taken from the payload
(remoteimport/_pydantic.py). The hashing side is in tests/test_frameworks.py."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from framework_models import (
    ATTRS_MODULE,
    ATTRS_PROBE,
    MSGSPEC_MODULE,
    PYDANTIC_PACKAGE,
    PYDANTIC_PROBE,
    SQLALCHEMY_MODULE,
    install_frameworks,
)
from support import delete, push_then_delete, run_code, run_consumer, run_producer, write_files

pytest.importorskip("pydantic", reason="pydantic is missing: pip install 'pydantic>=2'")


def _consumer(probe: str, code: str) -> str:
    return probe + textwrap.dedent(code)


def test_a_pydantic_model_loads_pinned_without_its_source_and_behaves_alike(tmp_path: Path) -> None:
    store, pushed = push_then_delete(
        tmp_path,
        {**PYDANTIC_PACKAGE, "probe.py": PYDANTIC_PROBE},
        "fwmodels.leaf:Experiment",
        "__import__('probe').probe(Experiment)",
    )
    full = pushed["hash"]
    out = run_consumer(
        tmp_path / "consumer",
        store,
        _consumer(
            PYDANTIC_PROBE,
            f"""
            Experiment = importlib.import_module("labchain_remote.Experiment@{full}").Experiment
            out["there"] = probe(Experiment)
            out["rehash"] = remoteimport.class_hash(Experiment) == {full!r}
            out["source_gone"] = importlib.util.find_spec("fwmodels") is None
            # built here: its refs hold this process's address of the class
            def built_here(cls):
                return str(id(cls)) in json.dumps(cls.__pydantic_core_schema__, default=str)

            out["schema_built_here"] = built_here(Experiment)
            nested = [Experiment.model_fields[name].annotation for name in ("origin", "schedule")]
            out["nested_built_here"] = all(built_here(cls) for cls in nested)
            print(json.dumps(out))
            """,
        ),
    )
    here = pushed["here"]
    assert out["there"] == here
    assert out["rehash"] and out["source_gone"] and out["schema_built_here"] and out["nested_built_here"]
    # The probe really exercised validation: every bad input was refused, each for its own reason.
    assert all(refused is not None for refused in here["rejected"].values()), here["rejected"]
    assert here["rejected"]["constraint"] == ["ValidationError", [["lr", "less_than_equal"]]]
    assert here["rejected"]["model_validator"] == ["ValidationError", [["", "value_error"]]]
    assert here["rejected"]["nested_constraint"] == ["ValidationError", [["schedule.warmup", "greater_than_equal"]]]
    assert here["dump"]["lr"] == "20.0%" and here["dump"]["scaled"] == pytest.approx(0.6)
    assert here["dump"]["origin"] == [1, 0] and here["post_init_calls"] == 1
    assert here["deprecation_warnings"] == ["use lr"]


STRICT_MODULE = {
    "strictmodels.py": """
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
    "producer.py": """
        import copy, json, sys
        import remoteimport
        from pydantic_core import SchemaSerializer, SchemaValidator
        from strictmodels import Lax, Strict

        clean = remoteimport.class_hash(Strict)
        # What a tampered payload would bring: a validator, serializer and schema made for another model.
        schema = copy.deepcopy(Lax.__pydantic_core_schema__)
        Strict.__pydantic_core_schema__ = schema
        Strict.__pydantic_validator__ = SchemaValidator(schema)
        Strict.__pydantic_serializer__ = SchemaSerializer(schema)
        smuggled_here = Strict(size=-1).model_dump()
        full = remoteimport.push(Strict, store=sys.argv[1])
        print(json.dumps({"hash": full, "clean": clean, "smuggled_here": smuggled_here}))
    """,
}


def test_a_validator_smuggled_into_the_payload_is_never_used(tmp_path: Path) -> None:
    producer = write_files(tmp_path / "producer", STRICT_MODULE)
    store = str(tmp_path / "store")
    pushed = run_producer(producer, store)
    delete(producer)
    # The payload carries Lax's validator, under the hash of the clean class: the hash does not cover it ...
    assert pushed["hash"] == pushed["clean"]
    assert pushed["smuggled_here"] == {"size": -1, "name": "n"}
    out = run_consumer(
        tmp_path / "consumer",
        store,
        f"""
        Strict = importlib.import_module("labchain_remote.Strict@{pushed["hash"]}").Strict
        try:
            Strict(size=-1)
        except Exception as exc:
            out["refused"] = [type(exc).__name__, [error["type"] for error in exc.errors()]]
        out["made"] = Strict(size=3, name="ab").model_dump()
        print(json.dumps(out))
        """,
    )
    # ... and is not used: the loaded model has the validator its source says.
    assert out == {"refused": ["ValidationError", ["greater_than"]], "made": {"size": 3, "name": "AB"}}


def test_attrs_classes_load_pinned_without_their_source_and_behave_alike(tmp_path: Path) -> None:
    pytest.importorskip("attrs", reason="attrs is missing: pip install attrs")
    store, pushed = push_then_delete(
        tmp_path, {**ATTRS_MODULE, "probe.py": ATTRS_PROBE}, "fwattrs:Suite", "__import__('probe').probe(Suite)"
    )
    full = pushed["hash"]
    out = run_consumer(
        tmp_path / "consumer",
        store,
        _consumer(
            ATTRS_PROBE,
            f"""
            Suite = importlib.import_module("labchain_remote.Suite@{full}").Suite
            out["there"] = probe(Suite)
            out["rehash"] = remoteimport.class_hash(Suite) == {full!r}
            print(json.dumps(out))
            """,
        ),
    )
    assert out == {"there": pushed["here"], "rehash": True}
    here = pushed["here"]
    assert here["rejected"] == {
        "validator": "ValueError",
        "converter": "ValueError",
        "instance_of": "TypeError",
        "classic_instance_of": "TypeError",
    }
    assert here["run"] == [7, 1.5, "ABC"] and here["frozen"] == "FrozenInstanceError"
    assert json.dumps(here)  # plain data on both sides


def test_a_class_using_installed_msgspec_and_sqlalchemy_models_loads(tmp_path: Path) -> None:
    """Structs and mapped classes cannot travel by value (tests/test_frameworks.py), but a pushed class may use
    them from a package installed on both hosts: here a folder named site-packages, on the path of both."""
    pytest.importorskip("msgspec", reason="msgspec is missing: pip install msgspec")
    pytest.importorskip("sqlalchemy", reason="SQLAlchemy is missing: pip install 'sqlalchemy>=2'")
    installed = tmp_path / "host" / "site-packages"
    write_files(installed, {"fwinstalled.py": MSGSPEC_MODULE["fwmsgspec.py"] + SQLALCHEMY_MODULE["fwsqlalchemy.py"]})
    producer = write_files(
        tmp_path / "producer",
        {
            "reports.py": """
                import msgspec
                from fwinstalled import Item, User


                class Report:
                    model = User

                    def run(self):
                        item = msgspec.json.decode(b'{"name": "pen", "price": 2.5}', type=Item)
                        return [self.model.__tablename__, item.name, item.price, msgspec.json.encode(item).decode()]
            """,
            "producer.py": f"""
                import json, sys
                sys.path.insert(0, {str(installed)!r})
                import remoteimport
                from reports import Report

                full = remoteimport.push(Report, store=sys.argv[1])
                print(json.dumps({{"hash": full, "here": Report().run()}}))
            """,
        },
    )
    store = str(tmp_path / "store")
    pushed = run_producer(producer, store)
    delete(producer)
    out = run_consumer(
        tmp_path / "consumer",
        store,
        f"""
        sys.path.insert(0, {str(installed)!r})  # the package is installed here too
        Report = importlib.import_module("labchain_remote.Report@{pushed["hash"]}").Report
        out["there"] = Report().run()
        out["rehash"] = remoteimport.class_hash(Report) == {pushed["hash"]!r}
        print(json.dumps(out))
        """,
    )
    assert out == {"there": pushed["here"], "rehash": True}
    assert pushed["here"] == ["users", "pen", 2.5, '{"name":"pen","price":2.5}']


@pytest.mark.slow
def test_a_pydantic_model_pushed_from_one_python_loads_on_every_other(venv_pythons: dict, tmp_path: Path) -> None:
    pythons = install_frameworks(venv_pythons)
    newest, *others = sorted(pythons, key=lambda minor: tuple(map(int, minor.split("."))), reverse=True)
    producer = write_files(tmp_path / "producer", {**PYDANTIC_PACKAGE, "probe.py": PYDANTIC_PROBE})
    store = str(tmp_path / "store")
    pushed = run_code(
        pythons[newest],
        """
        import json, sys
        import remoteimport
        from fwmodels.leaf import Experiment
        from probe import probe

        print(json.dumps({"hash": remoteimport.push(Experiment, store=sys.argv[1]), "here": probe(Experiment)}))
        """,
        store,
        cwd=producer,
    )
    delete(producer)
    consumer = _consumer(
        PYDANTIC_PROBE,
        f"""
        import importlib, json, sys
        import remoteimport
        remoteimport.install(sys.argv[1])
        Experiment = importlib.import_module("labchain_remote.Experiment@{pushed["hash"]}").Experiment
        print(json.dumps({{"there": probe(Experiment), "rehash": remoteimport.class_hash(Experiment)}}))
        """,
    )
    for minor in others:
        folder = tmp_path / f"consumer{minor}"
        folder.mkdir()
        out = run_code(pythons[minor], consumer, store, cwd=folder)
        assert out["rehash"] == pushed["hash"], f"Python {minor}"
        assert out["there"] == pushed["here"], f"Python {minor} behaves otherwise than {newest}"


def test_a_model_over_a_parametrized_installed_generic_loads(tmp_path: Path) -> None:
    """``RootModel[list[str]]`` exists only in a process that asked pydantic for it: it is hashed as its origin and
    arguments (the same in fresh processes) and pickled as ``RootModel[list[str]]``, made again on the host that
    loads it."""
    files = {
        "tagging.py": """
            from pydantic import RootModel, field_validator

            class Tags(RootModel[list[str]]):
                @field_validator("root")
                @classmethod
                def lower(cls, tags):
                    return [tag.lower() for tag in tags]
        """
    }
    here = "[remoteimport.class_hash(Tags), Tags(['A', 'b']).model_dump()]"
    store, pushed = push_then_delete(tmp_path, files, "tagging:Tags", here)
    assert pushed["here"] == [pushed["hash"], ["a", "b"]]
    out = run_consumer(
        tmp_path / "consumer",
        store,
        f"""
        Tags = importlib.import_module("labchain_remote.Tags@{pushed["hash"]}").Tags
        out["dump"] = Tags(["X", "y"]).model_dump()
        try:
            Tags([1, 2])
        except Exception as exc:
            out["refused"] = type(exc).__name__
        out["rehash"] = remoteimport.class_hash(Tags) == {pushed["hash"]!r}
        print(json.dumps(out))
        """,
    )
    assert out == {"dump": ["x", "y"], "refused": "ValidationError", "rehash": True}


#: The pydantic releases a model is proven to hash alike under (remoteimport/_pydantic.py CHECKED_VERSIONS); a
#: model pushed with one loads, re-hashing equal, on a host with another.
PROVEN_PYDANTIC = ("2.13.4", "2.14.4")

HASH_AFTER_USE = """
import json, sys
import remoteimport
from fwmodels.leaf import Experiment
from probe import probe
import pydantic
before = remoteimport.class_hash(Experiment)
probe(Experiment)  # a used model: pydantic 2.14 fills caches on first use (ModelPrivateAttr)
print(json.dumps({"version": pydantic.VERSION, "before": before, "after": remoteimport.class_hash(Experiment)}))
"""


@pytest.mark.slow
def test_a_pydantic_model_hashes_alike_under_every_proven_pydantic(tmp_path: Path) -> None:
    """One source, the same hash under each proven pydantic (in fresh venvs, with the repository's remoteimport),
    before and after the model was used; and the same here."""
    from environments import empty_venv, pip_for

    files = {**PYDANTIC_PACKAGE, "probe.py": PYDANTIC_PROBE, "hash_after_use.py": HASH_AFTER_USE}
    project = write_files(tmp_path / "project", files)
    repository = Path(__file__).resolve().parents[2]
    found = []
    for version in PROVEN_PYDANTIC:
        python = empty_venv(tmp_path / f"venv-{version}")
        wanted = [f"pydantic=={version}", "cloudpickle", "fsspec", "platformdirs", "cryptography"]
        done = subprocess.run([*pip_for(python), "install", "-q", *wanted], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        code = f"import sys; sys.path.insert(0, {str(repository)!r}); exec(open('hash_after_use.py').read())"
        found.append(run_code(python, code, cwd=project, timeout=180))
    here = run_code(sys.executable, "exec(open('hash_after_use.py').read())", cwd=project)
    assert [entry["version"] for entry in found] == list(PROVEN_PYDANTIC)
    hashes = {entry["before"] for entry in [*found, here]} | {entry["after"] for entry in [*found, here]}
    assert len(hashes) == 1, found + [here]
