"""The declared dependency ranges are what these tests prove: the two-interpreter round trip with the
**lowest** and the **newest** release that ``pyproject.toml`` allows of every runtime dependency (cloudpickle,
fsspec, ...), pushed with one and loaded with the other in both directions, in venvs built here.

Also: blobs pushed by remoteimport releases that let cloudpickle reduce code objects (before code objects
carried their file themselves), with cloudpickle 3.0.0 and 3.1.3 — the release that broke loading by
replacing every ``co_filename`` — still load, run and re-hash (``tests/fixtures/legacy``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from environments import (
    SUPPORTED_VERSIONS,
    build_environment,
    installed_versions,
    lowest_allowed,
    project_dependencies,
)
from packaging.version import Version

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "legacy"
PRODUCER = FIXTURES / "producer"
TIMEOUT = 120
RANGES = ("lowest", "newest")


def _distributions() -> list[str]:
    return sorted(lowest_allowed(project_dependencies()))


@pytest.fixture(scope="session")
def dependency_venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"lowest": python, "newest": python}``: venvs of this interpreter with every runtime dependency at its
    declared lower bound, and at the newest release the ranges allow today (no pip cache)."""
    base = tmp_path_factory.mktemp("dependency-venvs")
    lowest = [f"{name}=={version}" for name, version in lowest_allowed(project_dependencies()).items()]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            "lowest": pool.submit(build_environment, Path(sys.executable), base / "lowest", lowest),
            "newest": pool.submit(
                build_environment, Path(sys.executable), base / "newest", project_dependencies(), fresh_index=True
            ),
        }
        return {label: future.result() for label, future in futures.items()}


def _run(python: Path, arguments: list[str], cwd: Path) -> dict[str, Any]:
    cwd.mkdir(parents=True, exist_ok=True)
    environment = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "REMOTEIMPORT_CACHE_DIR": "off"}
    try:
        done = subprocess.run(
            [str(python), *arguments], cwd=cwd, env=environment, capture_output=True, text=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{python} {arguments[:2]} did not finish in {TIMEOUT} s\n{exc.stderr}") from None
    assert done.returncode == 0, f"{python} {arguments[:2]} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)  # each script prints one JSON document, nothing else


def push_fixture_package(python: Path, workdir: Path, store: str) -> dict[str, Any]:
    """Push the fixture package's classes from a copy of its source with ``python``, then delete the copy."""
    source = workdir / "producer"
    shutil.copytree(PRODUCER, source, ignore=shutil.ignore_patterns("__pycache__"))
    pushed = _run(python, ["producer.py", store], source)
    shutil.rmtree(source)
    return pushed


CONSUMER = """
import importlib, inspect, json, sys, traceback
import cloudpickle, fsspec
import remoteimport

store, hashes = sys.argv[1], json.loads(sys.argv[2])
remoteimport.install(store)
pinned = {
    name: getattr(importlib.import_module(f"labchain_remote.{name}@{full}"), name) for name, full in hashes.items()
}
from labchain_remote import MainGreeter, Point, Scaler

assert pinned == {"Scaler": Scaler, "Point": Point, "MainGreeter": MainGreeter}, "latest is not the pinned version"
scaler = Scaler(2)
calls = {
    "Scaler": {
        "describe": scaler.describe(),
        "apply": scaler.apply(5),
        "square": Scaler.square(4),
        "named": Scaler.named(),
        "double_scale": scaler.double_scale,
        "comprehension": scaler.comprehension([-1, 1, 2]),
        "with_lambda": scaler.with_lambda([1, 3, 2]),
        "closure": scaler.closure(1),
        "nested": scaler.nested(1),
    },
    "Point": {"norm1": Point(3, -4).norm1()},
    "MainGreeter": {"greet": MainGreeter().greet("world")},
}
try:
    scaler.fail()
except ValueError:
    failure = traceback.format_exc()
print(json.dumps({
    "calls": calls,
    "rehash": {name: remoteimport.class_hash(cls) for name, cls in pinned.items()},
    "getsource": inspect.getsource(Scaler.apply),
    "traceback": failure,
    "versions": {"cloudpickle": cloudpickle.__version__, "fsspec": fsspec.__version__},
}))
"""


def load_in(python: Path, workdir: Path, store: str, hashes: dict[str, str]) -> dict[str, Any]:
    """Import every class pinned and as latest in a fresh isolated interpreter (cwd an empty folder)."""
    return _run(python, ["-I", "-c", textwrap.dedent(CONSUMER), store, json.dumps(hashes)], workdir / "consumer")


def assert_loaded_like_pushed(loaded: dict[str, Any], expected: dict[str, Any]) -> None:
    assert loaded["calls"] == expected["calls"]
    assert loaded["rehash"] == expected["hashes"]
    assert "return helpers.clip(x * self.scale * self.factor) + helpers.OFFSET" in loaded["getsource"]
    assert 'raise ValueError("boom from the shipped source")' in loaded["traceback"]  # the shipped line


def test_venvs_hold_the_lowest_and_the_newest_allowed_versions(dependency_venvs: dict[str, Path]) -> None:
    wanted = lowest_allowed(project_dependencies())
    lowest = installed_versions(dependency_venvs["lowest"], _distributions())
    newest = installed_versions(dependency_venvs["newest"], _distributions())
    assert {name: Version(version) for name, version in lowest.items()} == {
        name: Version(version) for name, version in wanted.items()
    }
    assert newest["cloudpickle"] != lowest["cloudpickle"] and newest["fsspec"] != lowest["fsspec"], newest


@pytest.mark.parametrize("label", RANGES)
def test_cloudpickle_internals_match_the_adapter(dependency_venvs: dict[str, Path], label: str) -> None:
    code = (
        "import json; from remoteimport import _cloudpickle as a; "
        "print(json.dumps({'version': a.installed_version(), 'problems': a.internals_problems()}))"
    )
    found = _run(dependency_venvs[label], ["-I", "-c", code], Path.cwd())
    assert found["problems"] == [], f"cloudpickle {found['version']}: {found['problems']}"


@pytest.mark.slow
@pytest.mark.parametrize("store_kind", ["path", "file-url"])
@pytest.mark.parametrize(("producer", "consumer"), [(p, c) for p in RANGES for c in RANGES])
def test_push_with_one_range_end_load_with_another(
    dependency_venvs: dict[str, Path], tmp_path: Path, producer: str, consumer: str, store_kind: str
) -> None:
    folder = tmp_path / "store"
    store = str(folder) if store_kind == "path" else folder.as_uri()
    pushed = push_fixture_package(dependency_venvs[producer], tmp_path, store)
    loaded = load_in(dependency_venvs[consumer], tmp_path, store, pushed["hashes"])
    assert_loaded_like_pushed(loaded, pushed)
    produced_with = installed_versions(dependency_venvs[producer], ["cloudpickle"])["cloudpickle"]
    assert pushed["cloudpickle"] == produced_with
    assert (
        loaded["versions"]["cloudpickle"]
        == installed_versions(dependency_venvs[consumer], ["cloudpickle"])["cloudpickle"]
    )


@pytest.mark.slow
@pytest.mark.parametrize("consumer", RANGES)
@pytest.mark.parametrize("made_with", ["3.0.0", "3.1.3"])
def test_blobs_pushed_before_code_objects_carried_their_file_still_load(
    dependency_venvs: dict[str, Path], tmp_path: Path, made_with: str, consumer: str
) -> None:
    fixture = FIXTURES / f"store-cloudpickle-{made_with}"
    expected = json.loads((fixture / "expected.json").read_text(encoding="utf-8"))
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if expected["python"] != here:
        pytest.skip(f"the legacy fixture blobs hold Python {expected['python']} bytecode; this is Python {here}")
    store = tmp_path / "store"
    shutil.copytree(fixture, store)
    loaded = load_in(dependency_venvs[consumer], tmp_path, str(store), expected["hashes"])
    assert_loaded_like_pushed(loaded, expected)


@pytest.mark.slow
@pytest.mark.parametrize("minor", SUPPORTED_VERSIONS)
def test_push_and_load_on_each_supported_python(venv_pythons: dict[str, Path], tmp_path: Path, minor: str) -> None:
    """The same round trip on every supported CPython (producer and consumer on the same version)."""
    if minor not in venv_pythons:
        pytest.skip(f"CPython {minor} is not installed here (CI fails instead, in the venv_pythons fixture)")
    python = venv_pythons[minor]
    store = str(tmp_path / "store")
    pushed = push_fixture_package(python, tmp_path, store)
    assert pushed["python"] == minor
    assert_loaded_like_pushed(load_in(python, tmp_path, store, pushed["hashes"]), pushed)


@pytest.mark.slow
@pytest.mark.parametrize(
    "minor", [m for m in SUPPORTED_VERSIONS if (FIXTURES / f"store-py{m}-cloudpickle-3.1.3").is_dir()]
)
def test_blobs_pushed_with_cloudpickle_3_1_3_load_on_their_python(
    venv_pythons: dict[str, Path], tmp_path: Path, minor: str
) -> None:
    """The release that broke loading, on each Python it was used with (stores pushed by the previous release)."""
    if minor not in venv_pythons:
        pytest.skip(f"CPython {minor} is not installed here (CI fails instead, in the venv_pythons fixture)")
    fixture = FIXTURES / f"store-py{minor}-cloudpickle-3.1.3"
    expected = json.loads((fixture / "expected.json").read_text(encoding="utf-8"))
    assert expected["python"] == minor and expected["cloudpickle"] == "3.1.3"
    store = tmp_path / "store"
    shutil.copytree(fixture, store)
    assert_loaded_like_pushed(load_in(venv_pythons[minor], tmp_path, str(store), expected["hashes"]), expected)
