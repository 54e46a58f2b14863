"""A stored blob that no longer loads is replaced by ``push`` with a verified one, and the history says so.

A blob can be intact (its digest checks out) and still not load: written by a release with a loader bug (as
with cloudpickle 3.1.3), or holding a payload that re-hashes to another class. Pushing the class again must
replace it — never leave it there forever behind "unchanged" — but never unpickle or replace a blob this
host's trust policy refuses.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from sample_classes import forget_loaded, make_filter

import remoteimport
from remoteimport import registry, signing
from remoteimport.blob import decode_blob, encode_blob, make_header
from remoteimport.capture import capture_class
from remoteimport.errors import IntegrityError, UntrustedBlobError
from remoteimport.store import Store


class _Plant:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.marker,))


def reseal(store: Store, name: str, full_hash: str, payload: bytes, **header_options: object) -> None:
    """Overwrite the stored blob of ``name@full_hash`` with ``payload`` under a header whose digest matches."""
    header = make_header(name, full_hash, payload, **header_options)  # type: ignore[arg-type]
    store.write_blob(name, full_hash, encode_blob(header, payload), known_absent=True)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


def test_a_stored_blob_that_re_hashes_to_another_class_is_replaced(store: Store) -> None:
    cls = make_filter(uuid.uuid4().hex)
    full_hash = remoteimport.push(cls, store=store)
    other = capture_class(make_filter("another version"), path="MyFilter")
    reseal(store, "MyFilter", full_hash, other.payload, source=other.source)  # intact digest, wrong class
    forget_loaded(name="MyFilter")
    with pytest.raises(IntegrityError, match="re-hashes to"):
        remoteimport.get_version("MyFilter", full_hash, store=store)

    result = registry.publish(cls, store=store)

    assert (result.hash, result.action) == (full_hash, "repaired")
    assert "does not load on this host" in result.detail and "re-hashes to" in result.detail
    assert [(v.hash, v.action) for v in remoteimport.versions("MyFilter", store=store)] == [
        (full_hash, "repair"),
        (full_hash, "push"),
    ]
    forget_loaded(name="MyFilter")
    assert remoteimport.get_version("MyFilter", full_hash, store=store)().apply(2) == 2 * cls.factor
    again = registry.publish(cls, store=store)
    assert again.action == "unchanged" and len(remoteimport.versions("MyFilter", store=store)) == 2


def test_a_stored_blob_that_cannot_be_unpickled_is_replaced_by_push_all(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "_PERSISTED", {})
    cls = remoteimport.persist(make_filter(uuid.uuid4().hex))
    full_hash = remoteimport.push(cls, store=store)
    broken = b"\x80\x04cno_such_module_anywhere\nthing\n."  # a pickle naming a module no host has
    reseal(store, "MyFilter", full_hash, broken)

    assert remoteimport.push_all(store=store) == {"MyFilter": full_hash}

    history = remoteimport.versions("MyFilter", store=store)
    assert [v.action for v in history] == ["repair", "push"]
    forget_loaded(name="MyFilter")
    assert remoteimport.get_version("MyFilter", full_hash, store=store)().apply(3) == 3 * cls.factor


def test_a_blob_this_host_does_not_trust_is_neither_unpickled_nor_replaced(store: Store, tmp_path: Path) -> None:
    cls = make_filter(uuid.uuid4().hex)
    full_hash = remoteimport.push(cls, store=store)
    stranger = signing.load_signing_key(_keypair(tmp_path, "stranger")[0])
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Plant(marker))
    header = stranger.sign(make_header("MyFilter", full_hash, payload))
    store.write_blob("MyFilter", full_hash, encode_blob(header, payload), known_absent=True)
    before = store.read_blob("MyFilter", full_hash)
    trusting = store.with_trust([_keypair(tmp_path, "publisher")[1]])

    result = registry.publish(cls, store=trusting)

    assert result.action == "unchanged" and not marker.exists()
    assert store.read_blob("MyFilter", full_hash) == before
    with pytest.raises(UntrustedBlobError):
        remoteimport.get_version("MyFilter", full_hash, store=trusting)
    assert not marker.exists()


def _keypair(folder: Path, name: str) -> tuple[Path, Path]:
    private = folder / name
    if not private.exists():
        signing.generate_key(private)
    return private, Path(f"{private}.pub")


def test_cli_push_says_it_repaired_and_the_blob_then_loads_in_a_fresh_interpreter(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "repairmod.py").write_text(
        textwrap.dedent(
            """
            class Repaired:
                def apply(self, x):
                    return x + 41
            """
        ),
        encoding="utf-8",
    )
    store_dir = tmp_path / "store"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REMOTEIMPORT_")}

    def cli(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "remoteimport", *arguments, "--store", str(store_dir)],
            cwd=project,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    first = cli("push", "repairmod:Repaired", "--json")
    assert first.returncode == 0, first.stderr
    full_hash = json.loads(first.stdout)["hash"]
    store = Store(store_dir)
    genuine = decode_blob(store.read_blob("Repaired", full_hash)).header
    reseal(store, "Repaired", full_hash, b"\x80\x04cno_such_module_anywhere\nthing\n.", source=genuine.source)

    again = cli("push", "repairmod:Repaired")
    assert again.returncode == 0, again.stderr
    assert "repaired: the stored copy of this version was replaced by a verified one" in again.stdout
    assert "no_such_module_anywhere" in again.stdout

    (project / "repairmod.py").unlink()
    code = (
        f"import remoteimport; remoteimport.install({str(store_dir)!r}); "
        "from labchain_remote import Repaired; print(Repaired().apply(1))"
    )
    loaded = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["42"]
    log = cli("log", "Repaired")
    assert "repair" in log.stdout


def test_a_stored_blob_made_for_another_python_is_not_replaced(store: Store) -> None:
    # Pushing the same class from another Python must not take the version from the hosts it serves.
    cls = make_filter(uuid.uuid4().hex)
    full_hash = remoteimport.push(cls, store=store)
    blob = decode_blob(store.read_blob("MyFilter", full_hash))
    relabelled = encode_blob(blob.header.replace(python="3.99"), blob.payload)
    store.write_blob("MyFilter", full_hash, relabelled, known_absent=True)

    assert registry.publish(cls, store=store).action == "unchanged"
    assert store.read_blob("MyFilter", full_hash) == relabelled
