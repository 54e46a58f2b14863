"""`doctor`: every version loaded in a fresh interpreter; what passes digest checks but does not load is damaged."""

from __future__ import annotations

import json
import os
import pickle
import time
import uuid
from pathlib import Path

import pytest
from sample_classes import make_filter
from test_repair import reseal

import remoteimport
from remoteimport.blob import decode_blob
from remoteimport.capture import capture_class
from remoteimport.cli import main
from remoteimport.doctor import doctor
from remoteimport.errors import StoreError
from remoteimport.store import Store


class _Call:
    """Unpickles by calling ``function(*args)``: a payload that crashes or hangs the interpreter loading it."""

    def __init__(self, function: object, *args: object) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (self.function, self.args)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


def _resealed_as_another_class(store: Store) -> str:
    """A version whose blob is intact (digest, name, hash) but holds another class: it cannot load."""
    full_hash = remoteimport.push(make_filter(uuid.uuid4().hex), store=store)
    other = capture_class(make_filter("another version"), path="MyFilter")
    reseal(store, "MyFilter", full_hash, other.payload, source=other.source)
    return full_hash


def _planted(store: Store, name: str, payload: object) -> str:
    full_hash = remoteimport.push(make_filter(uuid.uuid4().hex), store=store, name=name)
    reseal(store, name, full_hash, pickle.dumps(payload))
    return full_hash


def test_a_resealed_blob_passes_digest_checks_but_is_damaged(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    healthy = remoteimport.push(make_filter(uuid.uuid4().hex), store=store)
    damaged = _resealed_as_another_class(store)
    # What `verify` checks (digest, name, hash) passes for both ...
    for full_hash in (healthy, damaged):
        decode_blob(store.read_blob("MyFilter", full_hash), expected_hash=full_hash, expected_name="MyFilter")
    assert main(["verify", "--store", store.root]) == 0
    capsys.readouterr()

    report = {outcome.hash: outcome for outcome in doctor(store)}

    # ... but only one of them loads in a fresh interpreter.
    assert report[healthy].state == "healthy"
    assert report[damaged].state == "damaged" and "re-hashes to" in report[damaged].reason
    assert len(report) == 2


def test_the_command_exits_1_and_prints_the_report(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    healthy = remoteimport.push(make_filter(uuid.uuid4().hex), store=store)
    damaged = _resealed_as_another_class(store)

    assert main(["doctor", "--store", store.root]) == 1
    captured = capsys.readouterr()
    assert "DAMAGED" in captured.out and "healthy" in captured.out and "1 of 2 versions" in captured.err

    assert main(["doctor", "--json", "--store", store.root]) == 1
    document = json.loads(capsys.readouterr().out)
    states = {entry["hash"]: entry["state"] for entry in document["versions"]}
    assert states == {healthy: "healthy", damaged: "damaged"} and document["damaged"] == 1

    assert main(["doctor", f"MyFilter@{healthy[:8]}", "--store", store.root]) == 0
    assert "loads and re-hashes" in capsys.readouterr().out


def test_a_crashing_or_hanging_version_is_damaged_and_the_others_are_still_checked(store: Store) -> None:
    crash = _planted(store, "Crasher", _Call(os._exit, 3))
    hang = _planted(store, "Hanger", _Call(time.sleep, 120))
    healthy = remoteimport.push(make_filter(uuid.uuid4().hex), store=store)
    started = time.monotonic()

    report = {outcome.hash: outcome for outcome in doctor(store, timeout=3)}

    assert time.monotonic() - started < 60
    assert report[crash].state == "damaged" and "crashed (exit status 3)" in report[crash].reason
    assert report[hang].state == "damaged" and "timed out" in report[hang].reason
    assert report[healthy].state == "healthy"


def test_one_class_or_one_version(store: Store) -> None:
    first = remoteimport.push(make_filter(uuid.uuid4().hex), store=store)
    remoteimport.push(make_filter(uuid.uuid4().hex), store=store, name="Other")

    assert [outcome.hash for outcome in doctor(store, "MyFilter")] == [first]
    assert [outcome.state for outcome in doctor(store, "MyFilter", first[:8])] == ["healthy"]


def test_a_memory_store_cannot_be_checked_in_another_process(memory_store: Store) -> None:
    with pytest.raises(StoreError, match="only inside this process"):
        doctor(memory_store)


def test_an_s3_store(s3_url: str) -> None:
    store = Store(s3_url, cache=False)
    healthy = remoteimport.push(make_filter(uuid.uuid4().hex), store=store)
    damaged = _resealed_as_another_class(store)

    report = {outcome.hash: outcome.state for outcome in doctor(s3_url)}

    assert report == {healthy: "healthy", damaged: "damaged"}
