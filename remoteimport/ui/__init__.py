"""``remoteimport ui``: a local, read-only web view of a store (classes, versions, headers, source, diffs).

It reads headers and shipped source only and never unpickles anything; it binds to 127.0.0.1 unless told
otherwise. Needs the ``ui`` extra: ``pip install 'remoteimport[ui]'`` (Jinja2 and Pygments).

    >>> from remoteimport.ui import start_server
"""

from __future__ import annotations

from remoteimport.ui.app import App, RunningServer, start_server

__all__ = ["App", "RunningServer", "start_server"]
