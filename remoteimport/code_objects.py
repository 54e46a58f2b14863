"""How the code of by-value functions travels in a payload, and how the loading host maps it to shipped source.

How cloudpickle reduces a code object is its own business: 3.1.3 started replacing every ``co_filename`` with
``"<dynamic-code>"``, and a loader that found the shipped source through ``co_filename`` stopped working. So
remoteimport's pickler reduces code objects itself (``reducer_override``, pickle's public hook): a code object
becomes a call of :func:`rebuild_code` whose arguments carry everything the loading host needs, inside the
payload (covered by its digest and signature):

- the file the code was compiled from, its name and its first line (where its source is in the shipped files);
- the CPython version that compiled it, and the code itself (``marshal``, which keeps nested code objects).

The loader unpickles with a :class:`CodeRebuilder`, which gives each code object — and every code object
nested in it — its *version-tagged* file name (:func:`version_filename`), under which the loader registers the
shipped source in ``linecache``. So on the loading host tracebacks and ``inspect.getsource`` show the shipped
lines, two versions from one file keep their own source, and the post-load re-hash finds the source it needs.

Blobs pushed before this (cloudpickle's own code reduction, any 3.x release) still load:
:meth:`CodeRebuilder.adopt` maps each code object to its shipped file by its own name, first line and
bytecode, whatever file name cloudpickle left on it.

    >>> def double(x):
    ...     return 2 * x
    >>> rebuild, args = reduce_code(double.__code__)
    >>> rebuild(*args).co_name
    'double'
"""

from __future__ import annotations

import keyword
import marshal
import os
import sys
import types
from collections.abc import Callable, Iterable, Iterator, Mapping

from remoteimport import _memo
from remoteimport.errors import IncompatibleBlobError, IntegrityError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ast

__all__ = ["CODE_FORMAT", "CodeRebuilder", "rebuild_code", "reduce_code", "version_filename"]

#: Version of the argument layout of :func:`rebuild_code` (2 added the locator); a newer one is refused with an
#: upgrade hint. Format 1 (no locator) is still read.
CODE_FORMAT = 2
_READABLE_CODE_FORMATS = (1, 2)


def python_tag() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def version_filename(filename: str, label: str) -> str:
    """The file name a loaded version's code carries: the original path tagged with the version, so two
    versions pushed from one file keep their own source in ``linecache`` (and tracebacks show both).

    >>> version_filename("/src/filters.py", "MyFilter@0123abcd4567")
    '/src/filters.py [MyFilter@0123abcd4567]'
    """
    return f"{filename} [{label}]"


def reduce_code(code: types.CodeType) -> tuple[object, tuple[object, ...]]:
    """The pickle reduction of ``code``:
    ``rebuild_code(format, python, file, name, first line, marshal bytes, locator)``."""
    return rebuild_code, (
        CODE_FORMAT,
        python_tag(),
        code.co_filename,
        code.co_name,
        code.co_firstlineno,
        marshal.dumps(code),
        _locator(code),
    )


def _locator(code: types.CodeType) -> dict[str, object]:
    """What another Python needs to find this code object among those its own compiler makes of the shipped
    file: the names of its free variables (the closure the payload carries must fit), and, for code objects
    whose name and first line need not be unique in a file (``<lambda>``, ``<genexpr>`` ...), which of the
    same-named ones on that line it is, counted in the compiler's order."""
    locator: dict[str, object] = {"freevars": list(code.co_freevars)}
    if code.co_name.startswith("<"):
        same_place = _compiled_file(code.co_filename).get((code.co_name, code.co_firstlineno), [])
        locator["ordinal"] = next((i for i, candidate in enumerate(same_place) if candidate == code), None)
    return locator


def current_lines(filename: str) -> list[str]:
    """The lines of ``filename`` as its file holds them now: ``linecache.getlines``, after dropping an entry
    whose file changed since linecache read it (a module reloaded after an edit: its code is the new text).
    Unlike ``linecache.checkcache``, an entry whose file is gone is kept: it is the only text there is. What a
    push hashes (hashing), ships (capture) and locates code in (:func:`_locator`) is read here, so all three see
    the same text.

    >>> import linecache; current_lines(linecache.__file__) == linecache.getlines(linecache.__file__)
    True
    """
    import linecache  # not at import: a load need not import it (loader._register_source)

    entry = linecache.cache.get(filename)
    if entry is not None and len(entry) == 4 and entry[1] is not None:
        try:
            status = os.stat(entry[3])
        except (OSError, ValueError):
            pass
        else:
            if (status.st_size, status.st_mtime) != (entry[0], entry[1]):
                linecache.checkcache(filename)
    return linecache.getlines(filename)


def _compiled_file(filename: str) -> dict[tuple[str, int], list[types.CodeType]]:
    """The code objects the pushing host compiles ``filename`` (its text now: :func:`current_lines`) to, by place."""
    text = "".join(current_lines(filename))
    if not text:
        return {}
    return _index_by_place(filename, text)


@_memo.bounded(64)
def _index_by_place(filename: str, text: str) -> dict[tuple[str, int], list[types.CodeType]]:
    """``{(name, first line): [code, ...]}`` for every code object ``text`` compiles to, in pre-order (each
    code object before the ones nested in it, siblings in the compiler's order, which is source order).
    ``compile`` runs nothing; ``dont_inherit`` keeps this module's own ``__future__`` flags out. Raises
    SyntaxError (and the like) when this Python cannot compile ``text``."""
    return _index_compiled(compile(text, filename, "exec", dont_inherit=True))


def _index_compiled(module_code: types.CodeType) -> dict[tuple[str, int], list[types.CodeType]]:
    index: dict[tuple[str, int], list[types.CodeType]] = {}
    stack = [module_code]
    while stack:
        code = stack.pop()
        index.setdefault((code.co_name, code.co_firstlineno), []).append(code)
        stack.extend(reversed([const for const in code.co_consts if isinstance(const, types.CodeType)]))
    return index


def shipped_source(lines: list[str], places: Iterable[int], names: Iterable[str] = ()) -> str:
    """What a version ships of a file whose lines are ``lines`` (:func:`current_lines`): the top-level statements,
    decorators included, that hold one of ``places`` (the first lines of the code objects it carries) or define
    one of ``names`` (its classes, by the first part of their qualified names), and every import (a
    ``from __future__`` import changes how the rest compiles; the others tell a reader what names mean). Every
    other line is left empty, and nothing follows the last line kept.

    So a class of a module of a thousand classes ships its own lines, not the module's (issue 24), and each line
    keeps its number: tracebacks, ``inspect.getsource`` (which parses the whole text to find a class), the
    hasher's reading of a function's block (:mod:`remoteimport.hashing.source`) and another Python's compilation
    of the shipped text (:class:`CodeRebuilder`) find what they find in the file. A statement is kept whole or not
    at all, and statements that share a line (``a = 1; b = 2``) go together. A text that does not parse here is
    shipped whole.

    >>> lines = ["import os\\n", "\\n", "def f(): return 1\\n", "def g(): return 2\\n", "x = f()\\n"]
    >>> shipped_source(lines, [4])
    'import os\\n\\n\\ndef g(): return 2\\n'
    """
    import bisect  # push only: a load never trims

    text = "".join(lines)
    groups = _top_level_statements(text)
    if groups is None:
        return text
    wanted = set(names)
    starts = [first for first, _, _, _ in groups]
    kept = {index for index, (_, _, defined, always) in enumerate(groups) if always or not wanted.isdisjoint(defined)}
    for place in places:
        index = bisect.bisect_right(starts, place) - 1
        if index >= 0 and place <= groups[index][1]:
            kept.add(index)
    shipped: list[str] = []
    done = 0  # lines written so far
    for index in sorted(kept):
        first, last, _, _ = groups[index]
        shipped.append("\n" * (first - 1 - done))
        shipped.extend(lines[first - 1 : last])
        done = last
    return "".join(shipped)


@_memo.bounded(8)
def _top_level_statements(text: str) -> tuple[tuple[int, int, frozenset[str], bool], ...] | None:
    """``(first line, last line, names of the classes and functions defined, is an import)`` of each run of
    top-level statements of ``text`` that share lines, in order; None when ``text`` does not parse. Cached: a
    ``push_all`` trims one module once per class."""
    import ast

    groups: list[tuple[int, int, frozenset[str], bool]] = []
    try:
        for offset, tree in _parsed_pieces(text):
            for node in tree.body:
                decorators = getattr(node, "decorator_list", ())
                first = offset + min([node.lineno, *(decorator.lineno for decorator in decorators)])
                last = offset + (node.end_lineno or node.lineno)
                defined = _defined_names(node)
                is_import = isinstance(node, (ast.Import, ast.ImportFrom))
                if groups and first <= groups[-1][1]:
                    before = groups.pop()
                    first, last = before[0], max(last, before[1])
                    defined, is_import = defined | before[2], is_import or before[3]
                groups.append((first, last, defined, is_import))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return tuple(groups)


def _parsed_pieces(text: str) -> Iterator[tuple[int, ast.Module]]:
    """``(lines before it, its AST)`` of consecutive pieces of ``text`` that together are all of it, each a few
    top-level statements parsed alone, one after the other: the AST of a module of thousands of classes takes
    over 100 MB at once. A piece ends where a statement may start (:func:`_may_start_statement`). A cut inside a
    statement (in a string or brackets, after a backslash, between a decorator and its ``def``) leaves the part
    before it unparseable, so a piece that does not parse takes 1, 2, 4 ... more cuts until it does: a piece that
    parses ends where a statement ends. Raises SyntaxError (and the like) when ``text`` does not parse."""
    import ast
    import io

    lines = io.StringIO(text).readlines()  # split at newlines only, as the parser and linecache count lines
    cuts = [0, *(number for number, line in enumerate(lines) if number and _may_start_statement(line)), len(lines)]
    start = 0  # index in cuts
    while start < len(cuts) - 1:
        step = 1
        while True:
            end = min(start + step, len(cuts) - 1)
            try:
                tree = ast.parse("".join(lines[cuts[start] : cuts[end]]))
                break
            except SyntaxError:
                if end == len(cuts) - 1:
                    raise
                step *= 2
        yield cuts[start], tree
        start = end


_CLAUSES = frozenset({"else", "elif", "except", "finally"})
_LOWERCASE = "abcdefghijklmnopqrstuvwxyz"


def _may_start_statement(line: str) -> bool:
    """Whether a top-level statement may start on ``line``: it starts at column 0 with neither a comment, a closing
    bracket nor a clause that continues the statement before (``else:``, ``except ValueError:``)."""
    if not line or line[0] in " \t\x0c\r\n#)]}":
        return False
    rest = line.lstrip(_LOWERCASE)
    return line[: len(line) - len(rest)] not in _CLAUSES or rest[:1].isalnum() or rest[:1] == "_"


def _defined_names(statement: object) -> frozenset[str]:
    """The names a top-level statement defines at module level (also inside ``if``/``try``/``with``/``match``
    blocks): its classes and functions, without looking into their bodies, and the plain names it assigns
    (``FACTOR = 2``, ``a, b = ...``, ``x: int = 1``, ``x += 1``)."""
    import ast

    scopes = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    blocks = (ast.stmt, ast.excepthandler, ast.match_case)
    found = set()
    pending = [statement]
    while pending:
        node = pending.pop()
        if isinstance(node, scopes):
            found.add(node.name)
            continue
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        else:
            targets = []
        for target in targets:
            found.update(name.id for name in ast.walk(target) if isinstance(name, ast.Name))
        pending.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, blocks))
    return frozenset(found)


def source_mismatches(
    codes: list[tuple[types.CodeType, str]],
    sources: Mapping[str, str],
    *,
    reads_source: Callable[[types.CodeType, str], bool] | None = None,
) -> list[str]:
    """Which of ``codes`` (each with its own file name, ``co_filename`` as compiled: the file the hasher reads
    its source from) is not what its shipped file compiles to at its place.

    The hash of a function with source is the hash of that source (so every Python agrees on it), while the
    pushing Python runs, and a same-Python host unpickles, its bytecode: the two must be one program. They are
    not when a module's file was edited after it was imported (the running code is the old text, linecache may
    hold the new one), or when a payload pairs some bytecode with another source. ``compile`` runs nothing.
    Code whose file was not shipped (made by ``exec``) has no source for the hasher either: a hash covers it by
    its bytecode. Code under a pseudo file name (``<string>``, ``<ipython-input-3-...>``) is compared only when
    ``reads_source(code, filename)`` says the hasher takes its source from the shipped text: such a name is
    shared by whatever was run under it (Python 3.13 registers a ``python -c`` script as ``<string>``, the name
    ``exec`` gives dataclasses' generated methods), so its text need not be the code's. Each problem is one
    sentence naming the code; [] when all agree.

    The file name is never one the payload chose for its own check: a loader passes each code object's own
    (:attr:`CodeRebuilder.unmarshalled`), and :meth:`CodeRebuilder.rebuild` refuses a payload that names
    another."""
    problems = []
    for code, filename in codes:
        text = sources.get(filename)
        if text is None:
            continue
        if is_pseudo_filename(filename) and (reads_source is None or not reads_source(code, filename)):
            continue
        if not _compiles_to_code(filename, text, code):
            problems.append(f"{_where(code.co_name, filename, code.co_firstlineno)} is not what that file compiles to")
    return problems


def is_pseudo_filename(filename: str) -> bool:
    """``<string>``, ``<ipython-input-3-...>``: a name no file has, shared by whatever ran under it.

    >>> is_pseudo_filename("<string>"), is_pseudo_filename("/src/filters.py")
    (True, False)
    """
    return filename.startswith("<") and filename.endswith(">")


def stale_bytecode(filename: str) -> str | None:
    """The ``__pycache__`` file a new interpreter runs in place of ``filename``'s text, or None when there is none.

    Python reuses a cached file whose recorded modification time (in whole seconds) and size are the source's.
    An edit within the same second that keeps the size (a script, a CI step, a ``git checkout``) leaves such a
    file describing the old text, and every new interpreter runs it. This names it: its header matches the
    source as it is now, and its code is not what the source compiles to (``compile`` runs nothing)."""
    import importlib.util

    try:
        cached = importlib.util.cache_from_source(filename)
        status = os.stat(filename)
        with open(cached, "rb") as file:
            data = file.read()
        with open(filename, "rb") as file:
            source = file.read()
    except (OSError, ValueError, NotImplementedError):
        return None
    recorded = [int.from_bytes(data[start : start + 4], "little") for start in (4, 8, 12)]  # flags, mtime, size
    trusted = [0, int(status.st_mtime) & 0xFFFFFFFF, status.st_size & 0xFFFFFFFF]  # what Python's check accepts
    if data[:4] != importlib.util.MAGIC_NUMBER or recorded != trusted:
        return None  # checked by hash, or Python would compile the source again itself
    try:
        return None if marshal.loads(data[16:]) == compile(source, filename, "exec", dont_inherit=True) else cached
    except (SyntaxError, ValueError, EOFError, TypeError, RecursionError, MemoryError):
        return None


def _compiles_to_code(filename: str, text: str, code: types.CodeType) -> bool:
    """True when compiling ``text`` gives ``code`` (equal as code objects, whatever their file names) at its place,
    with this interpreter's optimisation level or another, or with the ``__future__`` flags the code carries
    (a notebook cell inherits those of the cells before it)."""
    attempts = [(0, sys.flags.optimize)] + [(0, level) for level in (0, 1, 2) if level != sys.flags.optimize]
    future = code.co_flags & _future_flags()
    if future:
        attempts += [(future, level) for _, level in attempts]
    for flags, optimize in attempts:
        try:
            compiled = _index_with(filename, text, flags, optimize).get((code.co_name, code.co_firstlineno), [])
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
            return False
        if any(candidate == code for candidate in compiled):
            return True
    return False


@_memo.cache
def _future_flags() -> int:
    import __future__

    return sum(getattr(__future__, name).compiler_flag for name in __future__.all_feature_names)


@_memo.bounded(16)
def _index_with(filename: str, text: str, flags: int, optimize: int) -> dict[tuple[str, int], list[types.CodeType]]:
    if flags == 0 and optimize == sys.flags.optimize:
        return _index_by_place(filename, text)
    return _index_compiled(compile(text, filename, "exec", flags=flags, dont_inherit=True, optimize=optimize))


def rebuild_code(
    code_format: int,
    python: str,
    filename: str,
    name: str,
    firstlineno: int,
    data: bytes,
    locator: object = None,
) -> types.CodeType:
    """The code object as it was compiled (file name unchanged): what a plain ``pickle.loads`` of a payload
    gives, on the Python that made it. The loader substitutes :meth:`CodeRebuilder.rebuild`, which also tags
    the file name and rebuilds code pushed from another Python from the shipped source."""
    _check_format(code_format, _where(name, filename, firstlineno))
    if python != python_tag():
        raise IncompatibleBlobError(
            f"{_where(name, filename, firstlineno)} was compiled by Python {python}; this is Python "
            f"{python_tag()}. Load it through remoteimport (which rebuilds it from the shipped source)."
        )
    return _unmarshal(name, filename, firstlineno, data)


def _where(name: object, filename: object, firstlineno: object) -> str:
    return f"the code of {name!r} ({filename}, line {firstlineno})"


def _check_format(code_format: object, where: str) -> None:
    if code_format not in _READABLE_CODE_FORMATS:
        raise IncompatibleBlobError(
            f"{where} is stored in code format {code_format!r}; this remoteimport reads formats "
            f"{', '.join(map(str, _READABLE_CODE_FORMATS))}. Upgrade remoteimport on this host."
        )


def _unmarshal(name: object, filename: object, firstlineno: object, data: object) -> types.CodeType:
    where = _where(name, filename, firstlineno)
    if not isinstance(data, bytes):
        raise IntegrityError(f"{where} is not stored as bytes in the payload; nothing of it was run")
    try:
        code = marshal.loads(data)
    except (EOFError, ValueError, TypeError) as exc:
        raise IntegrityError(f"{where} could not be read from the payload ({exc}); nothing of it was run") from None
    if not isinstance(code, types.CodeType):
        raise IntegrityError(f"{where} holds a {type(code).__name__}, not code; nothing of it was run")
    return code


_STAND_IN_ERROR = "__remoteimport_stand_in_error__"


class CodeRebuilder:
    """Builds a loaded version's code objects with version-tagged file names (see the module docstring).

    ``label`` tags the file names (``Name@hash-prefix``); ``sources`` are the blob's shipped files (file name ->
    text): code pushed from another Python is compiled from them by this one, and code of blobs made before
    remoteimport shipped file names itself is placed in them.

    Code with no shipped source (made by ``exec``, as dataclasses and namedtuple make their methods) cannot
    be rebuilt for another Python: it becomes a stand-in that raises :class:`IncompatibleBlobError` when
    called, recorded in :attr:`stand_ins` so the loader can generate such methods again
    (:mod:`remoteimport.regenerate`) and refuse a class that still has one."""

    def __init__(self, label: str, sources: Mapping[str, str], *, pushed_from: str | None = None) -> None:
        self.label = label
        self.sources = sources
        self.pushed_from = pushed_from  # the Python the blob's header names
        self.stand_ins: dict[types.CodeType, str] = {}  # stand-in code -> what it stands for
        self.classes: list[type] = []  # the by-value classes the payload made, in order (bases first)
        self.functions: list[types.FunctionType] = []  # the by-value functions it made
        # Class skeleton number -> an existing class of the same content hash to use instead (the loader's second
        # pass, so that one content hash is one class: remoteimport.graphs); those used are listed in `reused`.
        self.substitutions: dict[int, type] = {}
        self.reused: list[type] = []
        self.skeletons = 0  # class skeletons the payload asked for so far
        # code objects read from the payload's bytecode (this Python's), with their file: see source_mismatches
        self.unmarshalled: list[tuple[types.CodeType, str]] = []
        # ... of them, those under a pseudo file name with no shipped text (what class factories exec): neither
        # the hash nor the agreement check reads them (remoteimport.regenerate makes such methods again)
        self.unverified: set[types.CodeType] = set()
        # ... of those, the ones regenerate() replaced (never run): unverified code -> the payload's code object
        self.replaced: dict[types.CodeType, types.CodeType] = {}
        self._payload_code: dict[types.CodeType, types.CodeType] = {}  # unverified (tagged) -> as read

    def rebuild(
        self,
        code_format: int,
        python: str,
        filename: str,
        name: str,
        firstlineno: int,
        data: bytes,
        locator: object = None,
    ) -> types.CodeType:
        """Stands in for :func:`rebuild_code` while the loader unpickles."""
        _check_format(code_format, _where(name, filename, firstlineno))
        if python == python_tag():
            code = _unmarshal(name, filename, firstlineno, data)
            if (code.co_filename, code.co_name, code.co_firstlineno) != (filename, name, firstlineno):
                # The hasher reads the code's own file name, the agreement check the one it is listed with: a
                # payload that names another (`<string>`, a file it does not ship) would choose its own checks.
                raise IntegrityError(
                    f"{self.label}: the payload names {_where(name, filename, firstlineno)} for bytecode compiled "
                    f"as {_where(code.co_name, code.co_filename, code.co_firstlineno)}; nothing of it was run"
                )
            self.unmarshalled.append((code, code.co_filename))
            tagged = self._tag_tree(code)
            if filename.startswith("<") and filename not in self.sources:
                self.unverified.add(tagged)
                self._payload_code[tagged] = code
            return tagged
        if not isinstance(locator, dict):
            locator = {}
        return self._from_source(str(python), str(filename), str(name), int(firstlineno), locator)

    def mark_replaced(self, tagged: types.CodeType) -> None:
        """``tagged`` (unverified code) was replaced by regenerated code: none of it will run."""
        if tagged in self._payload_code:
            self.replaced[tagged] = self._payload_code[tagged]

    def _from_source(self, python: str, filename: str, name: str, firstlineno: int, locator: dict) -> types.CodeType:
        """This Python's compilation of the code at ``name``/``firstlineno`` in the shipped ``filename``; a
        stand-in (see the class docstring) when there is none."""
        text = self.sources.get(filename)
        freevars = locator.get("freevars")
        problem = "it has no shipped source"
        candidates: list[types.CodeType] = []
        if text is not None:
            try:
                candidates = _index_by_place(filename, text).get((name, firstlineno), [])
                problem = f"its shipped source has {len(candidates) or 'no'} code objects of that name at that line"
            except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as exc:
                problem = f"its shipped source does not compile here ({type(exc).__name__}: {exc})"
        ordinal = locator.get("ordinal")  # counted among all code objects at this place, as the pusher did
        if isinstance(ordinal, int) and not isinstance(ordinal, bool) and 0 <= ordinal < len(candidates):
            candidates = [candidates[ordinal]]
        if isinstance(freevars, list):  # the pickled closure must fit the code
            candidates = [code for code in candidates if list(code.co_freevars) == freevars]
        if len(candidates) == 1:
            return self._tag_tree(candidates[0])
        if not isinstance(freevars, list):  # code format 1: not even a stand-in can be made
            raise IncompatibleBlobError(
                f"{_where(name, filename, firstlineno)} was compiled by Python {python}, and this Python "
                f"{python_tag()} cannot rebuild it: {problem}. Load it with Python {python}."
            )
        return self._stand_in(python, filename, name, firstlineno, tuple(map(str, freevars)), problem)

    def _stand_in(
        self, python: str, filename: str, name: str, firstlineno: int, freevars: tuple[str, ...], problem: str
    ) -> types.CodeType:
        what = f"{name!r} ({filename}, line {firstlineno}, compiled by Python {python}): {problem}"
        message = (
            f"{self.label}: this Python {python_tag()} could not rebuild the code of {what}. "
            f"Load {self.label} with Python {python}."
        )
        for variable in freevars:
            if not variable.isidentifier() or keyword.iskeyword(variable):
                raise IntegrityError(f"{_where(name, filename, firstlineno)} names a free variable {variable!r}")
        outer = "def outer():\n"
        if freevars:
            outer += f"    {' = '.join(freevars)} = None\n"
        outer += "    def stand_in(*args, **kwargs):\n"
        if freevars:
            outer += f"        ({', '.join(freevars)},)\n"
        outer += f"        raise {_STAND_IN_ERROR!r}\n    return stand_in\n"
        module_code = compile(outer, version_filename(filename, self.label), "exec", dont_inherit=True)
        outer_code = next(c for c in module_code.co_consts if isinstance(c, types.CodeType))
        code = next(c for c in outer_code.co_consts if isinstance(c, types.CodeType))
        # The error is a constant of the code (no global or builtin lookups: the function's globals are the
        # pickled ones); `raise <constant>` raises it.
        error = IncompatibleBlobError(message)
        consts = tuple(error if const == _STAND_IN_ERROR else const for const in code.co_consts)
        code = code.replace(co_name=name, co_firstlineno=max(1, firstlineno), co_consts=consts)
        self.stand_ins[code] = what
        return code

    def adopt(self, code: types.CodeType) -> types.CodeType:
        """Tag one code object built by cloudpickle's own reduction (older blobs). Its nested code objects were
        built (and adopted) before it, one by one; whatever file name cloudpickle kept, the code is placed by
        its name, first line and bytecode within the shipped files."""
        filename = code.co_filename
        if filename not in self.sources:
            filename = self._shipped_file_of(code) or filename
        return code.replace(co_filename=version_filename(filename, self.label))

    def _tag_tree(self, code: types.CodeType) -> types.CodeType:
        consts = tuple(
            self._tag_tree(const) if isinstance(const, types.CodeType) else const for const in code.co_consts
        )
        return code.replace(co_filename=version_filename(code.co_filename, self.label), co_consts=consts)

    def _shipped_file_of(self, code: types.CodeType) -> str | None:
        """The one shipped file that compiles to a code object of this name at this line (the same bytecode,
        where several do), or None."""
        candidates: list[tuple[str, bytes]] = []
        for filename, text in self.sources.items():
            try:
                at_place = _index_by_place(filename, text).get((code.co_name, code.co_firstlineno), [])
            except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
                continue  # not this file, whatever it holds
            candidates.extend((filename, compiled.co_code) for compiled in at_place)
        same_bytecode = {filename for filename, bytecode in candidates if bytecode == code.co_code}
        files = same_bytecode or {filename for filename, _ in candidates}
        return files.pop() if len(files) == 1 else None
