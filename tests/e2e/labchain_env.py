"""The LabChain test environment: a venv where ``import labchain`` works, for tests/e2e/test_labchain.py.

LabChain (PyPI ``framework3``, import ``labchain``) imports every plugin at ``import labchain``: torch, pandas,
scikit-learn, pyspark, wandb, gensim, nltk, transformers, fastapi and boto3. It also pins cloudpickle (3.1.0)
and typeguard (4.4.1), which must not replace the main interpreter's (the whole suite runs on those). So it lives
in a venv of its own, made with ``--system-site-packages``: torch, scikit-learn, numpy and boto3 come from the
main interpreter (about 1 GB of the 2.2 GB), the rest — cloudpickle 3.1.0 included, shadowing the main one,
inside remoteimport's declared range — is installed in the venv, at the versions of
``labchain-constraints.txt`` (what the tests were proven with). This checkout is put on the venv's ``sys.path``
by a ``.pth`` file, rewritten whenever another checkout runs the tests.

The venv sits outside the repository, keyed by the framework3 and Python versions, and is built once::

    python3 tests/e2e/labchain_env.py            # build it if missing (~1 minute, ~0.9 GB)
    python3 tests/e2e/labchain_env.py --rebuild  # build it again from scratch
    python3 tests/e2e/labchain_env.py --where    # print its python, or exit 1 when it is not built

``$REMOTEIMPORT_TEST_CACHE`` moves it (default ``~/.cache/remoteimport-tests``). ``.ci/run`` builds it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

FRAMEWORK3 = "1.2.11"
HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
CONSTRAINTS = HERE / "labchain-constraints.txt"
# framework3 itself, and what `import labchain` imports that framework3 declares only as extras (its extras pin
# torch==2.6.0, a GPU build; the main interpreter's CPU torch is used instead).
REQUIREMENTS = (
    f"framework3=={FRAMEWORK3}",
    "fastapi",
    "pandas",
    "pyspark",
    "wandb",
    "gensim",
    "nltk",
    "transformers",
)
# Found in the main interpreter (installed by the project's test extra and .ci/run); installed in the venv only
# where they are missing there.
FROM_MAIN_INTERPRETER = ("torch", "scikit-learn", "numpy", "boto3")
BUILD_COMMAND = "python3 tests/e2e/labchain_env.py"
CHECKOUT_PTH = "remoteimport-checkout.pth"
READY = "remoteimport-ready.json"


def venv_dir() -> Path:
    base = os.environ.get("REMOTEIMPORT_TEST_CACHE") or Path.home() / ".cache" / "remoteimport-tests"
    return Path(base) / f"labchain-{FRAMEWORK3}-py{sys.version_info[0]}.{sys.version_info[1]}"


def _python(directory: Path) -> Path:
    return directory / "bin" / "python"


def _recipe() -> str:
    """What the venv was built from: a change of any of it means building again."""
    text = "\n".join([sys.executable, *REQUIREMENTS, *FROM_MAIN_INTERPRETER, CONSTRAINTS.read_text(encoding="utf-8")])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ready_python() -> Path | None:
    """The venv's python when it is built from today's recipe, with this checkout on its path; else None."""
    directory = venv_dir()
    try:
        ready = json.loads((directory / READY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if ready.get("recipe") != _recipe() or not _python(directory).exists():
        return None
    _point_at_this_checkout(_python(directory))
    return _python(directory)


def _run(command: list[str], what: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed ({' '.join(command)}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done.stdout


def _site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(_run([str(python), "-c", code], "finding site-packages").strip())


def _point_at_this_checkout(python: Path) -> None:
    """Put this checkout first on the venv's path (a plain checkout, as an editable install amounts to)."""
    pth = _site_packages(python) / CHECKOUT_PTH
    wanted = f"{REPO_ROOT}\n"
    if not pth.exists() or pth.read_text(encoding="utf-8") != wanted:
        pth.write_text(wanted, encoding="utf-8")


def build(*, rebuild: bool = False) -> Path:
    """Build the venv unless it is ready (``rebuild``: from scratch); return its python."""
    if not rebuild:
        python = ready_python()
        if python is not None:
            return python
    directory = venv_dir()
    if directory.exists():
        shutil.rmtree(directory)  # half-built, or of another recipe
    directory.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(directory)], "creating the venv")
    python = _python(directory)
    missing = _missing_in_main_interpreter()
    if "torch" in missing:  # the CPU-only build where the index has it (a plain `torch` pulls GPU libraries)
        try:
            _run([str(python), "-m", "pip", "install", "-q", "torch==2.13.0+cpu"], "installing torch")
        except SystemExit:
            _run([str(python), "-m", "pip", "install", "-q", "torch"], "installing torch")
        missing.remove("torch")
    _run(
        [str(python), "-m", "pip", "install", "-q", "-c", str(CONSTRAINTS), *REQUIREMENTS, *missing],
        "installing framework3",
    )
    _point_at_this_checkout(python)
    check = (
        "import json, cloudpickle, labchain, typeguard, remoteimport; from importlib import metadata; "
        "print(json.dumps({'framework3': metadata.version('framework3'), 'cloudpickle': cloudpickle.__version__, "
        "'typeguard': metadata.version('typeguard'), 'remoteimport': remoteimport.__file__}))"
    )
    found = json.loads(_run([str(python), "-c", check], "importing labchain in the venv").strip().splitlines()[-1])
    if found["framework3"] != FRAMEWORK3:
        raise SystemExit(f"the venv has framework3 {found['framework3']}, not {FRAMEWORK3}")
    seconds = round(time.monotonic() - started)
    (directory / READY).write_text(
        json.dumps({"recipe": _recipe(), "seconds": seconds, **found}, indent=2), encoding="utf-8"
    )
    return python


def _missing_in_main_interpreter() -> list[str]:
    from importlib import metadata

    missing = []
    for distribution in FROM_MAIN_INTERPRETER:
        try:
            metadata.version(distribution)
        except metadata.PackageNotFoundError:
            missing.append(distribution)
    return missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild", action="store_true", help="build the venv again from scratch")
    parser.add_argument("--where", action="store_true", help="print the venv's python, or exit 1 when not built")
    arguments = parser.parse_args()
    if arguments.where:
        python = ready_python()
        if python is None:
            raise SystemExit(1)
        print(python)
        return
    started = time.monotonic()
    python = build(rebuild=arguments.rebuild)
    print(f"LabChain test venv ready: {python} ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
