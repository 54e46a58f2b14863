"""The lifecycle commands and habits of `remoteimport`: diff, the richer ls, --json errors, shell completion,
progress on a terminal, keygen's folders, quickstart's own store and the refusal to push to memory://."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import run_cli, run_main, two_versions, write

import remoteimport
from remoteimport import cli
from remoteimport.blob import make_header
from remoteimport.cli import completion
from remoteimport.compare import VersionInfo, diff_versions, header_changes, source_diff

# ---------------------------------------------------------------------------------------------------------
# diff and remoteimport.compare


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


def test_diff_shows_header_changes_and_the_source_diff(tmp_path, store, capsys):
    first, second = two_versions(tmp_path, store, capsys)

    code, out, err = run_main(capsys, "diff", f"Thing@{first[:8]}", "Thing", "--store", str(store))

    assert code == 0, err
    assert out.splitlines()[0] == f"Thing@{first[:12]} (a) -> Thing@{second[:12]} (b) in the store {store}"
    assert "header changes:" in out and "original" in out and "thing_v1:Thing" in out and "thing_v2:Thing" in out
    assert "-    version = 1" in out and "+    version = 2" in out and "@@ " in out
    assert "\033[" not in out  # not a terminal: no colour


def test_diff_json_is_the_structured_diff(tmp_path, store, capsys):
    first, second = two_versions(tmp_path, store, capsys)

    code, out, err = run_main(capsys, "--json", "diff", f"Thing@{first}", f"Thing@{second[:10]}", "--store", str(store))

    assert code == 0, err
    document = json.loads(out)
    assert (document["name"], document["a"], document["b"], document["store"]) == ("Thing", first, second, str(store))
    assert {change["field"] for change in document["header_changes"]} >= {"original", "created"}
    assert [file["filename"].rsplit("/", 1)[1] for file in document["files"]] == ["thing_v1.py", "thing_v2.py"]
    kinds = {(line["kind"], line["text"]) for file in document["files"] for line in file["lines"]}
    assert ("del", "-    version = 1") in kinds and ("add", "+    version = 2") in kinds
    assert "+    version = 2\n" in document["unified"]


def test_diff_colours_only_on_a_terminal_without_no_color(tmp_path, store, capsys, monkeypatch):
    first, _ = two_versions(tmp_path, store, capsys)
    monkeypatch.setattr(cli, "use_colour", lambda stream=None, choice="auto": True)
    code, out, _ = run_main(capsys, "diff", f"Thing@{first[:8]}", "Thing", "--store", str(store))
    assert code == 0
    assert "\033[31m-    version = 1\033[0m" in out and "\033[32m+    version = 2\033[0m" in out
    assert "\033[36m@@ " in out

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.undo()
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert cli.use_colour(Terminal()) and not cli.use_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not cli.use_colour(Terminal())


def test_color_option_and_environment_decide_colour(tmp_path, store, capsys, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for variable in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(variable, raising=False)
    pipe, terminal = io.StringIO(), Terminal()
    assert cli.use_colour(pipe, "always") and not cli.use_colour(terminal, "never")
    monkeypatch.setenv("TERM", "dumb")
    assert not cli.use_colour(terminal) and cli.use_colour(terminal, "always")
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert cli.use_colour(pipe)  # a CI log that renders colours
    monkeypatch.setenv("FORCE_COLOR", "")
    assert not cli.use_colour(pipe)  # empty counts as unset
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    assert not cli.use_colour(pipe) and cli.use_colour(pipe, "always")  # NO_COLOR wins; the option wins over both

    first, _ = two_versions(tmp_path, store, capsys)
    monkeypatch.delenv("NO_COLOR")
    for words, coloured in (([], True), (["--color", "never"], False), (["--color=auto"], True)):
        code, out, _ = run_main(capsys, "diff", f"Thing@{first[:8]}", "Thing", "--store", str(store), *words)
        assert code == 0 and ("\033[32m+    version = 2\033[0m" in out) == coloured, words
    monkeypatch.delenv("FORCE_COLOR")
    code, out, _ = run_main(capsys, "--color", "always", "diff", f"Thing@{first[:8]}", "Thing", "--store", str(store))
    assert code == 0 and "\033[31m-    version = 1\033[0m" in out
    code, out, _ = run_main(
        capsys, "--color", "always", "--json", "diff", f"Thing@{first[:8]}", "Thing", "--store", str(store)
    )
    assert code == 0 and "\033[" not in out  # JSON is never coloured
    code, _, err = run_main(capsys, "ls", "--color", "sometimes", "--store", str(store))
    assert code == 2 and "auto" in err and "never" in err


def test_diff_of_a_version_with_itself_and_of_two_names(tmp_path, store, capsys):
    first, _ = two_versions(tmp_path, store, capsys)
    code, out, _ = run_main(capsys, "diff", f"Thing@{first[:8]}", f"Thing@{first}", "--store", str(store))
    assert code == 0 and "the same version" in out
    code, _, err = run_main(capsys, "diff", "Thing", "Other", "--store", str(store))
    assert code == 1 and "two versions of one class" in err
    code, _, err = run_main(capsys, "diff", "Thing", f"Thing@{'0' * 64}", "--store", str(store))
    assert code == 1 and "no version 000000" in err


def test_compare_is_pure_over_headers():
    old = make_header("A", "0" * 64, b"", python="3.10")
    new = make_header("A", "1" * 64, b"", python="3.11")
    old.source["a.py"], new.source["a.py"] = "x = 1\ny = 2\n", "x = 1\ny = 3\n"
    new.requirements["numpy"] = "2.0.0"
    changes = dict(
        (field, (a, b))
        for field, a, b in header_changes(
            VersionInfo("A", old.hash, old, "unsigned"), VersionInfo("A", new.hash, new, "signed by k")
        )
    )
    assert changes["python"] == ("3.10", "3.11")
    assert changes["signature"] == ("unsigned", "signed by k")
    assert "numpy==2.0.0" in changes["requirements"][1]
    [file] = source_diff(old, new)
    assert [(kind, text) for kind, text in file.lines if kind in ("add", "del")] == [
        ("del", "-y = 2"),
        ("add", "+y = 3"),
    ]


def test_diff_versions_library_matches_the_web_view(tmp_path, store, capsys):
    from remoteimport.ui import views

    first, second = two_versions(tmp_path, store, capsys)
    diff = diff_versions(remoteimport.Store(store), "Thing", first[:8], second)
    assert views.source_diff is source_diff and views.read_version is remoteimport.compare.read_version
    assert diff.files == source_diff(diff.old.header, diff.new.header) and not diff.identical
    assert diff.unified().startswith("--- ") and "+    version = 2\n" in diff.unified()


# ---------------------------------------------------------------------------------------------------------
# ls


def test_ls_shows_time_python_signer_and_tags(tmp_path, store, capsys, monkeypatch):
    key = tmp_path / "keys" / "publisher"
    assert run_main(capsys, "keygen", str(key))[0] == 0
    monkeypatch.setenv("REMOTEIMPORT_SIGNING_KEY", str(key))
    _, second = two_versions(tmp_path, store, capsys)
    fingerprint = remoteimport.signing.load_public_key(f"{key}.pub").fingerprint
    tag = getattr(remoteimport.registry, "tag", None)
    if tag is not None:  # tags arrive with another change; ls shows them when the store has them
        tag("Thing", second, "prod", store=str(store))

    code, out, err = run_main(capsys, "ls", "--store", str(store))
    assert code == 0, err
    header, row = out.splitlines()[1].split(), out.splitlines()[2].split()
    assert header[:5] == ["NAME", "LATEST", "TIME", "PYTHON", "SIGNER"]
    python = "{}.{}".format(*sys.version_info[:2])
    assert row[:2] == ["Thing", second[:12]] and row[4] == "UTC" and row[5] == python and row[6] == fingerprint

    code, out, _ = run_main(capsys, "ls", "--json", "--store", str(store))
    [entry] = json.loads(out)["classes"]
    assert (entry["latest"], entry["python"], entry["signer"]) == (second, python, fingerprint)
    assert entry["time_utc"].endswith(" UTC") and "trusted" in entry["signature"]
    if tag is not None:
        assert entry["tags"] == {"prod": second} and row[-1] == "prod"


@pytest.mark.parametrize("missing", ["folder", "memory"])
def test_ls_of_a_store_that_does_not_exist_is_an_error(tmp_path, capsys, missing):
    url = str(tmp_path / "no-such-store") if missing == "folder" else "memory://no-such-bucket-for-ls"
    code, out, err = run_main(capsys, "ls", "--store", url)
    assert code == 1 and "does not exist" in err and url in err and not out
    code, out, _ = run_main(capsys, "ls", "--json", "--store", url)
    assert code == 1 and json.loads(out)["error"]["type"] == "StoreError"
    assert not os.path.exists(tmp_path / "no-such-store")  # looking did not create it


def test_ls_of_an_existing_empty_store_says_no_classes(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, out, _ = run_main(capsys, "ls", "--store", str(tmp_path / "empty"))
    assert code == 0 and "no classes" in out


# ---------------------------------------------------------------------------------------------------------
# --json errors


def test_json_errors_are_a_document_on_stdout(store, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store.mkdir()
    code, out, err = run_main(capsys, "--json", "show", "Nope", "--store", str(store))
    assert code == 1 and "remoteimport: error:" in err
    error = json.loads(out)["error"]
    assert error["type"] == "NameNotFoundError" and "Nope" in error["message"]

    code, out, err = run_main(capsys, "push", "no_colon_here", "--json")
    assert code == 2 and "invalid TARGET" in err  # usage errors still explain themselves on stderr
    assert json.loads(out) == {"error": {"type": "UsageError", "message": json.loads(out)["error"]["message"]}}
    assert "invalid TARGET 'no_colon_here'" in json.loads(out)["error"]["message"]

    code, out, _ = run_main(capsys, "--json", "frobnicate")
    assert code == 2 and "invalid choice" in json.loads(out)["error"]["message"]
    code, out, _ = run_main(capsys, "push", "no_colon_here")  # without --json: nothing on stdout
    assert code == 2 and out == ""


def test_json_error_of_a_failing_verify_keeps_its_report(tmp_path, store, capsys):
    first, _ = two_versions(tmp_path, store, capsys)
    blob = Path(remoteimport.Store(store).blob_path("Thing", first))
    blob.write_bytes(blob.read_bytes()[:-1] + b"X")
    code, out, _ = run_main(capsys, "verify", "--json", "--store", str(store))
    document = json.loads(out)  # one document, not two
    assert code == 1 and document["problems"] == 1 and document["error"]["type"] == "CommandError"


# ---------------------------------------------------------------------------------------------------------
# completion


def every_command() -> list[str]:
    return list(cli._command_parsers(cli.build_parser()))


def test_bash_completion_lists_every_command_and_is_valid_bash(tmp_path, capsys):
    code, script, _ = run_main(capsys, "completion", "bash")
    assert code == 0
    assert {"push", "diff", "ls", "completion", "quickstart"} <= set(every_command())
    for command in every_command():
        assert f"        {command}) options=" in script, command
    path = tmp_path / "remoteimport.bash"
    path.write_text(script)
    checked = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr

    def complete(*words: str) -> list[str]:
        line = " ".join(["remoteimport", *words])
        probe = (
            f"source {path}; COMP_WORDS=({line}); COMP_CWORD={len(words)}; _remoteimport; "
            'printf "%s\\n" "${COMPREPLY[@]}"'
        )
        done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("di") == ["diff"]
    assert complete("--store", "/tmp/s", "l") == ["ls", "log", "lock"]
    assert complete("ls", "--l") == ["--limit"]
    assert complete("completion", "") == ["bash", "fish", "zsh"]
    assert complete("quickstart", "--k") == ["--keep"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_completion_name_every_command(shell, capsys):
    code, script, _ = run_main(capsys, "completion", shell)
    assert code == 0
    assert all(command in script for command in every_command())
    if shutil.which(shell):
        checked = subprocess.run([shell, "-n" if shell == "zsh" else "--no-execute"], input=script, text=True)
        assert checked.returncode == 0


def test_completion_help_says_how_to_install(capsys):
    code, out, _ = run_main(capsys, "completion", "--help")
    assert code == 0
    assert "~/.local/share/bash-completion/completions/remoteimport" in out and "~/.zshrc" in out
    assert "~/.config/fish/completions/remoteimport.fish" in out
    assert "--candidates" not in out  # what the scripts run while typing: not for people


def test_completion_without_a_shell_is_a_usage_error(capsys):
    """Like any command line that does not parse: exit status 2, the usage, and --json's error document."""
    code, out, err = run_main(capsys, "completion")
    assert code == 2 and out == ""
    assert err.startswith("usage: remoteimport completion") and "name the shell" in err and "bash, zsh or fish" in err
    code, out, _ = run_main(capsys, "completion", "--json")
    assert code == 2 and json.loads(out)["error"]["type"] == "UsageError"


@pytest.mark.parametrize("line", [completion.BASH_INSTALL, completion.ZSH_INSTALL, completion.FISH_INSTALL])
def test_completion_install_lines_work_in_a_new_home(line, tmp_path):
    """Each documented line, run as written in an empty home folder, creates its folder and writes the script."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".zshrc").write_text("")
    env = {**os.environ, "HOME": str(home), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", line], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    written = [path for path in home.rglob("*") if path.is_file() and path.stat().st_size]
    assert len(written) == 1 and "remoteimport" in written[0].read_text()


def test_bash_completion_offers_class_names_tags_and_option_values(tmp_path, capsys):
    store = tmp_path / "store"
    first, _ = two_versions(tmp_path, store, capsys)
    assert run_main(capsys, "tag", f"Thing@{first[:8]}", "prod", "--store", str(store))[0] == 0
    code, script, _ = run_main(capsys, "completion", "bash")
    path = tmp_path / "remoteimport.bash"
    path.write_text(script)

    def complete(*words: str) -> list[str]:
        quoted = " ".join(f"'{word}'" for word in ["remoteimport", *words])
        probe = (
            f"source {path}; COMP_WORDS=({quoted}); COMP_CWORD={len(words)}; _remoteimport; "
            'printf "%s\\n" "${COMPREPLY[@]}"'
        )
        env = {**os.environ, "REMOTEIMPORT_STORE": str(store)}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("show", "T") == ["Thing"]
    assert complete("diff", "Thing@prod", "Thing@") == ["Thing@latest", "Thing@prod"]
    assert complete("untag", "Thing", "") == ["prod"]
    assert complete("ls", "--color", "a") == ["auto", "always"]
    assert complete("cache", "") == ["info", "clear"]
    assert complete("--store", str(tmp_path / "elsewhere"), "show", "T") == []  # --store on the line counts
    assert complete("tag", "Thing@prod", "") == []  # a new tag's name: nothing to offer


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed (apt-get install fish)")
def test_fish_completion_offers_class_names_and_tags(tmp_path, capsys):
    store = tmp_path / "store"
    first, _ = two_versions(tmp_path, store, capsys)
    assert run_main(capsys, "tag", f"Thing@{first[:8]}", "prod", "--store", str(store))[0] == 0
    script = tmp_path / "remoteimport.fish"
    script.write_text(run_main(capsys, "completion", "fish")[1])
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def complete(line: str) -> list[str]:
        probe = f"source {script}; complete -C '{line}'"
        done = subprocess.run(["fish", "-c", probe], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return [candidate.split("\t")[0] for candidate in done.stdout.splitlines()]

    assert complete(f"remoteimport show --store {store} T") == ["Thing"]
    assert complete(f"remoteimport log --store {store} Thing@") == ["Thing@latest", "Thing@prod"]
    assert complete("remoteimport cache ") == ["clear", "info"]


def test_completion_candidates_are_names_then_tags(tmp_path, capsys):
    store = tmp_path / "store"
    first, _ = two_versions(tmp_path, store, capsys)
    assert run_main(capsys, "tag", f"Thing@{first[:8]}", "prod", "--store", str(store))[0] == 0
    assert completion.completion_candidates("", str(store)) == ["Thing"]
    assert completion.completion_candidates("Thing@p", str(store)) == ["Thing@latest", "Thing@prod"]
    assert completion.completion_candidates("No/such@", str(store)) == []  # not a name: nothing, no error
    assert completion.completion_candidates("", str(tmp_path / "missing")) == []


# ---------------------------------------------------------------------------------------------------------
# progress


def test_progress_draws_on_a_terminal_only(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    assert list(cli.progress(range(3), 3, "reading")) == [0, 1, 2] and pipe.getvalue() == ""

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert list(cli.progress(["a", "b"], label="pushing")) == ["a", "b"]
    drawn = terminal.getvalue()
    assert "pushing: 0/2" in drawn and drawn.endswith("\r") and drawn.rstrip("\r").endswith(" ")  # erased


# ---------------------------------------------------------------------------------------------------------
# keygen, quickstart, push to memory://


def test_keygen_creates_missing_owner_only_folders(tmp_path, capsys):
    key = tmp_path / "a" / "b" / "publisher"
    code, _, err = run_main(capsys, "keygen", str(key))
    assert code == 0, err
    for folder in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and Path(f"{key}.pub").is_file()
    write(tmp_path / "file", "x")
    code, _, err = run_main(capsys, "keygen", str(tmp_path / "file" / "key"))
    assert code == 1 and "a file is in the way" in err


def test_quickstart_uses_a_temporary_store_unless_told(tmp_path):
    configured = tmp_path / "production"
    done = run_cli("quickstart", "--json", store=configured, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["result"] == "new" and document["temporary_store"] and document["store_deleted"]
    assert not configured.exists() and not os.path.exists(document["store"])

    kept = run_cli("quickstart", "--keep", store=configured, cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr
    line = next(line for line in kept.stdout.splitlines() if line.startswith("2. pushed"))
    kept_store = line.rsplit(" to the store ", 1)[1]
    assert os.path.isdir(kept_store) and "remoteimport.install(" in kept.stdout and not configured.exists()
    next_lines = [line.strip() for line in kept.stdout.splitlines() if line.startswith("    ")]
    assert next_lines[:3] == [f"export REMOTEIMPORT_STORE={kept_store}", "remoteimport ls", "remoteimport ui"]
    listed = run_cli("ls", store=Path(kept_store), cwd=tmp_path)  # the printed store works as printed
    assert listed.returncode == 0 and "QuickstartGreeter" in listed.stdout, listed.stderr
    shutil.rmtree(kept_store)

    text = run_cli("quickstart", store=configured, cwd=tmp_path)
    assert "6. deleted the temporary store" in text.stdout


def test_push_to_a_memory_store_is_refused_with_the_reason(tmp_path, capsys):
    path = write(tmp_path / "mem_target.py", "class Thing:\n    pass\n")
    code, out, err = run_main(capsys, "push", f"{path}:Thing", "--store", "memory://cli-push", "--json")
    assert code == 1 and "memory://" in err and "vanish" in err
    assert json.loads(out)["error"]["type"] == "CommandError"
