"""Tests for remoteimport.names: every name and hash is validated before it can become a storage path."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from remoteimport.errors import InvalidNameError, RemoteImportError
from remoteimport.names import (
    HASH_LENGTH,
    MIN_PREFIX,
    Reference,
    format_reference,
    is_hash_like,
    parse_reference,
    split_versioned,
    validate_hash,
    validate_name,
    validate_namespace,
)

FULL = "0123456789abcdef" * 4
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LOWER_HEX = re.compile(r"[0-9a-f]+")

# -- examples ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["MyFilter", "_private", "a", "A1_b2", "x" * 200])
def test_validate_name_accepts_plain_identifiers(name: str) -> None:
    assert validate_name(name) == name


BAD_NAMES = ["", "..", ".", "a/b", "/etc", "a\\b", "a.b", "1abc", "a b", "a-b", "a\x00b", "café", "x" * 201, "a\n", "@"]


@pytest.mark.parametrize("name", [*BAD_NAMES, None, 3])
def test_validate_name_refuses_everything_else(name: object) -> None:
    with pytest.raises(InvalidNameError) as caught:
        validate_name(name)
    assert isinstance(caught.value, RemoteImportError) and isinstance(caught.value, ValueError)
    assert repr(name) in str(caught.value)


@pytest.mark.parametrize("namespace", ["labchain_remote", "team.models", "a.b.c"])
def test_validate_namespace_accepts_dotted_identifiers(namespace: str) -> None:
    assert validate_namespace(namespace) == namespace


@pytest.mark.parametrize("namespace", ["", ".x", "x.", "a..b", "a/b", "1x", "x.1y", None])
def test_validate_namespace_refuses_malformed(namespace: object) -> None:
    with pytest.raises(InvalidNameError):
        validate_namespace(namespace)


@pytest.mark.parametrize("value", ["abcdef12", "ABCDEF12", FULL, FULL.upper(), FULL[: MIN_PREFIX + 1]])
def test_validate_hash_accepts_prefixes_and_lowercases(value: str) -> None:
    assert validate_hash(value) == value.lower()


@pytest.mark.parametrize("value", ["", "abcdef1", FULL + "0", "abcdefg1", "../../etc", " abcdef12", None, 12])
def test_validate_hash_refuses_malformed(value: object) -> None:
    with pytest.raises(InvalidNameError):
        validate_hash(value)


def test_prefix_shorter_than_eight_digits_is_refused_with_the_rule() -> None:
    with pytest.raises(InvalidNameError, match="8 to 64 hex digits"):
        validate_hash("abcdef1")


def test_full_hash_required_when_prefixes_are_not_allowed() -> None:
    assert validate_hash(FULL, allow_prefix=False) == FULL
    with pytest.raises(InvalidNameError, match="64 hex digits"):
        validate_hash(FULL[:63], allow_prefix=False)


def test_split_versioned() -> None:
    assert split_versioned("MyFilter") == ("MyFilter", None)
    assert split_versioned("MyFilter@ABCDEF12") == ("MyFilter", "abcdef12")
    for bad in ("MyFilter@", "MyFilter@@abcdef12", "My/Filter@abcdef12", "@abcdef12", "MyFilter@abc"):
        with pytest.raises(InvalidNameError):
            split_versioned(bad)


def test_parse_reference_examples() -> None:
    assert parse_reference("labchain_remote.MyFilter@0123ABCD") == Reference("labchain_remote", "MyFilter", "0123abcd")
    assert parse_reference("team.models.MyFilter") == Reference("team.models", "MyFilter", None)
    assert parse_reference(f"ns.X@{FULL}") == Reference("ns", "X", FULL)


@pytest.mark.parametrize(
    "reference",
    ["MyFilter", "", ".MyFilter", "ns.", "ns..X", "ns.X@abc", "ns/x.X", "ns.X@../../../etc", "ns.X/../Y", None],
)
def test_parse_reference_refuses_malformed(reference: object) -> None:
    with pytest.raises(InvalidNameError):
        parse_reference(reference)  # type: ignore[arg-type]


def test_format_reference() -> None:
    assert format_reference("ns", "X") == "ns.X"
    assert format_reference("ns", "X", "abcdef12") == "ns.X@abcdef12"


# -- properties -------------------------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,40}", fullmatch=True)
namespaces = st.lists(names, min_size=1, max_size=3).map(".".join)
versions = st.none() | st.text("0123456789abcdefABCDEF", min_size=MIN_PREFIX, max_size=HASH_LENGTH)
# Text biased towards the characters that matter (separators, traversal, NUL, hex) plus arbitrary unicode.
risky_text = st.text(st.sampled_from("./@\x00\\ aB_9f") | st.characters(), max_size=80)


@given(namespaces, names, versions)
def test_valid_references_round_trip(namespace: str, name: str, version: str | None) -> None:
    parsed = parse_reference(format_reference(namespace, name, version))
    assert parsed == Reference(namespace, name, version.lower() if version else None)
    assert format_reference(*parsed) == format_reference(namespace, name, parsed.version)


@given(risky_text)
@example("ns.x/../y")
@example("ns...")
@example("ns.\x00")
@example("ns.X@" + "a" * 8 + "/..")
def test_arbitrary_text_never_parses_to_a_path_like_name(text: str) -> None:
    try:
        reference = parse_reference(text)
    except InvalidNameError:
        return
    for part in [*reference.namespace.split("."), reference.name]:
        assert IDENTIFIER.fullmatch(part), reference
        assert not {"/", "\\", ".", "\x00"} & set(part) and part not in ("", "..")
    if reference.version is not None and is_hash_like(reference.version):
        assert LOWER_HEX.fullmatch(reference.version) and MIN_PREFIX <= len(reference.version) <= HASH_LENGTH
    elif reference.version is not None:  # a tag (tests/test_tags.py): a plain word, never a path
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", reference.version), reference


@given(risky_text)
def test_validate_name_returns_only_identifiers(text: str) -> None:
    try:
        name = validate_name(text)
    except InvalidNameError:
        return
    assert name == text and IDENTIFIER.fullmatch(name) and len(name) <= 200


@given(st.one_of(risky_text, st.text("0123456789abcdefABCDEF", max_size=70), st.binary(), st.integers(), st.none()))
def test_validate_hash_raises_or_returns_lowercase_hex_of_8_to_64(value: object) -> None:
    try:
        result = validate_hash(value)
    except InvalidNameError:
        return
    assert isinstance(result, str) and LOWER_HEX.fullmatch(result)
    assert MIN_PREFIX <= len(result) <= HASH_LENGTH


# names.py checks names, hashes and tags with string methods (no `re` on the import path); these are the
# regular expressions it replaced, and every input must be judged the same way.
_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")
_TAG_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_HEX_PATTERN = re.compile(r"[0-9a-fA-F]+")
_name_like = st.one_of(
    st.text(max_size=210),
    st.text(alphabet="abcXYZ019_-.@ \u212a\u0131é\n", max_size=70),
    st.text(alphabet="abcdefABCDEF0123456789", max_size=70),
    st.integers(1, 205).map(lambda n: "a" * n),
)


@given(_name_like)
@settings(max_examples=400)
def test_string_checks_judge_as_the_regular_expressions_did(text: str) -> None:
    from remoteimport import names

    assert names._is_name(text) == bool(_NAME_PATTERN.fullmatch(text))
    assert names._is_tag_shaped(text) == bool(_TAG_PATTERN.fullmatch(text))
    assert names.is_hash_like(text) == bool(_HEX_PATTERN.fullmatch(text))


@given(st.text(alphabet="0123456789abcdefABCDEFg", max_size=70))
@example("ab" * 32)
@example("AB" * 32)
@example("ab" * 32 + "\n")
def test_is_full_hash_is_a_stored_hash_exactly(text: str) -> None:
    from remoteimport.names import is_full_hash

    assert is_full_hash(text) == bool(re.fullmatch(r"[0-9a-f]{64}", text))
    if is_full_hash(text):
        assert validate_hash(text, allow_prefix=False) == text
