"""The WSGI application and server of ``remoteimport ui``: a few read-only pages over a store.

Why WSGI from the standard library plus Jinja2 and Pygments, and no web framework: the view has four GET routes
and no state, forms or sessions, so routing is a small table here; ``wsgiref`` serves it (threaded) with no
dependency, Jinja2 escapes everything it renders (a class name, a header field or a line of shipped source can
hold ``<script>``), and Pygments highlights source on the server (remoteimport.ui.source; plain text without
it), so there is no front-end build step. Every page works without JavaScript; the one small script only adds
copy buttons, and the Content-Security-Policy allows that script and the one style sheet by their hashes only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import re
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from importlib import resources
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from remoteimport.errors import (
    AmbiguousPrefixError,
    InvalidNameError,
    NameNotFoundError,
    RemoteImportError,
    VersionNotFoundError,
)
from remoteimport.signing import TrustPolicy
from remoteimport.store import Store
from remoteimport.ui import views

StartResponse = Callable[..., Any]
_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"/"), "index"),
    (re.compile(r"/c/(?P<name>[^/]+)"), "versions"),
    (re.compile(r"/c/(?P<name>[^/]+)/diff"), "diff"),
    # A version as after `@` anywhere: a full hash, 8+ hex digits, a tag or `latest` (Store.resolve_version).
    (re.compile(r"/c/(?P<name>[^/]+)/(?P<version>[^/]+)"), "version"),
]


CONNECTION_TIMEOUT = 5.0  # seconds a connection may stay silent (idle, or a request half sent) before it is closed
DIFF_VIEWS = ("unified", "split")


class NotFound(Exception):
    pass


@functools.cache
def _templates() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("remoteimport.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


@functools.cache
def _page_assets() -> tuple[str, str, str]:
    """The pages' one style sheet and one script (inline: no second request, nothing fetched from elsewhere), and
    the Content-Security-Policy that allows exactly those two by their SHA-256, and nothing else: no other
    script or style runs, whatever a page shows."""
    folder = resources.files("remoteimport.ui") / "templates"
    style = _highlight_css() + (folder / "ui.css").read_text(encoding="utf-8")  # ours last: it wins
    script = (folder / "ui.js").read_text(encoding="utf-8")
    policy = (
        f"default-src 'none'; style-src {_csp_hash(style)}; script-src {_csp_hash(script)}; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    return style, script, policy


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _highlight_css() -> str:
    """Pygments' colours for the token classes of remoteimport.ui.source ("" without Pygments: plain text)."""
    try:
        from pygments.formatters import HtmlFormatter
    except ImportError:
        return ""
    return HtmlFormatter(cssclass="highlight").get_style_defs(".highlight")


class App:
    """The WSGI callable: ``App(store)`` serves the store read-only."""

    def __init__(
        self, store: Store | str, trust: TrustPolicy | None = None, allowed_hosts: Iterable[str] | None = None
    ) -> None:
        self.store = store if isinstance(store, Store) else Store(store)
        self.trust = trust if trust is not None else self.store.policy.trust
        # The Host values answered (``host:port``, lower case); None: any (an App mounted elsewhere, which checks).
        # make_ui_server sets them from the address it binds: see allowed_hosts().
        self.allowed_hosts = None if allowed_hosts is None else frozenset(host.lower() for host in allowed_hosts)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self.allowed_hosts is not None and not _host_allowed(environ.get("HTTP_HOST", ""), self.allowed_hosts):
            # DNS rebinding: a page on attacker.example whose name now resolves to 127.0.0.1 reaches this server
            # from the user's browser as its own origin, with ``Host: attacker.example``. Refuse every name but ours.
            host = environ.get("HTTP_HOST")
            status = HTTPStatus.MISDIRECTED_REQUEST if host else HTTPStatus.BAD_REQUEST
            message = f"this server does not answer for the host {host!r}" if host else "the request has no Host"
            return self._respond(start_response, status, message, content_type="text/plain; charset=utf-8")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return self._respond(start_response, HTTPStatus.METHOD_NOT_ALLOWED, self._error("read-only: GET only"))
        path = environ.get("PATH_INFO", "/") or "/"
        query = {key: values[0] for key, values in parse_qs(environ.get("QUERY_STRING", "")).items()}
        route = _route(path)
        if route is None:
            return self._respond(start_response, HTTPStatus.NOT_FOUND, self._error(f"no page at {path}"))
        page, arguments = route
        try:
            body = getattr(self, f"page_{page}")(query=query, **arguments)
            status = HTTPStatus.OK
        except (NotFound, InvalidNameError, NameNotFoundError) as exc:
            body, status = self._error(str(exc)), HTTPStatus.NOT_FOUND
        except RemoteImportError as exc:  # an unreachable store, a damaged ref: say so, keep serving
            body, status = self._error(f"{type(exc).__name__}: {exc}"), HTTPStatus.BAD_GATEWAY
        return self._respond(start_response, status, body)

    # -- pages ---------------------------------------------------------------------------------------------

    def page_index(self, query: dict[str, str]) -> str:
        after, search = query.get("after") or None, query.get("q", "").strip()
        rows, skipped, next_after = views.class_page(self.store, self.trust, after=after, query=search)
        next_url = "/?" + urlencode({**({"q": search} if search else {}), "after": next_after}) if next_after else None
        return self._render("index.html", rows=rows, skipped=skipped, next_url=next_url, after=after, q=search)

    def page_versions(self, query: dict[str, str], name: str) -> str:
        offset, history_offset = _offset(query.get("offset")), _offset(query.get("history"))
        page = views.class_versions_page(self.store, name, self.trust, offset=offset, history_offset=history_offset)

        def url(**changes: int | None) -> str:
            values = {"offset": offset, "history": history_offset, **changes}
            shown = {key: value for key, value in values.items() if value}
            return f"/c/{name}" + ("?" + urlencode(shown) if shown else "")

        return self._render("class.html", page=page, name=name, url=url)

    def page_version(self, query: dict[str, str], name: str, version: str) -> str:
        page = views.version_page(self.store, name, self._resolve(name, version), self.trust)
        return self._render(
            "version.html",
            page=page,
            info=page.info,
            snippet=views.use_snippet(self.store, page.info),
            config=views.config_snippet(page.info),
        )

    def page_diff(self, query: dict[str, str], name: str) -> str:
        views.validate_name(name)
        if "a" not in query or "b" not in query:
            raise NotFound("pick two versions to compare (the a and b columns of the class page)")
        view = query.get("view") or DIFF_VIEWS[0]
        if view not in DIFF_VIEWS:
            raise NotFound(f"view must be one of {', '.join(DIFF_VIEWS)}, not {view!r}")
        old, new = (self._resolve(name, query[key]) for key in "ab")
        page = views.compare_page(self.store, name, old, new, self.trust)

        def url(a: str = old, b: str = new, view: str = view) -> str:
            return f"/c/{name}/diff?" + urlencode({"a": a, "b": b, **({"view": view} if view != DIFF_VIEWS[0] else {})})

        return self._render(
            "diff.html", page=page, name=name, view=view, url=url, a_given=query["a"], b_given=query["b"]
        )

    # -- plumbing ------------------------------------------------------------------------------------------

    def _resolve(self, name: str, version: str) -> str:
        """The full hash a URL names (``/c/NAME/prod``, ``?a=0123abcd``): the one resolver, as after ``@``."""
        try:
            return self.store.resolve_version(views.validate_name(name), version)
        except (VersionNotFoundError, AmbiguousPrefixError) as exc:
            raise NotFound(str(exc)) from None

    def _render(self, template: str, **context: Any) -> str:
        from markupsafe import Markup  # Jinja2's own dependency

        style, script, _ = _page_assets()
        # The style sheet and script are this package's files, not store content: inserted as they are, so their
        # hashes in the Content-Security-Policy match.
        return (
            _templates()
            .get_template(template)
            .render(store=self.store.url, style=Markup(style), script=Markup(script), **context)
        )

    def _error(self, message: str) -> str:
        return self._render("error.html", message=message)

    @staticmethod
    def _respond(
        start_response: StartResponse, status: HTTPStatus, body: str, content_type: str = "text/html; charset=utf-8"
    ) -> list[bytes]:
        data = body.encode("utf-8")
        start_response(
            f"{status.value} {status.phrase}",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(data))),
                # Read-only pages of code: nothing to frame, nothing to load from elsewhere, no script but ours.
                ("Content-Security-Policy", _page_assets()[2]),
                ("X-Frame-Options", "DENY"),
                ("Referrer-Policy", "no-referrer"),
            ],
        )
        return [data]


def _route(path: str) -> tuple[str, dict[str, str]] | None:
    for pattern, page in _ROUTES:
        match = pattern.fullmatch(path)
        if match:
            return page, match.groupdict()
    return None


def _offset(text: str | None) -> int:
    if not text:
        return 0
    if not text.isdigit():
        raise NotFound(f"offset must be a whole number, not {text!r}")
    return int(text)


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """The ``Host`` values a server bound to ``host:port`` answers: the bound address itself, ``localhost`` when
    it is a loopback or wildcard address, and ``extra`` names (each ``name`` or ``name:port``).

    Bound to a wildcard (``0.0.0.0``, ``::``), any IP address is answered too, with the port, and this machine's
    name: a rebinding attack needs a DNS *name* the attacker controls, and a browser sends an address typed as an
    address, whose origin no other page shares.

    >>> sorted(allowed_hosts("127.0.0.1", 8765))
    ['127.0.0.1:8765', 'localhost:8765']
    """
    address = _ip_address(host)
    names = {host}
    if address is not None and (address.is_loopback or address.is_unspecified):
        names.add("localhost")
    if address is not None and address.is_unspecified:
        names.update({socket.gethostname(), socket.getfqdn(), "*"})  # "*:port": any IP address (_host_allowed)
    allowed = {_with_port(name, port) for name in names}
    allowed.update(name if _split_port(name)[1] else _with_port(name, port) for name in extra)
    return frozenset(name.lower() for name in allowed)


def _with_port(name: str, port: int) -> str:
    address = _ip_address(name)
    return f"[{name}]:{port}" if address is not None and address.version == 6 else f"{name}:{port}"


def _split_port(value: str) -> tuple[str, str]:
    """``("host", "port")`` of a Host header (``port`` empty when absent); IPv6 addresses come in brackets."""
    if value.startswith("["):
        address, _, rest = value[1:].partition("]")
        return address, rest[1:] if rest.startswith(":") else ""
    name, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    return name, port


def _ip_address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _host_allowed(value: str, allowed: frozenset[str]) -> bool:
    name, port = _split_port(value.strip().lower())
    port = port or "80"  # no port: the default one
    if _with_port(name, port) in allowed:
        return True
    return f"*:{port}" in allowed and _ip_address(name) is not None


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (TimeoutError, ConnectionError)):
            return  # a client that went silent (CONNECTION_TIMEOUT) or away: nothing to report
        super().handle_error(request, client_address)


class _QuietHandler(WSGIRequestHandler):
    timeout = CONNECTION_TIMEOUT  # StreamRequestHandler applies it to every read and write of the connection

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


class RunningServer:
    """A server started by :func:`start_server`: its ``url``, and ``close()``."""

    def __init__(self, server: _ThreadingServer) -> None:
        self._server = server
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}/"
        self._thread = threading.Thread(target=server.serve_forever, name="remoteimport-ui", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def make_ui_server(
    store: Store | str, host: str = "127.0.0.1", port: int = 0, extra_hosts: Iterable[str] = ()
) -> _ThreadingServer:
    """The server, bound (not yet serving); it answers only the Host values of :func:`allowed_hosts`."""
    app = App(store)
    server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    app.allowed_hosts = allowed_hosts(host, server.server_address[1], extra_hosts)
    return server


def start_server(
    store: Store | str, host: str = "127.0.0.1", port: int = 0, extra_hosts: Iterable[str] = ()
) -> RunningServer:
    """Serve ``store`` read-only at ``http://host:port/`` from a background thread (``port=0``: any free one).

    >>> import tempfile, urllib.request
    >>> server = start_server(tempfile.mkdtemp())
    >>> b"remoteimport" in urllib.request.urlopen(server.url).read()
    True
    >>> server.close()
    """
    return RunningServer(make_ui_server(store, host, port, extra_hosts))
