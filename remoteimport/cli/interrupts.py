"""Ctrl-C at the command line: the first one stops the command (``main`` prints ``remoteimport: interrupted`` and
exits with status 130); a second one while the process is still exiting (closing a store's connections, waiting
for a script's threads) ends it at once, with the same status and no traceback."""

from __future__ import annotations

import os
import signal
import threading

INTERRUPTED = 130  # the status a shell gives a process stopped by SIGINT (128 + 2)


def exit_at_next_interrupt() -> None:
    """From now on, SIGINT ends this process at once with :data:`INTERRUPTED` (nothing more is printed: the first
    Ctrl-C was reported already). Only for a process whose command line this is, from its main thread."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, lambda signum, frame: os._exit(INTERRUPTED))
