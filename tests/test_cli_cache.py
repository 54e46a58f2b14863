"""`remoteimport cache info` and `cache clear`: this host's blob cache, shown and emptied of what it owns only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sample_classes import make_filter
from test_cli import run_main

import remoteimport
from remoteimport.cache import ENV_CACHE_DIR, ENV_CACHE_SIZE, BlobCache
from remoteimport.cli.cache import size_text


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(ENV_CACHE_DIR, str(folder))
    monkeypatch.setenv(ENV_CACHE_SIZE, "5MB")
    return folder


def cached_version(tmp_path: Path, cache_dir: Path) -> tuple[str, bytes]:
    """A real verified blob in the cache at ``cache_dir`` (and its re-hash record); its hash and bytes."""
    store = remoteimport.Store(tmp_path / "store")
    full_hash = remoteimport.push(make_filter(7), store=store, name="MyFilter")
    data = store.read_blob("MyFilter", full_hash)
    cache = BlobCache(cache_dir)
    cache.put("MyFilter", full_hash, data)
    cache.record_rehashed("MyFilter", full_hash, "ab" * 32, "py3.11-test")
    assert cache.rehashed("MyFilter", full_hash, "ab" * 32, "py3.11-test")
    return full_hash, data


def test_cache_info_shows_the_folder_entries_size_and_bound(tmp_path, cache_dir, capsys):
    _, data = cached_version(tmp_path, cache_dir)

    code, out, err = run_main(capsys, "cache", "info")
    assert code == 0, err
    assert f"blob cache: {cache_dir}" in out and "1 cached versions" in out
    assert size_text(len(data)) in out and "5.0 MB" in out

    code, out, err = run_main(capsys, "cache", "info", "--json")
    assert code == 0, err
    assert json.loads(out) == {
        "directory": str(cache_dir),
        "enabled": True,
        "entries": 1,
        "bytes": len(data),
        "max_bytes": 5_000_000,
        "temporary_files": 0,
    }


def test_cache_clear_removes_what_the_cache_owns_and_nothing_else(tmp_path, cache_dir, capsys):
    full_hash, data = cached_version(tmp_path, cache_dir)
    mine = [cache_dir / "notes.txt", cache_dir / "blobs" / "README", cache_dir / "blobs" / "MyFilter" / "keep.txt"]
    for path in mine:
        path.write_text("not the cache's")

    code, out, err = run_main(capsys, "cache", "clear", "--json")
    assert code == 0, err
    assert json.loads(out) == {
        "directory": str(cache_dir),
        "enabled": True,
        "removed": 1,
        "removed_bytes": len(data),
        "entries": 0,
    }
    cache = BlobCache(cache_dir)
    assert cache.entries() == [] and cache.get("MyFilter", full_hash) is None
    assert not cache.rehashed("MyFilter", full_hash, "ab" * 32, "py3.11-test")
    assert all(path.read_text() == "not the cache's" for path in mine)

    code, out, _ = run_main(capsys, "cache", "clear")
    assert code == 0 and "removed 0 cached versions" in out


def test_cache_commands_when_the_cache_is_off(monkeypatch, capsys):
    monkeypatch.setenv(ENV_CACHE_DIR, "off")
    for action in ("info", "clear"):
        code, out, _ = run_main(capsys, "cache", action)
        assert code == 0 and "the blob cache is off" in out
    code, out, _ = run_main(capsys, "cache", "info", "--json")
    assert json.loads(out) == {"directory": None, "enabled": False}


def test_cache_needs_an_action(capsys):
    code, _, err = run_main(capsys, "cache")
    assert code == 2 and "info" in err and "clear" in err
