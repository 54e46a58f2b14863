"""Health checks: does each stored version still *load*, as a fresh interpreter on this host would load it?

``remoteimport verify`` checks digests and signatures without unpickling anything; a blob can pass that and
still not load (a payload re-sealed under another class's hash, a requirement this host lacks, a loader bug of
an old release). :func:`doctor` runs :func:`remoteimport.get_version` for each version in a fresh interpreter
(``python -I``, an empty working directory, the blob cache off, so the store's own copy is checked), where the
trust policy, the requirement check, the unpickling and the re-hash all happen. One child checks many versions;
a child that crashes or hangs marks the version it was loading as damaged, and a new child goes on with the
rest, so the check never hangs.

Loading runs the version's code, so doctor loads only what an import could be sent to: the versions ``latest``,
a tag or a history entry names. A blob nothing names (an orphan: left by a failed push, or planted by a store
writer) is reported as skipped; ``include_orphans=True`` loads orphans too, and only with trusted keys, so an
unsigned or foreign one is refused before anything is unpickled. Everything a child warns or prints while loading
a version is reported with it (``VersionHealth.warnings``). Verdicts come back on a pipe of their own, each line
carrying a random token the parent gave the child on stdin: what the loaded code prints cannot pass for a verdict.

Example (a local folder or any shared URL; ``memory://`` lives in one process and cannot be checked)::

    for outcome in doctor("/srv/classes", "MyFilter"):
        print(outcome.name, outcome.hash[:12], outcome.state, outcome.reason)
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from typing import IO, Literal

from remoteimport.errors import IntegrityError, StoreError
from remoteimport.names import validate_name, validate_version
from remoteimport.registry import resolve_store
from remoteimport.signing import ENV_REQUIRE_SIGNATURES, ENV_TRUSTED_KEYS, public_key_text
from remoteimport.store import Store

__all__ = ["doctor", "VersionHealth", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 120.0  # seconds one version may take to load in the child (import, fetch, unpickle, re-hash)
STDERR_TAIL = 600  # characters of a crashed child's stderr quoted in the reason

# The child: reads {"store", "versions", "verdicts", "nonce"} on stdin; on the pipe ``verdicts`` (not stdout,
# which the loaded code writes to) it writes one JSON line as it starts each version and one with its outcome and
# what was warned or printed meanwhile, each with ``nonce``. The token lives in main()'s frame only, never in a
# module global the loaded code could read by name. Only remoteimport's public API is used.
_CHILD = """\
import json, os, sys


def main():
    request = json.loads(sys.stdin.read())
    nonce, verdicts = request["nonce"], os.fdopen(request["verdicts"], "w", encoding="utf-8")

    def tell(message):
        verdicts.write(json.dumps({**message, "nonce": nonce}) + "\\n")
        verdicts.flush()

    import io, warnings
    import remoteimport
    store = remoteimport.Store(request["store"], cache=False)
    for name, full_hash in request["versions"]:
        tell({"start": [name, full_hash]})
        said = io.StringIO()
        sys.stdout = sys.stderr = said  # what the loader warns (logging's last resort too) and the code prints
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    remoteimport.get_version(name, full_hash, store=store)
                    healthy, reason = True, "loads and re-hashes"
                except BaseException as exc:
                    healthy, reason = False, f"{type(exc).__name__}: {exc}"
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        notes = [f"{each.category.__name__}: {each.message}" for each in caught]
        notes += [line for line in said.getvalue().splitlines() if line.strip()]
        tell({"name": name, "hash": full_hash, "healthy": healthy, "reason": reason, "warnings": notes})


main()
"""


@dataclasses.dataclass(frozen=True)
class VersionHealth:
    """One version's outcome: ``healthy`` (it loads and re-hashes in a fresh interpreter), ``damaged``, or
    ``skipped`` (not loaded: no ref or history entry names it); ``warnings``: what loading it warned or printed."""

    name: str
    hash: str
    state: Literal["healthy", "damaged", "skipped"]
    reason: str
    warnings: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return self.state == "healthy"

    @property
    def damaged(self) -> bool:
        return self.state == "damaged"

    def to_json(self) -> dict[str, object]:
        return {**dataclasses.asdict(self), "warnings": list(self.warnings)}


def doctor(
    store: Store | str | None = None,
    name: str | None = None,
    hash_or_prefix: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[int, int, VersionHealth], None] | None = None,
    include_orphans: bool = False,
) -> list[VersionHealth]:
    """Load every named version of the store (or of ``name``, or the one version ``name@hash_or_prefix``) in a
    fresh interpreter and report each as healthy or damaged, with the reason and what loading it warned; blobs
    no ref or history entry names are reported as skipped, or loaded too with ``include_orphans`` (which needs
    trusted keys). ``timeout``: seconds one version may take before its child is stopped;
    ``progress(done, total, outcome)`` is called after each version loaded.

    The child sees the store by its URL (local folders by absolute path; ``memory://`` cannot be checked) and
    this store's trust policy (its trusted keys, written to files of their own, and
    ``$REMOTEIMPORT_REQUIRE_SIGNATURES``)."""
    if hash_or_prefix is not None and name is None:
        raise StoreError("doctor: a hash needs the class name: NAME@HASH")
    if name is not None:
        validate_name(name)
    if hash_or_prefix is not None:
        validate_version(hash_or_prefix)  # a hash, prefix, tag or `latest` (Store.resolve_version)
    target = resolve_store(store)
    if target.url.startswith("memory://"):
        raise StoreError(f"{target.url} exists only inside this process; doctor needs a folder path or a shared URL")
    if include_orphans and not target.policy.trust.trusted:
        raise StoreError(
            "doctor: loading blobs that no ref or history entry names runs whatever a store writer left there: "
            f"it needs trusted keys (${ENV_TRUSTED_KEYS}), so that only versions they signed are unpickled"
        )
    versions, skipped = _versions(target, name, hash_or_prefix, include_orphans)
    results: list[VersionHealth] = []
    with tempfile.TemporaryDirectory(prefix="remoteimport-doctor-keys-") as keys:
        environment = _child_environment(target, keys)  # before any child starts: their folder is another
        pending = list(versions)
        while pending:
            checked = _run_child(target.unredacted_url, pending, environment, timeout)  # the child opens it
            for outcome in checked:
                results.append(outcome)
                if progress is not None:
                    progress(len(results), len(versions), outcome)
            pending = pending[len(checked) :]
    return results + skipped


def _versions(
    target: Store, name: str | None, hash_or_prefix: str | None, include_orphans: bool
) -> tuple[list[tuple[str, str]], list[VersionHealth]]:
    """The versions to load, and the outcomes of those skipped: blobs no ref names (unless ``include_orphans``),
    and every blob of a name whose refs cannot be read (what they name is unknown)."""
    names = [name] if name is not None else sorted(set(target.names()) | set(target.blob_names()))
    load: list[tuple[str, str]] = []
    skipped: list[VersionHealth] = []
    for each in names:
        if hash_or_prefix is not None:
            stored = [target.resolve_version(each, hash_or_prefix)]
        else:
            stored = target.blob_hashes(each)
        try:
            named, orphans_allowed = target.named_hashes(each), include_orphans
            why = "no ref or history entry names it: not loaded (doctor --orphans loads it, with trusted keys)"
        except IntegrityError as exc:
            named, orphans_allowed = set(), False
            why = f"not loaded: the refs of {each} cannot be read ({exc})"
        for full_hash in stored:
            if full_hash in named or orphans_allowed:
                load.append((each, full_hash))
            else:
                skipped.append(VersionHealth(each, full_hash, "skipped", why))
    if name is not None and not load and not skipped:
        raise target.name_not_found(name)
    return load, skipped


def _child_environment(target: Store, keys: str) -> dict[str, str]:
    """This process's environment, with the store's trust policy spelled out and the blob cache off. Each trusted
    key is written to a file of its own under the folder ``keys`` and named by its absolute path: the children
    run in another folder (a relative path would name nothing there), and a key given as text has no file."""
    environment = dict(os.environ)
    environment["REMOTEIMPORT_CACHE_DIR"] = "off"  # check the store's copy, not a cached one
    policy = target.policy.trust
    paths = []
    for index, key in enumerate(policy.trusted):
        path = os.path.join(os.path.abspath(keys), f"trusted-{index}.pub")
        with open(path, "w", encoding="ascii") as file:
            file.write(public_key_text(key))
        paths.append(path)
    environment[ENV_TRUSTED_KEYS] = ",".join(paths)
    if policy.require_signatures:
        environment[ENV_REQUIRE_SIGNATURES] = "1"
    return environment


def _run_child(
    url: str, versions: list[tuple[str, str]], environment: dict[str, str], timeout: float
) -> list[VersionHealth]:
    """Check ``versions`` in order in one child; return the outcomes it got to (at least one: a version the child
    crashed or hung on is reported damaged, and the caller starts a new child for the rest)."""
    nonce = secrets.token_hex(16)
    outcomes: list[VersionHealth] = []
    with tempfile.TemporaryDirectory(prefix="remoteimport-doctor-") as empty, tempfile.TemporaryFile() as errors:
        verdicts, verdicts_for_child = os.pipe()
        try:
            child = subprocess.Popen(
                [sys.executable, "-I", "-c", _CHILD],
                cwd=empty,
                env=environment,
                stdin=subprocess.PIPE,
                stdout=errors,  # files, not pipes: a chatty child can never block on them
                stderr=errors,
                pass_fds=(verdicts_for_child,),
                text=True,
            )
        finally:
            os.close(verdicts_for_child)  # the child's copy is the only writer left: its exit ends the stream
        lines: queue.Queue[str | None] = queue.Queue()
        stream = os.fdopen(verdicts, encoding="utf-8", errors="replace")
        reader = threading.Thread(target=_read_lines, args=(stream, lines), daemon=True)
        reader.start()
        assert child.stdin is not None
        versions_json = [list(version) for version in versions]
        child.stdin.write(
            json.dumps({"store": url, "versions": versions_json, "verdicts": verdicts_for_child, "nonce": nonce})
        )
        child.stdin.close()
        current = versions[0]
        crashed = False
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
                    crashed = True
                    break
                message = _parse(line, nonce)
                if message is None:
                    continue  # not the harness's (it would take reading the child's memory to write one)
                if "start" in message:
                    current = (str(message["start"][0]), str(message["start"][1]))
                    deadline = time.monotonic() + timeout
                elif message.get("hash") == current[1]:
                    state = "healthy" if message.get("healthy") is True else "damaged"
                    notes = tuple(str(note) for note in message.get("warnings") or ())
                    reason = str(message.get("reason", ""))
                    outcomes.append(VersionHealth(current[0], current[1], state, reason, notes))
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
            reader.join(timeout=5)
            stream.close()
        leftover = _written(errors)  # what reached the file descriptors themselves, past sys.stdout/stderr
        if leftover and outcomes and not crashed:  # (a crash's reason quotes it)
            last = outcomes[-1]
            outcomes[-1] = dataclasses.replace(last, warnings=(*last.warnings, f"the interpreter wrote: {leftover}"))
    return outcomes


def _read_lines(stream: IO[str] | None, lines: queue.Queue[str | None]) -> None:
    assert stream is not None
    for line in stream:
        lines.put(line)
    lines.put(None)


def _parse(line: str, nonce: str) -> dict | None:
    try:
        message = json.loads(line)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("nonce") != nonce:
        return None
    return message if "start" in message or "hash" in message else None


def _damaged(version: tuple[str, str], reason: str) -> VersionHealth:
    return VersionHealth(version[0], version[1], "damaged", reason)


def _written(errors: IO[bytes]) -> str:
    errors.seek(0)
    return errors.read().decode("utf-8", "replace").strip()[-STDERR_TAIL:]


def _crash_reason(returncode: int, errors: IO[bytes]) -> str:
    tail = _written(errors)
    how = f"killed by signal {-returncode}" if returncode < 0 else f"exit status {returncode}"
    return f"the interpreter loading it crashed ({how})" + (f": {tail}" if tail else "")


def summary(results: Iterable[VersionHealth]) -> tuple[int, int]:
    """``(healthy, damaged)`` counts (skipped versions are neither)."""
    results = list(results)
    return sum(result.healthy for result in results), sum(result.damaged for result in results)
