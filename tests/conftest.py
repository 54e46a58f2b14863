"""Fixtures shared by the store, registry and hook tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from backends import gcs_server, gs_url, s3_server, s3_url, session_blob_cache  # noqa: F401  (real S3/GCS servers)
from environments import IN_CI, SUPPORTED_VERSIONS, build_environment, discover_interpreters
from sample_classes import forget_loaded

import remoteimport
from remoteimport import _env
from remoteimport.store import Store


class ForbiddenFS:
    """A stand-in filesystem that records every attribute looked up on it and fails the access."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, attribute: str) -> object:
        self.calls.append(attribute)
        raise AssertionError(f"storage was accessed: fs.{attribute}")


@pytest.fixture(autouse=True)
def served_variable_restored() -> Iterator[None]:
    """install() records what it serves in ``$REMOTEIMPORT_SERVED`` for the processes it starts
    (docs/engines.md#worker-processes): a test's installs must not reach the subprocesses of later tests."""
    saved = os.environ.get(_env.SERVED)
    yield
    if saved is None:
        os.environ.pop(_env.SERVED, None)
    else:
        os.environ[_env.SERVED] = saved


@pytest.fixture
def memory_store() -> Iterator[Store]:
    """A fresh, empty in-memory store (the memory filesystem is shared by the whole process)."""
    store = Store(f"memory://remoteimport-test-{uuid.uuid4().hex}")
    yield store
    if store.fs.exists(store.root):
        store.fs.rm(store.root, recursive=True)


@pytest.fixture
def forbidden_store() -> Store:
    """A store whose every filesystem access fails and is recorded in ``store.fs.calls``."""
    store = Store("memory://remoteimport-test-forbidden")
    store.fs = ForbiddenFS()
    return store


@pytest.fixture
def namespace() -> Iterator[str]:
    """A namespace of its own (``remote_<random>``); uninstalled and its loaded versions forgotten afterwards."""
    name = f"remote_{uuid.uuid4().hex[:12]}"
    yield name
    remoteimport.uninstall(name)
    forget_loaded(namespace=name)


@pytest.fixture(scope="session")
def venv_pythons(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"3.10": venv python, ...}``: a venv per supported CPython with the project's dependencies and this
    checkout. In CI every supported interpreter must be there."""
    interpreters = discover_interpreters()
    missing = [minor for minor in SUPPORTED_VERSIONS if minor not in interpreters]
    if missing:
        message = (
            f"CPython {', '.join(missing)} not found (looked in `pyenv versions --bare` and on PATH); "
            f"found {', '.join(interpreters) or 'none'}"
        )
        if IN_CI:
            pytest.fail(message + ": CI must provide every supported interpreter", pytrace=False)
        if len(interpreters) < 2:
            pytest.skip(message + ": need at least two interpreters to compare")
    base = tmp_path_factory.mktemp("venvs")
    with ThreadPoolExecutor(max_workers=len(interpreters)) as pool:
        futures = {
            minor: pool.submit(build_environment, python, base / f"py{minor}") for minor, python in interpreters.items()
        }
        return {minor: future.result() for minor, future in futures.items()}
