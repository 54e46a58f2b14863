"""The store only moves bytes; what loads accept, what pushes sign with and where verified blobs are cached is
the policy's (remoteimport/policy.py), read by the loader and the registry, never by the store itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sample_classes import make_filter

import remoteimport
from remoteimport.errors import RemoteImportError, UntrustedBlobError
from remoteimport.policy import Policy
from remoteimport.signing import generate_key
from remoteimport.store import Store


def test_a_store_keeps_its_policy_arguments_unread(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pub"
    store = Store(tmp_path / "store", trusted_keys=[missing], signing_key=tmp_path / "nowhere")
    assert store.names() == []  # I/O works: nothing about keys was read to build or use the store
    assert repr(store.policy) == "Policy(trusted_keys=1 key(s), local_store=True)"
    with pytest.raises(RemoteImportError, match="nowhere.pub"):
        _ = store.policy.trust
    with pytest.raises(RemoteImportError, match="nowhere"):
        _ = store.policy.signing_key


def test_the_loader_applies_the_policy_the_store_was_given(tmp_path: Path) -> None:
    public = generate_key(tmp_path / "publisher")
    my_filter = make_filter(3)
    plain = Store(tmp_path / "store")
    full_hash = remoteimport.push(my_filter, store=plain)
    trusting = plain.with_trust([public])
    assert trusting.url == plain.url and trusting != plain and plain.policy.trust.trusted == ()
    with pytest.raises(UntrustedBlobError, match="unsigned"):
        remoteimport.get_version("MyFilter", full_hash, store=trusting)
    signed = Store(tmp_path / "signed", signing_key=tmp_path / "publisher", trusted_keys=[public])
    signed_hash = remoteimport.push(my_filter, store=signed)
    assert remoteimport.get_version("MyFilter", signed_hash, store=signed)().apply(2) == 6


def test_equal_policies_are_those_that_accept_the_same_blobs(tmp_path: Path) -> None:
    public = generate_key(tmp_path / "k")
    assert Policy(local_store=True) == Policy(local_store=False, cache=False)
    assert Policy(local_store=True, trusted_keys=[public]) != Policy(local_store=True)
    assert hash(Policy(local_store=True, trusted_keys=[public])) == hash(
        Policy(local_store=False, trusted_keys=[public])
    )
    assert Store(tmp_path, trusted_keys=[public]) == Store(tmp_path).with_trust([public])


def test_the_store_module_imports_no_policy_machinery() -> None:
    # Signing (and with it cryptography, when keys are used) and the cache are the policy's, loaded on first use.
    code = (
        "import sys, remoteimport.store as s; st = s.Store('memory://x'); st.names(); "
        "wanted = ('remoteimport.signing', 'remoteimport.cache', 'remoteimport.loader'); "
        "print(sorted(m for m in wanted if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_broken_key_files_from_the_environment_fail_clearly_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("not a key\n")
    store = Store(tmp_path / "store")
    full_hash = remoteimport.push(make_filter(5), store=store)
    monkeypatch.setenv("REMOTEIMPORT_TRUSTED_KEYS", str(garbage))
    monkeypatch.setenv("REMOTEIMPORT_SIGNING_KEY", str(garbage))
    later = Store(tmp_path / "store")  # built with the variables set: still nothing read
    with pytest.raises(
        RemoteImportError, match=r"cannot read the trusted public key .*garbage\.pub.*remoteimport keygen"
    ):
        remoteimport.get_version("MyFilter", full_hash, store=later)
    with pytest.raises(RemoteImportError, match=r"cannot read the signing key .*garbage\.pub.*remoteimport keygen"):
        remoteimport.push(make_filter(6), store=later)
    assert later.latest("MyFilter") == full_hash  # nothing was written by the refused push
