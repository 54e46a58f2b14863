"""remoteimport: push a class from one host, import exactly that version on another.

The handful of names users need are exported here; they are loaded lazily so that ``import remoteimport``
(and decorating a class with :func:`persist`) stays cheap.

    >>> import remoteimport
    >>> @remoteimport.persist
    ... class MyFilter:
    ...     def apply(self, x):
    ...         return x * 2
"""

from __future__ import annotations

from remoteimport.errors import (
    AmbiguousPrefixError,
    ConfigError,
    DependencyError,
    IncompatibleBlobError,
    IntegrityError,
    InvalidNameError,
    LockError,
    NameNotFoundError,
    PushError,
    RemoteImportError,
    StoreError,
    StoreUnreachableError,
    TagExistsError,
    TagNotFoundError,
    UnhashableObjectError,
    UntrustedBlobError,
    VersionNotFoundError,
)

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "class_hash": "remoteimport.hashing",
    "Store": "remoteimport.store",
    "persist": "remoteimport.registry",
    "push": "remoteimport.registry",
    "publish": "remoteimport.registry",
    "PushResult": "remoteimport.registry",
    "push_all": "remoteimport.registry",
    "status": "remoteimport.registry",
    "status_report": "remoteimport.registry",
    "StatusReport": "remoteimport.registry",
    "versions": "remoteimport.registry",
    "get_version": "remoteimport.registry",
    "rollback": "remoteimport.registry",
    "tag": "remoteimport.registry",
    "untag": "remoteimport.registry",
    "install": "remoteimport.hook",
    "uninstall": "remoteimport.hook",
    "dump": "remoteimport.config",
    "build": "remoteimport.config",
    "metrics": "remoteimport._metrics",
    "Lock": "remoteimport.lock",
    "read_lock": "remoteimport.lock",
    "update_lock": "remoteimport.lock",
}

__all__ = [
    *_LAZY,
    "AmbiguousPrefixError",
    "ConfigError",
    "DependencyError",
    "IncompatibleBlobError",
    "IntegrityError",
    "InvalidNameError",
    "LockError",
    "NameNotFoundError",
    "PushError",
    "RemoteImportError",
    "StoreError",
    "StoreUnreachableError",
    "TagExistsError",
    "TagNotFoundError",
    "UnhashableObjectError",
    "UntrustedBlobError",
    "VersionNotFoundError",
]

# Not `from typing import TYPE_CHECKING`: the start-up hook (remoteimport.pth) imports this package in every
# interpreter where $REMOTEIMPORT_STORE is set, and typing and importlib would triple the cost of that.
TYPE_CHECKING = False
if TYPE_CHECKING:  # the lazy names above, for type checkers and IDEs
    from typing import Any

    from remoteimport._metrics import metrics  # noqa: F401
    from remoteimport.config import build, dump  # noqa: F401
    from remoteimport.hashing import class_hash  # noqa: F401
    from remoteimport.hook import install, uninstall  # noqa: F401
    from remoteimport.lock import Lock, read_lock, update_lock  # noqa: F401
    from remoteimport.registry import (  # noqa: F401
        PushResult,
        StatusReport,
        get_version,
        persist,
        publish,
        push,
        push_all,
        rollback,
        status,
        status_report,
        tag,
        untag,
        versions,
    )
    from remoteimport.store import Store  # noqa: F401


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'remoteimport' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
