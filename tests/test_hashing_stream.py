"""Issue 24: the hasher streams its encoding, and every hash is what it was.

A class's digest is fed as the walk goes, in bounded chunks (hashing/stream.py), never made from one joined
string. The canonical text is unchanged, so are all hashes: pinned here as computed before the change, for
classes with large and varied values (MB of bytes, a bytearray, text with astral characters and a lone
surrogate, big nested containers, sets whose items share a prefix longer than a chunk, a class of 400 methods,
numpy arrays) and for the hash corpus. In-process checks: the digest does not depend on the chunk size, the
size from which a value is held by reference or how often pieces are fed; it is the SHA-256 of the text the
walk describes (``_Encoder.root``); sorting by chunks agrees with sorting the joined texts.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import shutil
import types
from pathlib import Path

import pytest
from hashing_support import hash_in_subprocess, write_modules
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remoteimport import class_hash, hashing
from remoteimport.hashing import encoder, stream

CORPUS_DIR = Path(__file__).resolve().parent / "hash_corpus"

# ---------------------------------------------------------------------------------------------------------
# Pinned hashes, computed before the hasher streamed (the same in fresh processes under any PYTHONHASHSEED).

NOISE_SOURCE = r'''
import hashlib


def noise(size, seed):
    """Deterministic bytes: a SHA-256 counter stream."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(b"%d:%d" % (seed, counter)).digest()
        counter += 1
    return bytes(out[:size])
'''

LARGE_VALUES_SOURCE = r"""
from stream_noise import noise

BIG = noise(3 * 2**20 + 17, 1)


class Tagged(bytes):
    pass


def _closure():
    table = noise(2**20 + 3, 5)

    def lookup(index):
        return table[index]

    return lookup


lookup = _closure()


def with_default(index, table=BIG[: 2**21]):
    return table[index]


class WithBytes:
    blob = BIG
    empty = b""
    small = BIG[:100]

    def size(self):
        return len(self.blob)


class WithBytearray:
    buffer = bytearray(noise(2**21 + 5, 2))


class WithText:
    # non-ASCII, astral, and a lone surrogate (encoded with surrogatepass): chunks must not split them apart
    text = "h\u00e9llo w\u00f6rld \u2713 \U0001d518 " * 200_000 + "\ud800 tail"
    ascii = "abcdefghij" * 300_000


class WithNested:
    rows = [{"id": i, "name": f"row{i}", "tags": (i % 3, str(i % 5)), "weights": [i * 0.5, -i]} for i in range(50_000)]
    index = {f"k{i}": i * i for i in range(50_000)}
    flags = frozenset(range(0, 100_000, 3))


class WithLargeSorted:
    # items of one length sharing a long prefix: sorting them compares past any chunk boundary
    pair = frozenset({BIG, BIG[:-1] + b"x"})
    texts = frozenset({"a" * 3_000_000 + "b", "a" * 3_000_000 + "c", "short"})
    mapping = {"first": BIG, "second": bytearray(BIG[:1000]), b"k" * 10: BIG[:-1] + b"y", "third": Tagged(BIG)}
    nested = {(BIG, 1): "one", (BIG, 2): "two", (BIG[:-1] + b"z", 0): "zero"}

    def pick(self, key):
        return self.mapping[key]
"""

ARRAYS_SOURCE = r"""
import numpy

from stream_noise import noise


class WithArrays:
    matrix = numpy.arange(1_000_000, dtype=numpy.float64).reshape(1000, 1000)
    raw = numpy.frombuffer(noise(2**21, 3), dtype=numpy.uint8)
    fortran = numpy.asfortranarray(numpy.arange(10_000, dtype=numpy.int32).reshape(100, 100))
"""


def many_methods_source(count: int = 400) -> str:
    lines = ["class ManyMethods:", "    base = 3", ""]
    for number in range(count):
        lines.append(f"    def method_{number}(self, x, y={number}):")
        lines.append(f"        return (x * {number} + y) % (self.base + {number % 7})")
        lines.append("")
    return "\n".join(lines)


PINNED_SOURCES = {
    "stream_noise": NOISE_SOURCE,
    "stream_large": LARGE_VALUES_SOURCE,
    "stream_methods": many_methods_source(),
}

PINNED = {
    "stream_large.Tagged": "7233328f205e896bd544d2d2002e890162bada2442f9383e81d62e6b7792b83f",
    "stream_large.WithBytearray": "2511bbc7234094b87dca764a1a8b1eb0ed1d7c7a033d81aaab8931c362f0c44b",
    "stream_large.WithBytes": "a4dad6d29201d24b993937f99dac3f3e5c0a03e3e945770379fb797517d1ef94",
    "stream_large.WithLargeSorted": "30884403856d83b9d6c7a8bd924703b28485bbbc6a1b361549d47750a28ff280",
    "stream_large.WithNested": "a47fc2afe8c0e2d5799b6b833ffe3cb9529bbc03281511de864d3ca38395f68a",
    "stream_large.WithText": "9b49ac3c2773d75a8ddb612f67cf448377577295b8a6a2c75820246255d7b06a",
    "stream_large._closure": "80874d3206ffcb9c3de3048e3e0b592523ccdfc809526b7ea48176a9b43be5e5",
    "stream_large.lookup": "355cc789081974986fe55ea974ebb6e106e41ef993bca524b99acb99cb77c314",
    "stream_large.with_default": "581b1e95b7b56858d2dc93aae83bb26e87d1869d1fae6b07fb8532736e148f33",
    "stream_methods.ManyMethods": "7506a9f791be0ef311bf3c98d7a983e4f3e257d31eb7c53b80ca60beec2c2d85",
    "stream_noise.noise": "ced61a8a771972215b9d11bd6091299f1fd54db3693feda392911ffa96d9d9d8",
}
CORPUS = {
    "corpus_closures.MadeA": "1feb4b35c9a0fa17722024ebae289655e123ad5684eeb8dbb033187dd79fc37f",
    "corpus_closures.UsesClosures": "2cc1d542de3a6736a3bb7a0d8666d71a8de990aa53c988dba9228b296e742090",
    "corpus_closures.counter": "63e22cab0567e746ea10746e4fcaf1ceeea26d49c81be9d4ab88e75c0ee879c6",
    "corpus_closures.make_class": "7352e48ab5f27fd1021a03c84f07ed022047291210fe5347c76b2b44fecb23b6",
    "corpus_closures.make_counter": "5d757dc8798b3ba478bc85de7ceb92e831fe630f2f262066b58a2e77c34ad822",
    "corpus_closures.make_multiplier": "3b8f2eebde20c7ca784b469a26d149f687d666483b9f2735e275f59c7830ce13",
    "corpus_closures.triple": "69992e57c8ed819fcd42ca14cd9f82a3fd6e89c67589d1f49bb087075dd9d304",
    "corpus_dataclasses.KeywordOnly": "bee08a9bba4249c474a6b0fb9abb35eba6ad0b1a022272b91fb7870697470c89",
    "corpus_dataclasses.Options": "4a7ea8ecbc476e8f2fa69bb6d96a3051b2c94f49da85ec8a0fbcc0acfc7e9f55",
    "corpus_dataclasses.Outer": "48fcab76b43d3c93a7549e88b4e1262af6c5855fb967ae54b2363abe3b5ab6fc",
    "corpus_dataclasses.Slotted": "f427391a5d310e012e2ddb88d3e6358ffde08a3abcd214e8de556292117bcf8a",
    "corpus_dataclasses.Version": "15bda77fc285343105bce22e7a3b9616f57b91aa818e10714f436fae3278f480",
    "corpus_decorators.Decorated": "3f8e1fc1fcdbee13ce7165d1f4a86ae7f6d21f6d4a0f1f6e38268dfaaaec3ed6",
    "corpus_decorators._render_int": "3bf264ddb68a5421c1aba3b494c001c53d0359c1959464afe726a330357512d0",
    "corpus_decorators._scale": "09cf0acb19408ecf78d88c373771a064dad0afdd149a3a40f1fcac2da58bc3a4",
    "corpus_decorators.render": "35f7ecc84ad92a8c871feb5cc1639c28727a62534308c2dc4ce6c997b540258a",
    "corpus_decorators.traced": "6f8070a3e8ee5761687c3ae37fe8a546566ba1838180342cbaf0bee42ea62311",
    "corpus_decorators.traced_function": "60686663aa419250056cd256931484f37c38d72688f72fa775c61485450f1f46",
    "corpus_enums.Color": "f9f376d84d1df0a214b6df46a962e88d66c9a73620afb997db7ce9d7538be5af",
    "corpus_enums.Level": "a99aa46472b6426e7a2e22fdc3bb14028fe7cc7b5eeff93aecebb76aac692489",
    "corpus_enums.Painter": "2fc4808b2d080cc23b7c63f977dd0f11b34bf845117f146ac7db88996039b5f4",
    "corpus_enums.Permission": "7becf8b0511359ef8b351ef5a17ad861e262811f1a14486867dbf60e1295f674",
    "corpus_fstrings.Formatting": "08708379057e270575ed8b8b67446064e6841a316df36a1fee4961320148d0f9",
    "corpus_fstrings.format_helper": "1be58209ba4dab29a3f167ceaeac5bbefdca976ba87d2c708c8bea3fac9e7b72",
    "corpus_helpers.HelperClass": "f7a93b1cb84b34c1e1b7058a2d1d05b785962439d4c8d28ee7314bfc47e0abc2",
    "corpus_helpers.UsesHelpers": "ca0b044886b34c8e886c845fa80e32f5ef1d6026b11c7106906d4536355f5c78",
    "corpus_helpers._clip": "8cf79f478a921f36b78c4dd012bbe6366d6cb775465436ce8df5ce700ec80c04",
    "corpus_helpers._normalize": "cea8397d1532d40246b4fdd5b7a864016d953a861bb47b489e5267c9b6bf9f88",
    "corpus_helpers.is_even": "4f78aa6754db0d7a56690a612e427caa0f9ac1452bdfff5734155c30957f1fb8",
    "corpus_helpers.is_odd": "7ef9fc8df2727182cd7b795d85e22a331f5ee2c6a99be2c6cc480270fd4f6e37",
    "corpus_helpers.uses_cycle": "32f50fa271f806d7083503cc9d3d1d9bde8aa286f923feb1e9d416a08c91f578",
    "corpus_inheritance.Combined": "0cf3eab95f961eeb5a112a726f647e628d939e46b6146d48d549d987129ebae3",
    "corpus_inheritance.Leaf": "38de2a07b7854ff085adf156ffc57a20fc67172e0c9b296ff5fcdba4a842685c",
    "corpus_inheritance.Middle": "efcd031e8e8fcc47e12ffb1b813055a5b2f46e041eb3aba05582171aaaa6990a",
    "corpus_inheritance.Mixin": "b70b0040fee4ce889159bf9ad840e8631316fd486620d00654bb2eb2482261b7",
    "corpus_inheritance.Root": "b95765963743bc442f67656ef3aea807f2cf669eaee4fa84417c1d3f55e418c6",
    "corpus_inheritance.WithInitSubclass": "0b3b6f1695f11c9011b7a788e8c1f96515ba6347d3034e05f9bede4e7bd31be7",
    "corpus_match.Matcher": "1d1ef4ea431ad42ef0fb349d47bbc8dc84f12229a7ff9d1b14e8d1373873e496",
    "corpus_match.Point": "739791ae6ce68502f75bf90a97626b62f91301069f3fcda070a3cadf0bcb9b22",
    "corpus_match.matched_function": "f88c53f510d64b5d02513bf753bb4c7c851527f862e76021dc8168de4790cd80",
    "corpus_nested.Nested": "a8b696a619301bd5a4638af34b86746a1dac4215b89db410b4a42b2c1019d10f",
    "corpus_nested.outer_function": "5a44a496e82908b3171f644c2e1604d402dd0b83e36132b954c6f004646dbd97",
    "corpus_plain.Attributes": "5b3f60f571bb66c778d123efaa335043710e4e54a0e78416f59960b8e24d648f",
    "corpus_plain.Constants": "745da6c4cd814aea2b6fb07145f49476c0fd8695f7cbdc9dbddd1f709d0acfab",
    "corpus_plain.Defaults": "6dcfcb8ac515790d06248a79797312451673a47501e597ebaf2988e44ebe7d9a",
    "corpus_plain.plain_function": "d766dcb2445d0ebce404e67bb30359d88d476ae9b8c0cabe80276b168eea06cd",
    "corpus_typing.Annotated": "5c64c377cc5b2cf4849f0554dd007edf75d75ddbf5056c7ca192807c454c3f2c",
    "corpus_typing.Protocolish": "ee1332397af8e962014b14c26400abcc109c4467447b51419eb6cda9911b581e",
    "corpus_typing.Record": "148b6b63df857abb7f0aa0306f11ec849a5411ac4eb38ebade9aac920e5b1cd9",
    "corpus_typing.annotated_function": "08dffa5449fbd456e5e62ce917c7258463f61cf15e3434089c0aa44ea0767f49",
}

# numpy pickles an array through numpy._core (numpy 2) or numpy.core (numpy 1): the names are in the hash.
PINNED_ARRAYS = {
    "2": {"stream_arrays.WithArrays": "ededaaaa5cb41200250485d06af873278900953bed03353af50ccf74e78bcc1d"},
}


def test_large_values_hash_as_before_in_a_fresh_process(tmp_path: Path) -> None:
    write_modules(tmp_path, PINNED_SOURCES)
    assert hash_in_subprocess(tmp_path, dict.fromkeys(PINNED_SOURCES)) == PINNED


def test_numpy_arrays_hash_as_before(tmp_path: Path) -> None:
    numpy = pytest.importorskip("numpy")
    pinned = PINNED_ARRAYS.get(numpy.__version__.split(".")[0])
    if pinned is None:
        pytest.skip(f"no hashes pinned under numpy {numpy.__version__}")
    write_modules(tmp_path, {"stream_noise": NOISE_SOURCE, "stream_arrays": ARRAYS_SOURCE})
    assert hash_in_subprocess(tmp_path, {"stream_arrays": None}) == pinned


def test_the_corpus_hashes_as_before(tmp_path: Path) -> None:
    corpus = shutil.copytree(CORPUS_DIR, tmp_path / "corpus", ignore=shutil.ignore_patterns("__pycache__"))
    targets = {path.stem: None for path in sorted(corpus.glob("corpus_*.py"))}
    assert hash_in_subprocess(corpus, targets, env={"PYTHONHASHSEED": "12345"}) == CORPUS


# ---------------------------------------------------------------------------------------------------------
# In process: the digest is the text's, whatever the chunk sizes.


def holder(**attributes: object) -> type:
    """A class holding ``attributes`` (no methods: no source needed)."""
    return types.new_class("Holder", (), {}, lambda namespace: namespace.update(attributes))


def text_digest(obj: type) -> str:
    """The SHA-256 of the whole text, made whole: what the hash was before it streamed."""
    text = encoder._Encoder().root(obj)
    return hashlib.sha256(f"{hashing.SCHEME}\n{text}".encode("utf-8", "surrogatepass")).hexdigest()


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 3 characters, values held by reference from 4 on, pieces fed every 2: every boundary is hit."""
    monkeypatch.setattr(stream, "CHUNK", 3)
    for module in (stream, encoder):
        monkeypatch.setattr(module, "LARGE", 4)
        monkeypatch.setattr(module, "SPILL", 2)


class Shade(enum.Enum):
    LIGHT = "\U0001d518" * 5
    DARK = b"\x00\xff" * 5


def samples() -> dict[str, type]:
    shared = bytes(range(256)) * 40
    text = "h\u00e9llo \u2713 \U0001d518 \ud800 " * 300
    return {
        "bytes": holder(blob=shared, empty=b"", one=b"\x7f"),
        "bytearray": holder(buffer=bytearray(shared), short=bytearray(b"ab")),
        "text": holder(text=text, ascii="x" * 10_000),
        "sorted": holder(
            pair=frozenset({shared, shared[:-1] + b"x", shared[:-1]}),
            texts={text + "b", text + "a", "a", ""},
            mapping={"k": shared, b"k": bytearray(shared), ("k", shared): text, 1: [shared, {text}]},
        ),
        "nested": holder(rows=[{"id": i, "tags": (i % 3, str(i))} for i in range(300)], enum=Shade),
        "function": holder(pick=functools.partial(max, shared, key=len)),
    }


def test_the_digest_does_not_depend_on_chunk_sizes(tiny_chunks: None) -> None:
    for name, cls in samples().items():
        assert class_hash(cls) == text_digest(cls), name


def test_the_digest_is_the_sha256_of_the_text() -> None:
    for name, cls in samples().items():
        assert class_hash(cls) == text_digest(cls), name


def test_a_large_value_is_held_by_reference_never_copied_into_the_text() -> None:
    blob, text, buffer = b"\x01" * stream.LARGE, "\u2713" * stream.LARGE, bytearray(stream.LARGE)
    pieces: list[object] = []
    encoder._Encoder()._class_body(holder(blob=blob, text=text, buffer=buffer), pieces, "Holder")
    held = [piece for piece in pieces if type(piece) is not str or len(piece) >= stream.LARGE]
    assert [type(piece) for piece in held] == [stream._Hex, stream._Hex, str]  # members in name order
    assert held[0].data is blob and held[1].data is buffer and held[2] is text


values = st.recursive(
    st.binary(max_size=40)
    | st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=()), max_size=40)
    | st.integers(),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.frozensets(st.binary(max_size=30) | st.text(max_size=30), max_size=5)
        | st.dictionaries(st.text(max_size=6) | st.binary(max_size=6), inner, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values)
def test_any_value_digests_as_its_text_with_tiny_chunks(tiny_chunks: None, value: object) -> None:
    cls = holder(value=value)
    streamed = class_hash(cls)
    with pytest.MonkeyPatch.context() as unpatched:  # the text, sorted the plain way (every item is small)
        for module in (stream, encoder):
            unpatched.setattr(module, "LARGE", 1 << 30)
        assert streamed == text_digest(cls)


pieces = st.lists(
    st.text(alphabet="ab\u00e9\U0001d518", max_size=8) | st.binary(max_size=5).map(stream._Hex), max_size=5
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(pieces, max_size=6))
def test_chunked_sorting_sorts_as_the_texts_do(tiny_chunks: None, items: list[list[str | stream._Hex]]) -> None:
    texts = [stream.text(item) for item in items]
    mixed = [text if index % 2 else item for index, (item, text) in enumerate(zip(items, texts, strict=True))]
    stream.in_order(mixed)
    assert [item if type(item) is str else stream.text(item) for item in mixed] == sorted(texts)
    for first in items:
        for second in items:
            a, b = stream.text(first), stream.text(second)
            assert stream._compare(first, second) == (a > b) - (a < b)
