"""Issue 23: nothing runs that its hash and signature don't vouch for. A store writer with no key rewrites a
method's bytecode and keeps the version's hash by naming another file (``<string>``, or one it does not ship)
in the payload's ``rebuild_code`` call, while the code object keeps its real file name: the re-hash reads the
real file's shipped text, and an agreement check that trusted the payload's name skipped the method. The
attacker's method would create a marker directory; every test asserts it never appears, and a control shows
it would have (the loader's rules before the fix publish the class, which re-hashes, and the marker appears)."""

from __future__ import annotations

import importlib
import json
import linecache
import marshal
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from remoteimport import _env, capture, code_objects, signing
from remoteimport.blob import decode_blob, encode_blob, make_header
from remoteimport.cli import main
from remoteimport.code_objects import CodeRebuilder, python_tag
from remoteimport.errors import IntegrityError
from remoteimport.hashing import class_hash
from remoteimport.loader import class_from_blob
from remoteimport.store import Store

REPO_ROOT = Path(__file__).resolve().parents[1]
BENIGN = "import os\n\n\nclass Greeter:\n    def greet(self):\n        return 'hello'\n"


def _evil(marker: Path) -> str:
    return BENIGN.replace("return 'hello'", f"return os.makedirs({str(marker)!r}) or 'hello'")


def _smuggled_blob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, named: str) -> tuple[Store, str, Path]:
    """The attacker's blob: ``greet``'s bytecode makes the marker, the shipped source and the hash are the benign
    class's, and the payload names ``named`` as greet's file (the code object keeps its own)."""
    marker = tmp_path / "ATTACKER-CODE-RAN"
    (tmp_path / "src").mkdir()
    module_name = f"smuggled_greeter_{os.urandom(4).hex()}"  # a module of its own per test
    path = tmp_path / "src" / f"{module_name}.py"
    path.write_text(_evil(marker))
    monkeypatch.syspath_prepend(str(path.parent))
    module = importlib.import_module(module_name)
    monkeypatch.delitem(sys.modules, module_name)
    path.write_text(BENIGN)
    linecache.checkcache(str(path))  # hashing and shipping now read the benign text
    full_hash = class_hash(module.Greeter)

    def renaming(code):  # the forger's rewrite of one argument of the rebuild call
        rebuild, args = code_objects.reduce_code(code)
        return rebuild, (*args[:2], named if code.co_name == "greet" else args[2], *args[3:])

    with monkeypatch.context() as forging:
        forging.setattr(capture, "source_mismatches", lambda codes, sources: [])
        forging.setattr(capture, "reduce_code", renaming)
        captured = capture.capture_class(module.Greeter, path="Greeter")
    assert captured.source[str(path)] == BENIGN and marshal.dumps(module.Greeter.greet.__code__) in captured.payload
    header = make_header("Greeter", full_hash, captured.payload, source=captured.source)
    store = Store(str(tmp_path / "store"))
    store.write_blob("Greeter", full_hash, encode_blob(header, captured.payload))
    store.set_latest("Greeter", full_hash)
    return store, full_hash, marker


def _rules_before_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: the code's file taken from the payload, as before issue 23."""

    def rebuild(self, code_format, python, filename, name, firstlineno, data, locator=None):
        if python != python_tag():
            return original(self, code_format, python, filename, name, firstlineno, data, locator)
        code = marshal.loads(data)
        self.unmarshalled.append((code, str(filename)))
        return self._tag_tree(code)

    original = CodeRebuilder.rebuild
    monkeypatch.setattr(CodeRebuilder, "rebuild", rebuild)


def _consumer(tmp_path: Path, store: Store, full_hash: str) -> str:
    """A fresh interpreter with none of the source imports Greeter@hash through the hook and calls greet()."""
    environment = _env.without_settings(os.environ)
    environment.update(PYTHONPATH=str(REPO_ROOT), REMOTEIMPORT_CACHE_DIR=str(tmp_path / "cache"))
    code = f"""
        import importlib, json, remoteimport
        remoteimport.install({store.url!r}, namespace="smuggled_remote", lock=False)
        try:
            module = importlib.import_module("smuggled_remote.Greeter@{full_hash}")
            print(json.dumps("loaded: " + module.Greeter().greet()))
        except remoteimport.RemoteImportError as exc:
            print(json.dumps(type(exc).__name__ + ": " + str(exc)))
    """
    (tmp_path / "consumer").mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=tmp_path / "consumer",
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("named", ["<string>", "/nowhere/not_shipped.py"])
def test_a_payload_naming_another_file_for_smuggled_bytecode_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, named: str
) -> None:
    store, full_hash, marker = _smuggled_blob(tmp_path, monkeypatch, named)
    blob = decode_blob(store.read_blob("Greeter", full_hash))

    with pytest.raises(IntegrityError) as raised:
        class_from_blob(blob, where="smuggled", signature_checked=False)
    assert "'greet'" in str(raised.value) and named in str(raised.value)
    outcome = _consumer(tmp_path, store, full_hash)
    assert outcome.startswith("IntegrityError") and named in outcome
    assert not marker.exists()

    # Control: under the rules before the fix the class re-hashes to its hash, and its greet() runs the attacker's code.
    _rules_before_the_fix(monkeypatch)
    loaded = class_from_blob(blob, where="smuggled", signature_checked=False)
    assert loaded().greet() == "hello" and marker.exists()


def test_sign_include_unsigned_never_signs_smuggled_bytecode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store, full_hash, marker = _smuggled_blob(tmp_path, monkeypatch, "<string>")
    signing.generate_key(tmp_path / "publisher")
    before = store.read_blob("Greeter", full_hash)

    main(
        ["sign", f"Greeter@{full_hash[:12]}", "--include-unsigned", "--key", str(tmp_path / "publisher")]
        + ["--store", store.url]
    )

    assert "left as it is" in capsys.readouterr().out
    assert store.read_blob("Greeter", full_hash) == before and decode_blob(before).header.signature is None
    assert [version.action for version in store.history("Greeter")] == []
    assert not marker.exists()


def test_sign_include_unsigned_refuses_code_no_shipped_source_vouches_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A method made by exec has no shipped source: the hash covers its bytecode, which a signer cannot read."""
    namespace: dict[str, object] = {}
    exec(compile("def greet(self):\n    return 'made by exec'\n", "<generated>", "exec"), namespace)
    made = type("Greeter", (), {"greet": namespace["greet"], "__module__": __name__})
    from remoteimport import registry

    store = Store(str(tmp_path / "store"))
    full_hash = registry.push(made, store=store)
    signing.generate_key(tmp_path / "publisher")

    outcomes = registry.sign("Greeter", full_hash, store=store, key=tmp_path / "publisher", include_unsigned=True)

    assert outcomes[full_hash].startswith("left as it is") and "'greet'" in outcomes[full_hash]
    assert "push the class again from its source" in outcomes[full_hash]
    assert decode_blob(store.read_blob("Greeter", full_hash)).header.signature is None


def test_sign_include_unsigned_still_signs_a_version_checked_against_its_source(tmp_path: Path) -> None:
    from sample_classes import make_filter

    from remoteimport import registry

    store = Store(str(tmp_path / "store"))
    full_hash = registry.push(make_filter(os.urandom(4).hex()), store=store)
    signing.generate_key(tmp_path / "publisher")

    outcomes = registry.sign("MyFilter", full_hash, store=store, key=tmp_path / "publisher", include_unsigned=True)

    assert outcomes[full_hash].startswith("signed by")
    assert decode_blob(store.read_blob("MyFilter", full_hash)).header.signature is not None


def test_code_under_a_pseudo_name_whose_shipped_text_the_hasher_reads_must_be_that_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Code really compiled under ``<string>``, shipping benign ``<string>`` text the re-hash reads as its source."""
    marker = tmp_path / "ATTACKER-CODE-RAN"
    module = type(sys)("pseudo_greeter")  # not importable: travels by value
    exec(compile(_evil(marker), "<string>", "exec"), module.__dict__)
    monkeypatch.setitem(linecache.cache, "<string>", (len(BENIGN), None, BENIGN.splitlines(True), "<string>"))
    full_hash = class_hash(module.Greeter)
    with monkeypatch.context() as forging:
        forging.setattr(capture, "source_mismatches", lambda codes, sources: [])
        captured = capture.capture_class(module.Greeter, path="Greeter")
    assert captured.source.get("<string>") == BENIGN
    blob = decode_blob(
        encode_blob(make_header("Greeter", full_hash, captured.payload, source=captured.source), captured.payload)
    )

    with pytest.raises(IntegrityError) as raised:
        class_from_blob(blob, where="pseudo", signature_checked=False)
    assert "'greet'" in str(raised.value) and "not what that file compiles to" in str(raised.value)
    assert not marker.exists()

    # Control: skipping pseudo names, as before, publishes a class that re-hashes and runs the attacker's greet().
    monkeypatch.setattr("remoteimport.loader._hasher_reads_source", lambda label: lambda code, filename: False)
    assert class_from_blob(blob, where="pseudo", signature_checked=False)().greet() == "hello" and marker.exists()
