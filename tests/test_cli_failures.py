"""Fail fast and the same way (issue 25): a store that does not exist, a port in use, a wrong key setting and
Ctrl-C each end a command with one line on stderr (a JSON document under --json), never a traceback or a page of
findings that all say the same thing. `status --store <missing>` and `status --exit-code`: tests/test_cli.py.

The web view and Ctrl-C run as subprocesses, like a user's terminal; the rest in-process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sample_classes import greeter

import remoteimport
from remoteimport.cli import main
from remoteimport.signing import generate_key
from remoteimport.store import Store


def remoteimport_command(*args: str, **options: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "remoteimport", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,  # type: ignore[call-overload]
    )


def finished(*args: str) -> subprocess.CompletedProcess[str]:
    child = remoteimport_command(*args)
    try:
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store")
    remoteimport.push(greeter("hello"), store=store, name="Greeter")
    remoteimport.push(greeter("hi"), store=store, name="Greeter")
    return store


# -- the web view: a mistyped store, a port in use ---------------------------------------------------------


def test_ui_of_a_store_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "stroe"
    done = finished("ui", "--port", "0", "--store", str(missing))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"remoteimport: error: the store {missing} does not exist (no such folder). Check --store or "
        "$REMOTEIMPORT_STORE; pushing a class creates a folder store.\n"
    )
    assert not missing.exists()


def test_ui_on_a_port_in_use_says_so_in_one_line(store: Store) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text = finished("ui", "--port", str(port), "--store", store.url)
        as_json = finished("ui", "--port", str(port), "--store", store.url, "--json")
    message = (
        f"cannot listen on 127.0.0.1:{port}: Address already in use (another program is listening there: choose "
        "another --port, or --port 0 for any free one)"
    )
    assert (text.returncode, text.stdout, text.stderr) == (1, "", f"remoteimport: error: {message}\n")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == {"error": {"type": "CommandError", "message": message}}


def test_ui_refuses_a_port_that_cannot_be_one(capsys: pytest.CaptureFixture[str]) -> None:
    for port in ("70000", "http"):
        code, _, err = run_main(capsys, "ui", "--port", port)
        assert code == 2 and err.endswith(f"a port is a number from 0 (any free one) to 65535, not '{port}'\n")


# -- keys: one configuration error, named once ----------------------------------------------------------------


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    """A key pair: ``keys/publisher`` (private) and ``keys/publisher.pub``."""
    generate_key(tmp_path / "keys" / "publisher")
    return tmp_path / "keys"


@pytest.mark.parametrize("setting", ["private key", "missing file"])
def test_verify_with_a_wrong_trusted_keys_setting_is_one_error(
    setting: str, store: Store, keys: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    value = keys / ("publisher" if setting == "private key" else "nothere.pub")
    monkeypatch.setenv("REMOTEIMPORT_TRUSTED_KEYS", str(value))
    code, out, err = run_main(capsys, "verify", "--store", store.url)
    assert (code, out) == (1, "") and err.count("\n") == 1 and "DAMAGED" not in err
    if setting == "private key":
        assert err == (
            f"remoteimport: error: the trusted key {value} ($REMOTEIMPORT_TRUSTED_KEYS) is a private key: trust its "
            f"public key ({value}.pub, next to it) instead, the .pub file `remoteimport keygen` wrote. The private "
            "key stays with the publisher.\n"
        )
    else:
        assert err.startswith(f"remoteimport: error: cannot read the trusted public key {value}: ")
    code, out, _ = run_main(capsys, "verify", "--store", store.url, "--json")
    assert code == 1 and list(json.loads(out)) == ["error"]  # no report of versions, each "damaged"


def test_a_public_key_as_the_signing_key_says_so_and_names_the_private_one(
    store: Store, keys: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    public = keys / "publisher.pub"
    monkeypatch.setenv("REMOTEIMPORT_SIGNING_KEY", str(public))
    code, _, err = run_main(capsys, "sign", "Greeter", "--store", store.url)
    assert code == 1 and err == (
        f"remoteimport: error: the signing key {public} ($REMOTEIMPORT_SIGNING_KEY) is a public key: signing needs "
        f"the private key of its pair ({keys / 'publisher'}, next to it). Give that instead; the .pub file is for "
        "the hosts that import ($REMOTEIMPORT_TRUSTED_KEYS).\n"
    )
    code, _, err = run_main(capsys, "sign", "Greeter", "--key", str(public), "--store", store.url)
    assert code == 1 and "a public key" in err and "keygen" not in err


def test_key_advice_never_names_a_keygen_that_would_refuse(tmp_path: Path, keys: Path) -> None:
    from remoteimport.errors import RemoteImportError
    from remoteimport.signing import load_signing_key

    (tmp_path / "garbage").write_text("not a key\n")
    (tmp_path / "lost").with_suffix(".pub").write_text("the private half is missing\n")
    for path in (tmp_path / "garbage", tmp_path / "lost"):  # `keygen PATH` refuses: PATH or PATH.pub exists
        with pytest.raises(RemoteImportError) as caught:
            load_signing_key(path)
        assert f"keygen {path}" not in str(caught.value) and "remoteimport keygen" in str(caught.value)
    with pytest.raises(RemoteImportError, match=f"Create one with `remoteimport keygen {tmp_path / 'new'}`"):
        load_signing_key(tmp_path / "new")  # nothing there: keygen would create it


# -- Ctrl-C: one line and status 130, once or twice -----------------------------------------------------------


def test_ctrl_c_stops_the_web_view_with_one_line(store: Store) -> None:
    child = remoteimport_command("ui", "--port", "0", "--store", store.url)
    try:
        assert "serving the store" in child.stdout.readline()  # type: ignore[union-attr]
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert (child.returncode, out, err) == (130, "", "remoteimport: interrupted\n")


def test_a_second_ctrl_c_while_exiting_ends_at_once_without_a_traceback(tmp_path: Path) -> None:
    script = tmp_path / "slow.py"
    script.write_text(
        textwrap.dedent(
            """\
            import threading, time
            threading.Thread(target=time.sleep, args=(30,)).start()  # not a daemon: exiting waits for it
            print("ready", flush=True)
            time.sleep(60)
            """
        )
    )
    environment = {**os.environ, "REMOTEIMPORT_STORE": str(tmp_path / "store")}
    child = remoteimport_command("run", str(script), env=environment)
    try:
        assert child.stdout.readline() == "ready\n"  # type: ignore[union-attr]
        child.send_signal(signal.SIGINT)  # stops the script; exiting then waits for its thread
        time.sleep(1)
        assert child.poll() is None
        started = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert time.monotonic() - started < 10
    assert (child.returncode, out, err) == (130, "", "remoteimport: interrupted\n")
