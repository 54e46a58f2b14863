"""At scale, on moto's S3 server: ``python benchmarks/scale.py [--sizes 10,100,1000] [--large-mb 200] [--quick]``.

For each N (a store of N classes, all defined in one generated module of N classes, each with a few methods and
a helper function of its own), every figure from fresh interpreters:

- ``push_all`` of the N classes: requests, wall time, peak RSS, and the size of one blob (does it grow with
  the module?);
- cold readers: M interpreters started at once (``--readers``), each with an empty blob cache, doing
  ``from ns import StepK`` (latest) and a pinned import of another class by full hash; also readers one at a
  time, whose requests are attributed to each import;
- ``remoteimport ls --limit N --json`` of the whole store (the CLI, in its own interpreter);
- the web view: ``GET /`` (the first page of the class list) on a ui server started on the store;

then a large class (one ``--large-mb`` bytes attribute): push and cold import, peak RSS against the blob size.
Baselines from the same run: importing the same class from source in a fresh interpreter, and an empty
interpreter. Requests are counted by the S3 server (tests/backends.py), which runs in its own process (it
shares no GIL with the clients); peak RSS is each child's ``ru_maxrss`` (``os.wait4``). The last table turns
the measured requests per reader and the request rate the server sustained into what 10,000 and 100,000 cold
readers would cost: an extrapolation, on paper.

Exit status 1 when an operation failed (the others still run and print).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from storage import BUCKET, Server  # noqa: E402  (moto's S3 server in its own process, counting requests)

NAMESPACE = "scale_remote"
LS_RUNS = {"page": "page, cold", "all": "all, cold", "again": "all, again", "pusher": "all, pushed here"}
CHILD_TIMEOUT = 1800.0  # seconds: a child that takes longer is killed and its operation fails
# Amazon S3's documented request rates per partitioned prefix (docs.aws.amazon.com, "Best practices design
# patterns: optimizing Amazon S3 performance") and S3 Standard list prices in us-east-1 (USD per 1,000
# requests; check current prices): used only for the on-paper table.
S3_GET_RATE = 5_500
S3_PRICE_PER_1000 = {"GET": 0.0004, "HEAD": 0.0004, "LIST": 0.005, "PUT": 0.005, "POST": 0.005}

# Every child: `served()` is the number of requests the S3 server has answered so far (its log's lines).
CHILD_PRELUDE = """
import json, sys, time
ARGS = json.loads(sys.argv[1])
def served():
    with open(ARGS["log"]) as file:
        return sum(1 for _ in file)
"""

# push_all of every @persist class of the generated module; then the size of a few of the blobs.
PUSH_CODE = """
started = time.perf_counter()
module = __import__(ARGS["module"])
imported = time.perf_counter()
import remoteimport
store = remoteimport.Store(ARGS["url"])
before = served()
pushed_at = time.perf_counter()
hashes = remoteimport.push_all(store=store)
done = time.perf_counter()
requests = served() - before
names = sorted(hashes)
sample = [names[0], names[len(names) // 2], names[-1]]
sizes = [store.fs.info(store.blob_path(name, hashes[name]))["size"] for name in sample]
print(json.dumps({"hashes": hashes, "requests": requests, "push": done - pushed_at,
                  "module_import": imported - started, "blob_sizes": sizes}))
"""

# A cold reader: `from ns import <latest>`, then a pinned import of another class by full hash.
READER_CODE = """
started = time.perf_counter()
import remoteimport
remoteimport.install(ARGS["url"], namespace=ARGS["namespace"])
installed, before = time.perf_counter(), served()
scope = {}
exec(f"from {ARGS['namespace']} import {ARGS['latest']} as cls", scope)
latest, after_latest = time.perf_counter(), served()
import importlib
pinned_name, pinned_hash = ARGS["pinned"]
pinned = getattr(importlib.import_module(f"{ARGS['namespace']}.{pinned_name}@{pinned_hash}"), pinned_name)
done = time.perf_counter()
assert scope["cls"]().transform([1.0, 2.0, 4.0]) and pinned().transform([3.0, 1.0])
print(json.dumps({"install": installed - started, "latest": latest - installed, "pinned": done - latest,
                  "requests": [after_latest - before, served() - after_latest]}))
"""

# The baseline: the same class imported from its source module (with its .pyc, as in any second run).
SOURCE_CODE = """
started = time.perf_counter()
exec(f"from {ARGS['module']} import {ARGS['name']} as cls", globals())
imported = time.perf_counter()
print(json.dumps({"import": imported - started}))
"""

# The web view: a ui server on the store, `GET /` twice (the first one opens the store's filesystem).
UI_CODE = """
import urllib.request
from remoteimport.ui import start_server
running = start_server(ARGS["url"])
try:
    figures = []
    for _ in range(2):
        before, started = served(), time.perf_counter()
        with urllib.request.urlopen(running.url, timeout=600) as response:
            status, body = response.status, response.read().decode("utf-8")
        figures.append({"s": time.perf_counter() - started, "requests": served() - before, "status": status})
finally:
    running.close()
assert all(f["status"] == 200 for f in figures), figures
shown = sum(1 for index in range(ARGS["count"]) if f"Step{index:04d}" in body)
print(json.dumps({"first": figures[0], "second": figures[1], "shown": shown}))
"""

# The server's request rate: small objects written in one batch, then read back in batches (s3fs, async).
RATE_CODE = """
import s3fs
fs = s3fs.S3FileSystem(skip_instance_cache=True)
root = ARGS["root"]
paths = [f"{root}/object-{index:05d}" for index in range(ARGS["objects"])]
before, started = served(), time.perf_counter()
fs.pipe({path: b"x" * 1000 for path in paths})
put = (served() - before) / (time.perf_counter() - started)
before, started = served(), time.perf_counter()
for _ in range(3):
    fs.cat(paths)
get = (served() - before) / (time.perf_counter() - started)
print(json.dumps({"put": put, "get": get}))
"""

# The large class: push it, then (another interpreter, empty cache) import it pinned by full hash.
LARGE_PUSH_CODE = """
started = time.perf_counter()
from big_module import Weights
imported = time.perf_counter()
import remoteimport
store = remoteimport.Store(ARGS["url"])
before, pushed_at = served(), time.perf_counter()
full = remoteimport.push(Weights, store=store)
done = time.perf_counter()
requests = served() - before
size = store.fs.info(store.blob_path("Weights", full))["size"]
print(json.dumps({"hash": full, "push": done - pushed_at, "module_import": imported - started,
                  "requests": requests, "blob": size}))
"""

LARGE_IMPORT_CODE = """
import importlib
import remoteimport
remoteimport.install(ARGS["url"], namespace=ARGS["namespace"])
before, started = served(), time.perf_counter()
module = importlib.import_module(f"{ARGS['namespace']}.Weights@{ARGS['hash']}")
done = time.perf_counter()
assert len(module.Weights()) == ARGS["size"]
print(json.dumps({"import": done - started, "requests": served() - before}))
"""

LARGE_SOURCE_CODE = """
started = time.perf_counter()
from big_module import Weights
done = time.perf_counter()
assert len(Weights()) == ARGS["size"]
print(json.dumps({"import": done - started}))
"""


def step_module(count: int) -> str:
    """A module of ``count`` @persist classes, each with a docstring, a class attribute, four methods and a
    module-level helper function of its own; the module's other names are shared by all of them."""
    lines = ['"""Generated by benchmarks/scale.py: preprocessing steps."""', "", "import math", ""]
    lines += ["import remoteimport", "", "CEILING = 3.0", ""]
    for index in range(count):
        lines += textwrap.dedent(
            f'''

            def _normalise_{index:04d}(values):
                """Scale values into [0, 1]."""
                low, high = min(values), max(values)
                span = (high - low) or 1.0
                return [(v - low) / span for v in values]


            @remoteimport.persist
            class Step{index:04d}:
                """Step {index}: scale, normalise and clip."""

                threshold = {index} / 10

                def __init__(self, factor=2.0, clip=True):
                    self.factor = factor
                    self.clip = clip

                def fit(self, values):
                    self.mean_ = sum(values) / len(values)
                    return self

                def transform(self, values):
                    scaled = _normalise_{index:04d}([v * self.factor for v in values])
                    if self.clip:
                        scaled = [min(v, self.threshold + CEILING) for v in scaled]
                    return [math.floor(v * 100) / 100 for v in scaled]

                def __repr__(self):
                    return f"Step{index:04d}(factor={{self.factor}})"
            '''
        ).splitlines()
    return "\n".join(lines) + "\n"


def large_module(size: int) -> str:
    """One @persist class whose attribute is ``size`` bytes that do not compress (model weights, say)."""
    return textwrap.dedent(
        f'''
        import os

        import remoteimport


        @remoteimport.persist
        class Weights:
            """Weights of a model: one large bytes attribute."""

            data = os.urandom({size})  # one buffer of that size (random.randbytes would hold it twice)

            def __len__(self):
                return len(self.data)

            def checksum(self):
                return sum(self.data[:4096])
        '''
    )


# -- running children -------------------------------------------------------------------------------------


class ChildFailed(Exception):
    """A child interpreter exited with an error, printed no JSON, or ran out of time."""


@dataclass
class ChildResult:
    output: dict[str, Any]  # the last line of its standard output, parsed as JSON ({} when not JSON)
    stdout: str
    wall: float  # seconds from start to exit, as the parent saw them
    peak_rss: int  # bytes: the child's ru_maxrss
    cpu: float  # seconds of CPU (user + system) the child used


_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()


def run_child(label: str, args: list[str], cwd: Path, env: dict[str, str], *, expect_json: bool = True) -> ChildResult:
    """Run ``args`` to the end; its wall time (start to exit) and peak RSS come from ``os.wait4``."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        with _RUNNING_LOCK:
            _RUNNING.add(process)
        timer = threading.Timer(CHILD_TIMEOUT, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
            with _RUNNING_LOCK:
                _RUNNING.discard(process)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise ChildFailed(f"{label}: exit status {process.returncode}\n{stderr[-4000:]}")
    output: dict[str, Any] = {}
    if expect_json:
        try:
            output = json.loads(stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise ChildFailed(f"{label}: no JSON result\n{stdout[-2000:]}\n{stderr[-4000:]}") from None
    peak_rss = usage.ru_maxrss * 1024  # Linux counts kilobytes
    return ChildResult(output, stdout, wall, peak_rss, usage.ru_utime + usage.ru_stime)


def kill_running() -> None:
    with _RUNNING_LOCK:
        for process in list(_RUNNING):
            if process.returncode is None:
                try:
                    process.send_signal(signal.SIGKILL)
                except ProcessLookupError:
                    pass


class Requests:
    """The S3 server's request log: what was served between two marks, by kind."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    def mark(self) -> int:
        return len(self.lines())

    def since(self, mark: int) -> list[str]:
        return self.lines()[mark:]


def request_kinds(lines: Iterable[str]) -> Counter:
    """GET / HEAD / LIST / PUT / POST / DELETE counts of log lines ``METHOD /path?query``."""
    kinds: Counter = Counter()
    for line in lines:
        method, _, target = line.partition(" ")
        query = target.partition("?")[2]
        listing = method == "GET" and ("list-type=" in query or "prefix=" in query or "delimiter=" in query)
        kinds["LIST" if listing else method] += 1
    return kinds


def describe_kinds(kinds: Counter, per: float = 1.0) -> str:
    return ", ".join(f"{kind} {count / per:g}" for kind, count in sorted(kinds.items(), key=lambda kv: -kv[1]))


# -- the benchmark ----------------------------------------------------------------------------------------


@dataclass
class Figures:
    """Everything measured for one store size N."""

    count: int
    module_bytes: int = 0
    push: dict[str, Any] = field(default_factory=dict)
    source: dict[str, float] = field(default_factory=dict)
    alone: dict[str, Any] = field(default_factory=dict)
    crowd: dict[str, Any] = field(default_factory=dict)
    ls: dict[str, Any] = field(default_factory=dict)
    ui: dict[str, Any] = field(default_factory=dict)


class Bench:
    """The operations, each in fresh interpreters against one S3 server; failures are collected."""

    def __init__(self, server: Server, work: Path, args: argparse.Namespace) -> None:
        self.server = server
        self.work = work
        self.args = args
        self.requests = Requests(server.log)
        # .pyc files written and used, as in any second run (storage.py's children compile everything).
        self.env = {key: value for key, value in server.environment.items() if key != "PYTHONDONTWRITEBYTECODE"}
        self.failures: list[str] = []

    def child(self, label: str, code: str, cwd: Path, params: dict[str, Any], cache: Path | None = None) -> ChildResult:
        env = dict(self.env)
        env["REMOTEIMPORT_CACHE_DIR"] = str(cache) if cache is not None else str(self.fresh("cache"))
        argv = [
            sys.executable,
            "-c",
            CHILD_PRELUDE + textwrap.dedent(code),
            json.dumps({**params, "log": str(self.server.log)}),
        ]
        return run_child(label, argv, cwd, env)

    def fresh(self, kind: str) -> Path:
        folder = self.work / f"{kind}-{uuid.uuid4().hex[:10]}"
        folder.mkdir()
        return folder

    def attempt(self, label: str, operation: Callable[[], Any]) -> Any:
        """Run one operation; a failure is reported and remembered (exit status 1), the others still run."""
        try:
            return operation()
        except Exception as error:  # a benchmark reports every failure, and goes on
            self.failures.append(label)
            print(f"\n!! {label} failed: {error}", file=sys.stderr, flush=True)
            return None

    # -- the server's rate, the empty interpreter ---------------------------------------------------------

    def server_rate(self) -> dict[str, float]:
        root = f"{BUCKET}/rate-{uuid.uuid4().hex}"
        return self.child("request rate", RATE_CODE, self.work, {"root": root, "objects": 500}).output

    def empty_interpreter(self) -> dict[str, float]:
        runs = [
            run_child("empty interpreter", [sys.executable, "-c", "pass"], self.work, self.env, expect_json=False)
            for _ in range(self.args.repeat)
        ]
        return {"wall": statistics.median(r.wall for r in runs), "rss": statistics.median(r.peak_rss for r in runs)}

    # -- one store size -----------------------------------------------------------------------------------

    def measure(self, count: int) -> Figures:
        figures = Figures(count)
        producer = self.fresh(f"producer-{count}")
        module = f"steps_{count}"
        text = step_module(count)
        (producer / f"{module}.py").write_text(text)
        figures.module_bytes = len(text.encode())
        url = self.server.url()
        pushed = self.attempt(f"push_all, N={count}", lambda: self.push_all(producer, module, url))
        if pushed is None:
            return figures
        figures.push = pushed
        hashes: dict[str, str] = pushed["hashes"]
        names = sorted(hashes)
        figures.source = (
            self.attempt(f"source import, N={count}", lambda: self.source_import(producer, module, names)) or {}
        )
        figures.alone = (
            self.attempt(f"readers one at a time, N={count}", lambda: self.readers(url, hashes, alone=True)) or {}
        )
        figures.crowd = (
            self.attempt(f"readers at once, N={count}", lambda: self.readers(url, hashes, alone=False)) or {}
        )
        figures.ls = self.attempt(f"ls, N={count}", lambda: self.ls(url, count)) or {}
        figures.ui = self.attempt(f"web view, N={count}", lambda: self.ui(url, count)) or {}
        return figures

    def push_all(self, producer: Path, module: str, url: str) -> dict[str, Any]:
        self.pushing_cache = self.fresh("cache")  # the pushing host's cache: `ls` there reads no header
        run = self.child("push_all", PUSH_CODE, producer, {"module": module, "url": url}, cache=self.pushing_cache)
        hashes = run.output["hashes"]
        if not hashes or len(set(hashes.values())) != len(hashes):
            raise ChildFailed(f"push_all returned {len(hashes)} classes, {len(set(hashes.values()))} hashes")
        # The same push_all to a folder: the client's own work (hashing, pickling), without the S3 requests.
        local = self.child(
            "push_all (folder)", PUSH_CODE, producer, {"module": module, "url": str(self.fresh("store"))}
        )
        return {
            **run.output,
            "wall": run.wall,
            "rss": run.peak_rss,
            "cpu": run.cpu,
            "server_rss": server_rss(self.server),
            "local": local.output["push"],
            "local_rss": local.peak_rss,
        }

    def source_import(self, producer: Path, module: str, names: list[str]) -> dict[str, float]:
        params = {"module": module, "name": names[len(names) // 2]}
        self.child("source import (warm-up: .pyc)", SOURCE_CODE, producer, params)
        runs = [self.child("source import", SOURCE_CODE, producer, params) for _ in range(self.args.repeat)]
        return {
            "wall": statistics.median(r.wall for r in runs),
            "import": statistics.median(r.output["import"] for r in runs),
            "rss": statistics.median(r.peak_rss for r in runs),
            "cpu": statistics.median(r.cpu for r in runs),
        }

    def readers(self, url: str, hashes: dict[str, str], *, alone: bool) -> dict[str, Any]:
        names = sorted(hashes)
        consumer = self.fresh("consumer")  # no source module there
        count = self.args.repeat if alone else self.args.readers
        stride = max(1, len(names) // count)

        def params(index: int) -> dict[str, Any]:
            latest = names[(index * stride) % len(names)]
            pinned = names[(index * stride + 1) % len(names)]
            return {"url": url, "namespace": NAMESPACE, "latest": latest, "pinned": [pinned, hashes[pinned]]}

        def reader(index: int) -> ChildResult:
            return self.child(f"reader {index}", READER_CODE, consumer, params(index), cache=self.fresh("cache"))

        mark = self.requests.mark()
        started = time.perf_counter()
        if alone:
            runs = [reader(index) for index in range(count)]
        else:
            with ThreadPoolExecutor(max_workers=min(count, self.args.concurrency)) as pool:
                runs = list(pool.map(reader, range(count)))
        elapsed = time.perf_counter() - started
        served = self.requests.since(mark)
        return {
            "readers": count,
            "requests": len(served) / count,
            "kinds": request_kinds(served),
            # what each import asked for, from the reader's own count: exact only when it runs alone
            "split": [statistics.median(r.output["requests"][i] for r in runs) for i in (0, 1)] if alone else None,
            "wall": statistics.median(r.wall for r in runs),
            "wall_max": max(r.wall for r in runs),
            "cpu": statistics.median(r.cpu for r in runs),
            "latest": statistics.median(r.output["latest"] for r in runs),
            "pinned": statistics.median(r.output["pinned"] for r in runs),
            "rss": statistics.median(r.peak_rss for r in runs),
            "rss_max": max(r.peak_rss for r in runs),
            "batch": elapsed,
            "rate": len(served) / elapsed,
        }

    def ls(self, url: str, count: int) -> dict[str, Any]:
        """`ls` four ways: the default page (100 names) and all N names with an empty cache, then all N again
        with the cache the second one filled (the headers it read are kept, keyed by each blob's ETag), and all N
        on the host that pushed them (the push kept their headers)."""
        cache = self.fresh("cache")
        runs = {}
        for label, limit in (("page", min(count, 100)), ("all", count), ("again", count), ("pusher", count)):
            where = {"again": cache, "pusher": self.pushing_cache}.get(label) or self.fresh("cache")
            env = {**self.env, "REMOTEIMPORT_CACHE_DIR": str(where)}
            if label == "all":
                cache = Path(env["REMOTEIMPORT_CACHE_DIR"])
            argv = [sys.executable, "-m", "remoteimport", "ls", "--store", url, "--limit", str(limit), "--json"]
            mark = self.requests.mark()
            run = run_child("remoteimport ls", argv, self.work, env, expect_json=False)
            served = self.requests.since(mark)
            listed = len(json.loads(run.stdout)["classes"])
            if listed != limit:
                raise ChildFailed(f"remoteimport ls listed {listed} classes, not {limit}")
            runs[label] = {
                "names": limit,
                "requests": len(served),
                "kinds": request_kinds(served),
                "wall": run.wall,
                "rss": run.peak_rss,
            }
        return runs

    def ui(self, url: str, count: int) -> dict[str, Any]:
        run = self.child("web view", UI_CODE, self.work, {"url": url, "count": count})
        if run.output["shown"] == 0:
            raise ChildFailed("the web view's class list shows none of the classes")
        return {**run.output, "rss": run.peak_rss}

    # -- the large class ----------------------------------------------------------------------------------

    def large(self) -> dict[str, Any]:
        size = int(self.args.large_mb * 1_000_000)
        producer = self.fresh("large-producer")
        (producer / "big_module.py").write_text(large_module(size))
        url = self.server.url()
        push = self.child("large push", LARGE_PUSH_CODE, producer, {"url": url})
        imports = self.child(
            "large import",
            LARGE_IMPORT_CODE,
            self.fresh("large-consumer"),
            {"url": url, "namespace": NAMESPACE, "hash": push.output["hash"], "size": size},
        )
        source = self.child("large source import", LARGE_SOURCE_CODE, producer, {"size": size})
        return {"size": size, "push": push, "import": imports, "source": source, "server_rss": server_rss(self.server)}


def server_rss(server: Server) -> int:
    """The S3 server's resident memory now (bytes; 0 when it cannot be read)."""
    try:
        for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# -- printing ---------------------------------------------------------------------------------------------


def seconds(value: float) -> str:
    if value != value:  # NaN: not measured
        return "-"
    return f"{value * 1e3:.0f} ms" if value < 1 else f"{value:.2f} s" if value < 120 else f"{value / 60:.1f} min"


def size(value: float) -> str:
    """Bytes, in kB / MB / GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if value >= scale:
            return f"{value / scale:.0f} {unit}" if value >= 100 * scale else f"{value / scale:.1f} {unit}"
    return f"{value / 1e3:.1f} kB"


def ratio(value: float, base: float, digits: int = 1) -> str:
    return f"{value / base:.{digits}f}x" if base and base == base else "-"


Column = tuple[str, Callable[[Any], str]]


def table(title: str, columns: list[Column], items: Iterable[Any]) -> None:
    """One row per item: each column's header and how it is read from the item."""
    header = [name for name, _ in columns]
    rows = [[cell(item) for _, cell in columns] for item in items]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = zip(cells, widths, strict=True)
        return "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(padded))

    print(f"\n{title}")
    print(line(header))
    print("-" * len(line(header)))
    for row in rows:
        print(line(row))


def print_results(results: list[Figures], empty: dict[str, float], rate: dict[str, float]) -> None:
    def has(key: str) -> list[Figures]:
        return [f for f in results if getattr(f, key)]

    def source(f: Figures, key: str) -> float:
        return f.source[key] if f.source else float("nan")

    def blob(f: Figures) -> float:
        return statistics.median(f.push["blob_sizes"])

    table(
        "Baseline: the same class imported from its source module (all N classes defined there), fresh interpreter",
        [
            ("N", lambda f: str(f.count)),
            ("module", lambda f: size(f.module_bytes)),
            ("process wall", lambda f: seconds(f.source["wall"])),
            ("import statement", lambda f: seconds(f.source["import"])),
            ("CPU", lambda f: seconds(f.source["cpu"])),
            ("peak RSS", lambda f: size(f.source["rss"])),
        ],
        has("source"),
    )
    print(f"(an empty interpreter here: {seconds(empty['wall'])}, peak RSS {size(empty['rss'])})")
    table(
        "push_all of N new classes defined in one module (one interpreter)",
        [
            ("N", lambda f: str(f.count)),
            ("requests", lambda f: str(f.push["requests"])),
            ("per class", lambda f: f"{f.push['requests'] / f.count:.1f}"),
            ("push_all", lambda f: seconds(f.push["push"])),
            ("process wall", lambda f: seconds(f.push["wall"])),
            ("CPU", lambda f: seconds(f.push["cpu"])),
            ("peak RSS", lambda f: size(f.push["rss"])),
            ("push_all to a folder", lambda f: seconds(f.push["local"])),
            ("its peak RSS", lambda f: size(f.push["local_rss"])),
            ("blob of one class", lambda f: size(blob(f))),
            ("module source", lambda f: size(f.module_bytes)),
            ("S3 server RSS after", lambda f: size(f.push["server_rss"])),
        ],
        has("push"),
    )
    for key, title, extra in (
        (
            "alone",
            "Cold readers one at a time (empty cache each): `from ns import StepK` + a pinned import of another class",
            [
                ("latest + pinned", lambda r: f"{r['split'][0]:g} + {r['split'][1]:g}"),
                ("kinds per reader", lambda r: describe_kinds(r["kinds"], r["readers"])),
            ],
        ),
        (
            "crowd",
            "Cold readers started all at once (empty cache each), the same imports; wall: start to exit of each",
            [
                ("all done in", lambda r: seconds(r["batch"])),
                ("requests/s served", lambda r: f"{r['rate']:.0f}"),
            ],
        ),
    ):
        reader_columns: list[Column] = [
            ("N", lambda f: str(f.count)),
            ("readers", lambda f, key=key: str(getattr(f, key)["readers"])),
            ("requests/reader", lambda f, key=key: f"{getattr(f, key)['requests']:g}"),
            *[(name, lambda f, cell=cell, key=key: cell(getattr(f, key))) for name, cell in extra],
            ("wall (median)", lambda f, key=key: seconds(getattr(f, key)["wall"])),
            ("x source", lambda f, key=key: ratio(getattr(f, key)["wall"], source(f, "wall"))),
            ("wall (max)", lambda f, key=key: seconds(getattr(f, key)["wall_max"])),
            ("CPU", lambda f, key=key: seconds(getattr(f, key)["cpu"])),
            ("latest import", lambda f, key=key: seconds(getattr(f, key)["latest"])),
            ("pinned import", lambda f, key=key: seconds(getattr(f, key)["pinned"])),
            ("peak RSS", lambda f, key=key: size(getattr(f, key)["rss"])),
            ("x source", lambda f, key=key: ratio(getattr(f, key)["rss"], source(f, "rss"), 2)),
        ]
        table(title, reader_columns, has(key))
    ls_runs = [(f, label) for f in has("ls") for label in ("page", "all", "again", "pusher")]
    table(
        "`remoteimport ls --limit L --json` (the CLI, fresh interpreter): the default page, all N names, all N "
        "again with the headers the second run kept, and all N on the host that pushed them",
        [
            ("N", lambda r: str(r[0].count)),
            ("run", lambda r: LS_RUNS[r[1]]),
            ("names", lambda r: str(r[0].ls[r[1]]["names"])),
            ("requests", lambda r: str(r[0].ls[r[1]]["requests"])),
            ("per name", lambda r: f"{r[0].ls[r[1]]['requests'] / r[0].ls[r[1]]['names']:.2f}"),
            ("kinds", lambda r: describe_kinds(r[0].ls[r[1]]["kinds"])),
            ("process wall", lambda r: seconds(r[0].ls[r[1]]["wall"])),
            # what the server alone needs for that many requests at its measured rate: the floor for any client
            ("requests at the server's GET rate", lambda r: seconds(r[0].ls[r[1]]["requests"] / rate["get"])),
            ("peak RSS", lambda r: size(r[0].ls[r[1]]["rss"])),
        ],
        ls_runs,
    )
    table(
        "Web view: `GET /` (the class list's first page) on a ui server started on the store, in one interpreter",
        [
            ("N", lambda f: str(f.count)),
            ("classes shown", lambda f: str(f.ui["shown"])),
            ("requests, 1st GET", lambda f: str(f.ui["first"]["requests"])),
            ("1st GET", lambda f: seconds(f.ui["first"]["s"])),
            ("requests, 2nd GET", lambda f: str(f.ui["second"]["requests"])),
            ("2nd GET", lambda f: seconds(f.ui["second"]["s"])),
            ("peak RSS", lambda f: size(f.ui["rss"])),
        ],
        has("ui"),
    )
    print(
        f"\nThe S3 server's request rate, s3fs batches of 1 kB objects: GET {rate['get']:.0f}/s, "
        f"PUT {rate['put']:.0f}/s"
    )

    def price(f: Figures) -> float:
        """USD per reader at S3 Standard list prices, from the kinds of requests readers made alone."""
        spent = sum(S3_PRICE_PER_1000.get(kind, 0.005) * count for kind, count in f.alone["kinds"].items())
        return spent / 1000 / f.alone["readers"]

    paper = [(f, readers) for f in has("alone") if f.push for readers in (10_000, 100_000)]
    table(
        "ON PAPER, extrapolated (not measured): that many cold readers, each making the requests of one above",
        [
            ("N", lambda p: str(p[0].count)),
            ("cold readers", lambda p: f"{p[1]:,}"),
            ("requests", lambda p: f"{p[0].alone['requests'] * p[1]:,.0f}"),
            ("at this server's GET rate", lambda p: seconds(p[0].alone["requests"] * p[1] / rate["get"])),
            (f"at S3's {S3_GET_RATE:,} GET/s a prefix", lambda p: seconds(p[0].alone["requests"] * p[1] / S3_GET_RATE)),
            ("blobs read (2 each)", lambda p: size(2 * blob(p[0]) * p[1])),
            ("S3 request price", lambda p: f"${price(p[0]) * p[1]:.3g}"),
        ],
        paper,
    )


def print_large(large: dict[str, Any]) -> None:
    blob, source = large["push"].output["blob"], large["source"]
    rows = [
        ("push (one class)", large["push"], large["push"].output["push"], str(large["push"].output["requests"])),
        (
            "cold pinned import, empty cache",
            large["import"],
            large["import"].output["import"],
            str(large["import"].output["requests"]),
        ),
        ("(baseline: import from source)", source, source.output["import"], "-"),
    ]
    table(
        f"A large class: one {size(large['size'])} attribute (random bytes, incompressible); its blob {size(blob)}",
        [
            ("operation", lambda r: r[0]),
            ("requests", lambda r: r[3]),
            ("operation wall", lambda r: seconds(r[2])),
            ("process wall", lambda r: seconds(r[1].wall)),
            ("peak RSS", lambda r: size(r[1].peak_rss)),
            ("peak RSS / blob", lambda r: f"{r[1].peak_rss / blob:.2f}"),
            ("x source", lambda r: ratio(r[1].peak_rss, source.peak_rss, 2)),
        ],
        rows,
    )
    print(f"(S3 server RSS afterwards: {size(large['server_rss'])})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000", help="store sizes N, comma-separated (default 10,100,1000)")
    parser.add_argument("--large-mb", type=float, default=None, help="the large class's attribute, MB (default 200)")
    parser.add_argument("--readers", type=int, default=None, help="cold readers started at once (default 20)")
    parser.add_argument("--concurrency", type=int, default=None, help="readers running at once (default: all)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per one-at-a-time figure (median, default 3)")
    parser.add_argument("--quick", action="store_true", help="N = 10,100; 10 readers; a 50 MB large class")
    parser.add_argument("--full", action="store_true", help="100 readers at once, 5 runs per one-at-a-time figure")
    parser.add_argument("--skip-large", action="store_true", help="skip the large class")
    args = parser.parse_args()
    if args.quick and args.sizes == parser.get_default("sizes"):
        args.sizes = "10,100"
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    args.large_mb = args.large_mb if args.large_mb is not None else 50 if args.quick else 200
    args.readers = args.readers or (100 if args.full else 10 if args.quick else 20)
    args.concurrency = args.concurrency or args.readers
    args.repeat = args.repeat or (5 if args.full else 3)

    work = Path(tempfile.mkdtemp(prefix="remoteimport-scale-bench-"))
    server: Server | None = None
    failures: list[str] = []
    try:
        server = Server(work)
        bench = Bench(server, work, args)
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
            f"{', '.join(f'{load:.1f}' for load in os.getloadavg())}; moto S3 server at {server.endpoint} "
            f"(its own process); N = {', '.join(map(str, sizes))}; {args.readers} readers at once "
            f"({args.concurrency} running at a time), {args.repeat} one at a time",
            flush=True,
        )
        started = time.perf_counter()
        rate = bench.attempt("request rate", bench.server_rate) or {"get": float("nan"), "put": float("nan")}
        nothing = {"wall": float("nan"), "rss": float("nan")}
        empty = bench.attempt("empty interpreter", bench.empty_interpreter) or nothing
        results = []
        for size in sizes:
            print(f"... N = {size}", file=sys.stderr, flush=True)
            results.append(bench.measure(size))
        print_results(results, empty, rate)
        if not args.skip_large:
            print(f"... the large class ({args.large_mb:g} MB)", file=sys.stderr, flush=True)
            large = bench.attempt("large class", bench.large)
            if large is not None:
                print_large(large)
        print(f"\n(all of it took {time.perf_counter() - started:.0f} s)")
        failures = bench.failures
    except KeyboardInterrupt:
        failures = ["interrupted"]
    finally:
        kill_running()
        if server is not None:
            try:
                server.stop()
            except (OSError, subprocess.TimeoutExpired, ValueError):
                server.process.kill()
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"\nFAILED: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
