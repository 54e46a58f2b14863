"""A method's own ``import x`` (in its body, run at call time) makes x's distribution a requirement of the version,
so a host without it refuses the import up front instead of failing at call time (capture.imported_modules).

Two tiny distributions are built as wheels and pip-installed into a ``--target`` folder that only the producer
puts on ``sys.path``: the consumer lacks them, as a host that never installed them would.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from support import delete, run_consumer, run_producer, write_files

PACKAGE = {
    "lazy/__init__.py": """
        from .model import Lazy
    """,
    "lazy/helpers.py": """
        def offset():
            return 1
    """,
    "lazy/model.py": """
        class Lazy:
            def apply(self, x):
                import tinydep  # only when called: not imported when the class is defined or pushed

                return tinydep.double(x) + 1

            def sibling(self):
                from .helpers import offset  # the user's own package: by value, no requirement (not run on B)

                return offset()

            def optional(self):
                try:
                    import tinyopt  # installed here, but the code copes without it
                except ImportError:
                    tinyopt = None
                try:
                    from not_installed_anywhere import thing  # noqa: F401  (installed nowhere)
                except ImportError:
                    pass
                return tinyopt is not None

            def broken(self):
                import also_not_installed_anywhere  # would fail where it runs, as it fails here: not a requirement

                return also_not_installed_anywhere
    """,
}

PRODUCER = """
import json, logging, sys
sys.path.insert(0, {libs!r})
import remoteimport
from lazy import Lazy

warned = []
class Kept(logging.Handler):
    def emit(self, record):
        warned.append(record.getMessage())
logging.getLogger("remoteimport").addHandler(Kept())
imported_at_push = "tinydep" in sys.modules
full = remoteimport.push(Lazy, store=sys.argv[1])
header = remoteimport.Store(sys.argv[1]).read_verified_blob("Lazy", full).header
print(json.dumps({{"hash": full, "requirements": header.requirements, "imported_at_push": imported_at_push,
                  "here": [Lazy().apply(2), Lazy().optional(), Lazy().sibling()], "warned": warned}}))
"""


def wheel(folder: Path, name: str, version: str, source: str) -> Path:
    """A pure-Python wheel of one module ``name``, written by hand (no build backend needed)."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": source,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


@pytest.fixture(scope="module")
def libs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``.../site-packages`` (named so: what lives in site-packages is installed) holding tinydep and tinyopt."""
    folder = tmp_path_factory.mktemp("method_imports")
    target = folder / "libs" / "site-packages"
    wheels = [
        wheel(folder, "tinydep", "1.2.0", "def double(x):\n    return 2 * x\n"),
        wheel(folder, "tinyopt", "0.3.0", "VALUE = 1\n"),
    ]
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(target)]
    done = subprocess.run([*command, *map(str, wheels)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (target / "tinydep-1.2.0.dist-info" / "RECORD").exists()
    return target


def test_a_distribution_imported_in_a_method_is_a_requirement(libs: Path, tmp_path: Path) -> None:
    producer = write_files(tmp_path / "producer", {**PACKAGE, "producer.py": PRODUCER.format(libs=str(libs))})
    store = str(tmp_path / "store")
    pushed = run_producer(producer, store)
    delete(producer)
    assert pushed["imported_at_push"] is False and pushed["here"] == [5, True, 1]
    # the user's own module imported in a method's body does not travel: the push says so, once, with the fix
    assert len(pushed["warned"]) == 1, pushed["warned"]
    assert "Lazy.sibling imports lazy.helpers inside its body" in pushed["warned"][0]
    assert "fails with ModuleNotFoundError" in pushed["warned"][0] and "from lazy import helpers" in pushed["warned"][0]
    requirements = pushed["requirements"]
    assert requirements.get("tinydep") == "1.2.0"
    # optional imports (guarded by `except ImportError`, installed here or not) and modules installed nowhere are not
    assert not {"tinyopt", "not_installed_anywhere", "also_not_installed_anywhere", "lazy"} & set(requirements)

    # a host without tinydep refuses the version at import, with the usual message
    out = run_consumer(
        tmp_path / "consumer",
        store,
        f"""
        try:
            importlib.import_module("labchain_remote.Lazy@{pushed["hash"]}")
        except ImportError as error:
            out["refused"] = [type(error).__name__, str(error)]
        print(json.dumps(out))
        """,
    )
    error, message = out["refused"]
    assert error == "IncompatibleBlobError"
    assert "needs the distribution tinydep==1.2.0, which is not installed on this host" in message
    assert "pip install 'tinydep==1.2.0'" in message

    # with it installed, the version loads and the method's import runs there
    out = run_consumer(
        tmp_path / "consumer-with-tinydep",
        store,
        f"""
        sys.path.insert(0, {str(libs)!r})
        Lazy = importlib.import_module("labchain_remote.Lazy@{pushed["hash"]}").Lazy
        out["there"] = [Lazy().apply(2), Lazy().optional()]
        try:
            Lazy().sibling()
        except ImportError as error:
            out["sibling"] = [type(error).__name__, error.name]
        print(json.dumps(out))
        """,
    )
    assert out["there"] == [5, True]
    assert out["sibling"] == ["ModuleNotFoundError", "lazy"]  # what the push's warning said
