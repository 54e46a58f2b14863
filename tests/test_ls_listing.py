"""`ls` on S3 without a request per ref: listings that start and stop at the page's names, and the refs' ETags
(remoteimport._s3fs, Store.refs_many, Store.scan_names). Always on moto's server (real HTTP), against what the
same store says when each ref is read one by one."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
from pathlib import Path

import pytest
from backends import S3Server
from fsspec.asyn import sync
from hypothesis import given, settings
from hypothesis import strategies as st
from test_requests import kinds, write_classes

from remoteimport import _listings
from remoteimport.blob import encode_blob, make_header
from remoteimport.cache import BlobCache
from remoteimport.errors import IntegrityError
from remoteimport.names import validate_name
from remoteimport.store import NameRefs, Store, Version


@pytest.fixture
def store(s3_url: str, tmp_path: Path) -> Store:
    return Store(s3_url, cache=BlobCache(tmp_path / "cache"))


@pytest.fixture(params=["s3", "gs"])
def either_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """An empty store on moto's S3 server or on the GCS emulator."""
    url = request.getfixturevalue("s3_url" if request.param == "s3" else "gs_url")
    return Store(url, cache=BlobCache(tmp_path / "cache"))


def one_by_one(store: Store, names: list[str]) -> dict[str, NameRefs]:
    """What reading each ref (and listing each tags folder) says: the ground truth refs_many must agree with."""
    found = {}
    for name in names:
        try:
            latest: object = store.latest(name)
        except IntegrityError as exc:
            latest = exc
        try:
            tags: object = store.tags(name)
        except IntegrityError as exc:
            tags = exc
        found[name] = NameRefs(latest, tags)
    return found


def comparable(refs: dict[str, NameRefs]) -> dict[str, tuple[object, object]]:
    """Errors compared by type and message (two reads raise two equal, not identical, errors)."""
    return {
        name: tuple(f"{type(part).__name__}: {part}" if isinstance(part, Exception) else part for part in found[:2])
        for name, found in refs.items()
    }


def second_version(store: Store, name: str, tag: str = "v2") -> str:
    """Another version of ``name`` (a blob of its own hash), written straight through the store: its hash."""
    full_hash = hashlib.sha256(f"{name} {tag}".encode()).hexdigest()
    header = make_header(name, full_hash, b"v2", source={"a.py": "x = 2\n"}, python="3.11", cloudpickle_version="3")
    store.write_blob(name, full_hash, encode_blob(header, b"v2"))
    return full_hash


@pytest.mark.parametrize("module", ["s3fs", "gcsfs"])
def test_the_installed_backend_has_the_internals_the_adapter_uses(module: str) -> None:
    backend = importlib.import_module(module)
    fs_class = backend.S3FileSystem if module == "s3fs" else backend.GCSFileSystem
    assert _listings.problems(fs_class) == [], (
        f"{module} {backend.__version__} changed what remoteimport/_listings.py uses (checked with "
        f"{_listings.CHECKED_VERSIONS[module]}); `ls` there falls back to reading every ref: fix the adapter"
    )


def test_the_adapter_says_what_is_missing() -> None:
    class S3FileSystem:
        __module__ = "s3fs.core"

        def _call_s3(self, method):  # not a coroutine function any more, and no **kwargs
            return method

    found = _listings.problems(S3FileSystem)
    assert found == ["S3FileSystem._call_s3 is not a coroutine function", "S3FileSystem.split_path is gone"]

    class Changed(S3FileSystem):
        __module__ = "s3fs.core"
        split_path = staticmethod(lambda path: path)

        async def _call_s3(self, method):  # no **kwargs: the listing's arguments could not be passed
            return method

    assert _listings.problems(Changed) == ["Changed._call_s3 takes (self, method), not (self, method, **kwargs)"]

    class GCSFileSystem:
        __module__ = "gcsfs.core"
        split_path = staticmethod(lambda path: path)

        async def _call(self, method):  # no path, no **kwargs
            return method

    assert _listings.problems(GCSFileSystem) == [
        "GCSFileSystem._call takes (self, method), not (self, method, path, *args, ..., **kwargs)"
    ]


def test_refs_many_agrees_with_reading_every_ref(either_store: Store, request: pytest.FixtureRequest) -> None:
    """Tags at other versions, a tag and a `latest` whose hash has no blob, a ref written with a newline (its MD5
    is no stored hash's), a damaged tag, a damaged `latest`, a name with no `latest`: the listings resolve what
    their MD5s say and read the rest, and the result is what one-by-one reads say, on S3 and on GCS."""
    store = either_store
    names = ["Alpha", "Beta", "Gamma", "Delta", "Eps", "Zeta"]
    hashes = write_classes(store, ["Before", *names, "After"])  # names off the page: never in the result
    older = second_version(store, "Alpha")  # not latest
    store.set_tag("Alpha", "prod", older)
    store.set_tag("Alpha", "stable", hashes["Alpha"])
    no_blob = hashlib.sha256(b"gone").hexdigest()
    store.set_tag("Beta", "gone", no_blob)  # its blob was never written (or was collected)
    store.set_latest("Gamma", no_blob)
    store.fs.pipe_file(store._latest_path("Delta"), (hashes["Delta"] + "\n").encode())  # still a good ref
    store.fs.pipe_file(store._tag_path("Eps", "broken"), b"not a hash")
    store.fs.pipe_file(store._latest_path("Zeta"), b"garbage")
    store.fs.rm_file(store._latest_path("Beta"))  # Beta keeps its tag, and has no latest
    assert _listings.usable(store.fs)

    on_s3 = store.url.startswith("s3://")
    counting = request.getfixturevalue("s3_server").counting() if on_s3 else contextlib.nullcontext([])
    with counting as log:
        refs = store.refs_many(names)
    assert list(refs) == sorted(names)
    assert comparable(refs) == comparable(one_by_one(store, names))
    assert refs["Alpha"][:2] == (hashes["Alpha"], {"prod": older, "stable": hashes["Alpha"]})
    assert refs["Beta"] == NameRefs(None, {"gone": no_blob})
    # what changes with each latest version's blob, when there is one: what its kept header is keyed by (S3: the
    # ETag, its MD5; GCS: its MD5 and generation)
    for name in ("Alpha", "Delta", "Eps"):
        md5 = hashlib.md5(store.read_blob(name, hashes[name])).hexdigest()
        assert refs[name].blob_etag == md5 if on_s3 else refs[name].blob_etag.startswith(md5 + "-")
    assert refs["Gamma"].blob_etag is None and refs["Zeta"].blob_etag is None
    assert refs["Gamma"].latest == no_blob and refs["Delta"].latest == hashes["Delta"]
    assert isinstance(refs["Eps"].tags, IntegrityError) and "tag Eps@HASH broken --force" in str(refs["Eps"].tags)
    assert isinstance(refs["Zeta"].latest, IntegrityError) and "does not hold a full hash" in str(refs["Zeta"].latest)
    if on_s3:  # two listings, then a read of each ref whose MD5 names no stored hash: Beta's tag, Gamma's,
        # Delta's and Zeta's latest, Eps's tag
        assert kinds(log) == {"LIST refs": 1, "LIST blobs": 1, "GET latest": 3, "GET tag": 2}, [str(r) for r in log]


def test_refs_many_reads_every_ref_when_the_server_refuses_the_listing(
    s3_server: S3Server, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that takes no multi-character delimiter (or no StartAfter) answers the listing with an error:
    the refs are read one by one instead, with the same result."""
    names = ["One", "Two"]
    hashes = write_classes(store, names)
    store.set_tag("Two", "prod", hashes["Two"])

    async def refused(*args: object, **kwargs: object) -> list[_listings.Listed]:
        raise OSError("NotImplemented: a delimiter of more than one character")

    monkeypatch.setattr(_listings, "list_range", refused)
    with s3_server.counting() as log:
        refs = store.refs_many(names)
    assert refs == {"One": NameRefs(hashes["One"], {}), "Two": NameRefs(hashes["Two"], {"prod": hashes["Two"]})}
    assert kinds(log) == {"GET latest": 2, "LIST tags": 2, "GET tag": 1}


def test_a_listing_of_names_pages_from_after_and_past_planted_folders(
    either_store: Store, request: pytest.FixtureRequest
) -> None:
    """`--after` starts the listing there (on S3 the names before are not listed again), and a folder that is no
    class name, or a stray file, takes no name's place on a page."""
    store = either_store
    names = [f"Page{index:02d}" for index in range(30)]
    write_classes(store, names, blobs=False)
    store.fs.pipe_file(store._path("refs", "Page10-planted", "latest"), b"x")  # sorts before Page10/
    store.fs.pipe_file(store._path("refs", "Page12x", "latest"), b"x")  # a valid name, no hash: listed, damaged
    store.fs.pipe_file(store._path("refs", "Page11.txt"), b"x")  # a stray file
    on_s3 = store.url.startswith("s3://")
    counting = request.getfixturevalue("s3_server").counting() if on_s3 else contextlib.nullcontext([])
    with counting as log:
        listing = store.scan_names(after="Page09", limit=4)
    assert listing.names == ["Page10", "Page11", "Page12", "Page12x"]
    assert [entry.path.rsplit("/", 1)[1] for entry in listing.skipped] == ["Page10-planted", "Page11.txt"]
    if on_s3:
        assert kinds(log) == {"LIST names": 1}
        assert "start-after" in log[0].query and "Page090" in log[0].query  # S3 started past Page09's keys
    assert store.scan_names(after="Page27").names == ["Page28", "Page29"]
    assert store.scan_names(after="Page29").names == []
    assert store.scan_names(limit=2).names == ["Page00", "Page01"]


def test_listings_page_through_continuations_like_one_answer(either_store: Store) -> None:
    """Listings of many pages (3 keys each here) give what one answer gives: the same entries, in order, starting
    and stopping at the same names, across continuation tokens, on both servers."""
    store = either_store
    names = [f"Multi{index}" for index in range(7)]
    hashes = write_classes(store, names)
    store.append_history_many(Version(name, full, 1.7e9, "3.11") for name, full in hashes.items())
    for name in names[::2]:
        store.set_tag(name, "prod", hashes[name])

    def listed(folder: str, **options: object) -> list[_listings.Listed]:
        return sync(store.fs.loop, _listings.list_range, store.fs, store._path(folder), **options)

    for folder, options in [
        ("refs", {"first": "Multi1", "last": "Multi5", "delimiter": "/history/"}),
        ("blobs", {"first": "Multi2", "last": "Multi4"}),
        ("refs", {"after": "Multi0", "delimiter": "/", "folders": 4}),
    ]:
        whole = listed(folder, **options)
        assert listed(folder, page_size=3, **options) == whole, (folder, options)
        assert whole and {entry.key.split("/")[0] for entry in whole} <= set(names)
    refs = listed("refs", first="Multi1", last="Multi5", delimiter="/history/")
    assert [entry.key for entry in refs if entry.key.endswith("/latest")] == [f"Multi{i}/latest" for i in range(1, 6)]
    assert [entry.key for entry in refs if entry.folder] == [f"Multi{i}/history" for i in range(1, 6)]
    assert [entry.key for entry in refs if "/tags/" in entry.key] == ["Multi2/tags/prod", "Multi4/tags/prod"]
    assert [entry.key for entry in listed("refs", after="Multi0", delimiter="/", folders=4)] == names[1:5]


# -- the order the listings rely on --------------------------------------------------------------------------

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).map(validate_name)
REST = st.sampled_from(["latest", "tags/prod", "tags/a.b-c", "history/0001-ab.json", "x"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(NAMES, REST), min_size=1, max_size=30), st.data())
def test_a_names_keys_sort_together_and_in_name_order(keys: list[tuple[str, str]], data: st.DataObject) -> None:
    """S3 lists keys in the order of their UTF-8 bytes. Class names hold no character sorting at or below "/", so
    the keys after ``refs/<first>/`` up to the last key of ``<last>`` are exactly the keys of the names from
    ``first`` to ``last``, and the keys after ``refs/<after>0`` are exactly those of the names after ``after``."""
    listed = sorted({f"refs/{name}/{rest}" for name, rest in keys}, key=lambda key: key.encode())
    names = sorted({name for name, _ in keys})
    first = data.draw(st.sampled_from(names))
    last = data.draw(st.sampled_from([name for name in names if name >= first]))
    after = data.draw(NAMES)
    in_range = [key for key in listed if key > f"refs/{first}/"]
    in_range = in_range[: next((i for i, key in enumerate(in_range) if key.split("/")[1] > last), len(in_range))]
    assert in_range == [key for key in listed if first <= key.split("/")[1] <= last]
    assert [key for key in listed if key > f"refs/{after}0"] == [key for key in listed if key.split("/")[1] > after]


# -- headers kept by this host, keyed by the blob's ETag -----------------------------------------------------


def run_ls_json(capsys: pytest.CaptureFixture[str], url: str) -> dict:
    from remoteimport import cli

    assert cli.main(["ls", "--store", url, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_ls_again_reads_no_header_it_kept_and_reads_a_rewritten_blob_again(
    s3_server: S3Server, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("REMOTEIMPORT_CACHE_DIR", str(tmp_path / "host-cache"))
    hashes = write_classes(store, ["Kept", "Rewritten", "Spoiled"])
    with s3_server.counting() as log:
        first = run_ls_json(capsys, store.url)
    assert kinds(log) == {"LIST names": 1, "LIST refs": 1, "LIST blobs": 1, "GET blob": 3}
    with s3_server.counting() as log:
        again = run_ls_json(capsys, store.url)
    assert again == first and kinds(log) == {"LIST names": 1, "LIST refs": 1, "LIST blobs": 1}

    # The blob is rewritten with another header (as `sign` does): a new ETag, so the header is read again.
    header = make_header(
        "Rewritten", hashes["Rewritten"], b"payload", source={"a.py": "x = 1\n"}, python="3.12", cloudpickle_version="3"
    )
    store.write_blob("Rewritten", hashes["Rewritten"], encode_blob(header, b"payload"), known_absent=True)
    # A kept header spoiled on this host (a partial write, a hand edit) is read again, never shown.
    cache = BlobCache(tmp_path / "host-cache")
    etag = hashlib.md5(store.read_blob("Spoiled", hashes["Spoiled"])).hexdigest()
    Path(cache.header_path("Spoiled", hashes["Spoiled"], etag)).write_bytes(b"RIMPORT\0garbage")
    with s3_server.counting() as log:
        third = run_ls_json(capsys, store.url)
    entries = {entry["name"]: entry for entry in third["classes"]}
    assert entries["Rewritten"]["python"] == "3.12" and entries["Kept"]["python"] == "3.11"
    assert all("damaged" not in entry for entry in third["classes"])
    assert kinds(log) == {"LIST names": 1, "LIST refs": 1, "LIST blobs": 1, "GET blob": 2}
    assert cache.get_header("Spoiled", hashes["Spoiled"], etag).startswith(b"RIMPORT\0\0")  # kept again, whole

    monkeypatch.setenv("REMOTEIMPORT_CACHE_DIR", "off")  # no cache: every header is read
    with s3_server.counting() as log:
        assert run_ls_json(capsys, store.url)["classes"] == third["classes"]
    assert kinds(log)["GET blob"] == 3


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=90))
def test_a_kept_headers_file_is_named_by_a_real_etag_only(etag: str) -> None:
    """An ETag comes from the store's listing: outside data. Only hex digits and dashes name a file."""
    cache = BlobCache("/nonexistent/cache")
    try:
        path = cache.header_path("Name", "ab" * 32, etag)
    except ValueError:
        assert not (etag and etag[0] != "-" and len(etag) <= 80 and set(etag) <= set("0123456789abcdef-"))
    else:
        assert path == f"/nonexistent/cache/blobs/Name/ab/{'ab' * 32}.{etag}.header"


def test_ls_on_gcs_keeps_the_headers_it_read_too(
    gs_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    store = Store(gs_url)
    hashes = write_classes(store, ["OnGcs", "Other"])
    store.set_tag("OnGcs", "prod", hashes["OnGcs"])
    monkeypatch.setenv("REMOTEIMPORT_CACHE_DIR", str(tmp_path / "host-cache"))
    first = run_ls_json(capsys, gs_url)
    assert [(entry["name"], entry["latest"], entry["tags"]) for entry in first["classes"]] == [
        ("OnGcs", hashes["OnGcs"], {"prod": hashes["OnGcs"]}),
        ("Other", hashes["Other"], {}),
    ]
    kept = sorted(path.name for path in (tmp_path / "host-cache").rglob("*.header"))
    assert len(kept) == 2 and all(name.startswith(tuple(hashes.values())) for name in kept)
    assert run_ls_json(capsys, gs_url) == first


def test_listing_while_pushes_move_latest_shows_only_hashes_latest_held(store: Store) -> None:
    """A writer moves every `latest` while pages are listed: each listing says, of each name, a hash its
    `latest` held at some moment (from the ETag, or read when the two listings disagree), never another."""
    import threading

    names = [f"Moving{index}" for index in range(12)]
    held = {name: [full] for name, full in write_classes(store, names).items()}
    stop = threading.Event()

    def writer() -> None:
        round_ = 0
        while not stop.is_set() and round_ < 40:
            round_ += 1
            for name in names[::3]:
                full = second_version(store, name, tag=f"r{round_}")
                held[name].append(full)
                store.set_latest(name, full)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        listings = [store.refs_many(names) for _ in range(15)]
    finally:
        stop.set()
        thread.join()
    moved = 0
    for refs in listings:
        for name in names:
            assert refs[name].latest in held[name], (name, refs[name])
            moved += refs[name].latest != held[name][0]
    assert moved  # the listings did see the writer's pointers


def test_ls_on_the_host_that_pushed_reads_no_header(
    s3_server: S3Server, s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A push keeps the header of each blob it writes under the ETag S3 gives it (the MD5 of its bytes), as `ls`
    keeps those it reads: `ls` right after a push on that host costs its three listings."""
    from sample_classes import make_filter

    import remoteimport

    monkeypatch.setenv("REMOTEIMPORT_CACHE_DIR", str(tmp_path / "host-cache"))
    store = Store(s3_url)
    hashes = {
        f"Pushed{index}": remoteimport.push(make_filter(index), store=store, name=f"Pushed{index}")
        for index in range(3)
    }
    with s3_server.counting() as log:
        listed = run_ls_json(capsys, s3_url)
    assert [(entry["name"], entry["latest"]) for entry in listed["classes"]] == list(hashes.items())
    assert all(entry["python"] and "damaged" not in entry for entry in listed["classes"])
    assert kinds(log) == {"LIST names": 1, "LIST refs": 1, "LIST blobs": 1}
    # what was kept is the stored blob's header, byte for byte
    cache = BlobCache(tmp_path / "host-cache")
    for name, full in hashes.items():
        blob = store.read_blob(name, full)
        kept = cache.get_header(name, full, hashlib.md5(blob).hexdigest())
        assert kept is not None and blob.startswith(kept) and len(kept) < len(blob)
