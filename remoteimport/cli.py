"""The ``remoteimport`` command: parses arguments, calls the library, prints. No logic of its own.

    $ remoteimport push my_filters.py:MyFilter      # host A: upload the class
    $ remoteimport ls                               # what the store holds
    $ remoteimport quickstart                       # the whole round trip, on this machine

Every subcommand accepts ``--store URL`` and ``--json`` before or after its name. Errors print
``remoteimport: error: <message>`` and exit 1; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import logging
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, NoReturn, TextIO, TypeVar

from remoteimport import __version__, _env, registry
from remoteimport.blob import decode_blob
from remoteimport.compare import diff_versions, read_version
from remoteimport.errors import RemoteImportError, StoreError
from remoteimport.hashing import class_hash
from remoteimport.hook import install
from remoteimport.lock import LOCK_FILENAME, update_lock
from remoteimport.names import is_hash_like, split_versioned
from remoteimport.signing import generate_key, load_public_key, signature_status
from remoteimport.store import Store, default_store_url

__all__ = ["main", "build_parser"]

SHORT_HASH = 12  # hex digits shown in tables; any 8 or more work as a prefix


class CommandError(Exception):
    """A problem with what was typed on the command line (not a library error)."""


class UsageError(CommandError):
    """The command line does not parse (exit status 2); raised by argparse's ``error`` instead of exiting, so
    that ``--json`` can report it too."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # the subcommand's own parser, so its usage line is printed
        raise UsageError(self, message)


# ---------------------------------------------------------------------------------------------------------
# TARGET: `module:Class` or `path/to/file.py:Class`


@dataclass(frozen=True)
class Target:
    text: str  # as typed
    location: str  # a dotted module name or a file path
    qualname: str  # the class inside it, possibly nested: Outer.Inner
    is_file: bool

    @property
    def module_name(self) -> str:
        """The name the class's module gets in ``sys.modules`` (a file's stem, like ``python file.py``)."""
        if self.is_file:
            return os.path.splitext(os.path.basename(self.location))[0]
        return self.location


def parse_target(text: str) -> Target:
    """``"pkg.mod:MyFilter"`` or ``"path/to/file.py:MyFilter"`` -> :class:`Target` (argparse ``type=``)."""
    location, sep, qualname = text.rpartition(":")
    is_file = location.endswith(".py") or "/" in location or os.sep in location
    valid_module = is_file or all(part.isidentifier() for part in location.split("."))
    if not sep or not location or not valid_module or not all(p.isidentifier() for p in qualname.split(".")):
        raise argparse.ArgumentTypeError(
            f"invalid TARGET {text!r}: expected 'module:Class' (e.g. 'my_filters:MyFilter', imported from the "
            "current directory) or 'path/to/file.py:Class' (e.g. 'src/my_filters.py:MyFilter')"
        )
    return Target(text, location, qualname, is_file)


@contextlib.contextmanager
def load_target_class(target: Target) -> Iterator[type]:
    """Import TARGET's module as ``python -m module`` / ``python path/to/file.py`` would and yield the class.

    Afterwards ``sys.path`` is restored and the module forgotten, so one process can load many targets
    (the in-process tests, and ``quickstart`` run twice). This belongs in the library if a second caller
    appears (e.g. ``remoteimport.load_target("file.py:Class")``)."""
    saved_path = list(sys.path)
    module_name = target.module_name
    was_loaded = module_name in sys.modules
    try:
        try:
            module = _load_file(target) if target.is_file else _import_module(target)
        except CommandError:
            raise
        except Exception as exc:  # the user's module itself failed (SyntaxError, a missing dependency, ...)
            raise CommandError(
                f"importing {target.location} (TARGET {target.text!r}) failed:\n{_user_traceback(exc)}"
            ) from exc
        yield _class_in(module, target)
    finally:
        sys.path[:] = saved_path
        if not was_loaded:
            sys.modules.pop(module_name, None)


def _import_module(target: Target) -> Any:
    # `python -m` semantics: the current directory comes first.
    sys.path.insert(0, os.getcwd())
    importlib.invalidate_caches()  # a long-lived process may have listed this directory before
    try:
        return importlib.import_module(target.location)
    except ModuleNotFoundError as exc:
        if exc.name is None or not target.location.startswith(exc.name):
            raise  # the module exists but imports something missing: that message is the right one
        raise CommandError(
            f"cannot import module {target.location!r} for TARGET {target.text!r} (looked in the current "
            f"directory {os.getcwd()}, then sys.path). Run from the directory that contains it, or give a "
            f"file path such as 'path/to/{target.location.replace('.', '/')}.py:{target.qualname}'"
        ) from None


def _load_file(target: Target) -> Any:
    path = os.path.abspath(target.location)
    if not os.path.isfile(path):
        raise CommandError(f"no such file {target.location!r} (from TARGET {target.text!r})")
    module_name = target.module_name
    existing = sys.modules.get(module_name)
    existing_file = getattr(existing, "__file__", None)
    if existing is not None and (existing_file is None or os.path.realpath(existing_file) != os.path.realpath(path)):
        raise CommandError(
            f"cannot load {target.location} as module {module_name!r}: a different module of that name is "
            f"already imported ({existing_file or 'built in'}). Rename the file."
        )
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise CommandError(f"cannot load {target.location} as a Python module: give a .py file")
    module = importlib.util.module_from_spec(spec)
    # Like `python path/to/file.py`: the file's directory comes first, so sibling imports work.
    sys.path.insert(0, os.path.dirname(path))
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


_MACHINERY = {__file__, importlib.__file__, runpy.__file__}


def _user_traceback(exc: BaseException) -> str:
    """The error as Python would print it, without the frames of this module and of importlib's machinery."""
    report = traceback.TracebackException.from_exception(exc)
    report.stack = traceback.StackSummary.from_list(
        [
            frame
            for frame in report.stack
            if frame.filename not in _MACHINERY and not frame.filename.startswith("<frozen ")
        ]
    )
    return "".join(report.format()).rstrip()


def _class_in(module: Any, target: Target) -> type:
    found: Any = module
    for part in target.qualname.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise CommandError(
                f"{target.location} has no attribute {target.qualname!r} (TARGET {target.text!r}); "
                f"its public names: {', '.join(n for n in sorted(vars(module)) if not n.startswith('_')) or 'none'}"
            ) from None
    if not isinstance(found, type):
        raise CommandError(f"{target.text} is a {type(found).__name__}, not a class; remoteimport pushes classes")
    return found


def _is_memory_store(store: Store) -> bool:
    protocols = store.fs.protocol if isinstance(store.fs.protocol, tuple) else (store.fs.protocol,)
    return "memory" in protocols


def url_for_another_process(store: Store) -> str:
    """The store's URL as another process (in another directory) must spell it: local paths made absolute.

    Refuses ``memory://`` stores, which exist only inside this process."""
    protocols = store.fs.protocol if isinstance(store.fs.protocol, tuple) else (store.fs.protocol,)
    if "memory" in protocols:
        raise CommandError(f"{store.url} exists only inside this process; use a folder path or a shared URL")
    return store.url


# ---------------------------------------------------------------------------------------------------------
# Output


class Output:
    """Text lines for people, or one JSON document for programs (``--json``)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.document: dict[str, Any] = {}

    def line(self, text: str = "") -> None:
        if not self.as_json:
            print(text, flush=True)

    def data(self, **document: Any) -> None:
        self.document.update(document)

    def finish(self) -> None:
        if self.as_json:
            print(json.dumps(self.document, indent=2))

    def fail(self, error: BaseException) -> None:
        """``--json``: the failed command's document, with ``"error": {"type", "message"}`` (a report the
        command made before failing, like `verify`'s, is kept)."""
        if self.as_json:
            failure = {"type": type(error).__name__, "message": str(error)}
            print(json.dumps({**self.document, "error": failure}, indent=2))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain aligned columns, two spaces apart."""
    lines = [headers, *rows]
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(headers))]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in lines
    )


def fields(pairs: Sequence[tuple[str, str]]) -> str:
    width = max(len(key) for key, _ in pairs) + 1
    return "\n".join(f"{(key + ':').ljust(width)} {value}" for key, value in pairs)


def utc_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


# ---------------------------------------------------------------------------------------------------------
# Subcommands: each takes the parsed arguments and an Output


def command_push(args: argparse.Namespace, out: Output) -> None:
    if _is_memory_store(registry.resolve_store(args.store)):  # before importing the user's module
        raise CommandError(
            f"refusing to push to {args.store or default_store_url()}: a memory:// store lives only inside this "
            "process, so the pushed class would vanish when the command exits. Push to a folder path or a "
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


def command_ls(args: argparse.Namespace, out: Output) -> None:
    from remoteimport.errors import IntegrityError

    store = registry.resolve_store(args.store)
    listing = store.scan_names(after=args.after, limit=args.limit + 1)  # one more: is there a next page?
    if not listing.names and not listing.skipped and not store.is_present():  # missing, not empty
        raise StoreError(
            f"the store {store.url} does not exist (no such {'folder' if store.is_local else 'bucket or folder'}). "
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


def command_log(args: argparse.Namespace, out: Output) -> None:
    store = registry.resolve_store(args.store)
    history = registry.versions(args.name, store=store, limit=args.limit + 1, offset=args.offset)
    more = len(history) > args.limit
    history = history[: args.limit]
    if more:
        out.data(next_offset=args.offset + args.limit)
    out.data(
        name=args.name,
        store=store.url,
        versions=[{**version.to_json(), "time_utc": utc_time(version.time)} for version in history],
    )
    rows = [
        [v.hash[:SHORT_HASH], utc_time(v.time), v.python, f"{v.action} {v.tag}" if v.tag else v.action] for v in history
    ]
    out.line(f"history of {args.name} in the store {store.url}, newest first:")
    out.line(table(["HASH", "TIME", "PYTHON", "ACTION"], rows))
    if more:
        out.line(f"more: remoteimport log {args.name} --offset {args.offset + args.limit}")


def command_show(args: argparse.Namespace, out: Output) -> None:
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
    # decode_blob (not just read_header) so the payload digest is checked; nothing is unpickled
    blob = decode_blob(store.read_blob(name, full_hash), expected_hash=full_hash, expected_name=name, source=where)
    header = blob.header
    is_latest = full_hash == latest
    out.data(store=store.url, path=where, latest=is_latest, payload_digest="OK", header=header.to_json())
    requirements = ", ".join(f"{dist}=={ver}" for dist, ver in sorted(header.requirements.items()))
    signature, _ = signature_status(header, store.trust)
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
        out.line(f"\n--- source: {filename} ---")
        out.line(text.rstrip("\n"))


def command_status(args: argparse.Namespace, out: Output) -> None:
    with load_target_class(args.target) as cls:
        name, store = registry.push_target(cls, args.name, args.store)
        state = registry.status(cls, store=store, name=name)
        local = class_hash(cls)
    latest = store.latest(name)
    out.data(name=name, status=state, local=local, latest=latest, store=store.url)
    explanation = {
        "synced": "the store's latest version is this exact code",
        "out_of_sync": "this code differs from the store's latest version; `remoteimport push` uploads it",
        "untracked": "never pushed to this store; `remoteimport push` uploads it",
    }[state]
    out.line(f"{name}: {state} ({explanation})")
    out.line(fields([("local", local), ("store latest", latest or "none"), ("store", store.url)]))


def command_hash(args: argparse.Namespace, out: Output) -> None:
    with load_target_class(args.target) as cls:
        full_hash = class_hash(cls)
    out.data(target=args.target.text, hash=full_hash)
    out.line(full_hash)


def command_sign(args: argparse.Namespace, out: Output) -> None:
    store = registry.resolve_store(args.store)
    name, _, version = args.reference.partition("@")
    outcomes = registry.sign(name, version or None, store=store, key=args.key, include_unsigned=args.include_unsigned)
    out.data(name=name, store=store.url, versions=[{"hash": h, "outcome": o} for h, o in outcomes.items()])
    for full_hash, outcome in outcomes.items():
        out.line(f"{name}@{full_hash[:SHORT_HASH]}  {outcome}")
    out.line(f"  store: {store.url}")


def command_ui(args: argparse.Namespace, out: Output) -> int:
    try:
        import jinja2  # noqa: F401  (imported by the pages on first use: check now, not at the first request)
        import pygments  # noqa: F401

        from remoteimport.ui.app import make_ui_server
    except ImportError as exc:
        raise CommandError(f"the web view needs Jinja2 and Pygments: pip install 'remoteimport[ui]' ({exc})") from None
    store = registry.resolve_store(args.store)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"remoteimport: warning: serving on {args.host}: anyone who can reach this address can read the store's "
            "classes and source",
            file=sys.stderr,
        )
    server = make_ui_server(store, args.host, args.port)
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}/"
    out.line(f"serving the store {store.url} read-only at {url} (Ctrl-C stops it)")
    if args.open:
        import webbrowser

        webbrowser.open(url)
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        out.line("stopped")
    finally:
        server.server_close()
    return 0


def command_rollback(args: argparse.Namespace, out: Output) -> None:
    store = registry.resolve_store(args.store)
    full_hash = registry.rollback(args.name, args.hash, store=store)
    out.data(name=args.name, hash=full_hash, store=store.url)
    out.line(f"{args.name} latest is now {full_hash}")
    out.line(f"  store: {store.url}")


# ---------------------------------------------------------------------------------------------------------
# diff, completion and the terminal helpers they use (colour on stdout, progress on stderr)

ANSI = {"add": "\033[32m", "del": "\033[31m", "hunk": "\033[36m", "file": "\033[1m"}
ANSI_RESET = "\033[0m"


def use_colour(stream: TextIO | None = None) -> bool:
    """ANSI colours only on a terminal, and never while ``$NO_COLOR`` is set (https://no-color.org)."""
    stream = sys.stdout if stream is None else stream
    return not os.environ.get("NO_COLOR") and stream.isatty()


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


def class_summary(store: Store, name: str, full_hash: str) -> dict[str, Any]:
    """What `ls` shows of a class besides its latest hash: when that version was pushed, its Python and signer
    (its header read, digest checked, nothing unpickled) and its tags, if the store has tags. Two requests (the
    blob, the tags listing); a damaged blob gives ``"damaged"`` instead of failing the listing."""
    info = read_version(store, name, full_hash, store.trust)
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


def _latest_or_given(store: Store, reference: str) -> tuple[str, str]:
    """``NAME@VERSION`` -> (NAME, VERSION); ``NAME`` -> (NAME, its latest hash)."""
    name, version = split_versioned(reference)
    if version is None:
        version = store.latest(name)
        if version is None:
            raise store.name_not_found(name)
    return name, version


def command_diff(args: argparse.Namespace, out: Output) -> None:
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
    colour = use_colour()
    for file in diff.files:
        for kind, text in file.lines:
            out.line(f"{ANSI[kind]}{text}{ANSI_RESET}" if colour and kind in ANSI else text)


def _command_parsers(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """Each subcommand's parser and one-line help, read from ``parser`` itself."""
    for action in parser._actions:  # argparse keeps its subcommands here; it has no public accessor
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._get_subactions()}
            return {name: (sub, helps.get(name, "")) for name, sub in action.choices.items()}
    return {}


def _parser_options(parser: argparse.ArgumentParser) -> list[tuple[str, bool, str]]:
    """(option string, takes a value, help) for every option of ``parser``."""
    return [
        (option, action.nargs != 0, (action.help or "") % {"default": action.default} if action.help else "")
        for action in parser._actions
        if action.help is not argparse.SUPPRESS
        for option in action.option_strings
    ]


def _positional_choices(parser: argparse.ArgumentParser) -> list[str]:
    return [
        str(choice)
        for action in parser._actions
        if not action.option_strings and action.choices and not isinstance(action, argparse._SubParsersAction)
        for choice in action.choices
    ]


def _bash_words(words: Iterable[str]) -> str:
    return " ".join(words)


def bash_completion(parser: argparse.ArgumentParser) -> str:
    """A bash completion function for ``parser``'s commands and their options (``zsh`` sources it too)."""
    commands = _command_parsers(parser)
    top_options = _parser_options(parser)
    valued = sorted(
        {opt for opt, takes, _ in top_options if takes}
        | {opt for sub, _ in commands.values() for opt, takes, _ in _parser_options(sub) if takes}
    )
    cases = []
    for name, (sub, _) in commands.items():
        options = _bash_words(opt for opt, _, _ in _parser_options(sub))
        choices = _bash_words(_positional_choices(sub))
        cases.append(f'        {name}) options="{options}"; choices="{choices}" ;;')
    top = _bash_words(opt for opt, _, _ in top_options)
    return textwrap.dedent(
        """\
        # bash completion for remoteimport, generated by `remoteimport completion bash` (remoteimport {version})
        _remoteimport() {{
            local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}}
            local command="" options="" choices="" i
            for ((i = 1; i < COMP_CWORD; i++)); do
                case "${{COMP_WORDS[i]}}" in
                    {valued}) ((i++)) ;;
                    -*) ;;
                    *) command=${{COMP_WORDS[i]}}; break ;;
                esac
            done
            case "$prev" in
                {valued}) return 0 ;;  # the option's value: file names (complete -o default)
            esac
            case "$command" in
                "") options="{top}"; choices="{commands}" ;;
        {cases}
            esac
            if [[ "$cur" == -* ]]; then
                COMPREPLY=($(compgen -W "$options" -- "$cur"))
            elif [[ -n "$choices" ]]; then
                COMPREPLY=($(compgen -W "$choices" -- "$cur"))
            fi
        }}
        complete -o default -F _remoteimport remoteimport
        """
    ).format(
        version=__version__,
        valued="|".join(valued) or "--",
        top=top,
        commands=_bash_words(commands),
        cases="\n".join(cases),
    )


def zsh_completion(parser: argparse.ArgumentParser) -> str:
    """zsh runs the bash completion through its ``bashcompinit`` layer."""
    return (
        "# zsh completion for remoteimport, generated by `remoteimport completion zsh`\n"
        "autoload -U +X compinit && { whence compdef >/dev/null || compinit; }\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + bash_completion(parser)
    )


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish_completion(parser: argparse.ArgumentParser) -> str:
    def option_line(condition: str, option: str, takes_value: bool, help_text: str) -> str:
        flag = f"-l {option[2:]}" if option.startswith("--") else f"-s {option[1:]}"
        value = " -r" if takes_value else ""
        return f"complete -c remoteimport -n {_fish_quote(condition)} {flag}{value} -d {_fish_quote(help_text)}"

    lines = [
        "# fish completion for remoteimport, generated by `remoteimport completion fish`",
        "complete -c remoteimport -n __fish_use_subcommand -f",
    ]
    lines += [option_line("__fish_use_subcommand", *option) for option in _parser_options(parser)]
    for name, (sub, short_help) in _command_parsers(parser).items():
        lines.append(f"complete -c remoteimport -n __fish_use_subcommand -a {name} -d {_fish_quote(short_help)}")
        condition = f"__fish_seen_subcommand_from {name}"
        lines += [option_line(condition, *option) for option in _parser_options(sub)]
        choices = _positional_choices(sub)
        if choices:
            lines.append(f"complete -c remoteimport -n {_fish_quote(condition)} -f -a {_fish_quote(' '.join(choices))}")
    return "\n".join(lines) + "\n"


COMPLETION_SCRIPTS: dict[str, Callable[[argparse.ArgumentParser], str]] = {
    "bash": bash_completion,
    "zsh": zsh_completion,
    "fish": fish_completion,
}


def command_completion(args: argparse.Namespace, out: Output) -> None:
    script = COMPLETION_SCRIPTS[args.shell](build_parser())
    out.data(shell=args.shell, script=script)
    if not out.as_json:
        sys.stdout.write(script)


def command_tag(args: argparse.Namespace, out: Output) -> None:
    name, version = split_versioned(args.reference)  # refuses malformed names before touching the store
    if version is None or not is_hash_like(version):
        raise CommandError(
            f"tag which version of {name}? Give NAME@HASH (the full hash or 8+ leading hex digits, as listed by "
            f"`remoteimport log {name}`), e.g. `remoteimport tag {name}@0123abcd {args.tag}`"
        )
    store = registry.resolve_store(args.store)
    full_hash = registry.tag(name, version, args.tag, store=store, force=args.force)
    out.data(name=name, tag=args.tag, hash=full_hash, store=store.url)
    out.line(f"{name}@{args.tag} is now {full_hash}")
    out.line(f"  import: labchain_remote.{name}@{args.tag}   store: {store.url}")


def command_untag(args: argparse.Namespace, out: Output) -> None:
    store = registry.resolve_store(args.store)
    full_hash = registry.untag(args.name, args.tag, store=store)
    out.data(name=args.name, tag=args.tag, hash=full_hash, store=store.url)
    out.line(f"removed the tag {args.tag!r} of {args.name} (it pointed at {full_hash}; that version stays)")
    out.line(f"  store: {store.url}")


# ---------------------------------------------------------------------------------------------------------
# promote, delete, gc, doctor: moving versions between stores and keeping a store healthy


def _exact_version(reference: str, store: Store, command: str) -> tuple[str, str]:
    """``NAME@HASH`` (or ``NAME@TAG`` where tags exist) -> (NAME, full hash); a bare NAME is refused."""
    name, version = split_versioned(reference)
    if version is None:
        raise CommandError(
            f"{command} which version of {name}? Give NAME@HASH (the full hash or 8+ leading hex digits, as listed "
            f"by `remoteimport log {name}`), e.g. `remoteimport {command} {name}@0123abcd`"
        )
    resolve_tag = getattr(store, "resolve_tag", None)
    if not is_hash_like(version) and callable(resolve_tag):
        return name, resolve_tag(name, version)
    return name, store.resolve(name, version)


def command_promote(args: argparse.Namespace, out: Output) -> None:
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


def command_delete(args: argparse.Namespace, out: Output) -> None:
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


def command_gc(args: argparse.Namespace, out: Output) -> None:
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


def command_doctor(args: argparse.Namespace, out: Output) -> None:
    from remoteimport.doctor import doctor

    store = registry.resolve_store(args.store)
    name, version = split_versioned(args.reference) if args.reference else (None, None)
    url = url_for_another_process(store)  # the children open the store by its URL

    def report(done: int, total: int, outcome: Any) -> None:
        if sys.stderr.isatty():
            end = "\n" if done == total else ""
            sys.stderr.write(f"\rloading in fresh interpreters: {done}/{total}".ljust(60) + end)
            sys.stderr.flush()

    results = doctor(url, name, version, timeout=args.timeout, progress=report)
    damaged = [result for result in results if not result.healthy]
    out.data(store=store.url, versions=[result.to_json() for result in results], damaged=len(damaged))
    if not results:
        out.line(f"no versions in the store {store.url}")
        return
    out.line(f"loaded {len(results)} versions in fresh interpreters (store {store.url}):")
    rows = [[r.name, r.hash[:SHORT_HASH], r.state.upper() if not r.healthy else r.state, r.reason] for r in results]
    out.line(table(["NAME", "HASH", "STATE", "REASON"], rows))
    if damaged:  # --json: main prints the report with the error (Output.fail)
        raise CommandError(f"{len(damaged)} of {len(results)} versions are damaged: they do not load on this host")


# ---------------------------------------------------------------------------------------------------------
# quickstart: the whole round trip on one machine

QUICKSTART_CLASS = "QuickstartGreeter"
QUICKSTART_MODULE = "remoteimport_quickstart_example"
QUICKSTART_SOURCE = '''\
"""Written by `remoteimport quickstart`: a class, a class attribute and a module-level helper it uses."""


def exclaim(text):
    return text + "!"


class QuickstartGreeter:
    greeting = "Hello"

    def greet(self, name):
        return exclaim(f"{self.greeting}, {name}")
'''
QUICKSTART_CALL = 'greet("world")'
# Run with `python -E` (PYTHON* variables ignored) in an empty directory, so nothing of the example's source
# is reachable; the store URL is written into the code. Not -I: that would also hide a `pip install --user`.
QUICKSTART_CHILD = """\
import importlib, json, remoteimport
remoteimport.install({store!r})
from {namespace} import {name}
pinned = importlib.import_module("{namespace}.{name}@{prefix}").{name}
print(json.dumps({{
    "result": {name}().{call},
    "module": {name}.__module__,
    "pinned_result": pinned().{call},
    "pinned_is_latest": pinned is {name},
}}))
"""


def command_keygen(args: argparse.Namespace, out: Output) -> None:
    public_path = generate_key(args.path)
    fingerprint = load_public_key(public_path).fingerprint
    out.data(private_key=os.path.abspath(args.path), public_key=os.path.abspath(public_path), fingerprint=fingerprint)
    out.line(f"private key: {args.path}  (owner-only; keep it secret)")
    out.line(f"public key:  {public_path}  (give this to the hosts that import your classes)")
    out.line(f"fingerprint: {fingerprint}")
    out.line(f"sign pushes:   export {_env.SIGNING_KEY}={os.path.abspath(args.path)}")
    out.line(f"trust on a host: export {_env.TRUSTED_KEYS}=/path/to/{os.path.basename(public_path)}")


def command_verify(args: argparse.Namespace, out: Output) -> None:
    from remoteimport.errors import IntegrityError

    store = registry.resolve_store(args.store)
    listing = store.scan_names()
    report, problems = [], 0
    for name in listing.names:
        try:
            hashes = store.blob_hashes(name)
        except IntegrityError as exc:  # e.g. a link planted as the name's blob folder
            problems += 1
            report.append({"name": name, "hash": None, "state": "DAMAGED", "detail": str(exc)})
            continue
        for full_hash in hashes:
            where = store.blob_path(name, full_hash)
            try:
                header = decode_blob(
                    store.read_blob(name, full_hash), expected_hash=full_hash, expected_name=name, source=where
                ).header
                signature, acceptable = signature_status(header, store.trust)
                state = "ok" if acceptable else "REFUSED"
            except RemoteImportError as exc:
                signature, acceptable, state = str(exc), False, "DAMAGED"
            problems += not acceptable
            report.append({"name": name, "hash": full_hash, "state": state, "detail": signature})
    out.data(store=store.url, versions=report, problems=problems)
    if listing.skipped:
        out.data(skipped=[{"path": entry.path, "reason": entry.reason} for entry in listing.skipped])
    if not report:
        out.line(f"no versions in the store {store.url}")
    else:
        out.line(f"verified {len(report)} versions in the store {store.url} (payload digests and signatures):")
        out.line(
            table(
                ["NAME", "HASH", "STATE", "DETAIL"],
                [[r["name"], (r["hash"] or "-")[:SHORT_HASH], r["state"], r["detail"]] for r in report],
            )
        )
    for entry in listing.skipped:
        out.line(f"skipped, not a class: {entry.path} ({entry.reason})")
    if problems:  # --json: main() prints the report with the error
        raise CommandError(f"{problems} of {len(report)} versions are damaged or would be refused on this host")


def command_lock(args: argparse.Namespace, out: Output) -> None:
    lock, changes = update_lock(
        args.names, path=args.lock, store=args.store, namespace=args.namespace, upgrade=args.upgrade
    )
    rows, report = [], {}
    for name, (previous, pinned) in changes.items():
        if previous is None:
            change = "added"
        elif previous != pinned:
            change = f"upgraded from {previous[:SHORT_HASH]}"
        else:
            change = "already the latest" if args.upgrade else "kept (--upgrade moves it to the latest)"
        rows.append([name, pinned[:SHORT_HASH], change])
        report[name] = {"hash": pinned, "previous": previous}
    out.data(lock=lock.path, store=lock.store, namespace=lock.namespace, pins=dict(lock.pins), changes=report)
    out.line(f"wrote {lock.path}: {len(lock.pins)} pins in the store {lock.store} (namespace {lock.namespace})")
    if rows:
        out.line(table(["NAME", "PINNED", "CHANGE"], rows))


def command_run(args: argparse.Namespace, out: Output) -> int:
    out.as_json = False  # the script owns stdout
    script = os.path.abspath(args.script)
    if not os.path.isfile(script):
        raise CommandError(f"no such script {args.script!r}")
    install(args.store, namespace=args.namespace, lock=args.lock)
    saved_argv, saved_path = list(sys.argv), list(sys.path)
    sys.argv = [args.script, *args.args]
    sys.path[0:1] = [os.path.dirname(script)]  # like `python script.py`: the script's folder comes first
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except Exception as exc:
        print(_user_traceback(exc), file=sys.stderr)
        return 1
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return 0


def command_quickstart(args: argparse.Namespace, out: Output) -> None:
    # Without --store: a store of its own, never $REMOTEIMPORT_STORE (which may be a production bucket).
    temporary = args.store is None
    if temporary:
        args.store = tempfile.mkdtemp(prefix="remoteimport-quickstart-store-")
    try:
        store_url = _quickstart_round_trip(args, out)
    finally:
        if temporary and not args.keep:
            shutil.rmtree(args.store, ignore_errors=True)
    out.data(temporary_store=temporary, store_deleted=temporary and not args.keep)
    if temporary and not args.keep:
        out.line(f"6. deleted the temporary store {store_url} (--keep keeps it; --store URL uses yours)")
        return
    out.line()
    out.line("Try it in any Python on a host that can read the store:")
    out.line(f"    import remoteimport; remoteimport.install({store_url!r})")
    out.line(f"    from {registry.DEFAULT_NAMESPACE} import {QUICKSTART_CLASS}")


def _quickstart_round_trip(args: argparse.Namespace, out: Output) -> str:
    """Steps 1-5 on the store ``args.store``; returns its URL."""
    store = registry.resolve_store(args.store)
    store_url = url_for_another_process(store)
    name, namespace = QUICKSTART_CLASS, registry.DEFAULT_NAMESPACE
    source_dir = tempfile.mkdtemp(prefix="remoteimport-quickstart-")
    try:
        path = os.path.join(source_dir, QUICKSTART_MODULE + ".py")
        with open(path, "w", encoding="utf-8") as file:
            file.write(QUICKSTART_SOURCE)
        out.line(f"1. wrote example class {name} to {path}")
        target = parse_target(f"{path}:{name}")
        with load_target_class(target) as cls:
            pushed = registry.publish(cls, store=store, name=name)
        full_hash, result = pushed.hash, pushed.action
        out.line(f"2. pushed {name} {full_hash} ({result}) to the store {store_url}")
        if pushed.detail:
            out.line(f"   {pushed.detail}")
    finally:
        shutil.rmtree(source_dir, ignore_errors=True)
    out.line(f"3. deleted the source {source_dir}: the class now exists only in the store")

    prefix = full_hash[:8]
    code = QUICKSTART_CHILD.format(store=store_url, namespace=namespace, name=name, prefix=prefix, call=QUICKSTART_CALL)
    with tempfile.TemporaryDirectory(prefix="remoteimport-quickstart-empty-") as empty_dir:
        child = subprocess.run(
            [sys.executable, "-E", "-c", code], cwd=empty_dir, capture_output=True, text=True, timeout=300
        )
    if child.returncode != 0:
        raise CommandError(
            f"quickstart step 4 failed: the fresh interpreter exited with status {child.returncode}.\n"
            f"Its code:\n{textwrap.indent(code, '    ')}Its stderr:\n{child.stderr.rstrip()}"
        )
    try:
        seen = json.loads(child.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise CommandError(
            f"quickstart step 4 failed: unexpected output from the fresh interpreter: {child.stdout!r}"
        ) from None
    out.data(name=name, hash=full_hash, result=result, store=store_url, source_deleted=source_dir, child=seen)
    out.line(
        f"4. fresh interpreter (python -E, empty directory) ran `from {namespace} import {name}`: "
        f"result {seen['result']!r}"
    )
    out.line(f"   {name}().{QUICKSTART_CALL} returned {seen['result']!r}; its __module__ is {seen['module']}")
    same = "the same class" if seen["pinned_is_latest"] else "a different class (?)"
    out.line(
        f"5. pinned import {namespace}.{name}@{prefix} (8-character prefix) gave {same}: "
        f"result {seen['pinned_result']!r}"
    )
    return store_url


# ---------------------------------------------------------------------------------------------------------
# The parser

_COMMANDS: list[tuple[str, str, str, str]] = [
    # (name, one-line help, description paragraph, examples)
    (
        "push",
        "upload a class and make it the latest version",
        "Hash the class TARGET by content and upload it (pickled by value, with its source) to the store, "
        "unless that exact version is already there; then point its name's `latest` at it. TARGET is "
        "'module:Class' (imported with the current directory first on sys.path, like `python -m`) or "
        "'path/to/file.py:Class' (loaded like `python path/to/file.py`, so sibling imports work). Prints the "
        "name, the full hash and whether the version is new or unchanged.",
        "remoteimport push my_filters:MyFilter\n"
        "remoteimport push src/my_filters.py:MyFilter --name MyFilterV2\n"
        "remoteimport push my_filters:MyFilter --store s3://bucket/classes",
    ),
    (
        "ls",
        "list the classes in the store",
        "List the class names in the store with the first 12 hex digits of each latest version's hash, when "
        "it became the latest (UTC), the Python version that pushed it, its signer and its tags, a page at a "
        "time (--limit names, then --after the last one shown). A store that does not exist (a missing folder "
        "or bucket) is an error; an existing empty one lists no classes.",
        "remoteimport ls\nremoteimport ls --store /shared/classes --json\nremoteimport ls --limit 50 --after MyFilter",
    ),
    (
        "log",
        "show the history of a class, newest first",
        "Show the pushes and rollbacks of NAME, newest first, a page at a time (--limit, --offset): the "
        "version's hash, when it happened (UTC), the Python version that pushed it and the action. Any 8 or "
        "more leading hex digits of a hash can be given to `show` and `rollback`.",
        "remoteimport log MyFilter\nremoteimport log MyFilter --limit 50 --offset 20",
    ),
    (
        "show",
        "show a version's header and shipped source",
        "Show what a stored version holds, without unpickling it: its header (hash, Python and cloudpickle "
        "versions, required distributions, creation time, payload size and digest, the module:qualname it was "
        "pushed from, signature) and the source that travelled with it. The payload digest is verified. "
        "REFERENCE is NAME for the latest version or NAME@HASH (8 or more hex digits) for an exact one.",
        "remoteimport show MyFilter\nremoteimport show MyFilter@0123abcd",
    ),
    (
        "status",
        "compare a local class with the store's latest version",
        "Hash the local class TARGET (same forms as in `push`) and compare it with the latest version in the "
        "store: 'synced' (identical), 'out_of_sync' (the code differs; push to update) or 'untracked' (never "
        "pushed). Prints the local hash and the store's latest.",
        "remoteimport status my_filters:MyFilter",
    ),
    (
        "hash",
        "print a class's content hash (no store access)",
        "Print the full content hash of the class TARGET (same forms as in `push`): the version it would be "
        "pushed as. The hash depends on the code (normalized, so comments and layout do not count), not on "
        "the host or the file's location. The store is not contacted.",
        "remoteimport hash my_filters:MyFilter\nremoteimport hash src/my_filters.py:MyFilter",
    ),
    (
        "rollback",
        "point a class's latest version at an earlier one",
        "Make an earlier version of NAME the latest again (`from labchain_remote import NAME` then gets it). "
        "HASH is the full hash or 8 or more leading hex digits, as listed by `remoteimport log NAME`. The "
        "rollback is recorded in the history; nothing is deleted. Prints the full hash.",
        "remoteimport log MyFilter\nremoteimport rollback MyFilter 0123abcd",
    ),
    (
        "tag",
        "give a version a name (e.g. prod) to import it by",
        "Point the tag TAG of NAME at the version HASH (the full hash or 8 or more leading hex digits). "
        "`import labchain_remote.NAME@TAG`, configs naming labchain_remote.NAME@TAG and `remoteimport lock "
        "NAME@TAG` then use that version (a lock records its full hash). A tag is 1 to 64 letters, digits, '_' "
        "and '-', starts with a letter and is never all hex digits, so it cannot be mistaken for a hash. Moving "
        "an existing tag to another version needs --force. Recorded in the history (`remoteimport log NAME`).",
        "remoteimport tag MyFilter@0123abcd prod\nremoteimport tag MyFilter@4567cdef prod --force",
    ),
    (
        "untag",
        "remove a tag (its version stays)",
        "Remove the tag TAG of NAME: `labchain_remote.NAME@TAG` no longer imports. The version it pointed at "
        "stays in the store. Recorded in the history. Prints the full hash the tag pointed at.",
        "remoteimport untag MyFilter prod",
    ),
    (
        "ui",
        "browse the store in a web browser (read-only)",
        "Serve a local, read-only web page over the store: its classes with their latest version, time, Python "
        "version and signer (and whether this host trusts it); each class's history; each version's header, "
        "requirements and shipped source with syntax highlighting; a diff between any two versions; and "
        "copyable pinned references and config snippets. It reads headers and source only and never unpickles "
        "anything; a damaged blob shows as damaged. It listens on 127.0.0.1 unless --host says otherwise. "
        "Needs pip install 'remoteimport[ui]'.",
        "remoteimport ui --open\nremoteimport ui --store s3://bucket/classes --port 8765",
    ),
    (
        "sign",
        "sign stored versions over their whole header (or re-sign old-style signatures)",
        "Sign the stored versions of NAME (all of them), or NAME@HASH (one), with the private key --key (default: "
        f"${_env.SIGNING_KEY}). Signatures made by releases before blob format 2 covered only the name, hash and "
        "payload, and hosts that trust keys refuse them; this re-signs the versions your key signed that way. "
        "Unsigned versions are signed only with --include-unsigned: you then vouch for what was written to the "
        "store, so check them with `remoteimport show` first. Each version is loaded and re-hashed here before "
        "it is signed (run it on the Python version it was pushed from); the history records a `sign`. Pushing a "
        "class again with a signing key also signs its stored version.",
        "remoteimport sign MyFilter --key ~/.remoteimport/publisher\n"
        "remoteimport sign MyFilter@0123abcd --include-unsigned",
    ),
    (
        "keygen",
        "create an Ed25519 key pair for signing pushes",
        "Write a new Ed25519 private key at PATH (readable by you only) and its public key at PATH.pub. "
        f"Publishers sign every push by setting {_env.SIGNING_KEY}=PATH; hosts that import set "
        f"{_env.TRUSTED_KEYS} to the .pub files they trust, and then refuse anything unsigned or signed by "
        "another key, before unpickling it. Existing files are never overwritten.",
        f"remoteimport keygen ~/.remoteimport/publisher\nexport {_env.SIGNING_KEY}=~/.remoteimport/publisher",
    ),
    (
        "verify",
        "check every stored version's digest and signature",
        "Read every version of every class in the store (without unpickling anything) and check its payload "
        "digest, that it is stored under its own name and hash, and its signature: intact, and trusted by "
        f"this host ({_env.TRUSTED_KEYS}). Prints one row per version; exits with status 1 if any version is "
        "damaged or would be refused here.",
        f"remoteimport verify --store s3://bucket/classes\n{_env.TRUSTED_KEYS}=publisher.pub remoteimport verify",
    ),
    (
        "lock",
        "pin classes to their current versions in remoteimport.lock",
        "Write the lock file (default: $REMOTEIMPORT_LOCK, else remoteimport.lock in the current directory): "
        "each NAME pinned to the full hash of its latest version in the store, plus the store's URL and the "
        "namespace. While the lock is active (the file in the working directory, $REMOTEIMPORT_LOCK, or "
        "install(lock=...)), `from labchain_remote import NAME` imports the pinned version, and a name the "
        "lock does not list is an error. Names already pinned keep their pin; --upgrade moves the named pins "
        "(or, with no NAME, every pin) to the current latest.",
        "remoteimport lock MyFilter Pipeline --store s3://bucket/classes\n"
        "remoteimport lock --upgrade\nremoteimport lock --upgrade MyFilter",
    ),
    (
        "run",
        "run a Python script with the import hook installed",
        "Run SCRIPT like `python SCRIPT ARGS...` with the import hook serving the namespace (default "
        "$REMOTEIMPORT_NAMESPACE, else labchain_remote) from the store, and the active lock applied: the "
        "explicit alternative to the zero-code start-up hook. Options go before SCRIPT; everything after it "
        "is passed to the script. Exits with the script's status.",
        "remoteimport run --store s3://bucket/classes train.py --epochs 3\n"
        "python -m remoteimport run --lock prod.lock serve.py",
    ),
    (
        "quickstart",
        "demo: push an example class, delete its source, import it in a fresh interpreter",
        f"Show the whole round trip on this machine: write an example module (class {QUICKSTART_CLASS}) to "
        "a temporary directory, push the class to the store, delete the directory, then start a fresh Python "
        f"(`python -E`, in an empty directory) that installs the import hook, runs `from labchain_remote "
        f"import {QUICKSTART_CLASS}`, calls a method and also imports the version pinned by an 8-character "
        "hash prefix. Without --store it uses a temporary store, deleted afterwards unless --keep (never "
        f"${_env.STORE}, which may be a production bucket); with --store, that store (safe to run again: the "
        "push is then 'unchanged').",
        "remoteimport quickstart\nremoteimport quickstart --keep\nremoteimport quickstart --store /tmp/demo-store",
    ),
    (
        "diff",
        "show what changed between two versions of a class",
        "Compare two stored versions of a class without unpickling anything: the header fields that differ "
        "(Python, cloudpickle, requirements, signer, module, creation time), then a unified diff of the source "
        "that travelled with each. A and B are NAME@HASH (8 or more hex digits) or NAME for the latest version. "
        "Coloured on a terminal unless $NO_COLOR is set; --json gives the structured diff.",
        "remoteimport diff MyFilter@d0b116b2 MyFilter@97908c4e\nremoteimport diff MyFilter@d0b116b2 MyFilter --json",
    ),
    (
        "completion",
        "print a shell completion script (bash, zsh or fish)",
        "Print a completion script for SHELL covering every command and its options. Install it: bash: "
        "`remoteimport completion bash > ~/.local/share/bash-completion/completions/remoteimport` (or "
        '`eval "$(remoteimport completion bash)"` in ~/.bashrc); zsh: `eval "$(remoteimport completion zsh)"` '
        "in ~/.zshrc; fish: `remoteimport completion fish > ~/.config/fish/completions/remoteimport.fish`. "
        "Open a new shell afterwards.",
        "remoteimport completion bash > ~/.local/share/bash-completion/completions/remoteimport\n"
        "remoteimport completion fish > ~/.config/fish/completions/remoteimport.fish",
    ),
    (
        "promote",
        "copy a version to another store (e.g. staging to production), signature included",
        "Copy the version NAME@HASH from the store (--store) to the store --to, byte for byte, so its signature "
        "travels with it. It is checked first (digest, name and hash, and the target's trust policy: a target "
        "that trusts keys never receives a blob it would refuse) and read back after the copy; nothing is "
        "unpickled. The target's history records a `promote` naming the source. The target's latest moves only "
        "with --latest; --tag tags it there. A version the target already holds intact is not copied again.",
        "remoteimport promote MyFilter@0123abcd --store /srv/staging --to s3://bucket/prod --latest\n"
        "remoteimport promote MyFilter@0123abcd --to /srv/prod --tag stable",
    ),
    (
        "delete",
        "delete one stored version (refuses the latest or a tagged one without --force)",
        "Remove the blob of NAME@HASH from the store; the history records a `delete`. The version latest points "
        "at, or a tagged one, is refused unless --force: then latest (and the tags) are removed too, so no ref "
        "points at a missing blob (`remoteimport rollback NAME HASH` sets latest again). Hosts that cached the "
        "version may still import it by hash from their cache.",
        "remoteimport delete MyFilter@0123abcd\nremoteimport delete MyFilter@97908c4e --force",
    ),
    (
        "gc",
        "find (and with --yes remove) temporary files of crashed writes and unreferenced blobs",
        "List what nothing in the store needs: temporary files (.tmp-*) left by crashed writes to a local store, "
        "and blobs that no latest, tag or history entry names (e.g. written by a push that failed before its "
        "history entry). Only items older than an hour are removable (a younger one may belong to a push in "
        "progress). Nothing is removed without --yes; nothing a ref or history entry names is ever removed.",
        "remoteimport gc\nremoteimport gc --yes",
    ),
    (
        "doctor",
        "load every stored version in a fresh interpreter and report the ones that do not load",
        "Load each version (of the whole store, of NAME, or the one version NAME@HASH) in a fresh Python "
        "(`python -I`, an empty directory, the blob cache off) with remoteimport.get_version: the trust policy, "
        "requirement check, unpickling and re-hash all run there. A blob can pass `verify` (digest and "
        "signature) and still fail here. Prints one row per version, healthy or DAMAGED with the reason, and "
        "exits with status 1 if any is damaged. A version whose interpreter crashes or hangs (--timeout) is "
        "damaged; the check goes on with the others.",
        "remoteimport doctor\nremoteimport doctor MyFilter --json\nremoteimport doctor MyFilter@0123abcd",
    ),
]

_HANDLERS: dict[str, Callable[[argparse.Namespace, Output], int | None]] = {
    "push": command_push,
    "ls": command_ls,
    "log": command_log,
    "show": command_show,
    "status": command_status,
    "hash": command_hash,
    "rollback": command_rollback,
    "tag": command_tag,
    "untag": command_untag,
    "sign": command_sign,
    "ui": command_ui,
    "quickstart": command_quickstart,
    "keygen": command_keygen,
    "verify": command_verify,
    "lock": command_lock,
    "run": command_run,
    "diff": command_diff,
    "completion": command_completion,
    "promote": command_promote,
    "delete": command_delete,
    "gc": command_gc,
    "doctor": command_doctor,
}


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
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


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, not {text!r}")
    return value


def _add_command_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    target_help = "'module:Class' or 'path/to/file.py:Class'"
    if name in ("push", "status"):
        parser.add_argument("target", metavar="TARGET", type=parse_target, help=target_help)
        parser.add_argument("--name", help="store the class under this name (default: the class's own name)")
    elif name == "hash":
        parser.add_argument("target", metavar="TARGET", type=parse_target, help=target_help)
    elif name == "diff":
        parser.add_argument("a", metavar="A", help="NAME@HASH (or NAME: the latest), e.g. MyFilter@0123abcd")
        parser.add_argument("b", metavar="B", help="the other version, e.g. MyFilter@4567cdef or MyFilter")
    elif name == "completion":
        parser.add_argument("shell", metavar="SHELL", choices=sorted(COMPLETION_SCRIPTS), help="bash, zsh or fish")
    elif name == "quickstart":
        parser.add_argument("--keep", action="store_true", help="keep the temporary store (printed) afterwards")
    elif name == "ls":
        parser.add_argument("--limit", type=_positive, default=100, help="names per page (default: 100)")
        parser.add_argument("--after", metavar="NAME", help="start after this name (the next page)")
    elif name == "log":
        parser.add_argument("name", metavar="NAME", help="class name in the store, e.g. MyFilter")
        parser.add_argument("--limit", type=_positive, default=20, help="entries per page (default: 20)")
        parser.add_argument("--offset", type=int, default=0, help="skip this many newest entries (the next page)")
    elif name == "show":
        parser.add_argument("reference", metavar="REFERENCE", help="NAME (latest) or NAME@HASH, e.g. MyFilter@0123abcd")
    elif name == "keygen":
        parser.add_argument(
            "path", metavar="PATH", help="where to write the private key (the public key goes to PATH.pub)"
        )
    elif name == "ui":
        parser.add_argument("--port", type=int, default=8765, help="port to listen on (default: 8765; 0: any free)")
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
        parser.add_argument("--open", action="store_true", help="open the page in a web browser")
    elif name == "sign":
        parser.add_argument("reference", metavar="NAME[@HASH]", help="a class (all its versions) or one version")
        parser.add_argument("--key", metavar="PATH", help=f"the private key (default: ${_env.SIGNING_KEY})")
        parser.add_argument(
            "--include-unsigned", action="store_true", help="also sign unsigned versions (you vouch for them)"
        )
    elif name == "tag":
        parser.add_argument("reference", metavar="NAME@HASH", help="the version to tag, e.g. MyFilter@0123abcd")
        parser.add_argument("tag", metavar="TAG", help="the tag, e.g. prod (never all hex digits)")
        parser.add_argument("--force", action="store_true", help="move the tag if it points at another version")
    elif name == "untag":
        parser.add_argument("name", metavar="NAME", help="class name in the store, e.g. MyFilter")
        parser.add_argument("tag", metavar="TAG", help="the tag to remove, e.g. prod")
    elif name == "rollback":
        parser.add_argument("name", metavar="NAME", help="class name in the store, e.g. MyFilter")
        parser.add_argument("hash", metavar="HASH", help="full hash or 8+ leading hex digits of the version")
    elif name == "lock":
        parser.add_argument(
            "names", metavar="NAME", nargs="*", help="class names to pin (NAME@HASH or NAME@TAG: that version)"
        )
        parser.add_argument("--upgrade", action="store_true", help="move the pins to the current latest versions")
        parser.add_argument(
            "--lock", metavar="PATH", help=f"the lock file (default: ${_env.LOCK}, else ./{LOCK_FILENAME})"
        )
        parser.add_argument("--namespace", help="the namespace a new lock applies to (default: labchain_remote)")
    elif name == "promote":
        parser.add_argument("reference", metavar="NAME@HASH", help="the version to copy, e.g. MyFilter@0123abcd")
        parser.add_argument("--to", required=True, metavar="URL", help="the target store (folder path or fsspec URL)")
        parser.add_argument("--tag", metavar="TAG", help="also tag the version in the target store")
        parser.add_argument("--latest", action="store_true", help="also point the target's latest at the version")
    elif name == "delete":
        parser.add_argument("reference", metavar="NAME@HASH", help="the version to delete, e.g. MyFilter@0123abcd")
        parser.add_argument(
            "--force", action="store_true", help="delete it even when latest or a tag points at it (removing those)"
        )
    elif name == "gc":
        parser.add_argument("--yes", action="store_true", help="remove what is listed (default: only list it)")
    elif name == "doctor":
        parser.add_argument("reference", metavar="NAME[@HASH]", nargs="?", help="a class or one version (default: all)")
        parser.add_argument(
            "--timeout", type=float, default=120.0, help="seconds one version may take to load (default: 120)"
        )
    elif name == "run":
        parser.add_argument(
            "--lock",
            metavar="PATH",
            help=f"use this lock file (default: ${_env.LOCK}, else ./{LOCK_FILENAME} if present)",
        )
        parser.add_argument(
            "--namespace", help="the namespace to serve (default: $REMOTEIMPORT_NAMESPACE or labchain_remote)"
        )
        parser.add_argument("script", metavar="SCRIPT", help="the Python file to run")
        parser.add_argument(
            "args", metavar="ARGS", nargs=argparse.REMAINDER, help="passed to the script as sys.argv[1:]"
        )


def build_parser() -> argparse.ArgumentParser:
    def formatter(prog: str) -> argparse.HelpFormatter:
        return argparse.RawDescriptionHelpFormatter(prog, max_help_position=30, width=100)

    parser = _ArgumentParser(
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
        epilog="--store and --json may also follow the command. Run `remoteimport COMMAND --help` for its details\n"
        "and examples.",
    )
    parser.add_argument("--version", action="version", version=f"remoteimport {__version__}")
    _add_global_options(parser, suppress=False)
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, short_help, description, examples in _COMMANDS:
        sub = subcommands.add_parser(
            name,
            help=short_help,
            formatter_class=formatter,
            description=textwrap.fill(description, width=100),
            epilog="examples:\n" + textwrap.indent(examples, "  "),
        )
        _add_command_arguments(name, sub)
        _add_global_options(sub, suppress=True)
        sub.set_defaults(handler=_HANDLERS[name])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    except UsageError as exc:
        exc.parser.print_usage(sys.stderr)
        print(f"{exc.parser.prog}: error: {exc}", file=sys.stderr)
        Output("--json" in words).fail(exc)  # the command line did not parse: --json anywhere in it counts
        return 2
    out = Output(args.json)
    # The commands report what the library did (a repaired version, say) in their own output; without a
    # handler, the library's log records would be printed a second time by logging's last resort.
    logging.getLogger("remoteimport").addHandler(logging.NullHandler())
    try:
        status = args.handler(args, out)
        out.finish()
    except (RemoteImportError, ImportError, FileNotFoundError, PermissionError, CommandError) as exc:
        print(f"remoteimport: error: {exc}", file=sys.stderr)
        out.fail(exc)  # --json: {"error": {"type", "message"}} on stdout
        return 1
    except KeyboardInterrupt:
        print("remoteimport: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `remoteimport log X | head`: the reader left; stop quietly (Python would print a traceback at exit
        # when flushing stdout again, so point it at /dev/null).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status or 0
