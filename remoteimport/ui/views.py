"""What the web view shows, read from a store: headers, history and shipped source — never a payload.

Each function returns plain data for one page. Nothing here unpickles: blobs are decoded (digest checked) for
their header only, and a blob, ref or history entry that cannot be read becomes a row marked damaged with the
reason, so one hostile file never takes a page down.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from datetime import datetime, timezone
from typing import Any

from remoteimport.blob import BlobHeader, decode_blob
from remoteimport.errors import RemoteImportError
from remoteimport.names import validate_hash, validate_name
from remoteimport.signing import TrustPolicy, signature_status
from remoteimport.store import Store

PAGE_SIZE = 50
NAMESPACE = "labchain_remote"


@dataclasses.dataclass(frozen=True)
class VersionInfo:
    """One version's header as the pages show it (``problem`` is set instead when it cannot be read)."""

    name: str
    hash: str
    header: BlobHeader | None = None
    signature: str = ""
    trust: str = ""  # "trusted" (a key this host trusts signed it), "unverified" (accepted, no key checked), "refused"
    problem: str = ""

    @property
    def pinned(self) -> str:
        return f"{NAMESPACE}.{self.name}@{self.hash}"


def read_version(store: Store, name: str, full_hash: str, policy: TrustPolicy) -> VersionInfo:
    """The header of ``name@full_hash``, its digest checked; a damaged blob gives ``problem`` instead."""
    try:
        data = store.read_blob(name, full_hash)
        header = decode_blob(
            data, expected_hash=full_hash, expected_name=name, source=store.blob_url(name, full_hash)
        ).header
    except (RemoteImportError, OSError, RecursionError, MemoryError) as exc:
        return VersionInfo(name, full_hash, problem=f"{type(exc).__name__}: {exc}")
    signature, acceptable = signature_status(header, policy)
    trust = "refused" if not acceptable else "trusted" if policy.trusted else "unverified"
    return VersionInfo(name, full_hash, header, signature, trust)


@dataclasses.dataclass(frozen=True)
class ClassRow:
    name: str
    latest: VersionInfo | None
    problem: str = ""


def class_page(store: Store, policy: TrustPolicy, *, after: str | None) -> tuple[list[ClassRow], list[str], str | None]:
    """A page of classes (each with its latest version's header), the skipped entries, and the next page's
    ``after`` (None on the last page)."""
    listing = store.scan_names(after=after, limit=PAGE_SIZE + 1)
    names = listing.names[:PAGE_SIZE]
    rows = []
    for name in names:
        try:
            latest = store.latest(name)
        except RemoteImportError as exc:
            rows.append(ClassRow(name, None, f"{type(exc).__name__}: {exc}"))
            continue
        rows.append(ClassRow(name, read_version(store, name, latest, policy) if latest else None))
    skipped = [f"{entry.path} ({entry.reason})" for entry in listing.skipped]
    return rows, skipped, names[-1] if len(listing.names) > PAGE_SIZE else None


@dataclasses.dataclass(frozen=True)
class HistoryRow:
    hash: str
    time: str
    python: str
    action: str
    is_latest: bool


def history_page(store: Store, name: str, *, offset: int) -> tuple[list[HistoryRow], str | None, int | None]:
    """A page of ``name``'s history, newest first (a version appears once per push, rollback, repair or sign);
    the latest hash; the next page's offset (or None)."""
    validate_name(name)
    entries = store.history(name, limit=PAGE_SIZE + 1, offset=offset)
    if not entries and offset == 0 and not store.exists(name):
        raise store.name_not_found(name)
    latest = store.latest(name)
    rows = [HistoryRow(v.hash, _utc(v.time), v.python, v.action, v.hash == latest) for v in entries[:PAGE_SIZE]]
    return rows, latest, offset + PAGE_SIZE if len(entries) > PAGE_SIZE else None


def config_snippet(info: VersionInfo) -> str:
    return json.dumps({"clazz": info.pinned, "params": {}})


@dataclasses.dataclass(frozen=True)
class FileDiff:
    filename: str
    lines: list[tuple[str, str]]  # (kind: "add" | "del" | "hunk" | "ctx" | "file", text)


def source_diff(old: BlobHeader, new: BlobHeader) -> list[FileDiff]:
    """A unified diff per shipped file, from ``old`` to ``new`` (a file only one of them ships is all added or
    all removed)."""
    diffs = []
    for filename in sorted(set(old.source) | set(new.source)):
        before = old.source.get(filename, "").splitlines(keepends=True)
        after = new.source.get(filename, "").splitlines(keepends=True)
        if before == after:
            continue
        lines = []
        for line in difflib.unified_diff(before, after, f"{filename} (a)", f"{filename} (b)", n=3):
            text = line.rstrip("\n")
            if line.startswith(("---", "+++")):
                kind = "file"
            elif line.startswith("@@"):
                kind = "hunk"
            elif line.startswith("+"):
                kind = "add"
            elif line.startswith("-"):
                kind = "del"
            else:
                kind = "ctx"
            lines.append((kind, text))
        diffs.append(FileDiff(filename, lines))
    return diffs


def header_changes(old: VersionInfo, new: VersionInfo) -> list[tuple[str, str, str]]:
    """(field, old value, new value) for the header fields that differ: Python, cloudpickle, requirements,
    signer, module and creation time."""
    assert old.header is not None and new.header is not None
    pairs = [
        ("python", old.header.python, new.header.python),
        ("cloudpickle", old.header.cloudpickle, new.header.cloudpickle),
        ("requirements", _requirements(old.header), _requirements(new.header)),
        ("signature", old.signature, new.signature),
        ("original", f"{old.header.module}:{old.header.qualname}", f"{new.header.module}:{new.header.qualname}"),
        ("created", old.header.created, new.header.created),
    ]
    return [(field, a, b) for field, a, b in pairs if a != b]


def _requirements(header: BlobHeader) -> str:
    return ", ".join(f"{dist}=={version}" for dist, version in sorted(header.requirements.items())) or "none"


def header_fields(info: VersionInfo) -> list[tuple[str, str]]:
    header = info.header
    assert header is not None
    return [
        ("name", header.name),
        ("hash", header.hash),
        ("python", header.python),
        ("cloudpickle", header.cloudpickle),
        ("requirements", _requirements(header)),
        ("created", header.created),
        ("payload", f"{header.payload_size} bytes, sha256 {header.payload_sha256} (checked)"),
        ("original", f"{header.module}:{header.qualname}" if header.module else "unknown"),
        ("format", str(header.format)),
        ("signature", info.signature),
        *((f"extra: {key}", _short(value)) for key, value in sorted(header.extra.items())),
    ]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "…"


def parse_hash(text: str) -> str:
    return validate_hash(text, allow_prefix=False)


def _utc(timestamp: float) -> str:
    try:
        return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "?"


def default_pair(rows: list[HistoryRow]) -> tuple[str | None, str | None]:
    """The versions the compare form starts with: b the newest, a the newest other version."""
    if not rows:
        return None, None
    newest = rows[0].hash
    return next((row.hash for row in rows if row.hash != newest), None), newest
