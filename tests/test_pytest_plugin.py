"""The pytest plugin: the example of docs/testing.md runs as written, the fixtures clean up, and
``isolated_python`` keeps its promises (fresh interpreter, no test source, results and errors back).

Whole test files run in a separate ``python -m pytest`` so the plugin is loaded the way users get it: through
its ``pytest11`` entry point.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import remoteimport
from remoteimport.pytest_plugin import IsolatedPythonError, run_isolated
from remoteimport.store import Store

DOCS = Path(__file__).resolve().parents[1] / "docs" / "testing.md"


def run_pytest(folder: Path, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )


def documented_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    examples = [block for block in blocks if block.startswith("# test_my_filter.py")]
    assert len(examples) == 1, "docs/testing.md must hold one example test file"
    return examples[0]


def test_the_documented_example_passes(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, {"test_my_filter.py": documented_example()})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def test_remote_import_cleans_up_and_restores_an_earlier_install(tmp_path: Path) -> None:
    done = run_pytest(
        tmp_path,
        {
            "test_cleanup.py": """
                import sys
                import remoteimport
                from remoteimport import hook

                def namespace_modules(name):
                    return sorted(m for m in sys.modules if m == name or m.startswith(name + "."))

                @remoteimport.persist
                class Thing:
                    value = 1

                EARLIER = remoteimport.install("memory://earlier", namespace="kept_remote")

                def test_install_two_namespaces(remote_store, remote_import):
                    remoteimport.push(Thing, store=remote_store)
                    assert remote_import().Thing.value == 1
                    assert remote_import(namespace="kept_remote").Thing.value == 1
                    assert namespace_modules("labchain_remote") and hook.installed()["kept_remote"] is not EARLIER

                def test_afterwards_everything_is_back():
                    assert "labchain_remote" not in hook.installed()
                    assert namespace_modules("labchain_remote") == [] == namespace_modules("kept_remote")
                    assert hook.installed()["kept_remote"] is EARLIER and EARLIER in sys.meta_path
                    assert not [f for f in sys.meta_path if getattr(f, "namespace", None) == "labchain_remote"]
            """
        },
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


# -- isolated_python, in this process's own test run -----------------------------------------------------


def test_results_come_back_as_json(isolated_python: Callable[..., Any]) -> None:
    assert isolated_python("result = {'a': [1, 2.5, None, True], 'b': 'x'}") == {"a": [1, 2.5, None, True], "b": "x"}
    assert isolated_python("x = 1") is None
    assert isolated_python("import sys\nresult = 3\nsys.exit(0)") == 3


def test_the_child_sees_no_test_source(isolated_python: Callable[..., Any]) -> None:
    tests_folder = str(Path(__file__).parent)
    code = """
        import os, sys
        try:
            import test_pytest_plugin
            found = True
        except ModuleNotFoundError:
            found = False
        result = {"found": found, "cwd": os.listdir("."), "flags": sys.flags.ignore_environment}
    """
    # PYTHONPATH pointing at the tests is ignored (-E), and the working folder is empty.
    assert isolated_python(code, env={"PYTHONPATH": tests_folder}) == {"found": False, "cwd": [], "flags": 1}


def test_files_are_written_for_the_child_only(isolated_python: Callable[..., Any]) -> None:
    files = {"helper/__init__.py": "", "helper/maths.py": "def triple(x):\n    return 3 * x\n"}
    assert isolated_python("from helper.maths import triple\nresult = triple(4)", files=files) == 12


def test_errors_carry_the_childs_traceback(isolated_python: Callable[..., Any]) -> None:
    with pytest.raises(IsolatedPythonError) as info:
        isolated_python(
            """
            def inner():
                raise KeyError("missing thing")

            inner()
            """
        )
    error = info.value
    assert error.error == "KeyError" and error.message == "'missing thing'"
    assert 'File "<isolated_python>", line 3, in inner' in error.traceback
    assert 'raise KeyError("missing thing")' in str(error)  # the source line is shown
    with pytest.raises(IsolatedPythonError, match="not JSON-serializable"):
        isolated_python("result = {1, 2}")
    with pytest.raises(IsolatedPythonError, match="SystemExit: 4"):
        isolated_python("raise SystemExit(4)")


def test_stores_that_other_processes_cannot_open_are_refused() -> None:
    with pytest.raises(ValueError, match="exists only inside this process"):
        run_isolated("result = 1", store="memory://nope")


def test_the_store_and_namespace_reach_the_child(remote_store: Store, isolated_python: Callable[..., Any]) -> None:
    code = "import os\nresult = [os.environ['REMOTEIMPORT_STORE'], os.environ.get('REMOTEIMPORT_NAMESPACE')]"
    assert isolated_python(code, namespace="other_remote") == [remote_store.url, "other_remote"]
    assert run_isolated("import os\nresult = os.environ.get('REMOTEIMPORT_STORE')") is None


def test_remote_store_is_fresh_and_remote_import_serves_it(
    remote_store: Store, remote_import: Callable[..., ModuleType]
) -> None:
    assert remote_store.names() == []
    namespace = remote_import()
    assert dir(namespace) == []
    assert remoteimport.hook.installed()["labchain_remote"].store == remote_store
