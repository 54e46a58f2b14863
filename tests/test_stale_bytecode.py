"""A push runs the code its file holds now (issue 25).

Python reuses a ``__pycache__`` file whose recorded modification time (whole seconds) and size are the source's,
so an edit within the same second that keeps the size (a script, a CI step, a ``git checkout``) leaves the old
bytecode running in every new interpreter. The CLI compiles the user's files from their text; the library, which
runs in the user's interpreter, refuses the push and names the stale cached file and the fix.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

from remoteimport.cli.target import load_target_class, parse_target
from remoteimport.code_objects import stale_bytecode

VERSION_1 = "class Model:\n    def predict(self, x):\n        return x + 1\n"
VERSION_2 = VERSION_1.replace("x + 1", "x + 2")  # the same size


def edit_within_the_same_second(path: Path, text: str, second: int, fraction: float) -> None:
    """Write ``text`` and date it ``second`` + ``fraction``: what an edit made in that second looks like."""
    path.write_text(text, encoding="utf-8")
    stamp = int((second + fraction) * 1e9)
    os.utime(path, ns=(stamp, stamp))


def python(*args: str, cwd: Path, store: Path) -> subprocess.CompletedProcess[str]:
    """A new interpreter that writes bytecode as Python does by default (this machine's environment may not)."""
    env = {
        key: value for key, value in os.environ.items() if key not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    env["REMOTEIMPORT_STORE"] = str(store)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path, int]:
    """A folder with model.py (version 1, dated a whole second in the past), a store and that second."""
    folder = tmp_path / "project"
    folder.mkdir()
    second = int(time.time()) - 60
    edit_within_the_same_second(folder / "model.py", VERSION_1, second, 0.1)
    return folder, tmp_path / "store", second


def loaded_result(store: Path, cwd: Path) -> str:
    code = "import remoteimport; remoteimport.install(); from labchain_remote import Model; print(Model().predict(1))"
    done = python("-c", code, cwd=cwd, store=store)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("target", ["model.py:Model", "model:Model"])
def test_cli_pushes_twice_with_same_size_edits_within_one_second(project, tmp_path, target):
    folder, store, second = project
    first = python("-m", "remoteimport", "push", target, cwd=folder, store=store)
    assert first.returncode == 0, first.stderr
    cached = Path(importlib.util.cache_from_source(str(folder / "model.py")))
    assert cached.is_file()  # written by the first push, as any import writes it

    edit_within_the_same_second(folder / "model.py", VERSION_2, second, 0.6)
    assert stale_bytecode(str(folder / "model.py")) == str(cached)  # a plain import would run version 1

    again = python("-m", "remoteimport", "push", target, cwd=folder, store=store)
    assert again.returncode == 0, again.stderr
    assert "new: latest was" in again.stdout
    assert loaded_result(store, tmp_path) == "3"  # version 2 is the latest, and runs
    assert stale_bytecode(str(folder / "model.py")) is None  # and the cached file was rewritten on the way


def test_library_push_names_the_stale_cache_and_the_fix(project, tmp_path):
    folder, store, second = project
    push = "import remoteimport, model; print(remoteimport.push(model.Model))"
    first = python("-c", push, cwd=folder, store=store)
    assert first.returncode == 0, first.stderr
    cached = importlib.util.cache_from_source(str(folder / "model.py"))

    edit_within_the_same_second(folder / "model.py", VERSION_2, second, 0.6)
    refused = python("-c", push, cwd=folder, store=store)
    assert refused.returncode == 1
    message = refused.stderr.strip().splitlines()[-1]
    assert "PushError" in message and "stale __pycache__" in message, message
    assert f"Delete {cached} or touch {folder / 'model.py'}" in message and "restart" in message
    assert "importlib.reload" not in message  # reloading would read the same stale file

    (folder / "model.py").touch()  # the fix the message gives
    again = python("-c", push, cwd=folder, store=store)
    assert again.returncode == 0, again.stderr
    assert loaded_result(store, tmp_path) == "3"


def test_a_module_edited_after_its_import_still_says_reload(tmp_path):
    """Without a stale cache (the classic case: the file changed after the module was imported), the message is
    the one it always was."""
    (tmp_path / "edited_model.py").write_text(VERSION_1, encoding="utf-8")
    code = (
        "import remoteimport, edited_model, pathlib\n"
        f"pathlib.Path('edited_model.py').write_text({VERSION_2.replace('x + 2', 'x + 22')!r})\n"
        "remoteimport.push(edited_model.Model)\n"
    )
    done = python("-c", code, cwd=tmp_path, store=tmp_path / "store")
    assert done.returncode == 1
    assert "Reload the module (importlib.reload)" in done.stderr and "stale __pycache__" not in done.stderr


@pytest.mark.parametrize("form", ["file", "module"])
def test_loaded_targets_carry_pythons_own_loader(tmp_path, monkeypatch, form):
    """What the CLI's loader leaves on a module is Python's own: a module object pickled by value (its namespace
    travels) must not name a private class of the command line, which old blobs would need forever."""
    (tmp_path / f"loader_{form}.py").write_text(VERSION_1, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    target = parse_target(f"{tmp_path}/loader_file.py:Model" if form == "file" else "loader_module:Model")
    with load_target_class(target) as cls:
        module = sys.modules[cls.__module__]
        assert type(module.__loader__) is SourceFileLoader and module.__spec__.loader is module.__loader__
