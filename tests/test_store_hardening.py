"""A store folder others can write to: what they plant is refused, clearly and quickly, and never leaks.

The threat: anyone who can write to a shared store folder (or bucket) plants links, FIFOs, stray entries or
hostile bytes. Every such input is fed here to the real code paths (the store, the import hook, `remoteimport
ls` / `verify`), on local folders, ``memory://`` and moto's S3 server, and each test asserts a clear error
naming the path, in bounded time (``pytest.mark.timeout``), and that no byte of a file outside the store ends
up in a message. Also: store files follow the umask (a shared folder stays readable by the group), crashed
writes leave no temporary files behind, and a name whose ``latest`` was deleted says how to set it again.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sample_classes import make_filter

import remoteimport
from remoteimport._files import write_atomically
from remoteimport.blob import MAGIC
from remoteimport.cache import STALE_TEMPORARY_AGE, BlobCache
from remoteimport.cli import main
from remoteimport.errors import IntegrityError, NameNotFoundError, StoreUnreachableError
from remoteimport.store import Store

SECRET = "TOPSECRET-" + uuid.uuid4().hex  # the content of a file outside the store: must never be echoed
H1 = "ab" * 32
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
needs_symlink = pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges on Windows")


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def local(tmp_path: Path) -> tuple[Store, str]:
    """A local store holding one version of MyFilter, and that version's hash."""
    store = Store(tmp_path / "store")
    return store, remoteimport.push(make_filter(1), store=store)


@pytest.fixture(params=["path", "memory", "s3"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "path":
        return Store(tmp_path / "store")
    if request.param == "s3":
        return Store(request.getfixturevalue("s3_url"))
    return request.getfixturevalue("memory_store")


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text(f"root:x:0:0:{SECRET}\n")
    return path


def plant(store: Store, key: str, data: bytes) -> None:
    """Write ``data`` under the store's root as an intruder would: straight to the folder or bucket."""
    if store.url.startswith("/"):
        path = Path(store.root, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    else:
        store.fs.pipe_file(f"{store.root}/{key}", data)


def replace_with_link(path: Path, target: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


def replace_with_fifo(path: Path) -> None:
    if path.exists():
        path.unlink()
    os.mkfifo(path)


def another_host(store: Store, namespace: str) -> Store:
    """The importing side: a new Store object (nothing memoized), no cache, hooked under ``namespace``."""
    consumer = Store(store.url, cache=False)
    remoteimport.install(consumer, namespace=namespace)
    return consumer


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Exit status and stdout of `remoteimport ARGS` (stderr is appended unless ``--json`` is given)."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out if "--json" in args else captured.out + captured.err


def all_files(folder: Path) -> list[Path]:
    return [Path(top, name) for top, _, names in os.walk(folder) for name in names]


# -- store files follow the umask; the cache stays private --------------------------------------------------


@pytest.mark.parametrize(("mask", "file_mode", "folder_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_store_files_follow_the_umask(tmp_path: Path, mask: int, file_mode: int, folder_mode: int) -> None:
    root = tmp_path / "store"
    with umask(mask):
        store = Store(root)
        remoteimport.push(make_filter(1), store=store)
        remoteimport.push(make_filter(2), store=store)  # latest replaced: still the umask's mode
    files = all_files(root)
    assert {path.name for path in files} >= {"latest"} and len(files) == 5  # 2 blobs, latest, 2 history entries
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == file_mode, path
    for top, folders, _ in os.walk(root):
        for name in folders:
            assert stat.S_IMODE(Path(top, name).stat().st_mode) == folder_mode, Path(top, name)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="reading as another user needs root")
def test_another_user_can_read_a_store_pushed_with_umask_022(tmp_path: Path) -> None:
    shared = Path("/tmp") / f"remoteimport-shared-{uuid.uuid4().hex}"  # tmp_path's parents are owner-only
    try:
        with umask(0o022):
            shared.mkdir()
            remoteimport.push(make_filter(3), store=Store(shared / "store"))
        for path in all_files(shared / "store"):
            done = subprocess.run(["cat", str(path)], user=65534, group=65534, capture_output=True, timeout=30)
            assert done.returncode == 0, (path, done.stderr)  # read as "nobody"
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_the_blob_cache_and_private_writes_stay_owner_only(tmp_path: Path) -> None:
    with umask(0o022):
        cache = BlobCache(tmp_path / "cache")
        cache.put("MyFilter", H1, b"verified bytes")
        write_atomically(str(tmp_path / "private"), b"x", private=True)
        write_atomically(str(tmp_path / "shared"), b"x")
    assert stat.S_IMODE(os.stat(cache.path("MyFilter", H1)).st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o644


# -- links planted in a local store ----------------------------------------------------------------------


@needs_symlink
@pytest.mark.timeout(60)
@pytest.mark.parametrize("target", ["a file outside", "a file inside"])
def test_a_linked_ref_is_refused_and_its_target_never_echoed(
    local: tuple[Store, str], secret: Path, namespace: str, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    store, full_hash = local
    root = Path(store.root)
    destination = secret if target == "a file outside" else next(root.glob("refs/MyFilter/history/*.json"))
    replace_with_link(root / "refs" / "MyFilter" / "latest", destination)
    consumer = another_host(store, namespace)
    for attempt in [lambda: consumer.latest("MyFilter"), lambda: exec(f"from {namespace} import MyFilter", {})]:
        with pytest.raises(IntegrityError) as caught:
            attempt()
        message = str(caught.value)
        assert str(root / "refs" / "MyFilter" / "latest") in message and SECRET not in message
        assert ("outside the store" if target == "a file outside" else "a symbolic link") in message
    code, output = cli(capsys, "ls", "--store", store.url)
    assert code == 0 and "DAMAGED" in output and "refs/MyFilter/latest" in output and SECRET not in output
    # the version itself is intact, and a pinned import does not read the ref
    assert importlib.import_module(f"{namespace}.MyFilter@{full_hash}").MyFilter().apply(2) == 2


@needs_symlink
@pytest.mark.timeout(60)
def test_a_linked_tag_is_refused_for_its_class_only(
    local: tuple[Store, str], secret: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tag planted as a link is that class's damage: its tags read as the error, another class's tags read, and
    `ls` lists both (the planted class DAMAGED), never echoing what the link points at."""
    store, full_hash = local
    remoteimport.push(make_filter(7), store=store, name="Other")
    store.set_tag("Other", "prod", store.latest("Other"))
    store.set_tag("MyFilter", "prod", full_hash)
    replace_with_link(Path(store._tag_path("MyFilter", "prod")), secret)
    found = Store(store.url).tags_many(["MyFilter", "Other"])
    assert isinstance(found["MyFilter"], IntegrityError) and "outside the store" in str(found["MyFilter"])
    assert found["Other"] == {"prod": store.latest("Other")}
    with pytest.raises(IntegrityError, match="outside the store"):
        Store(store.url).tags("MyFilter")
    code, output = cli(capsys, "ls", "--store", store.url)
    assert code == 0 and "DAMAGED" in output and "Other" in output and SECRET not in output


@needs_symlink
@pytest.mark.timeout(60)
def test_a_linked_blob_is_refused_and_verify_reports_it(
    local: tuple[Store, str], secret: Path, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store, full_hash = local
    blob = Path(store.blob_path("MyFilter", full_hash))
    replace_with_link(blob, secret)
    another_host(store, namespace)
    with pytest.raises(IntegrityError, match="outside the store") as caught:
        importlib.import_module(f"{namespace}.MyFilter@{full_hash}")
    assert str(blob) in str(caught.value) and SECRET not in str(caught.value)
    code, output = cli(capsys, "verify", "--store", store.url)
    assert code == 1 and "DAMAGED" in output and SECRET not in output


@needs_symlink
@pytest.mark.timeout(60)
@pytest.mark.parametrize("folder", ["refs/MyFilter", "blobs/MyFilter"])
def test_a_linked_folder_never_makes_push_write_outside_the_store(
    local: tuple[Store, str], tmp_path: Path, folder: str
) -> None:
    store, _ = local
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    replace_with_link(Path(store.root, folder), outside)
    with pytest.raises(IntegrityError, match="outside the store") as caught:
        remoteimport.push(make_filter(2), store=Store(store.url))
    assert folder in str(caught.value) and str(outside) in str(caught.value)
    assert list(outside.iterdir()) == []  # nothing written there, not even a temporary file


@needs_symlink
def test_a_linked_ref_folder_is_skipped_by_listings(
    local: tuple[Store, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, _ = local
    (tmp_path / "elsewhere").mkdir()
    (Path(store.root) / "refs" / "Planted").symlink_to(tmp_path / "elsewhere")
    listing = Store(store.url).scan_names()
    assert listing.names == ["MyFilter"]
    assert [(Path(entry.path).name, "symbolic link" in entry.reason) for entry in listing.skipped] == [
        ("Planted", True)
    ]
    code, output = cli(capsys, "verify", "--store", store.url)
    assert code == 0 and "skipped, not a class" in output and "refs/Planted" in output


@needs_symlink
@pytest.mark.timeout(60)
def test_a_linked_shard_folder_is_not_walked(local: tuple[Store, str], tmp_path: Path) -> None:
    store, full_hash = local
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / f"{'cd' * 32}.blob").write_bytes(b"not in the store")
    (Path(store.root) / "blobs" / "MyFilter" / "cd").symlink_to(decoy)
    fresh = Store(store.url)
    assert fresh.blob_hashes("MyFilter") == [full_hash]  # the link is not followed
    with pytest.raises(IntegrityError, match="outside the store"):
        fresh.resolve("MyFilter", "cdcdcdcd")


# -- FIFOs planted in a local store: refused at once, never waited on ----------------------------------------


@needs_fifo
@pytest.mark.timeout(30)
@pytest.mark.parametrize("where", ["latest", "blob", "history entry"])
def test_a_fifo_planted_in_the_store_is_refused_without_blocking(
    local: tuple[Store, str], namespace: str, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    store, full_hash = local
    root = Path(store.root)
    path = {
        "latest": root / "refs" / "MyFilter" / "latest",
        "blob": Path(store.blob_path("MyFilter", full_hash)),
        "history entry": next(root.glob("refs/MyFilter/history/*.json")),
    }[where]
    replace_with_fifo(path)
    consumer = another_host(store, namespace)
    read = {
        "latest": lambda: exec(f"from {namespace} import MyFilter", {}),
        "blob": lambda: importlib.import_module(f"{namespace}.MyFilter@{full_hash}"),
        "history entry": lambda: consumer.history("MyFilter"),
    }[where]
    started = time.perf_counter()
    with pytest.raises(IntegrityError, match="FIFO") as caught:
        read()
    assert str(path) in str(caught.value) and time.perf_counter() - started < 5
    ls_code, _ = cli(capsys, "ls", "--store", store.url)
    verify_code, output = cli(capsys, "verify", "--store", store.url)
    assert ls_code == 0 and verify_code == (1 if where == "blob" else 0)
    if where == "blob":
        assert "DAMAGED" in output and "FIFO" in output


@needs_fifo
@pytest.mark.timeout(30)
def test_a_fifo_in_the_blob_cache_is_passed_over_and_replaced(tmp_path: Path, namespace: str) -> None:
    cache = BlobCache(tmp_path / "cache")
    store = Store(tmp_path / "store", cache=cache)
    full_hash = remoteimport.push(make_filter(11), store=store)
    entry = Path(cache.path("MyFilter", full_hash))
    entry.parent.mkdir(parents=True)
    os.mkfifo(entry)
    assert cache.get("MyFilter", full_hash) is None  # not waited on
    remoteimport.install(Store(store.url, cache=cache), namespace=namespace)
    assert importlib.import_module(f"{namespace}.MyFilter@{full_hash}").MyFilter().apply(1) == 11
    assert entry.is_file() and cache.get("MyFilter", full_hash) is not None  # fetched from the store instead


# -- hostile bytes in refs and history entries are described, never quoted ---------------------------------


@pytest.mark.timeout(60)
def test_a_ref_holding_another_file_is_described_not_quoted(any_store: Store) -> None:
    remoteimport.push(make_filter(4), store=any_store)
    plant(any_store, "refs/MyFilter/latest", f"root:x:0:0:{SECRET}\n".encode())
    with pytest.raises(IntegrityError, match="does not hold a full hash") as caught:
        Store(any_store.url).latest("MyFilter")
    assert SECRET not in str(caught.value) and "bytes that are not a hash" in str(caught.value)
    plant(any_store, "refs/MyFilter/latest", b"abab1234\n")  # a truncated hash is shown: it helps, leaks nothing
    with pytest.raises(IntegrityError, match="'abab1234'"):
        Store(any_store.url).latest("MyFilter")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"root:x:0:0:" + SECRET.encode(), "not JSON"),
        (json.dumps({"name": SECRET, "hash": H1, "time": 1, "python": "3.11"}).encode(), "wrong type or value"),
        (json.dumps({"name": "MyFilter", "hash": H1, "time": SECRET, "python": "3.11"}).encode(), "wrong type"),
        (json.dumps({"name": "MyFilter", "time": 1}).encode(), "the key 'hash' is missing"),
        (b"[" * 100_000, "nested too deeply"),
        (b"\x80\x81" + SECRET.encode(), "not UTF-8"),
    ],
)
def test_a_hostile_history_entry_is_described_not_quoted(any_store: Store, content: bytes, words: str) -> None:
    remoteimport.push(make_filter(5), store=any_store)
    plant(any_store, f"refs/MyFilter/history/{'9' * 20}-planted.json", content)
    with pytest.raises(IntegrityError, match=words) as caught:
        Store(any_store.url).history("MyFilter")
    assert "planted.json" in str(caught.value) and SECRET not in str(caught.value)


# -- admin tools and junk ---------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_stray_entries_under_refs_are_skipped_and_reported(
    any_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    remoteimport.push(make_filter(6), store=any_store)
    plant(any_store, "refs/.DS_Store", b"\x00\x00\x00\x01Bud1")
    plant(any_store, "refs/bad name/latest", H1.encode())
    store = Store(any_store.url)
    assert store.names() == ["MyFilter"]
    skipped = {entry.path.rsplit("/", 1)[-1]: entry.reason for entry in store.scan_names().skipped}
    assert skipped == {".DS_Store": "not a folder (a stray file)", "bad name": "not a valid class name"}
    code, output = cli(capsys, "ls", "--store", store.url)
    assert code == 0 and "MyFilter" in output
    assert "skipped, not a class: " in output and "refs/.DS_Store" in output and "refs/bad name" in output
    code, output = cli(capsys, "--json", "ls", "--store", store.url)
    document = json.loads(output)
    assert code == 0 and [entry["name"] for entry in document["classes"]] == ["MyFilter"]
    assert sorted(entry["path"].rsplit("/", 1)[-1] for entry in document["skipped"]) == [".DS_Store", "bad name"]
    code, output = cli(capsys, "verify", "--store", store.url)
    assert code == 0 and " ok " in output and "refs/.DS_Store" in output and "refs/bad name" in output
    code, output = cli(capsys, "--json", "verify", "--store", store.url)
    document = json.loads(output)
    assert code == 0 and document["problems"] == 0 and len(document["skipped"]) == 2


def test_stray_files_among_blobs_are_not_versions(any_store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    full_hash = remoteimport.push(make_filter(7), store=any_store)
    for junk in [
        "blobs/MyFilter/ab/not-a-hash.blob",
        "blobs/MyFilter/.DS_Store",
        f"blobs/MyFilter/ab/{H1.upper()}.blob",
    ]:
        plant(any_store, junk, b"junk")
    assert Store(any_store.url).blob_hashes("MyFilter") == [full_hash]
    code, output = cli(capsys, "verify", "--store", any_store.url)
    assert code == 0 and "verified 1 versions" in output


def nested_header_blob() -> bytes:
    header = b"[" * 100_000
    return MAGIC + struct.pack(">I", len(header)) + header


@pytest.mark.timeout(60)
def test_a_deeply_nested_blob_header_is_an_integrity_error_and_verify_reports_it(
    any_store: Store, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    remoteimport.push(make_filter(8), store=any_store)
    forged = "ef" * 32
    any_store.write_blob("MyFilter", forged, nested_header_blob())
    any_store.set_latest("MyFilter", forged)
    another_host(any_store, namespace)
    for attempt in [
        lambda: importlib.import_module(f"{namespace}.MyFilter@{forged}"),
        lambda: exec(f"from {namespace} import MyFilter", {}),
    ]:
        with pytest.raises(IntegrityError, match="nested too deeply") as caught:
            attempt()
        assert forged in str(caught.value) and "NOT unpickled" in str(caught.value)
    code, output = cli(capsys, "--json", "verify", "--store", any_store.url)
    document = json.loads(output)
    states = {entry["hash"]: entry["state"] for entry in document["versions"]}
    assert code == 1 and document["problems"] == 1 and states[forged] == "DAMAGED" and "ok" in states.values()


# -- leftovers: temporary files, deleted pointers ------------------------------------------------------------


def test_a_failed_store_write_leaves_no_temporary_file(local: tuple[Store, str]) -> None:
    store, full_hash = local
    latest = Path(store.root) / "refs" / "MyFilter" / "latest"
    latest.unlink()
    latest.mkdir()  # a folder where the pointer goes: the rename fails
    (latest / "keep").write_text("x")
    with pytest.raises(StoreUnreachableError, match="refs/MyFilter/latest"):
        store.set_latest("MyFilter", full_hash)
    assert [path for path in all_files(Path(store.root)) if path.name.startswith(".tmp-")] == []


def test_stale_temporary_files_in_the_cache_are_counted_and_removed(tmp_path: Path) -> None:
    entry = b"x" * 1000
    cache = BlobCache(tmp_path / "cache", max_bytes=2500)
    cache.put("MyFilter", "01" * 32, entry)
    shard = Path(cache.path("MyFilter", "01" * 32)).parent
    stale, fresh = shard / ".tmp-crashed", shard / ".tmp-in-progress"
    stale.write_bytes(b"s" * 5000)
    fresh.write_bytes(b"f" * 1000)
    hour_ago = time.time() - STALE_TEMPORARY_AGE - 60
    os.utime(stale, (hour_ago, hour_ago))
    assert cache.size() == 7000  # temporary files are counted
    cache.put("MyFilter", "02" * 32, entry)  # 1000 + 1000 + the fresh 1000 > 2500: the oldest entry goes
    assert not stale.exists() and fresh.exists()
    assert cache.get("MyFilter", "01" * 32) is None and Path(cache.path("MyFilter", "02" * 32)).exists()
    assert cache.size() == 2000 <= cache.max_bytes
    cache.clear()
    assert fresh.exists() and cache.entries() == []  # a write in progress is not pulled from under its writer


@pytest.mark.timeout(120)
def test_a_name_whose_latest_was_deleted_says_how_to_set_it_again(
    any_store: Store, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = remoteimport.push(make_filter(9), store=any_store)
    remoteimport.push(make_filter(10), store=any_store)
    any_store.fs.rm_file(f"{any_store.root}/refs/MyFilter/latest")
    another_host(any_store, namespace)
    with pytest.raises(NameNotFoundError) as caught:
        exec(f"from {namespace} import MyFilter", {})
    message = str(caught.value)
    assert "has versions in the store" in message and "no latest pointer" in message
    assert "remoteimport rollback MyFilter" in message and first[:12] in message and "Did you mean" not in message
    with pytest.raises(NameNotFoundError, match="Did you mean MyFilter"):  # a typo still gets the suggestion
        exec(f"from {namespace} import MyFiltr", {})
    code, _ = cli(capsys, "rollback", "MyFilter", first, "--store", any_store.url)
    assert code == 0
    remoteimport.install(Store(any_store.url, cache=False), namespace=namespace)
    assert importlib.import_module(f"{namespace}.MyFilter@{first}").MyFilter().apply(1) == 9


def test_a_stray_file_in_a_shard_is_no_version(local: tuple[Store, str]) -> None:
    """A file in a blob shard not named ``<full hash>.blob`` (a copy, a planted name) is no candidate of a prefix
    and no version: the prefix still names the one version."""
    store, full_hash = local
    shard = Path(store.blob_path("MyFilter", full_hash)).parent
    (shard / f"{full_hash[:12]}.blob").write_bytes(b"stray")
    (shard / f"{full_hash.upper()}.blob").write_bytes(b"stray")
    assert store.resolve("MyFilter", full_hash[:8]) == full_hash
    assert store.blob_hashes("MyFilter") == [full_hash]
