"""What each loaded version brought with it, and which version's graph an object belongs to.

A version's payload carries its class *and* everything of the user's it needs by value: helper functions, base
classes, nested config classes, Enums, functions a default refers to. This module keeps, per loaded version, the
record of those objects (a :class:`VersionGraph`), so that:

- they have names that import anywhere: each is published in a *member module* ``ns.Name@hash/<its module>``
  (:func:`remoteimport.names.member_module_name`), which the import hook serves, so ``pickle``, ``torch.save``,
  ``joblib`` and process pools write them by reference, as they write the version's own class;
- the hasher (:mod:`remoteimport.hashing.encoder`) encodes the members of the graph it is hashing by content, as
  they were encoded when pushed, although their modules now name a loaded version (:func:`shares_graph`);
- the loader can find an existing class by content hash, so that one content hash is one class object in a
  process however it is reached (:mod:`remoteimport.loader` hashes the classes it needs to compare, once each).

Pure: no I/O, nothing of remoteimport imported. Graphs live as long as the process, like loaded classes.
"""

from __future__ import annotations

import types
from _thread import allocate_lock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["VersionGraph", "graphs_of", "register", "registered", "shares_graph", "unregister"]


class VersionGraph:
    """The by-value objects one loaded version's payload made (or reused from other versions).

    ``reference`` is ``ns.Name@<full hash>``; ``classes`` start with the version's own class."""

    __slots__ = ("reference", "namespace", "root", "classes", "functions", "current_rules")

    def __init__(
        self,
        reference: str,
        namespace: str,
        root: type,
        classes: list[type],
        functions: list[types.FunctionType],
        *,
        current_rules: bool = True,
    ) -> None:
        self.reference = reference
        self.namespace = namespace
        self.root = root
        self.classes = [root, *(klass for klass in classes if klass is not root)]
        self.functions = list(functions)
        # False for a version stored before blob format 3: its hash is by older rules, not a content hash today
        self.current_rules = current_rules

    def members(self) -> list[Any]:
        return [*self.classes, *self.functions]

    def __repr__(self) -> str:
        return f"<VersionGraph {self.reference}: {len(self.classes)} classes, {len(self.functions)} functions>"


_GRAPHS: list[VersionGraph | None] = []  # None where a graph was withdrawn (indexes stay valid)
_GRAPHS_OF: dict[int, tuple[int, ...]] = {}  # id(member) -> indexes in _GRAPHS (members are kept alive there)
_EMPTY: tuple[int, ...] = ()
_GUARD = allocate_lock()


def register(graph: VersionGraph) -> None:
    """Record ``graph``: its members now belong to it (an object may belong to several versions' graphs)."""
    with _GUARD:
        index = len(_GRAPHS)
        _GRAPHS.append(graph)
        for member in graph.members():
            known = _GRAPHS_OF.get(id(member), _EMPTY)
            if index not in known:
                _GRAPHS_OF[id(member)] = (*known, index)


def unregister(graph: VersionGraph) -> None:
    """Forget ``graph`` (a version withdrawn before it was handed out)."""
    with _GUARD:
        for index, known in enumerate(_GRAPHS):
            if known is graph:
                _GRAPHS[index] = None
                for member in graph.members():
                    left = tuple(i for i in _GRAPHS_OF.get(id(member), _EMPTY) if i != index)
                    if left:
                        _GRAPHS_OF[id(member)] = left
                    else:
                        _GRAPHS_OF.pop(id(member), None)


def registered(namespace: str | None = None) -> list[VersionGraph]:
    """The graphs registered so far (of one namespace when given), oldest first."""
    with _GUARD:
        return [graph for graph in _GRAPHS if graph is not None and (namespace is None or graph.namespace == namespace)]


def brought_with(classes: list[type]) -> tuple[list[type], list[types.FunctionType]]:
    """Every member of the graphs these classes belong to: what travelled with them by value. A version that
    reuses a class another version brought had all of it by value when pushed (it was the user's own code)."""
    with _GUARD:
        indexes = sorted({index for klass in classes for index in _GRAPHS_OF.get(id(klass), _EMPTY)})
        found = [graph for graph in (_GRAPHS[index] for index in indexes) if graph is not None]
    return (
        [klass for graph in found for klass in graph.classes],
        [function for graph in found for function in graph.functions],
    )


def graphs_of(obj: object) -> tuple[int, ...]:
    """The graphs ``obj`` belongs to, oldest first (empty for anything no loaded version made). The first is the
    one whose payload made it; later ones reused it."""
    return _GRAPHS_OF.get(id(obj), _EMPTY) if _GRAPHS_OF else _EMPTY


def shares_graph(graphs: tuple[int, ...], obj: object) -> bool:
    """True when ``obj`` belongs to one of ``graphs``: it travelled by value with the version being hashed."""
    if not graphs:
        return False
    own = _GRAPHS_OF.get(id(obj), _EMPTY)
    return any(index in graphs for index in own)
