"""The listings `ls` makes through s3fs's and gcsfs's internals (remoteimport/_listings.py) with the **lowest**
s3fs and gcsfs the extras allow, in a venv built here, against moto's S3 server and the GCS emulator: the
adapter finds what it uses, and the refs, tags and names it lists are the store's. (The newest releases run the
same code in every other test: tests/test_ls_listing.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
from backends import GCSServer, S3Server
from environments import build_environment, lowest_allowed, project_dependencies
from packaging.version import Version

EXTRAS = ("s3", "gcs")
TIMEOUT = 120


def lowest_backends() -> dict[str, str]:
    """``{"s3fs": lowest, "gcsfs": lowest}`` as the installed project's extras declare them."""
    declared = [
        requirement.split(";")[0].strip()
        for requirement in metadata.requires("remoteimport") or []
        if any(f"extra == '{extra}'" in requirement or f'extra == "{extra}"' in requirement for extra in EXTRAS)
    ]
    return lowest_allowed(declared)


@pytest.fixture(scope="module")
def lowest_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the lowest cloudpickle, fsspec, s3fs and gcsfs the project allows, and this checkout."""
    pinned = {**lowest_allowed(project_dependencies()), **lowest_backends()}
    return build_environment(
        Path(sys.executable),
        tmp_path_factory.mktemp("lowest-backends") / "venv",
        [f"{n}=={v}" for n, v in pinned.items()],
    )


CHILD = """
import hashlib, json, sys
from importlib import metadata
from remoteimport import _listings
from remoteimport.blob import encode_blob, make_header
from remoteimport.store import Store

url, options = sys.argv[1], json.loads(sys.argv[2])
store = Store(url, **options)
names = ["Low0", "Low1", "Low2", "Low3", "Low4"]
hashes = {name: hashlib.sha256(name.encode()).hexdigest() for name in names}
blobs = {
    (name, full): encode_blob(make_header(name, full, b"p", python="3.11", cloudpickle_version="3"), b"p")
    for name, full in hashes.items()
}
store.write_blobs(blobs)
store.set_latest_many(hashes)
store.set_tag("Low1", "prod", hashes["Low1"])
store.fs.pipe_file(store._latest_path("Low3"), b"not a hash")  # read when its MD5 names no stored hash
refs = store.refs_many(names)
backend = type(store.fs).__module__.split(".")[0]
print(json.dumps({
    "version": metadata.version(backend),
    "problems": _listings.problems(type(store.fs)),
    "usable": _listings.usable(store.fs),
    "latest": {name: refs[name].latest if isinstance(refs[name].latest, str) else type(refs[name].latest).__name__
               for name in names},
    "tags": {name: refs[name].tags for name in names if isinstance(refs[name].tags, dict)},
    "etags": {name: bool(refs[name].blob_etag) for name in names},
    "page": store.scan_names(after="Low1", limit=2).names,
    "hashes": hashes,
}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["s3fs", "gcsfs"])
def test_the_listings_work_with_the_lowest_backends_allowed(
    lowest_venv: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "s3fs":
        server: S3Server | GCSServer = request.getfixturevalue("s3_server")
        url = request.getfixturevalue("s3_url")
        options = {"client_kwargs": {"endpoint_url": server.endpoint}}  # botocore 1.27 reads no AWS_ENDPOINT_URL
    else:
        server = request.getfixturevalue("gcs_server")
        url = request.getfixturevalue("gs_url")
        options = {"token": "anon", "endpoint_url": server.endpoint}
    environment = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "REMOTEIMPORT_CACHE_DIR": "off"}
    environment.update(server.environment)
    environment.update(
        {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    done = subprocess.run(
        [str(lowest_venv), "-c", textwrap.dedent(CHILD), url, json.dumps(options)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=str(lowest_venv.parent),
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert Version(found["version"]) == Version(lowest_backends()[backend]), found["version"]  # not a newer one
    assert found["problems"] == [] and found["usable"] is True
    hashes = found["hashes"]
    assert found["latest"] == {**hashes, "Low3": "IntegrityError"}
    assert found["tags"]["Low1"] == {"prod": hashes["Low1"]} and found["tags"]["Low0"] == {}
    assert found["etags"] == {"Low0": True, "Low1": True, "Low2": True, "Low3": False, "Low4": True}
    assert found["page"] == ["Low2", "Low3"]
