"""The producer shared by the engine tests (test_engines_dask.py, test_engines_ray.py): two versions of
``Scaler`` pushed from a folder that is deleted before any worker starts; v1 is signed, v2 is not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from support import delete, write_files

from remoteimport.signing import generate_key

PRODUCER = """
    import importlib, json, pathlib, sys
    import remoteimport

    VERSION = '''
    class Scaler:
        version = {version}

        def __init__(self, k):
            self.k = k

        def apply(self, x):
            return self.k * x + {offset}
    '''

    store_url, key = sys.argv[1], sys.argv[2]
    pathlib.Path("engines_scaler.py").write_text(VERSION.format(version=1, offset=0))
    import engines_scaler
    v1 = remoteimport.push(engines_scaler.Scaler, store=remoteimport.Store(store_url, signing_key=key))
    pathlib.Path("engines_scaler.py").write_text(VERSION.format(version=2, offset=100))
    importlib.reload(engines_scaler)
    v2 = remoteimport.push(engines_scaler.Scaler, store=remoteimport.Store(store_url))
    print(json.dumps({"v1": v1, "v2": v2}))
"""


@dataclass(frozen=True)
class Pushed:
    store: str  # a local folder
    v1: str  # full hashes: v1.apply(x) == k * x (signed), v2.apply(x) == k * x + 100 (unsigned)
    v2: str
    public_key: str  # the .pub that signed v1
    folder: Path  # a scratch folder for the test (locks ...)
    empty: Path  # an empty folder: the cwd of workers


def push_two_versions(folder: Path, timeout: float) -> Pushed:
    """Run the producer in ``folder/producer``, then delete that folder (the source exists nowhere else)."""
    public_key = generate_key(folder / "publisher.key")
    producer = write_files(folder / "producer", {"producer.py": PRODUCER})
    store = str(folder / "store")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REMOTEIMPORT_")}
    done = subprocess.run(
        [sys.executable, "producer.py", store, str(folder / "publisher.key")],
        cwd=producer,
        env={**environment, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    versions = json.loads(done.stdout.strip().splitlines()[-1])
    delete(producer)
    empty = folder / "empty"
    empty.mkdir()
    return Pushed(store, versions["v1"], versions["v2"], public_key, folder, empty)


def without_remoteimport_variables() -> dict[str, str]:
    """Take every REMOTEIMPORT_ variable (but the session's cache folder) out of os.environ; return them."""
    names = [k for k in os.environ if k.startswith("REMOTEIMPORT_") and k != "REMOTEIMPORT_CACHE_DIR"]
    return {name: os.environ.pop(name) for name in names}


@dataclass
class Versions:
    """What an engine test's fixture gives: the pushed versions and the two classes, loaded pinned."""

    pushed: Pushed
    V1: type
    V2: type
