"""Tests for remoteimport.hook: import statements, pinned versions, several namespaces, errors and threads.

In-process on ``memory://`` stores; tests/e2e runs the same imports in fresh interpreters.
"""

from __future__ import annotations

import importlib
import pickle
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sample_classes import make_filter

import remoteimport
from remoteimport import loader
from remoteimport.errors import (
    AmbiguousPrefixError,
    IntegrityError,
    InvalidNameError,
    NameNotFoundError,
    RemoteImportError,
    StoreUnreachableError,
    VersionNotFoundError,
)
from remoteimport.hook import RemoteFinder, installed
from remoteimport.store import Store


@pytest.fixture
def hook(memory_store: Store) -> Iterator[RemoteFinder]:
    """The default namespace ``labchain_remote`` served from a fresh memory store."""
    finder = remoteimport.install(memory_store)
    yield finder
    remoteimport.uninstall()


@pytest.fixture
def namespaces() -> Iterator[Callable[[Store | str], str]]:
    """Install a store under a fresh namespace; every namespace installed this way is removed afterwards."""
    made: list[str] = []

    def install(store: Store | str) -> str:
        namespace = f"remote_{uuid.uuid4().hex[:12]}"
        remoteimport.install(store, namespace=namespace)
        made.append(namespace)
        return namespace

    yield install
    for namespace in made:
        remoteimport.uninstall(namespace)


# -- import statements ------------------------------------------------------------------------------------


def test_plain_import_statements_give_the_latest(hook: RemoteFinder, memory_store: Store) -> None:
    full_hash = remoteimport.push(make_filter(2), store=memory_store)
    remoteimport.push(make_filter("other"), store=memory_store, name="Another")
    assert isinstance(hook, RemoteFinder) and hook in sys.meta_path and hook.store is memory_store
    assert installed()["labchain_remote"] is hook and "labchain_remote" in repr(hook)

    import labchain_remote
    from labchain_remote import MyFilter

    assert MyFilter().apply(3) == 6 and labchain_remote.MyFilter is MyFilter
    assert MyFilter.__module__ == f"labchain_remote.MyFilter@{full_hash}" and MyFilter.__qualname__ == "MyFilter"
    assert dir(labchain_remote) == ["Another", "MyFilter"]
    assert MyFilter is remoteimport.get_version("MyFilter", full_hash[:8], store=memory_store)


def test_pinned_imports_give_the_module_of_that_version(hook: RemoteFinder, memory_store: Store) -> None:
    full_hash = remoteimport.push(make_filter(3), store=memory_store)
    from labchain_remote import MyFilter

    modules = [importlib.import_module(f"labchain_remote.MyFilter@{v}") for v in (full_hash[:8], full_hash[:12])]
    modules.append(importlib.import_module(f"labchain_remote.MyFilter@{full_hash.upper()[:10]}"))
    full = importlib.import_module(f"labchain_remote.MyFilter@{full_hash}")
    assert all(module is full for module in modules)
    assert full.__name__ == f"labchain_remote.MyFilter@{full_hash}" and full.MyFilter is MyFilter


def test_latest_follows_pushes_and_rollbacks_while_pinned_versions_stay(
    hook: RemoteFinder, memory_store: Store
) -> None:
    h1 = remoteimport.push(make_filter(1), store=memory_store)
    from labchain_remote import MyFilter as First

    h2 = remoteimport.push(make_filter(2), store=memory_store)
    from labchain_remote import MyFilter as Second

    v1 = importlib.import_module(f"labchain_remote.MyFilter@{h1[:8]}").MyFilter
    v2 = importlib.import_module(f"labchain_remote.MyFilter@{h2[:8]}").MyFilter
    assert (First, Second) == (v1, v2) and v1 is not v2
    assert (v1().apply(10), v2().apply(10)) == (10, 20)
    remoteimport.rollback("MyFilter", h1[:8], store=memory_store)
    from labchain_remote import MyFilter as Rolled

    assert Rolled is v1


def test_instances_pickle_by_reference_to_their_exact_version(hook: RemoteFinder, memory_store: Store) -> None:
    h1 = remoteimport.push(make_filter(1), store=memory_store)
    v1 = importlib.import_module(f"labchain_remote.MyFilter@{h1[:8]}").MyFilter
    remoteimport.push(make_filter(2), store=memory_store)
    instance = v1()
    instance.state = {"seen": [1, 2, 3]}
    data = pickle.dumps(instance)
    assert f"MyFilter@{h1}".encode() in data and b"apply" not in data  # a reference, not the code
    copy = pickle.loads(data)
    assert type(copy) is v1 and copy.state == {"seen": [1, 2, 3]} and copy.apply(4) == 4
    assert type(copy).__module__.endswith(h1)


def test_several_namespaces_serve_several_stores(
    namespaces: Callable[[Store | str], str], memory_store: Store, tmp_path: Path
) -> None:
    other = Store(tmp_path)
    remoteimport.push(make_filter(1), store=memory_store)
    remoteimport.push(make_filter(2), store=other)
    first, second = namespaces(memory_store), namespaces(str(tmp_path))
    one, two = importlib.import_module(first), importlib.import_module(second)
    assert (one.MyFilter().apply(5), two.MyFilter().apply(5)) == (5, 10)
    assert installed()[first].store is memory_store and installed()[second].store == other
    remoteimport.uninstall(first)
    assert first not in installed() and importlib.import_module(second).MyFilter().apply(1) == 2


def test_installing_a_namespace_again_replaces_its_store(memory_store: Store, tmp_path: Path) -> None:
    other = Store(tmp_path)
    remoteimport.push(make_filter(1), store=memory_store)
    remoteimport.push(make_filter(2), store=other)
    try:
        remoteimport.install(memory_store, namespace="labchain_swap")
        replacement = remoteimport.install(other, namespace="labchain_swap")
        assert [f for f in sys.meta_path if isinstance(f, RemoteFinder) and f.namespace == "labchain_swap"] == [
            replacement
        ]
        assert importlib.import_module("labchain_swap").MyFilter().apply(1) == 2
    finally:
        remoteimport.uninstall("labchain_swap")


def test_uninstall_removes_the_finder_and_its_modules(memory_store: Store) -> None:
    full_hash = remoteimport.push(make_filter(4), store=memory_store)
    finder = remoteimport.install(memory_store)
    from labchain_remote import MyFilter

    remoteimport.uninstall(finder)
    assert finder not in sys.meta_path and "labchain_remote" not in installed()
    assert not [name for name in sys.modules if name.startswith("labchain_remote")]
    with pytest.raises(ModuleNotFoundError):
        import labchain_remote  # noqa: F401
    assert MyFilter().apply(2) == 8  # classes already imported keep working
    remoteimport.install(memory_store)
    try:
        assert importlib.import_module(f"labchain_remote.MyFilter@{full_hash[:8]}").MyFilter is MyFilter
    finally:
        remoteimport.uninstall()


def test_a_class_is_not_a_module(hook: RemoteFinder, memory_store: Store) -> None:
    remoteimport.push(make_filter(1), store=memory_store)
    with pytest.raises(ImportError, match="from labchain_remote import MyFilter"):
        importlib.import_module("labchain_remote.MyFilter")


def test_one_statement_resolves_latest_once_and_gives_one_version(
    namespaces: Callable[[Store | str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`from ns import X` looks X up twice (importlib's hasattr, then the statement's getattr). A writer pushing
    while the first lookup loads must not make the second lookup load another version, even with no reuse of
    `latest` at all (latest_ttl=0): one read of `latest`, one version."""
    store = Store(f"memory://one-statement-{uuid.uuid4().hex}", latest_ttl=0)
    first = remoteimport.push(make_filter(1), store=store)
    namespace = namespaces(store)
    reads: list[str] = []
    real_latest_many, real_load = store.latest_many, loader.load_class

    def counting_latest_many(names):  # the store's own method, counted
        reads.extend(names)
        return real_latest_many(names)

    def load_while_a_writer_pushes(*args, **kwargs):  # a long load, during which another host pushes
        loaded = real_load(*args, **kwargs)
        remoteimport.push(make_filter(len(reads) + 1), store=Store(store.url))
        return loaded

    monkeypatch.setattr(store, "latest_many", counting_latest_many)
    monkeypatch.setattr(loader, "load_class", load_while_a_writer_pushes)
    scope: dict[str, object] = {}
    exec(f"from {namespace} import MyFilter", scope)
    assert reads == ["MyFilter"]
    assert scope["MyFilter"] is sys.modules[f"{namespace}.MyFilter@{first}"].MyFilter
    assert [m for m in sys.modules if m.startswith(f"{namespace}.MyFilter@")] == [f"{namespace}.MyFilter@{first}"]
    # The next statement sees what was pushed meanwhile: nothing of the first statement lingers.
    exec(f"from {namespace} import MyFilter", scope)
    assert scope["MyFilter"]().apply(1) == 2 and reads == ["MyFilter", "MyFilter"]


# -- errors -----------------------------------------------------------------------------------------------


def test_unknown_name_names_the_namespace_the_store_and_close_matches(hook: RemoteFinder, memory_store: Store) -> None:
    full_hash = remoteimport.push(make_filter(1), store=memory_store)
    attempts = [
        lambda: exec("from labchain_remote import MyFiltr", {}),
        lambda: importlib.import_module("labchain_remote.MyFiltr@abcdef12"),
        lambda: importlib.import_module(f"labchain_remote.MyFiltr@{full_hash}"),
    ]
    for attempt in attempts:
        with pytest.raises(NameNotFoundError) as caught:
            attempt()
        message = str(caught.value)
        assert isinstance(caught.value, ModuleNotFoundError) and isinstance(caught.value, RemoteImportError)
        assert "'MyFiltr'" in message and "'labchain_remote'" in message and memory_store.url in message
        assert "Did you mean MyFilter?" in message


def put_twin(store: Store, name: str, full_hash: str) -> str:
    """Copy a genuine blob to a second path whose hash shares its first 8 digits: an ambiguous prefix."""
    twin = full_hash[:8] + ("0" if full_hash[8] != "0" else "1") + full_hash[9:]
    store.write_blob(name, twin, store.read_blob(name, full_hash))
    return twin


def test_ambiguous_prefix_lists_the_candidates(hook: RemoteFinder, memory_store: Store) -> None:
    full_hash = remoteimport.push(make_filter(uuid.uuid4().hex), store=memory_store)
    twin = put_twin(memory_store, "MyFilter", full_hash)
    with pytest.raises(AmbiguousPrefixError) as caught:
        importlib.import_module(f"labchain_remote.MyFilter@{full_hash[:8]}")
    assert full_hash in str(caught.value) and twin in str(caught.value) and isinstance(caught.value, ImportError)
    assert importlib.import_module(f"labchain_remote.MyFilter@{full_hash[:9]}").MyFilter().apply(1)
    with pytest.raises(IntegrityError):  # the copy is a genuine blob, but of another hash
        importlib.import_module(f"labchain_remote.MyFilter@{twin[:9]}")


def test_unknown_prefix_lists_the_versions(hook: RemoteFinder, memory_store: Store) -> None:
    full_hash = remoteimport.push(make_filter(1), store=memory_store)
    missing = ("0" if full_hash[0] != "0" else "1") * 8
    with pytest.raises(VersionNotFoundError) as caught:
        importlib.import_module(f"labchain_remote.MyFilter@{missing}")
    assert missing in str(caught.value) and full_hash[:12] in str(caught.value)
    assert isinstance(caught.value, ImportError) and f"labchain_remote.MyFilter@{missing}" not in sys.modules


MALFORMED = [
    "MyFilter@abcdef1",  # prefix shorter than 8
    "MyFilter@",
    "MyFilter@../../etc",
    "MyFilter@9zzzzzzz",  # neither a hash nor a tag (a tag starts with a letter: tests/test_tags.py)
    "MyFilter@abcdef12/..",
    "a/b@abcdef12",
    "..",
    "",
    "1abc@abcdef12",
    "My Filter@abcdef12",
    "My\x00Filter@abcdef12",
]


def test_malformed_names_are_refused_before_any_storage_access(
    namespaces: Callable[[Store | str], str], forbidden_store: Store
) -> None:
    namespace = namespaces(forbidden_store)
    module = importlib.import_module(namespace)  # the namespace itself needs no storage
    with pytest.raises(AttributeError):
        module.__wrapped__  # noqa: B018
    for text in MALFORMED:
        with pytest.raises(InvalidNameError):
            importlib.import_module(f"{namespace}.{text}")
    with pytest.raises(InvalidNameError):
        getattr(module, "not-an-identifier")
    assert forbidden_store.fs.calls == []  # type: ignore[attr-defined]


def test_malformed_namespaces_are_refused_before_the_store_is_opened() -> None:
    for namespace in ["", "a/b", "a..b", "1x"]:
        with pytest.raises(InvalidNameError):
            remoteimport.install("nosuchproto://bucket", namespace=namespace)


def test_unreachable_store_names_the_url(namespaces: Callable[[Store | str], str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the store's folder should be")
    namespace = namespaces(str(blocker / "store"))
    module = importlib.import_module(namespace)
    for attempt in [
        lambda: module.MyFilter,
        lambda: dir(module),
        lambda: importlib.import_module(f"{namespace}.X@abcdef12"),
    ]:
        with pytest.raises(StoreUnreachableError, match=str(blocker / "store")):
            attempt()


def test_a_corrupt_blob_is_refused_and_leaves_no_module(hook: RemoteFinder, memory_store: Store) -> None:
    full_hash = remoteimport.push(make_filter(uuid.uuid4().hex), store=memory_store)
    path = memory_store.blob_path("MyFilter", full_hash)
    data = bytearray(memory_store.fs.cat_file(path))
    data[-3] ^= 0xFF
    memory_store.fs.pipe_file(path, bytes(data))
    with pytest.raises(IntegrityError, match=full_hash):
        from labchain_remote import MyFilter  # noqa: F401
    assert not [name for name in sys.modules if name.startswith("labchain_remote.")]


# -- threads ----------------------------------------------------------------------------------------------


def slow_unpickling(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    """Count the loads; each one takes long enough for every other thread to arrive meanwhile."""
    loads: list[tuple[object, ...]] = []
    original = loader._unpickle_verified

    def slow(*args: object) -> type:
        loads.append(args)
        time.sleep(0.05)
        return original(*args)

    monkeypatch.setattr(loader, "_unpickle_verified", slow)
    return loads


def in_threads(count: int, work: Callable[[], type]) -> list[type]:
    barrier = threading.Barrier(count)
    results: list[type] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(work())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert len(results) == count
    return results


@pytest.mark.parametrize("count", [2, 8])
def test_threads_importing_the_latest_get_one_class(
    hook: RemoteFinder, memory_store: Store, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    remoteimport.push(make_filter(uuid.uuid4().hex), store=memory_store)
    loads = slow_unpickling(monkeypatch)
    results = in_threads(count, lambda: importlib.import_module("labchain_remote").MyFilter)
    assert len({id(cls) for cls in results}) == 1 and len(loads) == 1


def test_threads_importing_one_version_by_different_prefixes_get_one_class(
    hook: RemoteFinder, memory_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    full_hash = remoteimport.push(make_filter(uuid.uuid4().hex), store=memory_store)
    loads = slow_unpickling(monkeypatch)
    lengths = iter(range(8, 16))
    prefixes = [full_hash[: next(lengths)] for _ in range(8)]
    results = in_threads(8, lambda: importlib.import_module(f"labchain_remote.MyFilter@{prefixes.pop()}").MyFilter)
    assert len({id(cls) for cls in results}) == 1 and len(loads) == 1
