"""Tests for remoteimport.store: the layout, immutability, atomic writes, prefix resolution and errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from remoteimport.errors import (
    AmbiguousPrefixError,
    InvalidNameError,
    NameNotFoundError,
    RemoteImportError,
    StoreError,
    StoreUnreachableError,
    VersionNotFoundError,
)
from remoteimport.store import ENV_STORE, Store, Version

H1 = "ab" * 32
H2 = "abcd" + "0" * 60
H3 = "cd" * 32


@pytest.fixture(params=["path", "file-url", "memory", "s3", "gs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "path":
        return Store(tmp_path / "store")
    if request.param == "file-url":
        return Store((tmp_path / "store").as_uri())
    if request.param in ("s3", "gs"):  # real servers (tests/backends.py)
        return Store(request.getfixturevalue(f"{request.param}_url"))
    return request.getfixturevalue("memory_store")


def stored_files(store: Store) -> list[str]:
    """Every file under the store's root, relative to it (temporary files included)."""
    if not store.fs.exists(store.root):
        return []
    return sorted(path[len(store.root) :].lstrip("/") for path in store.fs.find(store.root))


def version(name: str = "MyFilter", full_hash: str = H1, time: float = 1.0) -> Version:
    return Version(name, full_hash, time, "3.11")


# -- URLs and layout --------------------------------------------------------------------------------------


def test_plain_path_and_file_url_reach_the_same_local_folder(tmp_path: Path) -> None:
    Store(tmp_path / "s").write_blob("MyFilter", H1, b"data")
    by_url = Store((tmp_path / "s").as_uri())
    by_text = Store(str(tmp_path / "s"))
    assert by_url.read_blob("MyFilter", H1) == by_text.read_blob("MyFilter", H1) == b"data"
    assert (tmp_path / "s" / "blobs" / "MyFilter" / "ab" / f"{H1}.blob").read_bytes() == b"data"


def test_storage_options_are_passed_to_the_backend(tmp_path: Path) -> None:
    store = Store(tmp_path, auto_mkdir=True)
    assert store.storage_options == {"auto_mkdir": True} and store.fs.auto_mkdir is True
    assert store == Store(tmp_path, auto_mkdir=True) != Store(tmp_path)
    assert repr(store) == f"Store({str(tmp_path)!r})"


def test_layout_of_blobs_latest_and_history(store: Store) -> None:
    store.write_blob("MyFilter", H1, b"blob-bytes")
    store.set_latest("MyFilter", H1)
    store.append_history(version())
    files = stored_files(store)
    assert files[:2] == [f"blobs/MyFilter/ab/{H1}.blob", "refs/MyFilter/history/" + files[1].rsplit("/", 1)[-1]]
    assert files[2:] == ["refs/MyFilter/latest"]
    assert files[1].endswith(".json") and f"-{H1[:16]}-" in files[1]
    assert store.blob_path("MyFilter", H1) == store.root + f"/blobs/MyFilter/ab/{H1}.blob"
    assert store.fs.cat_file(store.root + "/refs/MyFilter/latest").decode() == H1
    assert store.latest("MyFilter") == H1
    assert store.names() == ["MyFilter"] and store.exists("MyFilter")


def test_empty_store(store: Store) -> None:
    assert store.names() == [] and store.latest("MyFilter") is None and store.history("MyFilter") == []
    assert not store.exists("MyFilter") and not store.has_blob("MyFilter", H1)


def test_blobs_are_immutable(store: Store) -> None:
    store.write_blob("MyFilter", H1, b"first")
    store.write_blob("MyFilter", H1, b"second")
    assert store.read_blob("MyFilter", H1) == b"first"
    assert stored_files(store) == [f"blobs/MyFilter/ab/{H1}.blob"]


def test_latest_moves_and_history_is_append_only(store: Store) -> None:
    for index, full_hash in enumerate([H1, H3, H1]):
        store.write_blob("MyFilter", full_hash, full_hash.encode())
        store.set_latest("MyFilter", full_hash)
        store.append_history(version(full_hash=full_hash, time=float(index)))
    before = {path: store.fs.cat_file(f"{store.root}/{path}") for path in stored_files(store) if "history" in path}
    assert len(before) == 3  # one object per push
    store.append_history(Version("MyFilter", H3, 9.0, "3.12", action="rollback"))
    after = {path: store.fs.cat_file(f"{store.root}/{path}") for path in stored_files(store) if "history" in path}
    assert len(after) == 4 and {path: after[path] for path in before} == before  # nothing rewritten
    history = store.history("MyFilter")
    assert [v.hash for v in history] == [H3, H1, H3, H1]  # newest first
    assert history[0] == Version("MyFilter", H3, 9.0, "3.12", action="rollback")
    assert [v.time for v in history[1:]] == [2.0, 1.0, 0.0]
    assert store.latest("MyFilter") == H1


def test_history_objects_are_plain_json(store: Store) -> None:
    store.append_history(version())
    (path,) = [p for p in stored_files(store) if "history" in p]
    assert json.loads(store.fs.cat_file(f"{store.root}/{path}")) == {
        "action": "push",
        "hash": H1,
        "name": "MyFilter",
        "python": "3.11",
        "time": 1.0,
    }


def test_history_ignores_temporary_files_of_a_write_in_progress(tmp_path: Path) -> None:
    # A reader listing the history while another process is writing an entry sees its temporary file.
    store = Store(tmp_path)
    store.append_history(version())
    (tmp_path / "refs" / "MyFilter" / "history" / ".tmp-abc123").write_bytes(b'{"half": ')
    assert [v.hash for v in store.history("MyFilter")] == [H1]


def test_names_are_sorted(store: Store) -> None:
    for name in ["Zeta", "Alpha", "Mid"]:
        store.write_blob(name, H1, b"x")
        store.set_latest(name, H1)
    assert store.names() == ["Alpha", "Mid", "Zeta"]


# -- prefix resolution ------------------------------------------------------------------------------------


def put_versions(store: Store, *hashes: str, name: str = "MyFilter") -> None:
    for full_hash in hashes:
        store.write_blob(name, full_hash, full_hash.encode())
    store.set_latest(name, hashes[-1])
    for index, full_hash in enumerate(hashes):
        store.append_history(version(name, full_hash, float(index)))


def test_resolve_unique_prefix_and_full_hash(store: Store) -> None:
    put_versions(store, H1, H3)
    assert store.resolve("MyFilter", H1[:8]) == H1
    assert store.resolve("MyFilter", H3[:8].upper()) == H3
    assert store.resolve("MyFilter", H1) == H1


def test_resolving_a_prefix_lists_exactly_one_shard(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    put_versions(store, H1, H3)
    listed: list[str] = []
    original = store.fs.ls
    monkeypatch.setattr(store.fs, "ls", lambda path, **kw: listed.append(path) or original(path, **kw))
    assert store.resolve("MyFilter", H1[:10]) == H1
    assert len(listed) == 1 and listed[0].rstrip("/").endswith("blobs/MyFilter/ab")


def test_ambiguous_prefix_lists_the_candidates(store: Store) -> None:
    put_versions(store, H1, H2)  # same shard as H1, different 8-digit prefix
    twin = H1[:8] + "f" * 56  # a second blob whose hash shares 8 digits with H1
    store.write_blob("MyFilter", twin, b"twin")
    with pytest.raises(AmbiguousPrefixError) as caught:
        store.resolve("MyFilter", H1[:8])
    message = str(caught.value)
    assert H1 in message and twin in message and H2 not in message and store.url in message
    assert isinstance(caught.value, ImportError) and isinstance(caught.value, RemoteImportError)
    assert store.resolve("MyFilter", H1[:9]) == H1  # one more digit settles it
    assert store.resolve("MyFilter", "ab" * 4 + "f") == twin


def test_unknown_prefix_lists_the_known_versions(store: Store) -> None:
    put_versions(store, H1, H3)
    with pytest.raises(VersionNotFoundError) as caught:
        store.resolve("MyFilter", "ab" + "0" * 8)
    message = str(caught.value)
    assert "ab00000000" in message and "MyFilter" in message and store.url in message
    assert H1[:12] in message and H3[:12] in message  # the candidates to choose from
    assert isinstance(caught.value, ImportError)


def test_unknown_name_suggests_close_matches(store: Store) -> None:
    put_versions(store, H1)
    with pytest.raises(NameNotFoundError) as caught:
        store.resolve("MyFiltr", H1[:8])
    message = str(caught.value)
    assert "'MyFiltr'" in message and store.url in message and "MyFilter" in message
    assert isinstance(caught.value, ModuleNotFoundError)
    error = store.name_not_found("MyFiltr", namespace="labchain_remote")
    assert "labchain_remote" in str(error) and error.name == "labchain_remote.MyFiltr"


def test_reading_a_missing_blob_names_it(store: Store) -> None:
    put_versions(store, H1)
    with pytest.raises(VersionNotFoundError, match=H3):
        store.read_blob("MyFilter", H3)


def test_stray_temporary_files_in_a_shard_are_not_versions(tmp_path: Path) -> None:
    store = Store(tmp_path)
    put_versions(store, H1)
    (tmp_path / "blobs" / "MyFilter" / "ab" / ".tmp-ab12cd34").write_bytes(b"partial")
    assert store.resolve("MyFilter", "abababab") == H1


# -- names are checked before any storage access ----------------------------------------------------------

BAD_NAMES = ["", "..", "a/b", "../etc", "not an identifier", "x\x00", "a.b", "9lives"]
BAD_HASHES = ["", "abc", "abcdef1", "../../../../etc/pass", "g" * 8, H1 + "0", "/" + "a" * 63]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_malformed_names_are_refused_before_any_storage_access(forbidden_store: Store, bad: str) -> None:
    store = forbidden_store
    calls = [
        lambda: store.blob_path(bad, H1),
        lambda: store.has_blob(bad, H1),
        lambda: store.write_blob(bad, H1, b"x"),
        lambda: store.read_blob(bad, H1),
        lambda: store.resolve(bad, H1[:8]),
        lambda: store.latest(bad),
        lambda: store.set_latest(bad, H1),
        lambda: store.append_history(Version(bad, H1, 0.0, "3.11")),
        lambda: store.history(bad),
        lambda: store.exists(bad),
    ]
    for call in calls:
        with pytest.raises(InvalidNameError):
            call()
    assert store.fs.calls == []


@pytest.mark.parametrize("bad", BAD_HASHES)
def test_malformed_hashes_are_refused_before_any_storage_access(forbidden_store: Store, bad: str) -> None:
    store = forbidden_store
    for call in [
        lambda: store.blob_path("MyFilter", bad),
        lambda: store.has_blob("MyFilter", bad),
        lambda: store.write_blob("MyFilter", bad, b"x"),
        lambda: store.read_blob("MyFilter", bad),
        lambda: store.resolve("MyFilter", bad),
        lambda: store.set_latest("MyFilter", bad),
    ]:
        with pytest.raises(InvalidNameError):
            call()
    assert store.fs.calls == []


def test_a_prefix_is_not_a_blob_key(forbidden_store: Store) -> None:
    with pytest.raises(InvalidNameError):
        forbidden_store.blob_path("MyFilter", H1[:8])
    assert forbidden_store.fs.calls == []


# -- atomic writes ----------------------------------------------------------------------------------------


def test_local_writes_go_through_a_temporary_file_in_the_same_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path)
    renames: list[tuple[str, str]] = []
    original = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: renames.append((src, dst)) or original(src, dst))
    store.write_blob("MyFilter", H1, b"x")
    store.set_latest("MyFilter", H1)
    store.append_history(version())
    assert len(renames) == 3
    for source, destination in renames:
        assert os.path.dirname(source) == os.path.dirname(destination)
        assert os.path.basename(source).startswith(".tmp-") and os.path.exists(destination)
    assert not [p for p in stored_files(store) if ".tmp-" in p]


def test_a_failed_local_write_leaves_neither_a_partial_file_nor_a_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path)
    store.write_blob("MyFilter", H1, b"v1")
    store.set_latest("MyFilter", H1)

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(StoreUnreachableError, match="No space left"):
        store.write_blob("MyFilter", H3, b"v2" * 1000)
    with pytest.raises(StoreUnreachableError):
        store.set_latest("MyFilter", H3)
    monkeypatch.undo()
    assert not store.has_blob("MyFilter", H3)
    assert store.latest("MyFilter") == H1  # the old pointer survives a failed overwrite
    assert stored_files(store) == [f"blobs/MyFilter/ab/{H1}.blob", "refs/MyFilter/latest"]


# -- errors -----------------------------------------------------------------------------------------------


def test_empty_url_and_unknown_protocol_are_refused() -> None:
    with pytest.raises(StoreError, match="empty store URL"):
        Store("")
    with pytest.raises(StoreError, match="nosuchproto://bucket") as caught:
        Store("nosuchproto://bucket/x")
    assert isinstance(caught.value, RemoteImportError)


def test_unreachable_local_store_names_the_url(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    store = Store(blocker / "store")
    with pytest.raises(StoreUnreachableError) as caught:
        store.write_blob("MyFilter", H1, b"x")
    assert str(blocker / "store") in str(caught.value)
    assert isinstance(caught.value, OSError) and isinstance(caught.value, StoreError)
    for call in [lambda: store.latest("MyFilter"), lambda: store.read_blob("MyFilter", H1)]:
        with pytest.raises(StoreUnreachableError, match=str(blocker / "store")):
            call()


def test_backend_failures_become_store_unreachable_errors(memory_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise ConnectionError("connection refused")

    for method in ["ls", "cat_file", "pipe_file", "exists", "cat"]:
        monkeypatch.setattr(memory_store.fs, method, refuse)
    for call in [
        lambda: memory_store.latest("MyFilter"),
        lambda: memory_store.names(),
        lambda: memory_store.resolve("MyFilter", H1[:8]),
        lambda: memory_store.write_blob("MyFilter", H1, b"x"),
        lambda: memory_store.history("MyFilter"),
        lambda: memory_store.has_blob("MyFilter", H1),
    ]:
        with pytest.raises(StoreUnreachableError) as caught:
            call()
        assert memory_store.url in str(caught.value) and "connection refused" in str(caught.value)


def test_default_store_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_STORE, str(tmp_path / "configured"))
    assert Store.default() == Store(tmp_path / "configured")
    monkeypatch.delenv(ENV_STORE)
    assert Store.default().url.endswith(os.path.join("remoteimport", "store"))


def test_read_verified_blob_checks_name_hash_and_digest(store: Store) -> None:
    from remoteimport.blob import encode_blob, make_header
    from remoteimport.errors import IntegrityError

    good = encode_blob(make_header("MyFilter", H1, b"payload"), b"payload")
    store.write_blob("MyFilter", H1, good)
    assert store.read_verified_blob("MyFilter", H1).header.hash == H1
    store.write_blob("Other", H3, good)  # a blob copied over another key
    with pytest.raises(IntegrityError, match=f"{store.blob_url('Other', H3)}"):
        store.read_verified_blob("Other", H3)
    third = encode_blob(make_header("Third", H2, b"payload"), b"payload")
    store.write_blob("Third", H2, third[:-1] + b"X")  # a damaged payload under its own name and hash
    with pytest.raises(IntegrityError, match="payload sha256 .* NOT unpickled"):
        store.read_verified_blob("Third", H2)
