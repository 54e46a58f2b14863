"""Environment variables: every ``REMOTEIMPORT_*`` name, its default and how it is read, in one place.

Standard library only, and cheap to import: the start-up hook (``remoteimport.pth``) may read it in every
interpreter. Each setting is read when it is used (not at import), so a variable set later in the process
counts. The names are documented in docs/storage.md, docs/security.md, docs/zero-code.md,
docs/performance.md and docs/provenance.md.

    >>> number("REMOTEIMPORT_NO_SUCH_SETTING", 4.0, float, "a number of seconds")
    4.0
"""

from __future__ import annotations

import os
import sys

# Not `from typing import TYPE_CHECKING`: the start-up hook may import this module in every interpreter, and
# typing and collections.abc would cost more than all of it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import TypeVar

    T = TypeVar("T")

PREFIX = "REMOTEIMPORT_"

# Where classes come from
STORE = "REMOTEIMPORT_STORE"  # the store URL or folder (default: a folder in the user's data directory)
NAMESPACE = "REMOTEIMPORT_NAMESPACE"  # the namespace the import hook serves
DEFAULT_NAMESPACE = "labchain_remote"
LOCK = "REMOTEIMPORT_LOCK"  # the lock file (default: ./remoteimport.lock when present)
ALLOW_HTTP = "REMOTEIMPORT_ALLOW_HTTP"  # "1": accept a plain-http store
SERVED = "REMOTEIMPORT_SERVED"  # JSON: what install() serves, for the worker processes it starts (remoteimport.served)

# Storage requests
LATEST_TTL = "REMOTEIMPORT_LATEST_TTL"
DEFAULT_LATEST_TTL = 1.0  # seconds an import may reuse a `latest` it has just read
TIMEOUT = "REMOTEIMPORT_TIMEOUT"
# A dead endpoint fails in (DEFAULT_RETRIES + 1) x DEFAULT_TIMEOUT plus backoff, within the store's deadline
# (that plus store.DEADLINE_MARGIN): 12-15 s, under 17 s on a loaded machine (docs/storage.md).
DEFAULT_TIMEOUT = 4.0  # seconds a request may wait for a connection, or for the next bytes of an answer
RETRIES = "REMOTEIMPORT_RETRIES"
DEFAULT_RETRIES = 2  # extra attempts after a transient failure (3 attempts: botocore's standard retry mode's)

# The local blob cache
CACHE_DIR = "REMOTEIMPORT_CACHE_DIR"  # a folder, or "off" (default: the user's cache directory)
CACHE_OFF = "off"
CACHE_SIZE = "REMOTEIMPORT_CACHE_SIZE"  # bytes, or "500MB", "2GB", "512MiB"
DEFAULT_CACHE_BYTES = 1_000_000_000

# Signatures and trust
SIGNING_KEY = "REMOTEIMPORT_SIGNING_KEY"  # the private key pushes are signed with
TRUSTED_KEYS = "REMOTEIMPORT_TRUSTED_KEYS"  # comma-separated .pub files loads must be signed by
REQUIRE_SIGNATURES = "REMOTEIMPORT_REQUIRE_SIGNATURES"  # "1": refuse unsigned code even with no key trusted

# Configs
BUILD_ALLOW = "REMOTEIMPORT_BUILD_ALLOW"  # comma-separated installed classes build() may construct

# Provenance (remoteimport.provenance, docs/provenance.md)
NO_PROVENANCE = "REMOTEIMPORT_NO_PROVENANCE"  # "1": record no user, host or git state with pushes (the message stays)

# Diagnostics
PROFILE = "REMOTEIMPORT_PROFILE"  # "1": report the per-phase timings of imports at exit (docs/performance.md)

_TRUE = ("1", "true", "yes")


def text(name: str) -> str:
    """The variable's value without surrounding blanks; ``""`` when unset."""
    return os.environ.get(name, "").strip()


def flag(name: str) -> bool:
    """Whether the variable is set to ``1``, ``true`` or ``yes`` (any case)."""
    return text(name).lower() in _TRUE


def items(name: str) -> list[str]:
    """The comma-separated items of the variable, blanks dropped (``[]`` when unset)."""
    return [part.strip() for part in os.environ.get(name, "").split(",") if part.strip()]


def number(name: str, default: T, parse: Callable[[str], T], expected: str) -> T:
    """The variable parsed by ``parse``, else ``default`` when unset or blank. A value that does not parse
    raises :class:`ValueError` with a message naming the variable and ``expected`` (callers re-raise it as
    their own error)."""
    configured = text(name)
    if not configured:
        return default
    try:
        return parse(configured)
    except ValueError:
        raise ValueError(f"{name}={configured!r} is not {expected}") from None


def namespace() -> str:
    """The namespace served when none is given: ``$REMOTEIMPORT_NAMESPACE``, else ``labchain_remote``."""
    return os.environ.get(NAMESPACE) or DEFAULT_NAMESPACE


def store_url() -> str | None:
    """``$REMOTEIMPORT_STORE`` when set (None: the default store)."""
    return os.environ.get(STORE) or None


_USER_DIRS = {"cache": ("XDG_CACHE_HOME", ".cache"), "data": ("XDG_DATA_HOME", ".local/share")}


def user_dir(kind: str) -> str:
    """``<the user's cache or data directory>/remoteimport`` (``kind``: ``"cache"`` or ``"data"``), as
    platformdirs computes it. On Linux with an absolute ``$HOME`` and the ``XDG_*`` variable unset or absolute
    it is computed here, the same way every platformdirs release does, so the default cache of an import costs
    no platformdirs import (about 10 ms); elsewhere platformdirs answers."""
    variable, default = _USER_DIRS[kind]
    home = os.environ.get("HOME", "")
    configured = os.environ.get(variable)
    simple = configured is None or (configured == configured.strip() and configured.startswith("/"))
    if sys.platform == "linux" and "ANDROID_DATA" not in os.environ and home.startswith("/") and simple:
        base = configured if configured is not None else os.path.join(home.rstrip("/") or "/", default)
        return os.path.join(base, "remoteimport")
    import platformdirs

    if kind == "cache":
        return platformdirs.user_cache_dir("remoteimport", appauthor=False)
    return platformdirs.user_data_dir("remoteimport", appauthor=False)


def without_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without any ``REMOTEIMPORT_*`` variable (for child processes that must get only the
    settings they are given)."""
    return {key: value for key, value in environ.items() if not key.startswith(PREFIX)}


def not_served_message(fullname: str, namespace: str) -> str:
    """Why ``fullname`` (a pinned version) cannot be imported here, and the fixes."""
    rename = "" if namespace == DEFAULT_NAMESPACE else f" and {NAMESPACE}={namespace}"
    return (
        f"No module named {fullname!r} in this process (pid {os.getpid()}): remoteimport serves that namespace, "
        f"but no store is configured for {namespace!r} here. Set {STORE}=<store URL>{rename} in "
        f"its environment or call remoteimport.install(store, namespace={namespace!r}); on Dask, "
        "client.register_plugin(remoteimport.integrations.dask.RemoteImportPlugin(store)); on Ray, "
        "ray.init(runtime_env=remoteimport.integrations.ray.runtime_env(store)) (docs/engines.md)"
    )
