"""Interpreter start-up cost of the zero-code hook (``remoteimport.pth``): ``python benchmarks/startup.py``.

Builds a fresh venv with the project installed as users get it (``pip install .``), then times ``python -c
pass`` in fresh processes, interleaving the cases round by round so machine noise hits them alike:

- baseline: the same venv with ``remoteimport.pth`` moved away;
- hook, variables unset: the ``.pth`` line runs and reads two environment variables;
- hook, ``$REMOTEIMPORT_STORE`` set, namespace unused: imports ``remoteimport`` (its ``__init__`` and errors)
  and ``remoteimport._startup`` and appends the start-up finder;
- for scale, the same with ``import labchain_remote`` (the real hook: fsspec and cloudpickle are imported).

Prints the median wall time of each case and its difference to the baseline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def build_venv(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    names = ["cloudpickle", "fsspec", "platformdirs"] + (["tomli"] if sys.version_info < (3, 11) else [])
    for arguments in (["--no-deps", str(REPO_ROOT)], [f"{name}=={metadata.version(name)}" for name in names]):
        subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", *arguments],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    return python


def time_once(python: Path, code: str, env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run([str(python), "-c", code], env=env, cwd=cwd, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=40, help="runs per case (default 40)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="remoteimport-startup-") as folder:
        python = build_venv(Path(folder, "venv"))
        purelib = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        pth = Path(purelib, "remoteimport.pth")
        moved = pth.with_suffix(".off")
        store = str(Path(folder, "store"))
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("REMOTEIMPORT_", "PYTHON"))}
        cases = {
            "baseline (no .pth)": ("pass", base_env, False),
            "hook, variables unset": ("pass", base_env, True),
            "hook, REMOTEIMPORT_STORE set, namespace unused": ("pass", {**base_env, "REMOTEIMPORT_STORE": store}, True),
            "hook, `import labchain_remote` (for scale)": (
                "import labchain_remote",
                {**base_env, "REMOTEIMPORT_STORE": store},
                True,
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for code, env, with_pth in cases.values():  # warm-up: .pyc files and the page cache
            _toggle(pth, moved, with_pth)
            time_once(python, code, env, folder)
        for _ in range(args.repeat):
            for name, (code, env, with_pth) in cases.items():
                _toggle(pth, moved, with_pth)
                times[name].append(time_once(python, code, env, folder))
        _toggle(pth, moved, True)
    baseline = statistics.median(times["baseline (no .pth)"])
    print(f"Python {sys.version.split()[0]} on {sysconfig.get_platform()}, median of {args.repeat} fresh interpreters")
    print(f"{'case':<50} {'median ms':>10} {'vs baseline ms':>15}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<50} {median * 1000:>10.2f} {(median - baseline) * 1000:>+15.2f}")


def _toggle(pth: Path, moved: Path, present: bool) -> None:
    if present and moved.exists():
        moved.rename(pth)
    elif not present and pth.exists():
        pth.rename(moved)


if __name__ == "__main__":
    main()
