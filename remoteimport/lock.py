"""Lock files: pin every class a host imports to one exact version, so plain imports never drift.

``remoteimport lock NAME...`` writes ``remoteimport.lock`` (TOML)::

    # remoteimport.lock: written by `remoteimport lock`; ...
    version = 1
    store = "s3://bucket/classes"
    namespace = "labchain_remote"
    unlisted = "error"

    [pins]
    MyFilter = "0123...<64 hex digits>"

While a lock is active — ``remoteimport.lock`` in the working directory, ``$REMOTEIMPORT_LOCK``, or
``install(lock=...)`` — ``from labchain_remote import MyFilter`` gives the pinned version instead of the
store's latest; a name the lock does not list is an error (``unlisted = "latest"`` falls back to latest).
Explicit versions (``labchain_remote.MyFilter@<hash>``) are not affected. The lock's store must be the store
the namespace serves.

    >>> lock = Lock(store="/srv/classes", pins={"MyFilter": "ab" * 32})
    >>> lock.pin("MyFilter") == "ab" * 32
    True
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from remoteimport import _env
from remoteimport._files import write_atomically
from remoteimport._record import field, record, replace
from remoteimport.errors import LockError
from remoteimport.names import split_versioned, validate_hash, validate_name, validate_namespace
from remoteimport.store import normalized_store_url, redact_url, resolve_store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, Literal

    from remoteimport.store import Store

    Unlisted = Literal["error", "latest"]

__all__ = ["LOCK_FILENAME", "ENV_LOCK", "Lock", "LockError", "read_lock", "write_lock", "find_lock", "update_lock"]

LOCK_FILENAME = "remoteimport.lock"
ENV_LOCK = _env.LOCK
LOCK_FORMAT = 1
_UNLISTED = ("error", "latest")


@record
class Lock:
    """Pins (class name -> full hash) for one namespace served from one store.

    ``path`` is where the lock was read from (for messages); ``unlisted`` says what a name without a pin
    does: ``"error"`` (the default) or ``"latest"``."""

    store: str
    pins: Mapping[str, str] = field(default_factory=dict)
    namespace: str = _env.DEFAULT_NAMESPACE
    unlisted: Unlisted = "error"
    path: str | None = None

    def __post_init__(self) -> None:
        where = f"in the lock {self.path}" if self.path else "in the lock"
        if not isinstance(self.store, str) or not self.store:
            raise LockError(f'no store URL {where}: it needs a line such as store = "s3://bucket/classes"')
        try:
            validate_namespace(self.namespace)
            pins = {validate_name(name): validate_hash(value, allow_prefix=False) for name, value in self.pins.items()}
        except (ValueError, TypeError) as exc:
            raise LockError(f"invalid pin {where}: {exc}. Regenerate it with `remoteimport lock NAME...`") from None
        if self.unlisted not in _UNLISTED:
            raise LockError(f'unlisted = {self.unlisted!r} {where}: use "error" or "latest"')
        object.__setattr__(self, "pins", dict(sorted(pins.items())))

    def pin(self, name: str) -> str | None:
        """The pinned full hash of ``name``; None when it has no pin and ``unlisted = "latest"``."""
        pinned = self.pins.get(name)
        if pinned is None and self.unlisted == "error":
            listed = ", ".join(self.pins) or "none"
            raise LockError(
                f"{self.namespace}.{name} is not pinned by the lock {self.path or '(given to install)'} "
                f"(it pins: {listed}). Pin it with `remoteimport lock {name}`, import an exact version "
                f'({self.namespace}.{name}@<hash>), or set unlisted = "latest" in the lock.',
                name=f"{self.namespace}.{name}",
            )
        return pinned

    def to_toml(self) -> str:
        """The lock as TOML (written by hand: TOML readers are standard, writers are not)."""
        lines = [
            f"# {LOCK_FILENAME}: written by `remoteimport lock`; pins each class to one exact version.",
            "# `remoteimport lock NAME...` adds names, `remoteimport lock --upgrade` moves pins to the latest.",
            f"version = {LOCK_FORMAT}",
            f"store = {_toml_string(self.store)}",
            f"namespace = {_toml_string(self.namespace)}",
            f"unlisted = {_toml_string(self.unlisted)}",
            "",
            "[pins]",
            *(f"{name} = {_toml_string(full_hash)}" for name, full_hash in self.pins.items()),
        ]
        return "\n".join(lines) + "\n"


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = []
    for char in text:
        if char in ('"', "\\"):
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def _load_toml(text: str, path: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LockError(f"the lock {path} is not valid TOML ({exc}); regenerate it with `remoteimport lock`") from None
    except (RecursionError, MemoryError):  # tomllib parses nested arrays and tables recursively
        raise LockError(
            f"the lock {path} nests arrays or tables too deeply to read (a lock holds one flat [pins] table); "
            "regenerate it with `remoteimport lock`"
        ) from None


def read_lock(path: str | os.PathLike[str]) -> Lock:
    """Read and validate a lock file. A relative local store path is taken relative to the lock's folder."""
    path = os.path.abspath(os.fspath(path))
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        raise LockError(
            f"no lock file {path}: create it with `remoteimport lock NAME...`, or unset ${ENV_LOCK}"
        ) from None
    except OSError as exc:
        raise LockError(f"cannot read the lock {path}: {exc}") from None
    data = _load_toml(text, path)
    known = {"version", "store", "namespace", "unlisted", "pins"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise LockError(f"the lock {path} has unknown keys {unknown}; it may hold: {', '.join(sorted(known))}")
    if data.get("version") != LOCK_FORMAT:
        raise LockError(
            f"the lock {path} has version = {data.get('version')!r}; this remoteimport reads version = "
            f"{LOCK_FORMAT}. Regenerate it with `remoteimport lock NAME...`"
        )
    pins = data.get("pins", {})
    if not isinstance(pins, dict):
        raise LockError(f'[pins] in the lock {path} must be a table of NAME = "<full hash>" lines')
    store = data.get("store")
    if isinstance(store, str) and "://" not in store and store and not os.path.isabs(store):
        store = os.path.join(os.path.dirname(path), store)
    return Lock(
        store=store,  # type: ignore[arg-type]  # validated by Lock
        pins=pins,
        namespace=data.get("namespace", _env.DEFAULT_NAMESPACE),
        unlisted=data.get("unlisted", "error"),
        path=path,
    )


def write_lock(lock: Lock, path: str | os.PathLike[str]) -> str:
    """Write ``lock`` to ``path`` atomically (a temporary file renamed into place); return the absolute path."""
    path = os.path.abspath(os.fspath(path))
    write_atomically(path, lock.to_toml().encode("utf-8"))
    return path


def default_lock_path() -> str:
    """``$REMOTEIMPORT_LOCK`` when set, else ``remoteimport.lock`` in the working directory."""
    return os.environ.get(_env.LOCK) or os.path.abspath(LOCK_FILENAME)


def find_lock(namespace: str) -> Lock | None:
    """The ambient lock for ``namespace``: ``$REMOTEIMPORT_LOCK`` (which must exist) or ``./remoteimport.lock``.

    A lock applies to the namespace it names (``namespace = ...``, by default ``labchain_remote``); None when
    there is no lock or it names another namespace."""
    configured = os.environ.get(_env.LOCK)
    if configured:
        lock = read_lock(configured)
    elif os.path.isfile(LOCK_FILENAME):
        lock = read_lock(LOCK_FILENAME)
    else:
        return None
    return lock if lock.namespace == namespace else None


def resolve_lock(lock: Lock | str | os.PathLike[str] | bool | None, namespace: str) -> Lock | None:
    """What ``install(lock=...)`` means: None -> the ambient lock, False -> none, a path -> that file."""
    if lock is None or lock is True:
        return find_lock(namespace)
    if lock is False:
        return None
    if isinstance(lock, Lock):
        return lock
    return read_lock(lock)


def check_store(lock: Lock, store_url: str, namespace: str) -> None:
    """Refuse a lock whose store is not the store the namespace serves (its pins would name other classes)."""
    if _normalized_url(lock.store) != _normalized_url(store_url):
        raise LockError(
            f"the lock {lock.path or '(given to install)'} pins versions in the store {redact_url(lock.store)}, but "
            f"the namespace {namespace!r} serves the store {redact_url(store_url)}. Serve the lock's store "
            f"(REMOTEIMPORT_STORE={redact_url(lock.store)}), or regenerate the lock with "
            "`remoteimport lock --store URL NAME...`"
        )


def _normalized_url(url: str) -> str:
    """Local stores are named by their absolute path (like :attr:`Store.url`); other URLs as written."""
    return normalized_store_url(url)


def update_lock(
    names: Iterable[str] = (),
    *,
    path: str | os.PathLike[str] | None = None,
    store: Store | str | None = None,
    namespace: str | None = None,
    upgrade: bool = False,
) -> tuple[Lock, dict[str, tuple[str | None, str]]]:
    """Pin ``names`` to their store's latest versions in the lock at ``path``; write it; return it with the
    changes (``name -> (previous pin or None, new pin)``). ``Name@HASH``, ``Name@TAG`` (e.g. ``MyFilter@prod``)
    or ``Name@latest`` pins that exact version instead, replacing any pin: it is resolved to its full hash.

    Names already pinned keep their pin unless ``upgrade``; ``upgrade`` with no names moves every pin.
    ``store`` defaults to the existing lock's store, else the default store."""

    path = os.path.abspath(os.fspath(path) if path is not None else default_lock_path())
    # NAME, or NAME@HASH / NAME@TAG / NAME@latest for an exact version (resolved now: a lock holds full hashes only)
    requested = dict(split_versioned(name) for name in names)
    names = list(requested)
    existing = read_lock(path) if os.path.exists(path) else None
    if existing is None and not names:
        raise LockError(f"no lock {path} yet: name the classes to pin, e.g. `remoteimport lock MyFilter`")
    target = resolve_store(store if store is not None else existing.store if existing else None)
    if existing is not None:
        if _normalized_url(existing.store) != _normalized_url(target.url):
            raise LockError(
                f"the lock {path} pins versions in the store {existing.store}, not {target.url}; use another "
                "lock file (--lock PATH) for another store, or delete this one to start again"
            )
        if namespace is not None and namespace != existing.namespace:
            raise LockError(
                f"the lock {path} is for the namespace {existing.namespace!r}, not {namespace!r}; "
                "use another lock file (--lock PATH) or delete it"
            )
    lock = existing or Lock(store=target.url, namespace=validate_namespace(namespace or _env.namespace()))
    pins = dict(lock.pins)
    to_move = names or (list(pins) if upgrade else [])
    changes: dict[str, tuple[str | None, str]] = {}
    for name in to_move:
        previous = pins.get(name)
        if requested.get(name) is not None:
            pins[name] = target.resolve_version(name, requested[name], namespace=lock.namespace)
            changes[name] = (previous, pins[name])
            continue
        if previous is not None and not upgrade:
            changes[name] = (previous, previous)
            continue
        latest = target.latest(name)
        if latest is None:
            raise target.name_not_found(name, namespace=lock.namespace)
        pins[name] = latest
        changes[name] = (previous, latest)
    lock = replace(lock, pins=pins, path=path)
    write_lock(lock, path)
    return lock, changes
