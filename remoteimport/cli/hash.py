"""``remoteimport hash``: print a class's content hash, without contacting the store."""

from __future__ import annotations

import argparse

from remoteimport.cli.base import Command, Output
from remoteimport.cli.target import TARGET_HELP, load_target_class, parse_target
from remoteimport.hashing import class_hash


class Hash(Command):
    name = "hash"
    help = "print a class's content hash (no store access)"
    description = (
        "Print the full content hash of the class TARGET (same forms as in `push`): the version it would be "
        "pushed as. The hash depends on the code (normalized, so comments and layout do not count), not on "
        "the host or the file's location. The store is not contacted."
    )
    examples = "remoteimport hash my_filters:MyFilter\nremoteimport hash src/my_filters.py:MyFilter"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("target", metavar="TARGET", type=parse_target, help=TARGET_HELP)

    def run(self, args: argparse.Namespace, out: Output) -> None:
        with load_target_class(args.target) as cls:
            full_hash = class_hash(cls)
        out.data(target=args.target.text, hash=full_hash)
        out.line(full_hash)
