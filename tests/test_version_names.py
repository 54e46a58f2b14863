"""One way to name a version, everywhere (issue 25): after ``@``, a full hash, 8+ hex digits, a tag or ``latest``,
resolved by the one resolver (``Store.resolve_version``) in every command, import, config and lock (the web view's
URLs: tests/test_ui.py). A name that matches nothing says what was looked for and what there is.

In-process (``main([...])``) on a temporary folder store; ``doctor`` loads one version in a fresh interpreter.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from sample_classes import greeter

import remoteimport
from remoteimport import registry
from remoteimport.cli import main
from remoteimport.doctor import doctor
from remoteimport.errors import InvalidNameError, LockError, TagNotFoundError, VersionNotFoundError
from remoteimport.lock import Lock, read_lock, update_lock
from remoteimport.names import LATEST, parse_reference, validate_tag, validate_version
from remoteimport.signing import generate_key
from remoteimport.store import Store


@pytest.fixture
def versions(remote_store: Store) -> dict[str, str]:
    """Greeter v1 (tagged prod) then v2 (latest, tagged staging): ``{"v1": hash, "v2": hash}``."""
    found = {
        "v1": remoteimport.push(greeter("hello"), store=remote_store, name="Greeter"),
        "v2": remoteimport.push(greeter("hi"), store=remote_store, name="Greeter"),
    }
    registry.tag("Greeter", found["v1"], "prod", store=remote_store)
    registry.tag("Greeter", found["v2"], "staging", store=remote_store)
    return found


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def absent_prefix(*hashes: str) -> str:
    """Eight hex digits no version starts with."""
    return next(digit * 8 for digit in "0123456789abcdef" if not any(h.startswith(digit * 8) for h in hashes))


def test_latest_is_a_version_and_never_a_tag() -> None:
    assert validate_version("latest") == LATEST == parse_reference("ns.MyFilter@latest").version
    with pytest.raises(InvalidNameError, match="reserved"):
        validate_tag("latest")
    with pytest.raises(InvalidNameError):
        validate_version("Latest.1")


def test_the_resolver_takes_a_hash_a_prefix_a_tag_or_latest(remote_store: Store, versions: dict[str, str]) -> None:
    v1, v2 = versions["v1"], versions["v2"]
    names = {v1: v1, v1[:8].upper(): v1, "prod": v1, "staging": v2, "latest": v2, None: v2}
    for version, expected in names.items():
        assert remote_store.resolve_version("Greeter", version) == expected, version


def test_a_version_that_is_not_there_is_named_with_what_there_is(remote_store: Store, versions: dict[str, str]) -> None:
    listed = ", ".join(sorted(full[:12] for full in versions.values()))
    missing = {"nothere1": TagNotFoundError, absent_prefix(*versions.values()): VersionNotFoundError}
    for looked_for, error in missing.items():
        with pytest.raises(error) as caught:
            remote_store.resolve_version("Greeter", looked_for)
        assert str(caught.value) == (
            f"no version or tag {looked_for!r} of Greeter in the store {remote_store.url} "
            f"(versions: {listed}; tags: prod, staging)"
        )
    with pytest.raises(remoteimport.NameNotFoundError):  # an unknown class is named as such, @latest too
        remote_store.resolve_version("Nobody", "latest")


def test_every_command_takes_a_tag_a_prefix_or_latest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, remote_store: Store, versions: dict[str, str]
) -> None:
    store = ["--store", remote_store.url]
    v1, v2 = versions["v1"], versions["v2"]

    code, out, err = run_main(capsys, "diff", "Greeter@prod", "Greeter@staging", *store)
    assert code == 0, err
    assert out.splitlines()[0] == f"Greeter@{v1[:12]} (a) -> Greeter@{v2[:12]} (b) in the store {remote_store.url}"
    code, out, err = run_main(capsys, "diff", f"Greeter@{v1[:8]}", "Greeter@latest", "--json", *store)
    assert code == 0 and (json.loads(out)["a"], json.loads(out)["b"]) == (v1, v2), err

    code, out, err = run_main(capsys, "show", "Greeter@latest", *store)
    assert code == 0 and f"{v2}  (latest)" in out, err
    code, out, err = run_main(capsys, "show", "Greeter@prod", "--json", *store)
    assert code == 0 and json.loads(out)["header"]["hash"] == v1 and json.loads(out)["latest"] is False, err

    code, out, err = run_main(capsys, "rollback", "Greeter", "prod", *store)
    assert code == 0 and f"Greeter latest is now {v1}" in out, err
    code, out, err = run_main(capsys, "rollback", "Greeter@staging", *store)
    assert code == 0 and remote_store.latest("Greeter") == v2, err
    code, out, err = run_main(capsys, "rollback", "Greeter@staging", "prod", *store)
    assert code == 1 and "Give it once" in err

    code, out, err = run_main(capsys, "tag", "Greeter@latest", "stable", *store)
    assert code == 0 and remote_store.tags("Greeter")["stable"] == v2, err
    code, out, err = run_main(capsys, "tag", "Greeter@prod", "golden", *store)
    assert code == 0 and remote_store.tags("Greeter")["golden"] == v1, err

    other = tmp_path / "other"
    code, out, err = run_main(capsys, "promote", "Greeter@prod", "--to", str(other), "--latest", *store)
    assert code == 0 and Store(other).latest("Greeter") == v1, err

    code, out, err = run_main(capsys, "delete", "Greeter@latest", *store)  # resolved, then refused: in use
    assert code == 1 and f"refusing to delete Greeter@{v2}" in err

    key = tmp_path / "keys" / "publisher"
    generate_key(key)
    code, out, err = run_main(capsys, "sign", "Greeter@prod", "--key", str(key), *store)
    assert code == 0 and out.startswith(f"Greeter@{v1[:12]}  left as it is: unsigned"), err

    lock = tmp_path / "remoteimport.lock"
    code, out, err = run_main(capsys, "lock", "Greeter@latest", "--lock", str(lock), *store)
    assert code == 0 and read_lock(lock).pins == {"Greeter": v2}, err

    [health] = doctor(remote_store.url, "Greeter", "prod")
    assert (health.hash, health.state) == (v1, "healthy")


def test_a_typo_names_what_was_looked_for_in_every_command(
    capsys: pytest.CaptureFixture[str], remote_store: Store, versions: dict[str, str]
) -> None:
    store = ["--store", remote_store.url]
    expected = f"no version or tag 'nothere1' of Greeter in the store {remote_store.url} (versions: "
    for command in (
        ["show", "Greeter@nothere1"],
        ["diff", "Greeter@prod", "Greeter@nothere1"],
        ["rollback", "Greeter", "nothere1"],
        ["tag", "Greeter@nothere1", "other"],
        ["delete", "Greeter@nothere1"],
        ["promote", "Greeter@nothere1", "--to", remote_store.url + "-elsewhere"],
        ["lock", "Greeter@nothere1", "--lock", remote_store.url + ".lock"],
    ):
        code, out, err = run_main(capsys, *command, *store)
        assert code == 1 and err.startswith(f"remoteimport: error: {expected}"), (command, err)
        assert "tags: prod, staging)" in err and "remoteimport tag" not in err, err
    assert remote_store.latest("Greeter") == versions["v2"] and sorted(remote_store.tags("Greeter")) == [
        "prod",
        "staging",
    ]


def test_imports_configs_and_locks_take_latest_and_locks_keep_full_hashes(
    tmp_path: Path, remote_store: Store, versions: dict[str, str], remote_import: Callable[..., ModuleType]
) -> None:
    v2 = versions["v2"]
    config = {"clazz": "labchain_remote.Greeter@latest", "params": {}}
    assert remoteimport.build(config, store=remote_store).greet() == "hi"  # no hook: from the given store
    remote_import(remote_store)
    module = importlib.import_module("labchain_remote.Greeter@latest")
    assert module is importlib.import_module(f"labchain_remote.Greeter@{v2}")  # an alias, like a tag's
    assert module.Greeter.__module__ == f"labchain_remote.Greeter@{v2}"  # so dump writes the full hash
    assert remoteimport.build(config).greet() == "hi"  # through the hook

    lock, changes = update_lock(["Greeter@latest"], path=tmp_path / "remoteimport.lock", store=remote_store)
    assert lock.pins == {"Greeter": v2} and changes == {"Greeter": (None, v2)}
    assert f'Greeter = "{v2}"' in (tmp_path / "remoteimport.lock").read_text()
    with pytest.raises(LockError, match="invalid pin"):  # a lock names versions by full hash only
        Lock(store=remote_store.url, pins={"Greeter": "latest"})
