"""Runnable examples of the docs pages run, and print what the page says they print."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from docs_pages import fenced_blocks

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _blocks(page: str, language: str) -> list[str]:
    return fenced_blocks(DOCS / page, language)


def test_ml_projects_example_prints_what_the_page_shows(tmp_path: Path) -> None:
    example, shown = _blocks("ml-projects.md", "python")[0], _blocks("ml-projects.md", "")[0]
    script = tmp_path / "ml_example.py"
    script.write_text(example, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    printed = re.sub(r"@[0-9a-f]{64}", "@<hash>", done.stdout)
    assert printed.splitlines() == shown.strip().splitlines()
