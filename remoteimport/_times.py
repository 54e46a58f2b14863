"""How times read from a store are shown: history entries' seconds and headers' ISO 8601 ``created``, both the
store's data, so anything that is no time becomes a marker, never an exception (stdlib only). One reading for
the command line and the web view."""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["INVALID_TIME", "iso_time", "parse_time", "utc_time"]

INVALID_TIME = "invalid time"


def utc_time(timestamp: float, invalid: str = INVALID_TIME) -> str:
    """``2026-01-31 12:00:00 UTC``; ``invalid`` for what no date is (infinite, out of range: a history entry is
    the store's data, not ours to trust).

    >>> utc_time(0.0), utc_time(1e400, invalid="?")
    ('1970-01-01 00:00:00 UTC', '?')
    """
    try:
        return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError, OSError, TypeError):
        return invalid


def iso_time(timestamp: float) -> str | None:
    """``2026-01-31T12:00:00+00:00``: ISO 8601 in UTC, to the second, for ``--json``; None for what no date is.

    >>> iso_time(0.0), iso_time(float("inf"))
    ('1970-01-01T00:00:00+00:00', None)
    """
    try:
        return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def parse_time(text: object) -> float | None:
    """Seconds since the epoch of an ISO 8601 time a blob header holds (``created``: any offset; none means UTC),
    or None when it is no such time (the header is the store's data).

    >>> parse_time("2026-01-31T13:00:00.5+01:00"), parse_time("yesterday")
    (1769860800.5, None)
    """
    try:
        moment = datetime.fromisoformat(str(text))
        return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
    except (ValueError, OverflowError):  # OverflowError: year 1 at +01:00 is before year 1 in UTC
        return None
