"""``push_all`` of many classes (issue 24): chunks of ``registry.PUSH_ALL_CHUNK`` classes, each version costing
the requests of a push in the order of a push, and memory that does not grow with the number of classes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from backends import Request, S3Server
from sample_classes import make_filter

import remoteimport
from remoteimport import registry
from remoteimport.errors import PushError
from remoteimport.store import Store

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def classes(monkeypatch: pytest.MonkeyPatch) -> dict[str, type]:
    """40 persisted classes (and only those), pushed in chunks of 16: three chunks, the last one short."""
    monkeypatch.setattr(registry, "_PERSISTED", {})
    monkeypatch.setattr(registry, "PUSH_ALL_CHUNK", 16)
    made = {f"Scale{index:03d}": make_filter(f"scale-{uuid.uuid4().hex[:8]}-{index}") for index in range(40)}
    for name, cls in made.items():
        remoteimport.persist(name=name)(cls)
    return made


def _what(request: Request, name: str) -> str:
    """``GET blob``, ``PUT history``, ``PUT latest`` ...: a request of the version ``name``, by what it touches."""
    if request.path.endswith(".blob"):
        return f"{request.method} blob"
    if f"/refs/{name}/history/" in request.path:
        return f"{request.method} history"
    if request.path.endswith(f"/refs/{name}/latest"):
        return f"{request.method} latest"
    if request.method == "HEAD":
        return "HEAD"
    return f"{request.method} {request.path}"


def _of(log: list[Request], name: str) -> list[str]:
    return [_what(request, name) for request in log if f"/{name}/" in request.path]


def test_every_version_costs_a_push_in_a_push_order_in_every_chunk(
    s3_server: S3Server, s3_url: str, classes: dict[str, type]
) -> None:
    store = Store(s3_url)
    with s3_server.counting() as log:
        pushed = remoteimport.push_all(store=store)
    assert pushed == {name: remoteimport.class_hash(cls) for name, cls in classes.items()}
    for name in classes:  # the blob is complete before its history entry, which is there before `latest` moves
        assert _of(log, name) == ["GET blob", "PUT blob", "PUT history", "PUT latest"], name
    assert len(log) == 4 * len(classes), [str(request) for request in log]
    assert s3_server.max_in_flight > 1  # the requests of a step overlap (and a chunk's writes the next one's reads)
    with s3_server.counting() as log:
        assert remoteimport.push_all(store=store) == pushed  # unchanged: a blob read and a `latest` read each
    for name in classes:
        assert _of(log, name) == ["GET blob", "GET latest"], name
    assert len(log) == 2 * len(classes)
    assert store.latest_many(list(classes)) == pushed


def test_a_failure_stops_at_its_chunk_and_the_chunks_before_are_complete(
    tmp_path: Path, classes: dict[str, type], monkeypatch: pytest.MonkeyPatch
) -> None:
    names = sorted(classes)
    failing = classes[names[20]]  # in the second chunk
    capture_class = registry.capture_class

    def refusing(cls: type, *, path: str) -> object:
        if cls is failing:
            raise PushError(f"cannot push {path}: refused by the test")
        return capture_class(cls, path=path)

    monkeypatch.setattr(registry, "capture_class", refusing)
    store = Store(str(tmp_path / "store"))
    with pytest.raises(PushError, match="refused by the test"):
        remoteimport.push_all(store=store)
    latest = store.latest_many(names)
    assert all(latest[name] == remoteimport.class_hash(classes[name]) for name in names[:16])
    assert all(latest[name] is None for name in names[16:])
    assert not any(store.has_blob(name, remoteimport.class_hash(classes[name])) for name in names[16:])
    assert all(len(store.history(name)) == 1 for name in names[:16])
    monkeypatch.setattr(registry, "capture_class", capture_class)
    assert remoteimport.push_all(store=store) == {name: remoteimport.class_hash(cls) for name, cls in classes.items()}
    assert all(len(store.history(name)) == 1 for name in names)  # pushing again completed the rest only


# Classes that each hold 100 KB (their payload): pushing 400 of them holds 40 MB of blobs (and 40 MB of payloads)
# when every blob is made before the first is written; in chunks of 8, two chunks. Peak RSS (which only grows) is
# measured in a fresh interpreter, from when the classes are made (the most it has held so far) to the end of the
# push. Seen here: the old push_all grew by 79 MB (155 MB for 400 classes of 200 KB: with the number of classes),
# this one by 14 MB (allocator slack, the same for 200 or 400 classes).
MEMORY = """
import gc, json, resource, sys
import remoteimport
from remoteimport import registry

registry.PUSH_ALL_CHUNK = 8
remoteimport.persist(name="Light")(type("Light", (), {"apply": lambda self, x: x}))
remoteimport.push_all(store=sys.argv[1])  # every import and cache of a push in place
for index in range(400):
    namespace = {"weights": bytes([index % 256]) * 100_000, "apply": lambda self, x: x + len(self.weights)}
    remoteimport.persist(name=f"Heavy{index:03d}")(type(f"Heavy{index:03d}", (), namespace))
gc.collect()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
pushed = remoteimport.push_all(store=sys.argv[1])
grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"pushed": len(pushed), "grew_mb": grew / (1024 * 1024 if sys.platform == "darwin" else 1024)}))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="resource.getrusage is POSIX")
def test_memory_does_not_grow_with_the_number_of_classes(tmp_path: Path) -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("REMOTEIMPORT_")}
    environment["PYTHONPATH"] = str(REPO_ROOT)
    # Started by a small interpreter in between: a process's peak RSS starts at its parent's RSS (Linux keeps it
    # across fork and exec), and this test process may be larger than anything the push does.
    launcher = "import subprocess, sys; sys.exit(subprocess.call([sys.executable, *sys.argv[1:]]))"
    done = subprocess.run(
        [sys.executable, "-c", launcher, "-c", textwrap.dedent(MEMORY), str(tmp_path / "store")],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["pushed"] == 401
    assert measured["grew_mb"] < 40, measured  # far from both: these machines are noisy
