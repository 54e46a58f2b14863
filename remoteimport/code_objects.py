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

import marshal
import sys
import types
from collections.abc import Mapping

from remoteimport.errors import IncompatibleBlobError, IntegrityError

__all__ = ["CODE_FORMAT", "CodeRebuilder", "rebuild_code", "reduce_code", "version_filename"]

#: Version of the argument layout of :func:`rebuild_code`; a newer one is refused with an upgrade hint.
CODE_FORMAT = 1


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
    """The pickle reduction of ``code``: ``rebuild_code(format, python, file, name, first line, marshal bytes)``."""
    return rebuild_code, (
        CODE_FORMAT,
        python_tag(),
        code.co_filename,
        code.co_name,
        code.co_firstlineno,
        marshal.dumps(code),
    )


def rebuild_code(
    code_format: int, python: str, filename: str, name: str, firstlineno: int, data: bytes
) -> types.CodeType:
    """The code object as it was compiled (file name unchanged): what a plain ``pickle.loads`` of a payload
    gives. The loader substitutes :meth:`CodeRebuilder.rebuild`, which also tags the file name."""
    return _unmarshal(code_format, python, filename, name, firstlineno, data)


def _unmarshal(
    code_format: object, python: object, filename: object, name: object, firstlineno: object, data: object
) -> types.CodeType:
    where = f"the code of {name!r} ({filename}, line {firstlineno})"
    if code_format != CODE_FORMAT:
        raise IncompatibleBlobError(
            f"{where} is stored in code format {code_format!r}; this remoteimport reads format {CODE_FORMAT}. "
            "Upgrade remoteimport on this host."
        )
    if python != python_tag():
        raise IncompatibleBlobError(
            f"{where} was compiled by Python {python}; this is Python {python_tag()}, which cannot run that "
            f"bytecode. Load it with Python {python}."
        )
    if not isinstance(data, bytes):
        raise IntegrityError(f"{where} is not stored as bytes in the payload; nothing of it was run")
    try:
        code = marshal.loads(data)
    except (EOFError, ValueError, TypeError) as exc:
        raise IntegrityError(f"{where} could not be read from the payload ({exc}); nothing of it was run") from None
    if not isinstance(code, types.CodeType):
        raise IntegrityError(f"{where} holds a {type(code).__name__}, not code; nothing of it was run")
    return code


class CodeRebuilder:
    """Builds a loaded version's code objects with version-tagged file names (see the module docstring).

    ``label`` tags the file names (``Name@hash-prefix``); ``sources`` are the blob's shipped files (file name ->
    text), used to place code objects of blobs made before remoteimport shipped file names itself."""

    def __init__(self, label: str, sources: Mapping[str, str]) -> None:
        self.label = label
        self.sources = sources
        self._index: dict[tuple[str, int], list[tuple[str, bytes]]] | None = None

    def rebuild(
        self, code_format: int, python: str, filename: str, name: str, firstlineno: int, data: bytes
    ) -> types.CodeType:
        """Stands in for :func:`rebuild_code` while the loader unpickles."""
        return self._tag_tree(_unmarshal(code_format, python, filename, name, firstlineno, data))

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
        if self._index is None:
            self._index = _index_code_objects(self.sources)
        candidates = self._index.get((code.co_name, code.co_firstlineno), [])
        same_bytecode = {filename for filename, bytecode in candidates if bytecode == code.co_code}
        files = same_bytecode or {filename for filename, _ in candidates}
        return files.pop() if len(files) == 1 else None


def _index_code_objects(sources: Mapping[str, str]) -> dict[tuple[str, int], list[tuple[str, bytes]]]:
    """``{(name, first line): [(file, bytecode)]}`` for every code object the shipped files compile to.

    ``compile`` runs nothing; ``dont_inherit`` keeps this module's own ``__future__`` flags out."""
    index: dict[tuple[str, int], list[tuple[str, bytes]]] = {}
    for filename, text in sources.items():
        try:
            module_code = compile(text, filename, "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
            continue  # not this file, whatever it holds
        stack = [module_code]
        while stack:
            code = stack.pop()
            index.setdefault((code.co_name, code.co_firstlineno), []).append((filename, code.co_code))
            stack.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    return index
