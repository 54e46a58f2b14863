"""What the web view shows, read from a store: headers, history and shipped source — never a payload.

Each ``*_page`` function returns plain data for one page. Nothing here unpickles: blobs are decoded (digest
checked) for their header only, or only their header is read (listings), and a blob, ref or history entry that
cannot be read becomes a row marked damaged with the reason, so one hostile file never takes a page down.

What each page reads is bounded by what it shows, not by how long the history is (``tests/test_requests.py``
counts them on S3): the class list a page of names (:data:`PAGE_SIZE`), a class page a page of versions and one
of events, a version page one blob and its neighbours' history entries.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

# The compare page shows what `remoteimport diff` prints: both read versions and header changes through
# remoteimport.compare (the hunks of the source diff are difflib's in both: remoteimport.ui.source).
from remoteimport._times import parse_time, utc_time
from remoteimport.compare import (  # noqa: F401 (source_diff: the CLI's, kept importable here)
    NAMESPACE,
    FileDiff,
    VersionInfo,
    header_changes,
    read_version,
    read_version_headers,
    requirements_text,
    source_diff,
)
from remoteimport.errors import IntegrityError, RemoteImportError, VersionNotFoundError
from remoteimport.names import validate_name
from remoteimport.provenance import UNKNOWN, describe
from remoteimport.signing import TrustPolicy
from remoteimport.store import Store, Version
from remoteimport.ui import history, source

PAGE_SIZE = 50  # classes on a page of the class list, versions on a page of a class
HISTORY_PAGE_SIZE = 25  # events on a page of a class's history


# -- trust, in words --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Trust:
    """What this host makes of a version's signature, in words: ``level`` is its colour ("good" only for a key
    this host trusts; an unsigned version is never "good"), ``rank`` orders them (higher: stronger), ``detail``
    says why, ``signer`` is the key's fingerprint ("" unsigned)."""

    words: str
    level: str  # "good" | "neutral" | "warn" | "bad"
    detail: str
    rank: int
    signer: str = ""

    @property
    def short(self) -> str:
        """The words and the signer, for one line (a header change)."""
        return f"{self.words} ({self.signer})" if self.signer else self.words


def trust_of(info: VersionInfo) -> Trust:
    """The trust state of a version under the policy it was read with (:func:`remoteimport.compare.read_version`).

    >>> trust_of(VersionInfo("A", "0" * 64, problem="IntegrityError: truncated")).words
    'DAMAGED'
    """
    if info.problem:
        missing = info.problem.startswith(VersionNotFoundError.__name__)
        return Trust("MISSING" if missing else "DAMAGED", "bad", info.problem, 0)
    assert info.header is not None
    refused = info.trust == "refused"
    if not info.header.signature:
        if refused:
            return Trust("unsigned, refused here", "bad", "this host accepts signed versions only", 1)
        return Trust("unsigned", "warn", "not signed: anyone who can write to the store could have made it", 2)
    signer = str(info.header.signature.get("key", "?"))
    if info.trust == "trusted":
        return Trust("signed by a trusted key", "good", f"key {signer}, trusted here", 4, signer)
    if info.signature.startswith("INVALID"):
        return Trust("INVALID signature", "bad", info.signature, 0, signer)
    if info.signature.startswith("OLD-STYLE"):
        return Trust("old-style signature, refused here", "bad", info.signature, 1, signer)
    if refused:
        return Trust("signed by an unknown key, refused here", "bad", f"key {signer}: not trusted here", 1, signer)
    detail = f"key {signer}; this host trusts no keys, so none is checked (REMOTEIMPORT_TRUSTED_KEYS)"
    return Trust("signed by an unknown key", "neutral", detail, 3, signer)


def read_version_anyway(store: Store, name: str, full_hash: str, policy: TrustPolicy) -> VersionInfo:
    """:func:`read_version` (payload digest checked); when the blob is damaged but its header still reads, that
    header (unverified) with the damage as ``problem``, so its header and source can still be looked at."""
    info = read_version(store, name, full_hash, policy)
    if info.header is not None:
        return info
    header_only = read_version_headers(store, [(name, full_hash)], policy)[(name, full_hash)]  # this path only
    if header_only.header is None:
        return info
    return dataclasses.replace(header_only, problem=info.problem)


# -- the class list ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ClassRow:
    name: str
    latest: VersionInfo | None
    problem: str = ""
    tags: dict[str, str] = dataclasses.field(default_factory=dict)  # tag -> full hash
    versions: int | None = None  # distinct versions in its history (None: unknown)

    @property
    def trust(self) -> Trust | None:
        return trust_of(self.latest) if self.latest is not None else None

    @property
    def provenance(self) -> dict[str, str]:
        return describe(self.latest.header if self.latest is not None else None)

    @property
    def pushed(self) -> str:
        """When its latest version was made (its header's time: the class list reads no history entry)."""
        header = self.latest.header if self.latest is not None else None
        return _created(header.created) if header is not None else "?"


def class_page(
    store: Store, policy: TrustPolicy, *, after: str | None, query: str = ""
) -> tuple[list[ClassRow], list[str], str | None]:
    """A page of classes whose name contains ``query`` (any case; "": all), each with its latest version's header
    (read alone, its payload digest not checked), tags and version count; the skipped entries; and the next
    page's ``after`` (None on the last page). Each step is concurrent for the whole page: the refs
    (:meth:`Store.refs_many`), then the headers and the history listings."""
    listing = store.scan_names(after=after, limit=None if query else PAGE_SIZE + 1)
    matching = [name for name in listing.names if query.lower() in name.lower()][: PAGE_SIZE + 1]
    names = matching[:PAGE_SIZE]
    refs = store.refs_many(names)  # on S3 two listings for the page; elsewhere a read per name (and its tags)
    latest: dict[str, str | None | RemoteImportError] = {name: refs[name].latest for name in names}
    pointed = {name: full for name, full in latest.items() if isinstance(full, str)}
    etags = {(name, full): refs[name].blob_etag for name, full in pointed.items()}
    infos = read_version_headers(store, pointed.items(), policy, etags=etags)
    readable = [name for name in names if not isinstance(latest[name], RemoteImportError)]
    tags = {name: refs[name].tags for name in readable}
    indexes = history.index_many(store, readable)
    rows = []
    for name in names:
        full, found, index = latest[name], tags.get(name, {}), indexes.get(name)
        count = len(index.versions) if isinstance(index, history.HistoryIndex) else None
        problem = next((exc for exc in (full, found) if isinstance(exc, RemoteImportError)), None)
        if problem is not None:
            rows.append(ClassRow(name, None, f"{type(problem).__name__}: {problem}", versions=count))
        else:
            info = infos[(name, full)] if isinstance(full, str) else None
            rows.append(ClassRow(name, info, tags=found, versions=count))  # type: ignore[arg-type]
    skipped = [f"{entry.path} ({entry.reason})" for entry in listing.skipped]
    return rows, skipped, names[-1] if len(matching) > PAGE_SIZE else None


# -- a class: its versions and its history ------------------------------------------------------------------


class _Pushed:
    """What the pages say of a version from its header and its first history entry (its push)."""

    info: VersionInfo
    entry: Version | None

    @property
    def trust(self) -> Trust:
        return trust_of(self.info)

    @property
    def provenance(self) -> dict[str, str]:
        return describe(self.info.header)

    @property
    def pushed(self) -> str:
        """When it came into this store (its first history entry), else when it was made (its header)."""
        if self.entry is not None:
            return _utc(self.entry.time)
        return _created(self.info.header.created) if self.info.header is not None else "?"

    @property
    def by(self) -> str:
        """Who pushed it: the provenance in its header (signed with it), else its history entry's ``by``."""
        return _known(self.provenance["pushed_by"], getattr(self.entry, "by", None))

    @property
    def message(self) -> str:
        return _known(self.provenance["message"], getattr(self.entry, "message", None), default="")

    @property
    def commit(self) -> str:
        commit = self.provenance["commit"]
        if commit == UNKNOWN:
            return ""
        return commit[:12] + (" (uncommitted changes)" if self.provenance["dirty"] == "yes" else "")


@dataclasses.dataclass(frozen=True)
class VersionRow(_Pushed):
    """One version of a class: its header (read alone) and its first history entry (its push)."""

    hash: str
    info: VersionInfo
    entry: Version | None  # None: not in the history (a ref names it), or its entry is damaged
    tags: list[str]
    is_latest: bool
    problem: str = ""  # its history entry's

    @property
    def how(self) -> str:
        """How it came into this store, when not by a push: "promoted from …", "repaired" …"""
        if self.entry is None:
            return "" if self.problem else "not in the history"
        if self.entry.action == "promote":
            return f"promoted from {self.entry.source}" if self.entry.source else "promoted"
        return "" if self.entry.action == "push" else self.entry.action


@dataclasses.dataclass(frozen=True)
class EventRow:
    """One history entry: what happened to which version (a tag move names its tag)."""

    key: str
    entry: Version | None
    problem: str = ""

    @property
    def time(self) -> str:
        return _utc(self.entry.time) if self.entry is not None else "?"

    @property
    def what(self) -> str:
        if self.entry is None:
            return "DAMAGED"
        action, tag = self.entry.action, self.entry.tag
        return {
            "push": "pushed",
            "rollback": "latest rolled back to",
            "repair": "repaired",
            "sign": "signed",
            "promote": "promoted",
            "delete": "deleted",
            "tag": f"tag {tag} moved to" if tag else "tagged",
            "untag": f"tag {tag} removed from" if tag else "untagged",
        }.get(action, action)

    @property
    def by(self) -> str:
        return getattr(self.entry, "by", None) or ""

    @property
    def message(self) -> str:
        return getattr(self.entry, "message", None) or ""


@dataclasses.dataclass(frozen=True)
class ClassPage:
    name: str
    versions: list[VersionRow]
    version_count: int
    events: list[EventRow]
    event_count: int
    latest: str | None
    tags: dict[str, str]  # tag -> full hash
    offset: int
    history_offset: int
    problems: list[str]  # refs that could not be read

    @property
    def next_offset(self) -> int | None:
        return self.offset + PAGE_SIZE if self.offset + PAGE_SIZE < self.version_count else None

    @property
    def next_history_offset(self) -> int | None:
        end = self.history_offset + HISTORY_PAGE_SIZE
        return end if end < self.event_count else None

    def default_pair(self) -> tuple[str | None, str | None]:
        """The versions the compare form starts with: b the newest, a the one before it."""
        hashes = [row.hash for row in self.versions]
        return (hashes[1] if len(hashes) > 1 else None), (hashes[0] if hashes else None)


def class_versions_page(
    store: Store, name: str, policy: TrustPolicy, *, offset: int = 0, history_offset: int = 0
) -> ClassPage:
    """A page of ``name``'s versions (one row each, newest push first) and a page of its history (newest
    first). Reads: the history listing, ``latest``, the tags, then — concurrently — one history entry per row
    (a version's first entry, an event's own) and one ranged read of each version's header."""
    validate_name(name)
    index = history.index(store, name)
    problems = []
    try:
        latest = store.latest(name)
    except IntegrityError as exc:
        latest, problems = None, [f"latest: {exc}"]
    if not index.keys and latest is None and not problems:
        raise store.name_not_found(name)
    try:
        tags = store.tags(name)
    except IntegrityError as exc:
        tags, problems = {}, [*problems, f"tags: {exc}"]
    version_keys = index.versions[offset : offset + PAGE_SIZE]
    event_keys = index.keys[history_offset : history_offset + HISTORY_PAGE_SIZE]
    entries = store.history_entries([*version_keys, *event_keys])
    # What a ref names but the history does not (its entries removed, or refs written by hand): listed first.
    named = dict.fromkeys([latest, *tags.values()])
    unlisted = [] if offset else [full for full in named if full and not index.has(full)]
    shown: list[tuple[str | None, Version | None, str]] = [(full, None, "") for full in unlisted]
    for key in version_keys:
        entry = entries[key]
        if isinstance(entry, Version):
            shown.append((entry.hash, entry, ""))
        else:
            shown.append((None, None, str(entry)))
    hashes = list(dict.fromkeys(full for full, _, _ in shown if full))
    infos = read_version_headers(store, [(name, full) for full in hashes], policy)
    tagged = _tags_by_hash(tags)
    rows, seen = [], set()
    for full, entry, problem in shown:
        if full is None:
            damaged = VersionInfo(name, "", problem="its history entry cannot be read")
            rows.append(VersionRow("", damaged, None, [], False, problem))
        elif full not in seen:
            seen.add(full)
            rows.append(VersionRow(full, infos[(name, full)], entry, tagged.get(full, []), full == latest))
    events = [_event(key, entries[key]) for key in event_keys]
    return ClassPage(
        name, rows, len(index.versions), events, len(index.keys), latest, tags, offset, history_offset, problems
    )


def _event(key: str, entry: Version | IntegrityError) -> EventRow:
    return EventRow(key, entry, "") if isinstance(entry, Version) else EventRow(key, None, str(entry))


def _tags_by_hash(tags: dict[str, str]) -> dict[str, list[str]]:
    tagged: dict[str, list[str]] = {}
    for tag, full_hash in sorted(tags.items()):
        tagged.setdefault(full_hash, []).append(tag)
    return tagged


# -- a version --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class VersionPage(_Pushed):
    info: VersionInfo
    tags: list[str]  # this version's
    all_tags: dict[str, str]  # the class's: tag -> full hash (the "compare with" links)
    latest: str | None
    older: str | None  # the previous version (pushed before it), the next one
    newer: str | None
    entry: Version | None  # its first history entry (its push)
    position: int | None  # 0: the newest version
    version_count: int
    positions: dict[str, int]  # where latest and the tagged versions are (0: the newest), when in the history

    @property
    def is_latest(self) -> bool:
        return self.info.hash == self.latest

    def fields(self) -> list[tuple[str, str]]:
        return header_fields(self.info) if self.info.header is not None else []

    def sources(self) -> list[tuple[str, list[tuple[source.Piece, ...]]]]:
        """Each shipped file with its lines, highlighted."""
        if self.info.header is None:
            return []
        shipped = sorted(self.info.header.source.items())
        return [(filename, source.highlighted_lines(text)) for filename, text in shipped]

    def compare_links(self) -> list[tuple[str, str, str]]:
        """(label, a, b) for "compare with previous / latest / each tag": the version pushed first as ``a`` (this
        one, when the history does not say)."""
        this = self.info.hash
        links = [("previous version", self.older, this)] if self.older else []
        others = [("latest", self.latest)] if self.latest else []
        others += [(f"tag {tag}", full) for tag, full in sorted(self.all_tags.items())]
        for label, other in others:
            if other is not None and other != this:
                older = self.position is not None and self.positions.get(other, -1) > self.position
                links.append((label, other, this) if older else (label, this, other))
        return links


def version_page(store: Store, name: str, full_hash: str, policy: TrustPolicy) -> VersionPage:
    """One version: its whole blob read (payload digest checked; a damaged one still shows its header when that
    reads), its refs, and its place among the class's versions (the history listing and up to three entries)."""
    info = read_version_anyway(store, name, full_hash, policy)
    index = history.index(store, name)
    try:
        latest = store.latest(name)
    except IntegrityError:
        latest = None
    try:
        tags = store.tags(name)
    except IntegrityError:
        tags = {}
    position = index.position(full_hash)
    around = {}
    if position is not None:
        wanted = {"this": position, "older": position + 1, "newer": position - 1}
        keys = {label: index.versions[at] for label, at in wanted.items() if 0 <= at < len(index.versions)}
        entries = store.history_entries(keys.values())
        around = {label: entries[key] for label, key in keys.items() if isinstance(entries[key], Version)}
    entry = around.get("this")
    return VersionPage(
        info,
        _tags_by_hash(tags).get(full_hash, []),
        tags,
        latest,
        around["older"].hash if "older" in around else None,
        around["newer"].hash if "newer" in around else None,
        entry if entry is not None and entry.hash == full_hash else None,
        position,
        len(index.versions),
        {full: at for full in {latest, *tags.values()} if full and (at := index.position(full)) is not None},
    )


def use_snippet(store: Store, info: VersionInfo) -> str:
    """Python that imports exactly this version from this store (what the "Use it" box shows)."""
    namespace, attribute = NAMESPACE, info.name
    return (
        "import importlib\n"
        "import remoteimport\n\n"
        f"remoteimport.install({store.url!r})  # serves the {namespace!r} namespace\n"
        f"{attribute} = importlib.import_module({info.pinned!r}).{attribute}\n"
    )


def config_snippet(info: VersionInfo) -> str:
    return json.dumps({"clazz": info.pinned, "params": {}})


def header_fields(info: VersionInfo) -> list[tuple[str, str]]:
    header = info.header
    assert header is not None
    payload = f"{header.payload_size} bytes, sha256 {header.payload_sha256}"
    return [
        ("name", header.name),
        ("hash", header.hash),
        ("python", header.python),
        ("cloudpickle", header.cloudpickle),
        ("requirements", requirements_text(header)),
        ("created", header.created),
        ("payload", payload + (" (NOT matching: see above)" if info.problem else " (checked)")),
        ("original", f"{header.module}:{header.qualname}" if header.module else "unknown"),
        ("format", str(header.format)),
        ("signature", info.signature),
        *((f"extra: {key}", _short(value)) for key, value in sorted(header.extra.items())),
    ]


# -- compare ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HeaderChange:
    field: str
    a: str
    b: str
    judgement: str = ""  # "weaker" | "stronger" | "": only the signature is better or worse


@dataclasses.dataclass(frozen=True)
class ComparePage:
    name: str
    old: VersionInfo
    new: VersionInfo
    tags: dict[str, str]
    latest: str | None
    changes: list[HeaderChange]
    files: list[source.FileChange]

    @property
    def damaged(self) -> list[VersionInfo]:
        return [info for info in (self.old, self.new) if info.problem]

    @property
    def comparable(self) -> bool:
        return self.old.header is not None and self.new.header is not None

    @property
    def added(self) -> int:
        return sum(file.added for file in self.files)

    @property
    def removed(self) -> int:
        return sum(file.removed for file in self.files)

    def labels(self, info: VersionInfo) -> list[str]:
        found = [tag for tag, full in sorted(self.tags.items()) if full == info.hash]
        return (["latest"] if info.hash == self.latest else []) + found

    def trust(self, info: VersionInfo) -> Trust:
        return trust_of(info)

    def provenance(self, info: VersionInfo) -> dict[str, str]:
        return describe(info.header)

    def made(self, info: VersionInfo) -> str:
        return _created(info.header.created) if info.header is not None else "?"


def compare_page(store: Store, name: str, old_hash: str, new_hash: str, policy: TrustPolicy) -> ComparePage:
    """Versions ``old_hash`` (a) and ``new_hash`` (b): the header changes and each changed file's diff. A damaged
    blob whose header still reads is compared from that header (and marked damaged)."""
    old, new = (read_version_anyway(store, name, full, policy) for full in (old_hash, new_hash))
    try:
        tags = store.tags(name)
    except IntegrityError:
        tags = {}
    try:
        latest = store.latest(name)
    except IntegrityError:
        latest = None
    changes, files = [], []
    if old.header is not None and new.header is not None:
        changes = [_judged(old, new, *change) for change in header_changes(old, new)]
        files = source.diff_sources(old.header.source, new.header.source)
    return ComparePage(name, old, new, tags, latest, changes, files)


def _judged(old: VersionInfo, new: VersionInfo, field: str, a: str, b: str) -> HeaderChange:
    """A header change; the signature's said in words and judged by trust (signed → unsigned is "weaker",
    whichever side is b), every other field left neutral: a newer Python is not better or worse."""
    if field != "signature":
        return HeaderChange(field, a, b)
    before, after = trust_of(old), trust_of(new)
    judgement = "weaker" if after.rank < before.rank else "stronger" if after.rank > before.rank else ""
    return HeaderChange(field, before.short, after.short, judgement)


# -- text -------------------------------------------------------------------------------------------------


def _known(*values: str | None, default: str = UNKNOWN) -> str:
    """The first value that says something (not None, "" or "unknown")."""
    return next((value for value in values if value and value != UNKNOWN), default)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "…"


def _utc(timestamp: float) -> str:
    return utc_time(timestamp, invalid="?")  # a hostile history time (1e400, a string)


def _created(text: str) -> str:
    """A header's ``created`` (ISO 8601) as the history's times are shown."""
    moment = parse_time(text)
    return utc_time(moment, invalid=text[:40]) if moment is not None else text[:40]
