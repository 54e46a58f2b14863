"""The tamper corpus: an attacker who can write to the store must never get code run on an importing host.

Each attack is applied to its own copy of a genuine store. A fresh consumer interpreter (which has none of
the producer's source) then imports through the hook; every attack must be refused with a clear error, and
the marker file the attacker's payload would create must not exist.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import remoteimport
from remoteimport import signing
from remoteimport._record import replace
from remoteimport.blob import MAGIC, decode_blob, encode_blob, legacy_signed_message, make_header
from remoteimport.errors import InvalidNameError
from remoteimport.store import Store

PRODUCER_SOURCE = '''
class Genuine:
    """The class the publisher really pushed."""

    def answer(self):
        return 42


class Other:
    def answer(self):
        return -1
'''


class _PlantMarker:
    """Unpickling this creates a directory: the attacker's "code execution"."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.makedirs, (self.marker,))


def malicious_payload(marker: Path) -> bytes:
    return pickle.dumps(_PlantMarker(str(marker)))


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A store with signed versions of Genuine and Other, a trusted key pair and an attacker's key pair."""
    root = tmp_path_factory.mktemp("security")
    keys = root / "keys"
    keys.mkdir()
    trusted_pub = signing.generate_key(keys / "publisher")
    attacker_pub = signing.generate_key(keys / "attacker")
    producer = root / "producer"
    producer.mkdir()
    (producer / "published.py").write_text(PRODUCER_SOURCE)
    store = root / "pristine"
    code = f"""
        import json, sys
        sys.path.insert(0, {str(producer)!r})
        import remoteimport, published
        store = remoteimport.Store({str(store)!r}, signing_key={str(keys / "publisher")!r})
        print(json.dumps({{"Genuine": remoteimport.push(published.Genuine, store=store),
                           "Other": remoteimport.push(published.Other, store=store)}}))
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True)
    hashes = json.loads(done.stdout)
    shutil.rmtree(producer)  # the consumer must not be able to see the source
    return {
        "root": root,
        "store": store,
        "hashes": hashes,
        "trusted_pub": trusted_pub,
        "attacker_key": str(keys / "attacker"),
        "attacker_pub": attacker_pub,
    }


def copy_store(genuine: dict, label: str) -> Path:
    target = genuine["root"] / "attacks" / label
    shutil.copytree(genuine["store"], target)
    return target


def blob_file(store: Path, name: str, full_hash: str) -> Path:
    return store / "blobs" / name / full_hash[:2] / f"{full_hash}.blob"


CONSUMER = """
import importlib, json, os, sys, traceback
import remoteimport
results = {}
for scenario in json.loads(sys.argv[1]):
    for key in ("REMOTEIMPORT_TRUSTED_KEYS", "REMOTEIMPORT_REQUIRE_SIGNATURES"):
        os.environ.pop(key, None)
    os.environ.update(scenario["env"])
    namespace = "attack_" + scenario["label"]
    try:
        store = remoteimport.Store(scenario["store"], cache=scenario.get("cache"))
        remoteimport.install(store, namespace=namespace)
        if scenario["reference"] == "latest":
            module = importlib.import_module(namespace)
            value = getattr(module, scenario["name"])().answer()
        else:
            module = importlib.import_module(namespace + "." + scenario["reference"])
            value = getattr(module, scenario["name"])().answer()
        results[scenario["label"]] = {"outcome": "loaded", "value": value}
    except Exception as exc:
        results[scenario["label"]] = {
            "outcome": "refused",
            "type": type(exc).__name__,
            "remoteimport_error": isinstance(exc, remoteimport.RemoteImportError),
            "message": str(exc),
        }
print(json.dumps(results))
"""


def run_consumer(scenarios: list[dict], cwd: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-E", "-c", CONSUMER, json.dumps(scenarios)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def reseal(data: bytes, *, payload: bytes | None = None, **changes: object) -> bytes:
    """What an attacker with write access can do: rewrite a blob's header and payload consistently."""
    blob = decode_blob(data)
    header = blob.header
    new_payload = blob.payload if payload is None else payload
    fields = {"name": header.name, "hash": header.hash, "requirements": header.requirements, "source": header.source}
    fields.update({k: v for k, v in changes.items() if k in fields})
    rebuilt = make_header(
        fields["name"], fields["hash"], new_payload, requirements=fields["requirements"], source=fields["source"]
    )
    signature = changes.get("signature", header.signature)
    return encode_blob(rebuilt.with_signature(signature), new_payload)  # type: ignore[arg-type]


def relabel(data: bytes, **fields: object) -> bytes:
    """What a store writer without the key can do to a signed blob: change header fields, keep the signature."""
    blob = decode_blob(data)
    header = json.dumps(replace(blob.header, **fields).to_json(), sort_keys=True).encode()  # type: ignore[arg-type]
    return MAGIC + struct.pack(">I", len(header)) + header + blob.payload  # raw: encode_blob refuses format 1


def legacy_sign(key_path: str, data: bytes) -> bytes:
    """Sign a blob the way releases before whole-header signatures did: name, hash and payload digest only."""
    key = signing.load_signing_key(key_path)
    blob = decode_blob(data)
    value = key.private.sign(legacy_signed_message(blob.header))
    signature = {
        "algorithm": "ed25519",
        "key": key.public.fingerprint,
        "public_key": base64.b64encode(key.public.raw).decode("ascii"),
        "value": base64.b64encode(value).decode("ascii"),
    }
    return encode_blob(blob.header.with_signature(signature), blob.payload)


def test_tamper_corpus_is_refused_and_never_runs_attacker_code(genuine: dict, tmp_path: Path) -> None:
    genuine_hash, other_hash = genuine["hashes"]["Genuine"], genuine["hashes"]["Other"]
    marker = tmp_path / "ATTACKER-CODE-RAN"
    trust = {"REMOTEIMPORT_TRUSTED_KEYS": genuine["trusted_pub"]}
    scenarios: list[dict] = []
    expectations: dict[str, tuple[str, str]] = {}  # label -> (error type, words the message must contain)

    def attack(label: str, env: dict, reference: str, expected: tuple[str, str], name: str = "Genuine") -> Path:
        store = copy_store(genuine, label)
        scenarios.append({"label": label, "store": str(store), "env": env, "reference": reference, "name": name})
        expectations[label] = expected
        return store

    pinned = f"Genuine@{genuine_hash}"

    # 1. A flipped byte in the payload.
    store = attack("flipped_byte", {}, pinned, ("IntegrityError", "sha256"))
    path = blob_file(store, "Genuine", genuine_hash)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))

    # 2. A truncated blob.
    store = attack("truncated", {}, pinned, ("IntegrityError", "NOT unpickled"))
    path = blob_file(store, "Genuine", genuine_hash)
    path.write_bytes(path.read_bytes()[:-40])

    # 3. A raw malicious pickle written at a genuine blob's key.
    store = attack("raw_pickle", {}, pinned, ("IntegrityError", "not a remoteimport blob"))
    blob_file(store, "Genuine", genuine_hash).write_bytes(malicious_payload(marker))

    # 4. A genuine blob of another class copied over the key.
    store = attack("other_class_copied", {}, pinned, ("IntegrityError", genuine_hash))
    shutil.copy(blob_file(store, "Other", other_hash), blob_file(store, "Genuine", genuine_hash))

    # 5. ... and with its header rewritten to claim the right name and hash: the signature no longer matches.
    store = attack("other_class_relabelled", trust, pinned, ("UntrustedBlobError", "does not match"))
    path = blob_file(store, "Genuine", genuine_hash)
    path.write_bytes(reseal(blob_file(store, "Other", other_hash).read_bytes(), name="Genuine", hash=genuine_hash))

    # 6. A malicious payload re-sealed with a correct digest, keeping the genuine signature.
    store = attack("malicious_resealed", trust, pinned, ("UntrustedBlobError", "does not match"))
    path = blob_file(store, "Genuine", genuine_hash)
    path.write_bytes(reseal(path.read_bytes(), payload=malicious_payload(marker)))

    # 7. The same with the signature stripped: unsigned, and keys are trusted.
    store = attack("malicious_unsigned", trust, pinned, ("UntrustedBlobError", "unsigned"))
    path = blob_file(store, "Genuine", genuine_hash)
    path.write_bytes(reseal(path.read_bytes(), payload=malicious_payload(marker), signature=None))

    # 8./9. A version signed with an untrusted (the attacker's) key, by hash and via latest.
    attacker = signing.load_signing_key(genuine["attacker_key"])
    for label, reference in (("attacker_signed_pinned", pinned), ("attacker_signed_latest", "latest")):
        store = attack(label, trust, reference, ("UntrustedBlobError", "not a trusted key"))
        path = blob_file(store, "Genuine", genuine_hash)
        blob = decode_blob(reseal(path.read_bytes(), payload=malicious_payload(marker), signature=None))
        path.write_bytes(encode_blob(attacker.sign(blob.header), blob.payload))

    # 10. An unsigned version when signatures are required (and no key is trusted).
    store = attack(
        "unsigned_required", {"REMOTEIMPORT_REQUIRE_SIGNATURES": "1"}, pinned, ("UntrustedBlobError", "REQUIRE")
    )
    path = blob_file(store, "Genuine", genuine_hash)
    path.write_bytes(reseal(path.read_bytes(), payload=malicious_payload(marker), signature=None))

    # 11. `latest` pointing at a hash whose blob declares another hash.
    store = attack("latest_to_foreign_blob", {}, "latest", ("IntegrityError", other_hash))
    fake = "f" * 64
    target = blob_file(store, "Genuine", fake)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(blob_file(store, "Genuine", genuine_hash), target)
    (store / "refs" / "Genuine" / "latest").write_text(fake)
    # (the copied blob declares genuine_hash, not fake: expected message names what was asked for)
    expectations["latest_to_foreign_blob"] = ("IntegrityError", fake)

    # 12. A traversal string planted in the `latest` ref.
    store = attack("traversal_in_ref", {}, "latest", ("IntegrityError", "does not hold a full hash"))
    (store / "refs" / "Genuine" / "latest").write_text("../../../../etc/passwd")

    # 13.-17. A store writer without the key rewrites signed header fields, keeping the signature: the
    # signature covers the whole header, so each is refused before anything is unpickled.
    other_python = "3.12" if sys.version_info[:2] != (3, 12) else "3.11"
    forgeries = {
        "python_relabelled": {"python": other_python},
        "requirements_emptied": {"requirements": {}},
        "source_forged": {"source": {"published.py": "class Genuine:\n    def answer(self):\n        return 0\n"}},
        "format_changed": {"format": 1},
        "field_added": {"extra": {"note": "planted"}},
    }
    for label, fields in forgeries.items():
        store = attack(label, trust, pinned, ("UntrustedBlobError", "altered after signing"))
        path = blob_file(store, "Genuine", genuine_hash)
        path.write_bytes(relabel(path.read_bytes(), **fields))

    # 18. A signature of the old kind (name, hash, payload) by the trusted key, over a relabelled header.
    store = attack("legacy_signature", trust, pinned, ("UntrustedBlobError", "remoteimport sign Genuine@"))
    path = blob_file(store, "Genuine", genuine_hash)
    path.write_bytes(legacy_sign(str(genuine["root"] / "keys" / "publisher"), relabel(path.read_bytes(), python="3.9")))

    results = run_consumer(scenarios, tmp_path)
    assert not marker.exists(), "the attacker's payload ran"
    for label, (error_type, words) in expectations.items():
        result = results[label]
        assert result["outcome"] == "refused", f"{label}: {result}"
        assert result["remoteimport_error"], f"{label}: not a RemoteImportError: {result}"
        assert result["type"] == error_type, f"{label}: {result}"
        assert words in result["message"], f"{label}: {words!r} not in {result['message']!r}"
    assert len(results) == 18


def test_the_genuine_store_loads_with_trust(genuine: dict, tmp_path: Path) -> None:
    """The control: the same consumer accepts the untouched, signed store, by hash and via latest."""
    trust = {"REMOTEIMPORT_TRUSTED_KEYS": genuine["trusted_pub"]}
    scenarios = [
        {
            "label": "pinned",
            "store": str(genuine["store"]),
            "env": trust,
            "reference": f"Genuine@{genuine['hashes']['Genuine'][:8]}",
            "name": "Genuine",
        },
        {"label": "latest", "store": str(genuine["store"]), "env": trust, "reference": "latest", "name": "Genuine"},
    ]
    results = run_consumer(scenarios, tmp_path)
    assert results == {"pinned": {"outcome": "loaded", "value": 42}, "latest": {"outcome": "loaded", "value": 42}}


def test_tampered_cache_entries_are_dropped_and_the_store_copy_used(genuine: dict, tmp_path: Path) -> None:
    """A cache entry altered by an attacker is never unpickled: a damaged one fails its digest, a re-sealed
    malicious one fails the trust check; both are dropped and the genuine blob is fetched from the store."""
    genuine_hash = genuine["hashes"]["Genuine"]
    marker = tmp_path / "ATTACKER-CODE-RAN"
    trust = {"REMOTEIMPORT_TRUSTED_KEYS": genuine["trusted_pub"]}
    store_blob = blob_file(genuine["store"], "Genuine", genuine_hash)
    scenarios = []
    for label in ("cache_flipped_byte", "cache_malicious_resealed"):
        cache = tmp_path / label
        entry = blob_file(cache, "Genuine", genuine_hash)  # the cache uses the store's blob layout
        entry.parent.mkdir(parents=True)
        if label == "cache_flipped_byte":
            data = bytearray(store_blob.read_bytes())
            data[-10] ^= 0xFF
            entry.write_bytes(bytes(data))
        else:
            entry.write_bytes(reseal(store_blob.read_bytes(), payload=malicious_payload(marker)))
        scenarios.append(
            {
                "label": label,
                "store": str(genuine["store"]),
                "cache": str(cache),
                "env": trust,
                "reference": f"Genuine@{genuine_hash}",
                "name": "Genuine",
            }
        )
    results = run_consumer(scenarios, tmp_path)
    assert not marker.exists(), "the attacker's cache entry ran"
    assert results == {label: {"outcome": "loaded", "value": 42} for label in results}
    assert len(results) == 2
    for scenario in scenarios:  # the genuine blob replaced the attacker's entry
        assert blob_file(Path(scenario["cache"]), "Genuine", genuine_hash).read_bytes() == store_blob.read_bytes()


def test_the_malicious_payload_really_runs_when_unpickled(tmp_path: Path) -> None:
    """Proves the corpus's marker would appear if any attack got through."""
    pickle.loads(malicious_payload(tmp_path / "control"))
    assert (tmp_path / "control").is_dir()


@pytest.mark.parametrize(
    "reference",
    ["../Genuine", "Genuine/../x", "..", "Genuine@../../etc", "Genuine@0123abc", "Gen uine", "Genuine@9zzzzzzz", ""],
)
def test_traversal_and_malformed_names_never_reach_storage(reference: str, forbidden_store: Store) -> None:
    finder = remoteimport.install(forbidden_store, namespace="traversal_remote")
    try:
        with pytest.raises((InvalidNameError, ImportError)) as caught:
            __import__("importlib").import_module(f"traversal_remote.{reference}")
        assert isinstance(caught.value, (remoteimport.RemoteImportError, ModuleNotFoundError, ImportError))
        with pytest.raises(InvalidNameError):
            remoteimport.get_version(reference.partition("@")[0] or "..", "../../etc", store=forbidden_store)
    finally:
        remoteimport.uninstall(finder)
    assert forbidden_store.fs.calls == []  # nothing was read, listed or written


def test_plain_http_stores_are_refused_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REMOTEIMPORT_ALLOW_HTTP", raising=False)
    with pytest.raises(remoteimport.StoreError, match="https://"):
        Store("http://example.invalid/classes")
    Store("http://example.invalid/classes", allow_http=True)  # explicit opt-in constructs (no request made)


def test_private_keys_are_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    public = signing.generate_key(tmp_path / "key")
    assert (os.stat(tmp_path / "key").st_mode & 0o777) == 0o600
    assert Path(public).read_text().startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(remoteimport.RemoteImportError, match="already exists"):
        signing.generate_key(tmp_path / "key")


def test_unverified_loads_from_a_remote_store_warn_once(caplog: pytest.LogCaptureFixture) -> None:
    monkey_header = make_header("X", "a" * 64, b"payload")
    signing._WARNED.clear()
    policy = signing.TrustPolicy()
    policy.check(monkey_header, where="s3://bucket/x", local_store=False)
    policy.check(monkey_header, where="s3://bucket/y", local_store=False)
    policy.check(monkey_header, where="/local", local_store=True)
    warnings = [r for r in caplog.records if r.name == "remoteimport" and r.levelname == "WARNING"]
    assert len(warnings) == 1 and "REMOTEIMPORT_TRUSTED_KEYS" in warnings[0].getMessage()
    assert "s3://bucket/x" in warnings[0].getMessage()


def test_warnings_reach_stderr_in_a_program_that_never_configured_logging(tmp_path: Path) -> None:
    # Without logging imported, the message is printed as logging's last resort would; with logging imported
    # and nothing configured, logging's last resort prints it; a configured handler receives it instead.
    header = "from remoteimport import signing; from remoteimport.blob import make_header; "
    check = "signing.TrustPolicy().check(make_header('X', 'a' * 64, b'p'), where='s3://b/x', local_store=False)"
    handled = (
        "import logging, io; s = io.StringIO(); log = logging.getLogger('remoteimport'); "
        "log.addHandler(logging.StreamHandler(s)); log.propagate = False; "
    )
    for prelude, epilogue, expected_stderr in (
        ("", "", True),
        ("import logging; ", "", True),
        (handled, "; assert 'without signature checks' in s.getvalue()", False),
    ):
        code = prelude + header + check + epilogue
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert ("without signature checks" in done.stderr) is expected_stderr, (prelude, done.stderr)
