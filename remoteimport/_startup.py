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

This module is imported during interpreter start-up: it must stay tiny and import only built-in modules.
"""

from __future__ import annotations

import _thread
import os
import sys

__all__ = ["ENV_NAMESPACE", "PTH_NAME", "StartupFinder", "activate", "default_namespace"]

ENV_STORE = "REMOTEIMPORT_STORE"  # the same name as remoteimport.store.ENV_STORE (not imported: too heavy here)
ENV_NAMESPACE = "REMOTEIMPORT_NAMESPACE"
DEFAULT_NAMESPACE = "labchain_remote"  # registry.DEFAULT_NAMESPACE, repeated so start-up imports no registry
PTH_NAME = "remoteimport.pth"  # the file setup.py installs at the root of site-packages


def default_namespace() -> str:
    """The namespace served when none is given: ``$REMOTEIMPORT_NAMESPACE``, else ``labchain_remote``."""
    return os.environ.get(ENV_NAMESPACE) or DEFAULT_NAMESPACE


class StartupFinder:
    """A ``sys.meta_path`` finder that waits for ``<namespace>`` and only then installs the real hook.

    Every import the earlier finders cannot satisfy passes through :meth:`find_spec`, so its fast path is
    one string comparison; nothing else happens until the namespace is imported."""

    remoteimport_startup = True  # how remoteimport.install() recognises (and removes) start-up finders

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._prefix = namespace + "."
        self._lock = _thread.allocate_lock()

    def __repr__(self) -> str:
        return f"StartupFinder({self.namespace!r})"

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object:
        if fullname != self.namespace and not fullname.startswith(self._prefix):
            return None
        with self._lock:
            from remoteimport import hook

            finder = hook.installed().get(self.namespace)
            if finder is None:
                # The store, the lock and the namespace come from the environment, as documented.
                finder = hook.install(namespace=self.namespace)  # also takes this finder off sys.meta_path
        # The import system is iterating over sys.meta_path, which just changed: answer for the real finder
        # now instead of relying on it being visited later in this pass.
        return finder.find_spec(fullname, path, target)

    def invalidate_caches(self) -> None:
        pass


def activate() -> None:
    """Append a :class:`StartupFinder` for the configured namespace (once). Called by ``remoteimport.pth``.

    It never raises: an error in a ``.pth`` line would print a traceback at every interpreter start."""
    try:
        namespace = default_namespace()
        if not all(part.isidentifier() for part in namespace.split(".")):
            raise ValueError(f"${ENV_NAMESPACE}={namespace!r} is not a module name such as 'labchain_remote'")
        for finder in sys.meta_path:
            if getattr(finder, "remoteimport_startup", False) and getattr(finder, "namespace", None) == namespace:
                return
        sys.meta_path.append(StartupFinder(namespace))
    except Exception as exc:  # pragma: no cover - reported, never fatal
        print(f"remoteimport: start-up hook not installed: {exc}", file=sys.stderr)
