"""Memory (issue 24): peak RSS of a push, a ``class_hash`` and a cold pinned import of a class with one large
``bytes`` attribute, against the size of its blob: ``python benchmarks/memory.py [--size MB]`` (default 200).

Each figure comes from a fresh interpreter: ``ru_maxrss`` after the work minus ``ru_maxrss`` just before it
(the children are those of ``tests/test_memory.py``, which asserts the same at 50 MB). The targets: a cold
import and a push within 3x the blob, ``class_hash`` within +60 MB.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from test_memory import MB, measure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200, help="size of the class's attribute in MB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        figures = measure(args.size * MB, Path(folder))
    blob = figures["blob"]["peak"]
    print(f"blob: {blob / MB:.0f} MB")
    print(f"{'work':<14}{'peak RSS growth':>16}{'x blob':>8}{'seconds':>9}")
    for work, label in (("import", "cold import"), ("push", "push"), ("hash", "class_hash")):
        peak, seconds = figures[work]["peak"], figures[work].get("seconds")
        shown = f"{seconds:9.2f}" if seconds is not None else f"{'':>9}"
        print(f"{label:<14}{peak / MB:>13.0f} MB{peak / blob:>8.2f}{shown}")


if __name__ == "__main__":
    main()
