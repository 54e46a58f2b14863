"""``remoteimport push``: upload classes, each becoming the latest version of its name."""

from __future__ import annotations

import argparse
import contextlib

from remoteimport import registry
from remoteimport.cli.base import (
    SHORT_HASH,
    Command,
    CommandError,
    Output,
    is_memory_store,
    message_argument,
    progress,
)
from remoteimport.cli.target import TARGET_HELP, load_target_class, parse_target
from remoteimport.provenance import MAX_MESSAGE_LENGTH
from remoteimport.store import default_store_url


class Push(Command):
    name = "push"
    help = "upload one or more classes, each becoming the latest version of its name"
    description = (
        "Hash each class TARGET by content and upload it (pickled by value, with its source) to the store, "
        "unless that exact version is already there; then point its name's `latest` at it. TARGET is "
        "'module:Class' (imported with the current directory first on sys.path, like `python -m`) or "
        "'path/to/file.py:Class' (loaded like `python path/to/file.py`, so sibling imports work); your files run "
        "as their text is now, whatever __pycache__ holds. Every TARGET is imported before anything is pushed. "
        "Prints, for each, the name, the full hash and whether the version is new or unchanged. A new version "
        "records who pushed it, from which host and git commit, and the -m message (docs/provenance.md); the "
        "history entry of every push records who and the message."
    )
    examples = (
        "remoteimport push my_filters:MyFilter\n"
        'remoteimport push my_filters:MyFilter -m "retrained on the May data"\n'
        "remoteimport push my_filters:MyFilter my_filters:OtherFilter models.py:Model\n"
        "remoteimport push src/my_filters.py:MyFilter --name MyFilterV2\n"
        "remoteimport push my_filters:MyFilter --store s3://bucket/classes"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("targets", metavar="TARGET", nargs="+", type=parse_target, help=TARGET_HELP)
        parser.add_argument(
            "--name", help="store the class under this name (default: the class's own name); one TARGET only"
        )
        parser.add_argument(
            "-m",
            "--message",
            type=message_argument,
            help=f"why this version: one line, at most {MAX_MESSAGE_LENGTH} characters, recorded with the push",
        )

    def run(self, args: argparse.Namespace, out: Output) -> None:
        if args.name is not None and len(args.targets) > 1:
            raise CommandError(f"--name {args.name} names one class, but {len(args.targets)} TARGETs were given")
        if is_memory_store(registry.resolve_store(args.store)):  # before importing the user's module
            raise CommandError(
                f"refusing to push to {args.store or default_store_url()}: a memory:// store lives only inside "
                "this process, so the pushed class would vanish when the command exits. Push to a folder path or a "
                "shared URL (e.g. s3://bucket/classes)."
            )
        reports = []
        with contextlib.ExitStack() as loaded:
            # Every TARGET imports before anything is pushed: a typo in the last one pushes nothing.
            classes = [loaded.enter_context(load_target_class(target)) for target in args.targets]
            for cls in progress(classes, label="pushing") if len(classes) > 1 else classes:
                reports.append(_push(cls, args.name, args.store, out, args.message))
        if len(reports) == 1:
            out.data(**reports[0])
        else:
            out.data(store=reports[0]["store"], pushed=reports)


def _push(
    cls: type, name: str | None, store_url: str | None, out: Output, message: str | None = None
) -> dict[str, object]:
    """Push one class; print its lines; return its --json report."""
    name, store = registry.push_target(cls, name, store_url)
    previous = store.latest(name)
    pushed = registry.publish(cls, store=store, name=name, message=message)
    full_hash, result = pushed.hash, pushed.action
    if result == "unchanged":
        detail = "unchanged: this exact code is already the latest version"
        detail += "; nothing was written, so the message was not recorded" if message else ""
    elif result == "signed":
        detail = f"signed: {pushed.detail}"
    elif result == "repaired":
        detail = f"repaired: the stored copy of this version was replaced by a verified one: {pushed.detail}"
    elif result == "upgraded":
        detail = f"upgraded: {pushed.detail}"
    elif result == "moved":
        detail = f"already stored: latest was {previous[:SHORT_HASH] if previous else 'unset'}, now this version"
    elif previous is None:
        detail = f"new: the first version of {name}"
    else:
        detail = f"new: latest was {previous[:SHORT_HASH]}, now this version"
    out.line(f"pushed {name} {full_hash}")
    out.line(f"  {detail}")
    out.line(f"  store: {store.url}")
    return {
        "name": name,
        "hash": full_hash,
        "result": result,
        "previous": previous,
        "store": store.url,
        "detail": pushed.detail,
        "message": message,
    }
