"""``$REMOTEIMPORT_SERVED``: what install() hands down to the processes it starts (remoteimport.served), and how a
process started with it serves those namespaces (tests/e2e/test_worker_processes.py runs real worker pools).

The variable is hostile input: a malformed value fails the namespace's import with one error naming it, never
the interpreter's start, and no value can weaken the trust policy of the process that reads it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import remoteimport
from remoteimport import _env, served, signing
from remoteimport.isolated import IsolatedPythonError, run_isolated
from remoteimport.lock import Lock
from remoteimport.store import Store

SOURCE = """
class Counter:
    def next(self, x):
        return x + 1
"""


def push(store: Store | str, folder: Path) -> str:
    namespace: dict[str, object] = {"__name__": "served_counter_module"}
    exec(compile(SOURCE, str(folder / "served_counter_module.py"), "exec"), namespace)
    return remoteimport.push(namespace["Counter"], store=store)  # type: ignore[arg-type]


@pytest.fixture
def pushed(tmp_path: Path) -> dict[str, str]:
    """One store holding Counter twice over: signed (in ``signed/``) and unsigned (in ``unsigned/``)."""
    public = signing.generate_key(tmp_path / "keys" / "publisher")
    signed = Store(tmp_path / "signed", signing_key=tmp_path / "keys" / "publisher")
    return {
        "signed": signed.url,
        "unsigned": Store(tmp_path / "unsigned").url,
        "hash": push(signed, tmp_path),
        "unsigned_hash": push(tmp_path / "unsigned", tmp_path),
        "public": public,
    }


def recorded() -> dict[str, dict[str, object]]:
    return json.loads(os.environ[_env.SERVED])["namespaces"]


# -- the parent: install() and uninstall() keep the variable in step ------------------------------------------


def test_install_records_the_namespace_and_uninstall_forgets_it(
    pushed: dict[str, str], namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(_env.TRUSTED_KEYS, "keys/publisher.pub")  # relative: recorded absolute
    monkeypatch.setenv(_env.STORE, "/somewhere/else")  # what this process's own variables said, for comparison
    remoteimport.install(pushed["signed"], namespace=namespace, lock=False)
    assert recorded()[namespace] == {
        "store": pushed["signed"],
        "storage_options": {},
        "allow_http": False,
        "trusted_keys": [pushed["public"]],
        "require_signatures": False,
        "lock": None,
        "environment": {"REMOTEIMPORT_STORE": "/somewhere/else"},
    }
    other = namespace + "_other"
    remoteimport.install(pushed["unsigned"], namespace=other, lock=False)
    assert set(recorded()) >= {namespace, other}
    remoteimport.uninstall(other)
    assert other not in recorded() and namespace in recorded()
    remoteimport.uninstall(namespace)
    assert namespace not in json.loads(os.environ.get(_env.SERVED, '{"namespaces": {}}'))["namespaces"]


def test_keys_given_as_keys_travel_as_their_text_and_locks_as_their_pins(
    pushed: dict[str, str], namespace: str
) -> None:
    key = signing.load_public_key(pushed["public"])
    lock = Lock(store=pushed["signed"], pins={"Counter": pushed["hash"]}, namespace=namespace)
    remoteimport.install(pushed["signed"], namespace=namespace, trusted_keys=[key], lock=lock)
    entry = recorded()[namespace]
    assert entry["trusted_keys"] == [Path(pushed["public"]).read_text()]
    assert entry["lock"] == {
        "store": pushed["signed"],
        "namespace": namespace,
        "pins": {"Counter": pushed["hash"]},
        "unlisted": "error",
        "path": None,
    }
    store, inherited_lock = served.settings(namespace)
    assert store.url == pushed["signed"] and store.policy.trust.trusted == (key,)
    assert inherited_lock == lock


def test_credentials_and_objects_in_storage_options_stay_out_of_the_environment(namespace: str, tmp_path: Path) -> None:
    store = Store(
        tmp_path / "store",
        key="AKIAEXAMPLE",
        secret="s3cr3t",
        anon=False,
        client_kwargs={"endpoint_url": "http://127.0.0.1:9000", "aws_secret_access_key": "s3cr3t"},
        headers={"Authorization": "Bearer s3cr3t", "Accept": "x"},
        proxy="http://user:s3cr3t@proxy:3128",
        callback=object(),
        retries_per={"read": (1, 2)},
    )
    remoteimport.install(store, namespace=namespace, lock=False)
    assert "s3cr3t" not in os.environ[_env.SERVED] and "AKIA" not in os.environ[_env.SERVED]
    assert recorded()[namespace]["storage_options"] == {
        "anon": False,
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"},
        "headers": {"Accept": "x"},
        "proxy": None,
    }


def test_stores_a_child_cannot_reach_are_not_handed_down(memory_store: Store, namespace: str) -> None:
    remoteimport.install(memory_store, namespace=namespace)
    assert namespace not in json.loads(os.environ.get(_env.SERVED, '{"namespaces": {}}'))["namespaces"]


# -- the child: served lazily, never weaker, malformed values fail the import clearly -----------------------


def served_variable(namespace: str, **entry: object) -> str:
    return json.dumps({"format": 1, "namespaces": {namespace: entry}})


def test_a_child_serves_inherited_namespaces_lazily(pushed: dict[str, str]) -> None:
    variable = served_variable("inherited_models", store=pushed["unsigned"])
    result = run_isolated(
        f"""
        import importlib, sys
        finders = [type(f).__name__ for f in sys.meta_path if f.__module__.startswith("remoteimport")]
        try:
            import some_module_that_does_not_exist
        except ModuleNotFoundError:
            pass
        before = sorted(m for m in sys.modules if m.startswith("remoteimport") or m in ("fsspec", "cloudpickle"))
        counter = importlib.import_module("inherited_models.Counter@{pushed["unsigned_hash"]}").Counter()
        result = [finders, before, counter.next(1), type(sys.meta_path[-1]).__name__]
        """,
        env={_env.SERVED: variable},
    )
    assert result == [
        ["InheritedFinder"],
        ["remoteimport", "remoteimport._env", "remoteimport._startup", "remoteimport.errors"],
        2,
        "RemoteFinder",
    ]


def test_a_config_naming_an_inherited_namespace_builds_in_the_child(pushed: dict[str, str]) -> None:
    variable = served_variable("inherited_models", store=pushed["unsigned"])
    config = {"clazz": f"inherited_models.Counter@{pushed['unsigned_hash']}", "params": {}}
    result = run_isolated(
        f"import remoteimport\nresult = remoteimport.build({config!r}).next(2)", env={_env.SERVED: variable}
    )
    assert result == 3


def test_an_inherited_empty_key_list_never_switches_a_childs_own_keys_off(pushed: dict[str, str]) -> None:
    variable = served_variable("inherited_models", store=pushed["unsigned"], trusted_keys=[])
    with pytest.raises(IsolatedPythonError) as refused:
        run_isolated(
            f"import importlib\nimportlib.import_module('inherited_models.Counter@{pushed['unsigned_hash']}')",
            env={_env.SERVED: variable, _env.TRUSTED_KEYS: pushed["public"]},
        )
    assert refused.value.error == "UntrustedBlobError" and "unsigned" in refused.value.message


def test_inherited_keys_stay_required_and_the_child_may_require_signatures(pushed: dict[str, str]) -> None:
    variable = served_variable("inherited_models", store=pushed["unsigned"], trusted_keys=[pushed["public"]])
    with pytest.raises(IsolatedPythonError) as refused:
        run_isolated(
            f"import importlib\nimportlib.import_module('inherited_models.Counter@{pushed['unsigned_hash']}')",
            env={_env.SERVED: variable},
        )
    assert refused.value.error == "UntrustedBlobError" and "unsigned" in refused.value.message
    variable = served_variable("inherited_models", store=pushed["unsigned"], require_signatures=True)
    with pytest.raises(IsolatedPythonError) as refused:
        run_isolated(
            f"import importlib\nimportlib.import_module('inherited_models.Counter@{pushed['unsigned_hash']}')",
            env={_env.SERVED: variable},
        )
    assert refused.value.error == "UntrustedBlobError" and "REMOTEIMPORT_REQUIRE_SIGNATURES" in refused.value.message


def test_a_childs_own_variables_choose_its_store_and_inherited_ones_do_not(pushed: dict[str, str]) -> None:
    """The parent served the unsigned store; the child trusts the publisher's key, so the unsigned copy is refused
    and the signed one loads: which store served the import shows in the outcome."""
    module = f"inherited_models.Counter@{pushed['hash']}"
    code = f"import importlib\nresult = importlib.import_module({module!r}).Counter().next(1)"
    own = {_env.STORE: pushed["signed"], _env.NAMESPACE: "inherited_models", _env.TRUSTED_KEYS: pushed["public"]}
    # given to this child (a Ray runtime_env, Popen(env=...)): its own store serves, under the combined policy
    variable = served_variable("inherited_models", store=pushed["unsigned"])
    assert run_isolated(code, env={_env.SERVED: variable, **own}) == 2
    # the very values the parent had when it installed: inherited, so the parent's store serves
    inherited = {_env.STORE: pushed["signed"], _env.NAMESPACE: "inherited_models"}
    variable = served_variable("inherited_models", store=pushed["unsigned"], environment=inherited)
    with pytest.raises(IsolatedPythonError) as refused:
        run_isolated(code, env={_env.SERVED: variable, **own})
    assert refused.value.error == "UntrustedBlobError" and "unsigned" in refused.value.message


MALFORMED = {
    "not JSON": '{"format": 1, "namespaces": {"labchain_remote": ',
    "not an object": '["labchain_remote"]',
    "another format": '{"format": 2, "namespaces": {"labchain_remote": {"store": "/srv"}}}',
    "no store": '{"format": 1, "namespaces": {"labchain_remote": {"trusted_keys": []}}}',
    "unknown field": '{"format": 1, "namespaces": {"labchain_remote": {"store": "/srv", "trust": "none"}}}',
    "a Store argument": (
        '{"format": 1, "namespaces": {"labchain_remote": {"store": "/srv", "storage_options": {"trusted_keys": []}}}}'
    ),
    "a relative key": '{"format": 1, "namespaces": {"labchain_remote": {"store": "/srv", "trusted_keys": ["k.pub"]}}}',
    "a key that is not a list": (
        '{"format": 1, "namespaces": {"labchain_remote": {"store": "/srv", "trusted_keys": "/k.pub"}}}'
    ),
    "a missing key file": (
        '{"format": 1, "namespaces": {"labchain_remote": {"store": "/srv", "trusted_keys": ["/no/such.pub"]}}}'
    ),
    "a bad lock": '{"format": 1, "namespaces": {"labchain_remote": {"store": "/srv", "lock": {"pins": {"X": "1"}}}}}',
    "garbage": "yes please",
    "a foreign variable": (
        '{"format": 1, "namespaces": {"labchain_remote": {"store": "/srv", "environment": {"PATH": "/bin"}}}}'
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_value_fails_the_namespace_import_clearly_and_nothing_else(case: str, tmp_path: Path) -> None:
    environment = _env.without_settings(os.environ)
    environment[_env.SERVED] = MALFORMED[case]
    code = """
import json
try:
    import some_module_that_does_not_exist
except ModuleNotFoundError as missing:
    other = str(missing)
try:
    import labchain_remote
except ImportError as error:
    print(json.dumps([other, type(error).__name__, str(error)]))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr  # nothing at start: no traceback, no warning
    other, error, message = json.loads(done.stdout)
    assert other == "No module named 'some_module_that_does_not_exist'"
    assert error == "InheritedSettingsError", message
    assert message.count("REMOTEIMPORT_SERVED") >= 1 and ("Fix:" in message or "Nothing is loaded" in message)
