"""The dispatch table: type -> encoder, fed by :func:`register` and holding the built-in encoders too.

Like cloudpickle's ``_dispatch_table``: one table per type, consulted for every value before the generic rules
of :mod:`remoteimport.hashing.encoder`; an encoder applies to subclasses as well.
"""

from __future__ import annotations

import re
import struct
import threading
import types
import weakref
from collections.abc import Callable
from typing import Any

_ENCODERS: dict[type, Callable[[Any], Any]] = {}


def register(type_: type, encoder: Callable[[Any], Any]) -> None:
    """Teach the hasher to encode instances of ``type_`` (and its subclasses).

    ``encoder(obj)`` must return plain data the hasher already knows (str, int, bytes, tuples, lists, dicts,
    ...) that changes whenever the object's behaviour-relevant state changes.

    >>> import array
    >>> register(array.array, lambda values: (values.typecode, values.tolist()))
    >>> unregister(array.array)
    """
    if not isinstance(type_, type):
        raise TypeError(f"register() needs a type as its first argument, got {type(type_).__name__}")
    if not callable(encoder):
        raise TypeError("register() needs a callable encoder as its second argument")
    _ENCODERS[type_] = encoder


def unregister(type_: type) -> None:
    """Remove an encoder added with :func:`register` (no error if none was registered)."""
    _ENCODERS.pop(type_, None)


# Built-in encoders, in the very table register() feeds (like cloudpickle's dispatch table): each gives an
# object's constructor arguments, which are what the object means, and the same on every Python version.
# Other objects the standard library pickles through copyreg are encoded by their copyreg reduction (reduced()).
register(re.Pattern, lambda pattern: (pattern.pattern, pattern.flags))
register(struct.Struct, lambda packer: packer.format)
# Per-thread storage is state, not behaviour; it arrives empty on the remote host (capture.py): its type only.
register(threading.local, lambda storage: type(storage))
# Locks are this process's synchronisation state: whether one is held is not behaviour, and the remote host gets a
# fresh, unlocked lock of the same type (capture.py). Their type only; a Condition is its lock (waiters left out).
register(type(threading.Lock()), lambda lock: type(lock))
register(type(threading.RLock()), lambda lock: type(lock))
register(threading.Condition, lambda condition: (type(condition), condition._lock))
# The entries alive now, as they are pickled (capture.py; cloudpickle does the same for WeakSet).
register(weakref.WeakKeyDictionary, lambda mapping: dict(mapping))
register(weakref.WeakValueDictionary, lambda mapping: dict(mapping))

# The commonest types, whose base classes need no look-up in the table of encoders (one per value: hot).
_UNREGISTERED_BUILTINS = frozenset({str, int, float, bool, bytes, tuple, list, dict, type(None), types.FunctionType})


def _registered_encoder(kind: type) -> Callable[[Any], Any] | None:
    """The encoder for ``kind`` or its nearest base in the table, or None."""
    encoder = _ENCODERS.get(kind)
    if encoder is not None or kind in _UNREGISTERED_BUILTINS:
        return encoder
    for base in kind.__mro__[1:]:
        encoder = _ENCODERS.get(base)
        if encoder is not None:
            return encoder
    return None
