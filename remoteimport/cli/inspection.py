"""Reading the store without changing it: ``ls``, ``log``, ``show``, ``status`` and ``diff``."""

from __future__ import annotations

import argparse
import math
import textwrap
from collections.abc import Mapping
from typing import Any

from remoteimport import registry
from remoteimport._times import iso_time, parse_time, utc_time
from remoteimport.cli.base import (
    SHORT_HASH,
    Command,
    CommandError,
    Output,
    fields,
    positive,
    progress,
    table,
    terminal_text,
)
from remoteimport.cli.stores import require_present
from remoteimport.cli.target import TARGET_HELP, load_target_class, parse_target
from remoteimport.compare import diff_versions, read_version_headers
from remoteimport.errors import IntegrityError, RemoteImportError
from remoteimport.names import LATEST, split_versioned
from remoteimport.provenance import UNKNOWN, describe
from remoteimport.signing import signature_status
from remoteimport.store import BATCH_CONCURRENCY, Store


class Ls(Command):
    name = "ls"
    help = "list the classes in the store"
    description = (
        "List the class names in the store with the first 12 hex digits of each latest version's hash, when "
        "that version was pushed (TIME, UTC; `log NAME` shows when latest moved), the Python version that pushed "
        "it, its signer, its tags and who pushed it (BY, when recorded: docs/provenance.md), a page at a "
        "time (--limit names, then --after the last one shown). Only the headers of the latest versions are "
        "read (their payload digests are not checked: `remoteimport verify` checks payloads), and on S3 and GCS "
        "a header read once is kept in this host's blob cache, so listing again reads none; a header that "
        "cannot be read, or names another class or hash, shows DAMAGED. A store that does not exist (a missing "
        "folder or bucket) is an error; an existing empty one lists no classes."
    )
    examples = (
        "remoteimport ls\nremoteimport ls --store /shared/classes --json\nremoteimport ls --limit 50 --after MyFilter"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--limit", type=positive, default=100, help="names per page (default: 100)")
        parser.add_argument("--after", metavar="NAME", help="start after this name (the next page)")

    def run(self, args: argparse.Namespace, out: Output) -> None:
        store = registry.resolve_store(args.store)
        listing = store.scan_names(after=args.after, limit=args.limit + 1)  # one more: is there a next page?
        if not listing.names and not listing.skipped:
            require_present(store)  # missing, not empty
        page, more = listing.names[: args.limit], len(listing.names) > args.limit
        damaged: dict[str, str] = {}
        refs = store.refs_many(page)  # on S3 two listings for the page; elsewhere a read per name (and its tags)
        latest: dict[str, str | None] = {}
        for name in page:
            pointer = refs[name].latest
            if isinstance(pointer, IntegrityError):  # a damaged or planted ref: list the others and name it
                latest[name], damaged[name] = None, str(pointer)
            else:
                latest[name] = pointer
        pointed = [(name, full) for name, full in latest.items() if full is not None]
        batches = [pointed[start : start + BATCH_CONCURRENCY] for start in range(0, len(pointed), BATCH_CONCURRENCY)]
        summaries: dict[str, dict[str, Any]] = {}
        for batch in progress(batches, len(batches), f"reading headers, {BATCH_CONCURRENCY} classes at a time"):
            tags = {name: refs[name].tags for name, _ in batch}
            etags = {(name, full): refs[name].blob_etag for name, full in batch}
            summaries.update(class_summaries(store, dict(batch), tags=tags, etags=etags))
        out.data(
            store=store.url,
            classes=[
                {
                    "name": name,
                    "latest": full,
                    **summaries.get(name, {}),
                    **({"damaged": damaged[name]} if name in damaged else {}),
                }
                for name, full in latest.items()
            ],
        )
        if listing.skipped:  # only then: the document of a clean store keeps its shape
            out.data(skipped=[{"path": entry.path, "reason": entry.reason} for entry in listing.skipped])
        if more:
            out.data(next_after=page[-1])
        if not latest:
            out.line(f"no classes in the store {store.url} yet; push one with `remoteimport push module:Class`")
        else:
            out.line(f"classes in the store {store.url}:")
            rows, has_tags = [], any(summary.get("tags") for summary in summaries.values())
            # BY only when some version recorded it: a store of versions pushed before provenance lists as it did
            has_by = any(summary.get("pushed_by") not in (None, UNKNOWN) for summary in summaries.values())
            for name, full in latest.items():
                summary = summaries.get(name, {})
                problem = name in damaged or "damaged" in summary
                damaged.update({name: summary["damaged"]} if "damaged" in summary and name not in damaged else {})
                rows.append(
                    [
                        name,
                        "DAMAGED" if problem else (full or "-")[:SHORT_HASH],
                        summary.get("time_utc") or "-",
                        summary.get("python") or "-",
                        summary.get("signer") or ("unsigned" if summary.get("signature") == "unsigned" else "-"),
                        *([summary.get("pushed_by") or "-"] if has_by else []),
                        *([", ".join(summary.get("tags", {})) or "-"] if has_tags else []),
                    ]
                )
            headers = ["NAME", "LATEST", "TIME", "PYTHON", "SIGNER", *(["BY"] if has_by else [])]
            out.line(table([*headers, *(["TAGS"] if has_tags else [])], rows))
        for name, problem in damaged.items():
            out.line(f"damaged: {name}: {problem}")
        for entry in listing.skipped:
            out.line(f"skipped, not a class: {entry.path} ({entry.reason})")
        if more:
            out.line(f"more: remoteimport ls --after {page[-1]}")


def class_summary(store: Store, name: str, full_hash: str) -> dict[str, Any]:
    """What `ls` shows of a class besides its latest hash (:func:`class_summaries` of one class)."""
    return class_summaries(store, {name: full_hash})[name]


def class_summaries(
    store: Store,
    latest: Mapping[str, str],
    *,
    tags: Mapping[str, dict[str, str] | IntegrityError] | None = None,
    etags: Mapping[tuple[str, str], str | None] | None = None,
) -> dict[str, dict[str, Any]]:
    """What `ls` shows of classes besides their latest hashes (``{name: full hash}``): when that version was
    pushed, its Python and signer (its header alone is read, nothing unpickled; the payload digest is left to
    `verify`) and its tags (``tags``: as :meth:`Store.refs_many` found them; else they are read). One ranged
    read of each header, concurrent for all the classes, but for a header this host keeps for a blob of that
    ETag (``etags``: :func:`~remoteimport.compare.read_version_headers`). A damaged blob or tag gives
    ``"damaged"`` instead of failing the listing."""
    infos = read_version_headers(store, latest.items(), store.policy.trust, etags=etags)
    if tags is None:
        tags = store.tags_many(latest)
    summaries = {}
    for name, full_hash in latest.items():
        info = infos[(name, full_hash)]
        header = info.header
        signer = (header.signature or {}).get("key") if header else None
        pushed = parse_time(header.created) if header else None
        described = describe(header)
        summary: dict[str, Any] = {
            # when this version was pushed (its header's `created`, the store's data: None when it is no time)
            "time": iso_time(pushed) if pushed is not None else None,  # ISO 8601 in UTC, for programs
            "time_utc": utc_time(pushed) if pushed is not None else None,  # the table's text
            "python": header.python if header else None,
            "signer": str(signer) if signer else None,
            "pushed_by": described["pushed_by"] if header else None,  # "user@host" (or "unknown"), from the header
            "provenance": described if header else None,  # remoteimport.provenance.describe(header)
            "signature": info.signature or None,
        }
        if info.problem:
            summary["damaged"] = info.problem
        found = tags[name]
        if isinstance(found, RemoteImportError):
            summary["tags"], summary["damaged"] = {}, str(found)
        else:
            summary["tags"] = found
        summaries[name] = summary
    return summaries


def shown_source(text: str) -> str:
    r"""Shipped source for reading: a version ships its own statements of a module at their line numbers, the
    other lines left empty, so a run of more than two empty lines stands for lines not shipped: one line says
    which.

    >>> print(shown_source("import os\n" + "\n" * 40 + "class A:\n    pass\n"))
    import os
    # ... lines 2-41: blank, or code of the module this version does not ship
    class A:
        pass
    """
    lines = text.rstrip("\n").split("\n")
    shown: list[str] = []
    index = 0
    while index < len(lines):
        end = index
        while end < len(lines) and not lines[end]:
            end += 1
        if end - index > 2:
            shown.append(f"# ... lines {index + 1}-{end}: blank, or code of the module this version does not ship")
            index = end
            continue
        shown.append(lines[index])
        index += 1
    return "\n".join(shown)


class Log(Command):
    name = "log"
    help = "show the history of a class, newest first"
    description = (
        "Show the pushes and rollbacks of NAME, newest first, a page at a time (--limit, --offset): the "
        "version's hash, when it happened (UTC), the Python version that pushed it, the action, who did it (BY, "
        "user@host; unknown for entries written before it was recorded) and the push's message (shortened here: "
        "--json has it whole). Any 8 or more leading hex digits of a hash can be given to `show` and `rollback`."
    )
    examples = "remoteimport log MyFilter\nremoteimport log MyFilter --limit 50 --offset 20"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", metavar="NAME", help="class name in the store, e.g. MyFilter")
        parser.add_argument("--limit", type=positive, default=20, help="entries per page (default: 20)")
        parser.add_argument("--offset", type=int, default=0, help="skip this many newest entries (the next page)")

    def run(self, args: argparse.Namespace, out: Output) -> None:
        store = registry.resolve_store(args.store)
        history = registry.versions(args.name, store=store, limit=args.limit + 1, offset=args.offset)
        more = len(history) > args.limit
        history = history[: args.limit]
        if more:
            out.data(next_offset=args.offset + args.limit)
        out.data(
            name=args.name,
            store=store.url,
            versions=[_history_json(version) for version in history],
        )
        rows = [
            [
                v.hash[:SHORT_HASH],
                utc_time(v.time),
                v.python,
                f"{v.action} {v.tag}" if v.tag else v.action,
                v.by or UNKNOWN,
                _shortened(v.message) if v.message else "-",
            ]
            for v in history
        ]
        out.line(f"history of {args.name} in the store {store.url}, newest first:")
        out.line(table(["HASH", "TIME", "PYTHON", "ACTION", "BY", "MESSAGE"], rows))
        if more:
            out.line(f"more: remoteimport log {args.name} --offset {args.offset + args.limit}")


LOG_MESSAGE_WIDTH = 60  # characters of a message `log` shows in its table (--json: all of it)


def _shortened(message: str, width: int = LOG_MESSAGE_WIDTH) -> str:
    return message if len(message) <= width else message[: width - 3] + "..."


def _history_json(version: Any) -> dict[str, Any]:
    """A history entry for ``log --json``: a time that is no number JSON can hold (infinite, NaN: the history is
    the store's data) is null, its ``time_utc`` ``invalid time``."""
    entry = {**version.to_json(), "time_utc": utc_time(version.time)}
    if not math.isfinite(version.time):
        entry["time"] = None
    return entry


class Show(Command):
    name = "show"
    help = "show a version's header and shipped source"
    description = (
        "Show what a stored version holds, without unpickling it: its header (hash, Python and cloudpickle "
        "versions, required distributions, creation time, payload size and digest, the module:qualname it was "
        "pushed from, signature), who pushed it, from which host and git commit, with what message (unknown for "
        "versions pushed before that was recorded: docs/provenance.md), and the source that travelled with it. "
        "The payload digest is verified. "
        "REFERENCE is NAME (or NAME@latest) for the latest version, NAME@HASH (8 or more hex digits) or NAME@TAG."
    )
    examples = "remoteimport show MyFilter\nremoteimport show MyFilter@0123abcd\nremoteimport show MyFilter@prod"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "reference", metavar="REFERENCE", help="NAME (latest), NAME@HASH or NAME@TAG, e.g. MyFilter@0123abcd"
        )

    def run(self, args: argparse.Namespace, out: Output) -> None:
        name, version = split_versioned(args.reference)  # refuses '../etc' before touching the store
        store = registry.resolve_store(args.store)
        full_hash = store.resolve_version(name, version)
        latest = full_hash if version in (None, LATEST) else store.latest(name)
        where = store.blob_path(name, full_hash)
        blob = store.read_verified_blob(name, full_hash)  # the payload digest checked too; nothing is unpickled
        header = blob.header
        is_latest = full_hash == latest
        described = describe(header)
        out.data(
            store=store.url,
            path=where,
            latest=is_latest,
            payload_digest="OK",
            header=header.to_json(),
            provenance=described,
        )
        requirements = ", ".join(f"{dist}=={ver}" for dist, ver in sorted(header.requirements.items()))
        signature, _ = signature_status(header, store.policy.trust)
        out.line(
            fields(
                [
                    ("name", header.name),
                    ("hash", header.hash + ("  (latest)" if is_latest else "")),
                    ("python", header.python),
                    ("cloudpickle", header.cloudpickle),
                    ("requirements", requirements or "none"),
                    ("created", header.created),
                    ("payload", f"{header.payload_size} bytes, sha256 {header.payload_sha256}"),
                    ("payload digest", "OK (the payload matches its sha256)"),
                    ("original", f"{header.module}:{header.qualname}" if header.module else "unknown"),
                    ("signature", signature),
                    *provenance_rows(described),
                    ("store", store.url),
                ]
            )
        )
        if not header.source:
            out.line("\n(no source was shipped with this version)")
        for filename, text in sorted(header.source.items()):
            out.line(f"\n--- source: {terminal_text(filename)} ---")
            out.line(shown_source(text))  # source text: its lines stay lines (Output.line escapes the rest)


def provenance_rows(described: Mapping[str, str]) -> list[tuple[str, str]]:
    """``show``'s lines of a version's provenance (:func:`remoteimport.provenance.describe`): who, the message,
    the commit (``(dirty)`` when the work tree had uncommitted changes), the branch and the remote."""
    dirty = " (dirty)" if described["dirty"] == "yes" and described["commit"] != UNKNOWN else ""
    return [
        ("pushed by", described["pushed_by"]),
        ("message", described["message"] or "(none)"),
        ("commit", described["commit"] + dirty),
        ("branch", described["branch"]),
        ("remote", described["remote"]),
    ]


NOT_SYNCED = 3  # `status --exit-code` when the class is not synced: apart from errors (1) and usage errors (2)


class Status(Command):
    name = "status"
    help = "compare a local class with the store's latest version"
    description = (
        "Hash the local class TARGET (same forms as in `push`) and compare it with the latest version in the "
        "store: 'synced' (identical), 'out_of_sync' (the code differs; push to update) or 'untracked' (never "
        "pushed). Prints the local hash and the store's latest. A store that does not exist is an error. With "
        f"--exit-code the status is {NOT_SYNCED} unless synced (for CI; errors stay 1)."
    )
    examples = "remoteimport status my_filters:MyFilter\nremoteimport status my_filters:MyFilter --exit-code || exit 1"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("target", metavar="TARGET", type=parse_target, help=TARGET_HELP)
        parser.add_argument("--name", help="store the class under this name (default: the class's own name)")
        parser.add_argument(
            "--exit-code", action="store_true", help=f"exit with status {NOT_SYNCED} when not synced (for CI)"
        )

    def run(self, args: argparse.Namespace, out: Output) -> int:
        with load_target_class(args.target) as cls:
            _, store = registry.push_target(cls, args.name, args.store)  # --store, else the class's @persist store
            report = registry.status_report(cls, store=store, name=args.name)
        if report.state == "untracked":
            require_present(store)  # a mistyped --store is an error, not a class never pushed
        name, state, local, latest = report.name, report.state, report.local, report.latest
        out.data(name=name, status=state, local=local, latest=latest, store=report.store)
        explanation = {
            "synced": "the store's latest version is this exact code",
            "out_of_sync": "this code differs from the store's latest version; `remoteimport push` uploads it",
            "untracked": "never pushed to this store; `remoteimport push` uploads it",
        }[state]
        out.line(f"{name}: {state} ({explanation})")
        out.line(fields([("local", local), ("store latest", latest or "none"), ("store", report.store)]))
        return NOT_SYNCED if args.exit_code and state != "synced" else 0


class Diff(Command):
    name = "diff"
    help = "show what changed between two versions of a class"
    description = (
        "Compare two stored versions of a class without unpickling anything: the header fields that differ "
        "(Python, cloudpickle, requirements, signer, module, creation time), the provenance of each (who pushed it, "
        "message, git commit, branch, remote), then a unified diff of the source "
        "that travelled with each. A and B are NAME@HASH (8 or more hex digits), NAME@TAG, or NAME (NAME@latest) "
        "for the latest version. "
        "Coloured on a terminal unless $NO_COLOR is set; --json gives the structured diff."
    )
    examples = (
        "remoteimport diff MyFilter@d0b116b2 MyFilter@97908c4e\nremoteimport diff MyFilter@d0b116b2 MyFilter --json"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("a", metavar="A", help="NAME@HASH, NAME@TAG (or NAME: the latest), e.g. MyFilter@prod")
        parser.add_argument("b", metavar="B", help="the other version, e.g. MyFilter@4567cdef or MyFilter")

    def run(self, args: argparse.Namespace, out: Output) -> None:
        (name, old), (other, new) = (split_versioned(ref) for ref in (args.a, args.b))  # before touching the store
        if other != name:
            raise CommandError(f"diff compares two versions of one class, not {name} and {other}")
        store = registry.resolve_store(args.store)
        diff = diff_versions(store, name, old, new)  # each resolved by Store.resolve_version (None: the latest)
        out.data(store=store.url, **diff.to_json())
        a, b = diff.old.hash[:SHORT_HASH], diff.new.hash[:SHORT_HASH]
        out.line(f"{name}@{a} (a) -> {name}@{b} (b) in the store {store.url}")
        if diff.old.hash == diff.new.hash:
            out.line("a and b are the same version")
            return
        if diff.changes:
            out.line("header changes:")
            out.line(textwrap.indent(table(["FIELD", "A", "B"], diff.changes), "  "))
        provenance = list(zip(provenance_rows(diff.old_provenance), provenance_rows(diff.new_provenance), strict=True))
        out.line("provenance:")
        out.line(textwrap.indent(table(["FIELD", "A", "B"], [(key, a, b) for (key, a), (_, b) in provenance]), "  "))
        if not diff.files:
            out.line("the shipped source is the same")
            return
        for file in diff.files:
            for kind, text in file.lines:
                out.coloured(kind, text)
