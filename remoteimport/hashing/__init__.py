"""Deterministic content hashes of classes and functions.

``class_hash(obj)`` walks a class (or function) and everything of the user's that it depends on, writes a
canonical text encoding of it, and returns the SHA-256 of that encoding prefixed by a scheme identifier. The text
is fed to the digest as it is made, in bounded chunks, never joined whole (a 200 MB attribute costs a few MB).

What is encoded (see docs/hashing.md for the full list):

- functions by the **normalized AST of their source** (no line numbers, comments or layout), plus their
  runtime defaults, keyword-only defaults, closure cell contents, attributes and every module-level name
  they use (transitively, cycles handled). Code with no source (``exec``, ``type()``, ``python -c``) falls
  back to its bytecode, which is tied to the running Python version — the encoding says so explicitly;
- classes by name, bases, metaclass and their namespace in sorted order, with dataclass fields, enum members,
  ``__slots__`` and the wrappers (``staticmethod``, ``property``, ``functools.partial`` ...) unwrapped;
- values by type-tagged canonical encodings; sets and dicts are sorted so ``PYTHONHASHSEED`` cannot leak in;
- objects from installed distributions and the standard library by qualified name only.

Nothing here performs I/O except reading source through ``linecache``, and no ``repr()`` of a code object,
function or arbitrary object ever reaches the digest. Unknown types raise
:class:`~remoteimport.errors.UnhashableObjectError`; teach the hasher with :func:`register`.

    >>> class Scale:
    ...     factor = 2
    ...     def apply(self, x):
    ...         return x * self.factor
    >>> len(class_hash(Scale))
    64

Where things are:

- ``__init__`` (here): the public API, :func:`class_hash`, :data:`SCHEME`, :func:`register`, :func:`unregister`;
- ``table``: the dispatch table type -> encoder that :func:`register` feeds, with the built-in encoders in it;
- ``encoder``: :class:`~remoteimport.hashing.encoder._Encoder`, the walker that dispatches every value;
- ``stream``: where the encoding goes: pieces fed to SHA-256 in chunks, large values by reference, sorted
  items compared a chunk at a time;
- ``members``: which members of a class count (derived, framework and generated ones do not; dataclass fields,
  enum members);
- ``source``: finding and parsing a function's source, the canonical AST text, the global-name scan, the caches.

Imports go one way: ``__init__`` -> ``encoder`` -> ``members`` -> ``source``; ``encoder`` -> ``table``, ``stream``.
"""

from __future__ import annotations

import types
from typing import Any

# The ``_name as _name`` imports: internals the tests read as ``hashing.<name>``, the very objects of the submodules
# (caches are cleared in place, never rebound). To patch one, patch the submodule that owns it (``hashing.source``).
from remoteimport.hashing.encoder import _canonical_state as _canonical_state
from remoteimport.hashing.encoder import _Encoder
from remoteimport.hashing.encoder import _public_module as _public_module
from remoteimport.hashing.source import _LAMBDA_INDEX as _LAMBDA_INDEX
from remoteimport.hashing.source import _SOURCE_CACHE as _SOURCE_CACHE
from remoteimport.hashing.source import _SOURCE_CACHE_FILES as _SOURCE_CACHE_FILES
from remoteimport.hashing.source import _atom as _atom
from remoteimport.hashing.source import _code_names as _code_names
from remoteimport.hashing.source import _dotted_name as _dotted_name
from remoteimport.hashing.source import _encode_ast as _encode_ast
from remoteimport.hashing.source import _function_node as _function_node
from remoteimport.hashing.source import _global_access_names as _global_access_names
from remoteimport.hashing.source import _last_line as _last_line
from remoteimport.hashing.source import _merge_fstring_constants as _merge_fstring_constants
from remoteimport.hashing.source import _source_encoding as _source_encoding
from remoteimport.hashing.table import _ENCODERS as _ENCODERS
from remoteimport.hashing.table import register, unregister

__all__ = ["SCHEME", "class_hash", "register", "stored_class_hash", "unregister"]

#: Prefix of every digest input. Changing the encoding means changing this, never a silent drift.
SCHEME = "remoteimport-hash-v1"


def class_hash(obj: Any) -> str:
    """Return the 64-hex-character SHA-256 content hash of a class or function.

    The same program gives the same hash in every process, directory and (for code with source) every
    CPython version from 3.10 on; any change of behaviour changes it.
    """
    if not isinstance(obj, (type, types.FunctionType)):
        raise TypeError(
            f"class_hash() takes a class or a function, got an instance of {type(obj).__qualname__}; "
            "pass the class itself (type(obj)) to hash its definition"
        )
    return _Encoder().digest(obj, f"{SCHEME}\n")


def stored_class_hash(obj: type, *, attrs_generated_code: bool = False, typing_init: bool = False) -> str:
    """The hash of a class loaded from a store, to check it against the hash it is stored under: the encoding of
    :func:`class_hash`, without its guard against text that embeds an address (hashing/addresses.py). The guard
    keeps a push from naming a version by such text; a version already stored holds that text as data, the same
    on every host, and must keep loading.

    ``attrs_generated_code=True``: the rule versions stored before attrs' generated methods were left out were
    hashed by (their source included; loader.py tries it for blob format 3 only when today's rule disagrees).
    ``typing_init=True``: the rule versions stored before the ``__init__`` typing copies onto a subclass of a
    Protocol at its first instantiation was left out were hashed by (hashing/members.py, ``_is_protocol_init``)."""
    encoder = _Encoder(check_addresses=False, attrs_generated_code=attrs_generated_code, typing_init=typing_init)
    return encoder.digest(obj, f"{SCHEME}\n")
