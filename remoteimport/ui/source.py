"""Shipped source as the web view shows it: lines split into highlighted pieces, and the diff of two versions'
files as rows with line numbers and the changed characters of each changed line marked.

Everything here is plain data (text pieces and CSS class names); the templates escape the text, so no HTML is
built from store content in Python. Pygments is optional: without it every line is one plain piece. The hunks
are difflib's, as in ``remoteimport diff`` (:func:`remoteimport.compare.source_diff`): the same three lines of
context and the same ``@@`` headers.

>>> [row.kind for row in diff_file("a.py", "x = 1\\ny = 2\\n", "x = 1\\ny = 3\\n").hunks[0].rows]
['ctx', 'del', 'add']
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import re
from collections.abc import Iterable

CONTEXT = 3  # lines of context around a change, as `diff -u` and `remoteimport diff`
# Two paired lines (one removed, one added in its place) have their changed characters marked only when they
# are this alike: marking most of a rewritten line says less than colouring the line.
INTRA_LINE_MIN_RATIO = 0.4
_MAX_INTRA_LINE = 2_000  # characters; longer lines are coloured whole (character diffs are quadratic)


@dataclasses.dataclass(frozen=True)
class Piece:
    """Part of a line: its text, the Pygments class of its token ("" plain) and whether it changed."""

    text: str
    css: str = ""
    changed: bool = False


@dataclasses.dataclass(frozen=True)
class Line:
    number: int
    pieces: tuple[Piece, ...]


@dataclasses.dataclass(frozen=True)
class Row:
    """A row of a unified diff: ``kind`` is "ctx", "del" or "add"; ``old``/``new`` the line numbers it has."""

    kind: str
    old: int | None
    new: int | None
    pieces: tuple[Piece, ...]


@dataclasses.dataclass(frozen=True)
class SplitRow:
    """A row of a side-by-side diff: the old line on the left, the new one on the right (None: no line there)."""

    left: Line | None
    left_kind: str
    right: Line | None
    right_kind: str


@dataclasses.dataclass(frozen=True)
class Hunk:
    header: str  # "@@ -3,7 +3,8 @@"
    rows: tuple[Row, ...]
    split: tuple[SplitRow, ...]


@dataclasses.dataclass(frozen=True)
class FileChange:
    filename: str
    status: str  # "modified", "added" or "removed"
    added: int
    removed: int
    hunks: tuple[Hunk, ...]

    @property
    def anchor(self) -> str:
        return "file-" + "".join(c if c.isalnum() else "-" for c in self.filename)


def highlighted_lines(text: str) -> list[tuple[Piece, ...]]:
    """``text`` split into lines (no line ends), each line the pieces of its Python tokens.

    >>> highlighted_lines("x = 1\\n")[0][0]
    Piece(text='x', css='n', changed=False)
    """
    lines = text.splitlines()
    try:
        from pygments import lex
        from pygments.lexers import PythonLexer
        from pygments.token import STANDARD_TYPES
    except ImportError:  # the plain fallback: Pygments is the `ui` extra's, not a requirement
        return [(Piece(line),) if line else () for line in lines]
    pieces: list[list[Piece]] = [[]]
    for token, value in lex(text, PythonLexer(stripnl=False, ensurenl=False)):
        css = _css_class(token, STANDARD_TYPES)
        first, *rest = value.split("\n")
        for index, part in enumerate([first, *rest]):
            if index:
                pieces.append([])
            if part:
                pieces[-1].append(Piece(part, css))
    # A token's line ends are the text's: splitlines() also splits at \r, \x0c ... which the lexer keeps inside
    # lines. Fall back to plain lines then, rather than misnumber them.
    found = [tuple(row) for row in pieces[: len(lines)]]
    if [_text(row) for row in found] != lines:
        return [(Piece(line),) if line else () for line in lines]
    return found


def _css_class(token: object, standard: dict[object, str]) -> str:
    while token is not None:
        if token in standard:
            return standard[token]
        token = getattr(token, "parent", None)
    return ""


def diff_file(filename: str, old: str | None, new: str | None) -> FileChange:
    """The change of one file from ``old`` to ``new`` (None: the version does not ship it)."""
    before, after = (old or "").splitlines(keepends=True), (new or "").splitlines(keepends=True)
    old_pieces, new_pieces = highlighted_lines(old or ""), highlighted_lines(new or "")
    matcher = difflib.SequenceMatcher(None, before, after)
    hunks = []
    added = removed = 0
    for group in matcher.get_grouped_opcodes(CONTEXT):
        rows: list[Row] = []
        split: list[SplitRow] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                    rows.append(Row("ctx", i + 1, j + 1, new_pieces[j]))
                    split.append(SplitRow(Line(i + 1, old_pieces[i]), "ctx", Line(j + 1, new_pieces[j]), "ctx"))
                continue
            removed += i2 - i1
            added += j2 - j1
            olds = [Line(i + 1, old_pieces[i]) for i in range(i1, i2)]
            news = [Line(j + 1, new_pieces[j]) for j in range(j1, j2)]
            for index in range(min(len(olds), len(news))):  # paired lines: mark what changed inside them
                olds[index], news[index] = _mark_changes(olds[index], news[index])
            rows.extend(Row("del", line.number, None, line.pieces) for line in olds)
            rows.extend(Row("add", None, line.number, line.pieces) for line in news)
            for left, right in itertools.zip_longest(olds, news):
                split.append(SplitRow(left, "del" if left else "empty", right, "add" if right else "empty"))
        first, last = group[0], group[-1]
        header = f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@"
        hunks.append(Hunk(header, tuple(rows), tuple(split)))
    status = "added" if old is None else "removed" if new is None else "modified"
    return FileChange(filename, status, added, removed, tuple(hunks))


def diff_sources(old: dict[str, str], new: dict[str, str]) -> list[FileChange]:
    """Every shipped file that differs between two versions, by file name (as ``remoteimport diff``)."""
    return [
        diff_file(filename, old.get(filename), new.get(filename))
        for filename in sorted(set(old) | set(new))
        if old.get(filename) != new.get(filename)
    ]


def _range(start: int, stop: int) -> str:
    """A hunk's line range as ``diff -u`` writes it (difflib's own formatting is private)."""
    length = stop - start
    first = start + 1 if length else start
    return str(first) if length == 1 else f"{first},{length}"


def _mark_changes(old: Line, new: Line) -> tuple[Line, Line]:
    """The two lines with the words (and spaces, and single symbols) that differ between them marked as changed:
    whole words, as a reader compares them, not scattered letters."""
    a, b = _text(old.pieces), _text(new.pieces)
    if not a or not b or len(a) > _MAX_INTRA_LINE or len(b) > _MAX_INTRA_LINE:
        return old, new
    a_words, b_words = _WORDS.findall(a), _WORDS.findall(b)
    matcher = difflib.SequenceMatcher(None, a_words, b_words, autojunk=False)
    if matcher.ratio() < INTRA_LINE_MIN_RATIO:
        return old, new
    a_at, b_at = _offsets(a_words), _offsets(b_words)
    old_changed, new_changed = [], []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            old_changed.append((a_at[i1], a_at[i2]))
            new_changed.append((b_at[j1], b_at[j2]))
    return Line(old.number, _split(old.pieces, old_changed)), Line(new.number, _split(new.pieces, new_changed))


_WORDS = re.compile(r"\w+|\s+|[^\w\s]")


def _offsets(words: list[str]) -> list[int]:
    """Where each word starts in the line, and the line's length last."""
    return [0, *itertools.accumulate(len(word) for word in words)]


def _text(pieces: Iterable[Piece]) -> str:
    return "".join(piece.text for piece in pieces)


def _split(pieces: tuple[Piece, ...], changed: list[tuple[int, int]]) -> tuple[Piece, ...]:
    """``pieces`` cut at the edges of the ``changed`` character ranges, the pieces inside them marked."""
    marks = [False] * len(_text(pieces))
    for start, stop in changed:
        marks[start:stop] = [True] * (stop - start)
    result: list[Piece] = []
    offset = 0
    for piece in pieces:
        for changed_run, run in itertools.groupby(range(offset, offset + len(piece.text)), key=marks.__getitem__):
            indexes = list(run)
            text = piece.text[indexes[0] - offset : indexes[-1] - offset + 1]
            result.append(Piece(text, piece.css, changed_run))
        offset += len(piece.text)
    return tuple(result)
