"""Running code in a fresh interpreter that cannot see the caller's source: the one harness behind the
``isolated_python`` pytest fixture (docs/testing.md) and ``remoteimport quickstart``'s last steps.

    >>> run_isolated("result = 6 * 7", install=False)
    42
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from remoteimport import _env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from remoteimport.store import Store

__all__ = ["ISOLATED_TIMEOUT", "IsolatedPythonError", "run_isolated"]

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
    url = store if isinstance(store, str) else store.unredacted_url  # the child opens the store by it
    if url.startswith("memory://"):
        raise ValueError(f"{url} exists only inside this process; give isolated_python a folder store")
    return url
