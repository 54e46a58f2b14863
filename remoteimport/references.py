"""How instances of loaded classes pickle: by reference to their version, rebuilt through remoteimport.

A loaded class lives in the module ``ns.Name@<hash>``, so plain pickle writes its instances as "call
``ns.Name@<hash>.Name``". In a process that serves no store for ``ns`` that import fails *while unpickling*, and
an engine that unpickles in its own machinery (a Dask worker reading a task from its scheduler) drops the whole
connection: the worker dies, the task moves to the next worker, which dies too.

:func:`register` (called for every class the import hook loads) makes its instances pickle as
``remoteimport.references.rebuild(reference, ...)`` instead, with the rest of the ordinary reduction unchanged
(the same arguments, state, items). Unpickling then always succeeds: where the version loads, ``rebuild``
gives a real instance; where no store serves the namespace, a :class:`UnavailableObject` that keeps what it
was given, pickles back to the same bytes, and raises :class:`~remoteimport.errors.RemoteObjectUnavailableError`
(picklable, naming the namespace and the fix) on first use, so the task fails and the worker lives. Where the
namespace is served but the version fails to load (refused by the trust policy, a store that does not answer),
unpickling raises that error as before, except in processes that called :func:`defer_load_errors` (Dask's).

    >>> import pickle
    >>> ref = "gone_remote.Gone@" + "0" * 64
    >>> placeholder = pickle.loads(pickle.dumps(rebuild(ref, "new", (), {}, None)))
    >>> type(placeholder).__name__
    'UnavailableObject'

Only instances whose exact type is a loaded class are covered (``copyreg`` dispatches on the exact type); a
class passed *itself* as an argument still pickles by name and needs a served namespace where it is unpickled.
"""

from __future__ import annotations

import copyreg
import importlib
import sys

from remoteimport._env import not_served_message
from remoteimport.errors import NamespaceNotServedError, RemoteObjectUnavailableError
from remoteimport.names import namespace_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["UnavailableObject", "defer_load_errors", "rebuild", "reference_of", "register"]


_PROTOCOL = 4  # what object.__reduce_ex__ is asked for: __newobj__ / __newobj_ex__ forms, re-expressed below


_DEFER_ALL_ERRORS = False


def defer_load_errors(enabled: bool = True) -> None:
    """In this process, any failure to load an instance's class (an untrusted blob, a store that does not
    answer ...) gives a placeholder that fails on use, not only a namespace that is not served. For processes
    where an exception while unpickling does more harm than failing one call: Dask's scheduler and workers
    (:mod:`remoteimport.integrations.dask` calls it there)."""
    global _DEFER_ALL_ERRORS
    _DEFER_ALL_ERRORS = enabled


def register(cls: type) -> None:
    """Make instances of ``cls`` (a loaded class, ``cls.__module__ == "ns.Name@hash"``, or a class a loaded
    version brought, in its member module ``ns.Name@hash/<module>``: :mod:`remoteimport.graphs`) pickle through
    :func:`rebuild`. Idempotent; the class itself is not modified (its hash stays what it is)."""
    copyreg.dispatch_table[cls] = _reduce


def reference_of(cls: type) -> str:
    """How :func:`rebuild` finds ``cls`` again: ``ns.Name@hash`` for a version's own class (as since the first
    release), ``<module>:<qualified name>`` for anything else a loaded version brought."""
    module = cls.__module__
    if "/" not in module and module.rpartition("@")[0].rpartition(".")[2] == cls.__qualname__:
        return module  # type: ignore[no-any-return]
    return f"{module}:{cls.__qualname__}"


def _reduce(obj: object) -> Any:
    cls = type(obj)
    reference = reference_of(cls)
    reduced = obj.__reduce_ex__(_PROTOCOL)
    if isinstance(reduced, str):
        return reduced
    constructor, args, *rest = reduced
    if constructor is copyreg.__newobj__ and args and args[0] is cls:  # type: ignore[attr-defined]
        head: tuple[Any, ...] = (reference, "new", tuple(args[1:]), {})
    elif constructor is copyreg.__newobj_ex__ and args and args[0] is cls:  # type: ignore[attr-defined]
        head = (reference, "new", tuple(args[1]), dict(args[2]))
    elif constructor is cls:
        head = (reference, "call", tuple(args), {})
    else:
        return reduced  # the class's own reduction names something else: leave it as it is
    # The state goes in the reduction's own slot, so pickle memoizes the instance before it pickles the state: a
    # state that refers back to the instance (a bound method in an attribute, a __getstate__ copy holding it)
    # must find it there. (Pickles made before carried the state in rebuild's arguments: rebuild still takes it.)
    return (rebuild, (*head, None), *rest)


def rebuild(reference: str, how: str, args: tuple[Any, ...], kwargs: dict[str, Any], state: Any) -> Any:
    """Unpickle an instance of ``reference`` (``"ns.Name@hash"``): ``cls.__new__(cls, *args, **kwargs)`` for
    ``how == "new"``, ``cls(*args)`` for ``"call"``; ``state`` is set as pickle would. Never raises for a class
    that cannot be loaded here: returns an :class:`UnavailableObject` instead (see the module docstring)."""
    try:
        cls = _version_class(reference)
    except Exception as exc:  # ImportError, or anything a broken store or blob raises while loading
        if not (_DEFER_ALL_ERRORS or isinstance(exc, NamespaceNotServedError)):
            raise  # the namespace is served here and refused or failed this version: say so now
        import logging  # a warning worth the import: the user must see it

        logging.getLogger("remoteimport").warning(
            "remoteimport: %s could not be loaded here; unpickled as a placeholder: %s", reference, exc
        )
        return UnavailableObject._make(reference, how, args, kwargs, state, exc)
    obj = cls.__new__(cls, *args, **kwargs) if how == "new" else cls(*args)
    if state is not None:
        _set_state(obj, state)
    return obj


def _version_class(reference: str) -> type:
    module_name, _, qualname = reference.partition(":")
    module = sys.modules.get(module_name)
    if module is None:
        try:
            module = importlib.import_module(module_name)  # the hook (or the start-up finder, with late variables)
        except ModuleNotFoundError as missing:
            namespace = namespace_of(module_name)
            if isinstance(missing, NamespaceNotServedError) or missing.name not in (namespace, module_name):
                raise
            raise NamespaceNotServedError(not_served_message(module_name, namespace), name=module_name) from missing
    found: Any = module
    for part in (qualname or module_name.rpartition(".")[2].partition("@")[0]).split("."):
        found = getattr(found, part)
    return found  # type: ignore[no-any-return]


def _set_state(obj: Any, state: Any) -> None:
    """What pickle's BUILD opcode does."""
    setstate = getattr(obj, "__setstate__", None)
    if setstate is not None:
        setstate(state)
        return
    slotstate = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slotstate = state
    if state:
        obj.__dict__.update(state)
    if slotstate:
        for key, value in slotstate.items():
            setattr(obj, key, value)


class UnavailableObject:
    """What an instance of a class version that cannot be loaded in this process unpickles as.

    It keeps the pickled arguments and state (so it pickles back unchanged, e.g. on a Dask scheduler that
    forwards it to a worker that has the hook) and raises the reason on first use."""

    __slots__ = ("_reference", "_reduced", "_error")

    @classmethod
    def _make(
        cls, reference: str, how: str, args: tuple[Any, ...], kwargs: dict[str, Any], state: Any, cause: BaseException
    ) -> UnavailableObject:
        obj = object.__new__(cls)
        object.__setattr__(obj, "_reference", reference)
        object.__setattr__(obj, "_reduced", [how, args, kwargs, state])
        namespace = namespace_of(reference)
        message = (
            f"an instance of {reference} was passed to this process, but the class could not be loaded here: "
            f"{type(cause).__name__}: {cause}"
        )
        if not isinstance(cause, NamespaceNotServedError):  # which already says how to serve it
            message += (
                f". Serve {namespace!r} in every process that receives such objects ($REMOTEIMPORT_STORE, "
                "remoteimport.install(), or the Dask / Ray integrations: docs/engines.md)"
            )
        object.__setattr__(obj, "_error", message)
        return obj

    def __reduce__(self) -> Any:
        how, args, kwargs, state = self._reduced
        if state is None:
            return (rebuild, (self._reference, how, args, kwargs, None))
        return (rebuild, (self._reference, how, args, kwargs, None), state)  # as _reduce: state after the object

    def __setstate__(self, state: Any) -> None:
        """Keep the state pickle applies after making the placeholder, to pickle it back unchanged."""
        self._reduced[3] = state

    def _fail(self) -> RemoteObjectUnavailableError:
        return RemoteObjectUnavailableError(self._error, name=self._reference)

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") and attribute.endswith("__"):
            # Probes by engines and tools (hasattr(x, "__dask_graph__") ...) must not fail the task by themselves.
            raise AttributeError(attribute)
        raise self._fail()

    def __setattr__(self, attribute: str, value: Any) -> None:
        raise self._fail()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._fail()

    def __iter__(self) -> Any:
        raise self._fail()

    def __len__(self) -> int:
        raise self._fail()

    def __getitem__(self, key: Any) -> Any:
        raise self._fail()

    def __repr__(self) -> str:
        return f"<unavailable {self._reference}>"
