"""What one class per content hash costs an import: ``python benchmarks/graphs.py [--repeat N]``.

A package of three modules (an Enum and a dataclass config, helpers, a filter class that holds them) is pushed as
two versions of ``WindowFilter`` (they differ in one method) and as ``Reduce`` (the Enum). In fresh interpreters
(median of N), with the re-hash records warm (as on any host after its first load):

- ``first``: a pinned import of WindowFilter v1, the first version in the process (no other graph to compare);
- ``second, shares``: then WindowFilter v2, which carries the same Enum and config as v1: their classes are
  hashed and compared, and v2's payload is unpickled a second time with v1's classes reused;
- ``second, disjoint``: then an unrelated version (no class names in common): nothing is hashed;
- ``Enum after both``: then ``Reduce@hash``, handed out as the Enum the filters already carry.

Baseline, same run: importing the package's module from its source (with its ``.pyc``). Prints a table of
milliseconds and ratios to the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CONFIG = """
import dataclasses, enum

class Reduce(enum.Enum):
    MAX = "max"
    MEAN = "mean"

@dataclasses.dataclass
class WindowConfig:
    size: int
    reduce: Reduce = Reduce.MEAN
"""
LAYERS = """
def relu(x):
    return max(x, 0)

class Block:
    def __init__(self, width, activation=relu):
        self.width, self.activation = width, activation

    def __call__(self, x):
        return self.activation(x) * self.width
"""
MODELS = """
from benchproj.config import Reduce, WindowConfig
from benchproj.layers import Block

REDUCERS = {{Reduce.MAX: max, Reduce.MEAN: lambda xs: sum(xs) / len(xs)}}

class WindowFilter:
    def __init__(self, config: WindowConfig):
        self.config, self.blocks = config, [Block(1), Block(2)]

    def apply(self, xs):
        size, reduce = self.config.size, REDUCERS[self.config.reduce]
        return [block(reduce(xs[i:i + size])) + {offset} for block in self.blocks for i in range(len(xs) - size + 1)]
"""
OTHER = """
class Unrelated:
    def go(self, x):
        return x + 1
"""

PUSH = """
import json, sys, remoteimport
from benchproj.models import WindowFilter
from benchproj.config import Reduce
from benchproj.other import Unrelated
print(json.dumps({"WindowFilter": remoteimport.push(WindowFilter, store=sys.argv[1]),
                  "Reduce": remoteimport.push(Reduce, store=sys.argv[1]),
                  "Unrelated": remoteimport.push(Unrelated, store=sys.argv[1])}))
"""

MEASURE = """
import importlib, json, sys, time
import remoteimport
store, hashes = sys.argv[1], json.loads(sys.argv[2])
remoteimport.install(store)
def pinned(name, full):
    start = time.perf_counter()
    cls = getattr(importlib.import_module(f"labchain_remote.{name}@{full}"), name)
    return cls, (time.perf_counter() - start) * 1000
v1, first = pinned("WindowFilter", hashes["v1"])
other, disjoint = pinned("Unrelated", hashes["Unrelated"])
v2, shares = pinned("WindowFilter", hashes["v2"])
enum, after = pinned("Reduce", hashes["Reduce"])
config = v1.__init__.__annotations__["config"]
assert v2.__init__.__annotations__["config"] is config and enum is config.__dataclass_fields__["reduce"].type
print(json.dumps({"first": first, "second, disjoint": disjoint, "second, shares": shares, "Enum after both": after}))
"""

SOURCE = """
import json, time
start = time.perf_counter()
import benchproj.models
print(json.dumps({"source": (time.perf_counter() - start) * 1000}))
"""


def run(code: str, *args: str, cwd: Path, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="fresh interpreters per figure (median)")
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        env = {**os.environ, "REMOTEIMPORT_CACHE_DIR": str(work / "cache")}
        env = {key: value for key, value in env.items() if key not in ("REMOTEIMPORT_STORE", "REMOTEIMPORT_SERVED")}
        project = work / "project"
        (project / "benchproj").mkdir(parents=True)
        for name, text in {"__init__": "", "config": CONFIG, "layers": LAYERS, "other": OTHER}.items():
            (project / "benchproj" / f"{name}.py").write_text(text)
        store = str(work / "store")
        hashes = {}
        for version, offset in (("v1", 0), ("v2", 1)):
            (project / "benchproj" / "models.py").write_text(MODELS.format(offset=offset))
            pushed = run(PUSH, store, cwd=project, env=env)
            hashes[version] = pushed["WindowFilter"]
            hashes.update(Reduce=pushed["Reduce"], Unrelated=pushed["Unrelated"])
        elsewhere = work / "elsewhere"
        elsewhere.mkdir()
        run(MEASURE, store, json.dumps(hashes), cwd=elsewhere, env=env)  # the re-hash records, once
        samples: dict[str, list[float]] = {}
        for _ in range(repeat):
            for key, value in run(MEASURE, store, json.dumps(hashes), cwd=elsewhere, env=env).items():
                samples.setdefault(key, []).append(value)
            for key, value in run(SOURCE, cwd=project, env=env).items():
                samples.setdefault(key, []).append(value)
    baseline = statistics.median(samples.pop("source"))
    print(f"pinned imports of versions sharing classes (median of {repeat} fresh interpreters)")
    print(f"{'import':<22}{'ms':>9}{'x source':>10}")
    print(f"{'from source (.pyc)':<22}{baseline:>9.2f}{1:>10.1f}")
    for key, values in samples.items():
        value = statistics.median(values)
        print(f"{key:<22}{value:>9.2f}{value / baseline:>10.1f}")


if __name__ == "__main__":
    main()
