"""The post-load re-hash runs once per payload per host and environment, not on every load (docs/security.md):
a record in the private cache folder says "this payload re-hashed to this hash here"; anything else re-hashes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from remoteimport import _env
from remoteimport.blob import decode_blob, encode_blob
from remoteimport.cache import BlobCache
from remoteimport.store import Store

REPO_ROOT = Path(__file__).resolve().parents[1]

SOURCE = """\
class Tripler:
    def apply(self, x):
        return 3 * x


class Doubler:
    def apply(self, x):
        return 2 * x
"""

LOAD = """
import importlib, json, sys
import remoteimport
remoteimport.install(sys.argv[1], namespace="rehash_remote", lock=False)
try:
    cls = getattr(importlib.import_module("rehash_remote.Tripler@" + sys.argv[2]), "Tripler")
    outcome = cls().apply(2)
except remoteimport.RemoteImportError as exc:
    outcome = type(exc).__name__
print(json.dumps({"outcome": outcome, "rehash": "rehash" in remoteimport.metrics(),
                  "hashing_imported": "remoteimport.hashing" in sys.modules}))
"""


def _python(code: str, *args: str, cwd: Path, **env: str) -> dict:
    environment = _env.without_settings(os.environ)
    environment["PYTHONPATH"] = str(REPO_ROOT)
    environment.update(env)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], cwd=cwd, env=environment, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def pushed(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    (tmp_path / "source").mkdir()
    (tmp_path / "source" / "triples.py").write_text(SOURCE)
    hashes = _python(
        "import json, sys, remoteimport, triples\n"
        "names = ('Tripler', 'Doubler')\n"
        "print(json.dumps({n: remoteimport.push(getattr(triples, n), store=sys.argv[1]) for n in names}))",
        str(tmp_path / "store"),
        cwd=tmp_path / "source",
    )
    return tmp_path / "store", hashes


def test_a_payload_is_rehashed_on_its_first_load_only(pushed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    store, hashes = pushed
    cache = str(tmp_path / "cache")
    first = _python(LOAD, str(store), hashes["Tripler"], cwd=tmp_path, REMOTEIMPORT_CACHE_DIR=cache)
    again = _python(LOAD, str(store), hashes["Tripler"], cwd=tmp_path, REMOTEIMPORT_CACHE_DIR=cache)
    assert first == {"outcome": 6, "rehash": True, "hashing_imported": True}
    assert again == {"outcome": 6, "rehash": False, "hashing_imported": False}


def test_without_a_cache_folder_every_load_rehashes(pushed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    store, hashes = pushed
    for _ in range(2):
        loaded = _python(LOAD, str(store), hashes["Tripler"], cwd=tmp_path, REMOTEIMPORT_CACHE_DIR="off")
        assert loaded == {"outcome": 6, "rehash": True, "hashing_imported": True}


def test_another_payload_under_a_recorded_hash_is_rehashed_and_refused(
    pushed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """The record names the payload's digest and the hash: a payload swapped in under the same hash (Doubler's
    code re-sealed as Tripler's version) does not match it, is re-hashed, and refused."""
    store, hashes = pushed
    cache = str(tmp_path / "cache")
    assert _python(LOAD, str(store), hashes["Tripler"], cwd=tmp_path, REMOTEIMPORT_CACHE_DIR=cache)["outcome"] == 6
    folder = Store(str(store))
    doubler = decode_blob(folder.read_blob("Doubler", hashes["Doubler"]))
    forged = encode_blob(
        doubler.header.replace(
            name="Tripler",
            hash=hashes["Tripler"],
            qualname="Tripler",
            # Doubler's shipped lines, which its bytecode agrees with (Tripler's lines no longer hold Doubler's:
            # refused earlier, by that agreement check, with nothing re-hashed)
            source=doubler.header.source,
        ),
        doubler.payload,
    )
    blob_path = store / "blobs" / "Tripler" / hashes["Tripler"][:2] / f"{hashes['Tripler']}.blob"
    blob_path.write_bytes(forged)
    loaded = _python(LOAD, str(store), hashes["Tripler"], cwd=tmp_path, REMOTEIMPORT_CACHE_DIR=cache)
    assert loaded == {"outcome": "IntegrityError", "rehash": True, "hashing_imported": True}


def test_records_are_private_plain_files_keyed_by_environment(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    full, payload = "ab" * 32, "cd" * 32
    assert not cache.rehashed("Tripler", full, payload, "py3.11-ri0.1.0-cp3.1.3")
    cache.record_rehashed("Tripler", full, payload, "py3.11-ri0.1.0-cp3.1.3")
    assert cache.rehashed("Tripler", full, payload, "py3.11-ri0.1.0-cp3.1.3")
    assert not cache.rehashed("Tripler", full, payload, "py3.12-ri0.1.0-cp3.1.3")  # another Python: re-hash
    assert not cache.rehashed("Tripler", full, "ef" * 32, "py3.11-ri0.1.0-cp3.1.3")
    records = [path for path in (tmp_path / "cache" / "rehashed").rglob("*") if path.is_file()]
    assert len(records) == 1 and records[0].stat().st_mode & 0o077 == 0
    records[0].unlink()
    records[0].symlink_to(tmp_path)  # a link is not a record
    assert not cache.rehashed("Tripler", full, payload, "py3.11-ri0.1.0-cp3.1.3")
    assert not cache.rehashed("Tripler", full, payload, "../../escape")  # never a path outside the folder
    cache.clear()
    assert not (tmp_path / "cache" / "rehashed").exists()
