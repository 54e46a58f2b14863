"""The ``remoteimport`` command: parses arguments, calls the library, prints. No logic of its own.

    $ remoteimport push my_filters.py:MyFilter      # host A: upload the class
    $ remoteimport ls                               # what the store holds
    $ remoteimport quickstart                       # the whole round trip, on this machine

Every subcommand accepts ``--store URL``, ``--json`` and ``--color WHEN`` before or after its name. Errors print
``remoteimport: error: <message>`` and exit 1; usage errors exit 2.

One module per command or small family of commands, each a :class:`~remoteimport.cli.base.Command` holding
its options, help and body; :data:`COMMANDS` lists them in the order ``remoteimport --help`` shows. What they
share (output, errors, the options on every command) is in ``base.py``; loading a TARGET in ``target.py``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from collections.abc import Sequence

from remoteimport import __version__
from remoteimport._times import utc_time
from remoteimport.cli.base import (
    ANSI,
    ANSI_RESET,
    SHORT_HASH,
    ArgumentParser,
    Command,
    CommandError,
    Output,
    UsageError,
    add_global_options,
    fields,
    progress,
    table,
    terminal_text,
    url_for_another_process,
    use_colour,
)
from remoteimport.cli.cache import Cache
from remoteimport.cli.completion import (
    COMPLETION_SCRIPTS,
    Completion,
    _command_parsers,
    bash_completion,
    fish_completion,
    zsh_completion,
)
from remoteimport.cli.doctor import Doctor
from remoteimport.cli.hash import Hash
from remoteimport.cli.inspection import Diff, Log, Ls, Show, Status, class_summary
from remoteimport.cli.interrupts import INTERRUPTED, exit_at_next_interrupt
from remoteimport.cli.locking import Lock, Run
from remoteimport.cli.push import Push
from remoteimport.cli.quickstart import QUICKSTART_CLASS, Quickstart
from remoteimport.cli.target import Target, load_target_class, parse_target
from remoteimport.cli.trust import Keygen, Sign, Verify
from remoteimport.cli.ui import Ui
from remoteimport.cli.versions import Delete, Gc, Promote, Rollback, Tag, Untag
from remoteimport.errors import RemoteImportError
from remoteimport.store import PROGRESS_LOGGER, redact_url

__all__ = [
    "main",
    "build_parser",
    "COMMANDS",
    # used by the tests and the docs (and importable from here before the CLI became a package)
    "ANSI",
    "ANSI_RESET",
    "COMPLETION_SCRIPTS",
    "QUICKSTART_CLASS",
    "SHORT_HASH",
    "Command",
    "CommandError",
    "Output",
    "Target",
    "UsageError",
    "bash_completion",
    "class_summary",
    "fields",
    "fish_completion",
    "load_target_class",
    "parse_target",
    "progress",
    "table",
    "terminal_text",
    "url_for_another_process",
    "use_colour",
    "utc_time",
    "zsh_completion",
    "_command_parsers",
]


def build_parser() -> argparse.ArgumentParser:
    def formatter(prog: str) -> argparse.HelpFormatter:
        return argparse.RawDescriptionHelpFormatter(prog, max_help_position=30, width=100)

    parser = ArgumentParser(
        prog="remoteimport",
        formatter_class=formatter,
        description=(
            "Push a Python class from one host to a store (a folder or any fsspec URL), and import exactly that\n"
            "version on another host, without its source:\n\n"
            "    host A:  $ remoteimport push my_filters.py:MyFilter --store s3://bucket/classes\n"
            "    host B:  >>> import remoteimport; remoteimport.install('s3://bucket/classes')\n"
            "             >>> from labchain_remote import MyFilter\n\n"
            "New here? Run `remoteimport quickstart` to see the whole round trip."
        ),
        epilog="--store, --json and --color may also follow the command. Run `remoteimport COMMAND --help` for its\n"
        "details and examples.",
    )
    parser.add_argument(
        "--version", action="version", version=f"remoteimport {__version__}", help="print the version and exit"
    )
    add_global_options(parser, suppress=False)
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = subcommands.add_parser(
            command.name,
            help=command.help,
            formatter_class=formatter,
            description=textwrap.fill(command.description, width=100),
            epilog="examples:\n" + textwrap.indent(command.examples, "  "),
        )
        command.add_arguments(sub)
        add_global_options(sub, suppress=True)
        sub.set_defaults(handler=command.run)
    return parser


# Every command, in the order `remoteimport --help` lists them.
COMMANDS: tuple[Command, ...] = (
    Push(),
    Ls(),
    Log(),
    Show(),
    Status(),
    Hash(),
    Rollback(),
    Tag(),
    Untag(),
    Ui(),
    Sign(),
    Keygen(),
    Verify(),
    Lock(),
    Run(),
    Quickstart(),
    Diff(),
    Completion(build_parser),
    Promote(),
    Delete(),
    Gc(),
    Cache(),
    Doctor(),
)


class _StderrNotice(logging.Handler):
    """Prints a progress notice (``remoteimport: no answer from ...: retrying ...``) as one line on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"remoteimport: {terminal_text(redact_url(record.getMessage()))}", file=sys.stderr, flush=True)


def _show_progress_notices() -> None:
    """A person at a terminal sees that a silent store is being retried (a program sees it only if it asks)."""
    notices = logging.getLogger(PROGRESS_LOGGER)
    notices.setLevel(logging.INFO)
    if not any(isinstance(handler, _StderrNotice) for handler in notices.handlers):  # main() may run many times
        notices.addHandler(_StderrNotice())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    except UsageError as exc:
        return _usage_error(exc, Output("--json" in words))  # it did not parse: --json anywhere in it counts
    out = Output(args.json, colour=use_colour(choice=args.color))
    # The commands report what the library did (a repaired version, say) in their own output; without a
    # handler, the library's log records would be printed a second time by logging's last resort.
    logging.getLogger("remoteimport").addHandler(logging.NullHandler())
    _show_progress_notices()
    try:
        status = args.handler(args, out)
        out.finish()
    except UsageError as exc:  # parsed, but not a command line the command takes (`completion` without a shell)
        return _usage_error(exc, out)
    except (RemoteImportError, ImportError, FileNotFoundError, PermissionError, CommandError) as exc:
        # A message may quote the store (a URL's password, a value with control characters): shown safely.
        print(f"remoteimport: error: {terminal_text(redact_url(str(exc)), multiline=True)}", file=sys.stderr)
        out.fail(exc)  # --json: {"error": {"type", "message"}} on stdout
        return 1
    except KeyboardInterrupt:
        if argv is None:  # this process's own command line: a second Ctrl-C while exiting ends it quietly
            exit_at_next_interrupt()
        print("remoteimport: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        # `remoteimport log X | head`: the reader left; stop quietly (Python would print a traceback at exit
        # when flushing stdout again, so point it at /dev/null).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status or 0


def _usage_error(exc: UsageError, out: Output) -> int:
    """Say what is wrong with the command line, with its usage (and in ``--json``'s document): exit status 2."""
    exc.parser.print_usage(sys.stderr)
    print(f"{exc.parser.prog}: error: {exc}", file=sys.stderr)
    out.fail(exc)
    return 2
