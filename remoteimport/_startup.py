"""Zero-code remote hosts: the interpreter start-up hook installed as ``remoteimport.pth``.

``site`` runs the one line of ``remoteimport.pth`` (in site-packages) at every interpreter start. The line only
reads two environment variables; when ``REMOTEIMPORT_STORE`` or ``REMOTEIMPORT_NAMESPACE`` is set it calls
:func:`activate`, which appends a :class:`StartupFinder` to ``sys.meta_path``. That finder imports nothing
(no fsspec, no cloudpickle, not even the rest of remoteimport) until the namespace itself is first imported;
then it installs the real import hook (:func:`remoteimport.install`, with the store, namespace and lock the
environment names) in its own place and hands the import over to it::

    $ export REMOTEIMPORT_STORE=s3://bucket/classes
    $ python -c "from labchain_remote import MyFilter"      # no install() call

An explicit :func:`remoteimport.install` of the same namespace replaces the start-up finder. Run Python with
``-S`` (no ``site``) or unset the variables to turn it off; ``python -m remoteimport run script.py`` is the
explicit alternative.

With neither variable set at start, the ``.pth`` line appends a *late finder* it defines itself (importing
nothing), asked only about imports no other finder satisfied. When such a name is pinned (``ns.Name@hash``),
is ``labchain_remote``, or a variable has been set since (``LocalCluster(env=...)``, Dask's ``Environ``
plugin), it calls :func:`late_find_spec`: the namespace is then served as if the variables had been set at
start, or a clear :class:`~remoteimport.errors.NamespaceNotServedError` says how to serve it.

A process started by one that called :func:`remoteimport.install` (a ``multiprocessing`` or joblib worker)
inherits ``REMOTEIMPORT_SERVED``, which names the namespaces its parent serves (:mod:`remoteimport.served`). The
``.pth`` line then appends an :class:`InheritedFinder` as well: it too imports nothing until one of those
namespaces is imported, then serves it with the parent's store, lock and trust policy (never weaker than this
process's own), and meanwhile answers other names with a substring test of the variable.

This module is imported during interpreter start-up: it must stay tiny and import only built-in modules.
"""

from __future__ import annotations

import _thread
import os
import sys

from remoteimport import _env  # os and sys only: cheap at start-up

__all__ = [
    "ENV_NAMESPACE",
    "PTH_NAME",
    "InheritedFinder",
    "StartupFinder",
    "activate",
    "default_namespace",
    "late_find_spec",
    "served_namespace",
]

ENV_STORE = _env.STORE
ENV_NAMESPACE = _env.NAMESPACE
ENV_SERVED = _env.SERVED
DEFAULT_NAMESPACE = _env.DEFAULT_NAMESPACE
PTH_NAME = "remoteimport.pth"  # installed at the root of site-packages (pyproject.toml: force-include)


def default_namespace() -> str:
    """The namespace served when none is given: ``$REMOTEIMPORT_NAMESPACE``, else ``labchain_remote``."""
    return _env.namespace()


class StartupFinder:
    """A ``sys.meta_path`` finder that waits for ``<namespace>`` and only then installs the real hook.

    Every import the earlier finders cannot satisfy passes through :meth:`find_spec`, so its fast path is
    one string comparison; nothing else happens until the namespace is imported."""

    remoteimport_startup = True  # how remoteimport.install() recognises (and removes) start-up finders

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._prefix = namespace + "."

    def __repr__(self) -> str:
        return f"StartupFinder({self.namespace!r})"

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object:
        if fullname != self.namespace and not fullname.startswith(self._prefix):
            return None
        # The import system is iterating over sys.meta_path, which just changed: answer for the real finder
        # now instead of relying on it being visited later in this pass.
        return _serve(self.namespace).find_spec(fullname, path, target)  # type: ignore[attr-defined]

    def waits_for(self, namespace: str) -> bool:
        """Whether importing ``namespace`` would serve it (``build()`` asks, for a config naming it)."""
        return namespace == self.namespace

    def invalidate_caches(self) -> None:
        pass


class InheritedFinder:
    """A ``sys.meta_path`` finder for the namespaces ``$REMOTEIMPORT_SERVED`` names: what the process that
    started this one serves (:mod:`remoteimport.served`). Like :class:`StartupFinder`, it imports nothing until
    one of them is imported; other names cost a substring test of the variable (:func:`served_namespace`)."""

    remoteimport_startup = True
    namespace = None  # it waits for several namespaces (waits_for); install() of one leaves it in place

    def __repr__(self) -> str:
        return f"InheritedFinder(${ENV_SERVED})"

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object:
        namespace = served_namespace(fullname)
        if namespace is None:
            return None
        return _serve(namespace).find_spec(fullname, path, target)  # type: ignore[attr-defined]

    def waits_for(self, namespace: str) -> bool:
        """Whether importing ``namespace`` would serve it (``build()`` asks, for a config naming it)."""
        return served_namespace(namespace) == namespace

    def invalidate_caches(self) -> None:
        pass


_SERVE_LOCK = _thread.allocate_lock()


def _serve(namespace: str) -> object:
    """The namespace's real finder, installed now if need be: with the settings ``$REMOTEIMPORT_SERVED`` hands
    down when it names the namespace, else with the store, lock and trusted keys the other variables name."""
    with _SERVE_LOCK:
        from remoteimport import hook

        finder = hook.installed().get(namespace)
        if finder is not None:
            return finder
        if served_namespace(namespace) == namespace:
            from remoteimport import served

            store, lock = served.settings(namespace)
            return hook.install(store, namespace, lock=lock)
        return hook.install(namespace=namespace)  # also takes the start-up finder off sys.meta_path


def served_namespace(fullname: str) -> str | None:
    """The namespace of ``$REMOTEIMPORT_SERVED`` that ``fullname`` is or is in; None when it names none.

    Names the variable does not mention (nearly every name asked) are answered with substring tests, importing
    nothing; the variable is parsed (once per value) only for the others and for ``labchain_remote``, so that a
    malformed value fails that import with an :class:`~remoteimport.errors.InheritedSettingsError` naming it."""
    raw = os.environ.get(ENV_SERVED)
    if not raw:
        return None
    if fullname != DEFAULT_NAMESPACE and fullname.isascii():  # the writer escapes other characters
        parts = fullname.split(".")
        if not any(f'"{".".join(parts[:end])}"' in raw for end in range(1, len(parts) + 1)):
            return None
    from remoteimport import served

    return served.namespace_of(fullname, raw)


def activate() -> bool:
    """Append a :class:`StartupFinder` for the configured namespace (once), and an :class:`InheritedFinder` when
    ``$REMOTEIMPORT_SERVED`` is set. Called by ``remoteimport.pth``.

    True when the namespace is served (by the start-up finder or an installed one); False also tells the
    ``.pth`` line to append its late finder. It never raises: an error in a ``.pth`` line would print a
    traceback at every interpreter start."""
    try:
        if os.environ.get(ENV_SERVED) and not any(isinstance(f, InheritedFinder) for f in sys.meta_path):
            sys.meta_path.append(InheritedFinder())
        if not (os.environ.get(ENV_STORE) or os.environ.get(ENV_NAMESPACE)):
            return False
        return _startup_finder(default_namespace()) is not None
    except Exception as exc:  # pragma: no cover - reported, never fatal
        print(f"remoteimport: start-up hook not installed: {exc}", file=sys.stderr)
        return False


def _startup_finder(namespace: str) -> StartupFinder | None:
    """The namespace's start-up finder, appended when missing; None when install() already serves it."""
    if not all(part.isidentifier() for part in namespace.split(".")):
        raise ValueError(f"${ENV_NAMESPACE}={namespace!r} is not a module name such as 'labchain_remote'")
    for finder in sys.meta_path:
        if getattr(finder, "namespace", None) == namespace:
            if getattr(finder, "remoteimport_startup", False):
                return finder  # type: ignore[no-any-return]
            if not getattr(finder, "remoteimport_late", False):
                return None  # a RemoteFinder: remoteimport.install() serves it
    finder = StartupFinder(namespace)
    sys.meta_path.append(finder)
    return finder


def late_find_spec(fullname: str, path: object = None, target: object = None) -> object:
    """The slow path of the late finder ``remoteimport.pth`` always appends (when the variables were unset at
    start): reached by an import no other finder satisfied, once ``$REMOTEIMPORT_STORE`` or
    ``$REMOTEIMPORT_NAMESPACE`` is set, or for ``labchain_remote`` and pinned names (``ns.Name@hash``).

    Variables set after interpreter start (``LocalCluster(env=...)``, Dask's ``Environ`` plugin,
    ``os.environ[...] = ...``) switch the hook on at the namespace's first import, as if they had been set at
    start. Those names, when no finder serves them, raise :class:`~remoteimport.errors.NamespaceNotServedError`, whose
    message says how to serve it (instead of Python's bare "No module named ...")."""
    configured = os.environ.get(ENV_STORE) or os.environ.get(ENV_NAMESPACE)
    if configured:
        namespace = default_namespace()
        if fullname == namespace or fullname.startswith(namespace + "."):
            try:
                finder = _startup_finder(namespace)
            except ValueError as exc:
                raise ImportError(f"remoteimport: {exc}", name=fullname) from None
            if finder is None:
                return None  # an installed RemoteFinder answers
            # The import system is iterating over sys.meta_path, which may just have grown: answer now.
            return finder.find_spec(fullname, path, target)
    head, dot, last = fullname.rpartition(".")
    if fullname == DEFAULT_NAMESPACE:
        head = fullname  # `import labchain_remote` with no store anywhere: say how to configure one
    elif not dot or "@" not in last:
        return None
    for finder in sys.meta_path:
        if getattr(finder, "namespace", None) == head and not getattr(finder, "remoteimport_late", False):
            return None  # served: that finder answers (it comes later in sys.meta_path)
    from remoteimport.errors import NamespaceNotServedError

    raise NamespaceNotServedError(_env.not_served_message(fullname, head), name=fullname)
