"""Interpreters and virtual environments for the tests that cross Python or dependency versions.

A test venv gets the project's runtime dependencies (the newest that the declared ranges allow, or pinned
versions), and this checkout on its ``sys.path`` — what an editable install of a flat layout amounts to.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

from hashing_support import python_version

REPO_ROOT = Path(__file__).resolve().parent.parent
SUPPORTED_VERSIONS = ("3.10", "3.11", "3.12", "3.13")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pyenv_interpreters() -> dict[str, Path]:
    """``{"3.12": path}`` for the newest installed patch release of each supported minor version."""
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return {}
    listing = subprocess.run([pyenv, "versions", "--bare"], capture_output=True, text=True)
    found: dict[str, tuple[tuple[int, ...], Path]] = {}
    for line in listing.stdout.split():
        parts = line.strip().split(".")
        if len(parts) != 3 or not all(part.isdigit() for part in parts):
            continue  # e.g. "system", "pypy3.10-7.3", "3.13.0t"
        minor = ".".join(parts[:2])
        if minor not in SUPPORTED_VERSIONS:
            continue
        prefix = subprocess.run([pyenv, "prefix", line], capture_output=True, text=True).stdout.strip()
        executable = Path(prefix) / "bin" / f"python{minor}"
        release = tuple(int(part) for part in parts)
        if executable.exists() and (minor not in found or release > found[minor][0]):
            found[minor] = (release, executable)
    return {minor: executable for minor, (_, executable) in found.items()}


def discover_interpreters() -> dict[str, Path]:
    """Supported interpreters from pyenv, else from PATH (``python3.12``)."""
    interpreters = _pyenv_interpreters()
    for minor in SUPPORTED_VERSIONS:
        on_path = shutil.which(f"python{minor}")
        if minor in interpreters or on_path is None:
            continue
        try:
            version = python_version(on_path)
        except (OSError, subprocess.CalledProcessError):
            continue  # an inactive pyenv shim answers "command not found"
        if version.startswith(minor + "."):
            interpreters[minor] = Path(on_path)
    return dict(sorted(interpreters.items()))


def project_dependencies() -> list[str]:
    """The runtime requirements of the installed project (extras left out)."""
    requirements = metadata.requires("remoteimport") or []
    return [requirement for requirement in requirements if "extra ==" not in requirement]


def lowest_allowed(requirements: Sequence[str]) -> dict[str, str]:
    """``{distribution: lowest version}`` from ``name>=X`` requirements whose marker applies here."""
    from packaging.requirements import Requirement

    lowest = {}
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        bounds = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if not bounds:
            raise AssertionError(f"{text!r} declares no lower bound (>=): CI could not prove the lowest version")
        lowest[requirement.name] = bounds[0]
    return lowest


def empty_venv(directory: Path, python: Path | str = sys.executable) -> Path:
    """A new venv of ``python`` at ``directory``, without pip (:func:`pip_for` installs into it); its python."""
    subprocess.run([str(python), "-m", "venv", "--without-pip", str(directory)], check=True, timeout=600)
    return directory / "bin" / "python"


def pip_for(venv_python: Path) -> list[str]:
    """This interpreter's pip, installing into the venv of ``venv_python`` (pip's ``--python``): no ensurepip
    per venv."""
    return [sys.executable, "-m", "pip", "--python", str(venv_python)]


def site_packages(venv_python: Path) -> Path:
    """The venv's site-packages (where ``.pth`` files run at start-up)."""
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    done = subprocess.run([str(venv_python), "-c", code], capture_output=True, text=True, check=True, timeout=600)
    return Path(done.stdout.strip())


def build_environment(
    python: Path,
    directory: Path,
    requirements: Sequence[str] | None = None,
    *,
    fresh_index: bool = False,
) -> Path:
    """A venv for ``python`` with ``requirements`` (default: the project's dependencies, newest allowed) and
    this checkout importable. ``fresh_index``: no pip cache, so the newest releases of today are resolved."""
    venv_python = empty_venv(directory, python)
    command = [*pip_for(venv_python), "install", "-q"]
    if fresh_index:
        command.append("--no-cache-dir")
    install = subprocess.run(
        [*command, *(requirements if requirements is not None else project_dependencies())],
        capture_output=True,
        text=True,
    )
    if install.returncode != 0:
        raise RuntimeError(f"installing dependencies for {python} failed:\n{install.stdout}{install.stderr}")
    # What an editable install amounts to (hatchling's is exactly this: the checkout on sys.path), without a
    # build per venv.
    Path(site_packages(venv_python), "remoteimport-checkout.pth").write_text(f"{REPO_ROOT}\n", encoding="utf-8")
    return venv_python


def installed_versions(venv_python: Path, distributions: Sequence[str]) -> Mapping[str, str]:
    """``{distribution: version}`` as installed in the venv of ``venv_python``."""
    code = (
        "import json, sys; from importlib import metadata; "
        "print(json.dumps({d: metadata.version(d) for d in sys.argv[1:]}))"
    )
    done = subprocess.run([str(venv_python), "-c", code, *distributions], capture_output=True, text=True, check=True)
    import json

    return json.loads(done.stdout)
