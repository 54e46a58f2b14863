"""Dask: one plugin serves a namespace on the scheduler and on every worker, including workers that join later.

    >>> from distributed import Client, LocalCluster                          # doctest: +SKIP
    >>> from remoteimport.integrations.dask import RemoteImportPlugin
    >>> client = Client(LocalCluster(n_workers=2))                            # doctest: +SKIP
    >>> client.register_plugin(RemoteImportPlugin("s3://bucket/classes"))     # doctest: +SKIP
    >>> client.submit(lambda f: f.apply(2), MyFilter()).result()              # doctest: +SKIP

It is Dask's own extension point, built like Dask's ``InstallPlugin``: a scheduler plugin whose ``start``
serves the namespace in the scheduler process (which unpickles task graphs) and registers a worker plugin,
which the scheduler hands to every worker, now and when it joins. Nothing of the classes' source is sent:
workers import ``ns.Name@hash`` from the store, as any host does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

from remoteimport.integrations import Served

__all__ = ["RemoteImportPlugin"]


class RemoteImportPlugin(SchedulerPlugin):
    """Serve ``namespace`` from ``store`` on the scheduler and on every worker of the cluster.

    ``store``: a URL, path or :class:`~remoteimport.Store` (default: ``$REMOTEIMPORT_STORE`` here);
    ``namespace``: default ``$REMOTEIMPORT_NAMESPACE``, else ``labchain_remote``; ``lock``: a lock file or
    :class:`~remoteimport.Lock`, read here and shipped (None: each process's own ``$REMOTEIMPORT_LOCK``);
    ``trusted_keys``: ``.pub`` files, read here and shipped (None: each process's ``$REMOTEIMPORT_TRUSTED_KEYS``).
    Register it once: ``client.register_plugin(RemoteImportPlugin(store))``."""

    idempotent = True  # registering the same namespace again is a no-op

    def __init__(
        self,
        store: Any = None,
        namespace: str | None = None,
        *,
        lock: Any = None,
        trusted_keys: Iterable[str | os.PathLike[str] | Any] | None = None,
    ) -> None:
        self.served = Served.resolve(store, namespace, lock=lock, trusted_keys=trusted_keys)
        self.name = f"remoteimport-{self.served.namespace}"

    def __repr__(self) -> str:
        from remoteimport.store import redact_url

        return f"RemoteImportPlugin({redact_url(self.served.store_url)!r}, namespace={self.served.namespace!r})"

    async def start(self, scheduler: Any) -> None:
        from distributed.core import clean_exception
        from distributed.protocol.pickle import dumps
        from distributed.protocol.serialize import Serialized, deserialize

        _serve(self.served)  # the scheduler unpickles task graphs: it imports the classes too
        responses = await scheduler.register_worker_plugin(
            comm=None, plugin=dumps(_WorkerPlugin(self.served, self.name)), name=self.name, idempotent=False
        )
        for response in responses.values():
            if response["status"] == "error":  # as Dask's InstallPlugin reports a worker's failure
                response = {
                    k: deserialize(v.header, v.frames) for k, v in response.items() if isinstance(v, Serialized)
                }
                _, exc, tb = clean_exception(**response)
                raise exc.with_traceback(tb)


class _WorkerPlugin(WorkerPlugin):
    def __init__(self, served: Served, name: str) -> None:
        self.served, self.name = served, name

    def setup(self, worker: Any) -> None:
        _serve(self.served)


def _serve(served: Served) -> None:
    from remoteimport import references

    # A Dask process that fails while unpickling a message drops the connection (a worker dies, its task moves
    # on and kills the next one): here any failure to load an instance's class (an untrusted blob, a store that
    # does not answer) becomes a placeholder that fails only the task using it.
    references.defer_load_errors()
    served.serve()
