"""The read-only web view over HTTP (tests/test_ui_browser.py drives it in a real browser): what the pages
show, that nothing is ever unpickled, that hostile or damaged store content is escaped or shown as damaged,
that long lists are paged, and the `remoteimport ui` command."""

from __future__ import annotations

import html
import importlib.util
import os
import pickle
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import remoteimport
from remoteimport.blob import encode_blob, make_header
from remoteimport.store import Store, Version
from remoteimport.ui import start_server
from remoteimport.ui.views import PAGE_SIZE

VERSIONS = [
    "class Scaler:\n    factor = 2\n\n    def apply(self, x):\n        return x * self.factor\n",
    "class Scaler:\n    factor = 3\n\n    def apply(self, x):\n        return x * self.factor\n",
    "class Scaler:\n    factor = 3\n\n    def apply(self, x):\n        return x * self.factor + 1  # offset\n",
]


def _load(path: Path, text: str) -> type:
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"ui_scaler_{path.parent.name}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.Scaler


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def pushed(store: Store, tmp_path: Path) -> list[str]:
    """Three versions of Scaler, oldest first (each from its own file, so their shipped sources differ)."""
    hashes = []
    for index, text in enumerate(VERSIONS):
        folder = tmp_path / f"v{index}"
        folder.mkdir()
        hashes.append(remoteimport.push(_load(folder / "scaler.py", text), store=store))
    return hashes


@pytest.fixture
def server(store: Store) -> Iterator[str]:
    running = start_server(store)
    yield running.url
    running.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8")


def text_of(url: str) -> str:
    """The page with HTML entities decoded (messages quote names as &#39;Name&#39;)."""
    return html.unescape(get(url)[1])


def test_pages_show_classes_versions_headers_source_and_diffs(pushed: list[str], server: str) -> None:
    status, index = get(server)
    assert status == 200 and 'data-name="Scaler"' in index and pushed[-1][:12] in index
    status, versions = get(f"{server}c/Scaler")
    assert status == 200 and re.findall(r'data-hash="([0-9a-f]{64})"', versions) == pushed[::-1]
    assert f'name="b" value="{pushed[-1]}" checked' in versions and f'name="a" value="{pushed[-2]}" checked' in versions
    status, page = get(f"{server}c/Scaler/{pushed[0]}")
    assert status == 200 and f'value="labchain_remote.Scaler@{pushed[0]}"' in page
    assert "cloudpickle==" in page and 'class="highlight"' in page and "factor" in page
    assert "&#34;clazz&#34;: &#34;labchain_remote.Scaler@" in page  # the config snippet, escaped
    status, diff = get(f"{server}c/Scaler/diff?a={pushed[1]}&b={pushed[2]}")
    assert status == 200
    assert re.search(r'class="diff-del">-        return x \* self.factor<', diff)
    assert re.search(r'class="diff-add">\+        return x \* self.factor \+ 1  # offset<', diff)


def test_nothing_is_ever_unpickled_and_hostile_text_is_escaped(store: Store, server: str, tmp_path: Path) -> None:
    marker = tmp_path / "UNPICKLED"
    payload = pickle.dumps(_Plant(str(marker)))
    full_hash = "ab" * 32
    script = "</script><script>alert('x')</script>"
    header = make_header("Evil", full_hash, payload, source={f"<b>{script}</b>.py": f"# {script}\nclass Evil: pass\n"})
    header = header.__class__(**{**header.__dict__, "extra": {"note": f"<img src=x onerror=alert(1)>{script}"}})
    store.write_blob("Evil", full_hash, encode_blob(header, payload))
    store.set_latest("Evil", full_hash)
    store.append_history(Version("Evil", full_hash, time.time(), "3.11"))
    for path in ("", "c/Evil", f"c/Evil/{full_hash}", f"c/Evil/diff?a={full_hash}&b={full_hash}"):
        status, page = get(server + path)
        assert status == 200, (path, page)
        assert "<script>alert" not in page and "<img src=x" not in page, path
    assert not marker.exists()


class _Plant:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.marker,))


def test_a_damaged_blob_shows_as_damaged_and_the_server_keeps_serving(
    pushed: list[str], store: Store, server: str
) -> None:
    path = Path(store.blob_path("Scaler", pushed[0]))
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    status, page = get(f"{server}c/Scaler/{pushed[0]}")
    assert status == 200 and 'id="damaged"' in page and "sha256" in page
    status, diff = get(f"{server}c/Scaler/diff?a={pushed[0]}&b={pushed[1]}")
    assert status == 200 and 'id="damaged"' in diff
    (store.root and Path(store.root, "refs", "Scaler", "latest")).write_text("not a hash")
    status, index = get(server)
    assert status == 200 and "DAMAGED" in index
    assert get(f"{server}c/Scaler/{pushed[1]}")[0] == 200


def test_bad_requests_get_clear_answers(pushed: list[str], server: str) -> None:
    assert get(f"{server}c/..%2Fetc")[0] == 404
    assert get(f"{server}c/Nope")[0] == 404 and "no class named 'Nope'" in text_of(f"{server}c/Nope")
    assert "invalid hash 'zz'" in text_of(f"{server}c/Scaler/diff?a=zz&b={pushed[0]}")
    assert "pick two versions" in text_of(f"{server}c/Scaler/diff")
    assert get(f"{server}c/Scaler?offset=-1")[0] == 404
    request = urllib.request.Request(server, data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 405


def test_it_binds_to_loopback_by_default(store: Store) -> None:
    running = start_server(store)
    try:
        assert running.url.startswith("http://127.0.0.1:")
    finally:
        running.close()


def test_ten_thousand_versions_are_paged(store: Store, pushed: list[str], server: str) -> None:
    extra = [Version("Scaler", pushed[index % 3], 1_700_000_000 + index, "3.11") for index in range(10_000)]
    store.append_history_many(extra)
    started = time.perf_counter()
    status, first = get(f"{server}c/Scaler")
    seconds = time.perf_counter() - started
    print(f"history page of {len(extra) + 3} entries: {seconds * 1000:.0f} ms")
    assert status == 200 and first.count('class="version-row"') == PAGE_SIZE
    next_page = re.search(r'id="next-page" href="([^"]+)"', first)
    assert next_page and next_page.group(1) == f"/c/Scaler?offset={PAGE_SIZE}"
    status, last = get(f"{server}c/Scaler?offset={10_000}")
    assert status == 200 and last.count('class="version-row"') == 3 and 'id="next-page"' not in last


def test_the_ui_command_serves_and_says_where(pushed: list[str], store: Store) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "remoteimport", "ui", "--port", "0", "--store", store.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()  # type: ignore[union-attr]
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        status, index = get(url.group(0))
        assert status == 200 and 'data-name="Scaler"' in index
    finally:
        child.terminate()
        child.wait(timeout=30)


def test_tags_show_on_the_class_list_and_the_versions(pushed: list[str], store: Store, server: str) -> None:
    remoteimport.registry.tag("Scaler", pushed[0], "prod", store=store)
    status, index = get(server)
    assert status == 200 and re.search(rf'class="badge" href="/c/Scaler/{pushed[0]}">prod</a>', index)
    status, versions = get(f"{server}c/Scaler")
    row = versions[versions.index(f'data-hash="{pushed[0]}"') :].split("</tr>")[0]
    assert '<span class="badge tag">prod</span>' in row


# -- DNS rebinding and slow clients: real sockets against a real server ---------------------------------------


def raw_request(port: int, request: bytes, timeout: float = 30) -> tuple[int, str]:
    """Send ``request`` as is over a new connection; the status and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode("utf-8", "replace")


def get_with_host(port: int, host: str | None, path: str = "/") -> tuple[int, str]:
    host_line = f"Host: {host}\r\n" if host is not None else ""
    return raw_request(port, f"GET {path} HTTP/1.0\r\n{host_line}\r\n".encode())


def test_only_the_bound_address_and_localhost_are_answered(pushed: list[str], store: Store) -> None:
    """A page on attacker.example, its name rebound to 127.0.0.1, reaches the server with its own name as Host:
    it must not get the store's source back."""
    running = start_server(store)
    port = int(running.url.rsplit(":", 1)[1].strip("/"))
    try:
        # The controls: what a browser sends for the printed URL, or for localhost, gets the page.
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}"):
            status, body = get_with_host(port, host, f"/c/Scaler/{pushed[0]}")
            assert status == 200 and "factor" in body, host
        for host in (f"attacker.example:{port}", "attacker.example", f"localhost:{port + 1}", "localhost", "127.0.0.1"):
            status, body = get_with_host(port, host, f"/c/Scaler/{pushed[0]}")
            assert status == 421 and "factor" not in body and "does not answer for the host" in body, host
        status, body = get_with_host(port, None)
        assert status == 400 and "no Host" in body
    finally:
        running.close()

    extra = start_server(store, extra_hosts=["classes.internal"])  # a proxy's name, given on purpose
    port = int(extra.url.rsplit(":", 1)[1].strip("/"))
    try:
        assert get_with_host(port, f"classes.internal:{port}")[0] == 200
        assert get_with_host(port, f"attacker.example:{port}")[0] == 421
    finally:
        extra.close()


def test_a_slow_client_is_cut_off_and_does_not_hold_up_others(pushed: list[str], store: Store) -> None:
    from remoteimport.ui.app import CONNECTION_TIMEOUT

    running = start_server(store)
    port = int(running.url.rsplit(":", 1)[1].strip("/"))
    try:
        stalled = socket.create_connection(("127.0.0.1", port))
        idle = socket.create_connection(("127.0.0.1", port))
        started = time.monotonic()
        stalled.sendall(f"GET / HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: sl".encode())  # and no more
        # Another client is answered promptly meanwhile.
        status, body = get_with_host(port, f"127.0.0.1:{port}")
        assert status == 200 and 'data-name="Scaler"' in body and time.monotonic() - started < CONNECTION_TIMEOUT
        # The server closes both silent connections after CONNECTION_TIMEOUT (the control: without it, recv
        # would wait for this test's own limit, 3 x as long, and fail).
        for connection in (stalled, idle):
            connection.settimeout(3 * CONNECTION_TIMEOUT)
            try:
                assert connection.recv(1024) == b""
            except ConnectionResetError:
                pass
            connection.close()
        assert time.monotonic() - started < CONNECTION_TIMEOUT + 3
    finally:
        running.close()
