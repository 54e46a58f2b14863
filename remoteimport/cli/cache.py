"""``remoteimport cache info`` and ``cache clear``: this host's cache of verified blobs (remoteimport/cache.py)."""

from __future__ import annotations

import argparse

from remoteimport import _env
from remoteimport.cache import BlobCache
from remoteimport.cli.base import Command, Output, fields


def size_text(size: int) -> str:
    """``1.5 MB``: decimal units, as ``$REMOTEIMPORT_CACHE_SIZE`` reads them.

    >>> size_text(0), size_text(1234), size_text(1_000_000_000)
    ('0 bytes', '1.2 kB', '1.0 GB')
    """
    if size < 1000:
        return f"{size} bytes"
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000 or unit == "TB":
            break
    return f"{size:.1f} {unit}"


class Cache(Command):
    name = "cache"
    help = "show or empty this host's cache of downloaded versions"
    description = (
        "Imports from a remote store (s3://, gs://, ...) keep a copy of every version they load in a folder on "
        "this host, so that importing it again needs no request; a copy is checked (digest, name, hash, "
        "signatures) each time it is used; `ls` and the web view keep there the headers they read from S3, so "
        "listing again reads none twice. `cache info` shows that folder "
        f"(${_env.CACHE_DIR}; 'off' turns the cache off), how many versions it holds, their size and the bound "
        f"(${_env.CACHE_SIZE}, default 1 GB: the least recently used go first). `cache clear` removes every "
        "cached version and kept header and the records of versions already re-hashed here (docs/security.md), "
        "and nothing else: the next import fetches from the store again. One cache serves every store, so "
        "--store is not needed; a local folder store uses it only when asked (Store(url, cache=True))."
    )
    examples = "remoteimport cache info\nremoteimport cache clear\nremoteimport cache info --json"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", choices=("info", "clear"), help="info: show the cache; clear: empty it")

    def run(self, args: argparse.Namespace, out: Output) -> None:
        cache = BlobCache.default()
        if cache is None:
            out.data(directory=None, enabled=False)
            out.line(f"the blob cache is off (${_env.CACHE_DIR}={_env.CACHE_OFF}): every import reads the store")
            return
        entries = cache.entries()
        held = sum(size for _, size, _ in entries)
        if args.action == "clear":
            cache.clear()
            left = cache.entries()  # a concurrent import may have written one meanwhile
            removed, freed = len(entries) - len(left), held - sum(size for _, size, _ in left)
            versions = sum(path.endswith(".blob") for path, _, _ in entries) - sum(
                path.endswith(".blob") for path, _, _ in left
            )
            headers = f" and {removed - versions} headers kept for `ls`" if removed > versions else ""
            out.data(directory=cache.directory, enabled=True, removed=removed, removed_bytes=freed, entries=len(left))
            out.line(
                f"cleared the blob cache {cache.directory}: removed {versions} cached versions{headers} "
                f"({size_text(freed)}) and the re-hash records; the next import of each fetches it from the store"
            )
            return
        temporaries = cache.temporary_files()
        out.data(
            directory=cache.directory,
            enabled=True,
            entries=len(entries),
            bytes=held,
            max_bytes=cache.max_bytes,
            temporary_files=len(temporaries),
        )
        rows = [
            ("blob cache", cache.directory),
            ("entries", _entries_text(entries)),
            ("size", size_text(held) if held < 1000 else f"{size_text(held)} ({held} bytes)"),
            ("bound", f"{size_text(cache.max_bytes)} (${_env.CACHE_SIZE}); the least recently used go first"),
        ]
        if temporaries:
            rows.append(("temporary", f"{len(temporaries)} files of writes in progress or crashed"))
        out.line(fields(rows))


def _entries_text(entries: list[tuple[str, int, float]]) -> str:
    """``"3 cached versions"``, and the headers kept for listings (``ls`` on S3) when there are any."""
    headers = sum(path.endswith(".header") for path, _, _ in entries)
    versions = f"{len(entries) - headers} cached versions"
    return f"{versions}, {headers} headers kept for `ls`" if headers else versions
