"""Dask workers import pinned classes by hash: real clusters, the producer's source deleted, workers' cwd empty.

One producer pushes two versions of ``Scaler`` (v1 signed, v2 not) from a folder that is deleted before any
cluster starts; this process imports both by hash through the hook and sends instances to workers, which have
nothing but the store: ``LocalCluster(processes=True)`` workers, and separate ``dask scheduler`` /
``dask worker`` processes. Every wait is bounded, so a failure never hangs the suite.
"""

from __future__ import annotations

import importlib
import operator
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from engines_support import Versions, push_two_versions, without_remoteimport_variables

pytest.importorskip("distributed")

from distributed import Client, LocalCluster  # noqa: E402
from distributed.diagnostics.plugin import Environ  # noqa: E402

import remoteimport  # noqa: E402
from remoteimport import hook, references  # noqa: E402
from remoteimport.errors import RemoteObjectUnavailableError, UntrustedBlobError  # noqa: E402
from remoteimport.integrations.dask import RemoteImportPlugin  # noqa: E402
from remoteimport.lock import Lock, write_lock  # noqa: E402

NS = "engines_dask_remote"
WAIT = 60  # seconds: the bound of every wait on a cluster


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Versions]:
    source = push_two_versions(tmp_path_factory.mktemp("engines_dask"), timeout=WAIT)
    # Workers inherit this process's environment and cwd: no remoteimport variable, an empty folder.
    saved = without_remoteimport_variables()
    cwd = os.getcwd()
    os.chdir(source.empty)
    remoteimport.install(source.store, namespace=NS)
    # These tests are about the plugin and the variables: LocalCluster's workers, started by this process, must
    # not inherit what it serves (docs/engines.md#worker-processes); test_worker_processes.py tests that route.
    os.environ.pop("REMOTEIMPORT_SERVED", None)
    served_before = set(hook.installed())
    try:
        V1 = importlib.import_module(f"{NS}.Scaler@{source.v1}").Scaler
        V2 = importlib.import_module(f"{NS}.Scaler@{source.v2}").Scaler
        yield Versions(source, V1, V2)
    finally:
        # LocalCluster's scheduler runs in this process: its plugins served namespaces here too
        for namespace in set(hook.installed()) - served_before | {NS}:
            remoteimport.uninstall(namespace)
        references.defer_load_errors(False)
        os.chdir(cwd)
        os.environ.update(saved)


def local_cluster(n_workers: int = 2, **options: Any) -> LocalCluster:
    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        **options,
    )


def describe(*scalers: Any) -> dict[str, Any]:
    """Runs on a worker: what it made of the instances, and whether any source of them is there."""
    import importlib.util
    import os
    import sys

    return {
        "pid": os.getpid(),
        "cwd_empty": not os.listdir(os.getcwd()),
        "source_absent": importlib.util.find_spec("engines_scaler") is None,
        "modules": [type(s).__module__ for s in scalers],
        "values": [s.apply(2) for s in scalers],
        "both_loaded": sum(1 for m in sys.modules if m.startswith(f"{NS}.Scaler@")),
    }


def use(scaler: Any) -> int:
    return scaler.apply(2)


def latest_through_the_lock(namespace: str) -> list[Any]:
    import importlib

    cls = importlib.import_module(namespace).Scaler
    return [cls.version, cls(1).apply(1)]


def import_version(namespace: str, full_hash: str) -> int:
    import importlib

    return importlib.import_module(f"{namespace}.Scaler@{full_hash}").Scaler.version


def test_the_plugin_serves_every_worker_including_later_ones_with_locks_and_keys(pushed: Versions) -> None:
    lock_path = pushed.pushed.folder / "workers.lock"
    write_lock(
        Lock(store=pushed.pushed.store, pins={"Scaler": pushed.pushed.v1}, namespace="engines_dask_locked"), lock_path
    )
    # an instance of unsigned v2 under a namespace whose plugin (below) trusts only the publisher's key
    remoteimport.install(pushed.pushed.store, namespace="engines_dask_signed")
    unsigned = importlib.import_module(f"engines_dask_signed.Scaler@{pushed.pushed.v2}").Scaler(1)
    with local_cluster() as cluster, Client(cluster) as client:
        client.wait_for_workers(2, timeout=WAIT)
        client.register_plugin(RemoteImportPlugin(pushed.pushed.store, namespace=NS))
        # one register_plugin serves the namespace (and its own lock / keys) on all workers
        client.register_plugin(RemoteImportPlugin(pushed.pushed.store, namespace="engines_dask_locked", lock=lock_path))
        client.register_plugin(
            RemoteImportPlugin(
                pushed.pushed.store, namespace="engines_dask_signed", trusted_keys=[pushed.pushed.public_key]
            )
        )
        workers = list(client.scheduler_info()["workers"])
        for address in workers:
            seen = client.submit(describe, pushed.V1(3), pushed.V2(3), workers=[address], pure=False).result(WAIT)
            assert seen["cwd_empty"] and seen["source_absent"]
            assert seen["modules"] == [f"{NS}.Scaler@{pushed.pushed.v1}", f"{NS}.Scaler@{pushed.pushed.v2}"]
            assert seen["values"] == [6, 106] and seen["both_loaded"] == 2  # two versions in one process

        # a returned instance comes back as the same version
        back = client.submit(lambda s: s, pushed.V2(5), pure=False).result(WAIT)
        assert type(back) is pushed.V2 and back.apply(1) == 105

        # the lock pins what `from namespace import Scaler` gives on workers; trusted keys refuse v2 (unsigned)
        assert client.submit(latest_through_the_lock, "engines_dask_locked", pure=False).result(WAIT) == [1, 1]
        assert client.submit(import_version, "engines_dask_signed", pushed.pushed.v1, pure=False).result(WAIT) == 1
        with pytest.raises(UntrustedBlobError, match="unsigned"):
            client.submit(import_version, "engines_dask_signed", pushed.pushed.v2, pure=False).result(WAIT)
        # a refused instance fails its task (on the scheduler and the worker it is only a placeholder) ...
        pids = sorted(client.run(os.getpid).values())
        with pytest.raises(RemoteObjectUnavailableError, match="UntrustedBlobError"):
            client.submit(use, unsigned, pure=False).result(WAIT)
        assert sorted(client.run(os.getpid).values()) == pids  # ... and kills no worker

        # a worker that joins later gets the plugin from the scheduler
        cluster.scale(3)
        client.wait_for_workers(3, timeout=WAIT)
        (late,) = set(client.scheduler_info()["workers"]) - set(workers)
        assert client.submit(use, pushed.V2(1), workers=[late], pure=False).result(WAIT) == 102


def test_a_worker_without_the_hook_fails_the_task_and_lives(pushed: Versions) -> None:
    with local_cluster() as cluster, Client(cluster) as client:
        client.wait_for_workers(2, timeout=WAIT)
        pids = sorted(client.run(os.getpid).values())
        future = client.submit(use, pushed.V1(3), pure=False)
        with pytest.raises(RemoteObjectUnavailableError) as failed:
            future.result(WAIT)
        message = str(failed.value)
        assert f"{NS}.Scaler@{pushed.pushed.v1}" in message and "REMOTEIMPORT_STORE" in message
        assert "RemoteImportPlugin" in message  # the fix, named
        assert sorted(client.run(os.getpid).values()) == pids  # no worker died, none was restarted

        # Dask's own Environ plugin: the variables reach the (restarted) workers after their interpreter started
        client.register_plugin(Environ({"REMOTEIMPORT_STORE": pushed.pushed.store, "REMOTEIMPORT_NAMESPACE": NS}))
        client.wait_for_workers(2, timeout=WAIT)
        assert client.submit(use, pushed.V1(3), pure=False).result(WAIT) == 6


def test_local_cluster_env_activates_the_hook_late(pushed: Versions) -> None:
    variables = {"REMOTEIMPORT_STORE": pushed.pushed.store, "REMOTEIMPORT_NAMESPACE": NS}
    with local_cluster(n_workers=1, env=variables) as cluster, Client(cluster) as client:
        assert client.submit(use, pushed.V2(3), pure=False).result(WAIT) == 106


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_separate_scheduler_and_worker_processes(pushed: Versions) -> None:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REMOTEIMPORT_")}
    dask = [sys.executable, "-m", "dask"]  # the `dask` command of this interpreter
    scheduler_cmd = [*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    worker_cmd = [*dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"]
    processes: list[subprocess.Popen[bytes]] = []

    def start(command: list[str]) -> None:
        processes.append(
            subprocess.Popen(
                command, cwd=os.getcwd(), env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )

    try:
        start(scheduler_cmd)
        start(worker_cmd)
        deadline = time.monotonic() + WAIT
        while True:
            try:
                client = Client(address, timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        with client:
            client.wait_for_workers(1, timeout=WAIT)
            client.register_plugin(RemoteImportPlugin(pushed.pushed.store, namespace=NS))
            # The scheduler unpickles the task graph: it serves the namespace too. (The task is a stdlib callable:
            # these processes cannot import this test module, as they could not import a user's script.)
            apply_2 = operator.methodcaller("apply", 2)
            assert client.submit(apply_2, pushed.V1(4), pure=False).result(WAIT) == 8
            start(worker_cmd)  # joins later
            client.wait_for_workers(2, timeout=WAIT)
            results = [
                client.submit(apply_2, pushed.V2(1), workers=[address], pure=False).result(WAIT)
                for address in client.scheduler_info()["workers"]
            ]
            assert results == [102, 102]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
