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

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from remoteimport import _env

if TYPE_CHECKING:
    from remoteimport.store import Store

__all__ = ["IsolatedPythonError", "remote_store", "remote_import", "isolated_python", "run_isolated"]

ISOLATED_TIMEOUT = 120  # seconds; a hung child fails the test instead of hanging the suite

# The child's program: run the test's code as __main__ (with its source registered, so tracebacks show
# lines), then write `result` as JSON to the file named by sys.argv[1]. `{install}` installs the hook.
_CHILD = """\
import json as _ri_json, linecache as _ri_linecache, sys as _ri_sys, traceback as _ri_traceback
{install}
_ri_source = {source!r}
_ri_linecache.cache["<isolated_python>"] = (len(_ri_source), None, _ri_source.splitlines(True), "<isolated_python>")
try:
    try:
        exec(compile(_ri_source, "<isolated_python>", "exec"))
    except SystemExit as _ri_exit:
        if _ri_exit.code not in (0, None):
            raise
    try:
        _ri_text = _ri_json.dumps({{"result": globals().get("result")}})
    except (TypeError, ValueError) as _ri_error:
        raise TypeError(f"the code's result is not JSON-serializable: {{_ri_error}}") from None
except BaseException as _ri_error:
    _ri_text = _ri_json.dumps({{"error": type(_ri_error).__qualname__, "message": str(_ri_error),
                               "traceback": _ri_traceback.format_exc()}})
with open(_ri_sys.argv[1], "w") as _ri_file:
    _ri_file.write(_ri_text)
"""
_INSTALL = "import remoteimport\nremoteimport.install()"


class IsolatedPythonError(AssertionError):
    """The code given to ``isolated_python`` raised (or the interpreter failed); the message holds the
    child's traceback. ``error`` is the exception's class name (``"ValueError"``), ``message`` its text."""

    def __init__(self, error: str, message: str, traceback: str, stdout: str, stderr: str) -> None:
        self.error, self.message, self.traceback = error, message, traceback
        self.stdout, self.stderr = stdout, stderr
        details = traceback or stderr
        super().__init__(f"{error}: {message}\n--- traceback in the isolated interpreter ---\n{details.rstrip()}")


def run_isolated(
    code: str,
    *,
    store: Store | str | None = None,
    namespace: str | None = None,
    install: bool = True,
    files: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = ISOLATED_TIMEOUT,
) -> Any:
    """Run ``code`` (dedented) in ``python -E`` in a new empty folder and return what it assigns to ``result``.

    - ``store``: served to the child as ``$REMOTEIMPORT_STORE`` (a :class:`Store` or a URL; ``memory://``
      stores exist in one process only and are refused); ``namespace`` as ``$REMOTEIMPORT_NAMESPACE``.
    - ``install``: call ``remoteimport.install()`` before the code when a store is given (False leaves it to
      the code, or to the zero-code start-up hook).
    - ``files``: ``{relative path: source}`` written into the child's folder first (e.g. a module to push).
    - ``env``: extra environment variables. Other ``REMOTEIMPORT_*`` variables of this process are not passed.

    ``-E`` ignores ``PYTHONPATH`` and the like, and the folder holds nothing but ``files``: the child sees
    installed packages only, not the test's source. Not ``-I``, which would hide user-site installs too.
    """
    store_url = _store_url(store)
    environment = _env.without_settings(os.environ)
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    if store_url is not None:
        environment[_env.STORE] = store_url
    if namespace is not None:
        environment[_env.NAMESPACE] = namespace
    environment.update(env or {})
    source = textwrap.dedent(code)
    program = _CHILD.format(install=_INSTALL if install and store_url is not None else "", source=source)
    with tempfile.TemporaryDirectory(prefix="remoteimport-isolated-") as folder:
        workdir = Path(folder, "cwd")
        workdir.mkdir()
        for relative, text in (files or {}).items():
            path = workdir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        result_file = Path(folder, "result.json")
        try:
            done = subprocess.run(
                [sys.executable, "-E", "-c", program, str(result_file)],
                cwd=workdir,
                env=environment,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise IsolatedPythonError(
                "TimeoutExpired", f"the isolated interpreter did not finish in {timeout} s", "", "", str(exc.stderr)
            ) from None
        report = json.loads(result_file.read_text()) if result_file.exists() else None
    if report is None:
        raise IsolatedPythonError(
            "InterpreterError",
            f"the isolated interpreter exited with status {done.returncode}",
            "",
            done.stdout,
            done.stderr,
        )
    if "error" in report:
        raise IsolatedPythonError(report["error"], report["message"], report["traceback"], done.stdout, done.stderr)
    return report["result"]


def _store_url(store: Store | str | None) -> str | None:
    if store is None:
        return None
    url = store if isinstance(store, str) else store.url
    if url.startswith("memory://"):
        raise ValueError(f"{url} exists only inside this process; give isolated_python a folder store")
    return url


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
