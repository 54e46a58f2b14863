"""What every command shares: the :class:`Command` base class, :class:`Output`, the errors, the options on every
command, and the table, field and terminal helpers the commands print with."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any, NoReturn, TextIO, TypeVar

from remoteimport import _env
from remoteimport.store import Store, default_store_url, redact_url

SHORT_HASH = 12  # hex digits shown in tables; any 8 or more work as a prefix


class CommandError(Exception):
    """A problem with what was typed on the command line (not a library error)."""


class UsageError(CommandError):
    """The command line does not parse (exit status 2); raised by argparse's ``error`` instead of exiting, so
    that ``--json`` can report it too."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # the subcommand's own parser, so its usage line is printed
        raise UsageError(self, message)


# ---------------------------------------------------------------------------------------------------------
# Output


def terminal_text(value: object, *, multiline: bool = False) -> str:
    """``value`` as text a terminal shows and never interprets: every character that is not printable (ESC and
    the other control characters, C1 controls such as CSI, bidirectional overrides) written as its Python escape
    (``\\x1b``); printable Unicode is kept. ``multiline``: newlines and tabs stay (source text, a message), else
    they are escaped too, so a value from a store cannot draw a line of its own (a fake row, a fake "trusted").

    >>> terminal_text("evil\\x1b[2J\\nsigned by x (trusted)")
    'evil\\\\x1b[2J\\\\nsigned by x (trusted)'
    """
    text = str(value)
    if text.isprintable():
        return text
    kept = "\n\t" if multiline else ""
    return "".join(c if c.isprintable() or c in kept else c.encode("unicode_escape").decode("ascii") for c in text)


class Output:
    """Text lines for people, or one JSON document for programs (``--json``).

    Whatever a line holds, no control character reaches the terminal (:func:`terminal_text`): colour is added
    by :meth:`coloured` alone. ``--json`` keeps values as they are (JSON escapes them).

    ``colour``: whether ANSI colours may be used on stdout (decided once by ``main``, see :func:`use_colour`)."""

    def __init__(self, as_json: bool, colour: bool = False) -> None:
        self.as_json = as_json
        self.colour = colour
        self.document: dict[str, Any] = {}

    def line(self, text: str = "") -> None:
        if not self.as_json:
            print(terminal_text(text, multiline=True), flush=True)

    def coloured(self, kind: str, text: str) -> None:
        """One line of ``text`` in the colour named ``kind`` (a key of :data:`ANSI`) when colour is on."""
        if self.as_json:
            return
        text = terminal_text(text)
        print(f"{ANSI[kind]}{text}{ANSI_RESET}" if self.colour and kind in ANSI else text, flush=True)

    def data(self, **document: Any) -> None:
        self.document.update(document)

    def finish(self) -> None:
        if self.as_json:
            print(json.dumps(self.document, indent=2))

    def fail(self, error: BaseException) -> None:
        """``--json``: the failed command's document, with ``"error": {"type", "message"}`` (a report the
        command made before failing, like `verify`'s, is kept)."""
        if self.as_json:
            failure = {"type": type(error).__name__, "message": redact_url(str(error))}
            print(json.dumps({**self.document, "error": failure}, indent=2))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain aligned columns, two spaces apart; a cell is one line (:func:`terminal_text`)."""
    lines = [headers, *[[terminal_text(cell) for cell in row] for row in rows]]
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(headers))]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in lines
    )


def fields(pairs: Sequence[tuple[str, str]]) -> str:
    """``key: value`` lines, values aligned; a value is one line (:func:`terminal_text`)."""
    width = max(len(key) for key, _ in pairs) + 1
    return "\n".join(f"{(key + ':').ljust(width)} {terminal_text(value)}" for key, value in pairs)


# ---------------------------------------------------------------------------------------------------------
# The terminal: colour on stdout, progress on stderr

ANSI = {"add": "\033[32m", "del": "\033[31m", "hunk": "\033[36m", "file": "\033[1m"}
ANSI_RESET = "\033[0m"


COLOUR_CHOICES = ("auto", "always", "never")


def use_colour(stream: TextIO | None = None, choice: str = "auto") -> bool:
    """Whether to write ANSI colours to ``stream`` (default: stdout). ``choice`` is ``--color``: ``always`` and
    ``never`` decide; ``auto`` (the default) asks the environment: never while ``$NO_COLOR`` is set
    (https://no-color.org) or ``$TERM`` is ``dumb``, always while ``$FORCE_COLOR`` is set (https://force-color.org:
    a CI log that shows colours), else only on a terminal. A variable set to the empty string counts as unset."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    stream = sys.stdout if stream is None else stream
    return stream.isatty()


T = TypeVar("T")


def progress(items: Iterable[T], total: int | None = None, label: str = "") -> Iterator[T]:
    """Yield ``items`` unchanged while drawing ``label: 3/10`` on stderr, for long operations (reading many
    headers, pushing many classes). Only when stderr is a terminal, so pipes, logs and ``--json`` stay clean;
    the line is erased at the end. ``total`` defaults to ``len(items)`` when it has one.

    >>> list(progress(["a", "b"], 2, "reading"))  # stderr is not a terminal here: nothing is drawn
    ['a', 'b']
    """
    stream = sys.stderr
    if not stream.isatty():
        yield from items
        return
    if total is None and isinstance(items, Sized):
        total = len(items)
    shown, drawn_at, done = 0, 0.0, 0

    def draw() -> None:
        nonlocal shown
        text = f"\r{label}: {done}/{total}" if total is not None else f"\r{label}: {done}"
        stream.write(text.ljust(shown) + "\r")
        stream.flush()
        shown = len(text)

    try:
        for item in items:
            if time.monotonic() - drawn_at > 0.1:  # at most ten redraws a second
                draw()
                drawn_at = time.monotonic()
            yield item
            done += 1
    finally:
        if shown:
            stream.write("\r" + " " * shown + "\r")
            stream.flush()


# ---------------------------------------------------------------------------------------------------------
# Stores as the command line names them


def is_memory_store(store: Store) -> bool:
    protocols = store.fs.protocol if isinstance(store.fs.protocol, tuple) else (store.fs.protocol,)
    return "memory" in protocols


def url_for_another_process(store: Store) -> str:
    """The store's URL as another process (in another directory) must spell it: local paths made absolute.

    Refuses ``memory://`` stores, which exist only inside this process."""
    if is_memory_store(store):
        raise CommandError(f"{store.url} exists only inside this process; use a folder path or a shared URL")
    return store.unredacted_url  # credentials included: the child opens the store with it (never printed)


# ---------------------------------------------------------------------------------------------------------
# Options


def add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """``--store``, ``--json`` and ``--color``, accepted before the command's name and after it."""
    # On subcommands the defaults are suppressed so an option given before the subcommand is not
    # overwritten by the subcommand's default.
    group = parser.add_argument_group("options on every command")
    group.add_argument(
        "--store",
        metavar="URL",
        default=argparse.SUPPRESS if suppress else None,
        help=f"folder path or fsspec URL of the store (now: {default_store_url()}; default: ${_env.STORE} "
        "when set, else a folder in your user data directory)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print one JSON document on stdout instead of text",
    )
    group.add_argument(
        "--color",
        choices=COLOUR_CHOICES,
        metavar="WHEN",
        default=argparse.SUPPRESS if suppress else "auto",
        help="when to colour the output (diffs): auto (the default: on a terminal, unless $NO_COLOR is set or "
        "TERM=dumb; also off a terminal when $FORCE_COLOR is set), always or never",
    )


def positive(text: str) -> int:
    """argparse ``type=`` for counts: a whole number of 1 or more."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, not {text!r}")
    return value


# ---------------------------------------------------------------------------------------------------------
# Command


class Command:
    """One subcommand: its name, help, options and body together (listed in ``remoteimport.cli.COMMANDS``).

    ``help`` is the line in ``remoteimport --help``; ``description`` (one paragraph, wrapped at 100 columns)
    and ``examples`` (one command a line) make up ``remoteimport NAME --help``. ``run`` returns the exit
    status, or None for 0; it raises :class:`CommandError` (or a library error) to fail with status 1.

        class Hello(Command):
            name, help = "hello", "greet"
            description, examples = "Print a greeting.", "remoteimport hello"

            def run(self, args, out):
                out.data(greeting="hello")
                out.line("hello")
    """

    name: str = ""
    help: str = ""
    description: str = ""
    examples: str = ""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add this command's own arguments (``--store`` and ``--json`` are added for every command)."""

    def run(self, args: argparse.Namespace, out: Output) -> int | None:
        raise NotImplementedError


def message_argument(text: str) -> str | None:
    """argparse ``type=`` for ``-m/--message`` (push, rollback): refused as a usage error before anything is
    imported or written (one line, printable, at most :data:`remoteimport.provenance.MAX_MESSAGE_LENGTH`)."""
    from remoteimport.errors import PushError
    from remoteimport.provenance import check_message

    try:
        return check_message(text)
    except PushError as exc:
        raise argparse.ArgumentTypeError(str(exc).removesuffix("; nothing was pushed")) from None
