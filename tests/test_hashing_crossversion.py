"""The same source hashes identically on every supported CPython (3.10-3.13), seed and directory.

The corpus in ``tests/hash_corpus/`` holds one module per family of language features; every top-level class
and function each module defines is hashed. Each interpreter gets its own virtual environment with the project
made importable from this checkout, like an editable install.
"""

from __future__ import annotations

import random
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from environments import SUPPORTED_VERSIONS
from hashing_support import describe_differences, hash_in_subprocess

CORPUS_DIR = Path(__file__).resolve().parent / "hash_corpus"


def corpus_targets() -> dict[str, None]:
    """Every corpus module, with None meaning "every top-level class and function it defines"."""
    return {path.stem: None for path in sorted(CORPUS_DIR.glob("corpus_*.py"))}


def copy_corpus(destination: Path) -> Path:
    shutil.copytree(CORPUS_DIR, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def test_corpus_is_not_empty() -> None:
    assert len(corpus_targets()) >= 8


def test_corpus_hashes_do_not_depend_on_seed_or_directory(tmp_path: Path) -> None:
    first = copy_corpus(tmp_path / "first")
    second = copy_corpus(tmp_path / "elsewhere" / "deeper" / "second")
    random_seed = str(random.randrange(1, 2**32 - 1))
    runs = {
        f"{first.name},PYTHONHASHSEED=0": (first, "0"),
        f"{second.name},PYTHONHASHSEED=12345": (second, "12345"),
        f"{second.name},PYTHONHASHSEED={random_seed}": (second, random_seed),
    }
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        futures = {
            label: pool.submit(hash_in_subprocess, directory, corpus_targets(), env={"PYTHONHASHSEED": seed})
            for label, (directory, seed) in runs.items()
        }
        results = {label: future.result() for label, future in futures.items()}
    assert len(next(iter(results.values()))) >= 40
    difference = describe_differences(results)
    assert not difference, difference


def hash_corpus_with_each(venv_pythons: dict[str, Path], corpus: Path, launch: str = "script") -> dict[str, dict]:
    """``{"py3.12": {"module.Name": hash}}`` from every interpreter, run in parallel; fails listing all errors."""
    results: dict[str, dict[str, str]] = {}
    failures: list[str] = []
    with ThreadPoolExecutor(max_workers=len(venv_pythons)) as pool:
        futures = {
            minor: pool.submit(
                hash_in_subprocess,
                corpus,
                corpus_targets(),
                python=python,
                env={"PYTHONHASHSEED": "0"},
                launch=launch,
            )
            for minor, python in venv_pythons.items()
        }
        for minor, future in futures.items():
            try:
                results[f"py{minor}"] = future.result()
            except AssertionError as error:
                failures.append(str(error))
    assert not failures, "\n\n".join(failures)
    assert all(len(result) >= 40 for result in results.values())
    return results


def skip_if_some_were_missing(venv_pythons: dict[str, Path]) -> None:
    """Only reached outside CI (the fixture fails there): say what was not compared."""
    missing = [minor for minor in SUPPORTED_VERSIONS if minor not in venv_pythons]
    if missing:
        pytest.skip(f"compared {', '.join(venv_pythons)} only; CPython {', '.join(missing)} not found")


@pytest.mark.slow
def test_corpus_hashes_identical_across_python_versions(venv_pythons: dict[str, Path], tmp_path: Path) -> None:
    results = hash_corpus_with_each(venv_pythons, copy_corpus(tmp_path / "corpus"))
    difference = describe_differences(results)
    assert not difference, f"corpus hashes differ between Python versions; {difference}"
    skip_if_some_were_missing(venv_pythons)


@pytest.mark.slow
def test_corpus_hashes_do_not_depend_on_how_python_was_started(venv_pythons: dict[str, Path], tmp_path: Path) -> None:
    # `python -c CODE` (3.13+ keeps CODE in linecache as "<string>", the file name of exec'd code) versus a script.
    corpus = copy_corpus(tmp_path / "corpus")
    as_script = hash_corpus_with_each(venv_pythons, corpus, launch="script")
    as_dash_c = hash_corpus_with_each(venv_pythons, corpus, launch="-c")
    differences = []
    for label in as_script:
        difference = describe_differences({f"{label} script": as_script[label], f"{label} -c": as_dash_c[label]})
        if difference:
            differences.append(f"{label}: {difference}")
    assert not differences, "\n".join(differences)
    skip_if_some_were_missing(venv_pythons)
