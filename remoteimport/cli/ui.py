"""``remoteimport ui``: serve the read-only web view of the store (``remoteimport.ui``)."""

from __future__ import annotations

import argparse
import errno
import sys

from remoteimport import registry
from remoteimport.cli.base import Command, CommandError, Output
from remoteimport.cli.stores import require_present
from remoteimport.errors import RemoteImportError


class Ui(Command):
    name = "ui"
    help = "browse the store in a web browser (read-only)"
    description = (
        "Serve a local, read-only web page over the store: its classes with their latest version, time, Python "
        "version and signer (and whether this host trusts it); each class's history; each version's header, "
        "requirements and shipped source with syntax highlighting; a diff between any two versions; and "
        "copyable pinned references and config snippets. It reads headers and source only and never unpickles "
        "anything; a damaged blob shows as damaged. It listens on 127.0.0.1 unless --host says otherwise, and answers "
        "only requests addressed to that address (or localhost), so a web page elsewhere cannot read it through "
        "your browser; --allow-host adds a name (a proxy's). A store that does not exist, or a port already in use, "
        "is an error. Needs Jinja2, and Pygments to highlight source (remoteimport's 'ui' extra: pip install jinja2 "
        "pygments); without Pygments, source shows as plain text."
    )
    examples = "remoteimport ui --open\nremoteimport ui --store s3://bucket/classes --port 8765"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--port", type=_port, default=8765, help="port to listen on (default: 8765; 0: any free)")
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
        parser.add_argument("--open", action="store_true", help="open the page in a web browser")
        parser.add_argument(
            "--allow-host",
            action="append",
            default=[],
            metavar="NAME[:PORT]",
            help="also answer requests for this host name (repeatable; default: the address listened on, localhost)",
        )

    def run(self, args: argparse.Namespace, out: Output) -> int:
        try:
            import jinja2  # noqa: F401  (imported by the pages on first use: check now, not at the first request)

            from remoteimport.ui.app import make_ui_server
        except ImportError as exc:
            raise CommandError(
                "the web view needs Jinja2 (remoteimport's 'ui' extra, with Pygments for highlighting): "
                f"pip install jinja2 pygments ({exc})"
            ) from None
        store = registry.resolve_store(args.store)
        require_present(store)  # a mistyped --store would otherwise serve an empty page
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(
                f"remoteimport: warning: serving on {args.host}: anyone who can reach this address can read the "
                "store's classes and source",
                file=sys.stderr,
            )
        try:
            server = make_ui_server(store, args.host, args.port, args.allow_host)
        except OSError as exc:
            if isinstance(exc, RemoteImportError):
                raise
            busy = " (another program is listening there: choose another --port, or --port 0 for any free one)"
            raise CommandError(
                f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
                + (busy if exc.errno == errno.EADDRINUSE else "")
            ) from None
        host, port = server.server_address[:2]
        url = f"http://{host}:{port}/"
        out.line(f"serving the store {store.url} read-only at {url} (Ctrl-C stops it)")
        if args.open:
            import webbrowser

            webbrowser.open(url)
        sys.stdout.flush()
        try:
            server.serve_forever()  # until Ctrl-C: main reports it like any command's (one line, status 130)
        finally:
            server.server_close()
        return 0


def _port(text: str) -> int:
    """argparse ``type=`` for --port: 0 (any free port) to 65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 (any free one) to 65535, not {text!r}")
    return int(text)
