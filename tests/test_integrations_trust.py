"""Issue 23: a client with no trusted keys (what the Dask plugin ships when it has none: ``Served(trusted_keys=())``)
never weakens a worker's own policy. The worker trusts a key; an unsigned blob in the store would create a marker
directory when unpickled; it must be refused, and a worker with no keys of its own (the control) does run it."""

from __future__ import annotations

import importlib
import os
import pickle
from pathlib import Path

import pytest

import remoteimport
from remoteimport import signing
from remoteimport.blob import encode_blob, make_header
from remoteimport.errors import InheritedSettingsError, UntrustedBlobError
from remoteimport.integrations import Served
from remoteimport.store import Store


class _MakeDirectory:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.makedirs, (self.path,))


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Store, str, Path]:
    marker = tmp_path / "ATTACKER-CODE-RAN"
    store = Store(tmp_path / "store")
    payload = pickle.dumps(_MakeDirectory(str(marker)))
    full_hash = "ab" * 32
    store.write_blob("Evil", full_hash, encode_blob(make_header("Evil", full_hash, payload), payload))
    store.set_latest("Evil", full_hash)
    return store, full_hash, marker


def test_an_empty_key_list_from_a_client_keeps_the_workers_own_keys(
    tmp_path: Path, planted: tuple[Store, str, Path], namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, full_hash, marker = planted
    public = signing.generate_key(tmp_path / "publisher")
    monkeypatch.setenv("REMOTEIMPORT_TRUSTED_KEYS", public)  # the worker's own policy

    Served.resolve(store, namespace, lock=False, trusted_keys=[]).serve()  # the Dask plugin, client without keys

    with pytest.raises(UntrustedBlobError, match="unsigned"):
        importlib.import_module(f"{namespace}.Evil@{full_hash}")
    assert not marker.exists()

    # Control: a worker with no keys of its own runs what the store holds.
    remoteimport.uninstall(namespace)
    monkeypatch.delenv("REMOTEIMPORT_TRUSTED_KEYS")
    Served.resolve(store, namespace, lock=False, trusted_keys=[]).serve()
    with pytest.raises(remoteimport.RemoteImportError):
        importlib.import_module(f"{namespace}.Evil@{full_hash}")  # not a class: refused, but only after unpickling
    assert marker.exists()


def test_client_keys_are_narrowed_to_those_the_worker_trusts(tmp_path: Path, namespace: str, monkeypatch) -> None:
    mine = signing.generate_key(tmp_path / "mine")
    theirs = signing.generate_key(tmp_path / "theirs")
    monkeypatch.setenv("REMOTEIMPORT_TRUSTED_KEYS", mine)
    with pytest.raises(InheritedSettingsError, match="both"):
        Served.resolve(tmp_path / "store", namespace, lock=False, trusted_keys=[theirs]).serve()
    Served.resolve(tmp_path / "store", namespace, lock=False, trusted_keys=[theirs, mine]).serve()
    trusted = remoteimport.hook.installed()[namespace].store.policy.trust.trusted
    assert trusted == (signing.load_public_key(mine),)
