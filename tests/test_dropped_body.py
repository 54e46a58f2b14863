"""A connection dropped in the middle of a blob's body is retried by the store's one retry layer.

botocore retries a request until its response headers arrive; the body is read after that, outside its retries
(and s3fs's own loop is set to one attempt: remoteimport.store._one_retry_layer). A loopback HTTP proxy between
s3fs and moto's server (tests/backends.py) forwards every exchange whole, except the GETs of a blob it is told to
cut: of those it sends the headers and half the body, then closes the connection (what a reset mid-download
looks like to the client: aiohttp's ``ClientPayloadError``).
"""

from __future__ import annotations

import importlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from backends import S3_BUCKET, S3Server
from sample_classes import make_filter

import remoteimport
from remoteimport.cache import BlobCache
from remoteimport.errors import StoreUnreachableError
from remoteimport.store import DEADLINE_MARGIN, Store


class CuttingProxy:
    """An HTTP/1.1 proxy on ``127.0.0.1:<free port>`` in front of ``upstream`` (``host``, ``port``), one thread per
    connection, one exchange at a time. ``cut(method, path)`` says whether to cut the response to a request;
    ``cuts`` counts the responses cut."""

    def __init__(self, upstream: tuple[str, int], cut: Callable[[str, str], bool]) -> None:
        self.upstream = upstream
        self.cut = cut
        self.cuts = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="cutting-proxy", daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        client_in, upstream_in = client.makefile("rb"), upstream.makefile("rb")
        try:
            while True:
                request = _read_message(client_in, has_body=True)
                if request is None:
                    return
                method, path = request[0].split(b" ", 2)[:2]
                upstream.sendall(request[0] + request[1])
                response = _read_message(upstream_in, has_body=method != b"HEAD")
                if response is None:
                    return
                head, body = response
                with self._lock:
                    cutting = bool(body) and self.cut(method.decode(), path.decode())
                    self.cuts += cutting
                if cutting:
                    client.sendall(head + body[: len(body) // 2])
                    return  # the connection drops mid-body
                client.sendall(head + body)
        except OSError:
            return
        finally:
            for closing in (client_in, upstream_in, client, upstream):
                closing.close()


def _read_message(stream: object, *, has_body: bool) -> tuple[bytes, bytes] | None:
    """(start line and headers, body) of one HTTP/1.1 message with a Content-Length body (what moto and botocore
    send); None at the end of the stream."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = stream.readline()  # type: ignore[attr-defined]
        if not line:
            return None
        head += line
    length = 0
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value)
    body = stream.read(length) if has_body and length else b""  # type: ignore[attr-defined]
    return head, body


@pytest.fixture
def pushed(s3_server: S3Server) -> tuple[str, str]:
    """A store URL on moto holding one version of MyFilter (pushed straight to moto), and its full hash."""
    url = f"s3://{S3_BUCKET}/{uuid.uuid4().hex}"
    return url, remoteimport.push(make_filter(41), store=url)


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[Callable[[Callable[[str, str], bool]], CuttingProxy]]:
    started: list[CuttingProxy] = []

    def start(cut: Callable[[str, str], bool]) -> CuttingProxy:
        started.append(CuttingProxy(("127.0.0.1", s3_server.port), cut))
        return started[-1]

    yield start
    for running in started:
        running.close()


def cut_once(matches: Callable[[str, str], bool]) -> Callable[[str, str], bool]:
    """A proxy rule that cuts the body of the first request ``matches`` accepts, and of no other."""
    cut: list[str] = []

    def rule(method: str, path: str) -> bool:
        if cut or not matches(method, path):
            return False
        cut.append(path)
        return True

    return rule


def blob_gets(log: list, full_hash: str) -> int:
    return sum(1 for request in log if request.method == "GET" and request.path.endswith(f"{full_hash}.blob"))


def test_a_body_cut_once_is_read_again_and_the_import_succeeds(
    s3_server: S3Server, pushed: tuple[str, str], proxy: Callable, tmp_path: Path
) -> None:
    url, full_hash = pushed
    through = proxy(cut_once(lambda method, path: method == "GET" and ".blob" in path))
    store = Store(url, client_kwargs={"endpoint_url": through.endpoint}, cache=BlobCache(tmp_path / "cache"))
    namespace = f"dropped_{uuid.uuid4().hex[:12]}"
    remoteimport.install(store, namespace=namespace)
    try:
        with s3_server.counting() as log:
            cls = importlib.import_module(f"{namespace}.MyFilter@{full_hash}").MyFilter
    finally:
        remoteimport.uninstall(namespace)
    assert cls().apply(1) == 41
    assert through.cuts == 1
    assert blob_gets(log, full_hash) == 2 and len(log) == 2, [str(request) for request in log]  # one extra GET


def test_a_cut_body_in_a_batch_is_read_again_alone(s3_server: S3Server, proxy: Callable) -> None:
    url = f"s3://{S3_BUCKET}/{uuid.uuid4().hex}"
    hashes = {remoteimport.push(make_filter(50 + index), store=url, name=f"Batch{index}"): index for index in range(3)}
    through = proxy(cut_once(lambda method, path: method == "GET" and "/Batch1/" in path))
    store = Store(url, client_kwargs={"endpoint_url": through.endpoint})
    with s3_server.counting() as log:
        found = store.read_blobs_if_present((f"Batch{index}", full_hash) for full_hash, index in hashes.items())
    assert all(data is not None and data.startswith(b"RIMPORT") for data in found.values())
    gets = sorted(request.path.split("/")[-3] for request in log if request.method == "GET")
    assert through.cuts == 1 and gets == ["Batch0", "Batch1", "Batch1", "Batch2"]  # only the cut one again


def test_a_body_cut_every_time_fails_clearly_within_the_deadline(
    s3_server: S3Server, pushed: tuple[str, str], proxy: Callable, tmp_path: Path
) -> None:
    url, full_hash = pushed
    through = proxy(lambda method, path: method == "GET" and ".blob" in path)
    store = Store(
        url, client_kwargs={"endpoint_url": through.endpoint}, retries=2, timeout=2, cache=BlobCache(tmp_path / "cache")
    )
    namespace = f"dropped_{uuid.uuid4().hex[:12]}"
    remoteimport.install(store, namespace=namespace)
    started = time.perf_counter()
    try:
        with s3_server.counting() as log, pytest.raises(StoreUnreachableError) as caught:
            importlib.import_module(f"{namespace}.MyFilter@{full_hash}")
    finally:
        remoteimport.uninstall(namespace)
    seconds = time.perf_counter() - started
    message = str(caught.value)
    assert f"cannot read {store.blob_path('MyFilter', full_hash)} in the store {url}" in message
    assert "(after 3 attempts)" in message and "ClientPayloadError" in message, message
    assert "The connection dropped while the answer was read; it is read again 2 times" in message
    assert blob_gets(log, full_hash) == through.cuts == 3  # the store's retries (2), not more
    assert seconds < store.timeout * (store.retries + 1) + DEADLINE_MARGIN
