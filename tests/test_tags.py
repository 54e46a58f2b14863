"""Tests for version tags: ``remoteimport tag NAME@HASH TAG`` / ``untag``, ``labchain_remote.Name@TAG``.

The rule (remoteimport.names): a tag is 1-64 of ``[A-Za-z0-9_-]``, starts with a letter and is never all hex
digits, so no text is both a tag and a hash prefix. In-process on a temporary folder store; one test imports
by tag in a fresh interpreter after the producer's source is deleted.
"""

from __future__ import annotations

import importlib
import json
import string
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from e2e.support import delete, run_consumer, run_producer, write_files
from hypothesis import example, given
from hypothesis import strategies as st
from sample_classes import greeter

import remoteimport
from remoteimport import registry
from remoteimport.cli import main
from remoteimport.errors import (
    IntegrityError,
    InvalidNameError,
    TagExistsError,
    TagNotFoundError,
    VersionNotFoundError,
)
from remoteimport.lock import update_lock
from remoteimport.names import (
    HASH_LENGTH,
    MIN_PREFIX,
    Reference,
    format_reference,
    is_hash_like,
    parse_reference,
    split_versioned,
    validate_hash,
    validate_tag,
)
from remoteimport.store import Store, Version


@pytest.fixture
def versions(remote_store: Store) -> dict[str, str]:
    """Greeter v1 then v2 (latest): ``{"v1": hash, "v2": hash}``."""
    return {
        "v1": remoteimport.push(greeter("hello"), store=remote_store, name="Greeter"),
        "v2": remoteimport.push(greeter("hi"), store=remote_store, name="Greeter"),
    }


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- the rule ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["prod", "v2", "v2-rc1", "Stable_2024", "x", "g" * 64, "release-candidate"])
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag and not is_hash_like(tag)


@pytest.mark.parametrize("tag", ["deadbeef", "ABCDEF12", "abc", "a", "Ab12", "0123abcd" * 8])
def test_hash_like_tags_are_refused_with_the_reason(tag: str) -> None:
    with pytest.raises(InvalidNameError, match="all hex digits, so it would read as a hash prefix"):
        validate_tag(tag)


@pytest.mark.parametrize(
    "tag", ["", "1prod", "-x", "_x", "v1.2", "a/b", "..", "a b", "prod\n", "g" * 65, "café", "a@b", None, 3]
)
def test_malformed_tags_are_refused_with_the_rule(tag: object) -> None:
    with pytest.raises(InvalidNameError, match="starting with a letter"):
        validate_tag(tag)


def test_latest_is_reserved() -> None:
    with pytest.raises(InvalidNameError, match="reserved"):
        validate_tag("latest")


def test_references_with_tags() -> None:
    assert split_versioned("MyFilter@prod") == ("MyFilter", "prod")
    assert split_versioned("MyFilter@DEADBEEF") == ("MyFilter", "deadbeef")  # a prefix, lowercased
    assert parse_reference("team.models.MyFilter@v2-rc1") == Reference("team.models", "MyFilter", "v2-rc1")
    assert split_versioned("MyFilter@latest") == ("MyFilter", "latest")  # the latest pointer, never a tag
    for bad in ("MyFilter@v1.2", "MyFilter@../x", "MyFilter@1prod", "MyFilter@abc", "MyFilter@Latest@x"):
        with pytest.raises(InvalidNameError):
            split_versioned(bad)
    with pytest.raises(InvalidNameError, match="expected a hash .* or a tag"):
        parse_reference("ns.X@-prod")


tag_alphabet = string.ascii_letters + string.digits + "_-"
tags = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,63}", fullmatch=True)
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,40}", fullmatch=True)
namespaces = st.lists(names, min_size=1, max_size=3).map(".".join)


def _accepted(validate: Callable[[str], str], text: str) -> bool:
    try:
        validate(text)
    except InvalidNameError:
        return False
    return True


@given(st.text(tag_alphabet, max_size=70) | st.text("0123456789abcdefABCDEF", max_size=70) | tags)
@example("deadbeef")
@example("ABCDEF12")
@example("abcdefg1")
def test_no_text_is_both_a_tag_and_a_hash_prefix(text: str) -> None:
    as_tag, as_hash = _accepted(validate_tag, text), _accepted(validate_hash, text)
    assert not (as_tag and as_hash)
    if as_tag:
        assert not is_hash_like(text)
    if as_hash:
        assert is_hash_like(text) and MIN_PREFIX <= len(text) <= HASH_LENGTH


@given(namespaces, names, tags)
def test_tag_references_round_trip(namespace: str, name: str, tag: str) -> None:
    if not _accepted(validate_tag, tag):
        with pytest.raises(InvalidNameError):
            parse_reference(format_reference(namespace, name, tag))
        return
    parsed = parse_reference(format_reference(namespace, name, tag))
    assert parsed == Reference(namespace, name, tag) and not is_hash_like(parsed.version)
    assert format_reference(*parsed) == format_reference(namespace, name, tag)


# -- tag, untag, history -----------------------------------------------------------------------------------


def test_tag_untag_and_move_with_force(remote_store: Store, versions: dict[str, str]) -> None:
    v1, v2 = versions["v1"], versions["v2"]
    assert registry.tag("Greeter", v1[:8], "prod", store=remote_store) == v1
    assert registry.tag("Greeter", v1, "prod", store=remote_store) == v1  # the same version again: no change
    assert remote_store.tags("Greeter") == {"prod": v1}
    assert (Path(remote_store.root) / "refs" / "Greeter" / "tags" / "prod").read_text() == v1
    with pytest.raises(TagExistsError, match=r"already points at .*--force"):
        registry.tag("Greeter", v2, "prod", store=remote_store)
    assert remote_store.tag_target("Greeter", "prod") == v1  # nothing changed
    assert registry.tag("Greeter", v2[:10], "prod", store=remote_store, force=True) == v2
    assert registry.tag("Greeter", v1, "staging", store=remote_store) == v1
    assert registry.tags("Greeter", store=remote_store) == {"prod": v2, "staging": v1}
    assert remote_store.latest("Greeter") == v2  # tags never move latest

    assert registry.untag("Greeter", "prod", store=remote_store) == v2
    assert remote_store.tags("Greeter") == {"staging": v1}
    assert remote_store.blob_hashes("Greeter") == sorted([v1, v2])  # the version stays
    with pytest.raises(TagNotFoundError, match=r"no tag 'prod' .*its tags: staging"):
        registry.untag("Greeter", "prod", store=remote_store)

    history = registry.versions("Greeter", store=remote_store)
    assert [(entry.action, entry.tag, entry.hash) for entry in history] == [
        ("untag", "prod", v2),
        ("tag", "staging", v1),
        ("tag", "prod", v2),
        ("tag", "prod", v1),
        ("push", None, v2),
        ("push", None, v1),
    ]


def test_hash_like_tags_and_unknown_versions_are_refused_before_anything_changes(
    remote_store: Store, versions: dict[str, str]
) -> None:
    for tag in ("deadbeef", "ABCDEF12"):
        with pytest.raises(InvalidNameError, match="hash prefix"):
            registry.tag("Greeter", versions["v1"], tag, store=remote_store)
    with pytest.raises(VersionNotFoundError):
        registry.tag("Greeter", "ff" * 32, "prod", store=remote_store)
    with pytest.raises(TagNotFoundError, match="no version or tag 'prod' of Greeter"):
        registry.tag("Greeter", "prod", "other", store=remote_store)  # a version may be a tag: there is none
    with pytest.raises(InvalidNameError):
        registry.tag("Greeter", "v1.2", "other", store=remote_store)  # neither a hash nor a tag
    assert remote_store.tags("Greeter") == {}
    assert [entry.action for entry in registry.versions("Greeter", store=remote_store)] == ["push", "push"]


def test_neither_hash_nor_tag_is_refused_before_any_storage_access(forbidden_store: Store) -> None:
    for version in ("9zzzzzzz", "-prod", "v1.2", "abc"):
        with pytest.raises(InvalidNameError, match="invalid hash"):
            forbidden_store.resolve_version("MyFilter", version)
    with pytest.raises(InvalidNameError, match="invalid hash"):
        forbidden_store.resolve("MyFilter", "prod")  # the hash API stays hash-only
    assert forbidden_store.fs.calls == []  # type: ignore[attr-defined]


def test_history_entries_without_a_tag_keep_their_shape() -> None:
    old = {"name": "X", "hash": "ab" * 32, "time": 1.0, "python": "3.11", "action": "push"}
    assert Version.from_json(old).tag is None
    assert Version.from_json(old).to_json() == old  # no "tag" key for old readers
    tagged = Version("X", "ab" * 32, 1.0, "3.11", action="tag", tag="prod")
    assert tagged.to_json()["tag"] == "prod" and Version.from_json(tagged.to_json()) == tagged


def test_a_damaged_tag_ref_is_an_integrity_error_naming_the_file(remote_store: Store, versions: dict[str, str]) -> None:
    registry.tag("Greeter", versions["v1"], "prod", store=remote_store)
    ref = Path(remote_store.root) / "refs" / "Greeter" / "tags" / "prod"
    ref.write_bytes(b"SECRET=hunter2\n" * 4)
    for read in (
        lambda: remote_store.tag_target("Greeter", "prod"),
        lambda: remote_store.tags("Greeter"),
        lambda: remote_store.resolve_version("Greeter", "prod"),
    ):
        with pytest.raises(IntegrityError) as caught:
            read()
        message = str(caught.value)
        assert str(ref) in message and "hunter2" not in message
        assert "remoteimport tag Greeter@HASH prod --force" in message
    ref.write_text(versions["v2"][:20])  # a prefix is not a full hash
    with pytest.raises(IntegrityError, match="does not hold a full hash"):
        remote_store.tag_target("Greeter", "prod")
    with pytest.raises(IntegrityError):
        registry.tag("Greeter", versions["v2"], "prod", store=remote_store)  # without --force: refused
    assert registry.tag("Greeter", versions["v2"], "prod", store=remote_store, force=True) == versions["v2"]
    assert remote_store.tags("Greeter") == {"prod": versions["v2"]}  # repaired as the message says


def test_stray_files_in_the_tags_folder_are_not_tags(remote_store: Store, versions: dict[str, str]) -> None:
    registry.tag("Greeter", versions["v1"], "prod", store=remote_store)
    folder = Path(remote_store.root) / "refs" / "Greeter" / "tags"
    (folder / ".DS_Store").write_bytes(b"junk")
    (folder / ".tmp-abc123").write_bytes(b"half")
    assert remote_store.tags("Greeter") == {"prod": versions["v1"]}


# -- imports, configs, locks -------------------------------------------------------------------------------


def test_import_by_tag_aliases_the_full_hash_module(
    remote_store: Store, versions: dict[str, str], remote_import: Callable[..., ModuleType]
) -> None:
    registry.tag("Greeter", versions["v1"], "prod", store=remote_store)
    remote_import(remote_store)
    tagged = importlib.import_module("labchain_remote.Greeter@prod")
    exact = importlib.import_module(f"labchain_remote.Greeter@{versions['v1']}")
    assert tagged is exact and tagged.Greeter().greet() == "hello"
    assert tagged.Greeter.__module__ == f"labchain_remote.Greeter@{versions['v1']}"  # dump writes full hashes
    with pytest.raises(TagNotFoundError, match="no version or tag 'nightly' of Greeter"):
        importlib.import_module("labchain_remote.Greeter@nightly")


def test_configs_build_a_tagged_class(
    remote_store: Store, versions: dict[str, str], remote_import: Callable[..., ModuleType]
) -> None:
    registry.tag("Greeter", versions["v1"], "prod", store=remote_store)
    # without a hook: from the given store
    built = remoteimport.build({"clazz": "labchain_remote.Greeter@prod", "params": {}}, store=remote_store)
    assert built.greet() == "hello"
    remote_import(remote_store)  # through the hook
    built = remoteimport.build({"clazz": "labchain_remote.Greeter@prod", "params": {}})
    assert built.greet() == "hello"
    assert remoteimport.dump(built)["clazz"] == f"labchain_remote.Greeter@{versions['v1']}"


def test_a_lock_resolves_a_tag_to_its_full_hash(tmp_path: Path, remote_store: Store, versions: dict[str, str]) -> None:
    registry.tag("Greeter", versions["v1"], "prod", store=remote_store)
    path = tmp_path / "remoteimport.lock"
    lock, changes = update_lock(["Greeter@prod"], path=path, store=remote_store)
    assert lock.pins == {"Greeter": versions["v1"]} and changes == {"Greeter": (None, versions["v1"])}
    assert f'Greeter = "{versions["v1"]}"' in path.read_text() and "prod" not in path.read_text()
    lock, _ = update_lock(["Greeter"], path=path, store=remote_store)  # a plain name keeps the pin
    assert lock.pins == {"Greeter": versions["v1"]}


def test_a_fresh_interpreter_imports_the_tagged_version(tmp_path: Path, remote_store: Store) -> None:
    producer = write_files(
        tmp_path / "producer",
        {
            "shapes.py": """
                class Shape:
                    sides = 3

                    def describe(self):
                        return f"{self.sides} sides"
            """,
            "producer.py": """
                import json, sys
                import remoteimport
                from shapes import Shape

                store = remoteimport.Store(sys.argv[1])
                first = remoteimport.push(Shape, store=store)
                remoteimport.tag("Shape", first[:8], "prod", store=store)
                Shape.sides = 4  # another version becomes the latest
                second = remoteimport.push(Shape, store=store)
                print(json.dumps({"prod": first, "latest": second}))
            """,
        },
    )
    pushed = run_producer(producer, remote_store.url)
    assert pushed["prod"] != pushed["latest"]
    delete(producer)
    out = run_consumer(
        tmp_path / "consumer",
        remote_store.url,
        """
        module = importlib.import_module("labchain_remote.Shape@prod")
        from labchain_remote import Shape
        out["prod"] = module.Shape().describe()
        out["module"] = module.Shape.__module__
        out["latest"] = Shape().describe()
        print(json.dumps(out))
        """,
    )
    assert out == {"prod": "3 sides", "module": f"labchain_remote.Shape@{pushed['prod']}", "latest": "4 sides"}


# -- the command line --------------------------------------------------------------------------------------


def test_the_tag_and_untag_commands(
    capsys: pytest.CaptureFixture[str], remote_store: Store, versions: dict[str, str]
) -> None:
    store = ["--store", remote_store.url]
    v1, v2 = versions["v1"], versions["v2"]
    code, out, err = run_main(capsys, "tag", f"Greeter@{v1[:8]}", "prod", *store)
    assert code == 0, err
    assert f"Greeter@prod is now {v1}" in out

    code, out, err = run_main(capsys, "tag", f"Greeter@{v2[:8]}", "prod", *store)
    assert code == 1 and "already points at" in err and "--force" in err
    code, out, err = run_main(capsys, "tag", f"Greeter@{v2[:8]}", "prod", "--force", "--json", *store)
    assert code == 0, err
    assert json.loads(out) == {"name": "Greeter", "tag": "prod", "hash": v2, "store": remote_store.url}

    code, out, err = run_main(capsys, "tag", f"Greeter@{v1[:8]}", "deadbeef", *store)
    assert code == 1 and "would read as a hash prefix" in err
    code, out, err = run_main(capsys, "tag", "Greeter", "prod", *store)
    assert code == 1 and "Give NAME@VERSION" in err

    code, out, err = run_main(capsys, "log", "Greeter", *store)
    assert code == 0, err
    # newest first, after the heading rows; HASH, TIME (3 words), PYTHON, then ACTION and its tag
    actions = [line.split()[5:7] for line in out.splitlines()[2:4]]
    assert actions == [["tag", "prod"], ["tag", "prod"]]
    assert out.count("push") == 2

    code, out, err = run_main(capsys, "show", "Greeter@prod", *store)
    assert code == 0 and v2 in out, err

    code, out, err = run_main(capsys, "untag", "Greeter", "prod", *store)
    assert code == 0 and f"it pointed at {v2}" in out, err
    code, out, err = run_main(capsys, "untag", "Greeter", "prod", *store)
    assert code == 1 and "no tag 'prod'" in err
    code, out, err = run_main(capsys, "log", "Greeter", "--json", *store)
    assert [(entry["action"], entry.get("tag")) for entry in json.loads(out)["versions"]][:1] == [("untag", "prod")]


def test_the_lock_command_pins_a_tag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, remote_store: Store, versions: dict[str, str]
) -> None:
    registry.tag("Greeter", versions["v1"], "prod", store=remote_store)
    path = tmp_path / "prod.lock"
    code, out, err = run_main(capsys, "lock", "Greeter@prod", "--lock", str(path), "--store", remote_store.url)
    assert code == 0, err
    assert f'Greeter = "{versions["v1"]}"' in path.read_text()
