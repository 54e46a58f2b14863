"""Untrusted input never runs code: configs and namespaces (a hostile review's findings, each run for real).

Each attack runs in a fresh consumer interpreter that has none of the producer's source. The attacker's code
would create a marker file; the tests assert the marker never appears (and, as a control, that it does when
the consumer explicitly allows what the attack needs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from remoteimport import signing

TIMEOUT = 120

PRODUCER = """
import json, pickle, sys
import remoteimport

class Genuine:
    def answer(self):
        return 42

class Evil:
    \"\"\"Unsigned: pushed by someone who can write to a store but holds no trusted key.\"\"\"
    def __init__(self, marker=None):
        self.marker = marker

    def __setstate__(self, state):
        open(state["marker"], "w").close()   # runs when an instance is unpickled
        self.__dict__.update(state)

trusted = remoteimport.Store(sys.argv[1], signing_key=sys.argv[2])
untrusted = remoteimport.Store(sys.argv[3])
out = {
    "Genuine": remoteimport.push(Genuine, store=trusted),
    "Evil": remoteimport.push(Evil, store=untrusted),
    "EvilInTrusted": remoteimport.push(Evil, store=remoteimport.Store(sys.argv[1])),  # unsigned, next to Genuine
}
remoteimport.install(untrusted)
pinned = __import__("importlib").import_module("labchain_remote.Evil@" + out["Evil"]).Evil
out["instance"] = pickle.dumps(pinned(marker=sys.argv[4])).hex()
print(json.dumps(out))
"""

CONSUMER = """
import importlib, json, os, pickle, sys
import remoteimport
args = json.loads(sys.argv[1])
results = {}

def attempt(label, action):
    try:
        value = action()
        results[label] = {"outcome": "ran", "value": repr(value)[:80]}
    except Exception as exc:
        results[label] = {"outcome": "refused", "type": type(exc).__name__, "message": str(exc)}

exec(args["code"])
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("trust-boundary")
    public = signing.generate_key(root / "publisher")
    producer = root / "producer"
    producer.mkdir()
    (producer / "producer.py").write_text(PRODUCER)
    marker = root / "PICKLED-INSTANCE-RAN"
    done = subprocess.run(
        [
            sys.executable,
            "producer.py",
            str(root / "trusted"),
            str(root / "publisher"),
            str(root / "untrusted"),
            str(marker),
        ],
        cwd=producer,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=_environment(),
    )
    assert done.returncode == 0, done.stderr
    hashes = json.loads(done.stdout.strip().splitlines()[-1])
    for child in producer.iterdir():
        child.unlink()
    producer.rmdir()
    assert not marker.exists()
    return {"root": root, "public": public, "hashes": hashes, "marker": marker}


def _environment(**extra: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("REMOTEIMPORT_")}
    environment["REMOTEIMPORT_CACHE_DIR"] = "off"
    environment.update(extra)
    return environment


def consume(tmp_path: Path, code: str, args: dict, **environment: str) -> dict:
    cwd = tmp_path / "consumer"
    cwd.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-I", "-c", CONSUMER, json.dumps({**args, "code": textwrap.dedent(code)})],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=_environment(**environment),
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


CONFIG_ATTACKS = """
marker, victim = args["marker"], args["victim"]
attempt("popen", lambda: remoteimport.build({"clazz": "subprocess:Popen", "params": {"args": ["touch", marker]}}))
attempt("file_handler", lambda: remoteimport.build(
    {"clazz": "logging:FileHandler", "params": {"filename": victim, "mode": "w"}}))
attempt("import_side_effect", lambda: remoteimport.build({"clazz": "this:X"}))
results["this_imported"] = "this" in sys.modules
attempt("nested", lambda: remoteimport.build({"clazz": "collections:OrderedDict", "params": {
    "x": {"clazz": "subprocess:Popen", "params": {"args": ["touch", marker]}}}}))
"""


def test_configs_construct_no_installed_class_unless_allowed(tmp_path: Path) -> None:
    marker, victim = tmp_path / "POPEN-RAN", tmp_path / "victim.txt"
    victim.write_text("precious")
    args = {"marker": str(marker), "victim": str(victim)}
    results = consume(tmp_path, CONFIG_ATTACKS, args, REMOTEIMPORT_REQUIRE_SIGNATURES="1")
    assert not marker.exists() and victim.read_text() == "precious"
    assert results.pop("this_imported") is False  # refused before the module was imported
    for label, result in results.items():
        assert result["outcome"] == "refused" and result["type"] == "ConfigError", (label, result)
        assert "build(config, allow=[" in result["message"] and "REMOTEIMPORT_BUILD_ALLOW=" in result["message"]
    assert "'subprocess:Popen'" in results["popen"]["message"]

    # The control: allowed explicitly, the same config does run (so the marker would have shown an escape).
    allowed = consume(
        tmp_path,
        'attempt("popen", lambda: remoteimport.build({"clazz": "subprocess:Popen", '
        '"params": {"args": ["touch", args["marker"]]}}).wait())',
        args,
        REMOTEIMPORT_BUILD_ALLOW="subprocess:Popen",
    )
    assert allowed["popen"]["outcome"] == "ran" and marker.exists()


def test_a_config_cannot_name_a_namespace_no_trusted_hook_serves(stores: dict, tmp_path: Path) -> None:
    root, hashes = stores["root"], stores["hashes"]
    code = """
    remoteimport.install(args["trusted"], trusted_keys=[args["public"]])
    evil = "labchain_remote.Evil@" + args["evil"]
    attempt("other_namespace", lambda: remoteimport.build({"clazz": "other_ns.Evil@" + args["evil"]}))
    attempt("explicit_untrusted_store", lambda: remoteimport.build({"clazz": evil}, store=args["untrusted"]))
    attempt("unsigned_in_the_trusted_store", lambda: remoteimport.build(
        {"clazz": "labchain_remote.Evil@" + args["evil_in_trusted"]}))
    attempt("get_version", lambda: remoteimport.get_version("Evil", args["evil"], store=args["untrusted"]))
    attempt("genuine", lambda: remoteimport.build({"clazz": "labchain_remote.Genuine@" + args["genuine"]}).answer())
    """
    args = {
        "trusted": str(root / "trusted"),
        "untrusted": str(root / "untrusted"),
        "public": stores["public"],
        "evil": hashes["Evil"],
        "evil_in_trusted": hashes["EvilInTrusted"],
        "genuine": hashes["Genuine"],
    }
    # The attacker's store is even this host's default store.
    results = consume(tmp_path, code, args, REMOTEIMPORT_STORE=str(root / "untrusted"))
    assert results.pop("genuine") == {"outcome": "ran", "value": "42"}
    assert results["other_namespace"]["type"] == "ConfigError"
    assert "no import hook serves the namespace 'other_ns'" in results["other_namespace"]["message"]
    for label in ("explicit_untrusted_store", "unsigned_in_the_trusted_store", "get_version"):
        assert results[label]["type"] == "UntrustedBlobError", (label, results[label])
        assert "unsigned and signatures are required" in results[label]["message"]


def test_a_class_loaded_without_trust_is_not_handed_to_a_call_that_demands_it(stores: dict, tmp_path: Path) -> None:
    root, hashes = stores["root"], stores["hashes"]
    code = """
    weak = remoteimport.get_version("Evil", args["evil"], store=args["untrusted"])   # no trust asked: loads
    results["weak_loaded"] = weak.__name__
    strict = remoteimport.Store(args["untrusted"], trusted_keys=[args["public"]])
    results["stores_equal"] = strict == remoteimport.Store(args["untrusted"])
    attempt("get_version_with_trust", lambda: remoteimport.get_version("Evil", args["evil"], store=strict))
    remoteimport.install(strict)
    attempt("hook_after_install_with_trust", lambda: importlib.import_module("labchain_remote.Evil@" + args["evil"]))
    attempt("pickled_instance", lambda: pickle.loads(bytes.fromhex(args["instance"])))
    """
    args = {"untrusted": str(root / "untrusted"), "public": stores["public"], "evil": hashes["Evil"]}
    args["instance"] = hashes["instance"]
    results = consume(tmp_path, code, args)
    assert results.pop("weak_loaded") == "Evil" and results.pop("stores_equal") is False
    for label, result in results.items():
        assert result["outcome"] == "refused" and result["type"] == "UntrustedBlobError", (label, result)
    assert not stores["marker"].exists()


def test_a_pickled_instance_goes_through_the_namespace_policy(stores: dict, tmp_path: Path) -> None:
    code = """
    remoteimport.install(args["untrusted"], trusted_keys=[args["public"]])
    attempt("pickled_instance", lambda: pickle.loads(bytes.fromhex(args["instance"])))
    """
    root = stores["root"]
    args = {"untrusted": str(root / "untrusted"), "public": stores["public"], "instance": stores["hashes"]["instance"]}
    results = consume(tmp_path, code, args)
    assert results["pickled_instance"]["type"] == "UntrustedBlobError"
    assert not stores["marker"].exists()
    # The control: without trust demanded, unpickling the instance does run its code.
    control = consume(
        tmp_path,
        'remoteimport.install(args["untrusted"])\nattempt("x", lambda: pickle.loads(bytes.fromhex(args["instance"])))',
        args,
    )
    assert control["x"]["outcome"] == "ran" and stores["marker"].exists()
    stores["marker"].unlink()
