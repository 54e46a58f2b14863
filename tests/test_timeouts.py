"""A silent endpoint (it accepts TCP connections and never answers) fails in bounded time, with one retry layer.

The endpoint is a real loopback server (a thread holding every connection it accepts, never writing a byte);
the backends are the real s3fs, gcsfs and fsspec's HTTP filesystem. The number of connections the server
accepted is the number of attempts made: it shows that retries are not stacked (s3fs's own loop on botocore's
on ours). Measured seconds are printed (``pytest -s``) and recorded as test properties (``--junitxml``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

from remoteimport.errors import StoreError, StoreUnreachableError
from remoteimport.store import (
    BATCH_CONCURRENCY,
    DEADLINE_MARGIN,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    ENV_RETRIES,
    ENV_TIMEOUT,
    Store,
)


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never answers; counts the connections."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        self.port = self._socket.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.connections: list[socket.socket] = []
        # close() from another thread does not wake a blocked accept() on Linux: poll for the stop instead.
        self._socket.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent-endpoint", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:  # closed: the test is over
                return
            self.connections.append(connection)  # held open, never read from nor written to

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def child_environment(endpoint: str, **settings: str) -> dict[str, str]:
    """A fresh interpreter's environment: S3 pointed at ``endpoint``, no REMOTEIMPORT_* but ``settings``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("REMOTEIMPORT_", "AWS_"))}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        REMOTEIMPORT_CACHE_DIR="off",
        **settings,
    )
    return env


IMPORT_LATEST = """
    import json, time
    import remoteimport
    started = time.perf_counter()
    remoteimport.install({url!r}, namespace="silent_remote")
    try:
        from silent_remote import MyFilter
        outcome = {{"type": None, "message": ""}}
    except Exception as exc:
        outcome = {{"type": type(exc).__name__, "message": str(exc),
                   "remoteimport_error": isinstance(exc, remoteimport.RemoteImportError)}}
    outcome["seconds"] = time.perf_counter() - started
    print(json.dumps(outcome))
"""


def import_in_fresh_interpreter(url: str, env: dict[str, str]) -> tuple[dict, float]:
    """``from ns import MyFilter`` served from ``url`` in a new interpreter, as a host configured only by
    its environment would; the outcome and the seconds the parent waited."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(IMPORT_LATEST.format(url=url))],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    waited = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), waited


def report(record_property: pytest.RecordProperty, label: str, seconds: float, connections: int) -> None:
    record_property(f"{label}_seconds", round(seconds, 2))
    record_property(f"{label}_connections", connections)
    print(f"\n{label}: {seconds:.1f} s, {connections} connection(s)")


# -- s3:// through AWS_ENDPOINT_URL --------------------------------------------------------------------------


@pytest.mark.timeout(200)
def test_a_silent_s3_endpoint_fails_in_about_twenty_seconds_by_default(
    silent: SilentServer, record_property: pytest.RecordProperty
) -> None:
    url = "s3://silent-bucket/classes"
    outcome, waited = import_in_fresh_interpreter(url, child_environment(silent.endpoint))
    report(record_property, "s3_default", outcome["seconds"], len(silent.connections))
    assert outcome["type"] == "StoreUnreachableError" and outcome["remoteimport_error"], outcome
    assert url in outcome["message"] and "ReadTimeoutError" in outcome["message"]
    assert ENV_TIMEOUT in outcome["message"] and ENV_RETRIES in outcome["message"]  # the message says what to set
    # One retry layer: botocore's, DEFAULT_RETRIES + 1 attempts, each a new connection after a timeout.
    assert len(silent.connections) == DEFAULT_RETRIES + 1
    assert (DEFAULT_RETRIES + 1) * DEFAULT_TIMEOUT <= outcome["seconds"] < 40  # ~20 s: timeouts plus backoff
    assert waited < 60


@pytest.mark.timeout(120)
def test_the_environment_sets_the_timeout_and_the_retries(
    silent: SilentServer, record_property: pytest.RecordProperty
) -> None:
    url = "s3://silent-bucket/classes"
    outcome, _ = import_in_fresh_interpreter(
        url, child_environment(silent.endpoint, **{ENV_TIMEOUT: "0.5", ENV_RETRIES: "0"})
    )
    report(record_property, "s3_timeout_0.5_retries_0", outcome["seconds"], len(silent.connections))
    assert outcome["type"] == "StoreUnreachableError" and url in outcome["message"], outcome
    assert "waits 0.5 s" in outcome["message"]
    assert len(silent.connections) == 1 and outcome["seconds"] < 3

    silent.connections.clear()
    outcome, _ = import_in_fresh_interpreter(
        url, child_environment(silent.endpoint, **{ENV_TIMEOUT: "0.5", ENV_RETRIES: "2"})
    )
    report(record_property, "s3_timeout_0.5_retries_2", outcome["seconds"], len(silent.connections))
    assert outcome["type"] == "StoreUnreachableError", outcome
    assert len(silent.connections) == 3 and outcome["seconds"] < 15  # 3 x 0.5 s plus botocore's backoff


@pytest.mark.timeout(60)
def test_storage_options_win_over_the_defaults(silent: SilentServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_TIMEOUT, "30")  # would take minutes, were it used
    store = Store(
        "s3://silent-bucket/classes",
        client_kwargs={"endpoint_url": silent.endpoint},
        config_kwargs={"read_timeout": 0.3, "retries": {"total_max_attempts": 2}},
        key="testing",
        secret="testing",
    )
    started = time.perf_counter()
    with pytest.raises(StoreUnreachableError, match="s3://silent-bucket/classes"):
        store.latest("MyFilter")
    assert time.perf_counter() - started < 10 and len(silent.connections) == 2
    config = store.fs.config_kwargs
    assert config["read_timeout"] == 0.3 and config["connect_timeout"] == 30  # theirs, then ours
    assert config["retries"]["total_max_attempts"] == 2
    assert store.storage_options["config_kwargs"] == {"read_timeout": 0.3, "retries": {"total_max_attempts": 2}}


def test_s3fs_is_configured_for_one_retry_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_TIMEOUT, "7")
    monkeypatch.setenv(ENV_RETRIES, "2")
    store = Store("s3://some-bucket/classes", client_kwargs={"endpoint_url": "http://127.0.0.1:9"})
    assert (store.timeout, store.retries) == (7.0, 2)
    assert store.fs.config_kwargs == {
        "connect_timeout": 7.0,
        "read_timeout": 7.0,
        "retries": {"total_max_attempts": 3},
        "max_pool_connections": BATCH_CONCURRENCY,  # a batch's requests all in flight (botocore keeps 10)
    }
    assert store.fs.retries == 1  # s3fs's own loop: one attempt, botocore retries
    assert Store("memory://x", retries=5, timeout=1).retries == 5  # arguments win over the environment


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        (ENV_TIMEOUT, "soon", "not a number of seconds"),
        (ENV_TIMEOUT, "0", "more than 0 seconds"),
        (ENV_TIMEOUT, "-1", "more than 0 seconds"),
        (ENV_RETRIES, "many", "not a whole number"),
        (ENV_RETRIES, "1.5", "not a whole number"),
        (ENV_RETRIES, "-1", "0 or more"),
    ],
)
def test_malformed_settings_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, words: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(StoreError, match=words) as caught:
        Store("memory://settings")
    assert variable in str(caught.value)


# -- other backends ---------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_silent_http_endpoint_is_bounded_by_the_same_settings(
    silent: SilentServer, monkeypatch: pytest.MonkeyPatch, record_property: pytest.RecordProperty, scheme: str
) -> None:
    monkeypatch.setenv(ENV_TIMEOUT, "0.5")
    monkeypatch.setenv(ENV_RETRIES, "2")
    url = f"{scheme}://127.0.0.1:{silent.port}/classes"
    store = Store(url, allow_http=True)
    started = time.perf_counter()
    with pytest.raises(StoreUnreachableError, match="after 3 attempts") as caught:
        store.latest("MyFilter")
    seconds = time.perf_counter() - started
    report(record_property, f"{scheme}_timeout_0.5_retries_2", seconds, len(silent.connections))
    assert url in str(caught.value) and seconds < 10
    assert len(silent.connections) == 3  # no backend retries: remoteimport's loop is the one layer


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_a_silent_gcs_endpoint_is_bounded(
    silent: SilentServer, monkeypatch: pytest.MonkeyPatch, record_property: pytest.RecordProperty
) -> None:
    """gcsfs makes 6 attempts 1, 2, 4, 8 and 16 s apart whatever it is told (not configurable): left alone, a
    silent GCS endpoint cost 6 x timeout + ~33 s (59 s at the defaults; it waited for hours before timeouts were
    set). The store's deadline for a whole operation (timeout x (retries + 1) + a margin) bounds it instead."""
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    monkeypatch.delenv(ENV_TIMEOUT, raising=False)
    store = Store("gs://silent-bucket/classes", token="anon", endpoint_url=silent.endpoint)
    deadline = store.timeout * (store.retries + 1) + DEADLINE_MARGIN
    started = time.perf_counter()
    with pytest.raises(StoreUnreachableError, match="gs://silent-bucket/classes") as caught:
        store.latest("MyFilter")
    seconds = time.perf_counter() - started
    report(record_property, "gcs_default", seconds, len(silent.connections))
    assert f"no complete answer within {deadline:g} s" in str(caught.value)
    assert deadline <= seconds < deadline + 5


# -- the bound the defaults promise, and the command line's notice ------------------------------------------

BOUND = 20.0  # seconds: a dead endpoint must fail within this at the defaults, on a loaded machine too


def test_the_defaults_make_a_dead_endpoint_fail_within_the_bound() -> None:
    """What the bound is made of, without a clock: the deadline of a whole operation (a hard stop, whatever the
    backend does) is under the bound, and botocore's attempts fit inside the deadline: (retries + 1) x timeout
    plus its largest backoff (legacy mode: up to 1, 2, 4 ... s before the 2nd, 3rd, 4th attempt)."""
    deadline = DEFAULT_TIMEOUT * (DEFAULT_RETRIES + 1) + DEADLINE_MARGIN
    largest_backoff = sum(2**attempt for attempt in range(DEFAULT_RETRIES))
    assert DEFAULT_TIMEOUT * (DEFAULT_RETRIES + 1) + largest_backoff + 1.0 <= deadline < BOUND - 2.0


CLI_LS = "import sys; from remoteimport.cli import main; sys.exit(main(sys.argv[1:]))"


def cli_in_fresh_interpreter(url: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CLI_LS, "ls", "--store", url], env=env, capture_output=True, text=True, timeout=300
    )
    return done, time.perf_counter() - started


@pytest.mark.timeout(120)
def test_a_silent_s3_endpoint_at_the_defaults_fails_within_the_bound_and_the_cli_says_it_retries(
    silent: SilentServer, record_property: pytest.RecordProperty
) -> None:
    url = "s3://silent-bucket/classes"
    done, waited = cli_in_fresh_interpreter(url, child_environment(silent.endpoint))
    report(record_property, "s3_default_cli", waited, len(silent.connections))
    assert done.returncode == 1 and "StoreUnreachableError" not in done.stdout
    assert "cannot list" in done.stderr and url in done.stderr, done.stderr
    notices = [line for line in done.stderr.splitlines() if "retrying" in line]
    assert len(notices) == 1 and url in notices[0], done.stderr  # once per operation, naming the store
    assert notices[0].startswith("remoteimport: ") and done.stderr.index(notices[0]) < done.stderr.index("error:")
    # Made of: each attempt a new connection that waited a whole timeout (a dead endpoint, not a fast failure)
    # ... and a hard deadline under the bound, so a loaded machine cannot push it past: the interpreter's
    # start-up and s3fs's import (which precede the deadline) are all the slack the wall clock needs.
    deadline = DEFAULT_TIMEOUT * (DEFAULT_RETRIES + 1) + DEADLINE_MARGIN
    if "ReadTimeoutError" in done.stderr:
        assert len(silent.connections) == DEFAULT_RETRIES + 1
    else:
        assert f"no complete answer within {deadline:g} s" in done.stderr, done.stderr
    assert waited < BOUND


@pytest.mark.timeout(120)
def test_a_port_with_nothing_listening_fails_within_the_bound(record_property: pytest.RecordProperty) -> None:
    with socket.socket() as probe:  # a free port, closed again: connections to it are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = "s3://dead-bucket/classes"
    done, waited = cli_in_fresh_interpreter(url, child_environment(f"http://127.0.0.1:{port}"))
    report(record_property, "s3_refused_cli", waited, 0)
    assert done.returncode == 1 and url in done.stderr and "cannot list" in done.stderr, done.stderr
    assert waited < BOUND


@pytest.mark.timeout(120)
def test_the_library_prints_no_notice(silent: SilentServer) -> None:
    """The control: the same wait in a program (not the command line) prints nothing but the error it raises."""
    env = child_environment(silent.endpoint, **{ENV_TIMEOUT: "0.5", ENV_RETRIES: "2"})
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(IMPORT_LATEST.format(url="s3://silent-bucket/classes"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["type"] == "StoreUnreachableError" and "retrying" not in done.stderr, done.stderr
    # ... while the command line, with the same settings, says it once.
    silent.connections.clear()
    cli, _ = cli_in_fresh_interpreter("s3://silent-bucket/classes", env)
    assert len([line for line in cli.stderr.splitlines() if "retrying" in line]) == 1, cli.stderr
