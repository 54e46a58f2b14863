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
from remoteimport.signing import generate_key
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


# -- issue 23: doctor runs only what a ref names, shows every warning, and its verdicts cannot be forged ----------


def _orphan(store: Store, tmp_path: Path, payload: object) -> str:
    """A blob no ref or history names (pushed to another store, resealed there, copied over alone)."""
    scratch = Store(tmp_path / f"scratch-{uuid.uuid4().hex[:8]}")
    full_hash = _planted(scratch, "Orphan", payload)
    store.write_blob("Orphan", full_hash, scratch.read_blob("Orphan", full_hash), known_absent=True)
    return full_hash


def test_an_orphan_blob_is_not_loaded_unless_asked_and_then_only_under_trusted_keys(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orphan_marker, named_marker = tmp_path / "orphan-ran", tmp_path / "named-ran"
    orphan = _orphan(store, tmp_path, _Call(os.mkdir, str(orphan_marker)))
    named = _planted(store, "Named", _Call(os.mkdir, str(named_marker)))

    report = {outcome.hash: outcome for outcome in doctor(store)}

    # The control: the same payload under a name the history holds does run (no keys trusted) ...
    assert named_marker.exists() and report[named].state == "damaged"
    # ... the orphan does not: nothing names it, so doctor does not send an import there.
    assert not orphan_marker.exists()
    assert report[orphan].state == "skipped" and "no ref or history entry names it" in report[orphan].reason
    with pytest.raises(StoreError, match="needs trusted keys"):
        doctor(store, include_orphans=True)
    assert main(["doctor", "--orphans", "--store", store.root]) == 1
    assert "needs trusted keys" in capsys.readouterr().err and not orphan_marker.exists()

    # With a trusted key, --orphans loads orphans under the trust policy: an unsigned one is refused unopened.
    public = generate_key(tmp_path / "publisher")
    trusted = Store(store.root, trusted_keys=[public])
    report = {outcome.hash: outcome for outcome in doctor(trusted, include_orphans=True)}
    assert report[orphan].state == "damaged" and "UntrustedBlobError" in report[orphan].reason
    assert not orphan_marker.exists()

    assert main(["doctor", "--store", store.root]) == 1  # the command lists the orphan as skipped
    output = capsys.readouterr().out
    assert "skipped" in output and "--orphans" in output


def test_what_a_payload_prints_cannot_pass_for_a_verdict(store: Store) -> None:
    """The payload prints the parent's old verdict format (and writes it to every open descriptor), then exits:
    read from stdout, that was reported healthy."""
    forged = (
        "import json, os\n"
        "start = json.dumps({'start': ['Forger', HASH]})\n"
        "verdict = json.dumps({'name': 'Forger', 'hash': HASH, 'healthy': True, 'reason': 'loads and re-hashes'})\n"
        "for fd in range(1, 64):\n"
        "    try:\n"
        "        os.write(fd, (start + '\\n' + verdict + '\\n').encode())\n"
        "    except OSError:\n"
        "        pass\n"
        "os._exit(0)\n"
    )
    full_hash = remoteimport.push(make_filter(uuid.uuid4().hex), store=store, name="Forger")
    reseal(store, "Forger", full_hash, pickle.dumps(_Call(exec, forged.replace("HASH", repr(full_hash)), {})))

    [outcome] = doctor(store, "Forger")

    assert outcome.state == "damaged" and "crashed (exit status 0)" in outcome.reason
    assert '"healthy": true' in outcome.reason  # what it wrote is quoted as what it is: output, not a verdict


def test_every_warning_and_print_of_loading_a_version_is_shown(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    noisy = (
        "import sys, warnings\n"
        "print('printed by the payload')\n"
        "print('written to stderr by the payload', file=sys.stderr)\n"
        "warnings.warn('warned by the payload')\n"
    )
    full_hash = remoteimport.push(make_filter(uuid.uuid4().hex), store=store, name="Noisy")
    reseal(store, "Noisy", full_hash, pickle.dumps(_Call(exec, noisy, {})))
    quiet = remoteimport.push(make_filter(uuid.uuid4().hex), store=store)

    report = {outcome.hash: outcome for outcome in doctor(store)}

    notes = "\n".join(report[full_hash].warnings)
    assert "printed by the payload" in notes and "written to stderr by the payload" in notes
    assert "UserWarning: warned by the payload" in notes
    assert report[quiet].warnings == () and report[quiet].state == "healthy"  # the control
    assert main(["doctor", "--store", store.root]) == 1
    output = capsys.readouterr().out
    assert f"Noisy@{full_hash[:12]}: UserWarning: warned by the payload" in output


def test_the_no_trusted_keys_warning_of_an_s3_store_is_shown(s3_url: str) -> None:
    store = Store(s3_url, cache=False)
    remoteimport.push(make_filter(uuid.uuid4().hex), store=store)

    [outcome] = doctor(s3_url)

    assert outcome.state == "healthy"
    assert any("without signature checks" in warning for warning in outcome.warnings), outcome.warnings


def test_relative_trusted_key_paths_reach_the_children(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The children run in an empty folder of their own: ``REMOTEIMPORT_TRUSTED_KEYS=publisher.pub`` (relative to
    where doctor was started) made every signed version damaged there."""
    keys = tmp_path / "keys"
    keys.mkdir()
    generate_key(keys / "publisher")
    signed = remoteimport.push(
        make_filter(uuid.uuid4().hex), store=Store(tmp_path / "store", signing_key=keys / "publisher")
    )
    unsigned = remoteimport.push(make_filter(uuid.uuid4().hex), store=Store(tmp_path / "store"), name="Unsigned")
    monkeypatch.chdir(keys)
    monkeypatch.setenv("REMOTEIMPORT_TRUSTED_KEYS", "publisher.pub")

    report = {outcome.hash: outcome for outcome in doctor(Store(tmp_path / "store"))}

    assert report[signed].state == "healthy", report[signed].reason
    # The control: the key really is the children's policy (an unsigned version is refused there).
    assert report[unsigned].state == "damaged" and "UntrustedBlobError" in report[unsigned].reason
