"""Errors a load gives when it fails for reasons other than tampering name what happened and what to do."""

from __future__ import annotations

import uuid
from pathlib import Path

import cloudpickle
import pytest
from sample_classes import forget_loaded, make_filter

import remoteimport
from remoteimport import signing
from remoteimport.blob import encode_blob, make_header
from remoteimport.capture import capture_class
from remoteimport.errors import IncompatibleBlobError, IntegrityError
from remoteimport.store import Store

UNLOADABLE = b"\x80\x04cno_such_module_anywhere\nthing\n."  # a pickle naming a module no host has


def test_a_payload_from_another_cloudpickle_that_fails_names_both_versions(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    full_hash = uuid.uuid4().hex * 2
    header = make_header("MyFilter", full_hash, UNLOADABLE, cloudpickle_version="3.0.0")
    store.write_blob("MyFilter", full_hash, encode_blob(header, UNLOADABLE))
    with pytest.raises(IncompatibleBlobError) as caught:
        remoteimport.get_version("MyFilter", full_hash, store=store)
    message = str(caught.value)
    assert "could not be unpickled on this host" in message and "no_such_module_anywhere" in message
    assert "pushed with Python" in message and "cloudpickle 3.0.0" in message
    assert f"this host has cloudpickle {cloudpickle.__version__}" in message
    assert "pip install 'cloudpickle==3.0.0'" in message and "`remoteimport push` of MyFilter" in message
    assert "altered" not in message and "tamper" not in message


def test_a_re_hash_mismatch_with_a_trusted_signature_does_not_blame_tampering(tmp_path: Path) -> None:
    signing.generate_key(tmp_path / "publisher")
    key = signing.load_signing_key(tmp_path / "publisher")
    store = Store(tmp_path / "store", trusted_keys=[tmp_path / "publisher.pub"])
    genuine = make_filter(uuid.uuid4().hex)
    full_hash = remoteimport.class_hash(genuine)
    other = capture_class(make_filter("rebuilt differently"), path="MyFilter")
    header = key.sign(make_header("MyFilter", full_hash, other.payload, source=other.source))
    store.write_blob("MyFilter", full_hash, encode_blob(header, other.payload))
    forget_loaded(name="MyFilter")
    with pytest.raises(IncompatibleBlobError) as caught:
        remoteimport.get_version("MyFilter", full_hash, store=store)
    message = str(caught.value)
    assert "re-hashes to" in message and "signature by a trusted key checked out" in message
    assert "not tampering after signing" in message and "as this host has" in message

    # Without keys to check, both possibilities are named, as an IntegrityError.
    forget_loaded(name="MyFilter")
    with pytest.raises(IntegrityError) as unchecked:
        remoteimport.get_version("MyFilter", full_hash, store=Store(tmp_path / "store"))
    assert "Either the blob was altered" in str(unchecked.value) and "rebuilt the class differently" in str(
        unchecked.value
    )
