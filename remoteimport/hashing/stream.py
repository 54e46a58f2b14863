"""Where the encoding goes: text fed to SHA-256 as the walk makes it, in bounded chunks.

The canonical encoding is text, and a digest is the SHA-256 of its UTF-8 bytes (lone surrogates passed
through). It is never made whole. A :class:`_Stream` holds the small pieces the walker appends and feeds them
every :data:`SPILL` pieces; a large value goes in by :meth:`_Stream.feed`, a slice of :data:`CHUNK` characters
at a time (a ``bytes`` value as :class:`_Hex`, hexed a slice at a time, never copied whole). So hashing a class
with a 200 MB attribute costs a few MB besides the attribute, and the digest is the one of the text the walk
describes (what stored versions are named by).

A set's or dict's items are sorted by their text before they go on: each is encoded into a plain list of
pieces, which holds its large values by reference; :func:`in_order` compares those a chunk at a time.

    >>> stream = _Stream("x")
    >>> stream.append("s3:abc")
    >>> stream.feed(_Hex(b"\\x00\\xff"))
    >>> stream.hexdigest() == hashlib.sha256(b"xs3:abc00ff").hexdigest()
    True
"""

from __future__ import annotations

import binascii
import functools
import hashlib
from collections.abc import Iterator

#: Characters of text (or bytes of a value hexed) per digest update: what a large value costs in transient memory.
CHUNK = 1 << 20
#: ``str`` and ``bytes`` values at least this long go in by reference (bytes as :class:`_Hex`), never copied into
#: the text around them.
LARGE = 1 << 16
#: Small pieces a :class:`_Stream` holds before it feeds them to its digest.
SPILL = 1024


class _Hex:
    """The hex text of a large bytes-like value (what ``bytes.hex()`` gives), made a chunk at a time."""

    __slots__ = ("data",)

    def __init__(self, data: bytes | bytearray) -> None:
        self.data = data


class _Stream(list):  # type: ignore[type-arg]  # of small str pieces
    """An encoding fed to a SHA-256 as it is made. Small pieces are appended (``list.append``: the walker's hot
    path) and fed together once there are :data:`SPILL` of them (the walker calls :meth:`spill`); a large one is
    fed at once, in chunks (:meth:`feed`)."""

    __slots__ = ("_digest",)

    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self._digest = hashlib.sha256(prefix.encode("utf-8", "surrogatepass")) if prefix else hashlib.sha256()

    def spill(self) -> None:
        """Feed the small pieces held so far to the digest, :data:`SPILL` at a time, and forget them."""
        if len(self) <= SPILL:
            self._digest.update("".join(self).encode("utf-8", "surrogatepass"))
        else:  # a large set's items, which came at once
            for start in range(0, len(self), SPILL):
                self._digest.update("".join(self[start : start + SPILL]).encode("utf-8", "surrogatepass"))
        self.clear()

    def feed(self, piece: str | _Hex) -> None:
        """Feed a large piece, after what is held: a ``str`` a slice at a time (code points encode one by one, so
        the slices' bytes are the whole's), a :class:`_Hex` a slice of its value at a time."""
        self.spill()
        update = self._digest.update
        if type(piece) is _Hex:
            with memoryview(piece.data) as view:  # slices of a view: no copy of the value
                for start in range(0, len(view), CHUNK):
                    update(binascii.hexlify(view[start : start + CHUNK]))
        else:
            for start in range(0, len(piece), CHUNK):
                update(piece[start : start + CHUNK].encode("utf-8", "surrogatepass"))

    def put(self, piece: str | _Hex) -> None:
        """Add a piece of either size (a sorted item's: many may come at once, so it spills as it goes)."""
        if type(piece) is str and len(piece) < LARGE:
            self.append(piece)
            if len(self) >= SPILL:
                self.spill()
        else:
            self.feed(piece)

    def hexdigest(self) -> str:
        """The SHA-256 of the prefix and of everything put in, in hex."""
        self.spill()
        return self._digest.hexdigest()


def text(pieces: list[str | _Hex]) -> str:
    """The text of an encoding held as pieces (to read it: the hash never makes it)."""
    return "".join(piece if type(piece) is str else piece.data.hex() for piece in pieces)


def in_order(items: list[str | list[str | _Hex]]) -> None:
    """Sort sorted items in place, as their texts sort (code point order). An item is its text when it is small,
    else its pieces, compared with the others a chunk at a time (never joined)."""
    if all(type(item) is str for item in items):
        items.sort()  # the common case: plain string comparison
    else:
        items.sort(key=functools.cmp_to_key(_compare))


def _compare(first: str | list[str | _Hex], second: str | list[str | _Hex]) -> int:
    """-1, 0 or 1 as the text of ``first`` sorts before, with or after the text of ``second``."""
    if type(first) is str and type(second) is str:
        return (first > second) - (first < second)
    chunks_a, chunks_b = _text_chunks(first), _text_chunks(second)
    a: str | None = ""
    b: str | None = ""
    while True:
        if not a:
            a = next(chunks_a, None)
        if not b:
            b = next(chunks_b, None)
        if a is None or b is None:  # one text ended: it sorts first, unless both did
            return (a is not None) - (b is not None)
        common = min(len(a), len(b))
        head_a, head_b = a[:common], b[:common]
        if head_a != head_b:
            return -1 if head_a < head_b else 1
        a, b = a[common:], b[common:]


def _text_chunks(item: str | list[str | _Hex]) -> Iterator[str]:
    """The text of ``item`` in non-empty chunks of at most :data:`CHUNK` characters (small pieces as they are)."""
    for piece in (item,) if type(item) is str else item:
        if type(piece) is _Hex:
            data, step = piece.data, max(1, CHUNK // 2)
            for start in range(0, len(data), step):
                yield data[start : start + step].hex()
        else:
            for start in range(0, len(piece), CHUNK):
                yield piece[start : start + CHUNK]
