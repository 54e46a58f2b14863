"""Compare two stored versions of a class: the unified diff of their shipped source and the header changes.

:func:`source_diff` and :func:`header_changes` are pure over blob headers; :func:`read_version` reads one
version's header (its payload digest checked, nothing unpickled) from a store it is given
(:func:`read_version_headers`: many headers at once, for listings, without the payloads), and
:func:`diff_versions` puts the three together. ``remoteimport diff`` and the web view's compare page both use
this module, so they always show the same thing.

>>> from remoteimport.blob import make_header
>>> old, new = make_header("A", "0" * 64, b""), make_header("A", "1" * 64, b"")
>>> old.source["a.py"], new.source["a.py"] = "x = 1\\n", "x = 2\\n"
>>> [text for kind, text in source_diff(old, new)[0].lines if kind in ("add", "del")]
['-x = 1', '+x = 2']
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import TYPE_CHECKING, Any

from remoteimport.blob import BlobHeader
from remoteimport.errors import IntegrityError, RemoteImportError, VersionNotFoundError
from remoteimport.provenance import describe
from remoteimport.signing import TrustPolicy, signature_status

if TYPE_CHECKING:  # the store is passed in; this module does no I/O of its own
    from collections.abc import Iterable, Mapping

    from remoteimport.store import Store

__all__ = [
    "VersionInfo",
    "FileDiff",
    "VersionDiff",
    "read_version",
    "read_version_headers",
    "source_diff",
    "header_changes",
    "diff_versions",
]

NAMESPACE = "labchain_remote"  # the pinned reference shown for a version (registry.DEFAULT_NAMESPACE)


@dataclasses.dataclass(frozen=True)
class VersionInfo:
    """One version's header as tools show it (``problem`` is set instead when it cannot be read)."""

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
        header = store.read_verified_blob(name, full_hash).header
    except (RemoteImportError, OSError, RecursionError, MemoryError) as exc:
        return _version_info(name, full_hash, exc, policy)
    return _version_info(name, full_hash, header, policy)


def read_version_headers(
    store: Store,
    keys: Iterable[tuple[str, str]],
    policy: TrustPolicy,
    *,
    etags: Mapping[tuple[str, str], str | None] | None = None,
) -> dict[tuple[str, str], VersionInfo]:
    """:func:`read_version` of many ``(name, full hash)`` at once, for listings (``ls``, the web view's class
    list): their headers only, one ranged read each, concurrent (:meth:`Store.read_header_bytes`). The payload
    digest is **not** checked (``remoteimport verify`` and :func:`read_version` check it); a header that cannot
    be read, or names another class or hash, gives ``problem`` as there.

    ``etags``: the ETag of each blob in the store, when a listing gave it (:meth:`Store.refs_many` on S3). Then a
    header this host's cache kept for that very blob is used instead of read (:meth:`BlobCache.get_header`), and
    one read is kept: a listing shown again reads no header it has read before."""
    keys = list(dict.fromkeys(keys))
    etags = etags or {}
    cache = store.policy.cache if etags else None
    headers: dict[tuple[str, str], BlobHeader | RemoteImportError] = {}
    if cache is not None:
        for key in keys:
            etag = etags.get(key)
            kept = cache.get_header(*key, etag) if etag else None
            header = store.header_in(*key, kept) if kept is not None else None
            if isinstance(header, BlobHeader):  # a damaged kept header is read again from the store
                headers[key] = header
    read = [key for key in keys if key not in headers]
    found = store.read_header_bytes(read)
    headers.update({key: store.header_in(*key, found[key]) for key in read})
    if cache is not None:
        cache.keep_headers(
            {(*key, etags[key]): found[key] for key in read if etags.get(key) and isinstance(headers[key], BlobHeader)}
        )
    return {key: _version_info(*key, headers[key], policy) for key in keys}


def _version_info(name: str, full_hash: str, header: BlobHeader | BaseException, policy: TrustPolicy) -> VersionInfo:
    if isinstance(header, BaseException):
        return VersionInfo(name, full_hash, problem=f"{type(header).__name__}: {header}")
    signature, acceptable = signature_status(header, policy)
    trust = "refused" if not acceptable else "trusted" if policy.trusted else "unverified"
    return VersionInfo(name, full_hash, header, signature, trust)


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
    signature (the signer), module and creation time."""
    assert old.header is not None and new.header is not None
    pairs = [
        ("python", old.header.python, new.header.python),
        ("cloudpickle", old.header.cloudpickle, new.header.cloudpickle),
        ("requirements", requirements_text(old.header), requirements_text(new.header)),
        ("signature", old.signature, new.signature),
        ("original", f"{old.header.module}:{old.header.qualname}", f"{new.header.module}:{new.header.qualname}"),
        ("created", old.header.created, new.header.created),
    ]
    return [(field, a, b) for field, a, b in pairs if a != b]


def requirements_text(header: BlobHeader) -> str:
    """``"numpy==1.26.4, pandas==2.2.2"``, or ``"none"``."""
    return ", ".join(f"{dist}=={version}" for dist, version in sorted(header.requirements.items())) or "none"


@dataclasses.dataclass(frozen=True)
class VersionDiff:
    """What changed from version ``old`` to version ``new`` of one class."""

    old: VersionInfo
    new: VersionInfo
    changes: list[tuple[str, str, str]]
    files: list[FileDiff]

    @property
    def identical(self) -> bool:
        return not self.changes and not self.files

    @property
    def old_provenance(self) -> dict[str, str]:
        """Who pushed version ``old``, with what message, from which git commit (:func:`remoteimport.provenance
        .describe`: ``"unknown"`` where not recorded). Not a header change: provenance is no part of a version."""
        return describe(self.old.header)

    @property
    def new_provenance(self) -> dict[str, str]:
        """:attr:`old_provenance` of version ``new``."""
        return describe(self.new.header)

    def unified(self) -> str:
        """The source diff as one ``diff -u`` text (empty when the shipped source is the same)."""
        return "".join(text + "\n" for file in self.files for _, text in file.lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.old.name,
            "a": self.old.hash,
            "b": self.new.hash,
            "header_changes": [{"field": field, "a": a, "b": b} for field, a, b in self.changes],
            "provenance": {"a": self.old_provenance, "b": self.new_provenance},
            "files": [
                {"filename": file.filename, "lines": [{"kind": kind, "text": text} for kind, text in file.lines]}
                for file in self.files
            ],
            "unified": self.unified(),
        }


def diff_versions(store: Store, name: str, old_hash: str | None, new_hash: str | None) -> VersionDiff:
    """Compare two stored versions of ``name`` (each a full hash, 8+ hex digits, a tag, ``latest`` or None for
    the latest: :meth:`~remoteimport.store.Store.resolve_version`) under the store's trust policy; a damaged
    version raises :class:`~remoteimport.errors.IntegrityError` naming it.

    >>> diff_versions(store, "MyFilter", "0123abcd", "4567cdef").unified()  # doctest: +SKIP
    """
    infos = []
    for version in (old_hash, new_hash):
        full_hash = store.resolve_version(name, version)  # a full hash is taken as given: checked here
        if full_hash == version and not store.has_blob(name, full_hash):
            raise VersionNotFoundError(
                f"no version {full_hash} of {name} in the store {store.url}; `remoteimport log {name}` lists them"
            )
        info = read_version(store, name, full_hash, store.policy.trust)
        if info.header is None:
            raise IntegrityError(f"cannot compare {name}@{info.hash}: {info.problem}")
        infos.append(info)
    old, new = infos
    assert old.header is not None and new.header is not None
    return VersionDiff(old, new, header_changes(old, new), source_diff(old.header, new.header))
