"""Many processes on one store at once: pushes of one name from 8 processes (``file://`` and ``s3://``), and
8 processes importing one pinned class through a cold, shared blob cache.

The processes wait at a start line (a file the test creates once all of them are ready), so their requests
really overlap.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import remoteimport
from remoteimport.blob import decode_blob
from remoteimport.cache import BlobCache
from remoteimport.store import Store

PROCESSES = 8
TIMEOUT = 90

START_LINE = """
import os, sys, time
ready, go = sys.argv[1], sys.argv[2]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.002)
"""


def run_together(tmp_path: Path, code: str, environment: dict[str, str] | None = None) -> list[dict]:
    """Start PROCESSES interpreters running ``code`` (after the start line); each prints one JSON line."""
    lines = tmp_path / "lines"
    lines.mkdir()
    go = lines / "go"
    env = {key: value for key, value in os.environ.items() if not key.startswith("REMOTEIMPORT_")}
    env.update(environment or {})
    source = START_LINE + textwrap.dedent(code)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", source, str(lines / f"ready-{index}"), str(go), str(index)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(PROCESSES)
    ]
    deadline = time.monotonic() + TIMEOUT
    while len(list(lines.glob("ready-*"))) < PROCESSES and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, f"a process failed:\n{stderr}"
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    return results


PUSH_ONE_VERSION = """
import json
import remoteimport
version = int(sys.argv[3])
namespace = {}
source = f"class MyFilter:\\n    version = {version}\\n    def apply(self, x):\\n        return x + self.version\\n"
exec(source, namespace)
full = remoteimport.push(namespace["MyFilter"], store=STORE)
print(json.dumps({"hash": full}))
"""


@pytest.mark.parametrize("backend", ["file", "s3"])
def test_eight_processes_pushing_one_name(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> None:
    url = (tmp_path / "store").as_uri() if backend == "file" else request.getfixturevalue("s3_url")
    results = run_together(tmp_path, f"STORE = {url!r}\n" + PUSH_ONE_VERSION)
    pushed = [result["hash"] for result in results]
    assert len(set(pushed)) == PROCESSES
    store = Store(url)
    for full_hash in pushed:  # every blob intact
        blob = decode_blob(store.read_blob("MyFilter", full_hash), expected_hash=full_hash, expected_name="MyFilter")
        assert blob.header.name == "MyFilter"
    history = store.history("MyFilter")
    assert sorted(version.hash for version in history) == sorted(pushed)  # all 8 entries, none lost
    assert store.latest("MyFilter") in pushed  # one of them, whole (a corrupt ref raises IntegrityError)
    if backend == "file":  # no temporary file left behind by the atomic writes
        assert not [path for path in (tmp_path / "store").rglob(".tmp-*")]


IMPORT_PINNED = """
import importlib, json
import remoteimport
remoteimport.install(STORE, namespace="shared_remote")
cls = importlib.import_module("shared_remote.MyFilter@" + FULL).MyFilter
print(json.dumps({"apply": cls().apply(1), "module": cls.__module__}))
"""


def test_eight_processes_importing_one_pinned_class_through_a_cold_shared_cache(tmp_path: Path, s3_url: str) -> None:
    producer = Store(s3_url)
    namespace: dict = {}
    exec("class MyFilter:\n    def apply(self, x):\n        return x * 7\n", namespace)
    full_hash = remoteimport.push(namespace["MyFilter"], store=producer)
    cache = tmp_path / "shared-cache"
    code = f"STORE = {s3_url!r}\nFULL = {full_hash!r}\n" + IMPORT_PINNED
    results = run_together(tmp_path, code, {"REMOTEIMPORT_CACHE_DIR": str(cache)})
    assert results == [{"apply": 7, "module": f"shared_remote.MyFilter@{full_hash}"}] * PROCESSES
    entries = BlobCache(cache).entries()
    assert [Path(path).name for path, _, _ in entries] == [f"{full_hash}.blob"]  # one entry, no leftovers
    blobs = cache / "blobs"
    assert [path.name for path in blobs.rglob("*") if path.is_file()] == [f"{full_hash}.blob"]
    # and one re-hash record (tests/test_rehash_once.py), whichever process wrote it last
    assert len([path for path in (cache / "rehashed").rglob("*") if path.is_file()]) == 1
    assert BlobCache(cache).get("MyFilter", full_hash) is not None  # and it verifies


THREADS = 40
PINNED_VERSIONS = 20

# 40 threads of one fresh interpreter import 20 pinned versions at once; each payload imports logging (its module
# does), so one thread runs logging's top-level code while the others log their phases.
IMPORT_IN_THREADS = """
import importlib, json, sys, threading
import remoteimport
store, hashes = sys.argv[1], sys.argv[2].split(",")
remoteimport.install(store, namespace="threaded_remote")
logging_before = "logging" in sys.modules
start = threading.Barrier(THREADS)
errors = []
def work(index):
    start.wait()
    try:
        importlib.import_module(f"threaded_remote.MyFilter@{hashes[index % len(hashes)]}").MyFilter().apply(1)
    except BaseException as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
threads = [threading.Thread(target=work, args=(index,)) for index in range(THREADS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"logging_before": logging_before, "errors": errors}))
"""


def test_forty_threads_importing_pinned_versions_while_one_of_them_imports_logging(tmp_path: Path) -> None:
    """A thread's payload importing logging while the others record their phases: ``_metrics`` must not take
    the half-imported module from ``sys.modules`` (it failed 18-38 of 40 imports in every interpreter)."""
    store = Store(tmp_path / "store")
    hashes = []
    for version in range(PINNED_VERSIONS):
        path = tmp_path / f"logged_filter_{version}.py"
        path.write_text(
            "import logging\n\n\nclass MyFilter:\n"
            f"    version = {version}\n\n"
            "    def apply(self, x):\n"
            "        logging.getLogger(__name__).debug('apply')\n"
            "        return x + self.version\n"
        )
        spec = importlib.util.spec_from_file_location(f"logged_filter_{version}", path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[spec.name] = module  # type: ignore[union-attr]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        hashes.append(remoteimport.push(module.MyFilter, store=store))
    env = {key: value for key, value in os.environ.items() if not key.startswith("REMOTEIMPORT_")}
    code = f"THREADS = {THREADS}\n" + IMPORT_IN_THREADS
    for attempt in range(5):  # a race: several fresh interpreters, every one must import all 40
        run = subprocess.run(
            [sys.executable, "-c", code, str(store.root), ",".join(hashes)],
            env=env,
            cwd=tmp_path / "store",
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert run.returncode == 0, run.stderr
        result = json.loads(run.stdout.strip().splitlines()[-1])
        assert result["logging_before"] is False  # the control: logging really is imported by the threads
        assert result["errors"] == [], f"attempt {attempt}: {len(result['errors'])} of {THREADS} failed"
