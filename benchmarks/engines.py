"""Per-task cost of pinned classes on distributed engines: ``python benchmarks/engines.py [--rounds N] [--ray]``.

A class is pushed from a folder that is then deleted; this process imports it by hash (``Pinned``) and also
defines the same class in ``__main__`` (``ByValue``: cloudpickle ships its code with every task). On a Dask
``LocalCluster(processes=True, n_workers=2, threads_per_worker=1)`` with ``RemoteImportPlugin`` (and, with
``--ray``, a local Ray with ``runtime_env``), it times 1,000 tiny tasks of three kinds, interleaved round by
round, each round after a warm-up (every worker has loaded the version):

- plain: ``f(i)`` with an int (the baseline);
- by value: ``f(ByValue(i))``;
- pinned: ``f(Pinned(i))`` (the instance pickles through ``remoteimport.references.rebuild``).

Then the first-load cost per worker: in freshly restarted workers, the time to import ``ns.Tiny@<hash>`` (the
hook, fsspec and cloudpickle included) and the latency of a first pinned task against a warm one.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TASKS = 1000
NAMESPACE = "bench_engines"
SOURCE = """
class Tiny:
    def __init__(self, k):
        self.k = k

    def apply(self, x):
        return self.k + x
"""
exec(compile(SOURCE, "<benchmark>", "exec"))  # ByValue: the same class, defined in __main__
ByValue = globals().pop("Tiny")
ByValue.__qualname__ = ByValue.__name__ = "ByValue"


def plain(i: int) -> int:
    return i + 1


def call(obj: Any) -> int:
    return obj.apply(1)


def timed_import(reference: str) -> float:
    import importlib
    import time

    start = time.perf_counter()
    importlib.import_module(reference)
    return time.perf_counter() - start


def push(folder: Path) -> tuple[str, str]:
    """Push Tiny from a module in ``folder/producer``, delete that folder; return (store, full hash)."""
    producer = folder / "producer"
    producer.mkdir()
    (producer / "bench_tiny.py").write_text(SOURCE)
    store = str(folder / "store")
    code = f"import remoteimport, bench_tiny; print(remoteimport.push(bench_tiny.Tiny, store={store!r}))"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REMOTEIMPORT_")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=producer, env=environment, capture_output=True, text=True, check=True
    )
    shutil.rmtree(producer)
    return store, done.stdout.split()[-1]


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def dask_rows(store: str, full: str, pinned: type, rounds: int) -> tuple[dict[str, list[float]], list[float], dict]:
    from distributed import Client, LocalCluster

    from remoteimport.integrations.dask import RemoteImportPlugin

    kinds = {
        "plain task (int argument)": lambda client: client.map(plain, range(TASKS), pure=False),
        "class by value (cloudpickle)": lambda client: client.map(call, [ByValue(i) for i in range(TASKS)], pure=False),
        "pinned class (by hash)": lambda client: client.map(call, [pinned(i) for i in range(TASKS)], pure=False),
    }
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            client.register_plugin(RemoteImportPlugin(store, namespace=NAMESPACE))
            for submit in kinds.values():  # warm-up: every worker loads the version, the functions, ...
                client.gather(submit(client))
            for _ in range(rounds):
                for kind, submit in kinds.items():
                    start = time.perf_counter()
                    client.gather(submit(client))
                    times[kind].append(time.perf_counter() - start)
            first_load, latency = [], {"first": [], "warm": []}
            reference = f"{NAMESPACE}.Tiny@{full}"
            for _ in range(max(2, rounds // 2)):
                client.restart()  # fresh worker processes; the scheduler hands them the plugin again
                first_load += list(client.run(timed_import, reference).values())
                client.restart()
                for label in ("first", "warm"):
                    start = time.perf_counter()
                    client.submit(call, pinned(1), pure=False).result()
                    latency[label].append(time.perf_counter() - start)
    return times, first_load, latency


def ray_rows(store: str, full: str, pinned: type, rounds: int) -> tuple[dict[str, list[float]], list[float], dict]:
    import ray

    from remoteimport.integrations.ray import runtime_env

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env(store, NAMESPACE))
    try:
        plain_r, call_r, import_r = ray.remote(plain), ray.remote(call), ray.remote(timed_import)
        kinds = {
            "plain task (int argument)": lambda: [plain_r.remote(i) for i in range(TASKS)],
            "class by value (cloudpickle)": lambda: [call_r.remote(ByValue(i)) for i in range(TASKS)],
            "pinned class (by hash)": lambda: [call_r.remote(pinned(i)) for i in range(TASKS)],
        }
        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        for submit in kinds.values():
            ray.get(submit())
        for _ in range(rounds):
            for kind, submit in kinds.items():
                start = time.perf_counter()
                ray.get(submit())
                times[kind].append(time.perf_counter() - start)
        # a fresh worker per round: a task in a runtime_env of its own (a throwaway variable) starts one
        first_load = []
        for n in range(max(2, rounds // 2)):
            env = runtime_env(store, NAMESPACE, base={"env_vars": {"BENCH_ROUND": str(n)}})
            first_load.append(ray.get(import_r.options(runtime_env=env).remote(f"{NAMESPACE}.Tiny@{full}")))
        return times, first_load, {}
    finally:
        ray.shutdown()


def print_table(engine: str, what: str, times: dict[str, list[float]], first_load: list[float], latency: dict) -> None:
    baseline = statistics.median(next(iter(times.values())))
    print(f"\n{engine}: {TASKS} tiny tasks, median of {len(next(iter(times.values())))} rounds")
    print(f"{'case':<32} {'total ms':>10} {'per task µs':>12} {'vs plain':>9}")
    for kind, values in times.items():
        total = statistics.median(values)
        print(f"{kind:<32} {total * 1000:>10.1f} {total / TASKS * 1e6:>12.1f} {total / baseline:>8.2f}x")
    print(f"first load per worker ({what}): median {median_ms(first_load):.1f} ms over {len(first_load)} workers")
    if latency:
        print(
            f"one pinned task on a fresh worker: {median_ms(latency['first']):.1f} ms; on a warm one: "
            f"{median_ms(latency['warm']):.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of 1,000 tasks per kind (default 5)")
    parser.add_argument("--ray", action="store_true", help="also measure Ray (a local ray.init(num_cpus=2))")
    args = parser.parse_args()
    for name in [k for k in os.environ if k.startswith("REMOTEIMPORT_") and k != "REMOTEIMPORT_CACHE_DIR"]:
        del os.environ[name]  # workers get the store from the integrations, nothing else
    with tempfile.TemporaryDirectory(prefix="remoteimport-engines-") as folder:
        store, full = push(Path(folder))
        empty = Path(folder, "empty")
        empty.mkdir()
        os.chdir(empty)
        import remoteimport

        remoteimport.install(store, namespace=NAMESPACE)
        pinned = importlib.import_module(f"{NAMESPACE}.Tiny@{full}").Tiny
        print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; a local folder store")
        print_table(
            "Dask LocalCluster (2 workers x 1 thread)",
            "the version, the plugin having set up the hook",
            *dask_rows(store, full, pinned, args.rounds),
        )
        if args.ray:
            print_table(
                "Ray local (num_cpus=2)",
                "start-up hook activation + the version",
                *ray_rows(store, full, pinned, args.rounds),
            )


if __name__ == "__main__":
    main()
