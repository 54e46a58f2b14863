"""Low-severity hardening: absent names are absent attributes, ``_Private`` classes import, deeply nested
attributes give a clear hashing error, and ``rollback`` refuses a damaged blob.

In-process on ``memory://`` stores (as tests/test_hook.py), plus one two-interpreter test (tests/e2e/support.py)
for what a consumer host sees.
"""

from __future__ import annotations

import importlib
import pickle
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e.support import delete, run_consumer, run_producer, write_files
from sample_classes import make_filter

import remoteimport
from remoteimport import loader, signing
from remoteimport.errors import (
    IntegrityError,
    NameNotFoundError,
    StoreUnreachableError,
    UnhashableObjectError,
    UntrustedBlobError,
)
from remoteimport.hook import installed
from remoteimport.store import Store


@pytest.fixture
def namespaces() -> Iterator[Callable[..., str]]:
    """Install a store under a fresh namespace; every namespace installed this way is removed afterwards."""
    made: list[str] = []

    def install(store: Store | str, **options: object) -> str:
        namespace = f"hardening_{uuid.uuid4().hex[:12]}"
        remoteimport.install(store, namespace=namespace, **options)  # type: ignore[arg-type]
        made.append(namespace)
        return namespace

    yield install
    for namespace in made:
        remoteimport.uninstall(namespace)


# -- 1. a name the store lacks is an absent attribute ---------------------------------------------------


def test_a_missing_name_is_an_absent_attribute(namespaces: Callable[..., str], memory_store: Store) -> None:
    remoteimport.push(make_filter(1), store=memory_store)
    module = importlib.import_module(namespaces(memory_store))

    assert hasattr(module, "MyFilter") and not hasattr(module, "MyFiltr")
    assert getattr(module, "MyFiltr", "default") == "default"
    with pytest.raises(AttributeError) as caught:
        module.MyFiltr  # noqa: B018
    message = str(caught.value)
    assert caught.value.name == "MyFiltr" and isinstance(caught.value.__cause__, NameNotFoundError)
    assert "'MyFiltr'" in message and memory_store.url in message and "Did you mean MyFilter?" in message


def test_from_import_of_a_missing_name_names_the_store_and_the_name(
    namespaces: Callable[..., str], memory_store: Store
) -> None:
    remoteimport.push(make_filter(1), store=memory_store)
    namespace = namespaces(memory_store)
    for attempt in [
        lambda: exec(f"from {namespace} import MyFiltr", {}),
        lambda: __import__(namespace, fromlist=["MyFiltr"]),
    ]:
        with pytest.raises(ImportError) as caught:
            attempt()
        message = str(caught.value)
        assert isinstance(caught.value, NameNotFoundError), message  # not "a class, not a module"
        assert "'MyFiltr'" in message and repr(namespace) in message and memory_store.url in message
        assert "Did you mean MyFilter?" in message
    namespace_globals: dict[str, object] = {}
    exec(f"from {namespace} import MyFilter", namespace_globals)  # a present name still imports
    assert namespace_globals["MyFilter"]().apply(2) == 2  # type: ignore[operator]


def test_store_errors_are_not_turned_into_absent_attributes(
    namespaces: Callable[..., str], memory_store: Store, tmp_path: Path
) -> None:
    # An unreachable store.
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the store's folder should be")
    unreachable = importlib.import_module(namespaces(str(blocker / "store")))
    with pytest.raises(StoreUnreachableError, match=str(blocker / "store")):
        hasattr(unreachable, "MyFilter")

    # A damaged blob behind `latest`.
    full_hash = remoteimport.push(make_filter(uuid.uuid4().hex), store=memory_store)
    path = memory_store.blob_path("MyFilter", full_hash)
    data = bytearray(memory_store.fs.cat_file(path))
    data[-3] ^= 0xFF
    memory_store.fs.pipe_file(path, bytes(data))
    damaged = importlib.import_module(namespaces(memory_store))
    with pytest.raises(IntegrityError, match=full_hash):
        hasattr(damaged, "MyFilter")
    assert getattr(damaged, "Other", None) is None  # while an absent name is still just absent

    # An unsigned blob where signatures are required.
    remoteimport.push(make_filter(uuid.uuid4().hex), store=memory_store, name="Unsigned")
    public_key = signing.generate_key(tmp_path / "publisher")
    trusting = importlib.import_module(namespaces(memory_store, trusted_keys=[public_key]))
    with pytest.raises(UntrustedBlobError):
        getattr(trusting, "Unsigned", None)


def test_another_missing_name_is_not_this_attribute(
    namespaces: Callable[..., str], memory_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading a class that needs another, missing, stored class is that class's error, not a False."""
    namespace = namespaces(memory_store)
    module = importlib.import_module(namespace)
    finder = installed()[namespace]

    def needs_a_missing_dependency(name: str) -> type:
        raise memory_store.name_not_found("Helper", namespace=namespace)

    monkeypatch.setattr(finder, "latest_class", needs_a_missing_dependency)
    with pytest.raises(NameNotFoundError, match="'Helper'"):
        hasattr(module, "MyFilter")


# -- 2. single-underscore names are class names, dunders never reach the store -----------------------------


def test_dunders_never_reach_the_store_but_single_underscore_names_do(
    namespaces: Callable[..., str], forbidden_store: Store
) -> None:
    module = importlib.import_module(namespaces(forbidden_store))
    for probe in ["__wrapped__", "__file__", "__all__", "__custom_probe__"]:
        assert not hasattr(module, probe)
    assert forbidden_store.fs.calls == []  # type: ignore[attr-defined]
    with pytest.raises(StoreUnreachableError, match="_Private"):  # looked up in the store like any class
        hasattr(module, "_Private")
    assert forbidden_store.fs.calls  # type: ignore[attr-defined]


class _Private:
    marker = uuid.uuid4().hex  # a fresh version in every test run

    def answer(self) -> str:
        return "private " + self.marker


def test_a_single_underscore_class_imports_as_latest_and_pinned(
    namespaces: Callable[..., str], memory_store: Store
) -> None:
    full_hash = remoteimport.push(_Private, store=memory_store)
    namespace = namespaces(memory_store)
    assert memory_store.latest("_Private") == full_hash

    found: dict[str, type] = {}
    exec(f"from {namespace} import _Private as latest", found)
    latest = found["latest"]
    pinned = importlib.import_module(f"{namespace}._Private@{full_hash[:8]}")._Private
    assert latest is pinned and latest is not _Private
    assert latest.__module__ == f"{namespace}._Private@{full_hash}" and latest.__name__ == "_Private"
    assert latest().answer() == _Private().answer()
    assert dir(importlib.import_module(namespace)) == ["_Private"]
    assert pickle.loads(pickle.dumps(latest())).answer() == _Private().answer()


def test_on_another_host_private_classes_import_and_missing_names_are_absent(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    producer = write_files(
        tmp_path / "producer",
        {
            "producer.py": """
                import json, sys
                import remoteimport

                class _Private:
                    def answer(self):
                        return 42

                print(json.dumps({"hash": remoteimport.push(_Private, store=remoteimport.Store(sys.argv[1]))}))
            """
        },
    )
    full = run_producer(producer, store)["hash"]
    delete(producer)

    out = run_consumer(
        tmp_path / "consumer",
        store,
        f"""
        import labchain_remote
        from labchain_remote import _Private
        out["answer"] = _Private().answer()
        out["module"] = _Private.__module__
        out["pinned"] = importlib.import_module("labchain_remote._Private@{full[:8]}")._Private is _Private
        out["hasattr"] = [hasattr(labchain_remote, "_Private"), hasattr(labchain_remote, "Missing")]
        out["getattr"] = getattr(labchain_remote, "Missing", "default")
        try:
            from labchain_remote import Missing
        except ImportError as exc:
            out["from_import"] = [type(exc).__name__, str(exc)]
        print(json.dumps(out))
        """,
    )
    assert out["answer"] == 42 and out["pinned"] and out["module"] == f"labchain_remote._Private@{full}"
    assert out["hasattr"] == [True, False] and out["getattr"] == "default"
    kind, message = out["from_import"]
    assert kind == "NameNotFoundError" and "'Missing'" in message and store in message


# -- 3. deeply nested attributes ------------------------------------------------------------------------


def nested(depth: int, kind: str) -> object:
    value: object = "leaf"
    for level in range(depth):
        value = [value] if kind == "list" else {"k": value, "i": level} if kind == "dict" else (value, level)
    return value


@pytest.mark.parametrize("kind", ["list", "dict", "tuple"])
@pytest.mark.parametrize("depth", [500, 1000, 100_000])
def test_too_deep_nesting_names_the_attribute_path(depth: int, kind: str) -> None:
    cls = type("Deep", (), {"fine": 1, "nested": nested(depth, kind)})
    with pytest.raises(UnhashableObjectError) as caught:
        remoteimport.class_hash(cls)
    message = str(caught.value)
    assert isinstance(caught.value, TypeError) and caught.value.__cause__ is None and caught.value.__suppress_context__
    assert message.startswith("cannot hash Deep.nested") and "nested too deeply" in message
    assert len(message) < 600  # the path is shortened, not 1000 levels of "[0]"


def test_too_deep_nesting_inside_a_function_names_its_path() -> None:
    deep = nested(1000, "list")

    class Deep:
        def method(self, data=deep):  # noqa: B006 - the default is what is being hashed
            return data

    with pytest.raises(UnhashableObjectError, match=r"cannot hash \S*Deep\.method\.__defaults__\[0\]\[0\]"):
        remoteimport.class_hash(Deep)


# Computed by the hasher before the depth handling was added: nesting it can follow hashes as it always did.
PINNED = {
    (300, "list"): "0d3766cee8191cd1017d2334bd0439fb16eaea8f4bbef2d7cac683895fb48afe",
    (100, "dict"): "0273cdfdb6d7784b9925e37b41395696363b8465997dfed919fde6e3d8430b18",
    (150, "tuple"): "d3a9548c79d6a85ee5c2c9515cab4f2da8db3aa8173962d43a7be2dfc2f3139e",
}


@pytest.mark.parametrize(("depth", "kind"), list(PINNED))
def test_nesting_the_hasher_can_follow_keeps_its_hash(depth: int, kind: str) -> None:
    cls = type("Nested", (), {"data": nested(depth, kind)})
    assert remoteimport.class_hash(cls) == PINNED[depth, kind]
    with pytest.raises(UnhashableObjectError):  # a failed walk leaves nothing behind for the next one
        remoteimport.class_hash(type("Nested", (), {"data": nested(1000, kind)}))
    assert remoteimport.class_hash(cls) == PINNED[depth, kind]


# -- 4. rollback verifies the blob ----------------------------------------------------------------------


def damage_by_flipping_a_payload_byte(data: bytes, other: bytes) -> bytes:
    return data[:-3] + bytes([data[-3] ^ 0xFF]) + data[-2:]


def damage_by_truncating(data: bytes, other: bytes) -> bytes:
    return data[: len(data) // 2]


def damage_by_another_versions_blob(data: bytes, other: bytes) -> bytes:
    return other  # a genuine blob, but of another hash


def damage_by_garbage(data: bytes, other: bytes) -> bytes:
    return b"not a blob at all"


@pytest.mark.parametrize(
    "damage",
    [damage_by_flipping_a_payload_byte, damage_by_truncating, damage_by_another_versions_blob, damage_by_garbage],
)
def test_rollback_refuses_a_damaged_blob_and_changes_nothing(
    memory_store: Store, damage: Callable[[bytes, bytes], bytes]
) -> None:
    h1 = remoteimport.push(make_filter(uuid.uuid4().hex), store=memory_store)
    h2 = remoteimport.push(make_filter(uuid.uuid4().hex), store=memory_store)
    path = memory_store.blob_path("MyFilter", h1)
    memory_store.fs.pipe_file(path, damage(memory_store.fs.cat_file(path), memory_store.read_blob("MyFilter", h2)))
    history = remoteimport.versions("MyFilter", store=memory_store)

    with pytest.raises(IntegrityError) as caught:
        remoteimport.rollback("MyFilter", h1[:8], store=memory_store)
    message = str(caught.value)
    assert memory_store.blob_url("MyFilter", h1) in message and "Nothing was changed" in message
    assert memory_store.latest("MyFilter") == h2
    assert remoteimport.versions("MyFilter", store=memory_store) == history


def test_rollback_never_unpickles(memory_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    h1 = remoteimport.push(make_filter(uuid.uuid4().hex), store=memory_store)
    h2 = remoteimport.push(make_filter(uuid.uuid4().hex), store=memory_store)

    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("rollback unpickled a blob")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(loader, "_unpickle_verified", refuse)
    assert remoteimport.rollback("MyFilter", h1[:8], store=memory_store) == h1
    assert memory_store.latest("MyFilter") == h1
    assert [v.hash for v in remoteimport.versions("MyFilter", store=memory_store)] == [h1, h2, h1]
