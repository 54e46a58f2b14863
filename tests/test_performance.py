"""Issue 13: what a pinned import imports, requirements without scanning the environment, per-phase metrics,
and the environment settings read in one place (remoteimport._env)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

import remoteimport
from remoteimport import _distributions, _env, _metrics, capture
from remoteimport.errors import ConfigError, IncompatibleBlobError, LockError, StoreError
from remoteimport.store import Store, normalized_store_url

REPO_ROOT = Path(__file__).resolve().parents[1]
# Nothing on the path of a pinned import from a folder or a warm cache needs these (docs/performance.md).
HEAVY = ("fsspec", "s3fs", "gcsfs", "platformdirs", "cryptography", "importlib.metadata", "email.parser")

CLASS_SOURCE = """
import cloudpickle

class Scaler:
    factor = 3

    def apply(self, x):
        return x * self.factor

    def dumps(self, value):
        return cloudpickle.dumps(value)
"""


def _run(code: str, cwd: Path, **env: str) -> dict:
    environment = _env.without_settings(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    environment.update(env)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=environment, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A folder store holding ``Scaler`` (which references cloudpickle), pushed from another process."""
    work = tmp_path_factory.mktemp("perf")
    (work / "scaler_source.py").write_text(CLASS_SOURCE)
    store = work / "store"
    full = _run(
        f"""
        import json, remoteimport, scaler_source
        print(json.dumps(remoteimport.push(scaler_source.Scaler, store={str(store)!r})))
        """,
        work,
    )
    return store, full


def _pinned_import(store_url: str, full: str) -> str:
    return f"""
        import sys, json
        before = set(sys.modules)
        import importlib, remoteimport
        remoteimport.install({store_url!r}, namespace="perf_remote")
        cls = importlib.import_module("perf_remote.Scaler@{full}").Scaler
        assert cls().apply(2) == 6
        print(json.dumps(sorted(set(sys.modules) - before)))
    """


def test_a_pinned_import_from_a_folder_imports_no_fsspec(pushed: tuple[Path, str], tmp_path: Path) -> None:
    store, full = pushed
    imported = _run(_pinned_import(str(store), full), tmp_path)
    assert "remoteimport.loader" in imported  # the import did go through the hook
    assert [name for name in HEAVY if name in imported] == []


@pytest.mark.parametrize("where", ["REMOTEIMPORT_CACHE_DIR", "default"])
def test_a_pinned_import_from_a_warm_cache_imports_no_backend(
    pushed: tuple[Path, str], tmp_path: Path, where: str
) -> None:
    pytest.importorskip("s3fs")
    if where == "default" and sys.platform != "linux":
        pytest.skip("the default cache folder is computed without platformdirs on Linux only")
    store, full = pushed
    # The default cache folder is $XDG_CACHE_HOME/remoteimport: there, platformdirs is not imported either.
    cache = tmp_path / "cache" if where != "default" else tmp_path / "xdg" / "remoteimport"
    blob = next(store.glob(f"blobs/Scaler/*/{full}.blob"))
    target = cache / "blobs" / "Scaler" / full[:2] / blob.name
    target.parent.mkdir(parents=True)
    shutil.copyfile(blob, target)
    settings = {"REMOTEIMPORT_CACHE_DIR": str(cache)} if where != "default" else {"XDG_CACHE_HOME": str(cache.parent)}
    # The bucket does not exist and the endpoint is a closed port: any storage request would fail the import.
    imported = _run(
        _pinned_import("s3://remoteimport-never-contacted/classes", full),
        tmp_path,
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        **settings,
    )
    assert "remoteimport.cache" in imported
    assert [name for name in HEAVY if name in imported] == []


@pytest.mark.parametrize(
    "environment",
    [{}, {"XDG_CACHE_HOME": "/x/c", "XDG_DATA_HOME": "/x/d"}, {"XDG_CACHE_HOME": "rel"}, {"HOME": "/home/u/"}],
)
def test_default_folders_are_platformdirs_ones(monkeypatch: pytest.MonkeyPatch, environment: dict) -> None:
    platformdirs = pytest.importorskip("platformdirs")
    for variable in ("XDG_CACHE_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    assert _env.user_dir("cache") == platformdirs.user_cache_dir("remoteimport", appauthor=False)
    assert _env.user_dir("data") == platformdirs.user_data_dir("remoteimport", appauthor=False)


def test_requirements_are_found_without_scanning_every_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    import cloudpickle  # noqa: F401  (referenced below: imported)

    def scan() -> None:
        raise AssertionError("packages_distributions() scans every installed distribution")

    monkeypatch.setattr(importlib.metadata, "packages_distributions", scan)
    capture._packages_distributions.cache_clear()
    found = capture._distributions({"cloudpickle.cloudpickle", "json", "os.path", ""})
    assert found == {"cloudpickle": importlib.metadata.version("cloudpickle")}


def test_requirements_of_a_pushed_class_name_the_installed_distribution(pushed: tuple[Path, str]) -> None:
    store, full = pushed
    header = Store(str(store)).read_blob("Scaler", full)
    from remoteimport.blob import decode_blob

    requirements = decode_blob(header, expected_hash=full, expected_name="Scaler", source="test").header.requirements
    assert requirements == {"cloudpickle": importlib.metadata.version("cloudpickle")}


def test_module_distributions_follow_the_module_files() -> None:
    assert _distributions.module_distributions("cloudpickle") == [
        ("cloudpickle", importlib.metadata.version("cloudpickle"))
    ]
    assert _distributions.module_distributions(f"no_such_module_{uuid.uuid4().hex}") is None


def test_distribution_versions_are_read_from_the_metadata_header() -> None:
    for name in ("cloudpickle", "fsspec", "platformdirs"):
        assert _distributions.distribution_version(name) == importlib.metadata.version(name)
    assert _distributions.distribution_version("CloudPickle") == importlib.metadata.version("cloudpickle")
    assert _distributions.distribution_version(f"no-such-distribution-{uuid.uuid4().hex}") is None


def test_check_requirements_refuses_a_missing_or_other_major_version() -> None:
    have = importlib.metadata.version("cloudpickle")
    capture.check_requirements({"cloudpickle": have}, what="X@1")
    with pytest.raises(IncompatibleBlobError, match="not installed on this host"):
        capture.check_requirements({f"no-such-dist-{uuid.uuid4().hex}": "1.0"}, what="X@1")
    other_major = f"{int(have.split('.')[0]) + 1}.0"
    with pytest.raises(IncompatibleBlobError, match="another major"):
        capture.check_requirements({"cloudpickle": other_major}, what="X@1")


def test_import_phases_are_recorded(pushed: tuple[Path, str]) -> None:
    store, full = pushed
    from remoteimport.loader import class_from_blob
    from remoteimport.signing import TrustPolicy

    _metrics.reset()
    target = Store(str(store))
    target.resolve_version("Scaler", full[:10])
    from remoteimport.blob import decode_blob

    blob = decode_blob(target.read_blob("Scaler", full), expected_hash=full, expected_name="Scaler", source="t")
    TrustPolicy().check(blob.header, where="t", local_store=True)
    class_from_blob(blob, where="t", signature_checked=False)
    figures = remoteimport.metrics()
    assert {"resolve", "fetch", "verify", "requirements"} <= set(figures)
    assert list(figures) == [name for name in _metrics.PHASES if name in figures]  # in import order
    assert all(figure["count"] >= 1 and figure["seconds"] >= 0 for figure in figures.values())


def test_metrics_api_and_debug_logging(caplog: pytest.LogCaptureFixture) -> None:
    _metrics.reset()
    with caplog.at_level("DEBUG", logger="remoteimport"), _metrics.phase("fetch"):
        pass
    _metrics.record("fetch", 0.5)
    figure = remoteimport.metrics()["fetch"]
    assert figure["count"] == 2 and figure["seconds"] >= 0.5 and figure["max"] >= 0.5
    assert any("fetch took" in record.getMessage() for record in caplog.records)
    assert "fetch" in _metrics.format_report()
    _metrics.reset()
    assert remoteimport.metrics() == {}


def test_profile_reports_the_phases_at_exit(pushed: tuple[Path, str], tmp_path: Path) -> None:
    store, full = pushed
    environment = _env.without_settings(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    environment[_env.PROFILE] = "1"
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_pinned_import(str(store), full))],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "time per import phase" in done.stderr and "fetch" in done.stderr and "requirements" in done.stderr


def test_settings_are_read_in_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_env.TIMEOUT, "soon")
    with pytest.raises(StoreError, match="REMOTEIMPORT_TIMEOUT='soon' is not a number of seconds"):
        Store("memory://perf-settings")
    monkeypatch.setenv(_env.TIMEOUT, " 2.5 ")
    assert Store("memory://perf-settings").timeout == 2.5
    monkeypatch.setenv(_env.TRUSTED_KEYS, " , ")
    assert _env.items(_env.TRUSTED_KEYS) == []
    monkeypatch.setenv(_env.REQUIRE_SIGNATURES, "Yes")
    assert _env.flag(_env.REQUIRE_SIGNATURES)
    monkeypatch.delenv(_env.NAMESPACE, raising=False)
    assert _env.namespace() == _env.DEFAULT_NAMESPACE == "labchain_remote"
    assert _env.without_settings({"REMOTEIMPORT_STORE": "x", "HOME": "/h"}) == {"HOME": "/h"}


def test_config_and_lock_errors_live_in_errors() -> None:
    from remoteimport import config, lock

    assert config.ConfigError is ConfigError is remoteimport.ConfigError
    assert lock.LockError is LockError is remoteimport.LockError


def test_local_store_root_matches_fsspec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fsspec.core import url_to_fs

    monkeypatch.chdir(tmp_path)
    for url in (str(tmp_path / "s"), str(tmp_path / "s") + "/", "rel/s", "./rel", ".", f"file://{tmp_path}/s"):
        _, root = url_to_fs(url)
        assert Store(url).root == (root.rstrip("/") or "/"), url
        assert normalized_store_url(url) == Store(url).url, url  # the one comparison locks use
    assert normalized_store_url("rel/../s/") == str(tmp_path / "s")
    assert normalized_store_url("s3://bucket/classes/") == Store("s3://bucket/classes").url == "s3://bucket/classes"


# What a pinned import of a plain class does not import once this host has re-hashed the version (the first
# load re-hashes: that imports the hasher and what it needs). Each of these costs a fresh process more than the
# rest of the import does (docs/performance.md): the loader rebuilds payloads without cloudpickle, reads headers
# with json's C scanner, defers linecache, and its records are not dataclasses.
NOT_ON_THE_PINNED_PATH = (
    "cloudpickle",
    "typing",
    "dataclasses",
    "inspect",
    "logging",
    "re",
    "json",
    "linecache",
    "tokenize",
    "_hashlib",
    "pickle",
    "remoteimport.hashing",
)


def test_a_repeated_pinned_import_imports_none_of_the_costly_modules(tmp_path: Path) -> None:
    (tmp_path / "plain_source.py").write_text("class Plain:\n    def apply(self, x):\n        return [x] * 2\n")
    store = tmp_path / "store"
    full = _run(
        f"""
        import json, remoteimport, plain_source
        print(json.dumps(remoteimport.push(plain_source.Plain, store={str(store)!r})))
        """,
        tmp_path,
    )
    code = f"""
        import sys
        before = set(sys.modules)  # what the interpreter's start-up imported (an editable install imports re)
        import importlib, remoteimport
        remoteimport.install({str(store)!r}, namespace="perf_remote")
        assert importlib.import_module("perf_remote.Plain@{full}").Plain().apply(1) == [1, 1]
        costly = [name for name in {NOT_ON_THE_PINNED_PATH!r} if name in set(sys.modules) - before]
        import json
        print(json.dumps(costly))
    """
    cache = {"REMOTEIMPORT_CACHE_DIR": str(tmp_path / "cache")}
    (tmp_path / "consumer").mkdir()
    first = _run(code, tmp_path / "consumer", **cache)
    assert "remoteimport.hashing" in first  # the first load on this host re-hashes
    assert _run(code, tmp_path / "consumer", **cache) == []


def test_payloads_use_pickles_default_protocol() -> None:
    import pickle

    from remoteimport import capture

    assert capture._PROTOCOL == pickle.DEFAULT_PROTOCOL  # named without importing pickle.py on the load path


def test_every_millisecond_of_a_cold_s3_import_belongs_to_a_phase(s3_url: str, tmp_path: Path) -> None:
    """Issue 24: opening the filesystem (importing s3fs and aiobotocore, most of a cold import) is its own phase,
    and the phases, exclusive of each other, add up to the import statement's wall time."""
    from sample_classes import make_filter

    remoteimport.push(make_filter(7), store=s3_url)
    code = f"""
        import json, time
        import remoteimport
        remoteimport.install({s3_url!r}, namespace="phases_remote")
        started = time.perf_counter()
        from phases_remote import MyFilter
        elapsed = time.perf_counter() - started
        print(json.dumps({{"elapsed": elapsed, "phases": remoteimport.metrics(), "apply": MyFilter().apply(1)}}))
    """
    environment = {key: value for key, value in os.environ.items() if not key.startswith("REMOTEIMPORT_")}
    environment["REMOTEIMPORT_CACHE_DIR"] = str(tmp_path / "cold-cache")
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    phases = result["phases"]
    assert result["apply"] == 7
    assert {"open", "resolve", "fetch", "unpickle", "rehash", "load"} <= set(phases), phases
    assert phases["open"]["count"] == 1  # once per process
    covered = sum(figure["seconds"] for figure in phases.values())
    # Exclusive phases never add up to more than the statement; what is left over is the hook's own few lines.
    assert covered <= result["elapsed"] * 1.001
    assert covered >= 0.97 * result["elapsed"], (covered, result["elapsed"], phases)
