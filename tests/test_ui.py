"""The read-only web view over HTTP (tests/test_ui_browser.py drives it in a real browser): what the pages
show (one row per version, the history naming what moved, provenance, trust in words, GitHub-like compares),
that nothing is ever unpickled, that hostile or damaged store content is escaped or shown as damaged, that
every page is valid HTML under a strict Content-Security-Policy, that long lists are paged, and the
`remoteimport ui` command. What each page costs in requests: tests/test_requests.py."""

from __future__ import annotations

import base64
import hashlib
import html
import importlib.util
import itertools
import linecache
import os
import pickle
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

import remoteimport
from remoteimport import compare, signing
from remoteimport.blob import encode_blob, make_header
from remoteimport.signing import TrustPolicy
from remoteimport.store import Store, Version
from remoteimport.ui import app as ui_app
from remoteimport.ui import source, start_server, views
from remoteimport.ui.views import HISTORY_PAGE_SIZE, PAGE_SIZE

VERSIONS = [
    "class Scaler:\n    factor = 2\n\n    def apply(self, x):\n        return x * self.factor\n",
    "class Scaler:\n    factor = 3\n\n    def apply(self, x):\n        return x * self.factor\n",
    "class Scaler:\n    factor = 3\n\n    def apply(self, x):\n        return x * self.factor + 1  # offset\n",
]


_MODULES = itertools.count()


def _load(path: Path, text: str) -> type:
    """``text`` written to ``path`` and imported as a new module: its class ``Scaler``. The same file rewritten
    gives each version the same shipped file name, as a user editing a file and pushing again."""
    path.write_text(text, encoding="utf-8")
    linecache.checkcache(str(path))  # the previous text's lines must not be shipped again
    spec = importlib.util.spec_from_file_location(f"ui_scaler_{next(_MODULES)}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # a .pyc of the same size and second
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.dont_write_bytecode = writes_bytecode
    return module.Scaler


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def pushed(store: Store, tmp_path: Path) -> list[str]:
    """Three versions of Scaler, oldest first, each pushed from the same file rewritten."""
    folder = tmp_path / "project"
    folder.mkdir()
    return [remoteimport.push(_load(folder / "scaler.py", text), store=store) for text in VERSIONS]


@pytest.fixture
def server(store: Store) -> Iterator[str]:
    running = start_server(store)
    yield running.url
    running.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8")


def text_of(url: str) -> str:
    """The page with HTML entities decoded (messages quote names as &#39;Name&#39;)."""
    return html.unescape(get(url)[1])


# -- helpers: what a page says ---------------------------------------------------------------------------------


def plain(page: str) -> str:
    """The page's text: tags stripped, entities decoded (highlighted code is one span per token)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def cells(page: str, row_class: str) -> list[str]:
    """The text of each ``<tr class="ROW_CLASS ...">`` row, tags stripped and entities decoded."""
    rows = re.findall(rf'<tr class="{row_class}\b[^"]*"[^>]*>(.*?)</tr>', page, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", row)) for row in rows]


def diff_rows(page: str, kind: str) -> list[tuple[str, str, str]]:
    """(a line number, b line number, code) of each unified diff row of ``kind`` ("add", "del", "ctx")."""
    found = []
    for row in re.findall(rf'<tr class="diff-{kind}">(.*?)</tr>', page, re.S):
        numbers = re.findall(r'<td class="ln"(?: data-line="(\d+)")?>', row)
        code = re.search(r'<td class="src">(.*?)</td>', row, re.S)
        assert code and len(numbers) == 2, row
        found.append((numbers[0], numbers[1], html.unescape(re.sub(r"<[^>]+>", "", code.group(1)))))
    return found


class _HTMLChecker(HTMLParser):
    """Fails on what makes a page invalid HTML in ways a browser silently repairs: an element closed that is not
    open (or out of order), one left open, an id used twice, an attribute given twice."""

    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})
    # Closed implicitly by the next sibling or their parent (the HTML spec's optional end tags), never here.
    OPTIONAL_END = frozenset({"li", "dt", "dd", "p", "tr", "td", "th", "thead", "tbody", "option"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.ids: set[str] = set()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = [name for name, _ in attrs]
        if len(names) != len(set(names)):
            self.problems.append(f"<{tag}> repeats an attribute: {names}")
        for name, value in attrs:
            if name == "id":
                if value in self.ids:
                    self.problems.append(f"id {value!r} used twice")
                self.ids.add(value or "")
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            self.problems.append(f"</{tag}> closes a void element")
            return
        while self.open and self.open[-1] != tag and self.open[-1] in self.OPTIONAL_END:
            self.open.pop()
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> while {self.open[-3:]} are open")
            return
        self.open.pop()


def assert_valid_html(page: str, where: str) -> None:
    assert page.startswith("<!doctype html>"), where
    checker = _HTMLChecker()
    checker.feed(page)
    checker.close()
    assert not checker.problems and not checker.open, (where, checker.problems, checker.open)


# -- the pages -------------------------------------------------------------------------------------------------


def test_pages_show_classes_versions_headers_source_and_diffs(pushed: list[str], server: str) -> None:
    status, index = get(server)
    assert status == 200 and 'data-name="Scaler"' in index and pushed[-1][:12] in index
    assert '<td class="num versions" data-label="versions">3</td>' in index  # the version count
    status, versions = get(f"{server}c/Scaler")
    assert status == 200 and re.findall(r'data-hash="([0-9a-f]{64})"', versions) == pushed[::-1]
    assert re.search(rf'name="b" value="{pushed[-1]}"[^>]* checked', versions)
    assert re.search(rf'name="a" value="{pushed[-2]}"[^>]* checked', versions)
    status, page = get(f"{server}c/Scaler/{pushed[0]}")
    assert status == 200 and f'value="labchain_remote.Scaler@{pushed[0]}"' in page
    assert "cloudpickle==" in page and 'class="code highlight"' in page and "factor" in page
    assert "&#34;clazz&#34;: &#34;labchain_remote.Scaler@" in page  # the config snippet, escaped
    use = html.unescape(re.search(r'<pre class="snippet" id="use-snippet">(.*?)</pre>', page, re.S).group(1))
    assert "remoteimport.install(" in use and f"import_module('labchain_remote.Scaler@{pushed[0]}').Scaler" in use
    status, diff = get(f"{server}c/Scaler/diff?a={pushed[1]}&b={pushed[2]}")
    assert status == 200
    assert diff_rows(diff, "del") == [("5", "", "        return x * self.factor")]
    assert diff_rows(diff, "add") == [("", "5", "        return x * self.factor + 1  # offset")]
    # the words that changed inside the line are marked, the rest of it is not
    added = re.search(r'<tr class="diff-add">(.*?)</tr>', diff, re.S).group(1)
    marked = [html.unescape(text) for text in re.findall(r'<span class="[^"]*\bchg">([^<]*)</span>', added)]
    assert "".join(marked).strip() == "+ 1  # offset" and "factor" not in "".join(marked)
    assert 'class="plus">+1</span> <span class="minus">−1</span>' in diff  # the summary


def test_the_use_it_snippet_names_this_store_and_this_version(pushed: list[str], store: Store, server: str) -> None:
    page = text_of(f"{server}c/Scaler/{pushed[1]}")
    snippet = re.search(r'id="use-snippet">(.*?)</pre>', page, re.S).group(1)
    namespace = {}
    exec(snippet, namespace)  # the snippet as a user pastes it: it imports exactly that version from this store
    assert remoteimport.class_hash(namespace["Scaler"]) == pushed[1]
    remoteimport.uninstall("labchain_remote")


def test_nothing_is_ever_unpickled_and_hostile_text_is_escaped(store: Store, server: str, tmp_path: Path) -> None:
    marker = tmp_path / "UNPICKLED"
    payload = pickle.dumps(_Plant(str(marker)))
    full_hash = "ab" * 32
    script = "</script><script>alert('x')</script>"
    header = make_header("Evil", full_hash, payload, source={f"<b>{script}</b>.py": f"# {script}\nclass Evil: pass\n"})
    header = header.replace(
        extra={"note": f"<img src=x onerror=alert(1)>{script}"},
        provenance={"user": f"<img src=x onerror=alert(2)>{script}", "host": "h", "message": script},
    )
    store.write_blob("Evil", full_hash, encode_blob(header, payload))
    store.set_latest("Evil", full_hash)
    entry = Version("Evil", full_hash, time.time(), "3.11")
    if hasattr(entry, "by"):  # history entries record who and why (remoteimport.provenance)
        entry = entry.__class__(**{**entry.__dict__, "by": script, "message": f"<img src=x onerror=alert(3)>{script}"})
    store.append_history(entry)
    paths = ("", "?q=<script>", "c/Evil", f"c/Evil/{full_hash}", f"c/Evil/diff?a={full_hash}&b={full_hash}")
    for path in (*paths, f"c/Evil/diff?a={full_hash}&b={full_hash}&view=split"):
        status, page = get(server + path)
        assert status == 200, (path, page)
        assert "<script>alert" not in page and "<img src=x" not in page, path
        assert page.count("<script>") == 1, path  # ours, whose hash the Content-Security-Policy names
        assert_valid_html(page, path)
    assert not marker.exists()


class _Plant:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.marker,))


def test_a_damaged_blob_still_shows_its_header_and_source_and_the_server_keeps_serving(
    pushed: list[str], store: Store, server: str
) -> None:
    path = Path(store.blob_path("Scaler", pushed[0]))
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # a payload byte: the digest no longer matches, the header still reads
    path.write_bytes(bytes(data))
    status, page = get(f"{server}c/Scaler/{pushed[0]}")
    assert status == 200 and 'id="damaged"' in page and "sha256" in page and "unverified" in page
    assert 'id="source"' in page and "factor = 2" in plain(page)  # still its header and source
    assert "(NOT matching" in page
    status, diff = get(f"{server}c/Scaler/diff?a={pushed[0]}&b={pushed[1]}")
    assert status == 200 and 'id="damaged"' in diff
    assert diff_rows(diff, "add") == [("", "2", "    factor = 3")]  # compared from its header as stored
    status, versions = get(f"{server}c/Scaler")
    assert status == 200 and len(cells(versions, "version-row")) == 3  # a header-only read: listed as usual

    path.write_bytes(b"not a remoteimport blob")  # now not even a header
    status, page = get(f"{server}c/Scaler/{pushed[0]}")
    assert status == 200 and 'id="damaged"' in page and 'id="source"' not in page
    status, versions = get(f"{server}c/Scaler")
    row = next(row for row in cells(versions, "version-row") if pushed[0][:12] in row)
    assert "DAMAGED" in row and "not a remoteimport blob" in row
    (store.root and Path(store.root, "refs", "Scaler", "latest")).write_text("not a hash")
    status, index = get(server)
    assert status == 200 and "DAMAGED" in index
    assert get(f"{server}c/Scaler/{pushed[1]}")[0] == 200


def test_a_damaged_history_entry_is_one_damaged_row(pushed: list[str], store: Store, server: str) -> None:
    planted = Path(store.root, "refs", "Scaler", "history", f"{time.time_ns():020d}-{'cd' * 8}-00000000.json")
    planted.write_text("{not json")
    status, page = get(f"{server}c/Scaler")
    assert status == 200 and re.findall(r'data-hash="([0-9a-f]{64})"', page) == pushed[::-1]
    damaged = [row for row in cells(page, "version-row") + cells(page, "event-row") if "DAMAGED" in row]
    assert len(damaged) == 2 and all("is malformed" in row and planted.name in row for row in damaged)


def test_bad_requests_get_clear_answers(pushed: list[str], server: str) -> None:
    assert get(f"{server}c/..%2Fetc")[0] == 404
    assert get(f"{server}c/Nope")[0] == 404 and "no class named 'Nope'" in text_of(f"{server}c/Nope")
    assert get(f"{server}c/Scaler/diff?a=zz&b={pushed[0]}")[0] == 404
    assert "no version or tag 'zz' of Scaler" in text_of(f"{server}c/Scaler/diff?a=zz&b={pushed[0]}")
    assert "invalid hash or tag 'z.z'" in text_of(f"{server}c/Scaler/diff?a=z.z&b={pushed[0]}")
    assert "pick two versions" in text_of(f"{server}c/Scaler/diff")
    assert "view must be one of unified, split" in text_of(f"{server}c/Scaler/diff?a=latest&b=latest&view=x")
    for query in ("offset=-1", "history=-1", "offset=x"):
        assert get(f"{server}c/Scaler?{query}")[0] == 404, query
    request = urllib.request.Request(server, data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 405


def test_version_urls_take_a_tag_a_prefix_or_latest(pushed: list[str], store: Store, server: str) -> None:
    remoteimport.registry.tag("Scaler", pushed[0], "prod", store=store)
    urls = {"prod": pushed[0], pushed[1][:8]: pushed[1], "latest": pushed[2], pushed[2]: pushed[2]}
    for version, full in urls.items():
        status, page = get(f"{server}c/Scaler/{version}")
        assert status == 200 and f"labchain_remote.Scaler@{full}" in page, (version, page)
    status, diff = get(f"{server}c/Scaler/diff?a=prod&b=latest")
    assert status == 200 and f"/c/Scaler/{pushed[0]}" in diff and f"/c/Scaler/{pushed[2]}" in diff
    assert 'name="a" value="prod"' in diff and 'name="b" value="latest"' in diff  # the form keeps what was asked
    status, page = get(f"{server}c/Scaler/nothere1")
    listed = ", ".join(full[:12] for full in sorted(pushed))
    assert status == 404
    assert f"no version or tag 'nothere1' of Scaler in the store {store.url} (versions: {listed}; tags: prod)" in (
        html.unescape(page)
    )


def test_it_binds_to_loopback_by_default(store: Store) -> None:
    running = start_server(store)
    try:
        assert running.url.startswith("http://127.0.0.1:")
    finally:
        running.close()


def test_ten_thousand_history_entries_are_paged(store: Store, pushed: list[str], server: str) -> None:
    extra = [Version("Scaler", pushed[index % 3], 1_700_000_000 + index, "3.11") for index in range(10_000)]
    store.append_history_many(extra)
    timings = []
    for _ in range(3):  # the first also compiles the templates
        started = time.perf_counter()
        status, first = get(f"{server}c/Scaler")
        timings.append(f"{(time.perf_counter() - started) * 1000:.0f} ms")
    print(f"class page over {len(extra) + 3} history entries: {', '.join(timings)}")
    assert status == 200 and len(cells(first, "version-row")) == 3  # one row per version, not per entry
    assert len(cells(first, "event-row")) == HISTORY_PAGE_SIZE
    assert re.search(r"<b>3</b> versions.*<b>10003</b> history entries", first, re.S)
    next_page = re.search(r'id="next-page" href="([^"]+)"', first)
    assert next_page and html.unescape(next_page.group(1)) == f"/c/Scaler?history={HISTORY_PAGE_SIZE}#history"
    status, last = get(f"{server}c/Scaler?history={10_000}")
    assert status == 200 and len(cells(last, "event-row")) == 3 and 'id="next-page"' not in last
    assert len(cells(last, "version-row")) == 3  # the versions stay on their first page


def test_many_versions_are_paged(store: Store, pushed: list[str], server: str) -> None:
    fake = [hashlib.sha256(b"%d" % index).hexdigest() for index in range(120)]  # no blobs: shown as missing
    store.append_history_many(Version("Scaler", full, 1_800_000_000 + index, "3.11") for index, full in enumerate(fake))
    status, first = get(f"{server}c/Scaler")
    assert status == 200 and re.findall(r'data-hash="([0-9a-f]{64})"', first) == fake[::-1][:PAGE_SIZE]
    assert all("MISSING" in row for row in cells(first, "version-row"))
    assert f'id="next-versions" href="/c/Scaler?offset={PAGE_SIZE}"' in first
    status, last = get(f"{server}c/Scaler?offset=100")
    assert status == 200 and re.findall(r'data-hash="([0-9a-f]{64})"', last) == fake[::-1][100:] + pushed[::-1]
    assert 'id="next-versions"' not in last


def test_the_class_list_filters_by_name_and_pages(pushed: list[str], store: Store, server: str) -> None:
    store.set_latest_many({f"Item{index:02d}": "ef" * 32 for index in range(60)})  # refs only: shown as missing
    status, page = get(f"{server}?q=CALE")  # any case
    assert status == 200 and re.findall(r'data-name="(\w+)"', page) == ["Scaler"]
    assert 'value="CALE"' in page  # the search box keeps what was asked
    status, page = get(f"{server}?q=item")
    assert re.findall(r'data-name="(\w+)"', page) == [f"Item{index:02d}" for index in range(PAGE_SIZE)]
    next_page = html.unescape(re.search(r'id="next-page" href="([^"]+)"', page).group(1))
    assert next_page == f"/?q=item&after=Item{PAGE_SIZE - 1:02d}"
    status, page = get(server + next_page.lstrip("/"))
    assert re.findall(r'data-name="(\w+)"', page) == [f"Item{index:02d}" for index in range(PAGE_SIZE, 60)]
    assert 'id="next-page"' not in page
    status, page = get(f"{server}?q=nothing-like-it")
    assert status == 200 and 'id="no-classes"' in page and "nothing-like-it" in html.unescape(page)


def test_the_history_says_what_happened_and_names_the_tag_it_moved(
    pushed: list[str], store: Store, server: str
) -> None:
    remoteimport.registry.tag("Scaler", pushed[0], "prod", store=store)
    remoteimport.registry.tag("Scaler", pushed[1], "prod", store=store, force=True)
    remoteimport.registry.untag("Scaler", "prod", store=store)
    remoteimport.registry.rollback("Scaler", pushed[1], store=store)
    status, page = get(f"{server}c/Scaler")
    events = re.findall(r'<td class="what">([^<]*).*?<a class="hash" href="/c/Scaler/(\w+)">', page, re.S)
    assert events == [
        ("latest rolled back to", pushed[1]),
        ("tag prod removed from", pushed[1]),
        ("tag prod moved to", pushed[1]),
        ("tag prod moved to", pushed[0]),
        ("pushed", pushed[2]),
        ("pushed", pushed[1]),
        ("pushed", pushed[0]),
    ]
    assert re.findall(r'data-action="tag" data-tag="(\w+)"', page) == ["prod", "prod"]
    # the versions: one row each, in the order they were first pushed (a rollback or a tag does not reorder them)
    assert re.findall(r'data-hash="([0-9a-f]{64})"', page) == pushed[::-1]


def test_the_version_page_has_neighbours_refs_and_compare_links(pushed: list[str], store: Store, server: str) -> None:
    remoteimport.registry.tag("Scaler", pushed[0], "prod", store=store)
    status, page = get(f"{server}c/Scaler/{pushed[1]}")
    assert status == 200 and "version 2 of 3" in page
    assert f'id="older" rel="prev" href="/c/Scaler/{pushed[0]}"' in page
    assert f'id="newer" rel="next" href="/c/Scaler/{pushed[2]}"' in page
    links = re.findall(r'<a class="button" href="/c/Scaler/diff\?a=(\w+)&amp;b=(\w+)">([^<]+)</a>', page)
    assert links == [
        (pushed[0], pushed[1], "previous version"),
        (pushed[1], pushed[2], "latest"),
        (pushed[0], pushed[1], "tag prod"),
    ]
    status, newest = get(f"{server}c/Scaler/latest")
    assert '<span class="badge latest"' in newest and 'id="newer"' not in newest and "version 3 of 3" in newest
    status, oldest = get(f"{server}c/Scaler/prod")
    assert '<span class="badge tag" title="tag">prod</span>' in oldest and 'id="older"' not in oldest


def test_provenance_shows_on_the_class_and_version_pages(store: Store, server: str, tmp_path: Path) -> None:
    folder = tmp_path / "v"
    folder.mkdir()
    cls = _load(folder / "scaler.py", VERSIONS[0])
    full = remoteimport.push(cls, store=store, message="double <everything>")
    status, page = get(f"{server}c/Scaler")
    assert status == 200 and "double &lt;everything&gt;" in page
    status, page = get(f"{server}c/Scaler/{full}")
    provenance = html.unescape(re.search(r'<section class="card" id="provenance">(.*?)</section>', page, re.S).group(1))
    assert "double <everything>" in provenance and "pushed by" in provenance and "commit" in provenance
    assert remoteimport.provenance.describe(store.read_verified_blob("Scaler", full).header)["pushed_by"] in provenance


@pytest.fixture
def keys(tmp_path: Path) -> tuple[signing.SigningKey, signing.PublicKey, signing.PublicKey]:
    """A publisher's signing key, its public key, and another publisher's public key."""
    public = signing.generate_key(tmp_path / "keys" / "publisher")
    other = signing.generate_key(tmp_path / "keys" / "other")
    return (
        signing.load_signing_key(tmp_path / "keys" / "publisher"),
        signing.load_public_key(public),
        (signing.load_public_key(other)),
    )


def test_trust_is_said_in_words_and_unsigned_is_never_good(store: Store, keys) -> None:
    key, public, other = keys
    payload = b"payload"
    unsigned = make_header("T", "01" * 32, payload)
    signed = key.sign(make_header("T", "02" * 32, payload))
    altered = signed.replace(hash="03" * 32, python="0.1")  # changed after signing
    store.write_blobs({("T", header.hash): encode_blob(header, payload) for header in (unsigned, signed, altered)})

    def words(policy: TrustPolicy) -> dict[str, tuple[str, str]]:
        infos = views.read_version_headers(store, [("T", h) for h in ("01" * 32, "02" * 32, "03" * 32)], policy)
        return {key[1][:2]: (views.trust_of(info).words, views.trust_of(info).level) for key, info in infos.items()}

    assert words(TrustPolicy()) == {
        "01": ("unsigned", "warn"),
        "02": ("signed by an unknown key", "neutral"),  # this host knows no key: it says so, not "trusted"
        "03": ("INVALID signature", "bad"),
    }
    assert words(TrustPolicy((public,))) == {
        "01": ("unsigned, refused here", "bad"),
        "02": ("signed by a trusted key", "good"),
        "03": ("INVALID signature", "bad"),
    }
    assert words(TrustPolicy((other,)))["02"] == ("signed by an unknown key, refused here", "bad")
    assert words(TrustPolicy(require_signatures=True))["01"] == ("unsigned, refused here", "bad")


def test_signed_to_unsigned_is_shown_as_weaker_never_as_an_improvement(store: Store, keys, tmp_path: Path) -> None:
    key, public, _ = keys
    folder = tmp_path / "v"
    folder.mkdir()
    unsigned = remoteimport.push(_load(folder / "scaler.py", VERSIONS[0]), store=store)
    signed = remoteimport.push(
        _load(folder / "scaler.py", VERSIONS[1]), store=Store(store.url, signing_key=tmp_path / "keys" / "publisher")
    )
    running = start_server(Store(store.url, trusted_keys=[public]))
    try:
        worse = get(f"{running.url}c/Scaler/diff?a={signed}&b={unsigned}")[1]
        better = get(f"{running.url}c/Scaler/diff?a={unsigned}&b={signed}")[1]
    finally:
        running.close()
    row = re.search(r'<tr class="header-change" data-field="signature">(.*?)</tr>', worse, re.S).group(1)
    assert '<span class="judgement weaker">weaker</span>' in row and "stronger" not in row
    assert "signed by a trusted key" in row and "unsigned, refused here" in row
    assert '<span class="judgement stronger">stronger</span>' in better
    for page in (worse, better):  # other fields are neither better nor worse: no colour
        others = re.findall(r'<tr class="header-change" data-field="(?!signature)[^"]+">(.*?)</tr>', page, re.S)
        assert others and not any("judgement" in row for row in others)


def test_the_compare_page_has_a_b_labels_line_numbers_and_two_layouts(pushed: list[str], server: str) -> None:
    unified = get(f"{server}c/Scaler/diff?a={pushed[0]}&b={pushed[2]}")[1]
    split = get(f"{server}c/Scaler/diff?a={pushed[0]}&b={pushed[2]}&view=split")[1]
    for page in (unified, split):
        assert f'<span class="side">a</span><a class="hash" href="/c/Scaler/{pushed[0]}">' in page
        assert f'<span class="side">b</span><a class="hash" href="/c/Scaler/{pushed[2]}">' in page
        assert "@@ -1,5 +1,5 @@" in page  # the hunk as `remoteimport diff` prints it
        assert (
            f'href="/c/Scaler/diff?a={pushed[2]}&amp;b={pushed[0]}{"&amp;view=split" * (page is split)}" id="swap"'
            in page
        )
    assert [(old, new) for old, new, _ in diff_rows(unified, "del")] == [("2", ""), ("5", "")]
    assert [(old, new) for old, new, _ in diff_rows(unified, "add")] == [("", "2"), ("", "5")]
    assert 'class="code unified highlight"' in unified and 'class="code split highlight"' in split
    left = re.findall(r'<td class="ln diff-del" data-line="(\d+)"></td>', split)
    right = re.findall(r'<td class="ln new diff-add" data-line="(\d+)"></td>', split)
    assert left == right == ["2", "5"]  # each removed line beside the line that replaced it
    assert f'href="/c/Scaler/diff?a={pushed[0]}&amp;b={pushed[2]}&amp;view=split">split</a>' in unified
    # syntax highlighting: Pygments' token classes on the code (keywords, names, numbers)
    assert '<span class="k">return</span>' in unified
    assert '<span class="mi chg">3</span>' in unified  # a number token, and what changed in its line


def test_every_page_is_valid_html_with_a_strict_content_security_policy(pushed: list[str], server: str) -> None:
    paths = (
        "",
        "?q=sc",
        "c/Scaler",
        f"c/Scaler/{pushed[0]}",
        f"c/Scaler/diff?a={pushed[0]}&b={pushed[2]}",
        f"c/Scaler/diff?a={pushed[0]}&b={pushed[2]}&view=split",
        "c/Nope",
        "no/such/page",
    )
    for path in paths:
        try:
            response = urllib.request.urlopen(server + path, timeout=30)
        except urllib.error.HTTPError as error:
            response = error
        page, policy = response.read().decode("utf-8"), response.headers["Content-Security-Policy"]
        assert_valid_html(page, path)
        assert "unsafe" not in policy and "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        # the one script and the one style sheet run because the policy names their hashes; nothing else would
        for element, directive in (("script", "script-src"), ("style", "style-src")):
            (text,) = re.findall(rf"<{element}>(.*?)</{element}>", page, re.S)
            digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
            assert f"{directive} 'sha256-{digest}'" in policy, (path, element)
        # without JavaScript nothing is missing but the copy buttons, which the script shows
        assert all(" hidden>" in button for button in re.findall(r'<button class="copy"[^>]*>', page)), path


def test_the_ui_command_serves_and_says_where(pushed: list[str], store: Store) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "remoteimport", "ui", "--port", "0", "--store", store.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()  # type: ignore[union-attr]
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        status, index = get(url.group(0))
        assert status == 200 and 'data-name="Scaler"' in index
    finally:
        child.terminate()
        child.wait(timeout=30)


def test_tags_show_on_the_class_list_and_the_versions(pushed: list[str], store: Store, server: str) -> None:
    remoteimport.registry.tag("Scaler", pushed[0], "prod", store=store)
    status, index = get(server)
    assert status == 200 and re.search(rf'class="badge tag" href="/c/Scaler/{pushed[0]}">prod</a>', index)
    status, versions = get(f"{server}c/Scaler")
    row = versions[versions.index(f'data-hash="{pushed[0]}"') :].split("</tr>")[0]
    assert '<span class="badge tag" title="tag">prod</span>' in row
    latest = versions[versions.index(f'data-hash="{pushed[2]}"') :].split("</tr>")[0]
    assert '<span class="badge latest"' in latest and "badge latest" not in row


def test_the_docs_example_runs_and_every_screenshot_it_shows_exists(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[1] / "docs"
    page = (docs / "ui.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```python\n(.*?)```", page, re.S)
    script = tmp_path / "ui_example.py"
    script.write_text(example, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\n", done.stdout)
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page)
    assert len(images) == 5 and all((docs / image).is_file() for image in images), images


def test_the_diff_has_the_hunks_of_remoteimport_diff_and_marks_words(tmp_path: Path) -> None:
    """The compare page's hunks are the CLI's (remoteimport.compare.source_diff), on a file with two changes far
    apart, one added file and one removed."""
    before = [f"line_{index} = {index}\n" for index in range(40)]
    after = list(before)
    after[3] = "line_3 = 'three'\n"
    after[30:32] = ["inserted = True\n"]
    old = make_header("A", "0" * 64, b"").replace(source={"a.py": "".join(before), "gone.py": "x = 1\n"})
    new = make_header("A", "1" * 64, b"").replace(source={"a.py": "".join(after), "new.py": "y = 2\n"})
    ours = source.diff_sources(old.source, new.source)
    theirs = compare.source_diff(old, new)
    assert [file.filename for file in ours] == [file.filename for file in theirs] == ["a.py", "gone.py", "new.py"]
    for mine, cli in zip(ours, theirs, strict=True):
        assert [hunk.header for hunk in mine.hunks] == [text for kind, text in cli.lines if kind == "hunk"]
        assert mine.added == sum(kind == "add" for kind, _ in cli.lines)
        assert mine.removed == sum(kind == "del" for kind, _ in cli.lines)
    assert [file.status for file in ours] == ["modified", "removed", "added"]
    changed = next(row for row in ours[0].hunks[0].rows if row.kind == "add")
    assert "".join(piece.text for piece in changed.pieces if piece.changed) == "'three'"  # the word, not the line
    # split: the two removed lines beside the one that replaced them, and an empty cell under it
    split = [
        (row.left and row.left.number, row.left_kind, row.right and row.right.number, row.right_kind)
        for row in ours[0].hunks[1].split
        if row.left_kind != "ctx"
    ]
    assert split == [(31, "del", 31, "add"), (32, "del", None, "empty")]


def test_without_pygments_the_source_is_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in [name for name in sys.modules if name.split(".")[0] == "pygments"] + ["pygments"]:
        monkeypatch.setitem(sys.modules, module, None)  # importing it raises ImportError
    assert source.highlighted_lines("x = 1\n\ny = 2\n") == [(source.Piece("x = 1"),), (), (source.Piece("y = 2"),)]
    assert ui_app._highlight_css() == ""
    change = source.diff_file("a.py", "x = 1\n", "x = 2\n")
    assert [piece.text for row in change.hunks[0].rows for piece in row.pieces if piece.changed] == ["1", "2"]


# -- DNS rebinding and slow clients: real sockets against a real server ---------------------------------------


def raw_request(port: int, request: bytes, timeout: float = 30) -> tuple[int, str]:
    """Send ``request`` as is over a new connection; the status and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode("utf-8", "replace")


def get_with_host(port: int, host: str | None, path: str = "/") -> tuple[int, str]:
    host_line = f"Host: {host}\r\n" if host is not None else ""
    return raw_request(port, f"GET {path} HTTP/1.0\r\n{host_line}\r\n".encode())


def test_only_the_bound_address_and_localhost_are_answered(pushed: list[str], store: Store) -> None:
    """A page on attacker.example, its name rebound to 127.0.0.1, reaches the server with its own name as Host:
    it must not get the store's source back."""
    running = start_server(store)
    port = int(running.url.rsplit(":", 1)[1].strip("/"))
    try:
        # The controls: what a browser sends for the printed URL, or for localhost, gets the page.
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}"):
            status, body = get_with_host(port, host, f"/c/Scaler/{pushed[0]}")
            assert status == 200 and "factor" in body, host
        for host in (f"attacker.example:{port}", "attacker.example", f"localhost:{port + 1}", "localhost", "127.0.0.1"):
            status, body = get_with_host(port, host, f"/c/Scaler/{pushed[0]}")
            assert status == 421 and "factor" not in body and "does not answer for the host" in body, host
        status, body = get_with_host(port, None)
        assert status == 400 and "no Host" in body
    finally:
        running.close()

    extra = start_server(store, extra_hosts=["classes.internal"])  # a proxy's name, given on purpose
    port = int(extra.url.rsplit(":", 1)[1].strip("/"))
    try:
        assert get_with_host(port, f"classes.internal:{port}")[0] == 200
        assert get_with_host(port, f"attacker.example:{port}")[0] == 421
    finally:
        extra.close()


def test_a_slow_client_is_cut_off_and_does_not_hold_up_others(pushed: list[str], store: Store) -> None:
    from remoteimport.ui.app import CONNECTION_TIMEOUT

    running = start_server(store)
    port = int(running.url.rsplit(":", 1)[1].strip("/"))
    try:
        stalled = socket.create_connection(("127.0.0.1", port))
        idle = socket.create_connection(("127.0.0.1", port))
        started = time.monotonic()
        stalled.sendall(f"GET / HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: sl".encode())  # and no more
        # Another client is answered promptly meanwhile.
        status, body = get_with_host(port, f"127.0.0.1:{port}")
        assert status == 200 and 'data-name="Scaler"' in body and time.monotonic() - started < CONNECTION_TIMEOUT
        # The server closes both silent connections after CONNECTION_TIMEOUT (the control: without it, recv
        # would wait for this test's own limit, 3 x as long, and fail).
        for connection in (stalled, idle):
            connection.settimeout(3 * CONNECTION_TIMEOUT)
            try:
                assert connection.recv(1024) == b""
            except ConnectionResetError:
                pass
            connection.close()
        assert time.monotonic() - started < CONNECTION_TIMEOUT + 3
    finally:
        running.close()
