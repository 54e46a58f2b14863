"""``remoteimport ui``: a local, read-only web view of a store (classes, versions, headers, source, diffs).

It reads headers and shipped source only and never unpickles anything; it binds to 127.0.0.1 unless told
otherwise. Needs Jinja2, and Pygments to highlight source (the ``ui`` extra: ``pip install '.[ui]'`` in a
checkout, or ``pip install jinja2 pygments``); without Pygments, source shows as plain text.

    >>> from remoteimport.ui import start_server
"""

from __future__ import annotations

from remoteimport.ui.app import App, RunningServer, start_server

__all__ = ["App", "RunningServer", "start_server"]
