"""Health checks: does each stored version still *load*, as a fresh interpreter on this host would load it?

``remoteimport verify`` checks digests and signatures without unpickling anything; a blob can pass that and
still not load (a payload re-sealed under another class's hash, a requirement this host lacks, a loader bug of
an old release). :func:`doctor` runs :func:`remoteimport.get_version` for each version in a fresh interpreter
(``python -I``, an empty working directory, the blob cache off, so the store's own copy is checked), where the
trust policy, the requirement check, the unpickling and the re-hash all happen. One child checks many versions;
a child that crashes or hangs marks the version it was loading as damaged, and a new child goes on with the
rest, so the check never hangs.

Example (a local folder or any shared URL; ``memory://`` lives in one process and cannot be checked)::

    for outcome in doctor("/srv/classes", "MyFilter"):
        print(outcome.name, outcome.hash[:12], outcome.state, outcome.reason)
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from typing import IO, Literal

from remoteimport.errors import StoreError
from remoteimport.names import validate_hash, validate_name
from remoteimport.registry import resolve_store
from remoteimport.signing import ENV_REQUIRE_SIGNATURES, ENV_TRUSTED_KEYS
from remoteimport.store import Store

__all__ = ["doctor", "VersionHealth", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 120.0  # seconds one version may take to load in the child (import, fetch, unpickle, re-hash)
STDERR_TAIL = 600  # characters of a crashed child's stderr quoted in the reason

# The child: reads {"store", "versions"} on stdin, prints one JSON line as it starts each version and one with
# its outcome. Only remoteimport's public API is used.
_CHILD = """\
import json, sys
request = json.loads(sys.stdin.read())
import remoteimport
store = remoteimport.Store(request["store"], cache=False)
for name, full_hash in request["versions"]:
    print(json.dumps({"start": [name, full_hash]}), flush=True)
    try:
        remoteimport.get_version(name, full_hash, store=store)
        outcome = {"name": name, "hash": full_hash, "healthy": True, "reason": "loads and re-hashes"}
    except BaseException as exc:
        reason = f"{type(exc).__name__}: {exc}"
        outcome = {"name": name, "hash": full_hash, "healthy": False, "reason": reason}
    print(json.dumps(outcome), flush=True)
"""


@dataclasses.dataclass(frozen=True)
class VersionHealth:
    """One version's outcome: ``healthy`` (it loads and re-hashes in a fresh interpreter) or ``damaged``."""

    name: str
    hash: str
    state: Literal["healthy", "damaged"]
    reason: str

    @property
    def healthy(self) -> bool:
        return self.state == "healthy"

    def to_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def doctor(
    store: Store | str | None = None,
    name: str | None = None,
    hash_or_prefix: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[int, int, VersionHealth], None] | None = None,
) -> list[VersionHealth]:
    """Load every version of the store (or of ``name``, or the one version ``name@hash_or_prefix``) in a fresh
    interpreter and report each as healthy or damaged, with the reason. ``timeout``: seconds one version may
    take before its child is stopped; ``progress(done, total, outcome)`` is called after each version.

    The child sees the store by its URL (local folders by absolute path; ``memory://`` cannot be checked) and
    this store's trust policy (its trusted keys' files, and ``$REMOTEIMPORT_REQUIRE_SIGNATURES``)."""
    if hash_or_prefix is not None and name is None:
        raise StoreError("doctor: a hash needs the class name: NAME@HASH")
    if name is not None:
        validate_name(name)
    if hash_or_prefix is not None:
        validate_hash(hash_or_prefix)
    target = resolve_store(store)
    if target.url.startswith("memory://"):
        raise StoreError(f"{target.url} exists only inside this process; doctor needs a folder path or a shared URL")
    versions = _versions(target, name, hash_or_prefix)
    environment = _child_environment(target)
    results: list[VersionHealth] = []
    pending = list(versions)
    while pending:
        checked = _run_child(target.url, pending, environment, timeout)
        for outcome in checked:
            results.append(outcome)
            if progress is not None:
                progress(len(results), len(versions), outcome)
        pending = pending[len(checked) :]
    return results


def _versions(target: Store, name: str | None, hash_or_prefix: str | None) -> list[tuple[str, str]]:
    if name is not None and hash_or_prefix is not None:
        return [(name, target.resolve(name, hash_or_prefix))]
    names = [name] if name is not None else sorted(set(target.names()) | set(target.blob_names()))
    found = [(each, full_hash) for each in names for full_hash in target.blob_hashes(each)]
    if name is not None and not found:
        raise target.name_not_found(name)
    return found


def _child_environment(target: Store) -> dict[str, str]:
    """This process's environment, with the store's trust policy spelled out and the blob cache off."""
    environment = dict(os.environ)
    environment["REMOTEIMPORT_CACHE_DIR"] = "off"  # check the store's copy, not a cached one
    policy = target.policy.trust
    environment[ENV_TRUSTED_KEYS] = ",".join(key.source for key in policy.trusted)
    if policy.require_signatures:
        environment[ENV_REQUIRE_SIGNATURES] = "1"
    return environment


def _run_child(
    url: str, versions: list[tuple[str, str]], environment: dict[str, str], timeout: float
) -> list[VersionHealth]:
    """Check ``versions`` in order in one child; return the outcomes it got to (at least one: a version the child
    crashed or hung on is reported damaged, and the caller starts a new child for the rest)."""
    request = json.dumps({"store": url, "versions": [list(version) for version in versions]})
    outcomes: list[VersionHealth] = []
    with tempfile.TemporaryDirectory(prefix="remoteimport-doctor-") as empty, tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(
            [sys.executable, "-I", "-c", _CHILD],
            cwd=empty,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,  # a file, not a pipe: a chatty child can never block on it
            text=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(child.stdout, lines), daemon=True)
        reader.start()
        assert child.stdin is not None
        child.stdin.write(request)
        child.stdin.close()
        current = versions[0]
        deadline = time.monotonic() + timeout + 30.0  # the first version also pays for the interpreter start
        try:
            while len(outcomes) < len(versions):
                try:
                    line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    child.kill()
                    outcomes.append(_damaged(current, f"timed out: it did not load within {timeout:g} s"))
                    break
                if line is None:  # the child exited before reporting every version
                    child.wait()
                    outcomes.append(_damaged(current, _crash_reason(child.returncode, errors)))
                    break
                message = _parse(line)
                if message is None:
                    continue  # something the loaded code printed
                if "start" in message:
                    current = (str(message["start"][0]), str(message["start"][1]))
                    deadline = time.monotonic() + timeout
                elif message.get("hash") == current[1]:
                    state = "healthy" if message.get("healthy") is True else "damaged"
                    outcomes.append(VersionHealth(current[0], current[1], state, str(message.get("reason", ""))))
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
            reader.join(timeout=5)
    return outcomes


def _read_lines(stream: IO[str] | None, lines: queue.Queue[str | None]) -> None:
    assert stream is not None
    for line in stream:
        lines.put(line)
    lines.put(None)


def _parse(line: str) -> dict | None:
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) and ("start" in message or "hash" in message) else None


def _damaged(version: tuple[str, str], reason: str) -> VersionHealth:
    return VersionHealth(version[0], version[1], "damaged", reason)


def _crash_reason(returncode: int, errors: IO[bytes]) -> str:
    errors.seek(0)
    tail = errors.read().decode("utf-8", "replace").strip()[-STDERR_TAIL:]
    how = f"killed by signal {-returncode}" if returncode < 0 else f"exit status {returncode}"
    return f"the interpreter loading it crashed ({how})" + (f": {tail}" if tail else "")


def summary(results: Iterable[VersionHealth]) -> tuple[int, int]:
    """``(healthy, damaged)`` counts."""
    results = list(results)
    damaged = sum(not result.healthy for result in results)
    return len(results) - damaged, damaged
