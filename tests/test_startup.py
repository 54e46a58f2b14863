"""Zero-code remote hosts: the ``remoteimport.pth`` start-up hook, ``$REMOTEIMPORT_NAMESPACE`` and
``python -m remoteimport run``.

The session fixture ``venv_python`` builds a fresh virtual environment with the project installed the way
users install it (``pip install .``, not editable) and nothing else but its dependencies; the other tests
use this checkout's own (editable) install, where ``pip install -e .`` put the same ``.pth`` file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from environments import empty_venv, lowest_allowed, pip_for, project_dependencies, site_packages

import remoteimport
from remoteimport import _startup
from remoteimport.cli import main
from remoteimport.store import Store

REPO_ROOT = Path(__file__).resolve().parents[1]
CHILD_TIMEOUT = 120


def clean_environment(**variables: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("REMOTEIMPORT_")}
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    environment.update(variables)
    return environment


def run(command: list[str], cwd: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=clean_environment(**variables), capture_output=True, text=True, timeout=CHILD_TIMEOUT
    )


def checked(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"exit status {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done.stdout


@remoteimport.persist
class Doubler:
    def __init__(self, offset: int = 0) -> None:
        self.offset = offset

    def apply(self, x: int) -> int:
        return 2 * x + self.offset


@pytest.fixture
def pushed(remote_store: Store) -> Store:
    remoteimport.push(Doubler, store=remote_store)
    return remote_store


# -- the .pth line and the start-up finder ---------------------------------------------------------------


def test_the_development_install_has_the_startup_hook() -> None:
    folders = [*{sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}]
    found = [Path(folder, _startup.PTH_NAME) for folder in folders if Path(folder, _startup.PTH_NAME).exists()]
    assert found, f"no {_startup.PTH_NAME} in {folders}: reinstall the project (pip install -e '.[test]')"
    assert found[0].read_text() == (REPO_ROOT / _startup.PTH_NAME).read_text()


def test_the_pth_line_is_one_import_line_that_reads_two_variables() -> None:
    lines = (REPO_ROOT / _startup.PTH_NAME).read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("import os;")  # site exec()s lines starting with "import"
    assert "REMOTEIMPORT_STORE" in lines[0] and "REMOTEIMPORT_NAMESPACE" in lines[0]


def test_the_startup_finder_ignores_other_names_and_is_added_once(monkeypatch: pytest.MonkeyPatch) -> None:
    finder = _startup.StartupFinder("some_remote")
    assert finder.find_spec("json") is None and finder.find_spec("some_remote_other") is None
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.setenv("REMOTEIMPORT_NAMESPACE", "some_remote")
    _startup.activate()
    _startup.activate()
    assert [repr(f) for f in sys.meta_path if getattr(f, "remoteimport_startup", False)] == [
        "StartupFinder('some_remote')"
    ]


def test_nothing_is_imported_without_the_variables(tmp_path: Path) -> None:
    out = checked(
        run(
            [sys.executable, "-c", "import sys; print(sorted(m for m in sys.modules if m.startswith('remoteimport')))"],
            tmp_path,
        )
    )
    assert out.strip() == "[]"


def test_with_the_variables_nothing_heavy_is_imported_until_the_namespace_is(
    pushed: Store, isolated_python: Callable[..., Any]
) -> None:
    result = isolated_python(
        """
        import sys
        heavy = ("fsspec", "cloudpickle", "remoteimport.hook", "remoteimport.store", "remoteimport.registry")
        before = sorted(m for m in sys.modules if m.startswith(("remoteimport",)) or m in heavy)
        import json, email.message        # ordinary imports pass through the start-up finder untouched
        untouched = sorted(m for m in heavy if m in sys.modules)
        from labchain_remote import Doubler  # no install() call
        result = {"before": before, "untouched": untouched, "value": Doubler(1).apply(3),
                  "finders": [type(f).__name__ for f in sys.meta_path][-1:]}
        """,
        install=False,
    )
    assert result == {
        "before": ["remoteimport", "remoteimport._env", "remoteimport._startup", "remoteimport.errors"],
        "untouched": [],
        "value": 7,
        "finders": ["RemoteFinder"],  # the start-up finder handed over to the real one
    }


def test_the_namespace_variable_renames_the_namespace(pushed: Store, isolated_python: Callable[..., Any]) -> None:
    code = "from team_models import Doubler\nresult = Doubler().apply(5)"
    assert isolated_python(code, install=False, namespace="team_models") == 10
    # install() without a namespace honours it too
    assert isolated_python(code, install=True, namespace="team_models") == 10


def test_an_explicit_install_replaces_the_startup_finder(
    pushed: Store, tmp_path: Path, isolated_python: Callable[..., Any]
) -> None:
    other = Store(tmp_path / "other")  # an empty store: install() must win over $REMOTEIMPORT_STORE
    result = isolated_python(
        f"""
        import sys, remoteimport
        before = [repr(f) for f in sys.meta_path if getattr(f, "remoteimport_startup", False)]
        remoteimport.install({other.url!r})
        after = [repr(f) for f in sys.meta_path if getattr(f, "remoteimport_startup", False)]
        import labchain_remote
        result = [before, after, dir(labchain_remote)]
        """,
        install=False,
    )
    assert result == [["StartupFinder('labchain_remote')"], [], []]


def test_a_bad_namespace_warns_and_python_still_starts(tmp_path: Path) -> None:
    done = run([sys.executable, "-c", "print('started')"], tmp_path, REMOTEIMPORT_NAMESPACE="not a name")
    assert checked(done).strip() == "started"
    assert "remoteimport: start-up hook not installed" in done.stderr and "not a module name" in done.stderr


# -- python -m remoteimport run ---------------------------------------------------------------------------

SCRIPT = """
    import sys
    from labchain_remote import Doubler

    print("value", Doubler(int(sys.argv[1])).apply(10), "argv", sys.argv[1:], "main", __name__)
    if len(sys.argv) > 2:
        raise SystemExit(int(sys.argv[2]))
"""


def test_run_a_script_with_the_hook(pushed: Store, tmp_path: Path) -> None:
    script = tmp_path / "scripts" / "job.py"
    script.parent.mkdir()
    script.write_text(textwrap.dedent(SCRIPT))
    done = run([sys.executable, "-m", "remoteimport", "run", "--store", pushed.url, str(script), "1"], tmp_path)
    assert checked(done).strip() == "value 21 argv ['1'] main __main__"
    failing = run([sys.executable, "-m", "remoteimport", "run", "--store", pushed.url, str(script), "1", "3"], tmp_path)
    assert failing.returncode == 3


def test_run_shows_the_scripts_own_traceback(
    pushed: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "broken.py"
    script.write_text("def go():\n    raise ValueError('boom in the script')\n\ngo()\n")
    saved_meta_path = list(sys.meta_path)
    try:
        assert main(["run", "--store", pushed.url, "--namespace", "run_test_remote", str(script)]) == 1
        assert main(["run", "--store", pushed.url, "--namespace", "run_test_remote", str(tmp_path / "no.py")]) == 1
    finally:
        remoteimport.uninstall("run_test_remote")
        sys.meta_path[:] = saved_meta_path
    err = capsys.readouterr().err
    assert "ValueError: boom in the script" in err and 'broken.py", line 2, in go' in err
    assert "runpy" not in err and "cli.py" not in err
    assert "remoteimport: error: no such script" in err


# -- a fresh virtual environment: `pip install .` ----------------------------------------------------------


@pytest.fixture(scope="session")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with this checkout installed by ``pip install .`` (a wheel, not editable) and the pinned
    versions of its dependencies that this environment has (so the two ends agree on cloudpickle)."""
    python = empty_venv(tmp_path_factory.mktemp("venv"))
    pinned = [f"{name}=={metadata.version(name)}" for name in lowest_allowed(project_dependencies())]
    for arguments in (["--no-deps", str(REPO_ROOT)], pinned):
        done = subprocess.run(
            [*pip_for(python), "install", "-q", *arguments],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"pip install {arguments} failed:\n{done.stdout}{done.stderr}"
    return python


@pytest.mark.slow
def test_a_fresh_venv_gets_the_pth_and_serves_plain_imports(venv_python: Path, pushed: Store, tmp_path: Path) -> None:
    installed = site_packages(venv_python) / _startup.PTH_NAME
    assert installed.read_text() == (REPO_ROOT / _startup.PTH_NAME).read_text()

    code = (
        "import sys; from labchain_remote import Doubler; import remoteimport; "
        "print(Doubler(2).apply(20), remoteimport.__file__.startswith(sys.prefix))"
    )
    assert checked(run([str(venv_python), "-E", "-c", code], tmp_path, REMOTEIMPORT_STORE=pushed.url)).split() == [
        "42",
        "True",
    ]
    unset = run([str(venv_python), "-c", "import sys; print('remoteimport' in sys.modules)"], tmp_path)
    assert checked(unset).strip() == "False"
    missing = run([str(venv_python), "-c", "import labchain_remote"], tmp_path)
    assert missing.returncode == 1 and "No module named 'labchain_remote'" in missing.stderr


@pytest.mark.slow
def test_an_editable_install_in_a_fresh_venv_gets_the_pth_too(tmp_path: Path) -> None:
    # pip install -e . (PEP 660): the same .pth at the root of site-packages, the package served from the
    # checkout, and both gone with pip uninstall. (A wheel install: the tests above.)
    python = empty_venv(tmp_path / "venv")
    pip = pip_for(python)
    done = subprocess.run([*pip, "install", "-q", "--no-deps", "-e", str(REPO_ROOT)], capture_output=True, text=True)
    assert done.returncode == 0, f"pip install -e failed:\n{done.stdout}{done.stderr}"
    purelib = site_packages(python)
    assert (purelib / _startup.PTH_NAME).read_text() == (REPO_ROOT / _startup.PTH_NAME).read_text()
    where = run([str(python), "-c", "import remoteimport; print(remoteimport.__file__)"], tmp_path)
    assert Path(checked(where).strip()) == REPO_ROOT / "remoteimport" / "__init__.py"
    started = run(
        [str(python), "-c", "import sys; print('remoteimport._startup' in sys.modules)"],
        tmp_path,
        REMOTEIMPORT_STORE=str(tmp_path / "s"),
    )
    assert checked(started).strip() == "True"  # the .pth line ran at start-up
    done = subprocess.run([*pip, "uninstall", "-q", "-y", "remoteimport"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not (purelib / _startup.PTH_NAME).exists()


@pytest.mark.slow
def test_a_fresh_venv_runs_scripts_with_python_m_remoteimport_run(
    venv_python: Path, pushed: Store, tmp_path: Path
) -> None:
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(SCRIPT))
    done = run([str(venv_python), "-m", "remoteimport", "run", "--store", pushed.url, str(script), "3"], tmp_path)
    assert checked(done).strip() == "value 23 argv ['3'] main __main__"
