"""Worker processes serve what the process that started them serves (docs/engines.md#worker-processes).

A producer pushes a scikit-learn estimator defined in a package of two modules; its source is deleted. A consumer
that only calls ``remoteimport.install(store)`` hands instances to ``multiprocessing`` (spawn, forkserver),
``ProcessPoolExecutor`` and joblib/loky workers: fresh interpreters that inherit the environment
(``$REMOTEIMPORT_SERVED``), not ``sys.meta_path``. Before, they got placeholders ("All the 3 fits failed").
A second producer pushes signed and unsigned classes: a worker refuses exactly what its parent refuses, and
never accepts what its own ``$REMOTEIMPORT_TRUSTED_KEYS`` refuses.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import push_then_delete, run_consumer, run_producer, write_files

from remoteimport import signing

SLOW = 240  # seconds: a dozen interpreters that import scikit-learn, on a shared 2-core machine

ESTIMATOR = {
    "centroids/__init__.py": """
        from .model import ShrunkCentroids
    """,
    "centroids/distance.py": """
        def squared_distances(X, centers):
            return ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    """,
    "centroids/model.py": """
        import os

        import numpy as np
        from sklearn.base import BaseEstimator, ClassifierMixin

        from .distance import squared_distances


        class ShrunkCentroids(ClassifierMixin, BaseEstimator):
            \"\"\"Nearest class centroid, each centroid pulled toward the overall mean.\"\"\"

            def __init__(self, shrink=0.0):
                self.shrink = shrink

            def fit(self, X, y):
                X = np.asarray(X, dtype=float)
                self.classes_ = np.unique(y)
                overall = X.mean(axis=0)
                centers = np.array([X[y == label].mean(axis=0) for label in self.classes_])
                self.centers_ = overall + (centers - overall) / (1.0 + self.shrink)
                return self

            def predict(self, X):
                distances = squared_distances(np.asarray(X, dtype=float), self.centers_)
                return self.classes_[distances.argmin(axis=1)]

            def where(self):
                return [os.getpid(), type(self).__module__]
    """,
}

PRELUDE = """
import concurrent.futures, multiprocessing, operator, os
import joblib
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV

Model = importlib.import_module("labchain_remote.ShrunkCentroids@{full}").ShrunkCentroids
X, y = load_iris(return_X_y=True)
models = [Model(shrink=shrink).fit(X, y) for shrink in (0.0, 1.0, 10.0)]
serial = [model.predict(X).tolist() for model in models]

def check(mapper):
    # what the workers predict, in which processes, with which class
    predictions = [predicted.tolist() for predicted in mapper(operator.methodcaller("predict", X), models)]
    places = list(mapper(operator.methodcaller("where"), models))
    return {{"same": predictions == serial, "elsewhere": all(pid != os.getpid() for pid, _ in places),
            "modules": sorted({{module for _, module in places}})}}
"""


@pytest.fixture(scope="module")
def estimator(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    folder = tmp_path_factory.mktemp("workers")
    store, pushed = push_then_delete(folder, ESTIMATOR, "centroids:ShrunkCentroids", "None")
    return folder, store, pushed["hash"]


def test_multiprocessing_and_process_pool_workers_serve_the_namespace(estimator: tuple[Path, str, str]) -> None:
    folder, store, full = estimator
    out = run_consumer(
        folder / "consumer-multiprocessing",
        store,
        PRELUDE.format(full=full)
        + """
for method in ("spawn", "forkserver"):
    with multiprocessing.get_context(method).Pool(2) as pool:
        out[method] = check(pool.map)
with concurrent.futures.ProcessPoolExecutor(2) as executor:
    out["executor"] = check(executor.map)
with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as executor:
    out["executor_spawn"] = check(executor.map)
print(json.dumps(out))
""",
        timeout=SLOW,
    )
    expected = {"same": True, "elsewhere": True, "modules": [f"labchain_remote.ShrunkCentroids@{full}"]}
    assert out == {"spawn": expected, "forkserver": expected, "executor": expected, "executor_spawn": expected}


def test_joblib_workers_and_a_parallel_grid_search(estimator: tuple[Path, str, str]) -> None:
    folder, store, full = estimator
    out = run_consumer(
        folder / "consumer-joblib",
        store,
        PRELUDE.format(full=full)
        + """
out["loky"] = check(lambda f, items: joblib.Parallel(n_jobs=2)(joblib.delayed(f)(item) for item in items))
grid = {"shrink": [0.0, 1.0, 10.0]}
searches = [GridSearchCV(Model(), grid, cv=3, n_jobs=jobs).fit(X, y) for jobs in (1, 2)]
out["best"] = [search.best_params_ for search in searches]
out["scores"] = [search.cv_results_["mean_test_score"].tolist() for search in searches]
print(json.dumps(out))
""",
        timeout=SLOW,
    )
    assert out["loky"] == {"same": True, "elsewhere": True, "modules": [f"labchain_remote.ShrunkCentroids@{full}"]}
    assert out["best"][0] == out["best"][1]
    assert out["scores"][0] == out["scores"][1] and all(score > 0.5 for score in out["scores"][0])


SIGNED_CLASSES = {
    "classes.py": """
        class Genuine:
            def answer(self):
                return 42

        class Unsigned:
            def answer(self):
                return 666

        class Stranger:
            def answer(self):
                return 7
    """,
}

SIGNED_PRODUCER = """
import json, sys
import remoteimport
from classes import Genuine, Stranger, Unsigned

store = sys.argv[1]
print(json.dumps({{
    "Genuine": remoteimport.push(Genuine, store=remoteimport.Store(store, signing_key={publisher!r})),
    "Unsigned": remoteimport.push(Unsigned, store=store),
    "Stranger": remoteimport.push(Stranger, store=remoteimport.Store(store, signing_key={stranger!r})),
}}))
"""

TRUST_CONSUMER = """
import multiprocessing, os
names = {{name: f"labchain_remote.{{name}}@{{full}}" for name, full in {hashes!r}.items()}}

def outcome(load):
    try:
        return ["loaded", load()]
    except Exception as exc:
        return [type(exc).__name__, str(exc)]

def here():
    return {{name: outcome(lambda: importlib.import_module(module).__name__) for name, module in names.items()}}

def in_a_worker(own_keys=None):
    # the worker's own setting, if any, is in the environment it starts with
    if own_keys is None:
        os.environ.pop("REMOTEIMPORT_TRUSTED_KEYS", None)
    else:
        os.environ["REMOTEIMPORT_TRUSTED_KEYS"] = own_keys
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            # a worker runs only what it can import: the builtin eval, with the import as text
            load = "__import__('importlib').import_module({{!r}}).__name__"
            return {{name: outcome(lambda: pool.apply(eval, (load.format(module),))) for name, module in names.items()}}
    finally:
        os.environ.pop("REMOTEIMPORT_TRUSTED_KEYS", None)

remoteimport.install(STORE, trusted_keys=[{publisher_pub!r}])
out["parent"] = here()
out["worker"] = in_a_worker()
out["worker_with_both_keys"] = in_a_worker({both!r})
out["worker_with_another_key"] = in_a_worker({stranger_pub!r})
remoteimport.install(STORE)                     # no key: this process accepts unsigned code ...
out["parent_without_keys"] = here()
out["worker_with_its_own_key"] = in_a_worker({publisher_pub!r})   # ... its worker keeps its own key
print(json.dumps(out))
"""


def test_a_worker_refuses_what_its_parent_refuses_and_what_it_refuses_itself(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    publisher_pub = signing.generate_key(keys / "publisher")
    stranger_pub = signing.generate_key(keys / "stranger")
    script = SIGNED_PRODUCER.format(publisher=str(keys / "publisher"), stranger=str(keys / "stranger"))
    producer = write_files(tmp_path / "producer", {**SIGNED_CLASSES, "producer.py": script})
    store = str(tmp_path / "store")
    hashes = run_producer(producer, store)
    for child in producer.iterdir():
        child.unlink()
    producer.rmdir()

    code = TRUST_CONSUMER.format(
        hashes=hashes, publisher_pub=publisher_pub, stranger_pub=stranger_pub, both=f"{stranger_pub},{publisher_pub}"
    )
    out = run_consumer(tmp_path / "consumer", store, code, timeout=SLOW)
    module = {name: f"labchain_remote.{name}@{full}" for name, full in hashes.items()}

    parent = out["parent"]
    assert parent["Genuine"] == ["loaded", module["Genuine"]]
    assert parent["Unsigned"][0] == "UntrustedBlobError" and "unsigned" in parent["Unsigned"][1]
    assert parent["Stranger"][0] == "UntrustedBlobError" and "not a trusted key" in parent["Stranger"][1]
    # exactly as the parent: same outcomes, same messages
    assert out["worker"] == parent
    # its own key list adds no key: the parent's stays required
    assert out["worker_with_both_keys"] == parent
    # no key both trust: nothing loads, and the error says why
    for name in module:
        error, message = out["worker_with_another_key"][name]
        assert error == "InheritedSettingsError"
        assert "REMOTEIMPORT_SERVED" in message and "REMOTEIMPORT_TRUSTED_KEYS" in message and "no key" in message
    # the parent accepts unsigned code again; an inherited empty key list does not switch the worker's own off
    assert out["parent_without_keys"]["Unsigned"] == ["loaded", module["Unsigned"]]
    assert out["worker_with_its_own_key"] == parent
