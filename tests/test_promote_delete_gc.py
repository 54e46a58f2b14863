"""Moving versions between stores (promote), deleting one (delete) and collecting garbage (gc), on real stores."""

from __future__ import annotations

import json
import os
import pickle
import time
import uuid
from pathlib import Path

import pytest
from sample_classes import forget_loaded, make_filter

import remoteimport
from remoteimport import registry, signing
from remoteimport._files import TEMPORARY_PREFIX
from remoteimport.blob import decode_blob, encode_blob, make_header
from remoteimport.cli import main
from remoteimport.errors import IntegrityError, RemoteImportError, UntrustedBlobError, VersionInUseError
from remoteimport.store import Store, Version

HOUR = 3600.0


@pytest.fixture
def staging(tmp_path: Path) -> Store:
    return Store(tmp_path / "staging")


@pytest.fixture
def prod(tmp_path: Path) -> Store:
    return Store(tmp_path / "prod")


def _age(path: str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def _actions(store: Store, name: str = "MyFilter") -> list[tuple[str, str]]:
    return [(version.hash, version.action) for version in store.history(name)]


# -- promote --------------------------------------------------------------------------------------------------


def test_promote_copies_the_bytes_and_records_the_source(staging: Store, prod: Store) -> None:
    cls = make_filter(uuid.uuid4().hex)
    full_hash = remoteimport.push(cls, store=staging)

    result = registry.promote("MyFilter", full_hash[:8], prod, source=staging)

    assert (result.hash, result.blob, result.latest_moved) == (full_hash, "copied", False)
    assert prod.read_blob("MyFilter", full_hash) == staging.read_blob("MyFilter", full_hash)
    [entry] = prod.history("MyFilter")
    assert (entry.action, entry.source) == ("promote", staging.url)
    assert prod.latest("MyFilter") is None  # only --latest moves it
    forget_loaded(name="MyFilter")
    assert remoteimport.get_version("MyFilter", full_hash, store=prod)().apply(2) == 2 * cls.factor


def test_promote_again_is_a_no_op_that_says_so(staging: Store, prod: Store) -> None:
    full_hash = remoteimport.push(make_filter(uuid.uuid4().hex), store=staging)
    registry.promote("MyFilter", full_hash, prod, source=staging, make_latest=True)

    again = registry.promote("MyFilter", full_hash, prod, source=staging, make_latest=True)

    assert not again.changed and again.blob == "unchanged" and "already holds it intact" in again.detail
    assert _actions(prod) == [(full_hash, "promote")]
    assert prod.latest("MyFilter") == full_hash


def test_promote_to_memory_with_latest_and_tag(staging: Store, memory_store: Store) -> None:
    full_hash = remoteimport.push(make_filter(uuid.uuid4().hex), store=staging)
    if getattr(memory_store, "tags", None) is None:
        with pytest.raises(RemoteImportError, match="no version tags"):
            registry.promote("MyFilter", full_hash, memory_store, source=staging, tag="stable")
        return

    result = registry.promote("MyFilter", full_hash, memory_store, source=staging, tag="stable", make_latest=True)

    assert result.latest_moved and result.tag == "stable"
    assert memory_store.latest("MyFilter") == full_hash
    assert memory_store.tags("MyFilter") == {"stable": full_hash}


def test_promote_replaces_a_damaged_copy_in_the_target(staging: Store, prod: Store) -> None:
    full_hash = remoteimport.push(make_filter(uuid.uuid4().hex), store=staging)
    registry.promote("MyFilter", full_hash, prod, source=staging)
    prod.write_blob("MyFilter", full_hash, b"garbage", known_absent=True)

    result = registry.promote("MyFilter", full_hash, prod, source=staging)

    assert result.blob == "replaced"
    assert prod.read_blob("MyFilter", full_hash) == staging.read_blob("MyFilter", full_hash)


def test_promote_refuses_a_damaged_source_and_writes_nothing(staging: Store, prod: Store) -> None:
    full_hash = remoteimport.push(make_filter(uuid.uuid4().hex), store=staging)
    staging.write_blob("MyFilter", full_hash, b"garbage", known_absent=True)

    with pytest.raises(IntegrityError, match="refusing to promote .* damaged"):
        registry.promote("MyFilter", full_hash, prod, source=staging)

    assert not prod.has_blob("MyFilter", full_hash) and prod.history("MyFilter") == []


def test_a_signature_travels_and_a_target_that_trusts_keys_refuses_unsigned(tmp_path: Path, staging: Store) -> None:
    key_path = tmp_path / "publisher"
    public = signing.generate_key(key_path)
    signed_source = Store(staging.root, signing_key=str(key_path))
    signed = remoteimport.push(make_filter(uuid.uuid4().hex), store=signed_source)
    unsigned = remoteimport.push(make_filter(uuid.uuid4().hex), store=staging)
    strict = Store(tmp_path / "strict", trusted_keys=[public])

    assert registry.promote("MyFilter", signed, strict, source=staging).blob == "copied"
    forget_loaded(name="MyFilter")
    assert remoteimport.get_version("MyFilter", signed, store=strict) is not None  # the signature checks out there
    with pytest.raises(UntrustedBlobError, match="unsigned"):
        registry.promote("MyFilter", unsigned, strict, source=staging)
    assert not strict.has_blob("MyFilter", unsigned)


def test_promote_latest_replaces_a_planted_copy_the_target_refuses(tmp_path: Path, staging: Store) -> None:
    """A store writer plants an unsigned copy of the version at the target's key (same hash, its own payload)
    before the signed one is promoted there with --latest: the plant is checked as a new copy would be."""
    key_path = tmp_path / "publisher"
    public = signing.generate_key(key_path)
    cls = make_filter(uuid.uuid4().hex)
    signed = remoteimport.push(cls, store=Store(staging.root, signing_key=str(key_path)))
    strict = Store(tmp_path / "strict", trusted_keys=[public])
    genuine = decode_blob(staging.read_blob("MyFilter", signed))
    marker = tmp_path / "ATTACKER-CODE-RAN"
    planted = encode_blob(
        make_header("MyFilter", signed, pickle.dumps(_MakeDirectory(str(marker))), source=genuine.header.source),
        pickle.dumps(_MakeDirectory(str(marker))),
    )
    strict.write_blob("MyFilter", signed, planted)

    result = registry.promote("MyFilter", signed, strict, source=staging, make_latest=True)

    assert (result.blob, result.latest_moved) == ("replaced", True) and "trust policy" in result.detail
    assert strict.read_blob("MyFilter", signed) == staging.read_blob("MyFilter", signed)
    forget_loaded(name="MyFilter")
    assert remoteimport.get_version("MyFilter", signed, store=strict)().apply(2) == 2 * cls.factor
    assert not marker.exists()
    # Control: the plant is what the target refused, and would have run the attacker's code once unpickled.
    with pytest.raises(UntrustedBlobError, match="unsigned"):
        strict.policy.trust.check(decode_blob(planted).header, where="planted", local_store=True)
    pickle.loads(decode_blob(planted).payload)
    assert marker.exists()


class _MakeDirectory:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.makedirs, (self.path,))


def test_promote_to_s3(staging: Store, s3_url: str) -> None:
    full_hash = remoteimport.push(make_filter(uuid.uuid4().hex), store=staging)
    target = Store(s3_url, cache=False)

    result = registry.promote("MyFilter", full_hash, target, source=staging, make_latest=True)

    assert result.blob == "copied" and target.latest("MyFilter") == full_hash
    assert target.read_blob("MyFilter", full_hash) == staging.read_blob("MyFilter", full_hash)
    assert registry.gc(target, min_age=0) == []
    target.write_blob("Orphan", "ef" * 32, b"a push that failed before its history entry")
    [young] = registry.gc(target, dry_run=False)  # just written: kept
    assert young.kept and young.age is not None and not young.removed
    [item] = registry.gc(target, dry_run=False, min_age=0)
    assert (item.name, item.removed) == ("Orphan", True) and not target.has_blob("Orphan", "ef" * 32)
    assert target.has_blob("MyFilter", full_hash)


# -- Version stays backward compatible ------------------------------------------------------------------------


def test_optional_history_fields_are_left_out_of_json() -> None:
    plain = Version("MyFilter", "ab" * 32, 1.0, "3.11")
    assert set(plain.to_json()) == {"name", "hash", "time", "python", "action"}
    promoted = Version("MyFilter", "ab" * 32, 1.0, "3.11", action="promote", source="s3://b/staging")
    assert Version.from_json(json.loads(json.dumps(promoted.to_json()))) == promoted
    assert Version.from_json(plain.to_json()).source is None


# -- delete ---------------------------------------------------------------------------------------------------


def test_delete_removes_an_old_version_and_keeps_a_record(staging: Store) -> None:
    old = remoteimport.push(make_filter(uuid.uuid4().hex), store=staging)
    new = remoteimport.push(make_filter(uuid.uuid4().hex), store=staging)

    result = registry.delete("MyFilter", old[:8], staging)

    assert result.hash == old and not result.removed_latest
    assert not staging.has_blob("MyFilter", old) and staging.latest("MyFilter") == new
    assert _actions(staging)[0] == (old, "delete")


def test_delete_refuses_the_latest_without_force(staging: Store) -> None:
    full_hash = remoteimport.push(make_filter(uuid.uuid4().hex), store=staging)

    with pytest.raises(VersionInUseError, match="`latest` points at it.*--force"):
        registry.delete("MyFilter", full_hash, staging)
    assert staging.has_blob("MyFilter", full_hash)

    result = registry.delete("MyFilter", full_hash, staging, force=True)

    assert result.removed_latest and staging.latest("MyFilter") is None  # never a pointer to a missing blob
    assert not staging.has_blob("MyFilter", full_hash)


def test_delete_refuses_a_tagged_version_without_force(staging: Store) -> None:
    old = remoteimport.push(make_filter(uuid.uuid4().hex), store=staging)
    remoteimport.push(make_filter(uuid.uuid4().hex), store=staging)
    if getattr(staging, "tags", None) is None:
        pytest.skip("this release has no version tags")
    registry.tag("MyFilter", old, "stable", store=staging)

    with pytest.raises(VersionInUseError, match="tagged stable.*--force"):
        registry.delete("MyFilter", old, staging)

    assert registry.delete("MyFilter", old, staging, force=True).removed_tags == ("stable",)
    assert staging.tags("MyFilter") == {}


# -- gc -------------------------------------------------------------------------------------------------------


def test_gc_lists_then_removes_stale_temporaries_and_unreferenced_blobs(staging: Store) -> None:
    kept = remoteimport.push(make_filter(uuid.uuid4().hex), store=staging)
    orphan = "ab" * 32  # a push that failed before its history entry: a blob no ref names
    staging.write_blob("Orphan", orphan, b"half a push")
    _age(staging.blob_path("Orphan", orphan), 2 * HOUR)
    stale = os.path.join(staging.root, "blobs", "MyFilter", TEMPORARY_PREFIX + "0123456789abcdef")
    fresh = os.path.join(staging.root, "refs", "MyFilter", TEMPORARY_PREFIX + "fedcba9876543210")
    for path in (stale, fresh):
        Path(path).write_bytes(b"crashed write")
    _age(stale, 2 * HOUR)

    listed = registry.gc(staging)

    found = {(item.kind, item.path): item for item in listed}
    assert found[("temporary", stale)].kept is None and found[("temporary", fresh)].kept is not None
    assert found[("unreferenced", staging.blob_path("Orphan", orphan))].kept is None
    assert len(found) == 3 and all(not item.removed for item in listed)
    assert os.path.exists(stale) and staging.has_blob("Orphan", orphan)  # a dry run removes nothing

    removed = registry.gc(staging, dry_run=False)

    assert sorted(item.path for item in removed if item.removed) == sorted([stale, staging.blob_path("Orphan", orphan)])
    assert not os.path.exists(stale) and os.path.exists(fresh)
    assert not staging.has_blob("Orphan", orphan) and staging.has_blob("MyFilter", kept)


def test_gc_never_removes_what_history_or_refs_name(staging: Store) -> None:
    old = remoteimport.push(make_filter(uuid.uuid4().hex), store=staging)
    new = remoteimport.push(make_filter(uuid.uuid4().hex), store=staging)
    for full_hash in (old, new):
        _age(staging.blob_path("MyFilter", full_hash), 2 * HOUR)

    assert registry.gc(staging, dry_run=False) == []
    assert staging.has_blob("MyFilter", old) and staging.has_blob("MyFilter", new)


def test_gc_keeps_a_young_unreferenced_blob(memory_store: Store) -> None:
    memory_store.write_blob("Orphan", "cd" * 32, b"a push in progress")

    [item] = registry.gc(memory_store, dry_run=False)

    assert item.kept and not item.removed and memory_store.has_blob("Orphan", "cd" * 32)
    assert [i.removed for i in registry.gc(memory_store, dry_run=False, min_age=0)] == [True]


@pytest.fixture(params=["folder", "memory"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "folder":
        return Store(tmp_path / "store")
    return request.getfixturevalue("memory_store")


def _age_blob(store: Store, name: str, full_hash: str, seconds: float) -> None:
    path = store.blob_path(name, full_hash)
    if store.fs.protocol in ("file", ("file", "local")) or os.path.isabs(store.url):
        _age(path, seconds)
    else:  # the memory filesystem keeps a datetime per file
        import datetime

        then = datetime.datetime.fromtimestamp(time.time() - seconds, tz=datetime.timezone.utc)
        store.fs.store[store.fs._strip_protocol(path)].modified = then


def _orphan(store: Store) -> tuple[type, str]:
    """A version whose blob a failed push left two hours ago: no ref or history entry names it."""
    cls = make_filter(uuid.uuid4().hex)
    full_hash = registry.class_hash(cls)
    store.write_blob("MyFilter", full_hash, registry._blob_bytes(cls, "MyFilter", full_hash, store))
    _age_blob(store, "MyFilter", full_hash, 2 * HOUR)
    assert [item.hash for item in registry.gc(store) if item.kept is None] == [full_hash]
    return cls, full_hash


def test_gc_between_a_push_reading_an_orphan_and_writing_its_refs_leaves_latest_a_blob(
    any_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The push finds the old orphan intact ("unchanged" bytes) and moves latest to it; gc runs in between."""
    cls, full_hash = _orphan(any_store)
    collected: list[registry.GarbageItem] = []
    read = Store.read_blob_if_present

    def read_then_collect(self: Store, name: str, wanted: str) -> bytes | None:
        data = read(self, name, wanted)
        if not collected:
            collected.extend(registry.gc(any_store, dry_run=False))  # `remoteimport gc --yes` elsewhere, now
        return data

    monkeypatch.setattr(Store, "read_blob_if_present", read_then_collect)
    result = registry.publish(cls, store=any_store)
    monkeypatch.undo()

    assert (result.action, any_store.latest("MyFilter")) == ("moved", full_hash)
    assert [item.removed for item in collected] == [True]  # gc did take the orphan, before any ref named it
    assert any_store.has_blob("MyFilter", full_hash)  # the push wrote it again: latest never names a missing blob
    forget_loaded(name="MyFilter")
    assert remoteimport.get_version("MyFilter", full_hash, store=any_store)().apply(2) == 2 * cls.factor
    assert registry.gc(any_store, dry_run=False) == []  # and a later gc keeps it: refs name it


def test_a_push_between_gc_checking_refs_and_deleting_keeps_the_blob(
    any_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls, full_hash = _orphan(any_store)
    unreferenced = registry._unreferenced_hashes
    calls: list[str] = []

    def check_then_push(target: Store, name: str) -> list[str]:
        found = unreferenced(target, name)
        calls.append(name)
        if len(calls) == 2:  # gc's look just before deleting; the push lands right after it
            registry.publish(cls, store=any_store)
        return found

    monkeypatch.setattr(registry, "_unreferenced_hashes", check_then_push)
    [item] = registry.gc(any_store, dry_run=False)
    monkeypatch.undo()

    assert not item.removed and "written again" in (item.kept or "")
    assert any_store.latest("MyFilter") == full_hash and any_store.has_blob("MyFilter", full_hash)


# -- the command line -----------------------------------------------------------------------------------------


def test_cli_promote_delete_gc(staging: Store, prod: Store, capsys: pytest.CaptureFixture[str]) -> None:
    full_hash = remoteimport.push(make_filter(uuid.uuid4().hex), store=staging)
    store = ["--store", staging.root]

    assert main(["promote", f"MyFilter@{full_hash[:8]}", "--to", prod.root, "--latest", *store]) == 0
    assert "promoted MyFilter" in capsys.readouterr().out and prod.latest("MyFilter") == full_hash
    assert main(["promote", f"MyFilter@{full_hash[:8]}", "--to", prod.root, *store]) == 0
    assert "nothing to do" in capsys.readouterr().out

    assert main(["delete", f"MyFilter@{full_hash[:8]}", *store]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["delete", f"MyFilter@{full_hash[:8]}", "--force", "--json", *store]) == 0
    assert json.loads(capsys.readouterr().out)["removed_latest"] is True
    assert main(["delete", "MyFilter", *store]) == 1
    assert "NAME@VERSION" in capsys.readouterr().err

    assert main(["gc", *store]) == 0
    assert "nothing to collect" in capsys.readouterr().out
