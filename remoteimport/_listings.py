"""The only module touching s3fs's and gcsfs's internals: the listings ``ls`` needs that their public APIs cannot
make.

S3's ListObjectsV2 and GCS's objects.list start at any key (``StartAfter``; ``startOffset``), group keys by any
string (``Delimiter``; ``delimiter``), and return each object's digest: S3's ETag, which for an object written
in one PUT (every ref: 64 bytes) is the hex MD5 of its content, and GCS's ``md5Hash``. fsspec lists only with
``/`` from the start of a prefix and drops ETags on some paths, so these listings call each backend's one
request path: ``S3FileSystem._call_s3`` (its session, region cache, ``requester_pays`` and retries) and
``GCSFileSystem._call`` (its credentials and retries), whose signatures are the same in every release checked
(:data:`CHECKED_VERSIONS`). When one is missing or changes, :func:`problems` says so, the test naming the
installed version fails (tests/test_ls_listing.py), and the store reads refs one by one as before
(:meth:`remoteimport.store.Store.refs_many`): slower, never wrong.
"""

from __future__ import annotations

from remoteimport._record import record
from remoteimport.names import is_etag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# The lowest release pyproject.toml allows, and the newest checked, of each backend.
CHECKED_VERSIONS = {"s3fs": ("2023.1.0", "2026.9.0"), "gcsfs": ("2023.1.0", "2026.10.1")}
_HEX = frozenset("0123456789abcdef")


@record
class Listed:
    """One entry of a listing: ``key`` relative to the listed prefix; ``etag`` what changes whenever the object's
    bytes do (S3's ETag without its quotes; GCS's MD5 and generation); ``md5`` the hex MD5 of its content when
    the listing says it (None for an S3 multipart or KMS-encrypted upload, whose ETag is none, or a GCS composite
    object); ``folder`` for a common prefix (then ``key`` ends before the delimiter, and there is no digest)."""

    key: str
    etag: str | None = None
    md5: str | None = None
    folder: bool = False


def backend(fs: Any) -> str | None:
    """``"s3fs"`` or ``"gcsfs"`` for a filesystem of theirs, else None."""
    module = type(fs).__module__.split(".", 1)[0]
    return module if module in CHECKED_VERSIONS else None


def problems(fs_class: Any) -> list[str]:
    """What this module uses of the backend of ``fs_class`` (an ``S3FileSystem`` or ``GCSFileSystem`` class) that
    is missing or changed there (empty: all there). Only for s3fs and gcsfs stores, so :mod:`inspect` is
    imported here, never on a pinned import's path."""
    import inspect

    call = "_call_s3" if fs_class.__module__.split(".", 1)[0] == "s3fs" else "_call"
    named = f"{fs_class.__name__}.{call}"
    function = getattr(fs_class, call, None)
    found = []
    if not inspect.iscoroutinefunction(function):
        found.append(f"{named} is not a coroutine function")
    else:
        parameters = list(inspect.signature(function).parameters.values())
        takes = [parameter.kind for parameter in parameters[: 3 if call == "_call" else 2]]
        if set(takes) != {inspect.Parameter.POSITIONAL_OR_KEYWORD} or not any(
            parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters
        ):
            wanted = "(self, method, path, *args, ..., **kwargs)" if call == "_call" else "(self, method, **kwargs)"
            found.append(f"{named} takes {inspect.signature(function)}, not {wanted}")
    if not callable(getattr(fs_class, "split_path", None)):
        found.append(f"{fs_class.__name__}.split_path is gone")
    return found


def usable(fs: Any) -> bool:
    """Whether :func:`list_range` can list on ``fs``: s3fs or gcsfs, with the internals checked (once a class)."""
    if backend(fs) is None:
        return False
    kind = type(fs)
    if kind not in _CHECKED:
        _CHECKED[kind] = not problems(kind)
    return _CHECKED[kind]


_CHECKED: dict[type, bool] = {}


async def list_range(
    fs: Any,
    folder: str,
    *,
    first: str | None = None,
    after: str | None = None,
    last: str | None = None,
    delimiter: str | None = None,
    folders: int | None = None,
    counts: Callable[[str], bool] = bool,
    page_size: int = 1000,
) -> list[Listed]:
    """The keys under ``folder`` whose first path segment (a class name) sorts from ``first`` (or after
    ``after``) to ``last``, in order: one request per 1,000 keys, starting past the names before and stopping
    at the first key past ``last`` (class names hold no character sorting at or below ``/``, so a name's keys
    sort together and in name order), or once ``folders`` common prefixes for which ``counts`` holds are in (a
    folder that is no class name takes no name's place). ``delimiter``: keys holding it after the prefix come
    back once, as a folder (``"/"``: the names; ``"/history/"``: a class's history, however long, is one
    entry). A server that ignores where to start lists from the prefix's beginning: more requests, the same
    entries. ``page_size``: keys per request (1,000, the most either service returns)."""
    bucket, key, _ = fs.split_path(folder)
    prefix = key.rstrip("/") + "/" if key.strip("/") else ""
    start = None
    if first is not None:
        start = prefix + first + "/"  # before every key of ``first``, after every name before
    elif after is not None:
        start = prefix + after + "0"  # "0" follows "/": after every key of ``after``
    pages = _s3_pages if backend(fs) == "s3fs" else _gcs_pages
    found: list[Listed] = []
    counted = 0  # common prefixes in ``found`` for which ``counts`` holds
    async for page in pages(fs, bucket, prefix, start, delimiter, page_size):
        done = False
        for entry in sorted(page, key=lambda entry: entry.key):
            name = entry.key.split("/", 1)[0]
            if (first is not None and name < first) or (after is not None and name <= after):
                continue  # a server that did not start where it was asked
            if last is not None and name > last:
                done = True
                break
            found.append(entry)
            counted += entry.folder and counts(entry.key)
            if folders is not None and counted >= folders:
                done = True
                break
        if done:
            break
    return found


async def _s3_pages(fs: Any, bucket: str, prefix: str, start: str | None, delimiter: str | None, page_size: int) -> Any:
    arguments: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page_size}
    if start is not None:
        arguments["StartAfter"] = start
    if delimiter is not None:
        arguments["Delimiter"] = delimiter
    while True:
        answer = await fs._call_s3("list_objects_v2", **arguments)
        page = [
            Listed(entry["Prefix"][len(prefix) :].rstrip("/"), folder=True)
            for entry in answer.get("CommonPrefixes", [])
        ]
        for entry in answer.get("Contents", []):
            etag = _etag(entry.get("ETag"))
            page.append(Listed(entry["Key"][len(prefix) :], etag, etag if etag and _is_md5(etag) else None))
        yield page
        if not answer.get("IsTruncated") or not answer.get("NextContinuationToken"):
            return
        arguments["ContinuationToken"] = answer["NextContinuationToken"]


async def _gcs_pages(
    fs: Any, bucket: str, prefix: str, start: str | None, delimiter: str | None, page_size: int
) -> Any:
    arguments: dict[str, Any] = {"prefix": prefix, "maxResults": page_size}
    if start is not None:
        arguments["startOffset"] = start  # where GCS starts (inclusive: no key equals it)
    if delimiter is not None:
        arguments["delimiter"] = delimiter
    while True:
        answer = await fs._call("GET", "b/{}/o", bucket, json_out=True, **arguments)
        page = [Listed(name[len(prefix) :].rstrip("/"), folder=True) for name in answer.get("prefixes", [])]
        for item in answer.get("items", []):
            md5 = _md5_from_base64(item.get("md5Hash"))
            generation = str(item.get("generation", ""))
            etag = f"{md5}-{generation}" if md5 and generation.isdigit() else None
            page.append(Listed(str(item["name"])[len(prefix) :], etag, md5))
        yield page
        token = answer.get("nextPageToken")
        if not token:
            return
        arguments["pageToken"] = token


def written_etag(fs: Any, data: bytes) -> str | None:
    """The ETag the store gives an object of bytes ``data`` written in one request, as :func:`list_range` reports
    it, when it can be known beforehand: on S3 the hex MD5 of the bytes for an object s3fs writes in one PUT
    (below its 50 MB multipart threshold; under SSE-KMS the ETag is another value, which then matches nothing).
    None elsewhere (GCS adds a generation only its answer says)."""
    if backend(fs) != "s3fs" or len(data) >= 50 * 2**20:
        return None
    import hashlib

    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _etag(etag: object) -> str | None:
    """An S3 ETag without its quotes, or None when it is not made of an ETag's characters (hex digits, ``-``)."""
    if not isinstance(etag, str):
        return None
    text = etag.strip().strip('"').lower()
    return text if is_etag(text) else None


def _is_md5(text: str) -> bool:
    """An ETag that can be a hex MD5 (a multipart upload's is ``<hex>-<parts>``). A KMS-encrypted object's looks
    like one and is not: it matches no stored hash, and the ref is read."""
    return len(text) == 32 and _HEX.issuperset(text)


def _md5_from_base64(value: object) -> str | None:
    """GCS's ``md5Hash`` (base64 of the 16 bytes) as hex, or None when it is not one."""
    import base64
    import binascii

    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 16 else None
