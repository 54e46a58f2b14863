"""``remoteimport push``: upload a class and make it the latest version."""

from __future__ import annotations

import argparse

from remoteimport import registry
from remoteimport.cli.base import SHORT_HASH, Command, CommandError, Output, is_memory_store
from remoteimport.cli.target import TARGET_HELP, load_target_class, parse_target
from remoteimport.store import default_store_url


class Push(Command):
    name = "push"
    help = "upload a class and make it the latest version"
    description = (
        "Hash the class TARGET by content and upload it (pickled by value, with its source) to the store, "
        "unless that exact version is already there; then point its name's `latest` at it. TARGET is "
        "'module:Class' (imported with the current directory first on sys.path, like `python -m`) or "
        "'path/to/file.py:Class' (loaded like `python path/to/file.py`, so sibling imports work). Prints the "
        "name, the full hash and whether the version is new or unchanged."
    )
    examples = (
        "remoteimport push my_filters:MyFilter\n"
        "remoteimport push src/my_filters.py:MyFilter --name MyFilterV2\n"
        "remoteimport push my_filters:MyFilter --store s3://bucket/classes"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("target", metavar="TARGET", type=parse_target, help=TARGET_HELP)
        parser.add_argument("--name", help="store the class under this name (default: the class's own name)")

    def run(self, args: argparse.Namespace, out: Output) -> None:
        if is_memory_store(registry.resolve_store(args.store)):  # before importing the user's module
            raise CommandError(
                f"refusing to push to {args.store or default_store_url()}: a memory:// store lives only inside "
                "this process, so the pushed class would vanish when the command exits. Push to a folder path or a "
                "shared URL (e.g. s3://bucket/classes)."
            )
        with load_target_class(args.target) as cls:
            name, store = registry.push_target(cls, args.name, args.store)
            previous = store.latest(name)
            pushed = registry.publish(cls, store=store, name=name)
        full_hash, result = pushed.hash, pushed.action
        out.data(name=name, hash=full_hash, result=result, previous=previous, store=store.url, detail=pushed.detail)
        if result == "unchanged":
            detail = "unchanged: this exact code is already the latest version"
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
