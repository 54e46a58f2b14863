"""The build backend's declared range, proven at its lower bound: ``hatchling>=1.19`` (pyproject.toml).

Every other build in the suite (``pip install .`` and ``pip install -e .`` in fresh venvs) gets today's newest
hatchling through pip's build isolation. Here the oldest allowed release builds the wheel and the editable
install, without build isolation, and each must carry ``remoteimport.pth`` at its root (the zero-code hook,
docs/zero-code.md) next to the whole package, its templates included.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from environments import REPO_ROOT

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
def oldest_backend(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """``pip --python <venv>`` for a new venv holding the oldest hatchling pyproject.toml allows."""
    folder = tmp_path_factory.mktemp("hatchling-floor")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=TIMEOUT)
    pip = [sys.executable, "-m", "pip", "--python", str(folder / "bin" / "python")]
    floor = declared_hatchling_floor()
    done = subprocess.run([*pip, "install", "-q", f"hatchling=={floor}"], capture_output=True, text=True)
    assert done.returncode == 0, f"installing hatchling=={floor} failed:\n{done.stdout}{done.stderr}"
    return pip


@pytest.mark.slow
def test_the_oldest_hatchling_builds_a_wheel_with_the_pth_at_its_root(
    oldest_backend: list[str], tmp_path: Path
) -> None:
    done = subprocess.run(
        [*oldest_backend, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(REPO_ROOT)],
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
def test_the_oldest_hatchling_makes_an_editable_install_with_the_pth(oldest_backend: list[str]) -> None:
    done = subprocess.run(
        [*oldest_backend, "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    python = oldest_backend[-1]
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = Path(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip())
    assert (purelib / "remoteimport.pth").read_bytes() == (REPO_ROOT / "remoteimport.pth").read_bytes()
    where = subprocess.run(
        [python, "-c", "import remoteimport; print(remoteimport.__file__)"], capture_output=True, text=True, cwd="/"
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()) == REPO_ROOT / "remoteimport" / "__init__.py"
