"""pytest fixtures for test suites that push and import remote classes (registered as the ``pytest11`` plugin).

Installing remoteimport makes three fixtures available in every test suite (docs/testing.md):

- ``remote_store``: a fresh, empty :class:`~remoteimport.Store` in a temporary folder (other processes can
  open it too: ``remote_store.url``);
- ``remote_import(store=None, namespace=None, **install_options)``: installs the import hook for one test
  and returns the namespace module; afterwards the namespace is removed with all its ``sys.modules`` entries
  (and an earlier install of that namespace is put back);
- ``isolated_python(code, ...)``: runs ``code`` in a fresh interpreter that cannot see the test's source and
  returns the value ``code`` assigns to ``result`` (decoded from JSON), or raises
  :class:`IsolatedPythonError` carrying the child's traceback.

    def test_my_filter_travels(remote_store, isolated_python):
        remoteimport.push(MyFilter, store=remote_store)
        assert isolated_python("from labchain_remote import MyFilter\\nresult = MyFilter().apply(2)") == 4

The module imports nothing heavy: pytest loads it in every test run of an environment with remoteimport.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

# The harness lives in the library (remoteimport.isolated), which `remoteimport quickstart` uses too.
from remoteimport.isolated import ISOLATED_TIMEOUT, IsolatedPythonError, run_isolated

if TYPE_CHECKING:
    from remoteimport.store import Store

__all__ = [
    "ISOLATED_TIMEOUT",
    "IsolatedPythonError",
    "remote_store",
    "remote_import",
    "isolated_python",
    "run_isolated",
]

# ---------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def remote_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A fresh, empty store in a temporary folder, readable by other processes at ``remote_store.url``."""
    from remoteimport.store import Store

    return Store(tmp_path_factory.mktemp("remote_store") / "store")


@pytest.fixture
def remote_import(request: pytest.FixtureRequest) -> Iterator[Callable[..., ModuleType]]:
    """``remote_import(store=None, namespace=None, **install_options)`` -> the imported namespace module.

    ``store`` defaults to this test's ``remote_store``; ``namespace`` to ``labchain_remote`` (or
    ``$REMOTEIMPORT_NAMESPACE``); ``install_options`` go to :func:`remoteimport.install` (``lock=...``,
    ``trusted_keys=...``; ``lock`` defaults to False: no ambient lock file leaks into tests). After the test
    every namespace it installed is uninstalled and its modules are removed from ``sys.modules``; a namespace
    that was installed before the test gets its finder back."""
    import importlib

    from remoteimport import hook

    replaced: dict[str, Any] = {}

    def install(store: Store | str | None = None, namespace: str | None = None, **options: Any) -> ModuleType:
        if store is None:
            store = request.getfixturevalue("remote_store")
        finder = hook.install(store, namespace, lock=options.pop("lock", False), **options)
        replaced.setdefault(finder.namespace, None)
        return importlib.import_module(finder.namespace)

    # Remember what each namespace had before this test, so it can be restored.
    before = hook.installed()
    yield install
    for namespace in replaced:
        hook.uninstall(namespace)
        previous = before.get(namespace)
        if previous is not None:
            with hook._INSTALL_LOCK:
                hook._FINDERS[namespace] = previous
                sys.meta_path.append(previous)


@pytest.fixture
def isolated_python(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``isolated_python(code, store=None, namespace=None, install=True, files=None, env=None)`` -> ``result``.

    Runs ``code`` in a fresh interpreter that cannot see the test's source (:func:`run_isolated`). When the
    test also uses ``remote_store``, that store is served by default."""

    def run(code: str, *, store: Store | str | None = None, **options: Any) -> Any:
        if store is None and "remote_store" in request.fixturenames:
            store = request.getfixturevalue("remote_store")
        return run_isolated(code, store=store, **options)

    return run
