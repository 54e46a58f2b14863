"""What each host of tests/e2e/test_ml_project.py runs: exec'd into the interpreter (which has remoteimport
installed for STORE and ``HASHES``, name -> full hash, defined), never imported, and no part of ``myproj``.

It builds objects that nest instances of several user classes from several modules, from *pinned* classes
(``labchain_remote.Name@hash``), computes what they answer, and saves them every way users do (pickle, joblib,
torch.save, copy.deepcopy, process pools). Another host loads the files and must get the same answers.
"""

import concurrent.futures
import importlib
import json
import multiprocessing
import operator
import pickle
from pathlib import Path

import joblib
import numpy as np

try:
    import torch
except ImportError:  # the torch parts are left out where it is not installed (the test says how to install it)
    torch = None

VALUES = [0.5, -1.0, 2.0, 3.5, -0.25]
X = np.array([[0, 1], [1, 1], [2, 0], [0, 0], [1, 2], [2, 2], [0, 2], [1, 0], [2, 1], [0, 1], [1, 1], [2, 0]])
Y = np.array([0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1])


def pinned(name):
    return getattr(importlib.import_module(f"labchain_remote.{name}@{HASHES[name]}"), name)  # noqa: F821


def build():
    Reduce, WindowConfig = pinned("Reduce"), pinned("WindowConfig")
    objects = {
        "filter": pinned("WindowFilter")(WindowConfig(2, Reduce.MAX), widths=(1, 2)),
        "churn": pinned("ChurnModel")(encoder=pinned("FrequencyEncoder")(smoothing=0.5), C=2.0).fit(X, Y),
        "optimizer": pinned("OptimizerConfig")(lr=0.01, tags=["Warm", "RUN"]),
    }
    if torch is not None:
        torch.manual_seed(0)
        objects["net"] = pinned("TabularNet")(pinned("NetConfig")(width=8, depth=2))
    return objects


def answers(objects):
    found = {
        "filter": objects["filter"].apply(VALUES),
        "churn": objects["churn"].predict_proba(X).tolist(),
        "optimizer": objects["optimizer"].model_dump(mode="json"),
    }
    if "net" in objects:
        with torch.no_grad():
            found["net"] = [round(v, 5) for v in objects["net"](torch.ones(3, 4)).flatten().tolist()]
    return found


def identities(objects):
    """The classes inside the objects are the very classes pinned imports give (one content hash, one class)."""
    return {
        "config": type(objects["filter"].config) is pinned("WindowConfig"),
        "reduce": type(objects["filter"].config.reduce) is pinned("Reduce"),
        "encoder": type(objects["churn"].encoder_) is pinned("FrequencyEncoder"),
        "net_config": "net" not in objects or type(objects["net"].config) is pinned("NetConfig"),
    }


def save(objects, folder):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "objects.pkl").write_bytes(pickle.dumps(objects))
    joblib.dump(objects, folder / "objects.joblib")
    if "net" in objects:
        torch.save(objects["net"], folder / "net.pt")


def load(folder):
    folder = Path(folder)
    loaded = {
        "pickle": pickle.loads((folder / "objects.pkl").read_bytes()),
        "joblib": joblib.load(folder / "objects.joblib"),
    }
    if torch is not None and (folder / "net.pt").exists():
        loaded["torch"] = {**loaded["pickle"], "net": torch.load(folder / "net.pt", weights_only=False)}
    return loaded


def in_workers(objects):
    """The filter applied in other processes: spawn, forkserver, a process pool, joblib's loky workers, and a
    scikit-learn cross-validation with n_jobs=2."""
    from sklearn.model_selection import cross_val_score

    apply = operator.methodcaller("apply", VALUES)
    found = {}
    for method in ("spawn", "forkserver"):
        with multiprocessing.get_context(method).Pool(2) as pool:
            found[method] = pool.map(apply, [objects["filter"]] * 2)
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as executor:
        found["executor"] = list(executor.map(apply, [objects["filter"]] * 2))
    found["loky"] = joblib.Parallel(n_jobs=2)(joblib.delayed(apply)(objects["filter"]) for _ in range(2))
    churn = pinned("ChurnModel")(encoder=pinned("FrequencyEncoder")(), C=2.0)
    serial = cross_val_score(churn, X, Y, cv=3).round(6).tolist()
    found["cross_val"] = cross_val_score(churn, X, Y, cv=3, n_jobs=2).round(6).tolist() == serial
    return found


def report(**parts):
    print(json.dumps(parts, sort_keys=True))
