"""Tests for lock files: the TOML format, ``update_lock`` / ``remoteimport lock``, and imports under a lock.

In-process with our own fixtures (``remote_store``, ``remote_import``); the last tests pin in fresh
interpreters (``isolated_python``) where the lock is found in the working directory or through
``$REMOTEIMPORT_LOCK``.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sample_classes import greeter

import remoteimport
from remoteimport.cli import main
from remoteimport.errors import NameNotFoundError
from remoteimport.lock import Lock, LockError, find_lock, read_lock, update_lock, write_lock
from remoteimport.store import Store

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def counter(start: int) -> type:
    class Counter:
        first = start

    return Counter


@pytest.fixture
def versions(remote_store: Store) -> dict[str, str]:
    """Greeter v1 then v2 (latest), and Counter: ``{"v1": hash, "v2": hash, "counter": hash}``."""
    return {
        "v1": remoteimport.push(greeter("hello"), store=remote_store, name="Greeter"),
        "v2": remoteimport.push(greeter("hi"), store=remote_store, name="Greeter"),
        "counter": remoteimport.push(counter(1), store=remote_store, name="Counter"),
    }


def lock_file(tmp_path: Path, store: Store, pins: dict[str, str], **options: Any) -> Path:
    path = tmp_path / "remoteimport.lock"
    write_lock(Lock(store=store.url, pins=pins, **options), path)
    return path


# -- the file format -------------------------------------------------------------------------------------


def test_a_lock_round_trips_through_toml(tmp_path: Path) -> None:
    odd_store = 's3://bucket/with "quotes" \\ back\tslash/ünïcode\x7f'
    lock = Lock(store=odd_store, pins={"B": "b" * 64, "A": "a" * 64}, namespace="team.models", unlisted="latest")
    path = write_lock(lock, tmp_path / "x.lock")
    text = Path(path).read_text(encoding="utf-8")
    assert tomllib.loads(text) == {
        "version": 1,
        "store": odd_store,
        "namespace": "team.models",
        "unlisted": "latest",
        "pins": {"A": "a" * 64, "B": "b" * 64},
    }
    assert text.index("A = ") < text.index("B = ")  # sorted: stable diffs
    again = read_lock(path)
    assert (again.store, dict(again.pins), again.namespace, again.unlisted) == (
        odd_store,
        {"A": "a" * 64, "B": "b" * 64},
        "team.models",
        "latest",
    )
    assert again.path == path


def test_a_relative_store_is_relative_to_the_lock(tmp_path: Path) -> None:
    (tmp_path / "remoteimport.lock").write_text('version = 1\nstore = "classes"\n[pins]\n')
    assert read_lock(tmp_path / "remoteimport.lock").store == str(tmp_path / "classes")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = 1\nstore = \n", "not valid TOML"),
        ('version = 2\nstore = "/s"\n', "version = 2; this remoteimport reads version = 1"),
        ('version = 1\nstore = "/s"\nextra = 1\n', r"unknown keys \['extra'\]"),
        ("version = 1\n", "no store URL"),
        ('version = 1\nstore = "/s"\n[pins]\nA = "abcdef12"\n', "invalid pin.*expected 64 hex digits"),
        ('version = 1\nstore = "/s"\n[pins]\n"../x" = "' + "a" * 64 + '"\n', "invalid pin.*invalid class name"),
        ('version = 1\nstore = "/s"\nunlisted = "maybe"\n', 'use "error" or "latest"'),
        ('version = 1\nstore = "/s"\nnamespace = "a..b"\n', "invalid pin.*namespace"),
        ('version = 1\nstore = "/s"\npins = 3\n', r"\[pins\] .* must be a table"),
    ],
)
def test_malformed_locks_are_refused_with_the_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "remoteimport.lock"
    path.write_text(text)
    with pytest.raises(LockError, match=message):
        read_lock(path)


def test_a_missing_lock_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(LockError, match=r"no lock file .*remoteimport lock NAME"):
        read_lock(tmp_path / "nope.lock")


# -- update_lock and `remoteimport lock` -----------------------------------------------------------------


def test_update_lock_adds_keeps_and_upgrades(tmp_path: Path, remote_store: Store, versions: dict[str, str]) -> None:
    path = tmp_path / "remoteimport.lock"
    lock, changes = update_lock(["Greeter"], path=path, store=remote_store)
    assert dict(lock.pins) == {"Greeter": versions["v2"]} and changes == {"Greeter": (None, versions["v2"])}
    assert lock.store == remote_store.url and lock.namespace == "labchain_remote"

    remoteimport.rollback("Greeter", versions["v1"], store=remote_store)  # latest moves; the pin does not
    lock, changes = update_lock(["Greeter", "Counter"], path=path)  # the lock remembers its store
    assert changes == {"Greeter": (versions["v2"], versions["v2"]), "Counter": (None, versions["counter"])}

    lock, changes = update_lock(path=path, upgrade=True)  # no names: every pin moves to the latest
    assert dict(lock.pins) == {"Counter": versions["counter"], "Greeter": versions["v1"]}
    assert changes["Greeter"] == (versions["v2"], versions["v1"])
    assert dict(read_lock(path).pins) == dict(lock.pins)


def test_update_lock_errors(tmp_path: Path, remote_store: Store, versions: dict[str, str]) -> None:
    path = tmp_path / "remoteimport.lock"
    with pytest.raises(LockError, match="name the classes to pin"):
        update_lock(path=path, store=remote_store)
    with pytest.raises(NameNotFoundError, match="no class named 'Greter'.*Did you mean Greeter"):
        update_lock(["Greter"], path=path, store=remote_store)
    assert not path.exists()  # nothing written on error
    update_lock(["Greeter"], path=path, store=remote_store)
    with pytest.raises(LockError, match="pins versions in the store .*use another lock file"):
        update_lock(["Greeter"], path=path, store=tmp_path / "other")
    with pytest.raises(LockError, match="is for the namespace 'labchain_remote', not 'other'"):
        update_lock(["Greeter"], path=path, namespace="other")


def test_the_lock_command(
    tmp_path: Path,
    remote_store: Store,
    versions: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["lock", "Greeter", "Counter", "--store", remote_store.url]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'remoteimport.lock'}: 2 pins" in out
    assert f"Greeter  {versions['v2'][:12]}  added" in out
    remoteimport.rollback("Greeter", versions["v1"], store=remote_store)
    assert main(["lock", "Greeter"]) == 0
    assert "kept (--upgrade moves it to the latest)" in capsys.readouterr().out
    assert main(["lock", "--upgrade", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["pins"] == {"Counter": versions["counter"], "Greeter": versions["v1"]}
    assert document["changes"]["Greeter"] == {"hash": versions["v1"], "previous": versions["v2"]}
    assert main(["lock", "Nope"]) == 1
    assert "remoteimport: error: no class named 'Nope'" in capsys.readouterr().err


# -- imports under a lock --------------------------------------------------------------------------------


def test_a_lock_pins_plain_imports(
    tmp_path: Path, remote_store: Store, versions: dict[str, str], remote_import: Callable[..., ModuleType]
) -> None:
    path = lock_file(tmp_path, remote_store, {"Greeter": versions["v1"]})
    namespace = remote_import(remote_store, lock=path)
    from labchain_remote import Greeter

    assert Greeter().greet() == "hello"  # v1, although v2 is the latest
    assert Greeter.__module__ == f"labchain_remote.Greeter@{versions['v1']}"
    assert dir(namespace) == ["Greeter"]  # what a strict lock lets you import
    exact = importlib.import_module(f"labchain_remote.Greeter@{versions['v2'][:8]}").Greeter
    assert exact().greet() == "hi"  # exact versions are not affected by the lock
    with pytest.raises(LockError, match=r"labchain_remote\.Counter is not pinned by the lock .* pins: Greeter"):
        from labchain_remote import Counter  # noqa: F401
    with pytest.raises(ImportError):  # a LockError is an ImportError
        namespace.Counter  # noqa: B018
    assert remoteimport.build({"clazz": "labchain_remote.Greeter", "params": {}}).greet() == "hello"


def test_unlisted_latest_falls_back_to_the_store(
    tmp_path: Path, remote_store: Store, versions: dict[str, str], remote_import: Callable[..., ModuleType]
) -> None:
    path = lock_file(tmp_path, remote_store, {"Greeter": versions["v1"]}, unlisted="latest")
    namespace = remote_import(remote_store, lock=path)
    assert namespace.Greeter().greet() == "hello" and namespace.Counter.first == 1
    assert dir(namespace) == ["Counter", "Greeter"]


def test_the_lock_must_name_the_store_the_namespace_serves(
    tmp_path: Path, remote_store: Store, versions: dict[str, str], remote_import: Callable[..., ModuleType]
) -> None:
    path = lock_file(tmp_path, remote_store, {"Greeter": versions["v1"]})
    other = Store(tmp_path / "other-store")
    with pytest.raises(LockError, match=r"pins versions in the store .* but the namespace 'labchain_remote' serves"):
        remote_import(other, lock=path)
    assert "labchain_remote" not in remoteimport.hook.installed()


def test_the_ambient_lock_is_found_in_the_working_directory_or_the_environment(
    tmp_path: Path,
    remote_store: Store,
    versions: dict[str, str],
    remote_import: Callable[..., ModuleType],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REMOTEIMPORT_LOCK", raising=False)
    lock_file(tmp_path, remote_store, {"Greeter": versions["v1"]})
    monkeypatch.chdir(tmp_path)
    assert remote_import(remote_store, lock=None).Greeter().greet() == "hello"
    assert remote_import(remote_store, lock=False).Greeter().greet() == "hi"  # lock=False: no lock

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert find_lock("labchain_remote") is None
    monkeypatch.setenv("REMOTEIMPORT_LOCK", str(tmp_path / "remoteimport.lock"))
    assert remote_import(remote_store, lock=None).Greeter().greet() == "hello"
    assert find_lock("another_namespace") is None  # a lock applies to the namespace it names
    monkeypatch.setenv("REMOTEIMPORT_LOCK", str(tmp_path / "missing.lock"))
    with pytest.raises(LockError, match="no lock file .*unset \\$REMOTEIMPORT_LOCK"):
        remote_import(remote_store, lock=None)


def test_a_deeply_nested_lock_is_a_lock_error_naming_the_file(
    tmp_path: Path,
    remote_store: Store,
    versions: dict[str, str],
    remote_import: Callable[..., ModuleType],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """tomllib parses nested arrays recursively: a lock nesting them deeply raised RecursionError."""
    path = tmp_path / "remoteimport.lock"
    depth = 100_000
    path.write_text(f"version = 1\nstore = {json.dumps(remote_store.url)}\nunlisted = {'[' * depth}{']' * depth}\n")
    monkeypatch.delenv("REMOTEIMPORT_LOCK", raising=False)
    monkeypatch.chdir(tmp_path)

    with pytest.raises(LockError, match="nests arrays or tables too deeply") as raised:
        read_lock(path)
    assert str(path) in str(raised.value)
    with pytest.raises(LockError, match="too deeply"):  # the ambient lock of an import
        remote_import(remote_store, lock=None)
    (tmp_path / "script.py").write_text("print('the script ran')\n")
    assert main(["run", "--store", remote_store.url, "script.py"]) != 0  # `remoteimport run`
    captured = capsys.readouterr()
    assert "too deeply" in captured.err and str(path) in captured.err and "the script ran" not in captured.out


# -- across interpreters ---------------------------------------------------------------------------------


def test_a_fresh_interpreter_imports_the_pinned_version(
    tmp_path: Path, remote_store: Store, versions: dict[str, str], isolated_python: Callable[..., Any]
) -> None:
    path = tmp_path / "remoteimport.lock"
    update_lock(["Greeter", "Counter"], path=path, store=remote_store)  # pins v2
    remoteimport.rollback("Greeter", versions["v1"], store=remote_store)  # latest is v1 now
    lock_text = path.read_text()
    check = """
        from labchain_remote import Greeter
        import labchain_remote
        try:
            labchain_remote.Unlisted
        except ImportError as error:
            unlisted = type(error).__name__
        result = [Greeter().greet(), unlisted]
    """
    # The lock in the working directory, found by install() ...
    assert isolated_python(check, files={"remoteimport.lock": lock_text}) == ["hi", "LockError"]
    # ... or named by $REMOTEIMPORT_LOCK, with the zero-code start-up hook serving the namespace.
    assert isolated_python(check, install=False, env={"REMOTEIMPORT_LOCK": str(path)}) == ["hi", "LockError"]
    # Without the lock, the same import follows latest.
    assert isolated_python("from labchain_remote import Greeter\nresult = Greeter().greet()") == "hello"
