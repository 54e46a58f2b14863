"""Faults injected between the store and its backend (tests/backends.py: FaultyFileSystem), on ``memory://``
and on ``s3://`` (moto's server).

A push that fails part-way never leaves a ref pointing at a missing or partial blob, and pushing again
completes it; an import that fails says why and poisons nothing; transient errors are retried with bounded
backoff; a truncated or corrupted blob in the store is detected and never unpickled.
"""

from __future__ import annotations

import importlib
import os
import pickle
import sys
import time
import uuid
from pathlib import Path

import pytest
from backends import FaultyFileSystem
from sample_classes import make_filter

import remoteimport
from remoteimport import loader
from remoteimport.blob import decode_blob, encode_blob, make_header
from remoteimport.cache import BlobCache
from remoteimport.errors import IntegrityError, StoreUnreachableError
from remoteimport.store import Store


@pytest.fixture(params=["memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A store on a real backend whose filesystem is wrapped by a FaultyFileSystem (no faults yet)."""
    url = request.getfixturevalue("s3_url") if request.param == "s3" else f"memory://faults-{uuid.uuid4().hex}"
    store = Store(url, cache=BlobCache(tmp_path / "cache"))
    store.fs = FaultyFileSystem(store.fs)
    return store


def faults(store: Store) -> FaultyFileSystem:
    assert isinstance(store.fs, FaultyFileSystem)
    return store.fs


def assert_consistent(store: Store, name: str = "MyFilter") -> None:
    """Every ref (latest and each history entry) points at a complete, valid blob (faults healed first)."""
    faults(store).heal()
    pointed = [store.latest(name)] + [version.hash for version in store.history(name)]
    for full_hash in filter(None, pointed):
        decode_blob(store.read_blob(name, full_hash), expected_hash=full_hash, expected_name=name)


# -- transient errors -------------------------------------------------------------------------------------


def test_transient_errors_are_retried_with_bounded_backoff(store: Store) -> None:
    faults(store).fail_calls({1, 2, 4})  # the blob read twice, then the blob write once
    started = time.perf_counter()
    full_hash = remoteimport.push(make_filter(1), store=store)
    elapsed = time.perf_counter() - started
    calls = faults(store).calls
    assert [method for method, _ in calls] == ["cat_file"] * 3 + ["pipe_file"] * 2 + ["pipe_file"] * 2
    assert store.latest("MyFilter") == full_hash and elapsed < 1.0
    assert_consistent(store)


def test_a_store_that_stays_down_fails_after_a_bounded_number_of_attempts(store: Store) -> None:
    faults(store).fail_from(1)
    started = time.perf_counter()
    with pytest.raises(StoreUnreachableError) as caught:
        remoteimport.status(make_filter(2), store=store)
    assert time.perf_counter() - started < 1.0
    assert len(faults(store).calls) == store.retries + 1
    message = str(caught.value)
    assert store.url in message and f"after {store.retries + 1} attempts" in message and "injected fault" in message


def test_errors_that_are_not_transient_are_not_retried(store: Store) -> None:
    faults(store).fail_calls({1}, error=PermissionError)
    with pytest.raises(StoreUnreachableError, match="PermissionError"):
        remoteimport.status(make_filter(3), store=store)
    assert len(faults(store).calls) == 1


# -- pushes that fail part-way ----------------------------------------------------------------------------


def test_a_push_failing_at_any_step_leaves_no_dangling_ref_and_pushing_again_completes_it(store: Store) -> None:
    previous = remoteimport.push(make_filter(10), store=store)
    steps = len(faults(store).calls)  # a new version: 4 calls
    for step in range(1, steps + 1):
        cls = make_filter(f"step-{step}")
        faulty = faults(store)
        faulty.calls.clear()
        faulty.fail_from(step)  # the store goes down at this call and stays down
        with pytest.raises(StoreUnreachableError):
            remoteimport.push(cls, store=store)
        faulty.heal()
        latest = store.latest("MyFilter")
        assert latest in (previous, remoteimport.class_hash(cls))  # moved whole, or not at all
        assert_consistent(store)
        full_hash = remoteimport.push(cls, store=store)  # again, with the store back
        assert store.latest("MyFilter") == full_hash
        assert store.history("MyFilter")[0].hash == full_hash
        assert_consistent(store)
        previous = full_hash


def test_a_truncated_upload_is_never_pointed_at_nor_unpickled_and_pushing_again_repairs_it(
    store: Store, namespace: str, tmp_path: Path
) -> None:
    cls = make_filter(20)
    full_hash = remoteimport.class_hash(cls)
    faults(store).truncate_writes(".blob")
    with pytest.raises(StoreUnreachableError, match="cut after"):
        remoteimport.push(cls, store=store)
    faults(store).heal()
    partial = store.read_blob("MyFilter", full_hash)  # the half-written object is there ...
    with pytest.raises(IntegrityError):
        decode_blob(partial)
    assert store.latest("MyFilter") is None and store.history("MyFilter") == []  # ... and nothing points at it
    remoteimport.install(store, namespace=namespace)
    with pytest.raises(IntegrityError, match="truncated|header length|payload is"):
        importlib.import_module(f"{namespace}.MyFilter@{full_hash}")
    assert f"{namespace}.MyFilter@{full_hash}" not in sys.modules
    assert store.policy.cache.get("MyFilter", full_hash) is None
    assert remoteimport.push(cls, store=store) == full_hash  # sees the damaged blob and writes it whole
    assert_consistent(store)
    assert importlib.import_module(f"{namespace}.MyFilter@{full_hash}").MyFilter().apply(2) == 40


# -- imports that fail ------------------------------------------------------------------------------------


def test_a_failed_import_is_clear_and_poisons_nothing(store: Store, namespace: str) -> None:
    full_hash = remoteimport.push(make_filter(30), store=store)
    remoteimport.install(store, namespace=namespace)
    faults(store).fail_from(len(faults(store).calls) + 1)
    for attempt in [
        lambda: importlib.import_module(f"{namespace}.MyFilter@{full_hash}"),
        lambda: importlib.import_module(f"{namespace}.MyFilter@{full_hash[:8]}"),
        lambda: exec(f"from {namespace} import MyFilter", {}),
    ]:
        with pytest.raises(StoreUnreachableError) as caught:
            attempt()
        assert store.url in str(caught.value) and "Check the URL" in str(caught.value)
    assert not [name for name in sys.modules if name.startswith(namespace + ".")]
    assert not [key for key in loader._LOADED if key[0] == namespace]
    assert store.policy.cache.entries() == []
    faults(store).heal()
    assert importlib.import_module(f"{namespace}.MyFilter@{full_hash[:8]}").MyFilter().apply(1) == 30


def test_latency_does_not_reach_a_cached_import(store: Store, namespace: str) -> None:
    full_hash = remoteimport.push(make_filter(40), store=store)
    remoteimport.install(store, namespace=namespace)
    importlib.import_module(f"{namespace}.MyFilter@{full_hash}")
    for key in [key for key in loader._LOADED if key[0] == namespace]:
        del loader._LOADED[key]
    del sys.modules[f"{namespace}.MyFilter@{full_hash}"]
    faults(store).latency = 0.5
    faults(store).calls.clear()
    started = time.perf_counter()
    importlib.import_module(f"{namespace}.MyFilter@{full_hash}")
    assert faults(store).calls == [] and time.perf_counter() - started < 0.25


# -- damaged blobs in the store ---------------------------------------------------------------------------


class _PlantMarker:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.makedirs, (self.marker,))


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "appended bytes"])
def test_a_damaged_blob_in_the_store_is_never_unpickled(
    store: Store, namespace: str, tmp_path: Path, damage: str
) -> None:
    full_hash = remoteimport.class_hash(make_filter(50))
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_PlantMarker(str(marker)))
    data = encode_blob(make_header("MyFilter", full_hash, payload), payload)
    damaged = {
        "truncated": data[:-5],
        "flipped byte": data[:-1] + bytes([data[-1] ^ 1]),
        "appended bytes": data + b"\x00",
    }[damage]
    store.write_blob("MyFilter", full_hash, damaged)
    store.set_latest("MyFilter", full_hash)  # as if an attacker or a broken disk had done it
    remoteimport.install(store, namespace=namespace)
    for attempt in [
        lambda: importlib.import_module(f"{namespace}.MyFilter@{full_hash}"),
        lambda: exec(f"from {namespace} import MyFilter", {}),
    ]:
        with pytest.raises(IntegrityError) as caught:
            attempt()
        assert full_hash in str(caught.value) and "NOT unpickled" in str(caught.value)
    assert not marker.exists() and store.policy.cache.entries() == []
