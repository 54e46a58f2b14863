"""Signing versions that are already stored: a push with a signing key signs an unsigned stored version (or
one its key signed the old way, over name, hash and payload only); `remoteimport sign` does it without the
source. Versions another key signed are left alone."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sample_classes import forget_loaded, make_filter

import remoteimport
from remoteimport import registry, signing
from remoteimport.blob import decode_blob, encode_blob, legacy_signed_message
from remoteimport.errors import UntrustedBlobError
from remoteimport.store import Store


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    found = {}
    for name in ("publisher", "other"):
        signing.generate_key(tmp_path / name)
        found[name], found[f"{name}.pub"] = tmp_path / name, tmp_path / f"{name}.pub"
    return found


def _history(store: Store, name: str) -> list[str]:
    return [v.action for v in remoteimport.versions(name, store=store)]


def test_pushing_with_a_key_signs_an_unsigned_stored_version(tmp_path: Path, keys: dict[str, Path]) -> None:
    cls = make_filter(uuid.uuid4().hex)
    folder = tmp_path / "store"
    full_hash = remoteimport.push(cls, store=Store(folder))  # unsigned
    strict = Store(folder, trusted_keys=[keys["publisher.pub"]])
    with pytest.raises(UntrustedBlobError, match="unsigned"):
        remoteimport.get_version("MyFilter", full_hash, store=strict)

    result = remoteimport.publish(cls, store=Store(folder, signing_key=keys["publisher"]))

    assert result.action == "signed" and "the stored copy was unsigned" in result.detail
    assert _history(strict, "MyFilter") == ["sign", "push"]
    forget_loaded(name="MyFilter")
    assert remoteimport.get_version("MyFilter", full_hash, store=strict)().apply(2) == 2 * cls.factor
    again = remoteimport.publish(cls, store=Store(folder, signing_key=keys["publisher"]))
    assert again.action == "unchanged"


def test_a_version_another_key_signed_is_left_alone(tmp_path: Path, keys: dict[str, Path]) -> None:
    cls = make_filter(uuid.uuid4().hex)
    folder = tmp_path / "store"
    full_hash = remoteimport.push(cls, store=Store(folder, signing_key=keys["other"]))
    before = Store(folder).read_blob("MyFilter", full_hash)
    result = remoteimport.publish(cls, store=Store(folder, signing_key=keys["publisher"]))
    assert result.action == "unchanged" and "another key" in result.detail
    assert Store(folder).read_blob("MyFilter", full_hash) == before


def _legacy_sign(store: Store, name: str, full_hash: str, key_path: Path) -> None:
    """Rewrite a stored blob with a signature of the old kind (name, hash, payload digest only)."""
    key = signing.load_signing_key(key_path)
    blob = decode_blob(store.read_blob(name, full_hash))
    value = key.private.sign(legacy_signed_message(blob.header))
    signature = {
        "algorithm": "ed25519",
        "key": key.public.fingerprint,
        "public_key": base64.b64encode(key.public.raw).decode(),
        "value": base64.b64encode(value).decode(),
    }
    store.write_blob(
        name, full_hash, encode_blob(blob.header.with_signature(signature), blob.payload), known_absent=True
    )


def test_cli_sign_upgrades_old_signatures_and_unsigned_versions_on_request(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    folder = tmp_path / "store"
    old, unsigned = make_filter(uuid.uuid4().hex), make_filter(uuid.uuid4().hex)
    old_hash = remoteimport.push(old, store=Store(folder))
    unsigned_hash = remoteimport.push(unsigned, store=Store(folder))
    _legacy_sign(Store(folder), "MyFilter", old_hash, keys["publisher"])
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REMOTEIMPORT_")}
    environment["REMOTEIMPORT_CACHE_DIR"] = "off"

    def run(*arguments: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *arguments], capture_output=True, text=True, timeout=120, env={**environment, **extra}
        )

    consumer = (
        "import json, sys, remoteimport\n"
        "out = {}\n"
        "for h in sys.argv[1:]:\n"
        "    try:\n"
        "        out[h] = remoteimport.get_version('MyFilter', h, store=remoteimport.Store(STORE))().apply(1)\n"
        "    except remoteimport.RemoteImportError as exc:\n"
        "        out[h] = type(exc).__name__ + ': ' + str(exc)\n"
        "print(json.dumps(out))\n"
    ).replace("STORE", repr(str(folder)))
    trust = {"REMOTEIMPORT_TRUSTED_KEYS": str(keys["publisher.pub"])}
    before = json.loads(run("-I", "-c", consumer, old_hash, unsigned_hash, **trust).stdout)
    assert before[old_hash].startswith("UntrustedBlobError") and "the old way" in before[old_hash]
    assert f"remoteimport sign MyFilter@{old_hash} --key" in before[old_hash]
    assert before[unsigned_hash].startswith("UntrustedBlobError") and "unsigned" in before[unsigned_hash]

    signed = run("-m", "remoteimport", "sign", "MyFilter", "--key", str(keys["publisher"]), "--store", str(folder))
    assert signed.returncode == 0, signed.stderr
    assert f"MyFilter@{old_hash[:12]}  signed by ed25519:" in signed.stdout and "signed the old way" in signed.stdout
    assert f"MyFilter@{unsigned_hash[:12]}  left as it is: unsigned" in signed.stdout
    middle = json.loads(run("-I", "-c", consumer, old_hash, unsigned_hash, **trust).stdout)
    assert middle[old_hash] == old.factor and middle[unsigned_hash].startswith("UntrustedBlobError")

    both = run(
        "-m",
        "remoteimport",
        "sign",
        f"MyFilter@{unsigned_hash[:8]}",
        "--include-unsigned",
        "--store",
        str(folder),
        REMOTEIMPORT_SIGNING_KEY=str(keys["publisher"]),
    )
    assert both.returncode == 0, both.stderr
    after = json.loads(run("-I", "-c", consumer, old_hash, unsigned_hash, **trust).stdout)
    assert after == {old_hash: old.factor, unsigned_hash: unsigned.factor}
    assert _history(Store(folder), "MyFilter")[:2] == ["sign", "sign"]


def test_sign_without_a_key_says_how_to_give_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REMOTEIMPORT_SIGNING_KEY", raising=False)
    store = Store(tmp_path / "store")
    remoteimport.push(make_filter(uuid.uuid4().hex), store=store)
    with pytest.raises(remoteimport.PushError, match="REMOTEIMPORT_SIGNING_KEY"):
        registry.sign("MyFilter", store=store)
