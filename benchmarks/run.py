"""One command for every benchmark: ``python benchmarks/run.py [--repeat N]``.

Each figure is the median over N fresh interpreters (these machines are noisy), next to a baseline measured
in the same run, so the ratios mean something on any machine:

- hashing: µs for the first ``class_hash`` of a 10-method and a 200-method class in a new process (source
  parsing included) and for a repeated hash; baseline: importing the same module from source;
- import: a class imported through the hook from a local store — pinned by full hash (cold: first import in
  the process) and latest — against ``import module`` of the same class from its source (with its .pyc);
- storage (``benchmarks/storage.py``, skip with ``--skip-storage``): requests per operation counted on moto's
  S3 server, cache hit vs cold, ``push_all`` vs one at a time, a 10-version vs a 10,000-version store.
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


def class_source(name: str, methods: int) -> str:
    """A class with ``methods`` methods of a few lines each, constants, a helper and class attributes."""
    body = [
        "LIMIT = 10",
        "def helper(x):",
        "    return [i * LIMIT for i in range(x) if i % 2]",
        f"class {name}:",
        "    labels = {'a', 'b', 'c'}",
        "    weights = [1.5, 2.5]",
        "    def __init__(self, k=2):",
        "        self.k = k",
    ]
    for index in range(methods - 1):
        body += [
            f"    def method_{index}(self, x, *, scale={index}):",
            f"        total = sum(helper(x)) + scale * self.k + {index}",
            "        if total > LIMIT:",
            f"            return {{'m': {index}, 'total': total}}",
            "        return [v for v in self.weights if v < total]",
        ]
    return "\n".join(body) + "\n"


def run_child(code: str, cwd: Path, env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def bench_hashing(work: Path, env: dict[str, str], repeat: int) -> list[tuple[str, float, float]]:
    rows = []
    for methods in (10, 200):
        module = f"bench_hash_{methods}"
        (work / f"{module}.py").write_text(class_source("Bench", methods))
        code = f"""
            import time, json
            t0 = time.perf_counter()
            import {module}
            t1 = time.perf_counter()
            from remoteimport.hashing import class_hash
            t2 = time.perf_counter()
            class_hash({module}.Bench)
            t3 = time.perf_counter()
            for _ in range(20):
                class_hash({module}.Bench)
            t4 = time.perf_counter()
            print(json.dumps({{"source_import": t1 - t0, "first": t3 - t2, "repeat": (t4 - t3) / 20}}))
        """
        samples = [run_child(code, work, env) for _ in range(repeat)]
        source = median([s["source_import"] for s in samples]) * 1e6
        rows.append((f"first hash, {methods} methods", median([s["first"] for s in samples]) * 1e6, source))
        rows.append((f"repeated hash, {methods} methods", median([s["repeat"] for s in samples]) * 1e6, source))
    return rows


def bench_import(work: Path, env: dict[str, str], repeat: int) -> list[tuple[str, float, float]]:
    producer = work / "producer"
    producer.mkdir()
    (producer / "bench_filters.py").write_text(class_source("BenchFilter", 10))
    store = work / "store"
    pushed = run_child(
        f"""
        import json, remoteimport, bench_filters
        print(json.dumps({{"hash": remoteimport.push(bench_filters.BenchFilter, store={str(store)!r})}}))
        """,
        producer,
        env,
    )["hash"]
    # Warm the .pyc of the source module, as a normal second run would have it.
    run_child("import bench_filters, json; print(json.dumps({}))", producer, env)
    consumer = work / "consumer"
    consumer.mkdir()
    source_code = """
        import time, json
        import remoteimport.hook  # the library is loaded in both cases: only the import itself is timed
        t0 = time.perf_counter()
        from bench_filters import BenchFilter
        t1 = time.perf_counter()
        print(json.dumps({"t": t1 - t0}))
    """
    hook_code = f"""
        import time, json, importlib
        import remoteimport, remoteimport.hook, remoteimport.registry, cloudpickle, fsspec
        remoteimport.install({str(store)!r}, namespace="bench_remote")
        t0 = time.perf_counter()
        cls = importlib.import_module("bench_remote.BenchFilter@{pushed}").BenchFilter
        t1 = time.perf_counter()
        from bench_remote import BenchFilter
        t2 = time.perf_counter()
        assert BenchFilter is cls
        print(json.dumps({{"pinned": t1 - t0, "latest": t2 - t1}}))
    """
    whole_source = """
        import time, json
        t0 = time.perf_counter()
        from bench_filters import BenchFilter
        print(json.dumps({"t": time.perf_counter() - t0}))
    """
    whole_hook = f"""
        import time, json
        t0 = time.perf_counter()
        import remoteimport, importlib
        remoteimport.install({str(store)!r}, namespace="bench_remote")
        importlib.import_module("bench_remote.BenchFilter@{pushed}")
        print(json.dumps({{"t": time.perf_counter() - t0}}))
    """
    source = [run_child(source_code, producer, env)["t"] for _ in range(repeat)]
    hooked = [run_child(hook_code, consumer, env) for _ in range(repeat)]
    whole_s = [run_child(whole_source, producer, env)["t"] for _ in range(repeat)]
    whole_h = [run_child(whole_hook, consumer, env)["t"] for _ in range(repeat)]
    base = median(source) * 1e6
    return [
        ("cold pinned import (full hash), local store", median([h["pinned"] for h in hooked]) * 1e6, base),
        ("latest, class already loaded", median([h["latest"] for h in hooked]) * 1e6, base),
        ("pinned incl. importing remoteimport", median(whole_h) * 1e6, median(whole_s) * 1e6),
    ]


def print_table(title: str, rows: list[tuple[str, float, float]], baseline: str) -> None:
    print(f"\n{title}")
    header = f"{'measurement':<46} {'µs':>10} {baseline + ' µs':>22} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for label, value, base in rows:
        print(f"{label:<46} {value:>10.0f} {base:>22.0f} {value / base:>6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7, help="fresh interpreters per figure (median)")
    parser.add_argument("--skip-storage", action="store_true", help="skip benchmarks/storage.py (S3, minutes)")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMOTEIMPORT_")}
    with tempfile.TemporaryDirectory(prefix="remoteimport-bench-") as tmp:
        work = Path(tmp)
        print(f"python {sys.version.split()[0]}, median of {args.repeat} fresh interpreters per figure")
        print_table("Hashing", bench_hashing(work, env, args.repeat), "source import")
        print_table("Import", bench_import(work, env, args.repeat), "source import")
    if not args.skip_storage:  # requests, cache, push_all and scale on moto's S3 server: its own interpreter
        print(flush=True)
        storage = Path(__file__).with_name("storage.py")
        subprocess.run([sys.executable, str(storage), "--repeat", str(args.repeat)], check=True)


if __name__ == "__main__":
    main()
