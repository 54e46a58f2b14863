"""Helpers for the two-interpreter tests: write a producer's files, run it, run consumers in clean interpreters.

A producer runs as ``python producer.py STORE`` in its own folder (so its modules are importable there); the
test deletes that folder before any consumer starts. A consumer runs as ``python -I -c CODE`` in another,
empty folder: isolated mode puts neither the folder nor ``PYTHONPATH`` on ``sys.path``, so the only way to the
classes is the store. Each consumer prints one JSON object as its last line, which the test inspects.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

TIMEOUT = 60  # seconds; a hung import (a deadlock) fails the test instead of hanging the suite

CONSUMER_PRELUDE = """\
import importlib, importlib.util, json, pickle, sys
import remoteimport
STORE = {store!r}
finder = remoteimport.install(STORE)
out = {{}}
"""


def write_files(folder: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: source}`` under ``folder`` (sources are dedented) and return the folder."""
    for relative, source in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    return folder


def _environment() -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("REMOTEIMPORT_") or key == "REMOTEIMPORT_CACHE_DIR"  # the test session's own cache
    }
    environment["PYTHONDONTWRITEBYTECODE"] = "1"  # leave nothing behind in the producer's folder
    return environment


def _run(command: list[str], cwd: Path, timeout: float = TIMEOUT) -> str:
    try:
        done = subprocess.run(
            command, cwd=cwd, env=_environment(), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{command[:3]} did not finish in {timeout} s (deadlock?)\n{exc.stderr}") from None
    if done.returncode != 0:
        raise AssertionError(
            f"{command[:3]} exited with {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
    return done.stdout


def run_producer(folder: Path, store: str, script: str = "producer.py") -> dict[str, Any]:
    """Run ``python script STORE`` in ``folder``; return the JSON object it printed last."""
    return _last_json(_run([sys.executable, script, store], folder))


def run_consumer(cwd: Path, store: str, code: str, timeout: float = TIMEOUT) -> dict[str, Any]:
    """Run :data:`CONSUMER_PRELUDE` then ``code`` in a fresh isolated interpreter; ``code`` prints ``out`` as JSON."""
    cwd.mkdir(parents=True, exist_ok=True)
    assert not any(cwd.iterdir()), f"consumer folder {cwd} is not empty"
    source = CONSUMER_PRELUDE.format(store=store) + textwrap.dedent(code)
    return _last_json(_run([sys.executable, "-I", "-c", source], cwd, timeout))


def run_script(folder: Path, script: str, *args: str, timeout: float = TIMEOUT) -> Any:
    """Run ``python SCRIPT ARGS...`` in ``folder`` (its ``__main__`` is that file, as users run scripts); return
    the JSON value it printed last."""
    return _last_json(_run([sys.executable, script, *args], folder, timeout))


def run_code(python: Path | str, code: str, *args: str, cwd: Path, timeout: float = TIMEOUT) -> Any:
    """Run ``python -c CODE ARGS...`` in ``cwd``; return the JSON value it printed last."""
    return _last_json(_run([str(python), "-c", textwrap.dedent(code), *args], cwd, timeout))


def push_then_delete(folder: Path, files: dict[str, str], target: str, here: str) -> tuple[str, dict[str, Any]]:
    """Write ``files`` into ``folder/producer`` with a script that pushes ``target`` (``module:Class``) to the
    store ``folder/store`` and prints its hash and ``here`` (an expression evaluated there), run it, then delete
    the producer's folder. Returns ``(store, {"hash": ..., "here": ...})``."""
    module, name = target.split(":")
    script = f"""
        import json, sys
        import remoteimport
        from {module} import {name}
        full = remoteimport.push({name}, store=sys.argv[1])
        print(json.dumps({{"hash": full, "here": {here}}}))
    """
    producer = write_files(folder / "producer", {**files, "producer.py": script})
    store = str(folder / "store")
    pushed = run_producer(producer, store)
    delete(producer)
    return store, pushed


def delete(folder: Path) -> None:
    """Remove the producer's folder: from now on its code exists only in the store."""
    shutil.rmtree(folder)
    assert not folder.exists()


def _last_json(stdout: str) -> Any:
    lines = stdout.strip().splitlines()
    assert lines, "the interpreter printed nothing"
    return json.loads(lines[-1])
