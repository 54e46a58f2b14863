"""A version pushed from one CPython imports and runs on every other (3.10-3.13): two interpreters per pair.

For each producer Python, a project (a package whose classes use helpers and a base class from a sibling
module, two versions of one class, a ``__main__`` class of a script, and the odd cases: dataclasses,
namedtuples, enums, a Protocol, properties, closures, lambdas, comprehensions, ``super()``, ``match``) is
pushed from source; then the source is deleted and, still on the producer's Python, pinned instances are
pickled and a config dumped. Each consumer Python (its own venv, an empty working directory) then imports
every version pinned, through ``from ns import X`` with a lock, through ``build``, and by unpickling the
instances, and checks that every class re-hashes to its pin and behaves exactly as on the producer.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from environments import SUPPORTED_VERSIONS
from support import run_code, write_files

pytestmark = pytest.mark.slow

NAMESPACE = "xpy_remote"

HELPERS = """
import re

OFFSET = 7


def scale(value, factor=3):
    return value * factor + OFFSET


class Base:
    kind = "base"

    def describe(self):
        return f"{type(self).__name__}:{self.kind}:{self.label()}"

    def label(self):
        return "base"
"""

SHAPES = """
import dataclasses
import enum
import functools
import typing
from collections import namedtuple
from dataclasses import dataclass, field

from crosspkg.helpers import Base, scale


def make_adder(n):
    def add(x):
        return x + n
    return add


class Filter(Base):
    kind = "filter"
    weights = (1, 2, 3)
    adders = [make_adder(1), make_adder(10)]
    pick = staticmethod(lambda x: x * 2), staticmethod(lambda x: x * 3)

    def __init__(self, gain=2):
        self.gain = gain

    def label(self):
        return "F" + super().label()

    @property
    def doubled(self):
        return self.gain * 2

    @staticmethod
    def static_part(x):
        return [scale(v) for v in range(x)]

    @classmethod
    def named(cls):
        return cls.__name__

    def comprehensions(self, n):
        squares = [i * i for i in range(n)]
        evens = {i for i in squares if i % 2 == 0}
        mapping = {i: [j for j in range(i)] for i in range(3)}
        total = sum(i for i in range(n))
        return squares, sorted(evens), mapping, total

    def closures(self):
        base = self.gain

        def inner(v):
            return v + base
        funcs = [lambda i=i: i * base for i in range(3)]
        return [inner(1), [f() for f in funcs], [a(5) for a in self.adders], [p.__func__(4) for p in self.pick]]

    def matching(self, value):
        match value:
            case {"x": x, **rest}:
                return ["mapping", x, sorted(rest)]
            case [first, *others]:
                return ["sequence", first, len(others)]
            case Point(x=0):
                return ["on-axis"]
            case _:
                return ["other"]

    def generate(self, n):
        yield from (v * self.gain for v in range(n))

    def demo(self):
        return [
            self.describe(), self.doubled, self.static_part(3), self.named(), self.comprehensions(4),
            self.closures(), self.matching({"x": 1, "y": 2}), self.matching([1, 2, 3]), self.matching(Point(0, 5)),
            list(self.generate(3)), (n := self.gain + 1), f"{self.gain!r:>4}|{n:03d}",
        ]


@dataclass(frozen=True, order=True)
class Point:
    x: int = 0
    y: int = 0
    tags: tuple = field(default=(), compare=False)

    def norm1(self):
        return abs(self.x) + abs(self.y)

    def demo(self):
        moved = dataclasses.replace(self, x=self.x + 1)
        try:
            self.x = 5
            frozen = False
        except dataclasses.FrozenInstanceError:
            frozen = True
        return [repr(Point(1, 2)), Point(1, 2) == Point(1, 2, ("t",)), Point(1, 2) < Point(2, 0), repr(moved),
                frozen, hash(Point(3, 4)) == hash(Point(3, 4)), [f.name for f in dataclasses.fields(self)]]


@dataclass(kw_only=True)
class Options:
    name: str = "opt"
    retries: int = 3
    items: list = field(default_factory=list)
    limits: dict = field(default_factory=lambda: {"low": 1})

    def demo(self):
        made = Options(name="x", items=[1])
        return [repr(made), made == Options(name="x", items=[1]), repr(Options()), self.limits]


@dataclass
class Child(Options):
    extra: int = 0

    def demo(self):
        return [repr(Child(extra=4)), Child(name="c") == Child(name="c")]


Pair = namedtuple("Pair", "left right", defaults=(0,))


class Record(typing.NamedTuple):
    name: str
    size: int = 1

    def double(self):
        return self._replace(size=self.size * 2)


class Shelf:
    def demo(self):
        record = Record("r")
        return [repr(Pair(1)), Pair(1, 2)._asdict(), repr(record.double()), Record._make(["m", 5]).size]


class Color(enum.Enum):
    RED = 1
    GREEN = "green"

    @property
    def shout(self):
        return self.name.upper() + "!"


class Perm(enum.Flag):
    R = 4
    W = 2
    X = 1
    RW = R | W


class Palette:
    def demo(self):
        return [Color.RED.shout, Color("green").name, [c.name for c in Color], (Perm.R | Perm.W) == Perm.RW,
                Perm.RW.value, [p.name for p in (Perm.R, Perm.W, Perm.X)]]


@typing.runtime_checkable
class Sized(typing.Protocol):
    def size(self) -> int: ...


class Box:
    def size(self):
        return 3

    def demo(self):
        return [isinstance(self, Sized), isinstance(object(), Sized), self.size()]


class Cached:
    @functools.cached_property
    def value(self):
        return sum(range(10))

    def demo(self):
        return [self.value, self.value]
"""

VERSIONED = {
    1: "class Versioned:\n    def demo(self):\n        return ['first', 1]\n",
    2: "class Versioned:\n    level = 2\n\n    def demo(self):\n        return ['second', self.level]\n",
}

SCRIPT = '''
import json, sys
import remoteimport


class MainThing:
    """Defined in the script run as __main__."""

    def demo(self):
        return ["main", [c for c in "ab"], (lambda v: v + 1)(1)]


if __name__ == "__main__":
    full_hash = remoteimport.push(MainThing, store=sys.argv[1])
    print(json.dumps({"MainThing": {"hash": full_hash, "expected": MainThing().demo()}}))
'''

PRODUCER = """
import importlib, json, sys
import remoteimport

store = sys.argv[1]
module = importlib.import_module(sys.argv[2])
out = {}
for name in sys.argv[3:]:
    cls = getattr(module, name)
    full_hash = remoteimport.push(cls, store=store)
    expected = cls().demo() if hasattr(cls, "demo") else None
    out[name] = {"hash": full_hash, "expected": json.loads(json.dumps(expected))}
print(json.dumps(out))
"""

# Still on the producer's Python, with its source gone: instances of pinned classes, pickled, and a config.
PICKLER = """
import importlib, json, pickle, sys
import remoteimport

remoteimport.install(sys.argv[1], namespace=sys.argv[2])
pins = json.loads(sys.argv[3])
pickles = {}
for name in ("Filter", "Point", "Options", "Versioned"):
    cls = getattr(importlib.import_module(f"{sys.argv[2]}.{name}@{pins[name]}"), name)
    pickles[name] = pickle.dumps(cls(), protocol=4).hex()
filter_cls = getattr(importlib.import_module(f"{sys.argv[2]}.Filter@{pins['Filter']}"), "Filter")
config = {"clazz": f"{sys.argv[2]}.Filter@{pins['Filter']}", "params": {"gain": 5}}  # as a config names it
print(json.dumps({"pickles": pickles, "config": config, "config_demo": filter_cls(gain=5).demo()}))
"""

CONSUMER = """
import importlib, json, pickle, sys
import remoteimport
from remoteimport.lock import Lock

store, namespace = sys.argv[1], sys.argv[2]
pushed, versions, instances = json.loads(sys.argv[3]), json.loads(sys.argv[4]), json.loads(sys.argv[5])
lock = Lock(store=store, namespace=namespace, pins={"Versioned": versions["1"]["hash"]})
remoteimport.install(store, namespace=namespace, lock=lock)
failures = {}

def check(what, got, expected):
    got = json.loads(json.dumps(got))
    if got != expected:
        failures[what] = {"got": got, "expected": expected}

for name, entry in pushed.items():
    try:
        cls = getattr(importlib.import_module(f"{namespace}.{name}@{entry['hash']}"), name)
        check(name + " rehash", remoteimport.class_hash(cls), entry["hash"])
        if entry["expected"] is not None:
            check(name + " demo", cls().demo(), entry["expected"])
    except Exception as exc:
        failures[name] = f"{type(exc).__name__}: {exc}"
try:
    first = getattr(importlib.import_module(f"{namespace}.Versioned@{versions['1']['hash']}"), "Versioned")
    second = getattr(importlib.import_module(f"{namespace}.Versioned@{versions['2']['hash']}"), "Versioned")
    check("two versions", [first().demo(), second().demo(), first is not second],
          [versions["1"]["expected"], versions["2"]["expected"], True])
    from_lock = getattr(importlib.import_module(namespace), "Versioned")
    check("lock pin", from_lock is first, True)
    for name, data in instances["pickles"].items():
        check(name + " unpickled", pickle.loads(bytes.fromhex(data)).demo(),
              (versions["1"] if name == "Versioned" else pushed[name])["expected"])
    built = remoteimport.build(instances["config"])
    check("build", built.demo(), instances["config_demo"])
    remoteimport.install(store, namespace=namespace + "_plain", lock=False)
    plain = importlib.import_module(namespace + "_plain")
    check("from ns import Filter (latest)", plain.Filter().demo(), pushed["Filter"]["expected"])
    check("from ns import Versioned (latest)", plain.Versioned().demo(), versions["2"]["expected"])
except Exception as exc:
    failures["versions/lock/pickles/build"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(failures))
"""

PAIRS = [(source, target) for source in SUPPORTED_VERSIONS for target in SUPPORTED_VERSIONS if source != target]


def _run(python: Path, code: str, *args: str, cwd: Path) -> Any:
    return run_code(python, code, *args, cwd=cwd, timeout=240)


SHAPE_CLASSES = ["Filter", "Point", "Options", "Child", "Shelf", "Palette", "Box", "Cached", "Color", "Perm"]


@pytest.fixture(scope="module")
def pushed_by(venv_pythons: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """For each producer Python: its store, what it pushed (hash, expected demo output) and its pickles."""
    results = {}
    for source in SUPPORTED_VERSIONS:
        python = venv_pythons[source]
        base = tmp_path_factory.mktemp(f"from{source}")
        project, store = base / "project", str(base / "store")
        write_files(project, {"crosspkg/__init__.py": "", "crosspkg/helpers.py": HELPERS, "crosspkg/shapes.py": SHAPES})
        pushed = _run(python, PRODUCER, store, "crosspkg.shapes", *SHAPE_CLASSES, cwd=project)
        versions = {}
        for number, text in VERSIONED.items():
            write_files(project, {"crosspkg/versioned.py": text})
            versions[str(number)] = _run(python, PRODUCER, store, "crosspkg.versioned", "Versioned", cwd=project)[
                "Versioned"
            ]
        write_files(project, {"script.py": SCRIPT})
        done = subprocess.run(
            [str(python), "script.py", store], cwd=project, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        pushed.update(json.loads(done.stdout.strip().splitlines()[-1]))
        shutil.rmtree(project)  # nothing of the source is left on any host from here on
        empty = base / "elsewhere"
        empty.mkdir()
        pins = {name: entry["hash"] for name, entry in pushed.items()}
        pins["Versioned"] = versions["1"]["hash"]
        instances = _run(python, PICKLER, store, NAMESPACE, json.dumps(pins), cwd=empty)
        results[source] = {"store": store, "pushed": pushed, "versions": versions, "instances": instances}
    return results


def test_pushes_agree_on_every_hash(pushed_by: dict[str, dict]) -> None:
    """The hash is cross-version: every Python pushed the same versions."""
    hashes = {source: {name: e["hash"] for name, e in r["pushed"].items()} for source, r in pushed_by.items()}
    assert len({json.dumps(h, sort_keys=True) for h in hashes.values()}) == 1, hashes
    assert len(next(iter(hashes.values()))) == len(SHAPE_CLASSES) + 1


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{s}-to-{t}" for s, t in PAIRS])
def test_versions_pushed_from_one_python_run_on_another(
    source: str, target: str, pushed_by: dict[str, dict], venv_pythons: dict[str, Path], tmp_path: Path
) -> None:
    produced = pushed_by[source]
    failures = _run(
        venv_pythons[target],
        CONSUMER,
        produced["store"],
        NAMESPACE,
        json.dumps(produced["pushed"]),
        json.dumps(produced["versions"]),
        json.dumps(produced["instances"]),
        cwd=tmp_path,
    )
    assert failures == {}, json.dumps(failures, indent=1)


LEGACY = Path(__file__).resolve().parent.parent / "fixtures" / "legacy"

LEGACY_CONSUMER = """
import importlib, json, sys
import remoteimport

remoteimport.install(sys.argv[1], namespace="legacy_remote")
out = {}
for name, full_hash in json.loads(sys.argv[2]).items():
    try:
        cls = getattr(importlib.import_module(f"legacy_remote.{name}@{full_hash}"), name)
        out[name] = {"rehash": remoteimport.class_hash(cls) == full_hash, "norm1": cls(3, 4).norm1()
                     if name == "Point" else cls(2).apply(5)}
    except remoteimport.RemoteImportError as exc:
        out[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""

UPGRADER = """
import json, sys
sys.path.insert(0, sys.argv[2])
import remoteimport
from remoteimport.registry import publish
from legacyfilters.filters import Point, Scaler

print(json.dumps({cls.__name__: [r.hash, r.action] for cls in (Scaler, Point)
                  for r in [publish(cls, store=sys.argv[1])]}))
"""


def test_a_store_of_an_older_release_is_upgraded_by_pushing_again_on_its_python(
    venv_pythons: dict[str, Path], tmp_path: Path
) -> None:
    """Blobs of format 1-2 hold bytecode only their Python reads: another Python says which Python loads them
    and how to fix it; pushing again from the source on that Python (the fixture store is 3.11's) upgrades them
    in place (same hash), and then every Python loads them."""
    fixture = LEGACY / "store-cloudpickle-3.1.3"
    expected = json.loads((fixture / "expected.json").read_text(encoding="utf-8"))
    assert expected["python"] == "3.11"
    store = tmp_path / "store"
    shutil.copytree(fixture, store)
    pins = {name: expected["hashes"][name] for name in ("Scaler", "Point")}
    refused = _run(venv_pythons["3.12"], LEGACY_CONSUMER, str(store), json.dumps(pins), cwd=tmp_path)
    for name in pins:
        assert "IncompatibleBlobError" in refused[name], refused
        assert (
            "older remoteimport" in refused[name] and "push it again from its source with Python 3.11" in refused[name]
        )
    source = tmp_path / "source"
    shutil.copytree(LEGACY / "producer", source)
    upgraded = _run(venv_pythons["3.11"], UPGRADER, str(store), str(source), cwd=tmp_path)
    assert upgraded == {name: [full_hash, "upgraded"] for name, full_hash in pins.items()}
    again = _run(venv_pythons["3.11"], UPGRADER, str(store), str(source), cwd=tmp_path)
    assert again == {name: [full_hash, "unchanged"] for name, full_hash in pins.items()}
    shutil.rmtree(source)
    for minor in ("3.10", "3.12", "3.13", "3.11"):
        loaded = _run(venv_pythons[minor], LEGACY_CONSUMER, str(store), json.dumps(pins), cwd=tmp_path)
        assert loaded == {
            "Scaler": {"rehash": True, "norm1": expected["calls"]["Scaler"]["apply"]},
            "Point": {"rehash": True, "norm1": expected["calls"]["Point"]["norm1"]},
        }, (minor, loaded)


NO_SOURCE_PRODUCER = """
import json, sys
import remoteimport

namespace = {"__name__": "__main__"}
exec(compile("class Typed:\\n    def greet(self):\\n        return 'hi'\\n", "<typed-in>", "exec"), namespace)
print(json.dumps(remoteimport.push(namespace["Typed"], store=sys.argv[1])))
"""

NO_SOURCE_CONSUMER = """
import importlib, json, sys
import remoteimport

remoteimport.install(sys.argv[1], namespace="typed_remote")
try:
    cls = getattr(importlib.import_module("typed_remote.Typed@" + sys.argv[2]), "Typed")
    print(json.dumps(cls().greet()))
except remoteimport.IncompatibleBlobError as exc:
    print(json.dumps(f"IncompatibleBlobError: {exc}"))
"""


def test_code_without_source_loads_on_its_python_and_says_so_elsewhere(
    venv_pythons: dict[str, Path], tmp_path: Path
) -> None:
    """A class typed in (exec'd from a string: no source is shipped) cannot be rebuilt by another Python."""
    store = str(tmp_path / "store")
    full_hash = _run(venv_pythons["3.11"], NO_SOURCE_PRODUCER, store, cwd=tmp_path)
    assert _run(venv_pythons["3.11"], NO_SOURCE_CONSUMER, store, full_hash, cwd=tmp_path) == "hi"
    message = _run(venv_pythons["3.12"], NO_SOURCE_CONSUMER, store, full_hash, cwd=tmp_path)
    assert message.startswith("IncompatibleBlobError"), message
    assert "Typed.greet" in message and "Python 3.12" in message and "with Python 3.11" in message, message
    assert "<typed-in>" in message and "no shipped source" in message, message
