"""What commands that read a store share about it: a store that does not exist (a mistyped ``--store``) is an
error, never an empty store or an untracked class."""

from __future__ import annotations

from remoteimport import _env
from remoteimport.errors import StoreError
from remoteimport.store import Store


def require_present(store: Store) -> None:
    """Raise :class:`StoreError` when the store itself does not exist: no folder, or no bucket (one or two
    requests: :meth:`Store.is_present`). An existing empty store passes."""
    if not store.is_present():
        raise StoreError(
            f"the store {store.url} does not exist (no such {'folder' if store.is_local else 'bucket or folder'}). "
            f"Check --store or ${_env.STORE}; pushing a class creates a folder store."
        )
