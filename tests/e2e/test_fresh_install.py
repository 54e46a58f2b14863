"""The README's first command, run as a new user would: in a copy of this checkout, in a new venv whose pip
resolves today's newest allowed releases (no pip cache), with an empty home folder.

``pip install . && remoteimport quickstart`` must push the example, delete its source and import it back
(latest and pinned) in a fresh interpreter.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from environments import REPO_ROOT, installed_versions, project_dependencies
from packaging.requirements import Requirement

TIMEOUT = 600


def readme_main_command() -> str:
    """The README's command that runs the main job (the line that starts with ``pip install .``)."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    commands = [line.strip() for line in readme.splitlines() if line.strip().startswith("pip install . ")]
    assert len(commands) == 1, f"expected one `pip install . ...` line in README.md, found {commands}"
    return commands[0]


@pytest.mark.slow
def test_readme_main_command_in_a_fresh_venv(tmp_path: Path) -> None:
    command = readme_main_command()
    assert "remoteimport quickstart" in command
    checkout = tmp_path / "remoteimport"
    shutil.copytree(
        REPO_ROOT,
        checkout,
        ignore=shutil.ignore_patterns(".git", "*.egg-info", "__pycache__", ".hypothesis", "build", "dist", ".*cache"),
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=TIMEOUT)
    home = tmp_path / "home"
    home.mkdir()
    environment = {
        "PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin",
        "HOME": str(home),
        "VIRTUAL_ENV": str(venv),
        "PIP_NO_CACHE_DIR": "1",  # today's newest releases, as a new user gets them
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        **{
            key: os.environ[key]
            for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")
            if key in os.environ
        },
    }
    done = subprocess.run(
        ["bash", "-c", command], cwd=checkout, env=environment, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, f"`{command}` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    output = done.stdout
    assert re.search(r"^2\. pushed QuickstartGreeter [0-9a-f]{64} \(new\)", output, re.MULTILINE), output
    assert re.search(r"^3\. deleted the source ", output, re.MULTILINE), output
    assert re.search(r"^4\. fresh interpreter .* ran `from labchain_remote import QuickstartGreeter`", output, re.M)
    assert re.search(
        r"^5\. pinned import labchain_remote\.QuickstartGreeter@[0-9a-f]{8} .* gave the same class", output, re.M
    )
    # what pip resolved today lies in the declared ranges
    requirements = [Requirement(text) for text in project_dependencies()]
    wanted = [r for r in requirements if r.marker is None or r.marker.evaluate()]
    resolved = installed_versions(venv / "bin" / "python", [r.name for r in wanted])
    assert all(r.specifier.contains(resolved[r.name]) for r in wanted), resolved
