"""What the web view shows, read from a store: headers, history and shipped source — never a payload.

Each function returns plain data for one page. Nothing here unpickles: blobs are decoded (digest checked) for
their header only, and a blob, ref or history entry that cannot be read becomes a row marked damaged with the
reason, so one hostile file never takes a page down.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from typing import Any

# The compare page shows what `remoteimport diff` prints: both come from remoteimport.compare.
from remoteimport.compare import (  # noqa: F401 (FileDiff, source_diff, header_changes: used by app.py)
    NAMESPACE,
    FileDiff,
    VersionInfo,
    header_changes,
    read_version,
    requirements_text,
    source_diff,
)
from remoteimport.errors import RemoteImportError
from remoteimport.names import validate_hash, validate_name
from remoteimport.signing import TrustPolicy
from remoteimport.store import Store

PAGE_SIZE = 50


@dataclasses.dataclass(frozen=True)
class ClassRow:
    name: str
    latest: VersionInfo | None
    problem: str = ""
    tags: dict[str, str] = dataclasses.field(default_factory=dict)  # tag -> full hash


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
        try:
            tags = store.tags(name)
        except RemoteImportError as exc:
            rows.append(ClassRow(name, None, f"{type(exc).__name__}: {exc}"))
            continue
        rows.append(ClassRow(name, read_version(store, name, latest, policy) if latest else None, tags=tags))
    skipped = [f"{entry.path} ({entry.reason})" for entry in listing.skipped]
    return rows, skipped, names[-1] if len(listing.names) > PAGE_SIZE else None


@dataclasses.dataclass(frozen=True)
class HistoryRow:
    hash: str
    time: str
    python: str
    action: str
    is_latest: bool


def version_tags(store: Store, name: str) -> dict[str, list[str]]:
    """``{full hash: [tags]}`` of ``name``, for marking versions on the class page."""
    tagged: dict[str, list[str]] = {}
    for tag, full_hash in store.tags(name).items():
        tagged.setdefault(full_hash, []).append(tag)
    return tagged


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


def header_fields(info: VersionInfo) -> list[tuple[str, str]]:
    header = info.header
    assert header is not None
    return [
        ("name", header.name),
        ("hash", header.hash),
        ("python", header.python),
        ("cloudpickle", header.cloudpickle),
        ("requirements", requirements_text(header)),
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
    except (OverflowError, OSError, ValueError, TypeError):  # a hostile history time (1e400, a string)
        return "?"


def default_pair(rows: list[HistoryRow]) -> tuple[str | None, str | None]:
    """The versions the compare form starts with: b the newest, a the newest other version."""
    if not rows:
        return None, None
    newest = rows[0].hash
    return next((row.hash for row in rows if row.hash != newest), None), newest
