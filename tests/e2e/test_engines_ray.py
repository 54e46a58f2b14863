"""Ray workers import pinned classes by hash: one local Ray for the module (``ray.init(num_cpus=2)``, on
loopback), the producer's source deleted, the driver's cwd (which Ray puts on workers' ``sys.path``) empty.

The whole cluster gets ``runtime_env(store, NS)``; one task gets its own runtime_env with a lock and a trusted
key (Ray starts a worker for it). Every ``ray.get`` is bounded.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from engines_support import Versions, push_two_versions, without_remoteimport_variables

ray = pytest.importorskip("ray")

import remoteimport  # noqa: E402
from remoteimport.errors import UntrustedBlobError  # noqa: E402
from remoteimport.integrations.ray import runtime_env  # noqa: E402
from remoteimport.lock import Lock, write_lock  # noqa: E402

NS = "engines_ray_remote"
WAIT = 120  # seconds: the bound of every ray.get (a first task in a new runtime_env starts a worker)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Versions]:
    source = push_two_versions(tmp_path_factory.mktemp("engines_ray"), timeout=WAIT)
    saved = without_remoteimport_variables()
    cwd = os.getcwd()
    os.chdir(source.empty)
    # The tasks below are defined in this module: they travel by value, as a user's script's functions do.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    remoteimport.install(source.store, namespace=NS)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
        runtime_env=runtime_env(source.store, NS),
    )
    try:
        V1 = importlib.import_module(f"{NS}.Scaler@{source.v1}").Scaler
        V2 = importlib.import_module(f"{NS}.Scaler@{source.v2}").Scaler
        yield Versions(source, V1, V2)
    finally:
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        remoteimport.uninstall(NS)
        os.chdir(cwd)
        os.environ.update(saved)


def describe(*scalers: Any) -> dict[str, Any]:
    import importlib.util
    import os
    import sys

    return {
        "pid": os.getpid(),
        "source_absent": importlib.util.find_spec("engines_scaler") is None,
        "modules": [type(s).__module__ for s in scalers],
        "values": [s.apply(2) for s in scalers],
        "loaded": sorted(m.rpartition("@")[2][:8] for m in sys.modules if m.startswith(f"{NS}.Scaler@")),
    }


def make(namespace: str, k: int) -> Any:
    import importlib

    return importlib.import_module(namespace).Scaler(k)  # latest (v2), or the lock's pin


def pinned(namespace: str, full_hash: str) -> list[Any]:
    import importlib

    latest = importlib.import_module(namespace).Scaler
    return [latest.version, importlib.import_module(f"{namespace}.Scaler@{full_hash}").Scaler.version]


class Holder:
    def __init__(self, scaler: Any) -> None:
        self.scaler = scaler

    def apply(self, x: int) -> int:
        return self.scaler.apply(x)

    def swap(self, scaler: Any) -> str:
        self.scaler = scaler
        return type(scaler).__module__


def test_tasks_put_and_returned_instances(cluster: Versions) -> None:
    task = ray.remote(describe)
    seen = ray.get(task.remote(cluster.V1(3), cluster.V2(3)), timeout=WAIT)
    v1, v2 = cluster.pushed.v1, cluster.pushed.v2
    assert seen["source_absent"] and seen["pid"] != os.getpid()
    assert seen["modules"] == [f"{NS}.Scaler@{v1}", f"{NS}.Scaler@{v2}"]
    assert seen["values"] == [6, 106] and seen["loaded"] == sorted([v1[:8], v2[:8]])  # both in one worker

    stored = ray.put(cluster.V1(5))
    assert ray.get(task.remote(stored), timeout=WAIT)["values"] == [10]
    assert type(ray.get(stored, timeout=WAIT)) is cluster.V1

    made = ray.get(ray.remote(make).remote(NS, 7), timeout=WAIT)  # an instance made on a worker, returned
    assert type(made) is cluster.V2 and made.apply(1) == 107


def test_actors(cluster: Versions) -> None:
    holder = ray.remote(Holder).remote(cluster.V1(2))
    assert ray.get(holder.apply.remote(5), timeout=WAIT) == 10
    assert ray.get(holder.swap.remote(cluster.V2(2)), timeout=WAIT) == f"{NS}.Scaler@{cluster.pushed.v2}"
    assert ray.get(holder.apply.remote(5), timeout=WAIT) == 110


def test_a_task_runtime_env_with_a_lock_and_trusted_keys(cluster: Versions) -> None:
    source = cluster.pushed
    lock_path = source.folder / "ray.lock"
    write_lock(Lock(store=source.store, pins={"Scaler": source.v1}, namespace="engines_ray_pinned"), lock_path)
    env = runtime_env(source.store, "engines_ray_pinned", lock=lock_path, trusted_keys=[source.public_key])
    task = ray.remote(pinned).options(runtime_env=env)
    assert ray.get(task.remote("engines_ray_pinned", source.v1), timeout=WAIT) == [1, 1]  # the pin, signed
    with pytest.raises(UntrustedBlobError, match="unsigned"):
        ray.get(task.remote("engines_ray_pinned", source.v2), timeout=WAIT)


def test_runtime_env_merges_into_a_base() -> None:
    base = {"env_vars": {"OMP_NUM_THREADS": "1"}, "pip": ["x"]}
    env = runtime_env("s3://bucket/classes", "team_models", base=base)
    assert env == {
        "pip": ["x"],
        "env_vars": {
            "OMP_NUM_THREADS": "1",
            "REMOTEIMPORT_STORE": "s3://bucket/classes",
            "REMOTEIMPORT_NAMESPACE": "team_models",
        },
    }
    assert base == {"env_vars": {"OMP_NUM_THREADS": "1"}, "pip": ["x"]}  # not modified
