"""Tests for remoteimport.registry: persist, push, push_all, status, versions, get_version, rollback.

In-process tests on ``memory://`` stores; crafted blobs prove that a bad payload is refused before
anything is unpickled (the payloads would create a marker folder if they ever were).
"""

from __future__ import annotations

import os
import pickle
import secrets
import sys
import threading
import time
import types
import uuid
from pathlib import Path

import pytest
from sample_classes import make_filter

import remoteimport
from remoteimport import hashing, loader, registry
from remoteimport.blob import decode_blob, encode_blob, make_header
from remoteimport.capture import capture_class
from remoteimport.errors import (
    IncompatibleBlobError,
    IntegrityError,
    InvalidNameError,
    NameNotFoundError,
    PushError,
    RemoteImportError,
    StoreUnreachableError,
    VersionNotFoundError,
)
from remoteimport.store import Store

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def unique_filter() -> type:
    """A version never loaded before in this process (the per-process cache would hide a fresh load)."""
    return make_filter(uuid.uuid4().hex)


def stored_files(store: Store) -> list[str]:
    if not store.fs.exists(store.root):
        return []
    return sorted(path[len(store.root) :].lstrip("/") for path in store.fs.find(store.root))


class _Plant:
    """Unpickling this creates the folder ``marker``: the proof that a payload was (or was not) unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.marker,))


def planted_payload(marker: Path) -> bytes:
    return pickle.dumps(_Plant(marker))


def craft_blob(
    store: Store, payload: bytes, *, name: str = "MyFilter", full_hash: str | None = None, **header_options: object
) -> str:
    """Write a blob with a valid digest for ``payload`` under ``full_hash`` (default: a fresh random hash,
    which a load refuses once it re-hashes the class); make it ``latest``."""
    full_hash = full_hash or secrets.token_hex(32)
    header = make_header(name, full_hash, payload, **header_options)  # type: ignore[arg-type]
    store.write_blob(name, full_hash, encode_blob(header, payload))
    store.set_latest(name, full_hash)
    return full_hash


@pytest.fixture(autouse=True)
def isolated_persisted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Classes marked with @persist here must not leak into other tests' push_all()."""
    monkeypatch.setattr(registry, "_PERSISTED", {})


def test_the_planted_payload_really_runs_when_unpickled(tmp_path: Path) -> None:
    pickle.loads(planted_payload(tmp_path / "control"))
    assert (tmp_path / "control").is_dir()


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (remoteimport.UnhashableObjectError, TypeError),
        (remoteimport.InvalidNameError, ValueError),
        (remoteimport.StoreError, Exception),
        (remoteimport.StoreUnreachableError, OSError),
        (remoteimport.NameNotFoundError, ModuleNotFoundError),
        (remoteimport.VersionNotFoundError, ImportError),
        (remoteimport.AmbiguousPrefixError, ImportError),
        (remoteimport.IntegrityError, Exception),
        (remoteimport.IncompatibleBlobError, ImportError),
        (remoteimport.PushError, Exception),
    ],
)
def test_every_error_is_a_remote_import_error_and_the_builtin_callers_catch(error: type, builtin: type) -> None:
    assert issubclass(error, RemoteImportError) and issubclass(error, builtin)


# -- persist ----------------------------------------------------------------------------------------------


def test_persist_marks_without_modifying_or_pushing(memory_store: Store) -> None:
    cls = make_filter(2)
    before = dict(vars(cls))
    assert remoteimport.persist(cls) is cls
    assert dict(vars(cls)) == before and cls.__module__ == make_filter.__module__
    assert remoteimport.status(cls, store=memory_store) == "untracked" and stored_files(memory_store) == []


def test_persist_with_options(memory_store: Store) -> None:
    cls = remoteimport.persist(name="Renamed", store=memory_store, auto_push=True)(make_filter(3))
    assert memory_store.names() == ["Renamed"] and memory_store.latest("Renamed") == hashing.class_hash(cls)
    assert remoteimport.status(cls) == "synced"  # the store given to @persist is remembered
    loaded = remoteimport.get_version("Renamed", memory_store.latest("Renamed"), store=memory_store)
    assert loaded.__qualname__ == "Renamed" and loaded().apply(2) == 6


def test_one_body_stored_under_two_names_loads_as_two_classes_named_as_stored(memory_store: Store) -> None:
    """The name a version is stored under is not in its hash: a class loaded as `MyFilter@h` must not be handed
    out for `Renamed@h` (it was, when `MyFilter@h` had been loaded first in the process)."""
    body = make_filter(4)
    full = remoteimport.push(body, store=memory_store)
    assert remoteimport.push(body, store=memory_store, name="Renamed") == full
    first = remoteimport.get_version("MyFilter", full, store=memory_store)
    renamed = remoteimport.get_version("Renamed", full, store=memory_store)
    assert (first.__qualname__, renamed.__qualname__) == ("MyFilter", "Renamed")
    assert first is not renamed and renamed().apply(2) == 8


def test_checking_a_stored_blob_at_push_leaves_nothing_in_linecache(memory_store: Store) -> None:
    """A push that finds its blob stored loads it once to check it; a push_all of thousands of unchanged classes
    kept every checked version's shipped lines in linecache for the life of the process (1.3 GB at 5,000)."""
    import linecache

    cls = make_filter("checked at push only")  # a version no other test imports (an import keeps its lines)
    full_hash = remoteimport.push(cls, store=memory_store)
    assert remoteimport.push(cls, store=memory_store) == full_hash  # the stored blob is checked, not replaced
    label = f"MyFilter@{full_hash[:12]}"
    assert not [name for name in linecache.cache if label in name]


def test_persist_refuses_non_classes_and_bad_names() -> None:
    with pytest.raises(TypeError, match="decorates classes"):
        remoteimport.persist(lambda: None)  # type: ignore[type-var]
    for bad in ["../evil", ""]:
        with pytest.raises(InvalidNameError):
            remoteimport.persist(name=bad)(make_filter(1))


# -- push, status, push_all -------------------------------------------------------------------------------


def test_push_returns_the_full_hash_and_writes_the_layout(memory_store: Store) -> None:
    cls = make_filter(2)
    full_hash = remoteimport.push(cls, store=memory_store)
    assert full_hash == hashing.class_hash(cls) and len(full_hash) == 64
    files = stored_files(memory_store)
    assert files[0] == f"blobs/MyFilter/{full_hash[:2]}/{full_hash}.blob"
    assert files[1].startswith("refs/MyFilter/history/") and files[2] == "refs/MyFilter/latest"
    assert len(files) == 3
    header = decode_blob(memory_store.read_blob("MyFilter", full_hash)).header
    assert (header.name, header.hash, header.python) == ("MyFilter", full_hash, PYTHON)
    assert header.qualname == cls.__qualname__ and header.module == make_filter.__module__


def test_push_accepts_a_url_instead_of_a_store(tmp_path: Path) -> None:
    full_hash = remoteimport.push(make_filter(2), store=str(tmp_path))
    assert (tmp_path / "blobs" / "MyFilter" / full_hash[:2] / f"{full_hash}.blob").is_file()
    assert (tmp_path / "refs" / "MyFilter" / "latest").read_text() == full_hash


def record_writes(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the order of blob, pointer and history writes; check the blob is complete before a pointer."""
    log: list[str] = []
    write_blob, set_latest, append_history = store.write_blob, store.set_latest, store.append_history

    def recording_set_latest(name: str, full_hash: str) -> None:
        decode_blob(store.read_blob(name, full_hash), expected_hash=full_hash)  # complete and valid already
        log.append("set_latest")
        set_latest(name, full_hash)

    monkeypatch.setattr(store, "write_blob", lambda *a, **k: log.append("write_blob") or write_blob(*a, **k))
    monkeypatch.setattr(store, "set_latest", recording_set_latest)
    monkeypatch.setattr(store, "append_history", lambda v: log.append("append_history") or append_history(v))
    return log


def test_push_uploads_only_when_absent_then_appends_history_then_moves_latest(
    memory_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = record_writes(memory_store, monkeypatch)
    v1, v2 = make_filter(1), make_filter(2)
    remoteimport.push(v1, store=memory_store)
    assert log == ["write_blob", "append_history", "set_latest"]
    log.clear()
    remoteimport.push(v1, store=memory_store)  # already synced: nothing to write
    assert log == []
    remoteimport.push(v2, store=memory_store)
    assert log == ["write_blob", "append_history", "set_latest"]
    log.clear()
    remoteimport.push(v1, store=memory_store)  # blob present: only the pointer moves
    assert log == ["append_history", "set_latest"]
    assert len(remoteimport.versions("MyFilter", store=memory_store)) == 3


def test_no_pointer_when_the_blob_write_fails(memory_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    pipe_file = memory_store.fs.pipe_file

    def failing_pipe_file(path: str, data: bytes, **kwargs: object) -> None:
        if path.endswith(".blob"):
            raise ConnectionResetError("connection reset mid-upload")
        pipe_file(path, data, **kwargs)

    monkeypatch.setattr(memory_store.fs, "pipe_file", failing_pipe_file)
    with pytest.raises(StoreUnreachableError, match=memory_store.url):
        remoteimport.push(make_filter(1), store=memory_store)
    assert stored_files(memory_store) == [] and memory_store.latest("MyFilter") is None


def test_status(memory_store: Store) -> None:
    v1, v2 = make_filter(1), make_filter(2)
    assert remoteimport.status(v1, store=memory_store) == "untracked"
    remoteimport.push(v1, store=memory_store)
    assert remoteimport.status(v1, store=memory_store) == "synced"
    assert remoteimport.status(v2, store=memory_store) == "out_of_sync"
    remoteimport.push(v2, store=memory_store)
    assert remoteimport.status(v1, store=memory_store) == "out_of_sync"
    assert remoteimport.status(v2, store=memory_store) == "synced"
    assert remoteimport.status(v2, store=memory_store, name="Other") == "untracked"


def test_push_all(memory_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = remoteimport.persist(make_filter(1))
    second = remoteimport.persist(name="Second", store=memory_store)(make_filter(2))
    other = Store(tmp_path)
    pushed = remoteimport.push_all(store=other)
    assert pushed == {"MyFilter": hashing.class_hash(first), "Second": hashing.class_hash(second)}
    assert other.names() == ["MyFilter", "Second"]
    assert remoteimport.status(second) == "untracked"  # its own store was not the target
    monkeypatch.setenv("REMOTEIMPORT_STORE", str(tmp_path / "default"))
    assert remoteimport.push_all() == pushed
    assert memory_store.names() == ["Second"] and Store(tmp_path / "default").names() == ["MyFilter"]


# -- versions, get_version, rollback ----------------------------------------------------------------------


def test_versions_newest_first(memory_store: Store) -> None:
    before = time.time()
    h1 = remoteimport.push(make_filter(1), store=memory_store)
    h2 = remoteimport.push(make_filter(2), store=memory_store)
    history = remoteimport.versions("MyFilter", store=memory_store)
    assert [v.hash for v in history] == [h2, h1]
    assert all(v.python == PYTHON and v.action == "push" and v.name == "MyFilter" for v in history)
    assert time.time() >= history[0].time >= history[1].time >= before


def test_get_version_by_prefix_and_full_hash_gives_one_class(memory_store: Store) -> None:
    full_hash = remoteimport.push(make_filter(7), store=memory_store)
    by_prefix = remoteimport.get_version("MyFilter", full_hash[:8], store=memory_store)
    by_full = remoteimport.get_version("MyFilter", full_hash.upper(), store=memory_store)
    assert by_prefix is by_full and by_full().apply(3) == 21
    assert by_full.__module__ == f"labchain_remote.MyFilter@{full_hash}" and by_full.__qualname__ == "MyFilter"
    assert sys.modules[by_full.__module__].MyFilter is by_full


def test_two_versions_coexist(memory_store: Store) -> None:
    h1 = remoteimport.push(make_filter(1), store=memory_store)
    h2 = remoteimport.push(make_filter(2), store=memory_store)
    v1 = remoteimport.get_version("MyFilter", h1[:8], store=memory_store)
    v2 = remoteimport.get_version("MyFilter", h2[:8], store=memory_store)
    assert v1 is not v2 and (v1().apply(5), v2().apply(5)) == (5, 10)


def test_loading_a_version_leaves_the_pushed_class_alone(memory_store: Store) -> None:
    # cloudpickle hands back a live class of this process when one with the same tracker id exists;
    # loading must give the stored version, never rebind or re-home the user's own class.
    cls = unique_filter()
    full_hash = remoteimport.push(cls, store=memory_store)
    loaded = remoteimport.get_version("MyFilter", full_hash, store=memory_store)
    assert loaded is not cls and cls.__module__ == make_filter.__module__
    assert hashing.class_hash(cls) == full_hash and remoteimport.status(cls, store=memory_store) == "synced"


def test_versions_pushed_from_one_mutated_class_stay_distinct(memory_store: Store) -> None:
    cls = unique_filter()
    cls.factor = 1
    h1 = remoteimport.push(cls, store=memory_store)
    cls.factor = 2
    h2 = remoteimport.push(cls, store=memory_store)
    assert h1 != h2
    v1 = remoteimport.get_version("MyFilter", h1, store=memory_store)
    v2 = remoteimport.get_version("MyFilter", h2, store=memory_store)
    assert v1 is not v2 and (v1().apply(5), v2().apply(5)) == (5, 10)
    assert cls.factor == 2  # loading did not reset the live class's attributes


def test_rollback(memory_store: Store) -> None:
    v1, v2 = make_filter(1), make_filter(2)
    h1 = remoteimport.push(v1, store=memory_store)
    h2 = remoteimport.push(v2, store=memory_store)
    assert remoteimport.rollback("MyFilter", h1[:8], store=memory_store) == h1
    assert memory_store.latest("MyFilter") == h1
    assert remoteimport.status(v1, store=memory_store) == "synced"
    history = remoteimport.versions("MyFilter", store=memory_store)
    assert [(v.hash, v.action) for v in history] == [(h1, "rollback"), (h2, "push"), (h1, "push")]


def test_rollback_to_an_unknown_version_changes_nothing(memory_store: Store) -> None:
    h1 = remoteimport.push(make_filter(1), store=memory_store)
    missing = ("0" if h1[0] != "0" else "1") * 64
    for target in [missing[:8], missing]:
        with pytest.raises(VersionNotFoundError):
            remoteimport.rollback("MyFilter", target, store=memory_store)
    assert memory_store.latest("MyFilter") == h1 and len(remoteimport.versions("MyFilter", store=memory_store)) == 1


def test_unknown_names(memory_store: Store) -> None:
    full_hash = remoteimport.push(make_filter(1), store=memory_store)
    for call in [
        lambda: remoteimport.versions("MyFiltr", store=memory_store),
        lambda: remoteimport.get_version("MyFiltr", full_hash[:8], store=memory_store),
        lambda: remoteimport.get_version("MyFiltr", full_hash, store=memory_store),
        lambda: remoteimport.rollback("MyFiltr", full_hash[:8], store=memory_store),
    ]:
        with pytest.raises(NameNotFoundError) as caught:
            call()
        assert "'MyFiltr'" in str(caught.value) and memory_store.url in str(caught.value)
        assert "MyFilter" in str(caught.value).replace("'MyFiltr'", "")  # the close match


def test_get_version_is_thread_safe(memory_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    full_hash = remoteimport.push(unique_filter(), store=memory_store)
    unpickled = []
    original = loader._unpickle_verified

    def slow_unpickle(*args: object) -> type:
        unpickled.append(args)
        time.sleep(0.05)  # widen the window in which other threads arrive
        return original(*args)

    monkeypatch.setattr(loader, "_unpickle_verified", slow_unpickle)
    barrier = threading.Barrier(8)
    results: list[type] = []

    def load() -> None:
        barrier.wait()
        results.append(remoteimport.get_version("MyFilter", full_hash[:8], store=memory_store))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and len({id(cls) for cls in results}) == 1 and len(unpickled) == 1


# -- errors: nothing bad is unpickled ---------------------------------------------------------------------


def test_payload_digest_mismatch_is_refused_before_unpickling(memory_store: Store, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    evil = planted_payload(marker)
    benign = b"\x80" + b"\x00" * (len(evil) - 1)  # same length: only the digest gives it away
    full_hash = secrets.token_hex(32)
    genuine = encode_blob(make_header("MyFilter", full_hash, benign), benign)
    memory_store.write_blob("MyFilter", full_hash, genuine[: -len(benign)] + evil)
    memory_store.set_latest("MyFilter", full_hash)
    with pytest.raises(IntegrityError, match="sha256") as caught:
        remoteimport.get_version("MyFilter", full_hash, store=memory_store)
    assert isinstance(caught.value, RemoteImportError) and "NOT unpickled" in str(caught.value)
    assert not marker.exists()


def test_a_flipped_byte_in_a_genuine_blob_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    full_hash = remoteimport.push(unique_filter(), store=store)
    path = tmp_path / "store" / "blobs" / "MyFilter" / full_hash[:2] / f"{full_hash}.blob"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=full_hash):
        remoteimport.get_version("MyFilter", full_hash[:8], store=store)
    assert f"labchain_remote.MyFilter@{full_hash}" not in sys.modules


def test_a_blob_holding_another_class_is_refused(memory_store: Store, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    payload = planted_payload(marker)
    full_hash = secrets.token_hex(32)
    header = make_header("Other", full_hash, payload)  # a genuine blob of another name, copied here
    memory_store.write_blob("MyFilter", full_hash, encode_blob(header, payload))
    with pytest.raises(IntegrityError, match="'Other'"):
        remoteimport.get_version("MyFilter", full_hash, store=memory_store)
    assert not marker.exists()


def test_another_python_version_is_refused_before_unpickling(memory_store: Store, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    full_hash = craft_blob(memory_store, planted_payload(marker), python="3.99")
    with pytest.raises(IncompatibleBlobError) as caught:
        remoteimport.get_version("MyFilter", full_hash[:8], store=memory_store)
    message = str(caught.value)
    assert "3.99" in message and f"Python {PYTHON}" in message and isinstance(caught.value, RemoteImportError)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("requirements", "expected"),
    [
        ({"definitely-not-installed-dist": "1.0"}, "definitely-not-installed-dist==1.0, which is not installed"),
        ({"pytest": "0.1"}, f"pytest 0.1 but this host has pytest {pytest.__version__}"),
    ],
)
def test_missing_or_other_major_requirements_are_refused_before_unpickling(
    memory_store: Store, tmp_path: Path, requirements: dict[str, str], expected: str
) -> None:
    marker = tmp_path / "unpickled"
    full_hash = craft_blob(memory_store, planted_payload(marker), requirements=requirements)
    with pytest.raises(IncompatibleBlobError) as caught:
        remoteimport.get_version("MyFilter", full_hash, store=memory_store)
    assert expected in str(caught.value) and isinstance(caught.value, ImportError)
    assert not marker.exists()


def test_matching_requirements_load(memory_store: Store) -> None:
    cls = make_filter(4)
    captured = capture_class(cls, path="MyFilter")  # payload and shipped source, as push makes them
    major = pytest.__version__.split(".")[0]
    full_hash = craft_blob(
        memory_store,
        captured.payload,
        full_hash=hashing.class_hash(cls),
        source=captured.source,
        requirements={"pytest": f"{major}.0.0"},
    )
    assert remoteimport.get_version("MyFilter", full_hash, store=memory_store)().apply(2) == 8


@pytest.fixture
def hashable_generator() -> object:
    """Teach the hasher about generators so hashing succeeds and pickling is what fails."""
    hashing.register(types.GeneratorType, lambda generator: "a generator")
    yield types.GeneratorType
    hashing.unregister(types.GeneratorType)


def test_an_unpicklable_attribute_is_named_and_nothing_is_written(
    memory_store: Store, hashable_generator: object
) -> None:
    class WithStream:
        guard = (n for n in range(3))

        def apply(self, x: int) -> int:
            return x

    hashing.class_hash(WithStream)  # hashing alone succeeds
    with pytest.raises(PushError) as caught:
        remoteimport.push(WithStream, store=memory_store)
    assert "WithStream.guard" in str(caught.value) and "Nothing was written" in str(caught.value)
    assert isinstance(caught.value, RemoteImportError)
    assert stored_files(memory_store) == [] and memory_store.names() == []


def test_unreachable_store_names_the_url(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the store's folder should be")
    url = str(blocker / "store")
    with pytest.raises(StoreUnreachableError, match=url) as caught:
        remoteimport.push(make_filter(1), store=url)
    assert isinstance(caught.value, RemoteImportError)
    with pytest.raises(StoreUnreachableError, match=url):
        remoteimport.get_version("MyFilter", "ab" * 4, store=url)
    with pytest.raises(StoreUnreachableError, match="memory://"):
        broken = Store("memory://remoteimport-test-broken")
        broken.fs = None  # type: ignore[assignment]  # any backend failure
        remoteimport.status(make_filter(1), store=broken)


# -- malformed names never reach the store ----------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "..", "a/b", "not an identifier", "x\x00", "9lives"])
def test_malformed_names_are_refused_before_any_storage_access(forbidden_store: Store, bad: str) -> None:
    cls = make_filter(1)
    calls = [
        lambda store: remoteimport.get_version(bad, "abcdef12", store=store),
        lambda store: remoteimport.versions(bad, store=store),
        lambda store: remoteimport.rollback(bad, "abcdef12", store=store),
        lambda store: remoteimport.push(cls, store=store, name=bad),
        lambda store: remoteimport.status(cls, store=store, name=bad),
    ]
    for call in calls:
        # an instrumented store, and a URL whose backend does not even exist
        for store in [forbidden_store, "nosuchproto://bucket/classes"]:
            with pytest.raises(InvalidNameError):
                call(store)
    assert forbidden_store.fs.calls == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", ["", "abcdef1", "../../etc", "9zzzzzzz", "z.zzzzzz", "ab" * 32 + "0"])
def test_malformed_hashes_are_refused_before_any_storage_access(forbidden_store: Store, bad: str) -> None:
    for store in [forbidden_store, "nosuchproto://bucket/classes"]:
        for call in [remoteimport.get_version, remoteimport.rollback]:
            with pytest.raises(InvalidNameError):
                call("MyFilter", bad, store=store)
    assert forbidden_store.fs.calls == []  # type: ignore[attr-defined]


def test_status_report_gives_both_hashes_it_compared(tmp_path) -> None:
    import remoteimport

    class Reporter:
        def run(self):
            return 1

    store = str(tmp_path / "store")
    untracked = remoteimport.status_report(Reporter, store=store)
    assert (untracked.state, untracked.latest, untracked.name) == ("untracked", None, "Reporter")
    full = remoteimport.push(Reporter, store=store)
    synced = remoteimport.status_report(Reporter, store=store)
    assert (synced.state, synced.local, synced.latest) == ("synced", full, full)
    Reporter.limit = 3  # a class attribute is part of the identity
    changed = remoteimport.status_report(Reporter, store=store)
    assert changed.state == "out_of_sync" and changed.latest == full and changed.local != full
    assert remoteimport.status(Reporter, store=store) == "out_of_sync"
