"""Per-phase timings of imports: where a pinned import spends its time (stdlib only, always on, cheap).

Every import of a stored version goes through a few phases — ``open`` (opening the store's filesystem:
importing s3fs/gcsfs and their clients, once per process), ``resolve`` (``latest``, a tag or a prefix to a full
hash), ``cache`` (reading the local blob cache), ``fetch`` (reading the store), ``verify`` (signature checks),
``requirements``, ``unpickle``, ``rehash``, and ``load`` (the rest of the loader's work: source registration,
regenerated methods, sharing classes with loaded versions, publishing the module) — and each records its wall
time here. Phases are exclusive: a phase that runs inside another (the filesystem opened by the first read, a
nested version loaded while unpickling) is subtracted from it, so the phases add up to the import's time and
none is counted twice. Two ``perf_counter`` calls and a dict update per phase, so it stays on. Read the totals
with :func:`remoteimport.metrics`; with ``REMOTEIMPORT_PROFILE=1`` they are also logged at exit
(``logging.getLogger("remoteimport")``, printed to stderr when logging is not configured), and every phase is
logged at DEBUG level as it ends.

    >>> reset()
    >>> with phase("fetch"):
    ...     pass
    >>> record("unpickle", 0.002)
    >>> sorted(metrics())
    ['fetch', 'unpickle']
    >>> metrics()["unpickle"]["count"], metrics()["unpickle"]["seconds"]
    (1, 0.002)
"""

from __future__ import annotations

import sys
import time
from _thread import _local as _thread_local
from _thread import allocate_lock

from remoteimport import _env

TYPE_CHECKING = False  # not typing's: typing is not imported on a pinned import's path
if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["PHASES", "debug", "metrics", "phase", "record", "reset"]

# The phases the library records, in the order an import goes through them (others may be added).
PHASES = ("open", "resolve", "cache", "fetch", "verify", "requirements", "unpickle", "rehash", "load")

_GUARD = allocate_lock()
_TOTALS: dict[str, list[float]] = {}  # phase -> [seconds, count, max seconds]
_REPORT_REGISTERED = False


def record(name: str, seconds: float) -> None:
    """Add one run of phase ``name`` that took ``seconds``."""
    with _GUARD:
        totals = _TOTALS.get(name)
        if totals is None:
            _TOTALS[name] = [seconds, 1, seconds]
        else:
            totals[0] += seconds
            totals[1] += 1
            totals[2] = max(totals[2], seconds)
    debug("%s took %.3f ms", name, seconds * 1e3)


def debug(message: str, *args: object) -> None:
    """Log ``message % args`` at DEBUG level on ``logging.getLogger("remoteimport")``.

    Without importing :mod:`logging` (a sixth of a pinned import's own cost): in a process that has not
    imported it, nobody can have configured a handler or a level that would show a DEBUG record."""
    logging = _imported_logging()
    if logging is not None:
        logger = logging.getLogger("remoteimport")
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(message, *args)


def warning(message: str) -> None:
    """Log ``message`` at WARNING level on ``logging.getLogger("remoteimport")``: shown on stderr unless the
    program configured logging otherwise (``logging.lastResort``).

    In a process that has not imported :mod:`logging`, nobody can have configured it, so the message is
    printed to stderr as logging's last resort would print it, without importing logging."""
    logging = _imported_logging()
    if logging is None:
        print(message, file=sys.stderr)
    else:
        logging.getLogger("remoteimport").warning(message)


def _imported_logging() -> ModuleType | None:
    """:mod:`logging` once another import of it has finished, else ``None``.

    ``sys.modules`` holds a module from the moment its import *starts*: while another thread is still running
    logging's top-level code, ``getLogger`` may not exist yet (40 threads importing pinned versions whose
    payloads import logging failed with "partially initialized module 'logging'"). Until that import is done,
    nobody can have configured logging either, so treating it as not imported is exact."""
    logging = sys.modules.get("logging")
    if logging is None or getattr(getattr(logging, "__spec__", None), "_initializing", False):
        return None
    return logging


_RUNNING = _thread_local()  # per thread: the phases running now, innermost last (threading.local, unimported)


class phase:  # noqa: N801 - used like a function: ``with phase("fetch"):``
    """Time the block as one run of phase ``name`` (recorded even when it raises), less the time of the phases
    that run inside it (they record their own)."""

    __slots__ = ("_name", "_start", "_inner")

    def __init__(self, name: str) -> None:
        self._name = name
        self._start = 0.0
        self._inner = 0.0  # seconds spent in phases nested in this one

    def __enter__(self) -> None:
        running = _RUNNING.__dict__.setdefault("stack", [])
        running.append(self)
        self._start = time.perf_counter()

    def __exit__(self, *exc_info: object) -> None:
        elapsed = time.perf_counter() - self._start
        running = _RUNNING.__dict__["stack"]
        running.remove(self)  # the innermost, unless a generator interleaved phases: then this one
        if running:
            running[-1]._inner += elapsed
        record(self._name, elapsed - self._inner)


def metrics() -> dict[str, dict[str, float]]:
    """``{phase: {"seconds": total, "count": runs, "max": longest run}}`` for every phase that ran in this
    process since it started (or since :func:`reset`), in the order of :data:`PHASES`.

    >>> import remoteimport
    >>> isinstance(remoteimport.metrics(), dict)
    True
    """
    with _GUARD:
        snapshot = {name: list(totals) for name, totals in _TOTALS.items()}
    order = {name: index for index, name in enumerate(PHASES)}
    return {
        name: {"seconds": totals[0], "count": int(totals[1]), "max": totals[2]}
        for name, totals in sorted(snapshot.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))
    }


def reset() -> None:
    """Forget every recorded phase (for measuring one stretch of a long process)."""
    with _GUARD:
        _TOTALS.clear()


def format_report(figures: dict[str, dict[str, float]] | None = None) -> str:
    """The figures as a small table (what ``REMOTEIMPORT_PROFILE=1`` logs at exit)."""
    figures = metrics() if figures is None else figures
    lines = [f"{'phase':<14} {'count':>6} {'total ms':>10} {'max ms':>9}"]
    for name, figure in figures.items():
        lines.append(f"{name:<14} {figure['count']:>6} {figure['seconds'] * 1e3:>10.3f} {figure['max'] * 1e3:>9.3f}")
    return "\n".join(lines)


def report_at_exit_if_asked() -> None:
    """With ``REMOTEIMPORT_PROFILE=1``, log :func:`format_report` once when the process exits (checked when
    this module is imported; call it again after setting the variable later in the process)."""
    global _REPORT_REGISTERED
    if _REPORT_REGISTERED or not _env.flag(_env.PROFILE):
        return
    _REPORT_REGISTERED = True
    import atexit

    atexit.register(_report)


def _report() -> None:
    figures = metrics()
    if figures:
        import logging

        logging.getLogger("remoteimport").warning(
            "remoteimport: time per import phase (%s=1)\n%s", _env.PROFILE, format_report(figures)
        )


report_at_exit_if_asked()  # imported by every import path (store, cache): REMOTEIMPORT_PROFILE needs no call
