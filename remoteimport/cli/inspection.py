"""Reading the store without changing it: ``ls``, ``log``, ``show``, ``status`` and ``diff``."""

from __future__ import annotations

import argparse
import math
import textwrap
from typing import Any

from remoteimport import _env, registry
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
    utc_time,
)
from remoteimport.cli.target import TARGET_HELP, load_target_class, parse_target
from remoteimport.compare import diff_versions, read_version
from remoteimport.errors import IntegrityError, RemoteImportError, StoreError
from remoteimport.names import split_versioned
from remoteimport.signing import signature_status
from remoteimport.store import Store


class Ls(Command):
    name = "ls"
    help = "list the classes in the store"
    description = (
        "List the class names in the store with the first 12 hex digits of each latest version's hash, when "
        "it became the latest (UTC), the Python version that pushed it, its signer and its tags, a page at a "
        "time (--limit names, then --after the last one shown). A store that does not exist (a missing folder "
        "or bucket) is an error; an existing empty one lists no classes."
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
        if not listing.names and not listing.skipped and not store.is_present():  # missing, not empty
            raise StoreError(
                f"the store {store.url} does not exist (no such "
                f"{'folder' if store.is_local else 'bucket or folder'}). "
                f"Check --store or ${_env.STORE}; pushing a class creates a folder store."
            )
        page, more = listing.names[: args.limit], len(listing.names) > args.limit
        damaged: dict[str, str] = {}
        try:
            latest = store.latest_many(page)  # one read per name on the page, concurrent
        except IntegrityError:  # a damaged or planted ref: list the others and name it (on this error path only)
            latest = {}
            for name in page:
                try:
                    latest[name] = store.latest(name)
                except IntegrityError as exc:
                    latest[name], damaged[name] = None, str(exc)
        summaries = {
            name: class_summary(store, name, full)
            for name, full in progress(list(latest.items()), len(latest), "reading headers")
            if full is not None
        }
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
            rows, has_tags = [], any("tags" in summary for summary in summaries.values())
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
                        *([", ".join(summary.get("tags", {})) or "-"] if has_tags else []),
                    ]
                )
            out.line(table(["NAME", "LATEST", "TIME", "PYTHON", "SIGNER", *(["TAGS"] if has_tags else [])], rows))
        for name, problem in damaged.items():
            out.line(f"damaged: {name}: {problem}")
        for entry in listing.skipped:
            out.line(f"skipped, not a class: {entry.path} ({entry.reason})")
        if more:
            out.line(f"more: remoteimport ls --after {page[-1]}")


def class_summary(store: Store, name: str, full_hash: str) -> dict[str, Any]:
    """What `ls` shows of a class besides its latest hash: when that version was pushed, its Python and signer
    (its header read, digest checked, nothing unpickled) and its tags, if the store has tags. Two requests (the
    blob, the tags listing); a damaged blob gives ``"damaged"`` instead of failing the listing."""
    info = read_version(store, name, full_hash, store.policy.trust)
    header = info.header
    signer = (header.signature or {}).get("key") if header else None
    summary: dict[str, Any] = {
        "time_utc": header.created[:19].replace("T", " ") + " UTC" if header else None,
        "python": header.python if header else None,
        "signer": str(signer) if signer else None,
        "signature": info.signature or None,
    }
    if info.problem:
        summary["damaged"] = info.problem
    try:
        summary["tags"] = store.tags(name)
    except RemoteImportError as exc:
        summary["tags"], summary["damaged"] = {}, str(exc)
    return summary


class Log(Command):
    name = "log"
    help = "show the history of a class, newest first"
    description = (
        "Show the pushes and rollbacks of NAME, newest first, a page at a time (--limit, --offset): the "
        "version's hash, when it happened (UTC), the Python version that pushed it and the action. Any 8 or "
        "more leading hex digits of a hash can be given to `show` and `rollback`."
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
            [v.hash[:SHORT_HASH], utc_time(v.time), v.python, f"{v.action} {v.tag}" if v.tag else v.action]
            for v in history
        ]
        out.line(f"history of {args.name} in the store {store.url}, newest first:")
        out.line(table(["HASH", "TIME", "PYTHON", "ACTION"], rows))
        if more:
            out.line(f"more: remoteimport log {args.name} --offset {args.offset + args.limit}")


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
        "pushed from, signature) and the source that travelled with it. The payload digest is verified. "
        "REFERENCE is NAME for the latest version or NAME@HASH (8 or more hex digits) for an exact one."
    )
    examples = "remoteimport show MyFilter\nremoteimport show MyFilter@0123abcd"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("reference", metavar="REFERENCE", help="NAME (latest) or NAME@HASH, e.g. MyFilter@0123abcd")

    def run(self, args: argparse.Namespace, out: Output) -> None:
        name, version = split_versioned(args.reference)  # refuses '../etc' before touching the store
        store = registry.resolve_store(args.store)
        latest = store.latest(name)
        if version is not None:
            full_hash = store.resolve_version(name, version)
        elif latest is not None:
            full_hash = latest
        else:
            raise store.name_not_found(name)
        where = store.blob_path(name, full_hash)
        blob = store.read_verified_blob(name, full_hash)  # the payload digest checked too; nothing is unpickled
        header = blob.header
        is_latest = full_hash == latest
        out.data(store=store.url, path=where, latest=is_latest, payload_digest="OK", header=header.to_json())
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
                    ("store", store.url),
                ]
            )
        )
        if not header.source:
            out.line("\n(no source was shipped with this version)")
        for filename, text in sorted(header.source.items()):
            out.line(f"\n--- source: {terminal_text(filename)} ---")
            out.line(text.rstrip("\n"))  # source text: its lines stay lines (Output.line escapes the rest)


class Status(Command):
    name = "status"
    help = "compare a local class with the store's latest version"
    description = (
        "Hash the local class TARGET (same forms as in `push`) and compare it with the latest version in the "
        "store: 'synced' (identical), 'out_of_sync' (the code differs; push to update) or 'untracked' (never "
        "pushed). Prints the local hash and the store's latest."
    )
    examples = "remoteimport status my_filters:MyFilter"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("target", metavar="TARGET", type=parse_target, help=TARGET_HELP)
        parser.add_argument("--name", help="store the class under this name (default: the class's own name)")

    def run(self, args: argparse.Namespace, out: Output) -> None:
        with load_target_class(args.target) as cls:
            report = registry.status_report(cls, store=args.store, name=args.name)
        name, state, local, latest = report.name, report.state, report.local, report.latest
        out.data(name=name, status=state, local=local, latest=latest, store=report.store)
        explanation = {
            "synced": "the store's latest version is this exact code",
            "out_of_sync": "this code differs from the store's latest version; `remoteimport push` uploads it",
            "untracked": "never pushed to this store; `remoteimport push` uploads it",
        }[state]
        out.line(f"{name}: {state} ({explanation})")
        out.line(fields([("local", local), ("store latest", latest or "none"), ("store", report.store)]))


class Diff(Command):
    name = "diff"
    help = "show what changed between two versions of a class"
    description = (
        "Compare two stored versions of a class without unpickling anything: the header fields that differ "
        "(Python, cloudpickle, requirements, signer, module, creation time), then a unified diff of the source "
        "that travelled with each. A and B are NAME@HASH (8 or more hex digits) or NAME for the latest version. "
        "Coloured on a terminal unless $NO_COLOR is set; --json gives the structured diff."
    )
    examples = (
        "remoteimport diff MyFilter@d0b116b2 MyFilter@97908c4e\nremoteimport diff MyFilter@d0b116b2 MyFilter --json"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("a", metavar="A", help="NAME@HASH (or NAME: the latest), e.g. MyFilter@0123abcd")
        parser.add_argument("b", metavar="B", help="the other version, e.g. MyFilter@4567cdef or MyFilter")

    def run(self, args: argparse.Namespace, out: Output) -> None:
        (name, _), (other, _) = (split_versioned(ref) for ref in (args.a, args.b))  # before touching the store
        if other != name:
            raise CommandError(f"diff compares two versions of one class, not {name} and {other}")
        store = registry.resolve_store(args.store)
        (_, old), (_, new) = (_latest_or_given(store, reference) for reference in (args.a, args.b))
        diff = diff_versions(store, name, old, new)
        out.data(store=store.url, **diff.to_json())
        a, b = diff.old.hash[:SHORT_HASH], diff.new.hash[:SHORT_HASH]
        out.line(f"{name}@{a} (a) -> {name}@{b} (b) in the store {store.url}")
        if diff.old.hash == diff.new.hash:
            out.line("a and b are the same version")
            return
        if diff.changes:
            out.line("header changes:")
            out.line(textwrap.indent(table(["FIELD", "A", "B"], diff.changes), "  "))
        if not diff.files:
            out.line("the shipped source is the same")
            return
        for file in diff.files:
            for kind, text in file.lines:
                out.coloured(kind, text)


def _latest_or_given(store: Store, reference: str) -> tuple[str, str]:
    """``NAME@VERSION`` -> (NAME, VERSION); ``NAME`` -> (NAME, its latest hash)."""
    name, version = split_versioned(reference)
    if version is None:
        version = store.latest(name)
        if version is None:
            raise store.name_not_found(name)
    return name, version
