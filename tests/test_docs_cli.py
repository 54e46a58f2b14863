"""docs/cli.md shows what the commands really print: its examples, run in order as the page says, give the
documented output (up to hashes, key fingerprints, times and temporary paths). After an intended change of
output, regenerate the page: `python docs/tools/cli_examples.py`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parent.parent / "docs" / "tools" / "cli_examples.py"


@pytest.mark.slow
def test_docs_cli_examples_print_what_the_page_shows() -> None:
    done = subprocess.run([sys.executable, str(TOOL), "--check"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (
        "docs/cli.md differs from a real run of its examples (run `python docs/tools/cli_examples.py` to "
        f"regenerate it, and read the diff):\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    )
