"""Moving and removing versions: ``rollback``, ``tag``, ``untag``, ``promote``, ``delete`` and ``gc``."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from remoteimport import registry
from remoteimport.cli.base import SHORT_HASH, Command, CommandError, Output, message_argument, table
from remoteimport.names import split_versioned
from remoteimport.store import Store


class Rollback(Command):
    name = "rollback"
    help = "point a class's latest version at an earlier one"
    description = (
        "Make an earlier version of NAME the latest again (`from labchain_remote import NAME` then gets it). "
        "VERSION is the full hash, 8 or more leading hex digits (as listed by `remoteimport log NAME`) or a tag; "
        "NAME@VERSION says the same. The rollback is recorded in the history; nothing is deleted. Prints the "
        "full hash."
    )
    examples = (
        "remoteimport log MyFilter\nremoteimport rollback MyFilter 0123abcd\n"
        "remoteimport rollback MyFilter@prod -m 'staging broke on empty input'"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", metavar="NAME", help="class name in the store, e.g. MyFilter (or NAME@VERSION)")
        parser.add_argument(
            "hash", metavar="VERSION", nargs="?", help="full hash, 8+ leading hex digits or tag of the version"
        )
        parser.add_argument(
            "-m",
            "--message",
            type=message_argument,
            help="why: one line, recorded with the rollback in the history (`remoteimport log NAME` shows it)",
        )

    def run(self, args: argparse.Namespace, out: Output) -> None:
        name, version = split_versioned(args.name)  # refuses malformed names before touching the store
        if (version is None) == (args.hash is None):
            raise CommandError(
                f"roll {name} back to which version? Give it once: `remoteimport rollback {name} VERSION` or "
                f"`remoteimport rollback {name}@VERSION` (a hash, 8+ leading hex digits or a tag, as listed by "
                f"`remoteimport log {name}`)"
            )
        store = registry.resolve_store(args.store)
        full_hash = registry.rollback(name, version or args.hash, store=store, message=args.message)
        out.data(name=name, hash=full_hash, store=store.url)
        out.line(f"{name} latest is now {full_hash}")
        out.line(f"  store: {store.url}")


class Tag(Command):
    name = "tag"
    help = "give a version a name (e.g. prod) to import it by"
    description = (
        "Point the tag TAG of NAME at the version VERSION (the full hash, 8 or more leading hex digits, another "
        "tag or latest). "
        "`import labchain_remote.NAME@TAG`, configs naming labchain_remote.NAME@TAG and `remoteimport lock "
        "NAME@TAG` then use that version (a lock records its full hash). A tag is 1 to 64 letters, digits, '_' "
        "and '-', starts with a letter and is never all hex digits, so it cannot be mistaken for a hash. Moving "
        "an existing tag to another version needs --force. Recorded in the history (`remoteimport log NAME`)."
    )
    examples = (
        "remoteimport tag MyFilter@0123abcd prod\nremoteimport tag MyFilter@4567cdef prod --force\n"
        "remoteimport tag MyFilter@staging prod --force"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "reference", metavar="NAME@VERSION", help="the version to tag, e.g. MyFilter@0123abcd or MyFilter@latest"
        )
        parser.add_argument("tag", metavar="TAG", help="the tag, e.g. prod (never all hex digits)")
        parser.add_argument("--force", action="store_true", help="move the tag if it points at another version")

    def run(self, args: argparse.Namespace, out: Output) -> None:
        name, version = split_versioned(args.reference)  # refuses malformed names before touching the store
        if version is None:
            raise CommandError(
                f"tag which version of {name}? Give NAME@VERSION (the full hash, 8+ leading hex digits as listed by "
                f"`remoteimport log {name}`, a tag or latest), e.g. `remoteimport tag {name}@0123abcd {args.tag}`"
            )
        store = registry.resolve_store(args.store)
        full_hash = registry.tag(name, version, args.tag, store=store, force=args.force)
        out.data(name=name, tag=args.tag, hash=full_hash, store=store.url)
        out.line(f"{name}@{args.tag} is now {full_hash}")
        out.line(f"  import: labchain_remote.{name}@{args.tag}   store: {store.url}")


class Untag(Command):
    name = "untag"
    help = "remove a tag (its version stays)"
    description = (
        "Remove the tag TAG of NAME: `labchain_remote.NAME@TAG` no longer imports. The version it pointed at "
        "stays in the store. Recorded in the history. Prints the full hash the tag pointed at."
    )
    examples = "remoteimport untag MyFilter prod"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", metavar="NAME", help="class name in the store, e.g. MyFilter")
        parser.add_argument("tag", metavar="TAG", help="the tag to remove, e.g. prod")

    def run(self, args: argparse.Namespace, out: Output) -> None:
        store = registry.resolve_store(args.store)
        full_hash = registry.untag(args.name, args.tag, store=store)
        out.data(name=args.name, tag=args.tag, hash=full_hash, store=store.url)
        out.line(f"removed the tag {args.tag!r} of {args.name} (it pointed at {full_hash}; that version stays)")
        out.line(f"  store: {store.url}")


def _exact_version(reference: str, store: Store, command: str) -> tuple[str, str]:
    """``NAME@VERSION`` (a hash, prefix, tag or ``latest``) -> (NAME, full hash); a bare NAME is refused."""
    name, version = split_versioned(reference)
    if version is None:
        raise CommandError(
            f"{command} which version of {name}? Give NAME@VERSION (the full hash, 8+ leading hex digits as listed "
            f"by `remoteimport log {name}`, or a tag), e.g. `remoteimport {command} {name}@0123abcd`"
        )
    return name, store.resolve_version(name, version)


class Promote(Command):
    name = "promote"
    help = "copy a version to another store (e.g. staging to production), signature included"
    description = (
        "Copy the version NAME@VERSION (a hash, 8+ hex digits, a tag or latest) from the store (--store) to the "
        "store --to, byte for byte, so its signature "
        "travels with it. It is checked first (digest, name and hash, and the target's trust policy: a target "
        "that trusts keys never receives a blob it would refuse) and read back after the copy; nothing is "
        "unpickled. The target's history records a `promote` naming the source. The target's latest moves only "
        "with --latest; --tag tags it there. A version the target already holds intact is not copied again."
    )
    examples = (
        "remoteimport promote MyFilter@0123abcd --store /srv/staging --to s3://bucket/prod --latest\n"
        "remoteimport promote MyFilter@0123abcd --to /srv/prod --tag stable"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "reference", metavar="NAME@VERSION", help="the version to copy, e.g. MyFilter@0123abcd or MyFilter@prod"
        )
        parser.add_argument("--to", required=True, metavar="URL", help="the target store (folder path or fsspec URL)")
        parser.add_argument("--tag", metavar="TAG", help="also tag the version in the target store")
        parser.add_argument("--latest", action="store_true", help="also point the target's latest at the version")

    def run(self, args: argparse.Namespace, out: Output) -> None:
        source = registry.resolve_store(args.store)
        name, full_hash = _exact_version(args.reference, source, "promote")
        result = registry.promote(name, full_hash, args.to, source=source, tag=args.tag, make_latest=args.latest)
        out.data(**asdict(result))
        if not result.changed:
            out.line(f"{name}@{full_hash[:SHORT_HASH]}: nothing to do, {result.detail} in {result.target}")
            return
        blob = {"copied": "copied (bytes unchanged, signature included)", "replaced": "replaced a damaged copy"}
        out.line(f"promoted {name} {full_hash}")
        out.line(f"  from: {result.source}")
        out.line(f"  to:   {result.target}")
        out.line(f"  blob: {blob.get(result.blob, result.detail)}; verified in the target")
        out.line(f"  latest: {'now this version' if result.latest_moved else 'unchanged (--latest moves it)'}")
        if result.tag:
            out.line(f"  tag: {result.tag}")


class Delete(Command):
    name = "delete"
    help = "delete one stored version (refuses the latest or a tagged one without --force)"
    description = (
        "Remove the blob of NAME@VERSION (a hash, 8+ hex digits or a tag) from the store; the history records a "
        "`delete`. The version latest points "
        "at, or a tagged one, is refused unless --force: then latest (and the tags) are removed too, so no ref "
        "points at a missing blob (`remoteimport rollback NAME HASH` sets latest again). Hosts that cached the "
        "version may still import it by hash from their cache."
    )
    examples = "remoteimport delete MyFilter@0123abcd\nremoteimport delete MyFilter@97908c4e --force"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("reference", metavar="NAME@VERSION", help="the version to delete, e.g. MyFilter@0123abcd")
        parser.add_argument(
            "--force", action="store_true", help="delete it even when latest or a tag points at it (removing those)"
        )

    def run(self, args: argparse.Namespace, out: Output) -> None:
        store = registry.resolve_store(args.store)
        name, full_hash = _exact_version(args.reference, store, "delete")
        result = registry.delete(name, full_hash, store=store, force=args.force)
        out.data(**{**asdict(result), "removed_tags": list(result.removed_tags)})
        out.line(f"deleted {name} {full_hash} (the history keeps a record)")
        if result.removed_latest:
            out.line(f"  removed latest: it pointed at this version; set it with `remoteimport rollback {name} HASH`")
        for tag in result.removed_tags:
            out.line(f"  removed the tag {tag!r}")
        out.line(f"  store: {store.url}")


class Gc(Command):
    name = "gc"
    help = "find (and with --yes remove) temporary files of crashed writes and unreferenced blobs"
    description = (
        "List what nothing in the store needs: temporary files (.tmp-*) left by crashed writes to a local store, "
        "and blobs that no latest, tag or history entry names (e.g. written by a push that failed before its "
        "history entry). Only items older than an hour are removable (a younger one may belong to a push in "
        "progress). Nothing is removed without --yes; nothing a ref or history entry names is ever removed."
    )
    examples = "remoteimport gc\nremoteimport gc --yes"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--yes", action="store_true", help="remove what is listed (default: only list it)")

    def run(self, args: argparse.Namespace, out: Output) -> None:
        store = registry.resolve_store(args.store)
        items = registry.gc(store, dry_run=not args.yes)
        removable = [item for item in items if item.kept is None]
        out.data(store=store.url, removed=args.yes, items=[asdict(item) for item in items])
        if not items:
            out.line(f"nothing to collect in the store {store.url}")
            return
        verb = "removed" if args.yes else "would remove"
        rows = []
        for item in items:
            what = f"{item.name}@{(item.hash or '')[:SHORT_HASH]}" if item.kind == "unreferenced" else item.path
            age = "?" if item.age is None else f"{item.age / 3600:.1f} h"
            action = f"kept: {item.kept}" if item.kept else verb
            rows.append([item.kind, what, age, action])
        out.line(f"garbage in the store {store.url}:")
        out.line(table(["KIND", "WHAT", "AGE", "ACTION"], rows))
        if removable and not args.yes:
            out.line(f"{len(removable)} to remove: run again with --yes to remove them")
