"""Issue 23: what a store URL, a key setting or a store's contents can make remoteimport do or print.

Each attack runs for real, with a control that proves the check would see it: a chained URL's requests counted
by the S3 server, a password searched for in everything printed (and in what an HTTP server received), a
private key's text searched for in the output, an ESC byte searched for in what reaches the terminal."""

from __future__ import annotations

import base64
import http.server
import json
import threading

import pytest
from sample_classes import make_filter

import remoteimport
from remoteimport import cli, served, signing
from remoteimport.errors import StoreError
from remoteimport.store import Store, redact_url

SECRET = "s3cretpw"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# -- 1. a chained URL is where its last link is --------------------------------------------------------------


def test_a_chained_url_reads_s3_not_a_folder_of_the_same_name(s3_server, s3_url, tmp_path, monkeypatch, caplog):
    remoteimport.push(make_filter(23), store=Store(s3_url), name="OnS3")
    monkeypatch.chdir(tmp_path)
    decoy = tmp_path / s3_url.removeprefix("s3://") / "refs" / "Decoy"  # what `./bucket/classes` would hold
    decoy.mkdir(parents=True)
    (decoy / "latest").write_text("0" * 64)
    for chain in ("simplecache", "filecache"):
        store = Store(f"{chain}::{s3_url}")
        assert not store.is_local and not store.policy.local_store  # the cache and the warning apply
        with s3_server.counting() as requests:
            names = store.names()
        assert names == ["OnS3"], chain
        assert requests, f"{chain}:: sent no request to S3"
    # The control: the decoy is what the store listed when the chain was taken for a local folder.
    assert Store(str(tmp_path / s3_url.removeprefix("s3://"))).names() == ["Decoy"]

    signing._WARNED.clear()
    chained = Store(f"simplecache::{s3_url}", cache=False)
    remoteimport.get_version("OnS3", chained.latest("OnS3"), store=chained)
    assert "without signature checks" in caplog.text


def test_a_chained_plain_http_url_is_refused_unless_allowed(monkeypatch):
    monkeypatch.delenv("REMOTEIMPORT_ALLOW_HTTP", raising=False)
    for url in ("simplecache::http://127.0.0.1:9/classes", "filecache::HTTP://127.0.0.1:9/classes"):
        with pytest.raises(StoreError, match="plain-http"):
            Store(url)
    assert not Store("simplecache::http://127.0.0.1:9/classes", allow_http=True).is_local  # the control: allowed


def test_a_chained_memory_store_is_not_handed_to_child_processes():
    assert served._entry_of(Store("simplecache::memory://issue23"), None) is None
    assert served._entry_of(Store("/tmp/issue23-store"), None) is not None  # the control


# -- 2. secrets are never printed ------------------------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802  (http.server's name)
        _Recorder.seen.append(self.headers.get("Authorization", ""))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_url_with_password(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("REMOTEIMPORT_ALLOW_HTTP", "1")
    monkeypatch.setenv("REMOTEIMPORT_RETRIES", "0")
    _Recorder.seen.clear()
    try:
        yield f"http://user:{SECRET}@127.0.0.1:{server.server_address[1]}/classes"
    finally:
        server.shutdown()
        server.server_close()


def test_a_store_password_is_used_but_never_shown(http_url_with_password, capsys):
    url = http_url_with_password
    store = Store(url)
    assert SECRET not in repr(store) and SECRET not in store.url and store.url.startswith("http://***@127.0.0.1:")
    assert SECRET in store.unredacted_url  # the control: the store itself keeps the real URL
    printed = []
    for argv in (["ls"], ["ls", "--json"], ["log", "MyFilter"], ["log", "MyFilter", "--json"], ["show", "MyFilter"]):
        status, out, err = _run(capsys, *argv, "--store", url)
        assert status == 1, (argv, out, err)
        printed.append(out + err)
    assert all(SECRET not in text for text in printed), printed
    assert all("***@127.0.0.1" in text for text in printed), printed  # the store is still named
    credentials = base64.b64encode(f"user:{SECRET}".encode()).decode()
    assert f"Basic {credentials}" in _Recorder.seen  # the server got the password: the store used it


def test_the_web_view_header_hides_the_password():
    from remoteimport.ui.app import App

    page = App(Store(f"https://user:{SECRET}@example.invalid/classes"))._error("a page")
    assert SECRET not in page and "https://***@example.invalid/classes" in page  # the header names the store


def test_redact_url_replaces_every_urls_userinfo():
    text = f"cannot open simplecache::https://token@h/x or 'https://u:{SECRET}@h:1/y?q=a@b', not a@b or /a@b"
    assert redact_url(text) == "cannot open simplecache::https://***@h/x or 'https://***@h:1/y?q=a@b', not a@b or /a@b"


@pytest.fixture
def folder_with_a_class(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "secret_module.py").write_text("class Widget:\n    size = 3\n")
    signing.generate_key(tmp_path / "publisher")
    return tmp_path


@pytest.mark.parametrize("as_json", [False, True])
def test_a_signing_key_given_as_text_is_refused_without_printing_it(folder_with_a_class, monkeypatch, capsys, as_json):
    key_text = (folder_with_a_class / "publisher").read_text()
    body = key_text.splitlines()[1]  # the base64 line: the private key itself
    monkeypatch.setenv("REMOTEIMPORT_SIGNING_KEY", key_text)
    status, out, err = _run(capsys, "push", "secret_module:Widget", "--store", "store", *(["--json"] * as_json))
    assert status == 1 and body not in out + err, out + err
    assert "$REMOTEIMPORT_SIGNING_KEY holds the text of a key" in (
        json.loads(out)["error"]["message"] if as_json else err
    )
    assert not (folder_with_a_class / "store").exists()  # refused before anything was written
    # The control: as a path, the same key signs.
    monkeypatch.setenv("REMOTEIMPORT_SIGNING_KEY", str(folder_with_a_class / "publisher"))
    assert _run(capsys, "push", "secret_module:Widget", "--store", "store")[0] == 0


def test_trusted_keys_given_as_text_are_refused_without_printing_them(folder_with_a_class, monkeypatch, capsys):
    assert _run(capsys, "push", "secret_module:Widget", "--store", "store")[0] == 0
    private = (folder_with_a_class / "publisher").read_text()  # a private key pasted by mistake
    monkeypatch.setenv("REMOTEIMPORT_TRUSTED_KEYS", private)
    for as_json in ([], ["--json"]):
        status, out, err = _run(capsys, "show", "Widget", "--store", "store", *as_json)
        assert status == 1 and private.splitlines()[1] not in out + err, out + err
        assert "$REMOTEIMPORT_TRUSTED_KEYS holds the text of a key" in out + err
    monkeypatch.setenv("REMOTEIMPORT_TRUSTED_KEYS", str(folder_with_a_class / "publisher.pub"))  # the control
    assert _run(capsys, "show", "Widget", "--store", "store")[0] == 0


# -- 3. what a store holds never drives the terminal ----------------------------------------------------------

ESCAPE = "\x1b]0;owned\x07\x1b[2K\r"
FAKE_ROW = "\n0123456789ab  2026-01-01 00:00:00 UTC  3.11    push"


def _plant_history(store_folder, name: str, full_hash: str, **fields: object) -> None:
    entry = {"name": name, "hash": full_hash, "time": 1.0, "python": "3.11", "action": "push", **fields}
    history = store_folder / "refs" / name / "history"
    (history / f"9999999999999999999-{full_hash[:16]}-zz.json").write_text(json.dumps(entry))


def test_store_controlled_text_reaches_the_terminal_escaped(folder_with_a_class, capsys):
    from remoteimport.blob import decode_blob, encode_blob

    assert _run(capsys, "push", "secret_module:Widget", "--store", "store")[0] == 0
    store = Store("store")
    full_hash = store.latest("Widget")
    _plant_history(folder_with_a_class / "store", "Widget", full_hash, python=f"3.11{ESCAPE}{FAKE_ROW}")
    blob = decode_blob(store.read_blob("Widget", full_hash))
    header = blob.header.replace(
        qualname=f"Widget{ESCAPE}\nsignature:      signed by ed25519:feed (trusted)",
        source={f"evil{ESCAPE}.py": f"class Widget:\n    size = 3  # {ESCAPE}\u202e ok é\n"},
    )
    path = folder_with_a_class / "store" / "blobs" / "Widget" / full_hash[:2] / f"{full_hash}.blob"
    path.write_bytes(encode_blob(header, bytes(blob.payload)))

    for argv in (["log", "Widget"], ["show", "Widget"]):
        status, out, err = _run(capsys, *argv, "--store", "store")
        assert status == 0, err
        assert "\x1b" not in out + err and "\x07" not in out and "\r" not in out, out
        assert "\\x1b]0;owned\\x07" in out  # the control: the hostile text was printed, escaped
        assert not any(line.startswith("0123456789ab") for line in out.splitlines()), out
        assert not any(line.startswith("signature:      signed by ed25519:feed") for line in out.splitlines()), out
    assert "class Widget:\n    size = 3  # \\x1b" in out and "\\u202e ok é" in out  # source keeps its lines

    status, out, _ = _run(capsys, "log", "Widget", "--json", "--store", "store")
    assert json.loads(out)["versions"][0]["python"] == f"3.11{ESCAPE}{FAKE_ROW}"  # --json keeps the data
    status, out, _ = _run(capsys, "show", "Widget", "--json", "--store", "store")
    assert json.loads(out)["header"]["qualname"].startswith(f"Widget{ESCAPE}")


def test_a_diff_escapes_source_but_keeps_its_own_colours(folder_with_a_class, capsys, monkeypatch):
    from remoteimport.cli.base import Output

    out = Output(as_json=False, colour=True)
    out.coloured("add", f"+x = 1  # {ESCAPE}")
    printed = capsys.readouterr().out
    assert printed == "\x1b[32m+x = 1  # \\x1b]0;owned\\x07\\x1b[2K\\r\x1b[0m\n"


# -- 4. a hostile time in the history -------------------------------------------------------------------------


def test_log_shows_an_impossible_time_as_invalid(folder_with_a_class, capsys):
    assert _run(capsys, "push", "secret_module:Widget", "--store", "store")[0] == 0
    full_hash = Store("store").latest("Widget")
    history = folder_with_a_class / "store" / "refs" / "Widget" / "history"
    for index, raw in enumerate(("1e400", "99999999999999", "-1e400")):
        entry = f'{{"name": "Widget", "hash": "{full_hash}", "time": {raw}, "python": "3.11", "action": "push"}}'
        (history / f"999999999999999999{index}-{full_hash[:16]}-zz.json").write_text(entry)
    status, out, err = _run(capsys, "log", "Widget", "--store", "store")
    assert status == 0 and out.count("invalid time") == 3, out + err
    status, out, err = _run(capsys, "log", "Widget", "--json", "--store", "store")

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    versions = json.loads(out, parse_constant=refuse)["versions"]  # strict JSON: no Infinity
    assert status == 0 and [v["time_utc"] for v in versions].count("invalid time") == 3
    assert sorted(str(v["time"]) for v in versions[:3]) == ["99999999999999.0", "None", "None"]


def test_a_lock_error_never_shows_a_store_password() -> None:
    """A lock written before URLs were redacted may hold the password; the error quoting it must not."""
    from remoteimport.errors import LockError
    from remoteimport.lock import Lock, check_store

    lock = Lock(store="https://user:hunter2secret@host.example/classes", path="remoteimport.lock")
    with pytest.raises(LockError) as raised:
        check_store(lock, "https://other:pw2other@elsewhere.example/classes", "labchain_remote")
    message = str(raised.value)
    assert "hunter2secret" not in message and "pw2other" not in message
    assert "host.example/classes" in message and "elsewhere.example/classes" in message  # the control: it names them
