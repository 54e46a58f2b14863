"""Tests for remoteimport.blob: the wire format, header validation and the payload digest check."""

from __future__ import annotations

import ast
import hashlib
import json
import struct
import sys
from datetime import datetime, timedelta
from pathlib import Path

import cloudpickle
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remoteimport._record import replace
from remoteimport.blob import (
    FORMAT_VERSION,
    MAGIC,
    Blob,
    BlobHeader,
    decode_blob,
    encode_blob,
    legacy_signed_message,
    make_header,
    read_header,
    signed_message,
)
from remoteimport.errors import IncompatibleBlobError, IntegrityError

HASH = "ab" * 32
OTHER_HASH = "cd" * 32
PAYLOAD = b"\x80\x05pretend cloudpickle output"
SOURCE = "s3://bucket/ns/MyFilter/" + HASH


def _header(payload: bytes = PAYLOAD, **overrides: object) -> BlobHeader:
    header = make_header(
        "MyFilter",
        HASH,
        payload,
        python="3.11",
        cloudpickle_version="3.1.2",
        requirements={"numpy": "1.26.4"},
        source={"mylib.filters": "class MyFilter:\n    pass\n"},
        created="2024-01-01T00:00:00+00:00",
        qualname="MyFilter",
        module="mylib.filters",
    )
    return replace(header, **overrides)


def _raw_blob(header_json: dict, payload: bytes) -> bytes:
    """Blob bytes built by hand from the documented layout, bypassing encode_blob's checks."""
    header_bytes = json.dumps(header_json, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return MAGIC + struct.pack(">I", len(header_bytes)) + header_bytes + payload


def _header_end(data: bytes) -> int:
    return len(MAGIC) + 4 + struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])[0]


def _flip(data: bytes, index: int, mask: int) -> bytes:
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


# --- examples ----------------------------------------------------------------------------------------------


def test_round_trip_keeps_every_header_field():
    header = _header()
    blob = decode_blob(encode_blob(header, PAYLOAD), expected_hash=HASH, expected_name="MyFilter")

    assert blob == Blob(header, PAYLOAD)
    assert isinstance(blob.payload, memoryview) and blob.payload.readonly  # a view of the blob: never copied
    assert blob.header.requirements == {"numpy": "1.26.4"}
    assert blob.header.source == {"mylib.filters": "class MyFilter:\n    pass\n"}
    assert (blob.header.qualname, blob.header.module) == ("MyFilter", "mylib.filters")
    assert blob.header.format == FORMAT_VERSION
    assert blob.header.signature is None


def test_wire_layout_matches_the_documented_format():
    header = _header()
    data = encode_blob(header, PAYLOAD)

    assert data.startswith(MAGIC)
    end = _header_end(data)
    header_bytes = data[len(MAGIC) + 4 : end]
    assert header_bytes == json.dumps(header.to_json(), sort_keys=True, separators=(",", ":")).encode()
    assert data[end:] == PAYLOAD
    assert data == _raw_blob(header.to_json(), PAYLOAD)


def test_non_ascii_text_round_trips():
    header = _header(source={"mød": "s = 'é€😀'\n"}, requirements={"naïve": "1.0"})
    assert decode_blob(encode_blob(header, PAYLOAD)).header == header


def test_round_trip_of_real_cloudpickle_payload():
    payload = cloudpickle.dumps({"x": [1, 2, 3]})
    blob = decode_blob(encode_blob(make_header("D", HASH, payload), payload))
    assert cloudpickle.loads(blob.payload) == {"x": [1, 2, 3]}


def test_make_header_defaults_describe_this_interpreter_and_now():
    before = datetime.now().astimezone()
    header = make_header("MyFilter", HASH, PAYLOAD)

    assert header.python == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert header.cloudpickle == cloudpickle.__version__
    assert header.payload_sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert header.payload_size == len(PAYLOAD)
    assert header.requirements == {} and header.source == {}
    created = datetime.fromisoformat(header.created)
    assert created.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=5) <= created <= datetime.now().astimezone() + timedelta(seconds=5)


def test_make_header_copies_the_callers_dicts():
    requirements = {"numpy": "1.26.4"}
    header = make_header("MyFilter", HASH, PAYLOAD, requirements=requirements)
    requirements["numpy"] = "2.0"
    assert header.requirements == {"numpy": "1.26.4"}


def test_signature_round_trips_and_can_be_removed():
    signature = {"algorithm": "ed25519", "key": "k" * 43, "value": "v" * 86}
    signed = _header().with_signature(signature)

    blob = decode_blob(encode_blob(signed, PAYLOAD))
    assert blob.header.signature == signature
    assert blob.header == signed
    assert signed.with_signature(None) == _header()


def test_unknown_header_keys_are_preserved_in_extra():
    header_json = {**_header().to_json(), "attestation": {"by": "ci"}, "zz_new": [1, 2]}
    data = _raw_blob(header_json, PAYLOAD)

    header = decode_blob(data).header
    assert header.extra == {"attestation": {"by": "ci"}, "zz_new": [1, 2]}
    assert header.to_json() == header_json
    # A reader that re-encodes keeps what it did not understand.
    assert encode_blob(header, PAYLOAD) == data


def test_from_json_accepts_a_header_without_optional_keys():
    minimal = _header().to_json()
    for optional in ("format", "qualname", "module", "signature"):
        del minimal[optional]
    header = BlobHeader.from_json(minimal)
    assert (header.format, header.qualname, header.module, header.signature) == (FORMAT_VERSION, "", "", None)


@pytest.mark.parametrize(
    "key",
    [
        "name",
        "hash",
        "python",
        "cloudpickle",
        "requirements",
        "source",
        "created",
        "payload_sha256",
        "payload_size",
    ],
)
def test_missing_required_key_is_named(key):
    header_json = _header().to_json()
    del header_json[key]

    with pytest.raises(IntegrityError, match=f"missing the required key '{key}'") as info:
        decode_blob(_raw_blob(header_json, PAYLOAD), source=SOURCE)
    assert SOURCE in str(info.value)
    with pytest.raises(IntegrityError, match=key):
        BlobHeader.from_json(header_json)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("name", 3),
        ("payload_size", "26"),
        ("payload_size", True),
        ("format", "1"),
        ("requirements", {"numpy": 1}),
        ("requirements", ["numpy"]),
        ("source", None),
        ("signature", "not-a-dict"),
    ],
)
def test_wrongly_typed_header_field_is_an_integrity_error(key, value):
    header_json = {**_header().to_json(), key: value}
    with pytest.raises(IntegrityError, match=f"'{key}' has the wrong type") as info:
        decode_blob(_raw_blob(header_json, PAYLOAD), source=SOURCE)
    assert SOURCE in str(info.value)


def test_from_json_does_not_share_dicts_with_its_input():
    header_json = _header().to_json()
    header = BlobHeader.from_json(header_json)
    header_json["requirements"]["numpy"] = "0.0"
    assert header.requirements == {"numpy": "1.26.4"}


def test_expected_hash_mismatch():
    data = encode_blob(_header(), PAYLOAD)
    with pytest.raises(IntegrityError, match=f"expected {OTHER_HASH}") as info:
        decode_blob(data, expected_hash=OTHER_HASH, source=SOURCE)
    assert SOURCE in str(info.value)
    assert decode_blob(data, expected_hash=HASH).payload == PAYLOAD


def test_expected_name_mismatch():
    data = encode_blob(_header(), PAYLOAD)
    with pytest.raises(IntegrityError, match="expected 'OtherFilter'") as info:
        decode_blob(data, expected_name="OtherFilter", source=SOURCE)
    assert SOURCE in str(info.value)


def test_newer_format_asks_for_an_upgrade():
    header_json = {**_header().to_json(), "format": FORMAT_VERSION + 1}
    data = _raw_blob(header_json, PAYLOAD)
    message = f"written by a newer remoteimport (format {FORMAT_VERSION + 1}); upgrade remoteimport on this host"

    for read in (decode_blob, read_header):
        with pytest.raises(IncompatibleBlobError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
            read(data, source=SOURCE)
        assert SOURCE in str(info.value)


def test_newer_format_wins_over_missing_keys():
    # A newer writer may drop keys we require: the helpful answer is still "upgrade", not "corrupt".
    data = _raw_blob({"format": FORMAT_VERSION + 1, "something": "else"}, PAYLOAD)
    with pytest.raises(IncompatibleBlobError, match="upgrade remoteimport"):
        decode_blob(data)


def test_encode_refuses_a_header_for_another_payload():
    header = _header()
    with pytest.raises(ValueError, match="does not describe this payload"):
        encode_blob(header, PAYLOAD + b"!")
    with pytest.raises(ValueError, match="does not describe this payload"):
        encode_blob(header, _flip(PAYLOAD, 3, 0x01))  # same size, different digest
    with pytest.raises(ValueError, match="does not describe this payload"):
        encode_blob(replace(header, payload_size=header.payload_size + 1), PAYLOAD)


def test_encode_refuses_a_format_it_does_not_write():
    with pytest.raises(ValueError, match="writes format"):
        encode_blob(replace(_header(), format=FORMAT_VERSION + 1), PAYLOAD)


def test_read_header_works_when_the_payload_is_corrupt():
    data = encode_blob(_header(), PAYLOAD)
    corrupt = _flip(data, len(data) - 1, 0xFF)
    truncated = data[:-5]

    for bad in (corrupt, truncated):
        with pytest.raises(IntegrityError):
            decode_blob(bad)
        assert read_header(bad) == _header()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "not a remoteimport blob"),
        (MAGIC, "not a remoteimport blob"),
        (b"PK\x03\x04" + b"\x00" * 40, "not a remoteimport blob"),
        (MAGIC + struct.pack(">I", 1000) + b"{}", "runs past the end"),
        (MAGIC + struct.pack(">I", 2) + b"\xff\xfe", "not valid UTF-8 JSON"),
        (MAGIC + struct.pack(">I", 3) + b"{x}", "not valid UTF-8 JSON"),
        (MAGIC + struct.pack(">I", 2) + b"[]", "not an object"),
        # through json's C scanner (a header that starts as an object), not json.loads
        (MAGIC + struct.pack(">I", 5 + 100_000) + b'{"a":' + b"[" * 100_000, "nested too deeply"),
        (MAGIC + struct.pack(">I", 9) + b'{"a":1}{}', "not valid UTF-8 JSON"),
        (MAGIC + struct.pack(">I", 7) + b'{"a":1,', "not valid UTF-8 JSON"),
        (MAGIC + struct.pack(">I", 6) + b'{"a":\x00', "not valid UTF-8 JSON"),
    ],
)
def test_malformed_blobs_are_refused_with_the_source_named(data, problem):
    with pytest.raises(IntegrityError, match=problem) as info:
        decode_blob(data, source=SOURCE)
    message = str(info.value)
    assert SOURCE in message
    assert "NOT unpickled" in message


def test_header_is_utf8_not_sniffed_as_utf16():
    # json.loads(bytes) would guess UTF-16 from the NUL pattern; the format says UTF-8.
    header_bytes = json.dumps(_header().to_json()).encode("utf-16-le")
    data = MAGIC + struct.pack(">I", len(header_bytes)) + header_bytes + PAYLOAD
    with pytest.raises(IntegrityError, match="not valid UTF-8 JSON"):
        decode_blob(data)


def test_truncated_and_corrupt_payload_messages():
    data = encode_blob(_header(), PAYLOAD)
    with pytest.raises(IntegrityError, match="truncated") as info:
        decode_blob(data[:-1], source=SOURCE)
    assert SOURCE in str(info.value) and "NOT unpickled" in str(info.value)

    with pytest.raises(IntegrityError, match="sha256") as info:
        decode_blob(_flip(data, len(data) - 1, 0x01), source=SOURCE)
    assert SOURCE in str(info.value) and "NOT unpickled" in str(info.value)


def test_trailing_bytes_after_the_payload_are_refused():
    data = encode_blob(_header(), PAYLOAD)
    with pytest.raises(IntegrityError, match="payload is"):
        decode_blob(data + b"\x00")


def test_every_truncation_of_a_small_blob_is_refused():
    data = encode_blob(_header(), PAYLOAD)
    for cut in range(len(data)):
        with pytest.raises((IntegrityError, IncompatibleBlobError)):
            decode_blob(data[:cut])


def test_signed_message_covers_the_whole_header_but_the_signature():
    header = _header()
    message = signed_message(header)
    assert message.startswith(b"remoteimport-signature-v2\x00")
    assert signed_message(replace(header, signature={"algorithm": "ed25519", "value": "x"})) == message
    for changed in (
        replace(header, name="MyFilter2"),
        replace(header, hash=OTHER_HASH),
        replace(header, payload_sha256="00" * 32),
        replace(header, payload_size=header.payload_size + 1),
        replace(header, python="3.12"),
        replace(header, cloudpickle="9.9"),
        replace(header, requirements={}),
        replace(header, requirements={**header.requirements, "numpy": "2.0"}),
        replace(header, source={}),
        replace(header, source={name: text + "#" for name, text in header.source.items()}),
        replace(header, created="2030-01-01T00:00:00+00:00"),
        replace(header, format=1),
        replace(header, qualname="x.MyFilter"),
        replace(header, module="x"),
        replace(header, extra={"new": 1}),
    ):
        assert signed_message(changed) != message, changed


def test_legacy_signed_message_covered_only_name_hash_and_digest():
    header = _header()
    message = legacy_signed_message(header)
    assert message == (
        b"remoteimport-signature-v1\x00MyFilter\x00" + HASH.encode() + b"\x00" + header.payload_sha256.encode()
    )

    unrelated = replace(
        header,
        python="3.12",
        cloudpickle="9.9",
        requirements={},
        source={},
        created="2030-01-01T00:00:00+00:00",
        payload_size=1,
        qualname="x.MyFilter",
        module="x",
        signature={"algorithm": "ed25519"},
        extra={"new": 1},
    )
    assert legacy_signed_message(unrelated) == message

    for changed in (
        replace(header, name="MyFilter2"),
        replace(header, hash=OTHER_HASH),
        replace(header, payload_sha256="00" * 32),
    ):
        assert legacy_signed_message(changed) != message


def test_legacy_signed_message_refuses_nul():
    with pytest.raises(ValueError, match="NUL"):
        legacy_signed_message(replace(_header(), name="My\x00Filter"))


def test_blob_module_stays_pure():
    """blob.py imports only remoteimport.errors and the pure remoteimport._record from the package, and
    cloudpickle only lazily."""
    tree = ast.parse(Path(__file__).parents[1].joinpath("remoteimport", "blob.py").read_text())
    top_level = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            top_level.add(node.module)
    assert "cloudpickle" not in top_level
    pure = {"remoteimport.errors", "remoteimport._record"}
    assert {name for name in top_level if name.startswith("remoteimport")} == pure
    assert not top_level & {"os", "io", "pathlib", "fsspec", "socket", "urllib", "shutil", "tempfile"}


# --- properties ---------------------------------------------------------------------------------------------

hashes = st.binary(min_size=32, max_size=32).map(bytes.hex)
payloads = st.binary(max_size=512)
text_dicts = st.dictionaries(st.text(max_size=20), st.text(max_size=80), max_size=4)


@st.composite
def blobs(draw) -> tuple[BlobHeader, bytes]:
    payload = draw(payloads)
    header = make_header(
        draw(st.text(max_size=40)),
        draw(hashes),
        payload,
        python=draw(st.sampled_from(["3.10", "3.11", "3.12"])),
        cloudpickle_version=draw(st.text(max_size=10)),
        requirements=draw(text_dicts),
        source=draw(text_dicts),
        created=draw(st.text(max_size=30)),
        qualname=draw(st.text(max_size=40)),
        module=draw(st.text(max_size=40)),
    )
    signature = draw(st.none() | text_dicts)
    return header.with_signature(signature), payload


@given(blobs())
def test_property_round_trip(blob):
    header, payload = blob
    data = encode_blob(header, payload)
    assert decode_blob(data, expected_hash=header.hash, expected_name=header.name) == Blob(header, payload)
    assert read_header(data) == header


@given(blobs(), st.data())
def test_property_any_flipped_payload_byte_is_caught(blob, data):
    header, payload = blob
    encoded = encode_blob(header, payload)
    start = _header_end(encoded)
    if start == len(encoded):
        return  # empty payload: nothing to flip
    index = data.draw(st.integers(start, len(encoded) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")

    with pytest.raises(IntegrityError, match="sha256"):
        decode_blob(_flip(encoded, index, mask))


@given(blobs(), st.data())
def test_property_any_truncation_is_refused(blob, data):
    header, payload = blob
    encoded = encode_blob(header, payload)
    cut = data.draw(st.integers(0, len(encoded) - 1), label="cut")

    with pytest.raises((IntegrityError, IncompatibleBlobError)):
        decode_blob(encoded[:cut])


@settings(max_examples=300)
@given(blobs(), st.data())
def test_property_a_flipped_header_byte_never_yields_other_payload(blob, data):
    header, payload = blob
    encoded = encode_blob(header, payload)
    index = data.draw(st.integers(0, _header_end(encoded) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")

    try:
        decoded = decode_blob(_flip(encoded, index, mask))
    except (IntegrityError, IncompatibleBlobError):
        return
    assert decoded.payload == payload
    assert decoded.header.payload_sha256 == header.payload_sha256


# Names that can be signed: no NUL (refused) and no lone surrogates (not encodable as UTF-8).
signable_names = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"))


@given(st.tuples(signable_names, hashes, hashes), st.tuples(signable_names, hashes, hashes))
def test_property_signed_message_is_injective(first, second):
    def message(name: str, class_hash: str, digest: str) -> bytes:
        return signed_message(replace(_header(), name=name, hash=class_hash, payload_sha256=digest))

    assert (message(*first) == message(*second)) == (first == second)


@given(st.tuples(signable_names, hashes, hashes), st.tuples(signable_names, hashes, hashes))
def test_property_legacy_signed_message_is_injective(first, second):
    def message(name: str, class_hash: str, digest: str) -> bytes:
        return legacy_signed_message(replace(_header(), name=name, hash=class_hash, payload_sha256=digest))

    assert (message(*first) == message(*second)) == (first == second)


@given(signable_names, signable_names)
def test_property_name_boundary_cannot_shift(name, suffix):
    # Moving characters between the name and the hash must change the message.
    header = replace(_header(), name=name)
    shifted = replace(header, name=name + suffix[:1], hash=suffix[1:2] + header.hash)
    if shifted.name == header.name:
        return
    assert signed_message(shifted) != signed_message(header)
    assert legacy_signed_message(shifted) != legacy_signed_message(header)


# Headers are read with json's C scanner directly (blob._loads: no `re`, which the json package imports);
# whatever the text, the result or the error must be json.loads's.
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(
    st.dictionaries(st.text(), _json_values, max_size=6),
    st.sampled_from([{}, {"indent": 1}, {"separators": (",", ":")}, {"ensure_ascii": False}]),
    st.sampled_from(["", " ", "\n", "x", "}", " {}"]),
)
@settings(max_examples=300)
def test_header_json_reads_exactly_as_json_loads(document: dict, style: dict, suffix: str) -> None:
    from remoteimport.blob import _loads

    text = json.dumps(document, **style) + suffix
    try:
        expected = json.loads(text)
    except ValueError as error:
        with pytest.raises(ValueError) as raised:
            _loads(text)
        assert str(raised.value) == str(error)
    else:
        assert _loads(text) == expected


@pytest.mark.parametrize(
    "text", ['{"a": NaN, "b": -Infinity}', '{"a": 1e400}', '{"a": "\\ud800"}', '{"a": [1, {"b": 2}]}']
)
def test_header_json_constants_and_edge_cases_read_as_json_loads(text: str) -> None:
    from remoteimport.blob import _loads

    assert repr(_loads(text)) == repr(json.loads(text))


def test_reading_a_blob_imports_neither_json_nor_re() -> None:
    import subprocess

    data = encode_blob(make_header("A", "0" * 64, b"x"), b"x")
    code = (
        "import sys; from remoteimport.blob import decode_blob; "
        f"assert decode_blob({data!r}).header.name == 'A'; "
        "print(sorted(m for m in ('json', 're', 'dataclasses', 'typing', 'hashlib') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
