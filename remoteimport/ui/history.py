"""A class's history as the web view pages it: its versions (the distinct hashes of the history, newest push
first) and its events (pushes, rollbacks, tag moves ...), each a page at a time.

A history entry's key already says when and which version (:func:`remoteimport.store.history_key_parts`): one
listing orders and groups the whole history, and only the rows shown are read, so a page costs a listing (a
request per 1,000 entries) and a read per row, however long the history grows. The store reads and lists
(:meth:`Store.history_keys_many`, :meth:`Store.history_entries`); this module only groups and pages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from remoteimport.errors import IntegrityError
from remoteimport.store import Store, history_key_parts


@dataclasses.dataclass(frozen=True)
class HistoryIndex:
    """A name's history keys, newest first, and per version the key of its first entry (its push)."""

    keys: tuple[str, ...]
    versions: tuple[str, ...]  # one key per version: the oldest entry of its hash, newest version first

    def position(self, full_hash: str) -> int | None:
        """Where the version ``full_hash`` is in :attr:`versions` (0: the newest), None when not in the history."""
        for index, key in enumerate(self.versions):
            if _group(key) == full_hash[:16]:
                return index
        return None

    def has(self, full_hash: str) -> bool:
        return self.position(full_hash) is not None


def _group(key: str) -> str:
    """The version a key names (the first 16 hex digits of its hash), or the key itself when it is not one of
    the store's history keys (then the entry must be read to know)."""
    parts = history_key_parts(key)
    return parts[1] if parts else key


def _index(keys: list[str]) -> HistoryIndex:
    """``keys``: a history's finished entries, newest first, as :meth:`Store.history_keys_many` gives them."""
    ordered = tuple(keys)
    first: dict[str, str] = {}
    for key in ordered:  # newest first: the last key seen of a version is its oldest
        first[_group(key)] = key
    return HistoryIndex(ordered, tuple(sorted(first.values(), reverse=True)))


def index(store: Store, name: str) -> HistoryIndex:
    """``name``'s history index: one listing (a request per 1,000 entries on object stores)."""
    found = index_many(store, [name])[name]
    if isinstance(found, IntegrityError):
        raise found
    return found


def index_many(store: Store, names: Iterable[str]) -> dict[str, HistoryIndex | IntegrityError]:
    """:func:`index` of many names, the listings concurrent (the class list's version counts)."""
    return {
        name: keys if isinstance(keys, IntegrityError) else _index(keys)
        for name, keys in store.history_keys_many(names).items()
    }
