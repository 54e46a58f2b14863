"""Every class of the hashing corpus survives the whole trip: pushed, its source deleted, loaded in a fresh
interpreter (where the loader re-hashes it from the shipped source and refuses any mismatch), and used."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent.parent / "hash_corpus"

PRODUCER = """
import importlib, inspect, json, pickle, sys
import remoteimport
pushed, refused = {}, {}
for module_name in sys.argv[2:]:
    module = importlib.import_module(module_name)
    for name, obj in sorted(vars(module).items()):
        if isinstance(obj, type) and obj.__module__ == module_name:
            stored = f"{module_name}__{name}"
            try:
                pushed[stored] = remoteimport.push(obj, store=sys.argv[1], name=stored)
            except remoteimport.PushError as exc:
                refused[stored] = str(exc)
                continue
            # Pickling an instance (where possible) must not change the class's version.
            try:
                pickle.dumps(obj())
            except Exception:
                pass
            assert remoteimport.status(obj, store=sys.argv[1], name=stored) == "synced", stored
print(json.dumps({"pushed": pushed, "refused": refused}))
"""

# Nothing may be refused. (functools.singledispatch objects used to be: their dispatch cache is a
# WeakKeyDictionary, which capture.py now pickles with its live entries, as cloudpickle does a WeakSet.)
EXPECTED_REFUSALS: dict[str, str] = {}

CONSUMER = """
import importlib, json, sys
import remoteimport
remoteimport.install(sys.argv[1], namespace="corpus_remote")
failures = {}
for stored, full_hash in json.loads(sys.argv[2]).items():
    try:
        cls = getattr(importlib.import_module(f"corpus_remote.{stored}@{full_hash}"), stored)
        assert remoteimport.class_hash(cls) == full_hash
    except Exception as exc:
        failures[stored] = f"{type(exc).__name__}: {exc}"
print(json.dumps(failures))
"""


def run(code: str, *args: str, cwd: Path, python: Path | str = sys.executable) -> object:
    done = subprocess.run(
        [str(python), "-E", "-c", textwrap.dedent(code), *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_corpus_class_loads_and_rehashes_in_a_fresh_interpreter(tmp_path: Path) -> None:
    producer = tmp_path / "producer"
    shutil.copytree(CORPUS, producer)
    modules = sorted(path.stem for path in producer.glob("corpus_*.py"))
    store = str(tmp_path / "store")
    result = run(PRODUCER, store, *modules, cwd=producer)
    assert isinstance(result, dict)
    pushed, refused = result["pushed"], result["refused"]
    assert set(refused) == set(EXPECTED_REFUSALS)
    for stored, words in EXPECTED_REFUSALS.items():
        assert words in refused[stored] and "Nothing was written" in refused[stored]
    assert len(pushed) >= 25  # the corpus has 29 classes today: a floor against an empty run
    shutil.rmtree(producer)
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    failures = run(CONSUMER, store, json.dumps(pushed), cwd=consumer)
    assert failures == {}


CROSS_PAIRS = [("3.11", "3.10"), ("3.11", "3.12"), ("3.11", "3.13"), ("3.13", "3.10"), ("3.10", "3.13")]


@pytest.fixture(scope="module")
def corpus_pushed_by(venv_pythons: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """Producer Python -> (store, pushed): the whole corpus pushed from a copy that is then deleted."""
    pushed_by = {}
    for source in sorted({source for source, _ in CROSS_PAIRS}):
        base = tmp_path_factory.mktemp(f"corpus{source}")
        producer = base / "producer"
        shutil.copytree(CORPUS, producer)
        modules = sorted(path.stem for path in producer.glob("corpus_*.py"))
        store = str(base / "store")
        result = run(PRODUCER, store, *modules, cwd=producer, python=venv_pythons[source])
        assert isinstance(result, dict) and set(result["refused"]) == set(EXPECTED_REFUSALS)
        shutil.rmtree(producer)
        pushed_by[source] = (store, result["pushed"])
    return pushed_by


@pytest.mark.slow
@pytest.mark.parametrize(("source", "target"), CROSS_PAIRS, ids=[f"{s}-to-{t}" for s, t in CROSS_PAIRS])
def test_every_corpus_class_pushed_from_one_python_loads_and_rehashes_on_another(
    source: str, target: str, corpus_pushed_by: dict[str, tuple], venv_pythons: dict[str, Path], tmp_path: Path
) -> None:
    store, pushed = corpus_pushed_by[source]
    assert len(pushed) >= 25
    assert run(CONSUMER, store, json.dumps(pushed), cwd=tmp_path, python=venv_pythons[target]) == {}
