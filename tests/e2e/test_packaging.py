"""The build backend's declared range, proven at its lower bound: ``hatchling>=1.19`` (pyproject.toml).

Every other build in the suite (``pip install .`` and ``pip install -e .`` in fresh venvs) gets today's newest
hatchling through pip's build isolation. Here the oldest allowed release builds the wheel and the editable
install, without build isolation, and each must carry ``remoteimport.pth`` at its root (the zero-code hook,
docs/zero-code.md) next to the whole package, its templates included.
"""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest
from environments import REPO_ROOT, empty_venv, pip_for, site_packages

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

TIMEOUT = 600


def declared_hatchling_floor() -> str:
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["requires"]
    (hatchling,) = [requirement for requirement in requires if requirement.startswith("hatchling")]
    assert hatchling.startswith("hatchling>="), hatchling
    return hatchling.removeprefix("hatchling>=")


@pytest.fixture(scope="module")
def oldest_backend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a new venv holding the oldest hatchling pyproject.toml allows."""
    python = empty_venv(tmp_path_factory.mktemp("hatchling-floor"))
    floor = declared_hatchling_floor()
    done = subprocess.run([*pip_for(python), "install", "-q", f"hatchling=={floor}"], capture_output=True, text=True)
    assert done.returncode == 0, f"installing hatchling=={floor} failed:\n{done.stdout}{done.stderr}"
    return python


@pytest.mark.slow
def test_the_oldest_hatchling_builds_a_wheel_with_the_pth_at_its_root(oldest_backend: Path, tmp_path: Path) -> None:
    build = ["wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(REPO_ROOT)]
    done = subprocess.run(
        [*pip_for(oldest_backend), *build],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = tmp_path.glob("remoteimport-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "remoteimport.pth" in names
    assert zipfile.ZipFile(wheel).read("remoteimport.pth") == (REPO_ROOT / "remoteimport.pth").read_bytes()
    shipped = {str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "remoteimport").rglob("*")}
    expected = {p for p in shipped if p.endswith((".py", ".html", "py.typed"))}
    assert expected <= names, sorted(expected - names)


@pytest.mark.slow
def test_the_oldest_hatchling_makes_an_editable_install_with_the_pth(oldest_backend: Path) -> None:
    done = subprocess.run(
        [*pip_for(oldest_backend), "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    installed = site_packages(oldest_backend) / "remoteimport.pth"
    assert installed.read_bytes() == (REPO_ROOT / "remoteimport.pth").read_bytes()
    where = subprocess.run(
        [str(oldest_backend), "-c", "import remoteimport; print(remoteimport.__file__)"],
        capture_output=True,
        text=True,
        cwd="/",
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()) == REPO_ROOT / "remoteimport" / "__init__.py"
