"""One command for every benchmark: ``python benchmarks/run.py [--repeat N]``.

Each figure is the median over N fresh interpreters (these machines are noisy), next to a baseline measured
in the same run, so the ratios mean something on any machine:

- hashing: µs for the first ``class_hash`` of a 10-method and a 200-method class in a new process (source
  parsing included) and for a repeated hash; baseline: importing the same module from source;
- import: a class imported through the hook from a local store — pinned by full hash (cold: first import in
  the process) and latest — against ``import module`` of the same class from its source (with its .pyc);
- process: wall time of a whole fresh interpreter (``python -S``: no ``.pth`` files) that imports a pinned
  10-method class and calls it — from a local store, and from a warm blob cache of an S3 store that is never
  contacted — against one that imports the same class from source; which heavy modules each one imported;
  a push of a new class (requirements included) and the first ``class_hash`` against ``compile()`` of the
  class's module (``--process-only`` runs just this table);
- the hashing floor (``benchmarks/hash_floor.py``): ``ast.parse`` and a walk of the tree against ``compile()``,
  what any hash of the AST pays before anything else;
- versions sharing classes (``benchmarks/graphs.py``): a pinned import that is the first version in its
  process, one that shares an Enum and a config with a loaded version (compared by hash, unpickled again with
  them reused), one that shares nothing, against importing the package from source;
- storage (``benchmarks/storage.py``, skip with ``--skip-storage``): requests per operation counted on moto's
  S3 server, cache hit vs cold, ``push_all`` vs one at a time, a 10-version vs a 10,000-version store;
- at scale (``benchmarks/scale.py``, skip with ``--skip-scale``): stores of 10, 100 and 1,000 classes on moto's
  S3 server: requests, wall time and peak RSS of ``push_all``, cold readers, ``ls``, the web view and a large
  class, and what 10,000 and 100,000 cold readers would cost on paper.
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
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Modules a pinned import has no need for (docs/performance.md): each child reports which it imported.
HEAVY_MODULES = ("fsspec", "s3fs", "platformdirs", "cryptography", "importlib.metadata")


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


def child_environment(*, bytecode: bool = True) -> dict[str, str]:
    """The environment of every child: no REMOTEIMPORT_* settings, this checkout importable first, and
    ``.pyc`` files written and used as in any second run (unless ``bytecode`` is False: every module is then
    compiled from source in every process, as with ``PYTHONDONTWRITEBYTECODE=1``)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("REMOTEIMPORT_")}
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def bench_process(work: Path, env: dict[str, str], repeat: int) -> list[tuple[str, float, str, float, str]]:
    """Whole-process figures, ``(label, ms, baseline label, baseline ms, heavy modules imported)``."""
    import site

    # -S: no .pth file runs (the zero-code hook, editable installs, sandbox hooks), so both sides pay only for
    # the interpreter and what they import; site-packages is put on the path by hand instead.
    plain_env = {**env, "PYTHONPATH": os.pathsep.join([env["PYTHONPATH"], *site.getsitepackages()])}
    folder = work / "process"
    producer = folder / "producer"
    producer.mkdir(parents=True)
    (producer / "proc_filters.py").write_text(class_source("ProcFilter", 10))
    store = folder / "store"
    pushed = run_child(
        f"""
        import json, remoteimport, proc_filters
        print(json.dumps({{"hash": remoteimport.push(proc_filters.ProcFilter, store={str(store)!r})}}))
        """,
        producer,
        env,
    )["hash"]
    # A warm cache for an S3 store that is never contacted: its blob copied in, its endpoint a closed port.
    cache = folder / "cache"
    blob = next(store.glob(f"blobs/ProcFilter/*/{pushed}.blob"))
    (cache / "blobs" / "ProcFilter" / pushed[:2]).mkdir(parents=True)
    (cache / "blobs" / "ProcFilter" / pushed[:2] / blob.name).write_bytes(blob.read_bytes())
    cached_env = {**plain_env, "REMOTEIMPORT_CACHE_DIR": str(cache), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    # Cheap to report (no json import in the baseline's figure): which heavy modules the process imported.
    report = f"import sys; print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    pinned = (
        "import remoteimport, importlib; remoteimport.install({store!r}, namespace='bench_remote'); "
        f"importlib.import_module('bench_remote.ProcFilter@{pushed}').ProcFilter().method_0(3); " + report
    )
    cases = {
        "source": ("from proc_filters import ProcFilter; ProcFilter().method_0(3); " + report, producer, plain_env),
        "local": (pinned.format(store=str(store)), folder, plain_env),
        "cache": (pinned.format(store="s3://remoteimport-bench/classes"), folder, cached_env),
    }
    times: dict[str, list[float]] = {case: [] for case in cases}
    cpu: dict[str, list[float]] = {case: [] for case in cases}  # less sensitive to other jobs than wall time
    imported: dict[str, list[str]] = {}
    for code, cwd, case_env in cases.values():  # warm-up: .pyc files and the page cache
        subprocess.run([sys.executable, "-S", "-c", code], cwd=cwd, env=case_env, capture_output=True, check=True)
    for _ in range(repeat):  # round by round, so machine noise hits every case alike
        for case, (code, cwd, case_env) in cases.items():
            start, used = time.perf_counter(), _children_cpu()
            done = subprocess.run(
                [sys.executable, "-S", "-c", code], cwd=cwd, env=case_env, capture_output=True, text=True
            )
            times[case].append(time.perf_counter() - start)
            cpu[case].append(_children_cpu() - used)
            if done.returncode != 0:
                raise SystemExit(f"benchmark child ({case}) failed:\n{done.stderr}")
            last = (done.stdout.strip().splitlines() or [""])[-1]
            imported[case] = [name for name in last.split(",") if name]
    source = median(times["source"]) * 1e3
    source_cpu = median(cpu["source"]) * 1e3

    # A push of a new class (its requirements looked up: it references an installed package) and the first
    # class_hash in a process, against compile() of the class's module source.
    (producer / "proc_push.py").write_text(
        "import platformdirs\n"
        + class_source("ProcPush", 10).replace(
            "self.k = k", "self.k = k\n        self.where = platformdirs.user_data_dir"
        )
    )
    push_code = f"""
        import json, time, uuid
        import remoteimport, remoteimport.registry, proc_push
        cls = proc_push.ProcPush
        cls.salt = uuid.uuid4().hex  # a new version every time
        t0 = time.perf_counter()
        remoteimport.push(cls, store={str(folder / "push-store")!r})
        t1 = time.perf_counter()
        text = open(proc_push.__file__).read()
        t2 = time.perf_counter()
        compile(text, proc_push.__file__, "exec")
        t3 = time.perf_counter()
        print(json.dumps({{"push": t1 - t0, "compile": t3 - t2}}))
    """
    # ast.parse() of the same text (after the hash, so it does not warm anything the hash uses): the floor of
    # any hash of the AST, whose encoding also walks every node in Python (docs/performance.md).
    hash_code = """
        import ast, json, time
        import proc_filters
        from remoteimport.hashing import class_hash
        text = open(proc_filters.__file__).read()
        t0 = time.perf_counter()
        compile(text, proc_filters.__file__, "exec")
        t1 = time.perf_counter()
        class_hash(proc_filters.ProcFilter)
        t2 = time.perf_counter()
        ast.parse(text)
        t3 = time.perf_counter()
        print(json.dumps({"compile": t1 - t0, "hash": t2 - t1, "parse": t3 - t2}))
    """
    pushes = [run_child(push_code, producer, env) for _ in range(repeat)]
    hashes = [run_child(hash_code, producer, env) for _ in range(repeat)]
    compile_ms = median([h["compile"] for h in hashes]) * 1e3
    return [
        ("pinned import, local store", median(times["local"]) * 1e3, "source", source, ", ".join(imported["local"])),
        (
            "pinned import, warm cache (S3 store)",
            median(times["cache"]) * 1e3,
            "source",
            source,
            ", ".join(imported["cache"]),
        ),
        ("(source import of the same class)", source, "source", source, ", ".join(imported["source"])),
        ("pinned import, local store: CPU time", median(cpu["local"]) * 1e3, "source CPU", source_cpu, ""),
        ("pinned import, warm cache: CPU time", median(cpu["cache"]) * 1e3, "source CPU", source_cpu, ""),
        ("push of a new class, in process", median([p["push"] for p in pushes]) * 1e3, "compile()", compile_ms, ""),
        ("first class_hash, 10 methods", median([h["hash"] for h in hashes]) * 1e3, "compile()", compile_ms, ""),
        ("(ast.parse() of the same source)", median([h["parse"] for h in hashes]) * 1e3, "compile()", compile_ms, ""),
    ]


def _children_cpu() -> float:
    """CPU seconds (user + system) used by the finished child processes so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def print_process_table(rows: list[tuple[str, float, str, float, str]]) -> None:
    print("\nWhole process (python -S: interpreter start-up included) and publishing")
    header = f"{'measurement':<40} {'ms':>8} {'baseline':>11} {'ms':>8} {'ratio':>7}  heavy modules imported"
    print(header)
    print("-" * len(header))
    for label, value, baseline, base, heavy in rows:
        print(f"{label:<40} {value:>8.2f} {baseline:>11} {base:>8.2f} {value / base:>6.2f}x  {heavy or '-'}")


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
    parser.add_argument("--skip-scale", action="store_true", help="skip benchmarks/scale.py (S3 at scale, minutes)")
    parser.add_argument("--process-only", action="store_true", help="only the whole-process table (seconds)")
    parser.add_argument("--no-pyc", action="store_true", help="compile every module in every process (no .pyc)")
    args = parser.parse_args()
    env = child_environment(bytecode=not args.no_pyc)
    with tempfile.TemporaryDirectory(prefix="remoteimport-bench-") as tmp:
        work = Path(tmp)
        pyc = "without .pyc files" if args.no_pyc else "with .pyc files"
        print(f"python {sys.version.split()[0]}, median of {args.repeat} fresh interpreters per figure, {pyc}")
        print_process_table(bench_process(work, env, args.repeat))
        if args.process_only:
            return
        print_table("Hashing", bench_hashing(work, env, args.repeat), "source import")
        print_table("Import", bench_import(work, env, args.repeat), "source import")
    print(flush=True)  # the floor under the first-hash figure: parsing and walking the AST (in-process, warm)
    subprocess.run([sys.executable, str(Path(__file__).with_name("hash_floor.py"))], check=True, env=env)
    print(flush=True)  # versions that share classes: one class per content hash (docs/ml-projects.md)
    graphs = Path(__file__).with_name("graphs.py")
    subprocess.run([sys.executable, str(graphs), "--repeat", str(args.repeat)], check=True, env=env)
    if not args.skip_storage:  # requests, cache, push_all and scale on moto's S3 server: its own interpreter
        print(flush=True)
        storage = Path(__file__).with_name("storage.py")
        subprocess.run([sys.executable, str(storage), "--repeat", str(args.repeat)], check=True)
    if not args.skip_scale:  # 10 to 1,000 classes on moto's S3 server: requests, wall time, peak RSS
        print(flush=True)
        scale = Path(__file__).with_name("scale.py")
        subprocess.run([sys.executable, str(scale)], check=True)


if __name__ == "__main__":
    main()
