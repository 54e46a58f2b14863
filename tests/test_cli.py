"""The `remoteimport` command: as a subprocess (`python -m remoteimport`, like a user) and in-process via main()."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import remoteimport
from remoteimport.cli import main

HEX = set("0123456789abcdef")


def run_cli(*args: str, store: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m remoteimport ARGS` with $REMOTEIMPORT_STORE pointing at ``store``."""
    env = {**os.environ, "REMOTEIMPORT_STORE": str(store)}
    return subprocess.run(
        [sys.executable, "-m", "remoteimport", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def write_scaler(folder: Path, module: str = "scaler_mod", factor: int = 2) -> Path:
    """A class using a module-level helper from a sibling module (so file targets need their directory)."""
    write(folder / f"{module}_helper.py", f"def scale(x):\n    return {factor} * x\n")
    return write(
        folder / f"{module}.py",
        f"""\
        from {module}_helper import scale


        class Scaler:
            offset = 1

            def apply(self, x):
                return scale(x) + self.offset
        """,
    )


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


# ---------------------------------------------------------------------------------------------------------
# push


def test_push_module_target_reports_new_then_unchanged(tmp_path, store):
    project = tmp_path / "project"
    write_scaler(project, "pushmod_scaler")

    first = run_cli("push", "pushmod_scaler:Scaler", store=store, cwd=project)
    assert first.returncode == 0, first.stderr
    assert "pushed Scaler " in first.stdout and "new: the first version of Scaler" in first.stdout
    full_hash = first.stdout.split()[2]
    assert len(full_hash) == 64 and set(full_hash) <= HEX
    assert str(store) in first.stdout

    again = run_cli("push", "pushmod_scaler:Scaler", "--json", store=store, cwd=project)
    assert again.returncode == 0, again.stderr
    document = json.loads(again.stdout)
    assert document == {
        "name": "Scaler",
        "hash": full_hash,
        "result": "unchanged",
        "previous": full_hash,
        "store": str(store),
        "detail": "",
        "message": None,
    }


def test_push_file_target_loads_siblings_and_leaves_the_process_clean(tmp_path, store, capsys):
    path = write_scaler(tmp_path / "src", "filemod_scaler")
    saved_path = list(sys.path)

    code, out, err = run_main(capsys, "push", f"{path}:Scaler", "--name", "FileScaler", "--store", str(store))

    assert code == 0, err
    assert out.startswith("pushed FileScaler ") and "new" in out
    assert "filemod_scaler" not in sys.modules and sys.path == saved_path
    assert remoteimport.Store(store).names() == ["FileScaler"]


def test_push_several_targets_imports_all_before_pushing_any(tmp_path, store, capsys):
    first = write_scaler(tmp_path / "src", "many_scaler")
    second = write(tmp_path / "src" / "many_other.py", "class Other:\n    def run(self):\n        return 1\n")

    code, out, err = run_main(capsys, "push", f"{first}:Scaler", f"{second}:Other", "--store", str(store), "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["store"] == str(store)
    assert [(pushed["name"], pushed["result"]) for pushed in document["pushed"]] == [
        ("Scaler", "new"),
        ("Other", "new"),
    ]
    assert remoteimport.Store(store).names() == ["Other", "Scaler"]

    broken = write(tmp_path / "src" / "many_broken.py", "class Broken(:\n    pass\n")
    code, out, err = run_main(capsys, "push", f"{second}:Other", f"{broken}:Broken", "--store", str(store))
    assert code == 1 and "many_broken" in err and out == ""  # the first TARGET was not pushed either
    assert remoteimport.Store(store).names() == ["Other", "Scaler"]

    code, _, err = run_main(capsys, "push", f"{first}:Scaler", f"{second}:Other", "--name", "X", "--store", str(store))
    assert code == 1 and "--name X names one class, but 2 TARGETs were given" in err


def test_pushed_class_imports_from_the_store(tmp_path, store):
    path = write_scaler(tmp_path / "src", "importmod_scaler", factor=5)
    assert run_cli("push", f"{path}:Scaler", store=store).returncode == 0
    code = (
        f"import remoteimport; remoteimport.install({str(store)!r})\n"
        "from labchain_remote import Scaler; print(Scaler().apply(2))"
    )
    child = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert child.stdout.strip() == "11", child.stderr


# ---------------------------------------------------------------------------------------------------------
# ls, log, show


def two_versions(tmp_path: Path, store: Path, capsys) -> tuple[str, str]:
    """Push two different classes under one name (no file editing, so in-process hashing sees fresh source)."""
    hashes = []
    for version in (1, 2):
        path = write(
            tmp_path / f"thing_v{version}.py",
            f'''\
            class Thing:
                """Version {version}."""

                version = {version}

                def describe(self):
                    return "thing v" + str(self.version)
            ''',
        )
        code, out, err = run_main(capsys, "--store", str(store), "push", f"{path}:Thing", "--json")
        assert code == 0, err
        hashes.append(json.loads(out)["hash"])
    assert hashes[0] != hashes[1]
    return hashes[0], hashes[1]


def test_ls_log_and_show_as_text_and_json(tmp_path, store, capsys):
    first, second = two_versions(tmp_path, store, capsys)

    code, out, _ = run_main(capsys, "ls", "--store", str(store))
    assert code == 0
    assert out.splitlines()[1].split() == ["NAME", "LATEST", "TIME", "PYTHON", "SIGNER", "BY"]  # no tags: no TAGS
    assert out.splitlines()[2].split()[:2] == ["Thing", second[:12]]
    code, out, _ = run_main(capsys, "--json", "ls", "--store", str(store))
    document = json.loads(out)
    assert document["store"] == str(store)
    assert [(c["name"], c["latest"]) for c in document["classes"]] == [("Thing", second)]
    # when the latest version was pushed: ISO 8601 in UTC for programs, the table's text beside it
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", document["classes"][0]["time"])
    assert document["classes"][0]["time_utc"] == document["classes"][0]["time"][:19].replace("T", " ") + " UTC"

    code, out, _ = run_main(capsys, "log", "Thing", "--store", str(store))
    rows = [line.split() for line in out.splitlines()[2:]]
    assert [row[0] for row in rows] == [second[:12], first[:12]]  # newest first
    assert all(row[3] == "UTC" and row[5] == "push" and row[-1] == "-" for row in rows)  # ACTION, then BY, MESSAGE
    code, out, _ = run_main(capsys, "log", "Thing", "--store", str(store), "--json")
    versions = json.loads(out)["versions"]
    assert [v["hash"] for v in versions] == [second, first]
    assert versions[0]["python"] == "{}.{}".format(*sys.version_info[:2]) and versions[0]["action"] == "push"

    code, out, err = run_main(capsys, "show", "Thing", "--store", str(store))
    assert code == 0, err
    assert f"hash:           {second}  (latest)" in out
    assert "payload digest: OK" in out and "signature:      unsigned" in out
    assert "original:       thing_v2:Thing" in out
    assert "version = 2" in out  # the shipped source

    code, out, err = run_main(capsys, "show", f"Thing@{first[:8]}", "--json", "--store", str(store))
    assert code == 0, err
    document = json.loads(out)
    assert document["payload_digest"] == "OK" and document["latest"] is False
    header = document["header"]
    assert (header["name"], header["hash"], header["qualname"], header["module"]) == (
        "Thing",
        first,
        "Thing",
        "thing_v1",
    )
    assert header["signature"] is None and header["payload_size"] > 0 and len(header["payload_sha256"]) == 64
    assert any("version = 1" in text for text in header["source"].values())


def test_ls_on_an_empty_store_says_how_to_start(store, capsys):
    store.mkdir()  # an existing empty store (a missing one is an error: tests/test_cli_lifecycle.py)
    code, out, _ = run_main(capsys, "ls", "--store", str(store))
    assert code == 0 and "no classes" in out and "remoteimport push" in out


def test_show_detects_a_corrupt_blob(tmp_path, store, capsys):
    first, _ = two_versions(tmp_path, store, capsys)
    blob = Path(remoteimport.Store(store).blob_path("Thing", first))
    blob.write_bytes(blob.read_bytes()[:-1] + b"X")
    code, _, err = run_main(capsys, "show", f"Thing@{first}", "--store", str(store))
    assert code == 1 and "sha256" in err and "Traceback" not in err


# ---------------------------------------------------------------------------------------------------------
# status, hash, rollback


def test_status_goes_untracked_synced_out_of_sync(tmp_path, store):
    project = tmp_path / "project"
    write_scaler(project, "statusmod_scaler")
    target = "statusmod_scaler.py:Scaler"

    missing = run_cli("status", target, store=store, cwd=project)  # a mistyped --store: an error, as in `ls`
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr == (
        f"remoteimport: error: the store {store} does not exist (no such folder). Check --store or "
        "$REMOTEIMPORT_STORE; pushing a class creates a folder store.\n"
    )
    store.mkdir()  # an existing empty store: never pushed there
    untracked = run_cli("status", target, "--json", store=store, cwd=project)
    assert untracked.returncode == 0, untracked.stderr
    assert json.loads(untracked.stdout)["status"] == "untracked"
    assert run_cli("status", target, "--exit-code", store=store, cwd=project).returncode == 3  # for CI
    pushed = run_cli("push", target, "--json", store=store, cwd=project)
    full_hash = json.loads(pushed.stdout)["hash"]
    synced = run_cli("status", target, "--exit-code", store=store, cwd=project)
    assert synced.returncode == 0 and synced.stdout.startswith("Scaler: synced") and full_hash in synced.stdout

    write_scaler(project, "statusmod_scaler", factor=3)  # edits the sibling helper the method uses
    changed = run_cli("status", target, "--json", "--exit-code", store=store, cwd=project)
    assert changed.returncode == 3, changed.stderr
    document = json.loads(changed.stdout)
    assert document["status"] == "out_of_sync"
    assert document["latest"] == full_hash and document["local"] != full_hash


def test_hash_equals_class_hash_in_another_process(tmp_path, store):
    project = tmp_path / "project"
    write_scaler(project, "hashmod_scaler")
    printed = run_cli("hash", "hashmod_scaler:Scaler", store=store, cwd=project)
    assert printed.returncode == 0, printed.stderr
    code = "import remoteimport, hashmod_scaler; print(remoteimport.class_hash(hashmod_scaler.Scaler))"
    other = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True)
    assert printed.stdout.strip() == other.stdout.strip() and len(other.stdout.strip()) == 64, other.stderr
    assert not store.exists()  # `hash` never touches the store


def test_rollback_moves_latest_and_is_logged(tmp_path, store, capsys):
    first, second = two_versions(tmp_path, store, capsys)

    code, out, err = run_main(capsys, "rollback", "Thing", first[:8], "--store", str(store))
    assert code == 0, err
    assert first in out
    assert remoteimport.Store(store).latest("Thing") == first
    code, out, _ = run_main(capsys, "log", "Thing", "--store", str(store), "--json")
    assert [(v["hash"], v["action"]) for v in json.loads(out)["versions"]][0] == (first, "rollback")


# ---------------------------------------------------------------------------------------------------------
# quickstart


def test_quickstart_works_twice(tmp_path, store):
    first = run_cli("quickstart", "--store", str(store), store=tmp_path / "unused", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    lines = [line for line in first.stdout.splitlines() if line[:1].isdigit()]
    assert [line[:3] for line in lines] == ["1. ", "2. ", "3. ", "4. ", "5. "]
    assert "(new)" in lines[1] and str(store) in lines[1]
    assert lines[3].startswith("4. fresh interpreter") and lines[3].endswith("result 'Hello, world!'")
    assert "labchain_remote.QuickstartGreeter@" in first.stdout and "gave the same class" in first.stdout

    # a relative --store (overriding $REMOTEIMPORT_STORE) must still reach the child in its empty directory
    second = run_cli("quickstart", "--json", "--store", store.name, store=tmp_path / "elsewhere", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    document = json.loads(second.stdout)
    assert document["result"] == "unchanged"
    assert document["child"]["result"] == document["child"]["pinned_result"] == "Hello, world!"
    assert document["child"]["module"] == f"labchain_remote.QuickstartGreeter@{document['hash']}"
    assert document["child"]["pinned_is_latest"] is True
    assert not os.path.exists(document["source_deleted"])


def test_quickstart_refuses_a_store_other_processes_cannot_see(capsys):
    code, _, err = run_main(capsys, "quickstart", "--store", "memory://cli-quickstart")
    assert code == 1 and "exists only inside this process" in err


# ---------------------------------------------------------------------------------------------------------
# errors and help


def test_unknown_name_names_the_store_without_a_traceback(store):
    for command in (["log", "Nope"], ["show", "Nope"]):
        result = run_cli(*command, store=store)
        assert result.returncode == 1
        assert result.stderr.startswith("remoteimport: error: ") and str(store) in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["show", "../etc"], 1, "invalid class name"),
        (["show", "Thing@9xyz"], 1, "invalid hash"),
        (["rollback", "Thing", "12"], 1, "invalid hash"),
        (["push", "no_colon_here"], 2, "invalid TARGET 'no_colon_here'"),
        (["hash", "my-module:Class"], 2, "invalid TARGET"),
        (["push", "missing_dir/missing.py:Thing"], 1, "no such file 'missing_dir/missing.py'"),
        (["status", "cli_test_no_such_module:Thing"], 1, "cannot import module 'cli_test_no_such_module'"),
        (["frobnicate"], 2, "invalid choice"),
        ([], 2, "required: COMMAND"),
    ],
)
def test_errors_exit_with_a_clear_message(args, code, message, store, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = run_main(capsys, "--store", str(store), *args)
    assert status == code
    assert message in err


def test_target_that_is_not_a_class(tmp_path, store, capsys):
    path = write(tmp_path / "funcs.py", "def f():\n    return 1\n")
    code, _, err = run_main(capsys, "hash", f"{path}:f")
    assert code == 1 and "not a class" in err
    code, _, err = run_main(capsys, "hash", f"{path}:Missing")
    assert code == 1 and "no attribute 'Missing'" in err and "f" in err


def test_target_whose_own_code_fails_shows_only_its_traceback(tmp_path, capsys):
    broken = write(tmp_path / "broken_syntax.py", "class Broken(:\n    pass\n")
    missing_dependency = write(tmp_path / "needs_dep.py", "import cli_test_missing_dependency\n")
    for path, message in [
        (broken, "SyntaxError"),
        (missing_dependency, "No module named 'cli_test_missing_dependency'"),
    ]:
        code, _, err = run_main(capsys, "hash", f"{path}:Broken")
        assert code == 1 and message in err and str(path) in err
        assert "cli.py" not in err and "importlib" not in err  # only the user's own frames


def test_help_explains_every_command_with_an_example(capsys):
    code, out, _ = run_main(capsys, "--help")
    assert code == 0
    commands = ["push", "ls", "log", "show", "status", "hash", "rollback", "quickstart"]
    assert all(command in out for command in commands)
    for command in commands:
        code, out, _ = run_main(capsys, command, "--help")
        assert code == 0
        assert f"remoteimport {command} " in out.split("examples:\n")[1]
        assert "--store URL" in out and "--json" in out
