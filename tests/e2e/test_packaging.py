"""The build backend's declared range, proven at its lower bound: ``hatchling>=1.19`` (pyproject.toml).

Every other build in the suite (``pip install .`` and ``pip install -e .`` in fresh venvs) gets today's newest
hatchling through pip's build isolation. Here the oldest allowed release builds the wheel and the editable
install, without build isolation, and each must carry ``remoteimport.pth`` at its root (the zero-code hook,
docs/zero-code.md) next to the whole package, its templates included.

And what publishing needs: today's build makes an sdist and a wheel that pass ``twine check``, the version has
one source, README.md's host-B line installs the copied wheel into a fresh venv with a working ``remoteimport``
command, and no install line in the docs needs a package index.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tarfile
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


# ---------------------------------------------------------------------------------------------------------
# Publishing (issue 25): the sdist and wheel a package index would take, and the install lines of the docs


def version() -> str:
    import remoteimport

    return remoteimport.__version__


def install_lines() -> list[tuple[str, str]]:
    """``(page, line)`` for every line of README.md and docs/*.md that runs or names ``pip install``."""
    pages = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    return [
        (page.name, line)
        for page in pages
        for line in page.read_text(encoding="utf-8").splitlines()
        if "pip install" in line
    ]


def test_the_docs_install_lines_need_no_package_index():
    """remoteimport is on no index yet: every install line names a checkout (`.`) or the built wheel, with extras
    the project declares, and the wheel's file name is this version's."""
    declared = set(
        tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    )
    wheel = f"remoteimport-{version()}-py3-none-any.whl"
    lines = install_lines()
    assert any(wheel in line for _, line in lines), f"README.md should say how to install {wheel} on host B"
    for page, line in lines:
        assert not re.search(r"""pip install\s+['"]?remoteimport\b(?!-\d)""", line), (page, line)
        assert not re.search(r"remoteimport\[", line), (page, line)
        for extras in re.findall(r"""(?:\.|\.whl)\[([\w,\s-]+)\]""", line):
            assert {extra.strip() for extra in extras.split(",")} <= declared, (page, line)
        for named in re.findall(r"remoteimport-([\w.]+)-py3-none-any\.whl", line):
            assert named == version(), (page, line)


def test_the_version_has_one_source(capsys):
    from remoteimport.cli import main

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project and project["dynamic"] == ["version"]
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"remoteimport {version()}\n"
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{version()}]" in changelog


@pytest.fixture(scope="module")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built as a release is (`python -m build`, today's hatchling)."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.mark.slow
def test_the_sdist_and_wheel_pass_the_package_index_checks(distributions: Path) -> None:
    (sdist,) = distributions.glob("remoteimport-*.tar.gz")
    (wheel,) = distributions.glob("remoteimport-*.whl")
    assert (
        sdist.name == f"remoteimport-{version()}.tar.gz" and wheel.name == f"remoteimport-{version()}-py3-none-any.whl"
    )
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    metadata = zipfile.ZipFile(wheel).read(f"remoteimport-{version()}.dist-info/METADATA").decode()
    for field in (f"Version: {version()}", "License-File: LICENSE", "Classifier: Typing :: Typed", "Requires-Python"):
        assert field in metadata, field
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"CHANGELOG.md", "LICENSE", "README.md", "remoteimport.pth", "remoteimport/__init__.py"} <= names


@pytest.mark.slow
def test_the_readme_line_installs_the_wheel_on_host_b(distributions: Path, tmp_path: Path) -> None:
    """README.md's host-B line, run as written next to a copy of the wheel, in a fresh venv: a working command."""
    (line,) = [line for page, line in install_lines() if page == "README.md" and ".whl[" in line]
    words = shlex.split(line.split("#", 1)[0])
    assert words[:4] == ["python3", "-m", "pip", "install"], line
    host_b = tmp_path / "host-b"
    host_b.mkdir()
    (wheel,) = distributions.glob("remoteimport-*.whl")
    shutil.copy(wheel, host_b)
    python = empty_venv(tmp_path / "venv")
    done = subprocess.run([*pip_for(python), *words[3:]], cwd=host_b, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    command = python.parent / "remoteimport"
    shown = subprocess.run([str(command), "--version"], cwd=host_b, capture_output=True, text=True, timeout=120)
    assert (shown.returncode, shown.stdout) == (0, f"remoteimport {version()}\n"), shown.stderr
    assert "remoteimport.pth" in {path.name for path in site_packages(python).iterdir()}
