"""The only module touching s3fs internals: the listings ``ls`` needs that s3fs's public API cannot make.

S3's ListObjectsV2 starts after any key (``StartAfter``), groups keys by any string (``Delimiter``), and returns
each object's ETag, which for an object written in one PUT (every ref: 64 bytes) is the hex MD5 of its
content. s3fs lists only with ``/`` from the start of a prefix, so these listings call ``S3FileSystem._call_s3``
(s3fs's one request path: its session, region cache, ``requester_pays`` and retries), which has the same
signature in every release checked: :data:`CHECKED_VERSIONS`. When it is missing or changes, :func:`problems`
says so, the test naming the installed version fails (tests/test_ls_listing.py), and the store reads refs one by
one as before (:meth:`remoteimport.store.Store.refs_many`): slower, never wrong.
"""

from __future__ import annotations

import inspect
import re

from remoteimport._record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

CHECKED_VERSIONS = ("2023.1.0", "2026.9.0")  # the lowest s3fs pyproject.toml allows, and the newest checked
_MD5_HEX = re.compile(r"[0-9a-f]{32}")
_ETAG = re.compile(r"[0-9a-f][0-9a-f-]{0,79}")
PAGE_KEYS = 1000  # S3's most keys per ListObjectsV2 answer


@record
class Listed:
    """One entry of a listing: ``key`` relative to the listed prefix; ``etag`` the object's ETag (its quotes
    stripped: it changes whenever the object's bytes do); ``md5`` the hex MD5 of its content when the ETag is one
    (None for a multipart or KMS-encrypted upload, whose ETag is not); ``folder`` for a common prefix (then
    ``key`` ends before the delimiter, and there is no ETag)."""

    key: str
    etag: str | None = None
    md5: str | None = None
    folder: bool = False


def is_s3fs(fs: Any) -> bool:
    return type(fs).__module__.split(".", 1)[0] == "s3fs"


def problems(fs_class: Any = None) -> list[str]:
    """What of s3fs's internals this module uses is missing or changed in the installed s3fs (empty: all there)."""
    if fs_class is None:
        from s3fs import S3FileSystem as fs_class
    found = []
    call = getattr(fs_class, "_call_s3", None)
    if not inspect.iscoroutinefunction(call):
        found.append("S3FileSystem._call_s3 is not a coroutine function")
    else:
        parameters = list(inspect.signature(call).parameters.values())
        if [parameter.kind for parameter in parameters[:2]] != [
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ] or not any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
            found.append(f"S3FileSystem._call_s3 takes {inspect.signature(call)}, not (self, method, ..., **kwargs)")
    if not callable(getattr(fs_class, "split_path", None)):
        found.append("S3FileSystem.split_path is gone")
    return found


def usable(fs: Any) -> bool:
    """Whether :func:`list_range` can list on ``fs``: an s3fs filesystem whose internals are those checked."""
    return is_s3fs(fs) and not problems(type(fs))


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
) -> list[Listed]:
    """The keys under ``folder`` whose first path segment (a class name) sorts from ``first`` (or after
    ``after``) to ``last``, in order: one ListObjectsV2 request per 1,000 keys, starting past the names before
    and stopping at the first key past ``last`` (class names hold no character sorting at or below ``/``, so a
    name's keys sort together and in name order), or once ``folders`` common prefixes for which ``counts``
    holds are in (a folder that is no class name takes no name's place). ``delimiter``:
    keys holding it after the prefix come back once, as a folder (``"/"``: the names; ``"/history/"``: a
    class's history, however long, is one entry)."""
    bucket, key, _ = fs.split_path(folder)
    prefix = key.rstrip("/") + "/" if key.strip("/") else ""
    arguments: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if first is not None:
        arguments["StartAfter"] = prefix + first + "/"  # before every key of ``first``, after every name before
    elif after is not None:
        arguments["StartAfter"] = prefix + after + "0"  # "0" follows "/": after every key of ``after``
    if delimiter is not None:
        arguments["Delimiter"] = delimiter
    found: list[Listed] = []
    counted = 0  # common prefixes in ``found``
    while True:
        answer = await fs._call_s3("list_objects_v2", **arguments)
        page = [
            Listed(entry["Prefix"][len(prefix) :].rstrip("/"), folder=True)
            for entry in answer.get("CommonPrefixes", [])
        ]
        page += [
            Listed(entry["Key"][len(prefix) :], _etag_of(entry.get("ETag")), _md5_of(entry.get("ETag")))
            for entry in answer.get("Contents", [])
        ]
        page.sort(key=lambda entry: entry.key)
        done = False
        for entry in page:
            if last is not None and entry.key.split("/", 1)[0] > last:
                done = True
                break
            found.append(entry)
            counted += entry.folder and counts(entry.key)
            if folders is not None and counted >= folders:
                done = True
                break
        if done or not answer.get("IsTruncated") or not answer.get("NextContinuationToken"):
            return found
        arguments["ContinuationToken"] = answer["NextContinuationToken"]


def _etag_of(etag: object) -> str | None:
    """An ETag without its quotes, or None when it is not text of an ETag's characters (hex digits and ``-``)."""
    if not isinstance(etag, str):
        return None
    text = etag.strip().strip('"').lower()
    return text if _ETAG.fullmatch(text) else None


def _md5_of(etag: object) -> str | None:
    """The hex MD5 an ETag holds (``"<32 hex>"``), or None when it holds something else (a multipart upload's
    ``"<hex>-<parts>"``, a KMS-encrypted object's, a server's own)."""
    if not isinstance(etag, str):
        return None
    text = etag.strip().strip('"').lower()
    return text if _MD5_HEX.fullmatch(text) else None
