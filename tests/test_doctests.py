"""Every example in the library's docstrings runs and prints what it says (STYLE.md: public API docstrings carry a
short example; an example nobody runs goes stale)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import remoteimport

# remoteimport._legacy is the frozen hasher of old blobs; __main__ runs the CLI; the LabChain integration needs
# framework3, which lives in a venv of its own (tests/e2e/test_labchain.py).
SKIPPED = ("remoteimport._legacy", "remoteimport.__main__", "remoteimport.integrations.labchain")
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(remoteimport.__path__, "remoteimport.")
    if not info.name.startswith(SKIPPED) and not info.name.startswith("remoteimport.integrations._labchain")
)


@pytest.mark.parametrize("name", MODULES)
def test_the_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed"


def test_the_examples_are_found() -> None:
    assert len(MODULES) > 40 and "remoteimport.blob" in MODULES
    attempted = sum(
        doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, report=False).attempted
        for name in ("remoteimport.blob", "remoteimport.store", "remoteimport.cli.inspection")
    )
    assert attempted > 10
