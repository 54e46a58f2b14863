"""Issue 24: a version ships the lines of its own statements, not its whole module, and nothing a user sees changes.

A package module of many classes and helpers is pushed from source on host A; the source is deleted; a fresh
interpreter imports the class from the store and re-hashes it to its pin, gets the producer's traceback (line
number and text) and ``inspect.getsource``, while the blob holds a small part of the file, line numbers kept. The
same from another CPython (it compiles the shipped lines itself): tests/e2e/test_cross_python.py pushes a module of
many classes too; here one pair, through the same venvs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from environments import SUPPORTED_VERSIONS
from support import delete, run_code, run_consumer, run_producer, write_files


def _filler(index: int) -> str:
    return f'''
def helper_{index}(value):
    return value * {index} + 1


class Filler{index}:
    """Filler number {index}."""

    rate = {index}

    def apply(self, value):
        return helper_{index}(value) + self.rate
'''


MODELS = (
    '''"""Models of a shop: many classes and their helpers in one module."""
from __future__ import annotations

import functools

from shop import pricing

TAX = 0.25


def _rounded(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return round(function(*args, **kwargs), 2)

    return wrapper
'''
    + "".join(_filler(index) for index in range(60))
    + '''

def discount(amount: float, rate: float = 0.1) -> float:
    return amount * (1 - rate)


class Basket:
    """A basket of lines."""

    class Line:
        def __init__(self, sku: str, price: float) -> None:
            self.sku, self.price = sku, price

    def __init__(self, *items: tuple[str, float]) -> None:
        self.lines = [Basket.Line(sku, price) for sku, price in items]

    @_rounded
    def total(self) -> float:
        gross = sum(line.price for line in self.lines)
        return discount(gross) * (1 + TAX) + pricing.FEE

    def kind(self) -> str:
        match len(self.lines):
            case 0:
                return "empty"
            case _:
                return "full"

    def skus(self) -> list[str]:
        return sorted((line.sku for line in self.lines), key=lambda sku: (len(sku), sku))

    def fail(self) -> None:
        raise ValueError(f"a basket of {len(self.lines)} cannot pay")
'''
    + "".join(_filler(index) for index in range(60, 120))
)

FILES = {"shop/__init__.py": "", "shop/pricing.py": "FEE = 1.5\n", "shop/models.py": MODELS}

# What both hosts report about Basket (the producer before deleting its source, the consumer from the store).
REPORT = """
import inspect, traceback

def report(Basket):
    found = {"rehash": remoteimport.class_hash(Basket), "total": Basket(("a", 10.0), ("bb", 4.0)).total()}
    found["kind"], found["skus"] = Basket().kind(), Basket(("bb", 1.0), ("a", 2.0)).skus()
    try:
        Basket(("a", 1.0)).fail()
    except ValueError as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        found["traceback"] = [frame.name, frame.lineno, frame.line]
    found["getsource"] = {name: inspect.getsource(getattr(Basket, name)) for name in ("total", "kind", "skus")}
    return found
"""

PRODUCER = (
    """
import json, sys
import remoteimport
from shop.models import Basket, Filler0
"""
    + REPORT
    + """
store = remoteimport.Store(sys.argv[1])
out = report(Basket)
out["hash"] = remoteimport.push(Basket, store=store)
out["filler_hash"] = remoteimport.push(Filler0, store=store)
print(json.dumps(out))
"""
)

CONSUMER = (
    REPORT
    + """
pins = json.loads(sys.argv[1]) if len(sys.argv) > 1 else PINS
Basket = importlib.import_module("labchain_remote.Basket@" + pins["Basket"]).Basket
out.update(report(Basket))
store = remoteimport.Store(STORE)
out["shipped"] = {name: store.read_verified_blob(name, full).header.source for name, full in pins.items()}
print(json.dumps(out))
"""
)


def _check(pushed: dict[str, Any], loaded: dict[str, Any], models: Path) -> None:
    """The consumer saw what the producer saw, and each blob ships only its class's statements."""
    for key in ("total", "kind", "skus", "traceback", "getsource"):
        assert loaded[key] == pushed[key], key
    assert loaded["rehash"] == pushed["hash"]
    assert loaded["traceback"][2] == 'raise ValueError(f"a basket of {len(self.lines)} cannot pay")'
    file_lines = MODELS.splitlines()
    for name, needle in (("Basket", "class Basket:"), ("Filler0", "class Filler0:")):
        (filename, text), *others = loaded["shipped"][name].items()
        assert not others and filename == str(models)
        lines = text.splitlines()
        assert len(lines) <= len(file_lines) and len(text) < len(MODELS) / 5, (name, len(text), len(MODELS))
        assert all(not line or line == file_lines[number] for number, line in enumerate(lines)), name
        assert needle in lines and "from __future__ import annotations" in lines  # changes how the rest compiles
        kept = {line for line in lines if line.startswith(("class ", "def "))}
        expected = {needle, "def _rounded(function):"} if name == "Basket" else {needle, "def helper_0(value):"}
        if name == "Basket":
            expected |= {"def discount(amount: float, rate: float = 0.1) -> float:"}
        assert kept == expected, (name, kept)


def test_a_class_of_a_large_module_loads_from_its_own_lines(tmp_path: Path) -> None:
    producer = write_files(tmp_path / "producer", {**FILES, "producer.py": PRODUCER})
    models = (producer / "shop" / "models.py").resolve()
    store = str(tmp_path / "store")
    pushed = run_producer(producer, store)
    assert pushed["rehash"] == pushed["hash"]
    delete(producer)
    pins = {"Basket": pushed["hash"], "Filler0": pushed["filler_hash"]}
    loaded = run_consumer(tmp_path / "consumer", store, f"PINS = {pins!r}\n" + CONSUMER)
    _check(pushed, loaded, models)


@pytest.mark.slow
def test_another_python_loads_a_class_from_its_own_lines(venv_pythons: dict[str, Path], tmp_path: Path) -> None:
    """Pushed by the oldest supported CPython, loaded by the newest (which compiles the shipped lines: the
    bytecode is another Python's), and the other way round."""
    oldest, newest = SUPPORTED_VERSIONS[0], SUPPORTED_VERSIONS[-1]
    for source, target in ((oldest, newest), (newest, oldest)):
        folder = tmp_path / f"{source}-to-{target}"
        producer = write_files(folder / "producer", {**FILES, "producer.py": PRODUCER})
        models = (producer / "shop" / "models.py").resolve()
        store = str(folder / "store")
        pushed = run_code(venv_pythons[source], PRODUCER, store, cwd=producer)
        shutil.rmtree(producer)
        pins = {"Basket": pushed["hash"], "Filler0": pushed["filler_hash"]}
        consumer = folder / "consumer"
        consumer.mkdir()
        prelude = f"import importlib, json, sys\nimport remoteimport\nSTORE = {store!r}\n"
        prelude += "remoteimport.install(STORE)\nout = {}\n"
        loaded = run_code(venv_pythons[target], prelude + CONSUMER, json.dumps(pins), cwd=consumer)
        _check(pushed, loaded, models)
