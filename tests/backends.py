"""Real object stores for the tests: moto's S3 server and gcp-storage-emulator, on free loopback ports.

Each server starts once per session (the fixtures below, made available by conftest.py) and speaks real HTTP:
s3fs and gcsfs reach them through the environment (``AWS_ENDPOINT_URL``, ``STORAGE_EMULATOR_HOST``), which
subprocesses inherit, so ``s3://`` and ``gs://`` URLs work unchanged in every interpreter a test starts. Every
test gets its own prefix in one shared bucket.

The S3 server counts the requests it serves (method, path, query) in a WSGI wrapper: the request-budget tests
and ``benchmarks/requests.py`` read the counts there, not from a wrapper around fsspec.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

S3_BUCKET = "remoteimport-test"
GCS_BUCKET = "remoteimport-test"

# gcsfs probes every bucket over gRPC for hierarchical namespaces unless told not to; the emulator cannot
# answer, and each first call would stall for about a minute. Must be set before gcsfs is imported.
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block (this process and the ones it starts)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}" + (f"?{self.query}" if self.query else "")


class S3Server:
    """moto's S3 in server mode behind a counting WSGI wrapper, on ``127.0.0.1:<free port>``.

    ``with server.counting() as log:`` collects the requests made during the block; ``max_in_flight``
    is the most requests the server was serving at once (concurrency seen from the server's side).
    """

    def __init__(self, log_path: str | None = None, latency: float = 0.0) -> None:
        self.port = free_port()
        self.latency = latency  # seconds added to every request: a network round trip, for benchmarks
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path  # when set, every request is also appended there, one line each
        self._logs: list[list[Request]] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self.max_in_flight = 0
        self._server: Any = None

    @property
    def environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import WSGIRequestHandler, make_server

        class QuietHandler(WSGIRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        application = DomainDispatcherApplication(create_backend_app)

        def counting(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            request = Request(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""))
            with self._lock:
                for log in self._logs:
                    log.append(request)
                if self.log_path is not None:
                    with open(self.log_path, "a") as file:
                        file.write(f"{request}\n")
                self._in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self._in_flight)
            try:
                if self.latency:
                    time.sleep(self.latency)
                response = application(environ, start_response)
                try:
                    return list(response)
                finally:
                    if hasattr(response, "close"):
                        response.close()
            finally:
                with self._lock:
                    self._in_flight -= 1

        self._server = make_server("127.0.0.1", self.port, counting, threaded=True, request_handler=QuietHandler)
        threading.Thread(target=self._server.serve_forever, name="moto-s3", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @contextlib.contextmanager
    def counting(self) -> Iterator[list[Request]]:
        """The requests served while the block runs (from any process)."""
        log: list[Request] = []
        with self._lock:
            self._logs.append(log)
            self.max_in_flight = 0
        try:
            yield log
        finally:
            with self._lock:
                self._logs.remove(log)

    def create_bucket(self, bucket: str) -> None:
        import s3fs

        s3fs.S3FileSystem(skip_instance_cache=True).mkdir(bucket)


class GCSServer:
    """gcp-storage-emulator (in memory) on ``127.0.0.1:<free port>``, with one bucket."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server: Any = None

    @property
    def environment(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.endpoint, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}

    def start(self) -> None:
        import logging

        from gcp_storage_emulator.server import create_server

        logging.getLogger("gcp_storage_emulator").setLevel(logging.WARNING)
        self._server = create_server("127.0.0.1", self.port, in_memory=True, default_bucket=GCS_BUCKET)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()


class FaultyFileSystem:
    """Wraps an fsspec filesystem and injects faults into its I/O calls (the tests' model of a bad network).

    - ``fail_calls({3, 4})``: the 3rd and 4th I/O calls (counting from 1) raise ``error`` (a dropped connection
      by default) without reaching the store; ``fail_from(k)``: every call from the k-th on (the store went down);
    - ``truncate_writes(suffix)``: a write to a path ending with ``suffix`` stores only its first half, then
      fails (a connection dropped mid-upload on a store without atomic writes);
    - ``latency``: seconds added to every call.

    ``calls`` records ``(method, path)`` of every I/O call, failed or not. Batches look sequential through the
    wrapper (``async_impl`` is False), so every object is one call.
    """

    IO_METHODS = frozenset({"cat_file", "pipe_file", "ls", "exists", "find", "info", "cat", "pipe", "rm", "rm_file"})
    async_impl = False

    def __init__(self, fs: Any, *, latency: float = 0.0) -> None:
        self.fs = fs
        self.latency = latency
        self.calls: list[tuple[str, str]] = []
        self._failing: set[int] = set()
        self._fail_from: int | None = None
        self._error: type[BaseException] = ConnectionResetError
        self._truncate_suffix: str | None = None
        self._lock = threading.Lock()

    def fail_calls(self, numbers: set[int], error: type[BaseException] = ConnectionResetError) -> FaultyFileSystem:
        self._failing, self._error = set(numbers), error
        return self

    def fail_from(self, number: int, error: type[BaseException] = ConnectionResetError) -> FaultyFileSystem:
        self._fail_from, self._error = number, error
        return self

    def truncate_writes(self, suffix: str | None) -> FaultyFileSystem:
        self._truncate_suffix = suffix
        return self

    def heal(self) -> FaultyFileSystem:
        """No more faults (latency stays)."""
        self._failing, self._fail_from, self._truncate_suffix = set(), None, None
        return self

    def __getattr__(self, attribute: str) -> Any:
        target = getattr(self.fs, attribute)
        if attribute not in self.IO_METHODS:
            return target

        def call(path: Any, *args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls.append((attribute, str(path)))
                number = len(self.calls)
            if self.latency:
                time.sleep(self.latency)
            if number in self._failing or (self._fail_from is not None and number >= self._fail_from):
                raise self._error(f"injected fault: call {number} ({attribute} {path})")
            if attribute == "pipe_file" and self._truncate_suffix and str(path).endswith(self._truncate_suffix):
                data = args[0] if args else kwargs["value"]
                target(path, data[: len(data) // 2])
                raise ConnectionResetError(f"injected fault: upload of {path} cut after {len(data) // 2} bytes")
            return target(path, *args, **kwargs)

        return call


# -- fixtures (conftest.py imports them) ---------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def session_blob_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Every test session gets its own blob cache: nothing lands in the user's cache directory, and a
    developer's own ``REMOTEIMPORT_CACHE_DIR`` does not leak in."""
    folder = str(tmp_path_factory.mktemp("blob-cache"))
    with environment({"REMOTEIMPORT_CACHE_DIR": folder}):
        yield folder


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    server.start()
    try:
        with environment(server.environment):
            server.create_bucket(S3_BUCKET)
            yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GCSServer]:
    server = GCSServer()
    server.start()
    try:
        with environment(server.environment):
            yield server
    finally:
        server.stop()


@pytest.fixture
def s3_url(s3_server: S3Server) -> str:
    """A fresh, empty ``s3://`` store URL on the moto server."""
    return f"s3://{S3_BUCKET}/{uuid.uuid4().hex}"


@pytest.fixture
def gs_url(gcs_server: GCSServer) -> str:
    """A fresh, empty ``gs://`` store URL on the GCS emulator."""
    return f"gs://{GCS_BUCKET}/{uuid.uuid4().hex}"


if __name__ == "__main__":
    # `python tests/backends.py LOG [LATENCY_MS]`: an S3 server in its own process (benchmarks/requests.py),
    # logging every request to LOG; prints its endpoint, serves until its standard input closes.
    server = S3Server(log_path=sys.argv[1], latency=float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0)
    server.start()
    with environment(server.environment):
        server.create_bucket(S3_BUCKET)
    print(server.endpoint, flush=True)
    sys.stdin.read()
    server.stop()
