"""Cross-Python loading: a cold pinned import of a version pushed from another CPython, next to one pushed from
the consumer's own Python, in the same run: ``python benchmarks/cross_python.py [--repeat N]``.

For every supported CPython found (pyenv or PATH) a venv is built with the project's dependencies and this
checkout. Each Python pushes the same 10-method class (its hash is the same everywhere) to a store of its own;
then every consumer Python imports it pinned, in N fresh interpreters per store, from the store pushed by its
own Python (native bytecode) and from the store pushed by each other Python (code compiled from the shipped
source). The figure is the median time of ``import_module("ns.Name@hash")`` (fetch, verify, unpickle,
re-hash) in ms; the ratio is cross-version over same-version for that consumer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from environments import build_environment, discover_interpreters  # noqa: E402
from run import class_source  # noqa: E402

PUSH = """
import json, sys
sys.path.insert(0, sys.argv[2])
import remoteimport
from bench_xpy import Bench10
print(json.dumps(remoteimport.push(Bench10, store=sys.argv[1])))
"""

IMPORT = """
import importlib, json, sys, time
import remoteimport
remoteimport.install(sys.argv[1], namespace="bench_xpy_remote", lock=False)
start = time.perf_counter()
cls = getattr(importlib.import_module("bench_xpy_remote.Bench10@" + sys.argv[2]), "Bench10")
elapsed = time.perf_counter() - start
cls().method_0(3)
print(json.dumps(elapsed))
"""


def _run(python: Path, code: str, *args: str) -> object:
    done = subprocess.run([str(python), "-c", textwrap.dedent(code), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{python} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=9, help="fresh interpreters per figure (default 9)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        base = Path(temporary)
        pythons = {
            minor: build_environment(python, base / f"venv{minor}") for minor, python in discover_interpreters().items()
        }
        source = base / "source"
        source.mkdir()
        (source / "bench_xpy.py").write_text(class_source("Bench10", 10), encoding="utf-8")
        stores, hashes = {}, set()
        for minor, python in pythons.items():
            stores[minor] = str(base / f"store{minor}")
            hashes.add(_run(python, PUSH, stores[minor], str(source)))
        if len(hashes) != 1:
            raise SystemExit(f"the Pythons disagree on the hash: {hashes}")
        full_hash = hashes.pop()
        print(f"cold pinned import of a 10-method class, median of {args.repeat} fresh interpreters (ms)")
        print(f"{'consumer':>9} {'pushed from':>12} {'ms':>8} {'vs same':>8}")
        for consumer, python in pythons.items():
            timings = {}
            for producer in pythons:
                runs = [_run(python, IMPORT, stores[producer], full_hash) for _ in range(args.repeat)]
                timings[producer] = statistics.median(runs) * 1000
            for producer, ms in timings.items():
                ratio = ms / timings[consumer]
                label = "(same)" if producer == consumer else ""
                print(f"{consumer:>9} {producer:>12} {ms:8.2f} {ratio:7.2f}x {label}")


if __name__ == "__main__":
    main()
