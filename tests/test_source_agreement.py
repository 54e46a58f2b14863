"""A function's hash covers its source text; the pushing Python runs, and a same-Python host unpickles, its
bytecode. remoteimport checks that the two are one program (code_objects.source_mismatches): a push refuses a
class whose module file was edited after it was imported, and a load refuses a payload whose bytecode is not
what its shipped source compiles to — which the re-hash alone (reading the source) would let through."""

from __future__ import annotations

import importlib
import json
import linecache
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import remoteimport
from remoteimport import _env, capture
from remoteimport.blob import decode_blob, encode_blob, make_header
from remoteimport.code_objects import source_mismatches
from remoteimport.errors import IntegrityError, PushError
from remoteimport.hashing import class_hash
from remoteimport.loader import class_from_blob
from remoteimport.store import Store

REPO_ROOT = Path(__file__).resolve().parents[1]
BENIGN = "class Greeter:\n    def greet(self):\n        return 'hello'\n"
EDITED = "class Greeter:\n    def greet(self):\n        return 'edited'\n"


def _module(tmp_path: Path, name: str, text: str, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / f"{name}.py").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    monkeypatch.setitem(sys.modules, name, module)  # removed again when the test ends
    return module


def _edit(module, text: str) -> None:
    Path(module.__file__).write_text(text)
    linecache.checkcache(module.__file__)  # what any later traceback or inspect call does


def test_a_class_edited_after_import_is_refused_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = _module(tmp_path, "edited_after_import", BENIGN, monkeypatch)
    _edit(module, EDITED)
    with pytest.raises(PushError) as raised:
        remoteimport.push(module.Greeter, store=str(tmp_path / "store"))
    message = str(raised.value)
    assert "'greet'" in message and "edited_after_import.py" in message
    assert "changed after the module was imported" in message and "importlib.reload" in message
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").rglob("*.blob"))
    importlib.reload(module)  # the fix the message names
    assert module.Greeter().greet() == "edited"
    remoteimport.push(module.Greeter, store=str(tmp_path / "store"))


def test_unchanged_code_agrees_with_its_source_at_every_optimisation_level(tmp_path: Path) -> None:
    text = "def f(x):\n    assert x\n    '''doc'''\n    return [y for y in x]\n\n"
    text += "class C:\n    def m(self):\n        return f\n"
    path = str(tmp_path / "levels.py")
    for optimize in (0, 1, 2):
        module = compile(text, path, "exec", optimize=optimize)
        codes = [(const, path) for const in module.co_consts if hasattr(const, "co_code")]
        assert codes and source_mismatches(codes, {path: text}) == []
    other = compile(text.replace("[y for y in x]", "list(x)"), path, "exec")
    codes = [(const, path) for const in other.co_consts if hasattr(const, "co_code")]
    assert len(source_mismatches(codes, {path: text})) == 1  # f differs; the class body is the same


def test_future_flags_the_code_carries_are_honoured(tmp_path: Path) -> None:
    """A notebook cell inherits the __future__ flags of the cells before it: its code carries them."""
    import __future__

    path = str(tmp_path / "cell.py")
    text = "def f(x: Undefined) -> int:\n    return x\n"
    module = compile(text, path, "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True)
    code = next(const for const in module.co_consts if hasattr(const, "co_code"))
    assert source_mismatches([(code, path)], {path: text}) == []


def _forged_blob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, str, bytes]:
    """A blob whose payload holds the bytecode of one program and ships the source (and the hash) of another."""
    module = _module(tmp_path, "forged_greeter", BENIGN.replace("'hello'", "'pwned'"), monkeypatch)
    _edit(module, BENIGN)  # linecache, hashing and shipping now see the benign text
    full_hash = class_hash(module.Greeter)
    monkeypatch.setattr(capture, "source_mismatches", lambda codes, sources: [])  # what a forger's tool skips
    captured = capture.capture_class(module.Greeter, path="Greeter")
    monkeypatch.undo()
    assert captured.source[module.__file__] == BENIGN
    header = make_header("Greeter", full_hash, captured.payload, source=captured.source)
    data = encode_blob(header, captured.payload)
    store = Store(str(tmp_path / "store"))
    store.write_blob("Greeter", full_hash, data)
    return store, full_hash, data


def test_a_payload_whose_bytecode_is_not_its_shipped_source_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, full_hash, data = _forged_blob(tmp_path, monkeypatch)
    blob = decode_blob(data)
    with pytest.raises(IntegrityError) as raised:
        class_from_blob(blob, where="forged", signature_checked=False)
    assert "'greet'" in str(raised.value) and "not what that file compiles to" in str(raised.value)
    # The re-hash alone would have published it: it reads the benign source, the class runs the other bytecode.
    monkeypatch.setattr("remoteimport.loader.source_mismatches", lambda codes, sources, **_: [])
    loaded = class_from_blob(blob, where="forged", signature_checked=False)
    assert loaded().greet() == "pwned"

    # And a fresh interpreter, through the import hook, refuses it.
    environment = _env.without_settings(os.environ)
    environment.update(PYTHONPATH=str(REPO_ROOT), REMOTEIMPORT_CACHE_DIR=str(tmp_path / "cache"))
    code = f"""
        import importlib, json, remoteimport
        remoteimport.install({store.url!r}, namespace="forged_remote", lock=False)
        try:
            importlib.import_module("forged_remote.Greeter@{full_hash}")
            print(json.dumps("loaded"))
        except remoteimport.RemoteImportError as exc:
            print(json.dumps(type(exc).__name__ + ": " + str(exc)))
    """
    (tmp_path / "consumer").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=tmp_path / "consumer",
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome.startswith("IntegrityError") and "not what that file compiles to" in outcome


def test_a_module_reloaded_after_an_edit_is_hashed_and_shipped_by_its_new_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """linecache keeps the text it read first; a reload runs the new text. The hash and the shipped source
    must be the new text's (before, they were the old one's, naming code the class no longer ran)."""
    module = _module(tmp_path, "reloaded_greeter", BENIGN, monkeypatch)
    store = str(tmp_path / "store")
    first = remoteimport.push(module.Greeter, store=store)
    Path(module.__file__).write_text(EDITED)  # no checkcache: nothing told linecache
    importlib.reload(module)
    second = remoteimport.push(module.Greeter, store=store)
    assert second != first
    blob = decode_blob(Store(store).read_blob("Greeter", second))
    assert blob.header.source[module.__file__] == EDITED
    assert class_from_blob(blob, where="reloaded", signature_checked=False)().greet() == "edited"
