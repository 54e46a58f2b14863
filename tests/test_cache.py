"""Tests for remoteimport.cache: the local cache of verified blobs.

Served without touching the store; a corrupt entry is dropped and fetched again, never unpickled; the trust
policy and the re-hash apply to cached blobs as to fetched ones; the size bound evicts the least recently used.
"""

from __future__ import annotations

import importlib
import os
import pickle
import time
import uuid
from pathlib import Path

import pytest
from conftest import ForbiddenFS
from sample_classes import forget_loaded, make_filter

import remoteimport
from remoteimport import signing
from remoteimport.blob import decode_blob, encode_blob, make_header
from remoteimport.cache import ENV_CACHE_DIR, ENV_CACHE_SIZE, BlobCache, parse_size, resolve_cache
from remoteimport.errors import IntegrityError, RemoteImportError, StoreUnreachableError, UntrustedBlobError
from remoteimport.store import Store


@pytest.fixture
def cache(tmp_path: Path) -> BlobCache:
    return BlobCache(tmp_path / "cache")


@pytest.fixture
def store(tmp_path: Path, cache: BlobCache) -> Store:
    """A local store that uses ``cache`` (local stores use none by default)."""
    return Store(tmp_path / "store", cache=cache)


def marker_blob(marker: Path, name: str, full_hash: str) -> bytes:
    """A well-formed blob (right name, hash and payload digest) whose payload would create ``marker``."""

    class PlantMarker:
        def __reduce__(self) -> tuple:
            return (os.makedirs, (str(marker),))

    payload = pickle.dumps(PlantMarker())
    return encode_blob(make_header(name, full_hash, payload), payload)


# -- the cache itself -------------------------------------------------------------------------------------


def genuine_blob(name: str = "MyFilter", scale: object = 1) -> tuple[str, bytes]:
    store = Store(f"memory://cache-test-{uuid.uuid4().hex}")
    full_hash = remoteimport.push(make_filter(scale), store=store, name=name)
    return full_hash, store.read_blob(name, full_hash)


def test_put_get_discard(cache: BlobCache) -> None:
    full_hash, data = genuine_blob()
    assert cache.get("MyFilter", full_hash) is None
    cache.put("MyFilter", full_hash, data)
    blob = cache.get("MyFilter", full_hash)
    assert blob is not None and blob.header.hash == full_hash and blob == decode_blob(data)
    assert cache.path("MyFilter", full_hash).endswith(f"blobs/MyFilter/{full_hash[:2]}/{full_hash}.blob")
    assert cache.size() == len(data)
    cache.discard("MyFilter", full_hash)
    assert cache.get("MyFilter", full_hash) is None and cache.entries() == []


@pytest.mark.parametrize("damage", ["flip a payload byte", "truncate", "not a blob", "another hash"])
def test_a_corrupt_entry_is_dropped(cache: BlobCache, damage: str) -> None:
    full_hash, data = genuine_blob()
    other_hash, other = genuine_blob(scale=2)
    damaged = {
        "flip a payload byte": data[:-3] + bytes([data[-3] ^ 0xFF]) + data[-2:],
        "truncate": data[: len(data) // 2],
        "not a blob": b"hello",
        "another hash": other,
    }[damage]
    path = Path(cache.path("MyFilter", full_hash))
    path.parent.mkdir(parents=True)
    path.write_bytes(damaged)
    assert cache.get("MyFilter", full_hash) is None and not path.exists()


def test_the_size_bound_evicts_the_least_recently_used(tmp_path: Path) -> None:
    blobs = [genuine_blob(scale=index) for index in range(3)]
    size = max(len(data) for _, data in blobs)
    cache = BlobCache(tmp_path / "cache", max_bytes=2 * size + 10)
    cache.put("MyFilter", *blobs[0])
    cache.put("MyFilter", *blobs[1])
    past = time.time() - 100
    os.utime(cache.path("MyFilter", blobs[0][0]), (past, past))
    os.utime(cache.path("MyFilter", blobs[1][0]), (past - 50, past - 50))
    assert cache.get("MyFilter", blobs[0][0]) is not None  # a hit makes it the most recently used
    cache.put("MyFilter", *blobs[2])
    assert cache.get("MyFilter", blobs[1][0]) is None  # the least recently used went
    assert cache.get("MyFilter", blobs[0][0]) is not None and cache.get("MyFilter", blobs[2][0]) is not None
    assert cache.size() <= cache.max_bytes


def test_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_CACHE_DIR, str(tmp_path / "configured"))
    monkeypatch.setenv(ENV_CACHE_SIZE, "20MB")
    configured = BlobCache.default()
    assert configured is not None and configured.directory == str(tmp_path / "configured")
    assert configured.max_bytes == 20_000_000
    assert Store("s3://bucket/x").policy.cache.directory == configured.directory  # remote stores: on by default
    assert (
        Store(tmp_path).policy.cache is None and Store("memory://x").policy.cache is None
    )  # local ones: off by default
    assert Store(tmp_path, cache=True).policy.cache.directory == configured.directory
    assert Store("s3://bucket/x", cache=False).policy.cache is None
    assert resolve_cache(tmp_path / "mine", local_store=True).directory == str(tmp_path / "mine")
    monkeypatch.setenv(ENV_CACHE_DIR, "off")
    assert BlobCache.default() is None and Store("s3://bucket/x").policy.cache is None
    monkeypatch.delenv(ENV_CACHE_DIR)
    assert BlobCache.default().directory.endswith("remoteimport")  # the user's cache directory
    assert parse_size("512MiB") == 512 * 2**20 and parse_size("1.5G") == 1_500_000_000
    with pytest.raises(RemoteImportError, match="REMOTEIMPORT_CACHE_SIZE='lots'"):
        monkeypatch.setenv(ENV_CACHE_SIZE, "lots")
        BlobCache.default()


def test_an_unwritable_cache_warns_once_and_the_import_goes_on(
    tmp_path: Path, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the cache folder should be")
    store = Store(tmp_path / "store", cache=BlobCache(blocker / "cache"))
    full_hash = remoteimport.push(make_filter(3), store=store)
    remoteimport.install(store, namespace=namespace)
    with caplog.at_level("WARNING", logger="remoteimport"):
        cls = importlib.import_module(f"{namespace}.MyFilter@{full_hash}").MyFilter
    assert cls().apply(2) == 6
    assert [r.getMessage() for r in caplog.records if "cannot write the blob cache" in r.getMessage()]


@pytest.mark.skipif(os.name != "posix", reason="folder modes are POSIX")
def test_the_cache_and_its_rehash_records_are_the_owners_only(tmp_path: Path, namespace: str) -> None:
    """docs/security.md: entries 0600 under 0700 folders, so another local user can neither read the blobs nor
    plant a re-hash record. The umask every test host has (022) would make plain folders 0755 (the control)."""
    previous = os.umask(0o022)
    try:
        os.makedirs(tmp_path / "control" / "made")
        assert os.stat(tmp_path / "control" / "made").st_mode & 0o777 == 0o755
        cache = BlobCache(tmp_path / "home" / "cache")  # neither exists yet
        store = Store(tmp_path / "store", cache=cache)
        full_hash = remoteimport.push(make_filter(uuid.uuid4().hex), store=store)
        remoteimport.install(store, namespace=namespace)
        importlib.import_module(f"{namespace}.MyFilter@{full_hash}")
        assert cache.get("MyFilter", full_hash) is not None and os.path.isdir(tmp_path / "home" / "cache" / "rehashed")

        for folder, _, files in os.walk(tmp_path / "home"):
            assert os.stat(folder).st_mode & 0o777 == 0o700, folder
            for base in files:
                assert os.stat(os.path.join(folder, base)).st_mode & 0o777 == 0o600, base

        # A cache folder made 0755 by an earlier release (or by hand) is narrowed at the next write.
        older = tmp_path / "older"
        older.mkdir(mode=0o755)
        BlobCache(older).put("MyFilter", full_hash, store.read_blob("MyFilter", full_hash))
        assert os.stat(older).st_mode & 0o777 == 0o700
    finally:
        os.umask(previous)


# -- loading through the cache ----------------------------------------------------------------------------


def test_a_cached_blob_is_loaded_without_touching_the_store(store: Store, cache: BlobCache, namespace: str) -> None:
    full_hash = remoteimport.push(make_filter(4), store=store)
    remoteimport.install(store, namespace=namespace)
    importlib.import_module(f"{namespace}.MyFilter@{full_hash}")
    assert cache.get("MyFilter", full_hash) is not None  # cached once it loaded and re-hashed
    forget_loaded(namespace=namespace)
    store.fs = ForbiddenFS()  # the store is gone: offline
    cls = importlib.import_module(f"{namespace}.MyFilter@{full_hash}").MyFilter
    assert cls().apply(2) == 8 and store.fs.calls == []
    with pytest.raises(StoreUnreachableError, match="storage was accessed"):
        importlib.import_module(f"{namespace}.MyFilter@{full_hash[:8]}")  # a prefix must ask the store


def test_a_corrupt_entry_is_fetched_again_and_never_unpickled(
    store: Store, cache: BlobCache, namespace: str, tmp_path: Path
) -> None:
    full_hash = remoteimport.push(make_filter(5), store=store)
    marker = tmp_path / "pwned"
    planted = bytearray(marker_blob(marker, "MyFilter", full_hash))
    planted[-1] ^= 0xFF  # the digest no longer matches: must never reach the unpickler
    Path(cache.path("MyFilter", full_hash)).parent.mkdir(parents=True)
    Path(cache.path("MyFilter", full_hash)).write_bytes(bytes(planted))
    remoteimport.install(store, namespace=namespace)
    cls = importlib.import_module(f"{namespace}.MyFilter@{full_hash}").MyFilter
    assert cls().apply(1) == 5 and not marker.exists()
    assert Path(cache.path("MyFilter", full_hash)).read_bytes() == store.read_blob("MyFilter", full_hash)


def test_the_trust_policy_applies_to_cached_blobs(tmp_path: Path, namespace: str) -> None:
    public = signing.generate_key(tmp_path / "publisher")
    cache = BlobCache(tmp_path / "cache")
    store = Store(tmp_path / "store", cache=cache, signing_key=tmp_path / "publisher", trusted_keys=[public])
    full_hash = remoteimport.push(make_filter(6), store=store)
    marker = tmp_path / "pwned"
    planted = marker_blob(marker, "MyFilter", full_hash)  # well-formed, unsigned
    cache.put("MyFilter", full_hash, planted)
    remoteimport.install(store, namespace=namespace)
    # The untrusted cached copy is dropped, never unpickled; the store's signed copy is checked and used.
    assert importlib.import_module(f"{namespace}.MyFilter@{full_hash}").MyFilter().apply(1) == 6
    assert not marker.exists()
    assert Path(cache.path("MyFilter", full_hash)).read_bytes() != planted  # replaced by the genuine blob
    # With the store's copy untrusted too (another key trusted), the import is refused.
    other = signing.generate_key(tmp_path / "other")
    cache.put("MyFilter", full_hash, planted)
    remoteimport.install(store.with_trust([other]), namespace=namespace + "_other")
    with pytest.raises(UntrustedBlobError):
        importlib.import_module(f"{namespace}_other.MyFilter@{full_hash}")
    assert not marker.exists()


def test_a_cached_blob_that_does_not_rehash_is_dropped(store: Store, cache: BlobCache, namespace: str) -> None:
    wanted = remoteimport.push(make_filter(7), store=store)
    impostor_hash = remoteimport.push(make_filter(8), store=Store(store.url), name="Other")
    impostor = decode_blob(store.read_blob("Other", impostor_hash))
    # The impostor's genuine payload under the wanted name and hash: the digest checks out, the re-hash does not.
    cache.put("MyFilter", wanted, encode_blob(make_header("MyFilter", wanted, impostor.payload), impostor.payload))
    remoteimport.install(store, namespace=namespace)
    with pytest.raises(IntegrityError, match="hashes to"):
        importlib.import_module(f"{namespace}.MyFilter@{wanted}")
    assert cache.get("MyFilter", wanted) is None  # dropped: the next import fetches the genuine blob
    assert importlib.import_module(f"{namespace}.MyFilter@{wanted}").MyFilter().apply(1) == 7


def test_latest_asks_the_store_once_its_ttl_has_passed(tmp_path: Path, namespace: str) -> None:
    url = str(tmp_path / "store")
    remoteimport.push(make_filter(9), store=url)
    reader = Store(url, latest_ttl=0.2)
    remoteimport.install(reader, namespace=namespace)
    module = importlib.import_module(namespace)
    assert module.MyFilter().apply(1) == 9
    remoteimport.push(make_filter(10), store=url)  # another process (another Store) moves latest
    assert module.MyFilter().apply(1) == 9  # within the TTL: the value just read
    time.sleep(0.25)
    assert module.MyFilter().apply(1) == 10
