"""Ray: a ``runtime_env`` whose environment variables serve the namespace in every worker.

    >>> import ray                                                         # doctest: +SKIP
    >>> from remoteimport.integrations.ray import runtime_env
    >>> ray.init(runtime_env=runtime_env("s3://bucket/classes"))           # doctest: +SKIP
    >>> runtime_env("s3://bucket/classes", base={"env_vars": {"OMP_NUM_THREADS": "1"}})["env_vars"]
    {'OMP_NUM_THREADS': '1', 'REMOTEIMPORT_STORE': 's3://bucket/classes', 'REMOTEIMPORT_NAMESPACE': 'labchain_remote'}

Ray sets ``env_vars`` before a worker's interpreter starts, so the start-up hook (``remoteimport.pth``) serves
the namespace there with no code: tasks, actors, ``ray.put`` and returned instances import ``ns.Name@hash``
from the store. Use it for ``ray.init`` and for one task or actor (``f.options(runtime_env=...)``). This module
does not import ray.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from remoteimport.integrations import Served

__all__ = ["runtime_env"]


def runtime_env(
    store: Any = None,
    namespace: str | None = None,
    *,
    base: Mapping[str, Any] | None = None,
    lock: str | os.PathLike[str] | None = None,
    trusted_keys: Iterable[str | os.PathLike[str]] | None = None,
) -> dict[str, Any]:
    """``base`` (a runtime_env dict, not modified) plus the variables that serve ``namespace`` from ``store``.

    ``store``: a URL, path or :class:`~remoteimport.Store` (default ``$REMOTEIMPORT_STORE``; a Store's
    ``storage_options`` cannot travel in variables: give credentials to workers the backend's usual way);
    ``namespace``: default ``$REMOTEIMPORT_NAMESPACE``, else ``labchain_remote``. ``lock`` and ``trusted_keys``
    are paths the workers must be able to read (the same machine, or a shared file system): they become
    ``$REMOTEIMPORT_LOCK`` and ``$REMOTEIMPORT_TRUSTED_KEYS``; they are checked here first."""
    keys = list(trusted_keys) if trusted_keys is not None else None  # read twice: here and below
    served = Served.resolve(store, namespace, lock=lock, trusted_keys=keys)  # reads them: fail early
    variables = {"REMOTEIMPORT_STORE": served.store_url, "REMOTEIMPORT_NAMESPACE": served.namespace}
    if lock is not None:
        variables["REMOTEIMPORT_LOCK"] = os.path.abspath(lock)
    if served.trusted_keys:  # an empty list never switches the workers' own keys off
        variables["REMOTEIMPORT_TRUSTED_KEYS"] = ",".join(os.path.abspath(key) for key in keys or ())
    result = dict(base or {})
    result["env_vars"] = {**dict(result.get("env_vars") or {}), **variables}
    return result
