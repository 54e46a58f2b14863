"""The request budget, counted where it is paid: on moto's S3 server (real HTTP; tests/backends.py).

| operation                                  | requests |
| ------------------------------------------ | -------- |
| cold pinned import by full hash            | 1        |
| pinned import by prefix                    | 2        |
| `from ns import X` (latest)                | <= 2     |
| warm pinned import (blob in the cache)     | 0        |
| `status`                                   | 1        |
| push of a new version                      | <= 4     |
| push of an unchanged class                 | <= 2, no blob upload |
| `ls` page                                  | 3 listings (a request per 1,000 keys) + 1 per class |
| a page of `ls --after NAME`                | the same, listing from that name on |
| the web view's class list (50 names)       | `ls`'s + 1 per class (its history listing: the version count) |
| the web view's class page                  | 3 + 1 per tag + 2 per version shown + 1 per event shown |
| the web view's version page                | 4 + 1 per tag + up to 3 history entries |
| the web view's compare page                | 4 + 1 per tag |
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from backends import Request, S3Server, free_port
from sample_classes import make_filter

import remoteimport
from remoteimport import registry
from remoteimport.blob import encode_blob, make_header
from remoteimport.cache import BlobCache
from remoteimport.store import HEADER_READ_SIZE, Store, Version


@pytest.fixture
def store(s3_url: str, tmp_path: Path) -> Store:
    """An empty S3 store with its own, cold blob cache."""
    return Store(s3_url, cache=BlobCache(tmp_path / "cache"))


@pytest.fixture
def namespace(store: Store) -> Iterator[str]:
    name = f"budget_{uuid.uuid4().hex[:12]}"
    remoteimport.install(store, namespace=name)
    yield name
    remoteimport.uninstall(name)


def methods(log: list[Request]) -> list[str]:
    return [request.method for request in log]


def blob_puts(log: list[Request]) -> list[Request]:
    return [request for request in log if request.method == "PUT" and request.path.endswith(".blob")]


# -- publishing -------------------------------------------------------------------------------------------


def test_push_of_a_new_version_costs_four_requests(s3_server: S3Server, store: Store) -> None:
    with s3_server.counting() as log:
        remoteimport.push(make_filter(1), store=store)
    assert len(log) <= 4, [str(r) for r in log]
    assert methods(log) == ["GET", "PUT", "PUT", "PUT"]  # blob absent, blob, latest, history entry
    assert len(blob_puts(log)) == 1


def test_push_of_an_unchanged_class_costs_two_requests_and_uploads_nothing(s3_server: S3Server, store: Store) -> None:
    cls = make_filter(2)
    remoteimport.push(cls, store=store)
    with s3_server.counting() as log:
        remoteimport.push(cls, store=store)
    assert len(log) <= 2 and methods(log) == ["GET", "GET"], [str(r) for r in log]  # the blob, then latest


def test_pushing_an_older_version_again_only_moves_latest(s3_server: S3Server, store: Store) -> None:
    v1, v2 = make_filter(3), make_filter(4)
    remoteimport.push(v1, store=store)
    remoteimport.push(v2, store=store)
    with s3_server.counting() as log:
        remoteimport.push(v1, store=store)
    # GET blob, GET latest, the blob's age (an old blob is written again before refs name it, so a gc racing the
    # push cannot take it: tests/test_promote_delete_gc.py), PUT history, PUT latest; no upload of a young blob
    assert len(log) <= 5 and not blob_puts(log)
    assert [v.hash for v in remoteimport.versions("MyFilter", store=store)][0] == remoteimport.class_hash(v1)


def test_status_costs_one_request(s3_server: S3Server, store: Store) -> None:
    cls = make_filter(5)
    remoteimport.push(cls, store=store)
    with s3_server.counting() as log:
        assert remoteimport.status(cls, store=store) == "synced"
    assert methods(log) == ["GET"] and log[0].path.endswith("/refs/MyFilter/latest")


# -- importing --------------------------------------------------------------------------------------------


def test_cold_pinned_import_by_full_hash_costs_one_request(s3_server: S3Server, store: Store, namespace: str) -> None:
    full_hash = remoteimport.push(make_filter(6), store=store)
    with s3_server.counting() as log:
        cls = importlib.import_module(f"{namespace}.MyFilter@{full_hash}").MyFilter
    assert cls().apply(2) == 12
    assert methods(log) == ["GET"] and log[0].path.endswith(f"{full_hash}.blob")


def test_pinned_import_by_prefix_costs_one_listing_and_one_read(
    s3_server: S3Server, store: Store, namespace: str
) -> None:
    full_hash = remoteimport.push(make_filter(7), store=store)
    with s3_server.counting() as log:
        importlib.import_module(f"{namespace}.MyFilter@{full_hash[:10]}")
    assert len(log) == 2, [str(r) for r in log]
    listing, read = log
    assert "list-type=2" in listing.query and f"blobs%2FMyFilter%2F{full_hash[:2]}%2F" in listing.query
    assert read.path.endswith(f"{full_hash}.blob")


def test_latest_costs_at_most_two_requests(s3_server: S3Server, store: Store, namespace: str) -> None:
    full_hash = remoteimport.push(make_filter(8), store=Store(store.url))  # pushed elsewhere: not memoized here
    with s3_server.counting() as log:
        exec(f"from {namespace} import MyFilter", {})  # looks MyFilter up twice: one `latest` read serves both
    assert len(log) <= 2, [str(r) for r in log]
    assert log[0].path.endswith("/refs/MyFilter/latest") and log[1].path.endswith(f"{full_hash}.blob")


def test_a_loaded_class_costs_nothing_again(s3_server: S3Server, store: Store, namespace: str) -> None:
    full_hash = remoteimport.push(make_filter(9), store=store)
    importlib.import_module(f"{namespace}.MyFilter@{full_hash}")
    with s3_server.counting() as log:
        importlib.import_module(f"{namespace}.MyFilter@{full_hash}")
        remoteimport.get_version("MyFilter", full_hash, store=store, namespace=namespace)
    assert log == []


def test_warm_pinned_import_costs_nothing_and_does_not_import_the_backend_even_offline(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    """Three fresh interpreters share one cache: the first fetches, the second is served from the cache with
    no request and without importing s3fs, the third does the same with the store unreachable."""
    full_hash = remoteimport.push(make_filter(10), store=s3_url)
    cache = tmp_path / "shared-cache"
    code = f"""
        import importlib, json, sys, time
        import remoteimport
        remoteimport.install({s3_url!r}, namespace="offline_remote")
        started = time.perf_counter()
        cls = importlib.import_module("offline_remote.MyFilter@{full_hash}").MyFilter
        print(json.dumps({{"apply": cls().apply(1), "s3fs": "s3fs" in sys.modules,
                          "ms": (time.perf_counter() - started) * 1000}}))
    """

    def run(**environment: str) -> dict:
        env = {**_environment(), "REMOTEIMPORT_CACHE_DIR": str(cache), **environment}
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    with s3_server.counting() as cold_log:
        cold = run()
    with s3_server.counting() as warm_log:
        warm = run()
    offline = run(AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    assert len(cold_log) == 1 and cold["s3fs"] is True
    assert warm_log == [] and warm["s3fs"] is False and offline["s3fs"] is False
    assert cold["apply"] == warm["apply"] == offline["apply"] == 10


# -- listing ----------------------------------------------------------------------------------------------


def test_ls_and_log_page(s3_server: S3Server, store: Store) -> None:
    for index in range(12):
        remoteimport.push(make_filter(index), store=store, name=f"Filter{index:02d}")
    for index in range(30):
        remoteimport.push(make_filter(100 + index), store=store, name="Busy")
    with s3_server.counting() as log:
        page = store.names(after="Filter03", limit=5)
        pointers = store.latest_many(page)
    assert page == ["Filter04", "Filter05", "Filter06", "Filter07", "Filter08"] and None not in pointers.values()
    assert len(log) == 1 + 5  # one listing, then a read per name on the page (not per name in the store)
    with s3_server.counting() as log:
        newest = store.history("Busy", limit=5)
        older = store.history("Busy", limit=5, offset=5)
    assert len(log) == 2 * (1 + 5)  # a listing and five reads per page, not thirty
    assert [v.hash for v in newest + older] == [v.hash for v in store.history("Busy")[:10]]
    assert newest[0].hash == store.latest("Busy")
    assert len(remoteimport.versions("Busy", store=store)) == 30


def test_push_all_runs_the_requests_concurrently(
    s3_server: S3Server, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "_PERSISTED", {})
    classes = {f"Batch{index:03d}": make_filter(f"batch-{index}") for index in range(40)}
    for name, cls in classes.items():
        remoteimport.persist(name=name)(cls)
    with s3_server.counting() as log:
        pushed = remoteimport.push_all(store=store)
    assert pushed == {name: remoteimport.class_hash(cls) for name, cls in classes.items()}
    assert len(log) <= 4 * len(classes) and len(blob_puts(log)) == len(classes)
    assert s3_server.max_in_flight > 1  # the server saw requests overlap
    with s3_server.counting() as log:
        assert remoteimport.push_all(store=store) == pushed  # unchanged: reads only
    assert len(log) <= 2 * len(classes) and set(methods(log)) == {"GET"}
    assert [store.latest(name) for name in classes] == list(pushed.values())


def _environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("REMOTEIMPORT_")}


def test_the_cli_pages_ls_and_log(s3_server: S3Server, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    from remoteimport import cli

    for index in range(8):
        remoteimport.push(make_filter(200 + index), store=store, name=f"Paged{index}")
        remoteimport.push(make_filter(300 + index), store=store, name="Paged0")
    with s3_server.counting() as log:
        assert cli.main(["ls", "--store", store.url, "--limit", "3", "--after", "Paged1", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [entry["name"] for entry in listed["classes"]] == ["Paged2", "Paged3", "Paged4"]
    # A listing of the names from Paged1 on; two of the page's refs and blobs (the refs' ETags say which hash each
    # holds); then per class on the page a ranged read of its blob's header
    assert listed["next_after"] == "Paged4" and len(log) == 1 + 2 + 3
    assert kinds(log) == {"LIST names": 1, "LIST refs": 1, "LIST blobs": 1, "GET blob": 3}
    with s3_server.counting() as log:
        assert cli.main(["log", "Paged0", "--store", store.url, "--limit", "4", "--offset", "2"]) == 0
    text = capsys.readouterr().out
    assert len(text.splitlines()) == 2 + 4 + 1 and "more: remoteimport log Paged0 --offset 6" in text
    assert len(log) == 1 + 5  # a listing, then the page and one entry more (is there a next page?)


# -- ls and the web view's class list: latest, a ranged read of the header and the tags of each class ------------
#
# `latest` and tags hold only a hash, but S3 lists each object's ETag, the MD5 of its content, and the blobs'
# keys name every stored hash: so a page costs a listing of the names (from --after on), two listings of the
# page's range (refs/ grouped by "/history/", and blobs/), each a request per 1,000 keys, then one ranged GET of
# each class's header (its blob's first 64 KiB), concurrent. A ref whose ETag names no stored hash is read.


def write_classes(
    store: Store, names: list[str], *, blobs: bool = True, source: str = "x = 1\n", payload: bytes = b"payload"
) -> dict[str, str]:
    """One version per name, written straight through the store (much faster than pushing), 100 names per batch
    of writes (each batch is one storage operation, with one deadline): ``{name: hash}``. ``blobs=False`` sets
    only the ``latest`` refs (names an `ls` page must not read)."""
    hashes = {name: hashlib.sha256(name.encode()).hexdigest() for name in names}
    for first in range(0, len(names), 100):
        batch = {name: hashes[name] for name in names[first : first + 100]}
        if blobs:
            versions = {"python": "3.11", "cloudpickle_version": "3.1.2"}
            headers = {
                (name, full): make_header(name, full, payload, source={"a.py": source}, **versions)
                for name, full in batch.items()
            }
            store.write_blobs({key: encode_blob(header, payload) for key, header in headers.items()})
        store.set_latest_many(batch)
    return hashes


def kinds(log: list[Request]) -> dict[str, int]:
    """How many requests of each kind: LIST of the names (grouped by "/"), of a page's refs (grouped by
    "/history/") or blobs, of a tags/ or history/ folder; GET of latest, a blob, a tag, a history entry."""
    counted: dict[str, int] = {}
    for request in log:
        query = unquote(request.query)
        if "list-type=2" in query:
            prefix = query.rstrip("&").split("prefix=")[1].split("&")[0]
            delimiter = query.split("delimiter=")[1].split("&")[0] if "delimiter=" in query else ""
            kind = next((f"LIST {part}" for part in ("tags", "history") if prefix.endswith(f"/{part}/")), "LIST")
            if kind == "LIST" and prefix.endswith("/refs/"):
                kind = {"/": "LIST names", "/history/": "LIST refs"}.get(delimiter, "LIST")
            elif kind == "LIST" and prefix.endswith("/blobs/") and not delimiter:
                kind = "LIST blobs"
        elif request.method == "GET" and request.path.endswith("/latest"):
            kind = "GET latest"
        elif request.method == "GET" and request.path.endswith(".blob"):
            kind = "GET blob"
        elif request.method == "GET" and "/tags/" in request.path:
            kind = "GET tag"
        elif request.method == "GET" and "/history/" in request.path:
            kind = "GET history"
        else:
            kind = str(request)
        counted[kind] = counted.get(kind, 0) + 1
    return counted


def run_ls(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    from remoteimport import cli

    assert cli.main(["ls", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_ls_of_a_thousand_names_reads_one_request_per_class_on_the_page(
    s3_server: S3Server, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [f"Many{index:04d}" for index in range(1000)]
    hashes = write_classes(store, names[:200])  # the first two pages of 100; the others have refs only
    write_classes(store, names[200:], blobs=False)
    for name in names[:3]:
        store.set_tag(name, "prod", hashes[name])
    store.set_tag(names[0], "stable", hashes[names[0]])
    with s3_server.counting() as log:
        first = run_ls(capsys, "--store", store.url)  # the default page: 100 names
    assert [entry["name"] for entry in first["classes"]] == names[:100] and first["next_after"] == names[99]
    assert first["classes"][0]["tags"] == {"prod": hashes[names[0]], "stable": hashes[names[0]]}
    assert all(entry["python"] == "3.11" and "damaged" not in entry for entry in first["classes"])
    # 1,000 names: one LIST page; the page's refs and blobs: one each; its headers: one ranged GET each
    assert kinds(log) == {"LIST names": 1, "LIST refs": 1, "LIST blobs": 1, "GET blob": 100}
    assert len(log) == 3 + 100, [str(request) for request in log]
    assert s3_server.max_in_flight > 1  # concurrent, not one name after another

    with s3_server.counting() as log:
        second = run_ls(capsys, "--store", store.url, "--after", first["next_after"])
    assert [entry["name"] for entry in second["classes"]] == names[100:200]
    assert kinds(log) == {"LIST names": 1, "LIST refs": 1, "LIST blobs": 1, "GET blob": 100}
    # nothing of a name outside the page is read: not the 201st name (read only to know there is a next page)
    page = set(names[100:200])
    touched = {part for request in log for part in request.path.split("/") if part.startswith("Many")}
    assert touched == page


def test_ls_pages_with_after_read_only_their_own_names(
    s3_server: S3Server, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [f"Filter{index:02d}" for index in range(12)]
    write_classes(store, names)
    pages, after = [], None
    while True:
        with s3_server.counting() as log:
            listed = run_ls(capsys, "--store", store.url, "--limit", "5", *(["--after", after] if after else []))
        shown = [entry["name"] for entry in listed["classes"]]
        pages.append(shown)
        assert len(log) == 3 + len(shown), [str(request) for request in log]
        touched = {part for request in log for part in request.path.split("/") if part.startswith("Filter")}
        assert touched == set(shown)
        after = listed.get("next_after")
        if after is None:
            break
    assert pages == [names[0:5], names[5:10], names[10:12]]


def test_ls_reads_only_the_start_of_each_blob_and_leaves_payloads_to_verify(
    s3_server: S3Server, store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 4 MB payload is not downloaded, a header longer than the first read costs one more ranged read, and
    the payload digest is not checked (a flipped payload byte lists as usual; `verify` finds it). A header
    that names another class, or is cut short, shows DAMAGED."""
    big = write_classes(store, ["Big"], payload=b"\0" * 4_000_000)
    long = write_classes(store, ["Long"], source="#" * (HEADER_READ_SIZE + 10_000))
    good = write_classes(store, ["Flipped", "Wrong", "Cut"])
    flipped = bytearray(store.read_blob("Flipped", good["Flipped"]))
    flipped[-1] ^= 1
    store.write_blob("Flipped", good["Flipped"], bytes(flipped), known_absent=True)
    store.write_blob("Wrong", good["Wrong"], store.read_blob("Cut", good["Cut"]), known_absent=True)
    store.write_blob("Cut", good["Cut"], store.read_blob("Cut", good["Cut"])[:40], known_absent=True)
    long_header_end = len(store.read_blob("Long", long["Long"])) - len(b"payload")

    read: list[tuple[str, int, int | None, int]] = []
    original = Store._get_ranges

    def recording(self: Store, ranges: dict[str, tuple[int, int | None]], **options: bool) -> dict[str, object]:
        found = original(self, ranges, **options)
        read.extend((path, *ranges[path], len(found[path])) for path in ranges if path.endswith(".blob"))
        return found

    monkeypatch.setattr(Store, "_get_ranges", recording)
    with s3_server.counting() as log:
        listed = run_ls(capsys, "--store", store.url)
    entries = {entry["name"]: entry for entry in listed["classes"]}
    assert len(log) == 3 + 5 + 1  # one more ranged GET: the rest of Long's header
    assert kinds(log)["GET blob"] == 6
    assert sorted((path.rsplit("/", 3)[1], start, end) for path, start, end, _ in read) == [
        ("Big", 0, HEADER_READ_SIZE),
        ("Cut", 0, HEADER_READ_SIZE),
        ("Flipped", 0, HEADER_READ_SIZE),
        ("Long", 0, HEADER_READ_SIZE),
        ("Long", HEADER_READ_SIZE, long_header_end),
        ("Wrong", 0, HEADER_READ_SIZE),
    ]
    assert max(size for *_, size in read) <= HEADER_READ_SIZE  # not the 4 MB payload
    assert entries["Big"]["latest"] == big["Big"] and "damaged" not in entries["Big"]
    assert "damaged" not in entries["Long"] and "damaged" not in entries["Flipped"]
    assert "its header says Cut@" in entries["Wrong"]["damaged"]
    assert "IntegrityError" in entries["Cut"]["damaged"] and "truncated" in entries["Cut"]["damaged"]


def test_the_web_views_class_list_costs_what_ls_costs_and_a_history_listing(s3_server: S3Server, store: Store) -> None:
    from remoteimport.ui import views

    hashes = write_classes(store, [f"Shown{index}" for index in range(5)])
    store.set_tag("Shown1", "prod", hashes["Shown1"])
    with s3_server.counting() as log:
        rows, skipped, next_after = views.class_page(store, store.policy.trust, after=None)
    assert [row.name for row in rows] == list(hashes) and not skipped and next_after is None
    assert rows[1].tags == {"prod": hashes["Shown1"]} and all(row.latest and row.latest.header for row in rows)
    # ls's requests, and one listing of each class's history for its version count (one LIST per 1,000 entries)
    counted = {"LIST names": 1, "LIST refs": 1, "LIST blobs": 1, "GET blob": 5, "LIST history": 5}
    assert kinds(log) == counted
    with s3_server.counting() as log:  # a search reads the names that match, and only them
        rows, _, _ = views.class_page(store, store.policy.trust, after=None, query="shown3")
    assert [row.name for row in rows] == ["Shown3"] and rows[0].latest.header.name == "Shown3"
    # its header is not read again: this host kept it, for the blob with that ETag (tests/test_ls_listing.py)
    assert kinds(log) == {"LIST names": 1, "LIST refs": 1, "LIST blobs": 1, "LIST history": 1}


def write_history(store: Store, name: str, hashes: list[str], *, first: float = 1_700_000_000) -> None:
    """One history entry per hash, oldest first, a second apart (straight through the store, as pushes write them)."""
    store.append_history_many(Version(name, full, first + index, "3.11") for index, full in enumerate(hashes))


def test_the_web_views_class_page_reads_one_page_however_long_the_history(s3_server: S3Server, store: Store) -> None:
    """A page of versions costs a read of each one's first history entry and of its header; a page of events a read
    of each; plus the history listing, `latest` and the tags. A history ten times as long costs the same reads."""
    from remoteimport.ui import views

    hashes = [hashlib.sha256(b"Busy %d" % index).hexdigest() for index in range(120)]
    payload = b"payload"
    store.write_blobs({("Busy", full): encode_blob(make_header("Busy", full, payload), payload) for full in hashes})
    write_history(store, "Busy", hashes)
    store.set_latest("Busy", hashes[-1])
    store.set_tag("Busy", "prod", hashes[0])
    store.set_tag("Busy", "stable", hashes[-2])
    with s3_server.counting() as log:
        page = views.class_versions_page(store, "Busy", store.policy.trust)
    assert [row.hash for row in page.versions] == hashes[::-1][: views.PAGE_SIZE] and page.version_count == 120
    assert all(row.info.header for row in page.versions) and page.versions[0].is_latest
    assert len(page.events) == views.HISTORY_PAGE_SIZE and page.next_offset == views.PAGE_SIZE
    # The newest 25 events are the pushes of the newest 25 versions: their entries are read once.
    shown = {"LIST history": 1, "GET latest": 1, "LIST tags": 1, "GET tag": 2, "GET history": 50, "GET blob": 50}
    assert kinds(log) == shown, [str(request) for request in log]

    write_history(store, "Busy", [hashes[index % 120] for index in range(1_000)], first=1_800_000_000)
    with s3_server.counting() as log:
        page = views.class_versions_page(store, "Busy", store.policy.trust, offset=50, history_offset=500)
    assert page.version_count == 120 and page.event_count == 1_120 and len(page.versions) == views.PAGE_SIZE
    # 1,120 entries: two listing pages; then 50 versions' first entries and headers, 25 events' entries
    shown = {"LIST history": 2, "GET latest": 1, "LIST tags": 1, "GET tag": 2, "GET history": 75, "GET blob": 50}
    assert kinds(log) == shown, [str(request) for request in log]


def test_the_web_views_version_and_compare_pages(s3_server: S3Server, store: Store) -> None:
    from remoteimport.ui import views

    hashes = [remoteimport.push(make_filter(400 + index), store=store) for index in range(4)]
    store.set_tag("MyFilter", "prod", hashes[1])
    with s3_server.counting() as log:
        page = views.version_page(store, "MyFilter", hashes[2], store.policy.trust)
    assert (page.older, page.newer, page.tags, page.entry and page.entry.hash) == (hashes[1], hashes[3], [], hashes[2])
    # the whole blob (its payload digest checked), the history listing, latest, the tags, and the history
    # entries of the version and of its two neighbours
    shown = {"GET blob": 1, "LIST history": 1, "GET latest": 1, "LIST tags": 1, "GET tag": 1, "GET history": 3}
    assert kinds(log) == shown, [str(request) for request in log]
    with s3_server.counting() as log:
        compared = views.compare_page(store, "MyFilter", hashes[0], hashes[3], store.policy.trust)
    assert compared.changes and compared.labels(compared.new) == ["latest"]
    assert kinds(log) == {"GET blob": 2, "LIST tags": 1, "GET tag": 1, "GET latest": 1}


def test_the_tags_of_a_name_without_tags_cost_one_listing(s3_server: S3Server, store: Store) -> None:
    write_classes(store, ["Untagged"])
    with s3_server.counting() as log:
        assert store.tags("Untagged") == {}
    assert len(log) == 1 and kinds(log) == {"LIST tags": 1}  # s3fs's `ls` would list the parent as well
