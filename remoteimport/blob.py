"""The blob format: a self-describing, hash-keyed container for one pushed class.

A blob is a small JSON header followed by the cloudpickle payload. The header records what the payload
is (class name and content hash), what it needs (Python version, cloudpickle version, requirements),
the by-value source for humans, and the payload's SHA-256. Every read checks that digest *before*
handing the payload back, so nothing corrupt or tampered with ever reaches ``cloudpickle.loads``. This
module never unpickles and does no I/O: it turns bytes into verified bytes and back.

Wire layout::

    MAGIC            b"RIMPORT\\x00"                        8 bytes
    header length    unsigned int, big-endian               4 bytes
    header           UTF-8 JSON object, sort_keys=True, compact separators, non-ASCII escaped
    payload          raw bytes (the cloudpickle output; opaque here), exactly header["payload_size"] long

    >>> header = make_header("MyFilter", "ab" * 32, b"payload", python="3.11", cloudpickle_version="3.1.2",
    ...                      created="2024-01-01T00:00:00+00:00")
    >>> data = encode_blob(header, b"payload")
    >>> bytes(decode_blob(data, expected_hash="ab" * 32).payload)
    b'payload'
"""

from __future__ import annotations

import sys

from remoteimport._record import MISSING, field, fields, record, replace
from remoteimport.errors import IncompatibleBlobError, IntegrityError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = [
    "CROSS_PYTHON_FORMAT",
    "FORMAT_VERSION",
    "MAGIC",
    "Blob",
    "BlobHeader",
    "decode_blob",
    "encode_blob",
    "header_end",
    "legacy_signed_message",
    "make_header",
    "read_header",
    "signed_message",
]

MAGIC = b"RIMPORT\x00"
# 3: code objects carry a locator (remoteimport.code_objects, code format 2): every supported CPython loads the
#    payload, compiling the shipped source where the bytecode is another Python's;
# 2: code objects in the payload are rebuilt by remoteimport.code_objects, on the pushing Python only;
# 1: cloudpickle's own code objects. All three are read; a release older than a blob's format refuses it
#    ("written by a newer remoteimport") before anything is unpickled, and never replaces it.
FORMAT_VERSION = 3
#: The first format whose payloads every supported CPython loads (loader._check_host).
CROSS_PYTHON_FORMAT = 3

_HEADER_LENGTH_SIZE = 4  # unsigned, big-endian (int.to_bytes: no struct module on the import path)
_PREFIX_SIZE = len(MAGIC) + _HEADER_LENGTH_SIZE
_SIGNATURE_DOMAIN = b"remoteimport-signature-v2\x00"
_LEGACY_SIGNATURE_DOMAIN = b"remoteimport-signature-v1\x00"


@record
class BlobHeader:
    """What a blob holds and what it needs; serialised as the blob's JSON header.

    >>> header = BlobHeader(name="MyFilter", hash="ab" * 32, python="3.11", cloudpickle="3.1.2",
    ...                     requirements={"numpy": "1.26.4"}, source={}, created="2024-01-01T00:00:00+00:00",
    ...                     payload_sha256="cd" * 32, payload_size=7)
    >>> BlobHeader.from_json(header.to_json()) == header
    True
    """

    name: str
    hash: str
    python: str
    cloudpickle: str
    requirements: dict[str, str]
    source: dict[str, str]
    created: str
    payload_sha256: str
    payload_size: int
    format: int = FORMAT_VERSION
    qualname: str = ""
    module: str = ""
    signature: dict[str, str] | None = None
    provenance: dict[str, str] | None = None  # who, where, message, git (remoteimport.provenance); None: unknown
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The header as a JSON-ready dict; keys from ``extra`` sit at the top level, as they were read.

        >>> sorted(make_header("A", "0" * 64, b"").to_json())[:3]
        ['cloudpickle', 'created', 'format']
        """
        known = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        if known["provenance"] is None:
            # Absent, not null: headers written before provenance existed sign and serialise as they were.
            del known["provenance"]
        return {**self.extra, **known}

    @classmethod
    def from_json(cls, data: dict[str, Any], *, source: str = "blob header") -> BlobHeader:
        """Build a header from its JSON dict, validating format, required keys and field types.

        Unknown keys go into ``extra`` so headers from newer writers of the same format stay readable.
        Raises :class:`IncompatibleBlobError` for a newer format and :class:`IntegrityError` otherwise;
        ``source`` (a path or URL) is named in the message.

        >>> BlobHeader.from_json({**make_header("A", "0" * 64, b"").to_json(), "new": 1}).extra
        {'new': 1}
        """
        blob_format = data.get("format", FORMAT_VERSION)
        if _is_int(blob_format) and blob_format > FORMAT_VERSION:
            raise IncompatibleBlobError(
                f"{source}: written by a newer remoteimport (format {blob_format}); upgrade remoteimport "
                f"on this host (it reads format {FORMAT_VERSION}); the blob was NOT unpickled"
            )
        for key in _REQUIRED_KEYS:
            if key not in data:
                raise _integrity_error(source, f"header is missing the required key {key!r}")
        for key, is_valid in _FIELD_CHECKS.items():
            if key in data and not is_valid(data[key]):
                raise _integrity_error(source, f"header key {key!r} has the wrong type ({type(data[key]).__name__})")
        known = {key: _copy(value) for key, value in data.items() if key in _FIELD_CHECKS}
        extra = {key: value for key, value in data.items() if key not in _FIELD_CHECKS}
        return cls(**known, extra=extra)

    def with_signature(self, signature: dict[str, str] | None) -> BlobHeader:
        """A copy of this header carrying ``signature`` (``None`` removes it).

        >>> make_header("A", "0" * 64, b"").with_signature({"algorithm": "ed25519"}).signature
        {'algorithm': 'ed25519'}
        """
        return replace(self, signature=signature)

    def replace(self, **changes: Any) -> BlobHeader:
        """A copy of this header with ``changes`` (field name -> value).

        >>> make_header("A", "0" * 64, b"").replace(python="3.12").python
        '3.12'
        """
        return replace(self, **changes)


@record
class Blob:
    """A decoded blob whose payload has been checked against its header's digest. The payload is a read-only
    view of the blob's bytes, never a copy of it (docs/performance.md#memory): ``bytes(blob.payload)`` copies."""

    header: BlobHeader
    payload: memoryview


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text_dict(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


# Checked on read so a malformed header fails here as IntegrityError, not later as a TypeError in a caller.
# Keyed by annotation text so a new field with an unhandled type fails loudly at import.
_CHECK_FOR_ANNOTATION: dict[str, Callable[[object], bool]] = {
    "str": lambda value: isinstance(value, str),
    "int": _is_int,
    "dict[str, str]": _is_text_dict,
    "dict[str, str] | None": lambda value: value is None or _is_text_dict(value),
}
_FIELD_CHECKS = {f.name: _CHECK_FOR_ANNOTATION[f.type] for f in fields(BlobHeader) if f.name != "extra"}
_REQUIRED_KEYS = tuple(f.name for f in fields(BlobHeader) if f.default is MISSING and f.default_factory is MISSING)


def _copy(value: Any) -> Any:
    # The header is frozen; don't let it share a dict the caller may go on mutating.
    return dict(value) if isinstance(value, dict) else value


def _integrity_error(source: str, problem: str) -> IntegrityError:
    return IntegrityError(f"{source}: {problem}; the blob was NOT unpickled")


def signed_message(header: BlobHeader) -> bytes:
    r"""The canonical bytes a signature covers: the **whole header** but the signature itself — name, hash,
    payload digest and size, Python and cloudpickle versions, requirements, shipped source, format, module,
    creation time and any field a newer writer adds — after a versioned domain tag.

    A store writer without the key can change none of them without the signature failing.

    >>> signed_message(make_header("A", "0" * 64, b""))[:26]
    b'remoteimport-signature-v2\x00'
    """
    document = header.to_json()
    document.pop("signature", None)
    return _SIGNATURE_DOMAIN + _canonical_json(document)


def legacy_signed_message(header: BlobHeader) -> bytes:
    r"""What signatures made before the whole header was signed covered: name, hash and payload digest only.

    Such a signature leaves the other header fields open to a store writer, so it is never accepted; it is
    recognised to say so, and to let ``remoteimport sign`` upgrade a publisher's own old signatures.

    >>> legacy_signed_message(make_header("A", "0" * 64, b""))[:26]
    b'remoteimport-signature-v1\x00'
    """
    parts = (header.name, header.hash, header.payload_sha256)
    if any("\x00" in part for part in parts):
        raise ValueError("cannot sign a header whose name, hash or payload digest contains a NUL character")
    return _LEGACY_SIGNATURE_DOMAIN + b"\x00".join(part.encode("utf-8") for part in parts)


def _canonical_json(document: dict[str, Any]) -> bytes:
    """The one serialisation of a header: sorted keys, compact, ASCII (what :func:`encode_blob` writes)."""
    import json  # writing only: reading parses with json's own C scanner (_loads)

    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def make_header(
    name: str,
    hash: str,
    payload: bytes,
    *,
    python: str | None = None,
    cloudpickle_version: str | None = None,
    requirements: dict[str, str] | None = None,
    source: dict[str, str] | None = None,
    created: str | None = None,
    qualname: str = "",
    module: str = "",
    provenance: dict[str, str] | None = None,
) -> BlobHeader:
    """A header describing ``payload``; unset versions and time default to this interpreter, now (UTC).
    ``provenance``: who pushed it, from where (``remoteimport.provenance``); None leaves the key out of the header.

    >>> header = make_header("MyFilter", "ab" * 32, b"payload", requirements={"numpy": "1.26.4"})
    >>> header.payload_size, header.python == "%d.%d" % sys.version_info[:2]
    (7, True)
    """
    if cloudpickle_version is None:
        import cloudpickle  # lazily: reading blobs must not need cloudpickle

        cloudpickle_version = cloudpickle.__version__
    return BlobHeader(
        name=name,
        hash=hash,
        python=python if python is not None else f"{sys.version_info.major}.{sys.version_info.minor}",
        cloudpickle=cloudpickle_version,
        requirements=dict(requirements or {}),
        source=dict(source or {}),
        created=created if created is not None else _now(),
        payload_sha256=sha256_hex(payload),
        payload_size=len(payload),
        qualname=qualname,
        module=module,
        provenance=dict(provenance) if provenance else None,
    )


def _now() -> str:
    from datetime import datetime, timezone  # only when writing: reading a blob needs no clock

    return datetime.now(timezone.utc).isoformat()


def sha256_hex(data: bytes | memoryview) -> str:
    """The SHA-256 of ``data`` in hex. CPython's built-in implementation when it has one: ``hashlib`` loads
    OpenSSL, which costs a pinned import more than verifying its payload does (docs/performance.md)."""
    return _sha256(data).hexdigest()


def _sha256_constructor() -> Callable[[bytes | memoryview], Any]:
    for module in ("_sha2", "_sha256"):  # CPython 3.12+, 3.10-3.11
        try:
            return __import__(module).sha256  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    import hashlib

    return hashlib.sha256


_sha256 = _sha256_constructor()


def encode_blob(header: BlobHeader, payload: bytes | memoryview) -> bytes:
    """The blob bytes for ``header`` and ``payload``; refuses a header that does not describe the payload.

    >>> encode_blob(make_header("A", "0" * 64, b"x"), b"x")[:8]
    b'RIMPORT\\x00'
    """
    if not 1 <= header.format <= FORMAT_VERSION:
        # Older formats are written only when re-signing a stored blob, whose payload is kept as it is.
        raise ValueError(f"this remoteimport writes formats 1 to {FORMAT_VERSION}, not {header.format}")
    if header.payload_size != len(payload) or header.payload_sha256 != sha256_hex(payload):
        raise ValueError(
            f"header for {header.name!r} does not describe this payload (size or sha256 differ); "
            "build it with make_header(name, hash, payload)"
        )
    header_bytes = _canonical_json(header.to_json())
    # Left to right: the small prefix is joined first, then the payload is copied once, into the blob.
    return MAGIC + len(header_bytes).to_bytes(_HEADER_LENGTH_SIZE, "big") + header_bytes + payload


def header_end(start: bytes) -> int | None:
    """Where the header of a blob beginning with ``start`` ends (the offset of its payload), from the first
    :data:`MAGIC` + 4 bytes; None when ``start`` begins no blob. What a reader of headers alone requests.

    >>> data = encode_blob(make_header("A", "0" * 64, b"xy"), b"xy")
    >>> header_end(data[:12]) == len(data) - 2
    True
    """
    if len(start) < _PREFIX_SIZE or not start.startswith(MAGIC):
        return None
    return _PREFIX_SIZE + int.from_bytes(start[len(MAGIC) : _PREFIX_SIZE], "big")


def read_header(data: bytes, *, source: str = "blob") -> BlobHeader:
    """The validated header of a blob, without checking the payload (for listing and ``show``).

    >>> read_header(encode_blob(make_header("A", "0" * 64, b"x"), b"x")).name
    'A'
    """
    return _split(data, source)[0]


def decode_blob(
    data: bytes,
    *,
    expected_hash: str | None = None,
    expected_name: str | None = None,
    source: str = "blob",
) -> Blob:
    """The verified header and payload of a blob; raises before returning anything unverified.

    ``source`` (the storage path or URL) is named in every error. Raises :class:`IntegrityError` for
    anything malformed, truncated, corrupt or not the expected class, and :class:`IncompatibleBlobError`
    for a blob from a newer format.

    The payload is a view of ``data``, which it keeps alive; nothing is copied.

    >>> data = encode_blob(make_header("A", "0" * 64, b"x"), b"x")
    >>> bytes(decode_blob(data, expected_hash="0" * 64, expected_name="A").payload)
    b'x'
    """
    header, payload = _split(data, source)
    _verify_payload(header, payload, source)
    if expected_hash is not None and header.hash != expected_hash:
        raise _integrity_error(source, f"blob holds hash {header.hash}, expected {expected_hash}")
    if expected_name is not None and header.name != expected_name:
        raise _integrity_error(source, f"blob holds class {header.name!r}, expected {expected_name!r}")
    return Blob(header, payload)


def _split(data: bytes, source: str) -> tuple[BlobHeader, memoryview]:
    """The parsed header and the (unverified) payload bytes that follow it."""
    end = header_end(data)
    if end is None:
        raise _integrity_error(source, "not a remoteimport blob (missing magic bytes)")
    if end > len(data):
        raise _integrity_error(
            source, f"header length {end - _PREFIX_SIZE} runs past the end of the data (truncated blob?)"
        )
    view = memoryview(data).toreadonly()  # the payload handed on is a view: nobody writes through it
    return _parse_header(view[_PREFIX_SIZE:end], source), view[end:]


def _parse_header(header_bytes: memoryview, source: str) -> BlobHeader:
    try:
        parsed = _loads(str(header_bytes, "utf-8"))
    except ValueError as error:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
        raise _integrity_error(source, f"header is not valid UTF-8 JSON ({error})") from None
    except RecursionError:  # e.g. 100,000 nested "[": no genuine header nests more than a few levels
        raise _integrity_error(source, "header is JSON nested too deeply to be a blob header") from None
    if not isinstance(parsed, dict):
        raise _integrity_error(source, f"header is a JSON {type(parsed).__name__}, not an object")
    return BlobHeader.from_json(parsed, source=source)


class _ScannerContext:
    """What ``json.JSONDecoder`` gives its C scanner: the defaults of ``json.loads``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


def _make_scanner() -> Any:
    try:
        from _json import make_scanner
    except ImportError:  # pragma: no cover - Pythons without json's C accelerator
        return None
    return make_scanner(_ScannerContext())


_SCANNER = _make_scanner()


def _loads(text: str) -> Any:
    """``json.loads(text)``, through the C scanner ``json.loads`` itself uses when the text is one JSON value
    with nothing around it (what every writer of headers writes): the ``json`` package imports ``re``, more than
    a pinned import's own work costs (docs/performance.md). Anything else goes to ``json.loads``, for its
    exact result or error."""
    if _SCANNER is not None and text[:1] == "{":
        try:
            value, end = _SCANNER(text, 0)
        except StopIteration:
            pass
        else:
            if end == len(text):
                return value
    import json

    return json.loads(text)


def _verify_payload(header: BlobHeader, payload: memoryview, source: str) -> None:
    if len(payload) != header.payload_size:
        raise _integrity_error(
            source, f"payload is {len(payload)} bytes but the header says {header.payload_size} (truncated?)"
        )
    digest = sha256_hex(payload)
    if digest != header.payload_sha256:
        raise _integrity_error(
            source, f"payload sha256 is {digest} but the header says {header.payload_sha256} (corrupt copy)"
        )
