"""Issue 25 part 2: where each version came from (remoteimport.provenance, docs/provenance.md).

A new version's signed header records who pushed it, from which host, with what message and from which git commit;
every history entry records who did it (and a push's or rollback's message). Provenance is no part of a version's
identity, old versions show "unknown", and everything a store holds reaches the terminal escaped."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sample_classes import make_filter

import remoteimport
from remoteimport import cli, provenance, registry, signing
from remoteimport.blob import decode_blob, encode_blob, read_header
from remoteimport.errors import IntegrityError, PushError, UntrustedBlobError
from remoteimport.provenance import FIELDS, UNKNOWN, check_message, describe, git_state, strip_credentials
from remoteimport.store import Store, Version

LEGACY_STORE = Path(__file__).parent / "fixtures" / "legacy" / "store-cloudpickle-3.1.3"
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _git(folder: Path, *arguments: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=dev@example.com", "-c", "user.name=Dev", "-C", str(folder), *arguments],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _work_tree(folder: Path, remotes: dict[str, str] | None = None) -> str:
    """A git work tree at ``folder`` with one commit on ``main``; its commit hash."""
    folder.mkdir(parents=True, exist_ok=True)
    _git(folder, "init", "-q")
    _git(folder, "symbolic-ref", "HEAD", "refs/heads/main")  # whatever init.defaultBranch says
    for name, url in (remotes or {}).items():
        _git(folder, "remote", "add", name, url)
    (folder / "README").write_text("hello\n")
    _git(folder, "add", "README")
    _git(folder, "commit", "-q", "-m", "first")
    return _git(folder, "rev-parse", "HEAD")


@pytest.fixture
def module_in_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``(module, commit)``: a module ``prov_<n>`` loaded from a file in a fresh work tree (remote origin with
    credentials in its URL), holding the classes ``Alpha`` and ``Beta``; forgotten afterwards."""
    repo = tmp_path / "repo"
    commit = _work_tree(repo, {"origin": "https://alice:t0ken@git.example.com/team/filters.git"})
    name = f"prov_{os.getpid()}_{time.monotonic_ns()}"
    path = repo / f"{name}.py"
    path.write_text("class Alpha:\n    value = 1\n\n\nclass Beta:\n    value = 2\n")
    _git(repo, "add", path.name)
    _git(repo, "commit", "-q", "-m", "classes")
    commit = _git(repo, "rev-parse", "HEAD")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module, commit


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


# -- what is collected ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:token@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("https://ghp_abc123@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("HTTP://u:p@host:8080/r.git", "HTTP://host:8080/r.git"),
        ("https://host/r.git?private_token=x#frag", "https://host/r.git"),
        ("https://u:p@[::1]:8443/r", "https://[::1]:8443/r"),
        ("ssh://git:pw@host:22/r.git", "ssh://git@host:22/r.git"),
        ("ssh://git@host/r.git", "ssh://git@host/r.git"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("/srv/git/repo.git", "/srv/git/repo.git"),
        ("file:///srv/git/repo.git", "file:///srv/git/repo.git"),
        ("https://p%40ss:x@host/r", "https://host/r"),
    ],
)
def test_credentials_are_stripped_from_remote_urls(url: str, shown: str) -> None:
    assert strip_credentials(url) == shown


@needs_git
def test_the_git_state_of_a_work_tree(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit = _work_tree(repo, {"upstream": "https://bob:pw@host/u.git", "mirror": "git@host:m.git"})
    (repo / "sub").mkdir()
    state = git_state(str(repo / "sub"))
    # no origin: the first remote (git lists them by name), credentials stripped
    assert state == {"git_commit": commit, "git_branch": "main", "git_remote": "git@host:m.git", "git_dirty": "false"}

    _git(repo, "remote", "add", "origin", "https://carol:secret@host/o.git")
    (repo / "README").write_text("changed\n")
    (repo / "untracked.txt").write_text("not counted\n")
    state = git_state(str(repo))
    assert state["git_remote"] == "https://host/o.git" and state["git_dirty"] == "true"

    _git(repo, "checkout", "-q", "--detach")
    assert "git_branch" not in git_state(str(repo)) and git_state(str(repo))["git_commit"] == commit


@needs_git
def test_no_git_state_outside_a_work_tree_or_before_a_commit(tmp_path: Path) -> None:
    assert git_state(str(tmp_path)) == {}
    unborn = tmp_path / "unborn"
    unborn.mkdir()
    _git(unborn, "init", "-q")
    assert git_state(str(unborn)) == {}


def test_no_git_or_a_git_that_hangs_leaves_the_keys_out_in_time(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert git_state(str(tmp_path)) == {}  # no git on PATH

    slow = tmp_path / "slow"
    slow.mkdir()
    script = slow / "git"
    script.write_text("#!/bin/sh\nexec sleep 30\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{slow}{os.pathsep}/usr/bin{os.pathsep}/bin")
    started = time.monotonic()
    assert git_state(str(tmp_path), timeout=0.3) == {}
    assert time.monotonic() - started < 3  # all three commands share the timeout; each is killed


def test_a_message_is_one_short_line_of_printable_text() -> None:
    assert check_message("retrained on the May data, é 中文") == "retrained on the May data, é 中文"
    assert check_message(None) is None and check_message("") is None
    assert check_message("x" * provenance.MAX_MESSAGE_LENGTH) is not None
    with pytest.raises(PushError, match="at most 1000 characters; this one has 1001"):
        check_message("x" * 1001)
    for bad in ("two\nlines", "tab\there", "esc\x1b[2J", "bidi \u202e override", "nul\x00"):
        with pytest.raises(PushError, match="one line of printable text"):
            check_message(bad)


def test_a_bad_message_is_refused_before_anything_is_written(store: Store) -> None:
    with pytest.raises(PushError, match="printable"):
        remoteimport.push(make_filter(1), store=store, message="line\nbreak")
    with pytest.raises(PushError, match="printable"):
        registry.push_all(store=store, message="\x1b[31m")
    assert not store.names()
    full_hash = remoteimport.push(make_filter(1), store=store)
    with pytest.raises(PushError, match="at most"):
        remoteimport.rollback("MyFilter", full_hash, store=store, message="x" * 5000)
    assert len(store.history("MyFilter")) == 1


def test_rollback_m_records_why_in_the_history(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "store"
    first = remoteimport.push(make_filter(1), store=Store(folder))
    remoteimport.push(make_filter(2), store=Store(folder))
    status, _, err = _run(
        capsys, "rollback", f"MyFilter@{first[:8]}", "-m", "2 broke on empty input", "--store", str(folder)
    )
    assert status == 0, err
    status, out, _ = _run(capsys, "log", "MyFilter", "--store", str(folder), "--json")
    newest = json.loads(out)["versions"][0]
    assert (newest["action"], newest["hash"], newest["message"]) == ("rollback", first, "2 broke on empty input")
    refused = cli.main(["rollback", "MyFilter", first, "-m", "two\nlines", "--store", str(folder)])
    assert refused == 2 and "printable" in capsys.readouterr().err  # a usage error, before the store is touched
    assert len(Store(folder).history("MyFilter")) == 3


def test_collecting_never_fails_a_push(store: Store, monkeypatch) -> None:
    import getpass
    import socket

    def fail(*_: object) -> str:
        raise OSError("no such user")

    monkeypatch.setattr(getpass, "getuser", fail)
    monkeypatch.setattr(socket, "gethostname", fail)
    full_hash = remoteimport.push(make_filter(2), store=store, message="still pushed")
    header = store.read_verified_blob("MyFilter", full_hash).header
    assert header.provenance is not None and header.provenance["message"] == "still pushed"
    assert "user" not in header.provenance and "host" not in header.provenance
    assert store.history("MyFilter")[0].by is None


# -- what a push records ----------------------------------------------------------------------------------------


@needs_git
def test_a_new_version_records_who_where_why_and_which_commit(module_in_git, store: Store) -> None:
    module, commit = module_in_git
    full_hash = remoteimport.push(module.Alpha, store=store, message="first cut")
    header = store.read_verified_blob("Alpha", full_hash).header
    expected_by = provenance.pushed_by()
    assert expected_by and header.provenance is not None
    assert header.provenance == {
        "user": expected_by.rpartition("@")[0],
        "host": expected_by.rpartition("@")[2],
        "message": "first cut",
        "git_commit": commit,
        "git_branch": "main",
        "git_remote": "https://git.example.com/team/filters.git",  # alice's token stays home
        "git_dirty": "false",
    }
    assert describe(header) == {
        "pushed_by": expected_by,
        "message": "first cut",
        "commit": commit,
        "branch": "main",
        "remote": "https://git.example.com/team/filters.git",
        "dirty": "no",
    }
    [entry] = store.history("Alpha")
    assert (entry.by, entry.message) == (expected_by, "first cut")


def test_provenance_is_no_part_of_a_version(store: Store, monkeypatch) -> None:
    cls = make_filter(3)
    monkeypatch.setenv("LOGNAME", "alice")  # getpass.getuser reads LOGNAME first
    first = remoteimport.push(cls, store=store, message="alice's")
    blob = store.read_blob("MyFilter", first)
    other = remoteimport.push(make_filter(4), store=store)
    monkeypatch.setenv("LOGNAME", "bob")
    assert remoteimport.publish(cls, store=store, message="bob's").action == "moved"
    assert remoteimport.push(cls, store=store, message="nothing to record") == first  # unchanged: no entry

    assert store.read_blob("MyFilter", first) == blob  # not re-uploaded: alice's provenance stays
    assert describe(read_header(blob))["pushed_by"].startswith("alice@")
    history = store.history("MyFilter")
    assert [(v.hash, (v.by or "").partition("@")[0], v.message) for v in history] == [
        (first, "bob", "bob's"),
        (other, "alice", None),
        (first, "alice", "alice's"),
    ]
    remoteimport.rollback("MyFilter", other, store=store, message="back to 4")
    assert (store.history("MyFilter")[0].action, store.history("MyFilter")[0].message) == ("rollback", "back to 4")
    remoteimport.tag("MyFilter", other, "prod", store=store)
    assert store.history("MyFilter")[0].by.startswith("bob@")


def test_no_provenance_records_only_the_message(store: Store, monkeypatch) -> None:
    monkeypatch.setenv("REMOTEIMPORT_NO_PROVENANCE", "1")
    full_hash = remoteimport.push(make_filter(5), store=store, message="from CI")
    assert store.read_verified_blob("MyFilter", full_hash).header.provenance == {"message": "from CI"}
    plain = remoteimport.push(make_filter(6), store=store)
    header = store.read_verified_blob("MyFilter", plain).header
    assert header.provenance is None and "provenance" not in header.to_json()
    assert [(v.by, v.message) for v in store.history("MyFilter")] == [(None, None), (None, "from CI")]


@needs_git
def test_push_all_runs_git_once_per_folder(module_in_git, store: Store, monkeypatch) -> None:
    module, commit = module_in_git
    monkeypatch.setattr(registry, "_PERSISTED", {})
    remoteimport.persist(module.Alpha)
    remoteimport.persist(module.Beta)
    remoteimport.persist(make_filter(7))  # another folder
    calls: list[str] = []
    real = provenance.git_state
    monkeypatch.setattr(provenance, "git_state", lambda folder, **kw: calls.append(folder) or real(folder, **kw))
    pushed = registry.push_all(store=store, message="all of them")
    assert sorted(calls) == sorted({str(Path(module.__file__).parent), str(Path(__file__).parent)})
    for name in ("Alpha", "Beta"):
        header = store.read_verified_blob(name, pushed[name]).header
        assert header.provenance is not None and header.provenance["git_commit"] == commit
        assert header.provenance["message"] == "all of them" and store.history(name)[0].message == "all of them"


# -- signatures and old versions ---------------------------------------------------------------------------------


def test_the_signature_covers_the_provenance(tmp_path: Path) -> None:
    signing.generate_key(tmp_path / "publisher")
    publisher = Store(tmp_path / "store", signing_key=tmp_path / "publisher")
    full_hash = remoteimport.push(make_filter(8), store=publisher, message="signed")
    blob = decode_blob(publisher.read_blob("MyFilter", full_hash))
    public = signing.load_public_key(tmp_path / "publisher.pub")
    assert blob.header.provenance is not None and blob.header.provenance["message"] == "signed"
    assert signing.signature_state(blob.header, public) == "valid"

    for forged in ({**blob.header.provenance, "user": "mallory"}, {**blob.header.provenance, "message": "benign"}):
        assert signing.signature_state(blob.header.replace(provenance=forged), public) == "invalid"
    removed = blob.header.replace(provenance=None)
    assert signing.signature_state(removed, public) == "invalid"

    forged = blob.header.replace(provenance={**blob.header.provenance, "user": "mallory"})
    Path(publisher.blob_path("MyFilter", full_hash)).write_bytes(encode_blob(forged, blob.payload))
    reader = Store(tmp_path / "store", trusted_keys=[tmp_path / "publisher.pub"], cache=False)
    with pytest.raises(UntrustedBlobError):
        remoteimport.get_version("MyFilter", full_hash, store=reader)


def test_an_old_blob_without_provenance_still_verifies_and_shows_unknown(tmp_path: Path) -> None:
    [path] = (LEGACY_STORE / "blobs" / "Point").rglob("*.blob")
    data = path.read_bytes()
    blob = decode_blob(data, expected_name="Point")  # its payload digest checks
    assert blob.header.provenance is None and "provenance" not in json.loads(data[12 : 12 + int.from_bytes(data[8:12])])
    assert encode_blob(blob.header, blob.payload) == data  # read and written again: the same bytes
    assert describe(blob.header) == dict.fromkeys(FIELDS, UNKNOWN)

    signing.generate_key(tmp_path / "key")
    key, public = signing.load_signing_key(tmp_path / "key"), signing.load_public_key(tmp_path / "key.pub")
    signed = key.sign(blob.header)
    assert signing.signature_state(decode_blob(encode_blob(signed, blob.payload)).header, public) == "valid"


def test_old_versions_show_unknown_in_every_command(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "store"
    shutil.copytree(LEGACY_STORE, folder)
    old = Store(folder).latest("Point")
    status, out, err = _run(capsys, "show", "Point", "--store", str(folder))
    assert status == 0, err
    assert "pushed by:      unknown" in out and "commit:         unknown" in out and "message:        unknown" in out
    status, out, _ = _run(capsys, "show", "Point", "--store", str(folder), "--json")
    assert json.loads(out)["provenance"] == dict.fromkeys(FIELDS, UNKNOWN)
    status, out, _ = _run(capsys, "log", "Point", "--store", str(folder))
    assert out.splitlines()[1].split()[-2:] == ["BY", "MESSAGE"] and out.splitlines()[2].split()[-2:] == [UNKNOWN, "-"]
    status, out, _ = _run(capsys, "ls", "--store", str(folder))
    assert "BY" not in out.splitlines()[1].split()  # nothing recorded: the table is as it was

    remoteimport.push(make_filter(9), store=Store(folder), name="Point", message="new")
    status, out, _ = _run(capsys, "ls", "--store", str(folder))
    assert out.splitlines()[1].split()[-1] == "BY"  # last: no class is tagged, so there is no TAGS column
    by = {line.split()[0]: line.split()[-1] for line in out.splitlines()[2:]}
    assert by == {"MainGreeter": UNKNOWN, "Point": provenance.pushed_by(), "Scaler": UNKNOWN}
    status, out, err = _run(capsys, "diff", f"Point@{old[:12]}", "Point", "--store", str(folder), "--color", "never")
    assert status == 0, err
    lines = out.splitlines()
    table = lines[lines.index("provenance:") + 1 :]
    assert table[1].split() == ["pushed", "by", UNKNOWN, provenance.pushed_by()]
    assert table[2].split() == ["message", UNKNOWN, "new"]
    status, out, _ = _run(capsys, "diff", f"Point@{old[:12]}", "Point", "--store", str(folder), "--json")
    document = json.loads(out)["provenance"]
    assert document["a"]["pushed_by"] == UNKNOWN and document["b"]["message"] == "new"


# -- history entries are store data ------------------------------------------------------------------------------


def test_history_entries_keep_their_shape_and_refuse_what_is_no_short_text(store: Store) -> None:
    entry = Version("A", "ab" * 32, 1.0, "3.11")
    assert entry.to_json() == {"name": "A", "hash": "ab" * 32, "time": 1.0, "python": "3.11", "action": "push"}
    recorded = Version("A", "ab" * 32, 1.0, "3.11", by="u@h", message="why")
    assert Version.from_json(recorded.to_json()) == recorded

    full_hash = remoteimport.push(make_filter(10), store=store)
    history = Path(store.root) / "refs" / "MyFilter" / "history"
    for bad in ({"by": 7}, {"message": "x" * 1001}, {"message": ["a"]}):
        planted = history / "99999999999999999999-planted-zz.json"
        planted.write_text(json.dumps({**entry.to_json(), "name": "MyFilter", "hash": full_hash, **bad}))
        with pytest.raises(IntegrityError, match="malformed"):
            store.history("MyFilter")
        planted.unlink()


def test_hostile_provenance_and_history_text_reach_the_terminal_escaped(store: Store, capsys) -> None:
    escape = "\x1b]0;owned\x07\x1b[2K\r"
    fake = "\nsignature:      signed by ed25519:feed (trusted)"
    full_hash = remoteimport.push(make_filter(11), store=store)
    other = remoteimport.push(make_filter(12), store=store)
    blob = decode_blob(store.read_blob("MyFilter", full_hash))
    hostile = {"user": f"eve{escape}", "host": f"h{fake}", "message": f"m{escape}", "git_commit": f"c{fake}"}
    Path(store.blob_path("MyFilter", full_hash)).write_bytes(
        encode_blob(blob.header.replace(provenance=hostile), blob.payload)
    )
    history = Path(store.root) / "refs" / "MyFilter" / "history"
    planted = {"name": "MyFilter", "hash": full_hash, "time": 2.0, "python": "3.11", "action": "push"}
    (history / "99999999999999999999-planted-zz.json").write_text(
        json.dumps({**planted, "by": f"eve{escape}", "message": f"hi{escape}{fake}"})
    )
    remoteimport.rollback("MyFilter", full_hash, store=store)  # `ls` shows the latest version
    diff = ["diff", f"MyFilter@{full_hash[:12]}", f"MyFilter@{other[:12]}"]
    for argv in (["show", f"MyFilter@{full_hash[:12]}"], ["log", "MyFilter"], ["ls"], diff):
        status, out, err = _run(capsys, *argv, "--store", store.url, "--color", "never")
        assert status == 0, err
        assert "\x1b" not in out + err and "\x07" not in out and "\r" not in out, argv
        assert "\\x1b]0;owned\\x07" in out, argv  # the control: the hostile text was printed, escaped
        assert not any(line.startswith("signature:      signed by ed25519:feed") for line in out.splitlines())
    status, out, _ = _run(capsys, "show", "MyFilter@" + full_hash[:12], "--store", store.url, "--json")
    assert json.loads(out)["header"]["provenance"] == hostile  # JSON carries it as data


# -- the command line ---------------------------------------------------------------------------------------------


@needs_git
def test_push_m_in_a_work_tree_from_the_command_line(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit = _work_tree(repo, {"origin": "https://alice:t0ken@git.example.com/team/filters.git"})
    (repo / "cli_filters.py").write_text("class CliFilter:\n    def apply(self, x):\n        return x + 1\n")
    (repo / "README").write_text("an uncommitted change\n")  # untracked files (cli_filters.py) do not count
    folder = tmp_path / "store"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("REMOTEIMPORT_")}
    environment["REMOTEIMPORT_STORE"] = str(folder)

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "remoteimport", *argv],
            cwd=repo,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    pushed = run("push", "cli_filters:CliFilter", "-m", "first cut", "--json")
    assert pushed.returncode == 0, pushed.stderr
    assert json.loads(pushed.stdout)["message"] == "first cut"
    shown = run("show", "CliFilter", "--json")
    described = json.loads(shown.stdout)["provenance"]
    assert described["commit"] == commit and described["dirty"] == "yes"
    assert described["remote"] == "https://git.example.com/team/filters.git" and described["message"] == "first cut"
    assert "t0ken" not in shown.stdout + run("show", "CliFilter").stdout
    assert f"commit:         {commit} (dirty)" in run("show", "CliFilter").stdout
    log = run("log", "CliFilter").stdout.splitlines()
    assert log[1].split()[-2:] == ["BY", "MESSAGE"] and log[2].endswith("first cut")

    refused = run("push", "cli_filters:CliFilter", "-m", "a" * 1001)
    assert refused.returncode == 2 and "at most 1000 characters" in refused.stderr
    assert len(Store(folder).history("CliFilter")) == 1


@needs_git
def test_the_docs_example_prints_what_the_page_shows(tmp_path: Path) -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "provenance.md").read_text(encoding="utf-8")
    example = page.split("```python\n", 1)[1].split("```", 1)[0]
    shown = page.split("It prints", 1)[1].split("```\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "provenance_example.py"
    script.write_text(example, encoding="utf-8")
    environment = {key: value for key, value in os.environ.items() if not key.startswith("REMOTEIMPORT_")}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    page_commit = re.search(r'"commit": "([0-9a-f]{40})"', shown)
    assert page_commit is not None
    printed = re.sub(r'"commit": "[0-9a-f]{40}"', f'"commit": "{page_commit[1]}"', done.stdout)
    printed = printed.replace(f'"pushed_by": "{provenance.pushed_by()}"', '"pushed_by": "dev@laptop"')
    assert printed == shown
