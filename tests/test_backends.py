"""S3 (moto's server) and GCS (the emulator) specifics: the backend is opened lazily, storage_options reach it,
and its failures read clearly. The store's own behaviour on both runs in tests/test_store.py (parametrized),
the two-interpreter round trips in tests/e2e, the request budget in tests/test_requests.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest
from backends import GCS_BUCKET, S3_BUCKET, GCSServer, S3Server
from sample_classes import make_filter

import remoteimport
from remoteimport.errors import IntegrityError, NameNotFoundError, StoreError, StoreUnreachableError
from remoteimport.store import Store


def test_stores_open_their_backend_only_on_first_use() -> None:
    code = """
        import json, sys
        import remoteimport
        stores = [remoteimport.Store("s3://bucket/classes"), remoteimport.Store("gs://bucket/classes")]
        remoteimport.install(stores[0], namespace="lazy_remote")
        before = sorted(m for m in ("s3fs", "gcsfs", "botocore") if m in sys.modules)
        urls = [store.url for store in stores]
        stores[0].fs
        print(json.dumps({"before": before, "after": "s3fs" in sys.modules, "urls": urls,
                          "remote": [store.is_local for store in stores]}))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=True
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {
        "before": [],
        "after": True,
        "urls": ["s3://bucket/classes", "gs://bucket/classes"],
        "remote": [False, False],
    }


def test_a_missing_backend_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "s3fs" else real_find_spec(name, *a)
    )
    import fsspec  # noqa: F401  (fsspec.registry, the module, is shadowed by its `registry` mapping)

    registered = sys.modules["fsspec.registry"]._registry
    monkeypatch.delitem(registered, "s3", raising=False)  # as if s3fs had never been imported
    # the distribution itself: it installs from any index, whether remoteimport came from a checkout or a wheel
    with pytest.raises(StoreError, match=r"s3://bucket/x.*pip install s3fs \(what remoteimport's 's3' extra"):
        Store("s3://bucket/x")
    with pytest.raises(StoreError, match="fsspec knows no protocol 'nosuchproto'"):
        Store("nosuchproto://bucket/x")


def test_storage_options_reach_s3fs(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    store = Store(f"s3://{S3_BUCKET}/options", client_kwargs={"endpoint_url": s3_server.endpoint})
    full_hash = remoteimport.push(make_filter(1), store=store)
    with s3_server.counting() as log:
        assert store.latest("MyFilter") == full_hash
    assert len(log) == 1  # it was the moto server that answered


def test_storage_options_reach_gcsfs(gcs_server: GCSServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    store = Store(f"gs://{GCS_BUCKET}/options", token="anon", endpoint_url=gcs_server.endpoint)
    full_hash = remoteimport.push(make_filter(2), store=store)
    assert Store(f"gs://{GCS_BUCKET}/options", token="anon", endpoint_url=gcs_server.endpoint).latest("MyFilter") == (
        full_hash
    )
    assert remoteimport.get_version("MyFilter", full_hash[:8], store=store)().apply(2) == 4


@pytest.mark.parametrize("backend", ["s3", "gs"])
def test_a_missing_bucket_is_named(request: pytest.FixtureRequest, backend: str) -> None:
    request.getfixturevalue("s3_server" if backend == "s3" else "gcs_server")
    url = f"{backend}://no-such-bucket-{os.getpid()}/classes"
    with pytest.raises(StoreUnreachableError, match=f"{url}.*Does the bucket exist"):
        remoteimport.push(make_filter(3), store=url)
    with pytest.raises(NameNotFoundError, match="holds no classes at all: check its URL"):
        remoteimport.versions("MyFilter", store=url)


def test_an_unreachable_endpoint_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from backends import free_port

    store = Store(
        "s3://bucket/classes",
        client_kwargs={"endpoint_url": f"http://127.0.0.1:{free_port()}"},
        config_kwargs={"connect_timeout": 0.5, "retries": {"max_attempts": 1}},
        retries=0,  # s3fs's own retries
    )
    with pytest.raises(StoreUnreachableError, match=r"s3://bucket/classes.*Check the URL, your network"):
        store.latest("MyFilter")


@pytest.mark.parametrize("backend", ["s3", "gs"])
def test_an_emptied_ref_is_an_integrity_error(request: pytest.FixtureRequest, backend: str) -> None:
    store = Store(request.getfixturevalue(f"{backend}_url"))
    remoteimport.push(make_filter(4), store=store)
    store.fs.pipe_file(store.root + "/refs/MyFilter/latest", b"")  # an empty object has no byte 0 to range-read
    with pytest.raises(IntegrityError, match="refs/MyFilter/latest"):
        store.latest("MyFilter")
