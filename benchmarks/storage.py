"""Storage benchmarks on moto's S3 server (real HTTP on loopback): ``python benchmarks/storage.py``.

1. requests per operation, counted in the server's own request log (the budget in docs/storage.md);
2. a pinned import in a fresh interpreter, served from the local blob cache vs fetched from S3;
3. ``push_all`` of 1,000 generated classes (concurrent batches) against pushing them one at a time;
4. scale: a pinned import and a prefix resolution in a store of 10 versions vs one of 10,000 versions across
   1,000 names, on a local folder and on S3.

The S3 server runs in its own process (tests/backends.py), so its work does not share a GIL with the client.
Every figure comes from fresh interpreters; timings are medians.
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
import uuid
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
BACKENDS = Path(HERE).parent / "tests" / "backends.py"
BUCKET = "remoteimport-test"

CHILD_PRELUDE = """
import importlib, json, sys, time
LOG = {log!r}
def served():
    with open(LOG) as file:
        return sum(1 for _ in file)
import remoteimport
"""


class Server:
    """moto's S3 server in a child process; ``served()`` is how many requests it has answered so far."""

    def __init__(self, work: Path, latency_ms: float = 0.0) -> None:
        self.log = work / f"s3-requests-{latency_ms:g}ms.log"
        self.log.touch()
        self.process = subprocess.Popen(
            [sys.executable, str(BACKENDS), str(self.log), str(latency_ms)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=work,
        )
        assert self.process.stdout is not None
        self.endpoint = self.process.stdout.readline().strip()
        if not self.endpoint.startswith("http://"):
            raise SystemExit("the S3 server did not start (is moto[server] installed? pip install -e '.[test]')")
        self.environment = {
            **{key: value for key, value in os.environ.items() if not key.startswith("REMOTEIMPORT_")},
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)

    def url(self) -> str:
        return f"s3://{BUCKET}/{uuid.uuid4().hex}"

    def run(self, code: str, cwd: Path, cache: Path | None = None) -> dict:
        """Run ``code`` after CHILD_PRELUDE in a fresh interpreter (cache: its REMOTEIMPORT_CACHE_DIR)."""
        env = dict(self.environment)
        env["REMOTEIMPORT_CACHE_DIR"] = str(cache) if cache is not None else "off"
        source = CHILD_PRELUDE.format(log=str(self.log)) + textwrap.dedent(code)
        done = subprocess.run(
            [sys.executable, "-c", source], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"benchmark child failed:\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def class_module(count: int) -> str:
    """``count`` small @persist classes, each with a few methods, a constant and a helper."""
    lines = ["import remoteimport", "", "LIMIT = 10", "", "def helper(x):", "    return min(x, LIMIT)", ""]
    for index in range(count):
        lines += [
            "@remoteimport.persist",
            f"class Gen{index:04d}:",
            f"    weight = {index}",
            "    def __init__(self, k=2):",
            "        self.k = k",
            "    def apply(self, x):",
            "        return helper(x) * self.k + self.weight",
            "    def describe(self):",
            f"        return 'Gen{index:04d}:' + str(self.weight)",
            "",
        ]
    return "\n".join(lines)


# -- 1. requests per operation ----------------------------------------------------------------------------


def bench_requests(server: Server, work: Path) -> list[tuple[str, int, str]]:
    producer = work / "producer"
    producer.mkdir()
    (producer / "gen_classes.py").write_text(class_module(3))
    url = server.url()

    def requests_of(op: str, setup: str = "", cache: Path | None = None) -> int:
        """Requests the server answered while ``op`` ran (after ``setup``) in a fresh interpreter."""
        code = f"{setup}\nstarted = served()\n{op}\nprint(json.dumps({{'requests': served() - started}}))\n"
        return server.run(code, producer, cache)["requests"]

    load = f"import gen_classes\nstore = remoteimport.Store({url!r})\n"
    rows = [("push of a new version", requests_of("full = remoteimport.push(gen_classes.Gen0000, store=store)", load))]
    rows.append(
        ("push of an unchanged class", requests_of("remoteimport.push(gen_classes.Gen0000, store=store)", load))
    )
    full = server.run(load + "print(json.dumps({'h': remoteimport.class_hash(gen_classes.Gen0000)}))", producer)["h"]
    rows.append(("status", requests_of("remoteimport.status(gen_classes.Gen0000, store=store)", load)))
    for index in (1, 2):
        requests_of(f"remoteimport.push(gen_classes.Gen000{index}, store=store)", load)
    for version in range(25):  # a history to page through
        requests_of(
            "namespace = {}\n"
            f"exec('class Gen0002:\\n    v = {version}\\n', namespace)\n"
            "remoteimport.push(namespace['Gen0002'], store=store)",
            f"store = remoteimport.Store({url!r})\n",
        )
    consumer = work / "consumer"
    consumer.mkdir()
    hook = f"remoteimport.install({url!r}, namespace='bench_remote')\n"
    warm = work / "warm-cache"
    rows.append(
        (
            "cold pinned import by full hash",
            requests_of(f"importlib.import_module('bench_remote.Gen0000@{full}')", hook, warm),
        )
    )
    rows.append(
        (
            "warm pinned import (local cache)",
            requests_of(f"importlib.import_module('bench_remote.Gen0000@{full}')", hook, warm),
        )
    )
    rows.append(
        ("pinned import by prefix", requests_of(f"importlib.import_module('bench_remote.Gen0000@{full[:10]}')", hook))
    )
    rows.append(("`from ns import X` (latest)", requests_of("from bench_remote import Gen0000", hook)))
    store = f"store = remoteimport.Store({url!r})\n"
    rows.append(
        (
            "`ls` page of 20 names (3 here)",
            requests_of("from remoteimport import cli\ncli.main(['ls', '--store', store.url, '--limit', '20'])", store),
        )
    )
    rows.append(("`log` page of 10 of 26 entries", requests_of("store.history('Gen0002', limit=10)", store)))
    budget = {
        "push of a new version": "<= 4",
        "push of an unchanged class": "<= 2",
        "status": "1",
        "cold pinned import by full hash": "1",
        "warm pinned import (local cache)": "0",
        "pinned import by prefix": "2",
        "`from ns import X` (latest)": "<= 2",
        "`ls` page of 20 names (3 here)": "1 + 3 x names + tags",
        "`log` page of 10 of 26 entries": "1 + 10",
    }
    return [(label, value, budget[label]) for label, value in rows]


# -- 2. cache hit vs cold ---------------------------------------------------------------------------------


def bench_cache(server: Server, work: Path, repeat: int) -> list[tuple[str, float, str]]:
    producer = work / "cache-producer"
    producer.mkdir()
    (producer / "gen_classes.py").write_text(class_module(1))
    url = server.url()
    full = server.run(
        f"import gen_classes\nprint(json.dumps({{'h': remoteimport.push(gen_classes.Gen0000, store={url!r})}}))",
        producer,
    )["h"]
    code = f"""
        remoteimport.install({url!r}, namespace="bench_remote")
        started = time.perf_counter()
        importlib.import_module("bench_remote.Gen0000@{full}")
        elapsed = time.perf_counter() - started
        print(json.dumps({{"us": elapsed * 1e6, "s3fs": "s3fs" in sys.modules}}))
    """
    consumer = work / "cache-consumer"
    consumer.mkdir()
    cold = [server.run(code, consumer, work / f"cold-cache-{index}") for index in range(repeat)]
    warm_cache = work / "warm-cache-2"
    server.run(code, consumer, warm_cache)
    warm = [server.run(code, consumer, warm_cache) for _ in range(repeat)]
    return [
        ("pinned import, cold (GET from S3)", statistics.median(r["us"] for r in cold), _s3fs(cold)),
        ("pinned import, cache hit", statistics.median(r["us"] for r in warm), _s3fs(warm)),
    ]


def _s3fs(runs: list[dict]) -> str:
    return "imported" if all(r["s3fs"] for r in runs) else "not imported" if not any(r["s3fs"] for r in runs) else "?"


# -- 3. push_all: concurrent vs one at a time -------------------------------------------------------------


def bench_push_all(server: Server, work: Path, classes: int) -> list[tuple[str, float, int]]:
    producer = work / f"push-producer-{uuid.uuid4().hex[:8]}"
    producer.mkdir()
    (producer / "many_classes.py").write_text(class_module(classes))
    timed = """
        import many_classes
        from remoteimport import registry
        for cls in registry._PERSISTED.values():   # hashing is not what is compared: do it first
            remoteimport.class_hash(cls)
        store = remoteimport.Store({url!r})
        started_requests, started = served(), time.perf_counter()
        {op}
        elapsed = time.perf_counter() - started
        print(json.dumps({{"s": elapsed, "requests": served() - started_requests}}))
    """
    sequential = (
        "for name, cls in sorted(registry._PERSISTED.items()):\n"
        "            remoteimport.push(cls, store=store, name=name)"
    )
    rows = []
    for label, op in [
        ("one at a time (push per class)", sequential),
        ("push_all (concurrent batches)", "remoteimport.push_all(store=store)"),
    ]:
        result = server.run(timed.format(url=server.url(), op=op), producer)
        rows.append((label, result["s"], result["requests"]))
    return rows


# -- 4. scale ---------------------------------------------------------------------------------------------


def bench_scale(server: Server, work: Path, repeat: int) -> list[tuple[str, str, float, float, str]]:
    producer = work / "scale-producer"
    producer.mkdir()
    (producer / "gen_classes.py").write_text(class_module(1))
    build = """
        import os, gen_classes
        from remoteimport.blob import encode_blob, make_header
        store = remoteimport.Store({url!r})
        full = remoteimport.push(gen_classes.Gen0000, store=store, name="Target")
        blobs = {{}}
        for index in range({size} - 1):  # Target has 10 versions; the rest spread over the other names
            name = "Target" if index < 9 else f"Name{{index % ({names} - 1):04d}}"
            fake = os.urandom(32).hex()
            payload = os.urandom(3000)
            blobs[(name, fake)] = encode_blob(make_header(name, fake, payload), payload)
        store.write_blobs(blobs)  # crafted versions (never imported): the store's size is what matters
        store.set_latest_many({{name: fake for (name, fake) in blobs}})
        print(json.dumps({{"h": full}}))
    """
    probe = """
        store = remoteimport.Store({url!r}, cache=False)
        remoteimport.install(store, namespace="scale_remote")
        store.latest("Target")  # opens the backend (s3fs import, session): not what is measured
        before, started = served(), time.perf_counter()
        store.resolve("Target", "{prefix}")
        resolved, after_resolve = time.perf_counter(), served()
        importlib.import_module("scale_remote.Target@{full}")
        imported = time.perf_counter()
        print(json.dumps({{"resolve": (resolved - started) * 1e6, "import": (imported - resolved) * 1e6,
                          "requests": [after_resolve - before, served() - after_resolve]}}))
    """
    # Build every store first, then measure them in turns: the S3 server answers in the same state for both.
    stores = {}
    for backend in ("local", "s3"):
        for size, names in ((10, 1), (10_000, 1_000)):
            url = server.url() if backend == "s3" else str(work / f"scale-{size}")
            stores[backend, size] = (url, server.run(build.format(url=url, size=size, names=names), producer)["h"])
    runs: dict[tuple[str, int], list[dict]] = {key: [] for key in stores}
    for _ in range(repeat):
        for (backend, size), (url, full) in stores.items():
            runs[backend, size].append(server.run(probe.format(url=url, prefix=full[:10], full=full), producer))
    rows = []
    for backend in ("local", "s3"):
        for index, (key, label) in enumerate((("resolve", "prefix resolution"), ("import", "pinned import, cold"))):
            small, large = (statistics.median(r[key] for r in runs[backend, size]) for size in (10, 10_000))
            requests = {r["requests"][index] for size in (10, 10_000) for r in runs[backend, size]}
            rows.append((backend, label, small, large, "-" if backend == "local" else "/".join(map(str, requests))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7, help="fresh interpreters per timing (median)")
    parser.add_argument("--classes", type=int, default=1000, help="classes for the push_all comparison")
    parser.add_argument("--latency", type=float, default=20, help="ms per request for a second push comparison")
    parser.add_argument("--latency-classes", type=int, default=200, help="classes for the push comparison with latency")
    parser.add_argument("--skip-scale", action="store_true", help="skip the 10,000-version store (slowest part)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="remoteimport-storage-bench-") as tmp:
        work = Path(tmp)
        server = Server(work)
        try:
            print(f"python {sys.version.split()[0]}, moto S3 server at {server.endpoint} (its own process)")
            print("\nRequests per operation, counted by the server")
            print(f"{'operation':<40} {'requests':>8}  budget")
            for label, value, budget in bench_requests(server, work):
                print(f"{label:<40} {value:>8}  {budget}")

            print(f"\nPinned import in a fresh interpreter (median of {args.repeat})")
            cache_rows = bench_cache(server, work, args.repeat)
            for label, value, s3fs in cache_rows:
                print(f"{label:<40} {value:>10.0f} µs   s3fs {s3fs}")
            print(f"{'ratio cold / cache hit':<40} {cache_rows[0][1] / cache_rows[1][1]:>10.1f}x")

            print(f"\npush of {args.classes} new classes, loopback (the server's CPU is the limit)")
            push_rows = bench_push_all(server, work, args.classes)
            for label, seconds, requests in push_rows:
                print(f"{label:<40} {seconds:>8.2f} s  {requests:>6} requests")
            print(f"{'speed-up of push_all':<40} {push_rows[0][1] / push_rows[1][1]:>8.1f}x")
            if args.latency:
                slow = Server(work, latency_ms=args.latency)
                try:
                    push_rows = bench_push_all(slow, work, args.latency_classes)
                finally:
                    slow.stop()
                print(
                    f"\npush of {args.latency_classes} new classes, {args.latency:g} ms added per request (a network)"
                )
                for label, seconds, requests in push_rows:
                    print(f"{label:<40} {seconds:>8.2f} s  {requests:>6} requests")
                print(f"{'speed-up of push_all':<40} {push_rows[0][1] / push_rows[1][1]:>8.1f}x")

            if not args.skip_scale:
                print(f"\nScale: 10 versions vs 10,000 across 1,000 names (median of {args.repeat}, µs)")
                print(f"{'store':<6} {'operation':<34} {'10':>10} {'10,000':>10} {'ratio':>7}  requests")
                started = time.perf_counter()
                for backend, label, small, large, requests in bench_scale(server, work, args.repeat):
                    print(f"{backend:<6} {label:<34} {small:>10.0f} {large:>10.0f} {large / small:>6.2f}x  {requests}")
                print(f"(building the stores and measuring took {time.perf_counter() - started:.0f} s)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
