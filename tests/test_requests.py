"""The request budget, counted where it is paid: on moto's S3 server (real HTTP; tests/backends.py).

| operation                                  | requests |
| ------------------------------------------ | -------- |
| cold pinned import by full hash            | 1        |
| pinned import by prefix                    | 2        |
| `from ns import X` (latest)                | <= 2     |
| warm pinned import (blob in the cache)     | 0        |
| `status`                                   | 1        |
| push of a new version                      | <= 4     |
| push of an unchanged class                 | <= 2, no blob upload |
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from backends import Request, S3Server, free_port
from sample_classes import make_filter

import remoteimport
from remoteimport import registry
from remoteimport.cache import BlobCache
from remoteimport.store import Store


@pytest.fixture
def store(s3_url: str, tmp_path: Path) -> Store:
    """An empty S3 store with its own, cold blob cache."""
    return Store(s3_url, cache=BlobCache(tmp_path / "cache"))


@pytest.fixture
def namespace(store: Store) -> Iterator[str]:
    name = f"budget_{uuid.uuid4().hex[:12]}"
    remoteimport.install(store, namespace=name)
    yield name
    remoteimport.uninstall(name)


def methods(log: list[Request]) -> list[str]:
    return [request.method for request in log]


def blob_puts(log: list[Request]) -> list[Request]:
    return [request for request in log if request.method == "PUT" and request.path.endswith(".blob")]


# -- publishing -------------------------------------------------------------------------------------------


def test_push_of_a_new_version_costs_four_requests(s3_server: S3Server, store: Store) -> None:
    with s3_server.counting() as log:
        remoteimport.push(make_filter(1), store=store)
    assert len(log) <= 4, [str(r) for r in log]
    assert methods(log) == ["GET", "PUT", "PUT", "PUT"]  # blob absent, blob, latest, history entry
    assert len(blob_puts(log)) == 1


def test_push_of_an_unchanged_class_costs_two_requests_and_uploads_nothing(s3_server: S3Server, store: Store) -> None:
    cls = make_filter(2)
    remoteimport.push(cls, store=store)
    with s3_server.counting() as log:
        remoteimport.push(cls, store=store)
    assert len(log) <= 2 and methods(log) == ["GET", "GET"], [str(r) for r in log]  # the blob, then latest


def test_pushing_an_older_version_again_only_moves_latest(s3_server: S3Server, store: Store) -> None:
    v1, v2 = make_filter(3), make_filter(4)
    remoteimport.push(v1, store=store)
    remoteimport.push(v2, store=store)
    with s3_server.counting() as log:
        remoteimport.push(v1, store=store)
    # GET blob, GET latest, the blob's age (an old blob is written again before refs name it, so a gc racing the
    # push cannot take it: tests/test_promote_delete_gc.py), PUT history, PUT latest; no upload of a young blob
    assert len(log) <= 5 and not blob_puts(log)
    assert [v.hash for v in remoteimport.versions("MyFilter", store=store)][0] == remoteimport.class_hash(v1)


def test_status_costs_one_request(s3_server: S3Server, store: Store) -> None:
    cls = make_filter(5)
    remoteimport.push(cls, store=store)
    with s3_server.counting() as log:
        assert remoteimport.status(cls, store=store) == "synced"
    assert methods(log) == ["GET"] and log[0].path.endswith("/refs/MyFilter/latest")


# -- importing --------------------------------------------------------------------------------------------


def test_cold_pinned_import_by_full_hash_costs_one_request(s3_server: S3Server, store: Store, namespace: str) -> None:
    full_hash = remoteimport.push(make_filter(6), store=store)
    with s3_server.counting() as log:
        cls = importlib.import_module(f"{namespace}.MyFilter@{full_hash}").MyFilter
    assert cls().apply(2) == 12
    assert methods(log) == ["GET"] and log[0].path.endswith(f"{full_hash}.blob")


def test_pinned_import_by_prefix_costs_one_listing_and_one_read(
    s3_server: S3Server, store: Store, namespace: str
) -> None:
    full_hash = remoteimport.push(make_filter(7), store=store)
    with s3_server.counting() as log:
        importlib.import_module(f"{namespace}.MyFilter@{full_hash[:10]}")
    assert len(log) == 2, [str(r) for r in log]
    listing, read = log
    assert "list-type=2" in listing.query and f"blobs%2FMyFilter%2F{full_hash[:2]}%2F" in listing.query
    assert read.path.endswith(f"{full_hash}.blob")


def test_latest_costs_at_most_two_requests(s3_server: S3Server, store: Store, namespace: str) -> None:
    full_hash = remoteimport.push(make_filter(8), store=Store(store.url))  # pushed elsewhere: not memoized here
    with s3_server.counting() as log:
        exec(f"from {namespace} import MyFilter", {})  # looks MyFilter up twice: one `latest` read serves both
    assert len(log) <= 2, [str(r) for r in log]
    assert log[0].path.endswith("/refs/MyFilter/latest") and log[1].path.endswith(f"{full_hash}.blob")


def test_a_loaded_class_costs_nothing_again(s3_server: S3Server, store: Store, namespace: str) -> None:
    full_hash = remoteimport.push(make_filter(9), store=store)
    importlib.import_module(f"{namespace}.MyFilter@{full_hash}")
    with s3_server.counting() as log:
        importlib.import_module(f"{namespace}.MyFilter@{full_hash}")
        remoteimport.get_version("MyFilter", full_hash, store=store, namespace=namespace)
    assert log == []


def test_warm_pinned_import_costs_nothing_and_does_not_import_the_backend_even_offline(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    """Three fresh interpreters share one cache: the first fetches, the second is served from the cache with
    no request and without importing s3fs, the third does the same with the store unreachable."""
    full_hash = remoteimport.push(make_filter(10), store=s3_url)
    cache = tmp_path / "shared-cache"
    code = f"""
        import importlib, json, sys, time
        import remoteimport
        remoteimport.install({s3_url!r}, namespace="offline_remote")
        started = time.perf_counter()
        cls = importlib.import_module("offline_remote.MyFilter@{full_hash}").MyFilter
        print(json.dumps({{"apply": cls().apply(1), "s3fs": "s3fs" in sys.modules,
                          "ms": (time.perf_counter() - started) * 1000}}))
    """

    def run(**environment: str) -> dict:
        env = {**_environment(), "REMOTEIMPORT_CACHE_DIR": str(cache), **environment}
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    with s3_server.counting() as cold_log:
        cold = run()
    with s3_server.counting() as warm_log:
        warm = run()
    offline = run(AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    assert len(cold_log) == 1 and cold["s3fs"] is True
    assert warm_log == [] and warm["s3fs"] is False and offline["s3fs"] is False
    assert cold["apply"] == warm["apply"] == offline["apply"] == 10


# -- listing ----------------------------------------------------------------------------------------------


def test_ls_and_log_page(s3_server: S3Server, store: Store) -> None:
    for index in range(12):
        remoteimport.push(make_filter(index), store=store, name=f"Filter{index:02d}")
    for index in range(30):
        remoteimport.push(make_filter(100 + index), store=store, name="Busy")
    with s3_server.counting() as log:
        page = store.names(after="Filter03", limit=5)
        pointers = store.latest_many(page)
    assert page == ["Filter04", "Filter05", "Filter06", "Filter07", "Filter08"] and None not in pointers.values()
    assert len(log) == 1 + 5  # one listing, then a read per name on the page (not per name in the store)
    with s3_server.counting() as log:
        newest = store.history("Busy", limit=5)
        older = store.history("Busy", limit=5, offset=5)
    assert len(log) == 2 * (1 + 5)  # a listing and five reads per page, not thirty
    assert [v.hash for v in newest + older] == [v.hash for v in store.history("Busy")[:10]]
    assert newest[0].hash == store.latest("Busy")
    assert len(remoteimport.versions("Busy", store=store)) == 30


def test_push_all_runs_the_requests_concurrently(
    s3_server: S3Server, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "_PERSISTED", {})
    classes = {f"Batch{index:03d}": make_filter(f"batch-{index}") for index in range(40)}
    for name, cls in classes.items():
        remoteimport.persist(name=name)(cls)
    with s3_server.counting() as log:
        pushed = remoteimport.push_all(store=store)
    assert pushed == {name: remoteimport.class_hash(cls) for name, cls in classes.items()}
    assert len(log) <= 4 * len(classes) and len(blob_puts(log)) == len(classes)
    assert s3_server.max_in_flight > 1  # the server saw requests overlap
    with s3_server.counting() as log:
        assert remoteimport.push_all(store=store) == pushed  # unchanged: reads only
    assert len(log) <= 2 * len(classes) and set(methods(log)) == {"GET"}
    assert [store.latest(name) for name in classes] == list(pushed.values())


def _environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("REMOTEIMPORT_")}


def test_the_cli_pages_ls_and_log(s3_server: S3Server, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    from remoteimport import cli

    for index in range(8):
        remoteimport.push(make_filter(200 + index), store=store, name=f"Paged{index}")
        remoteimport.push(make_filter(300 + index), store=store, name="Paged0")
    with s3_server.counting() as log:
        assert cli.main(["ls", "--store", store.url, "--limit", "3", "--after", "Paged1", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [entry["name"] for entry in listed["classes"]] == ["Paged2", "Paged3", "Paged4"]
    # A listing, then per class on the page: latest, its blob's header, its tags listing (two LISTs: s3fs checks
    # whether an empty tags/ prefix exists by listing its parent).
    assert listed["next_after"] == "Paged4" and len(log) == 1 + 3 * 4
    with s3_server.counting() as log:
        assert cli.main(["log", "Paged0", "--store", store.url, "--limit", "4", "--offset", "2"]) == 0
    text = capsys.readouterr().out
    assert len(text.splitlines()) == 2 + 4 + 1 and "more: remoteimport log Paged0 --offset 6" in text
    assert len(log) == 1 + 5  # a listing, then the page and one entry more (is there a next page?)
