"""The web view (remoteimport.ui) in a real browser: headless Chromium driven by selenium.

A local store gets what a team's store holds after a few days: three versions of ``Greeter`` pushed from the
same file rewritten in between (each a git commit, with a message; the last two signed by a key the view
trusts, the first unsigned), a tag, two versions of ``Scaler``, and a class whose blob is damaged. The tests
click through the pages as a user would: the class list and its filter, a class's versions and history, two
versions compared (unified and split), one version's page and its neighbours; they check what the browser
shows, that the page never scrolls sideways on a narrow window (long errors wrap), that the one script runs
under the Content-Security-Policy and that everything but the copy buttons works without JavaScript.

Nothing is compared pixel by pixel. With ``REMOTEIMPORT_UPDATE_SCREENSHOTS=1`` the tests write the screenshots
docs/ui.md shows to ``docs/images/ui-*.png`` (they hold times and temporary paths, so every run would change
them); otherwise to the test's temporary folder.

The browser is the system one (Debian: ``apt-get install chromium chromium-driver``): selenium is pointed at it,
because its own browser download needs the internet. Without a browser the tests skip, except in CI (``CI=true``),
where they fail: ``.ci/run`` installs it.
"""

from __future__ import annotations

import importlib.util
import linecache
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from environments import IN_CI, REPO_ROOT

import remoteimport
from remoteimport import signing
from remoteimport.store import Store, Version
from remoteimport.ui import start_server

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

SCREENSHOTS = REPO_ROOT / "docs" / "images"
UPDATE_SCREENSHOTS = os.environ.get("REMOTEIMPORT_UPDATE_SCREENSHOTS") == "1"


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the screenshots go: docs/images when updating them, else this test's temporary folder."""
    if UPDATE_SCREENSHOTS:
        SCREENSHOTS.mkdir(exist_ok=True)
        return SCREENSHOTS
    return tmp_path


PAGE_TIMEOUT = 20.0  # seconds; a page of this view renders in milliseconds
WIDE, NARROW = 1280, 420  # window widths, in CSS pixels: a laptop, a phone held upright

# Headless, as root (CI), with nothing reaching out to the internet, and a profile of its own.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # Chromium's sandbox refuses to run as root
    "--disable-gpu",
    # Containers often have a 64 MB /dev/shm. Debian's launcher means to add this flag then, but its check
    # breaks when /dev/shm is listed twice by findmnt (seen here: "[: ...: unexpected operator").
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    f"--window-size={WIDE},800",
    "--force-device-scale-factor=1",
)

CLASS_NAME = "Greeter"
# One greeting per version, oldest first: the line that changes between versions (the last version also adds
# a method). Different lengths, so the rewritten file never has the size of the one before (linecache and .pyc
# checks compare size and mtime).
GREETINGS = ("hello from version one", "hi from version 2", "good evening from the third version")
MESSAGES = ("first greeter", "a friendlier greeting", "evening greeting, and a wave")
GREETER_SOURCE = '''\
class Greeter:
    """Greets someone; each version changes its greeting."""

    greeting = "{greeting}"

    def greet(self, who):
        return self.greeting + ", " + who
'''
WAVE = """
    def wave(self):
        return "o/"
"""
UNCHANGED_LINE = "def greet(self, who):"
SCALER_SOURCE = "class Scaler:\n    factor = {factor}\n\n    def apply(self, x):\n        return x * self.factor\n"


# ---------------------------------------------------------------------------------------------------------
# The browser


def _no_browser(problem: str) -> NoReturn:
    message = (
        f"{problem}: the web view tests drive a headless Chromium with selenium. Install them with "
        "`apt-get install chromium chromium-driver` (as root) and `pip install selenium` "
        "(or `pip install -e '.[test]'`)"
    )
    if IN_CI:
        pytest.fail(f"{message}. CI=true, so a missing browser fails (.ci/run installs it as root)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """One headless Chromium for the session (starting one costs about a second)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _no_browser("selenium is not installed")
    binaries = {program: shutil.which(program) for program in ("chromium", "chromedriver")}
    missing = [program for program, path in binaries.items() if path is None]
    if missing:
        _no_browser(f"{' and '.join(missing)} not found on PATH")
    options = webdriver.ChromeOptions()
    options.binary_location = str(binaries["chromium"])
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console: CSP refusals show there
    # An explicit driver and browser: selenium-manager (which would download them) is never consulted.
    driver = webdriver.Chrome(service=Service(str(binaries["chromedriver"])), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: WebDriver) -> Iterator[WebDriver]:
    """The browser at its usual size, JavaScript on, its console emptied; left that way for the next test."""
    browser.set_window_size(WIDE, 800)
    browser.get_log("browser")
    yield browser
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
    browser.set_window_size(WIDE, 800)


def wait_for(driver: WebDriver, css: str) -> WebElement:
    """The first element matching ``css`` once it is on the page (after a click has navigated)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, PAGE_TIMEOUT).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)),
        message=f"no {css!r} on {driver.current_url}",
    )


def find_all(scope: WebDriver | WebElement, css: str) -> list[WebElement]:
    from selenium.webdriver.common.by import By

    return scope.find_elements(By.CSS_SELECTOR, css)


def find(scope: WebDriver | WebElement, css: str) -> WebElement:
    from selenium.webdriver.common.by import By

    return scope.find_element(By.CSS_SELECTOR, css)


def click_and_wait(driver: WebDriver, element: WebElement, css: str) -> WebElement:
    """Click a link or button that loads another page, and wait for ``css`` on the new one."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    element.click()
    WebDriverWait(driver, PAGE_TIMEOUT).until(expected_conditions.staleness_of(element))
    return wait_for(driver, css)


def save_page_screenshot(driver: WebDriver, path: Path, width: int = WIDE) -> None:
    """The whole page (up to a sane height), for the docs: Chromium captures only the viewport, so fit the window
    to the content first (the window's own frame, even headless, takes part of its height)."""
    height, frame = driver.execute_script(
        "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]"
    )
    driver.set_window_size(width, min(int(height), 2400) + int(frame))
    try:
        assert driver.save_screenshot(str(path)), f"could not save a screenshot to {path}"
    finally:
        driver.set_window_size(width, 800)
    assert path.stat().st_size > 10_000, f"{path} looks empty"


def sideways_overflow(driver: WebDriver) -> int:
    """How many CSS pixels the page is wider than the window (0: nothing to scroll sideways but code blocks and
    tables inside their own scrolling boxes)."""
    return int(driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth"))


def console_errors(driver: WebDriver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


# ---------------------------------------------------------------------------------------------------------
# A store with a few classes, and the view serving it


@dataclass(frozen=True)
class Demo:
    store: Store
    hashes: tuple[str, ...]  # Greeter's full hashes, oldest first (one per GREETINGS entry)
    url: str  # the view's


def _git(folder: Path, *args: str) -> None:
    identity = ("-c", "user.name=Ada", "-c", "user.email=ada@example.org", "-c", "commit.gpgsign=false")
    subprocess.run(["git", "-C", str(folder), *identity, *args], check=True, capture_output=True, timeout=30)


def push_from_file(path: Path, source: str, store: Store, class_name: str, message: str) -> str:
    """Write ``source`` to ``path`` (and commit it, in a git work tree), import it as a fresh module and push its
    class with ``message``; return the full hash."""
    path.write_text(source, encoding="utf-8")
    if (path.parent / ".git").exists():
        _git(path.parent, "add", path.name)
        _git(path.parent, "commit", "-q", "-m", message)
    linecache.checkcache(str(path))  # the previous version's lines must not be hashed or shipped again
    module_name = path.stem  # the same module every time, as when a user edits a file and pushes again
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(module_name)
    sys.modules[module_name] = module  # a user module travels by value only while it is imported
    try:
        spec.loader.exec_module(module)
        return remoteimport.push(getattr(module, class_name), store=store, message=message)
    finally:
        if previous is None:
            del sys.modules[module_name]
        else:
            sys.modules[module_name] = previous


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Demo]:
    # No .pyc: the file is rewritten within the same second, and a .pyc records the source's mtime in seconds.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    # Who pushed, as the screenshots show it (the provenance records the login name and the host's name).
    monkeypatch.setenv("LOGNAME", "ada")
    monkeypatch.setattr(socket, "gethostname", lambda: "ada-laptop")
    project = tmp_path / "project"
    project.mkdir()
    if shutil.which("git"):  # then each push records its commit, branch and remote (remoteimport.provenance)
        _git(project, "init", "-q", "-b", "main")
        _git(project, "remote", "add", "origin", "https://git.example.org/team/greeters.git")
    key = tmp_path / "keys" / "publisher"
    public = signing.generate_key(key)

    unsigned, signed = Store(tmp_path / "store"), Store(tmp_path / "store", signing_key=key)
    hashes = []
    for index, (greeting, message) in enumerate(zip(GREETINGS, MESSAGES, strict=True)):
        source = GREETER_SOURCE.format(greeting=greeting) + (WAVE if index == 2 else "")
        hashes.append(
            push_from_file(project / "greeter.py", source, signed if index else unsigned, CLASS_NAME, message)
        )
    assert len(set(hashes)) == len(GREETINGS)
    remoteimport.registry.tag(CLASS_NAME, hashes[1], "prod", store=signed)
    for factor in (2, 3):
        push_from_file(project / "scaler.py", SCALER_SOURCE.format(factor=factor), signed, "Scaler", f"factor {factor}")
    # A class whose only blob is not a blob at all: the class list says why, at length.
    broken = "0123456789abcdef" * 4
    signed.write_blob("Broken", broken, b"this is not a remoteimport blob")
    signed.set_latest("Broken", broken)
    signed.append_history(Version("Broken", broken, time.time(), "3.11"))

    server = start_server(Store(tmp_path / "store", trusted_keys=[public]))
    try:
        yield Demo(signed, tuple(hashes), server.url)
    finally:
        server.close()


def open_class_page(driver: WebDriver, demo: Demo) -> None:
    """From the class list, as a user: click the class's link."""
    driver.get(demo.url)
    row = find(driver, f'#classes tr.class-row[data-name="{CLASS_NAME}"]')
    click_and_wait(driver, find(row, "a.class-link"), "#versions")


# ---------------------------------------------------------------------------------------------------------
# The tests


def test_the_class_list_counts_versions_filters_and_says_what_is_damaged(
    page: WebDriver, demo: Demo, screenshots: Path
) -> None:
    page.get(demo.url)
    rows = {row.get_attribute("data-name"): row for row in find_all(page, "#classes tr.class-row")}
    assert list(rows) == ["Broken", CLASS_NAME, "Scaler"]
    greeter = rows[CLASS_NAME]
    assert find(greeter, "td.versions").text == "3"
    assert find(greeter, ".trust").text.startswith("signed by a trusted key")
    assert find(greeter, "a.badge.tag").text == "prod"
    assert demo.hashes[-1][:12] in greeter.text and "ada@ada-laptop" in greeter.text
    damage = find(rows["Broken"], "td.trust-cell")
    assert damage.text.startswith("DAMAGED") and "not a remoteimport blob" in damage.text
    assert sideways_overflow(page) <= 0
    save_page_screenshot(page, screenshots / "ui-classes.png")

    search = find(page, "#search")
    search.send_keys("GREET")
    click_and_wait(page, find(page, "form.search button"), "#classes")
    assert [row.get_attribute("data-name") for row in find_all(page, "#classes tr.class-row")] == [CLASS_NAME]
    assert find(page, "#search").get_attribute("value") == "GREET"


def test_compare_the_oldest_and_newest_versions(page: WebDriver, demo: Demo, screenshots: Path) -> None:
    oldest, newest = demo.hashes[0], demo.hashes[-1]

    open_class_page(page, demo)
    rows = find_all(page, "#versions tr.version-row")
    assert [row.get_attribute("data-hash") for row in rows] == list(reversed(demo.hashes)), "newest first"
    assert find_all(rows[0], ".badge.latest") and find(rows[1], ".badge.tag").text == "prod"
    assert [find(row, "td.message").text for row in rows] == list(reversed(MESSAGES))
    trust = [find(row, ".trust").text.splitlines()[0] for row in rows]  # the words; a refusal also says why
    assert trust == ["signed by a trusted key"] * 2 + ["unsigned, refused here"]
    events = [find(row, "td.what").text for row in find_all(page, "#events tr.event-row")]
    assert events == ["tag prod moved to", "pushed", "pushed", "pushed"], "the history names the tag it moved"

    find(page, f'tr.version-row[data-hash="{oldest}"] input[name="a"]').click()
    find(page, f'tr.version-row[data-hash="{newest}"] input[name="b"]').click()
    assert find(page, f'input[name="a"][value="{oldest}"]').is_selected()
    assert find(page, f'input[name="b"][value="{newest}"]').is_selected()
    save_page_screenshot(page, screenshots / "ui-class.png")
    click_and_wait(page, find(page, "#compare"), "#diff")

    address = urlsplit(page.current_url)
    assert address.path == f"/c/{CLASS_NAME}/diff"
    assert parse_qs(address.query) == {"a": [oldest], "b": [newest], "view": ["unified"]}
    assert find(page, "#side-a .side").text == "a" and oldest[:12] in find(page, "#side-a h3").text
    assert find(page, "#side-b .side").text == "b" and newest[:12] in find(page, "#side-b h3").text
    added = [row.text for row in find_all(page, "#diff tr.diff-add")]
    removed = [row.text for row in find_all(page, "#diff tr.diff-del")]
    assert any(f'greeting = "{GREETINGS[-1]}"' in line for line in added), added
    assert any(f'greeting = "{GREETINGS[0]}"' in line for line in removed), removed
    assert any("def wave(self):" in line for line in added), added
    for line in added + removed:
        assert GREETINGS[1] not in line, "the middle version is not part of this comparison"
        assert UNCHANGED_LINE not in line, f"an unchanged line is marked as changed: {line!r}"
    assert UNCHANGED_LINE in find(page, "#diff").text, "the diff shows context around the change"
    # line numbers of a and b, the words that changed inside a line, highlighted Python, a +/- summary
    greeting_row = next(row for row in find_all(page, "#diff tr.diff-add") if "greeting =" in row.text)
    numbers = [cell.get_attribute("data-line") for cell in find_all(greeting_row, "td.ln")]
    assert numbers == [None, "4"]
    marks = [mark.text for mark in find_all(greeting_row, ".chg")]  # whole words: "from" and "version" stayed
    assert marks[0] == "good evening" and "".join(marks).strip() == "good eveningthe third"
    assert find_all(page, "#diff .highlight span.k"), "keywords are highlighted"
    assert find(page, "#diff-summary").text == "1 file changed, +4 −1"
    signature = find(page, 'tr.header-change[data-field="signature"]')
    assert "unsigned, refused here" in signature.text and "stronger" in signature.text
    save_page_screenshot(page, screenshots / "ui-compare.png")

    click_and_wait(page, find(page, "#view-switch a"), "#diff table.split")
    left = [cell.get_attribute("data-line") for cell in find_all(page, "#diff td.ln.diff-del")]
    right = [cell.get_attribute("data-line") for cell in find_all(page, "#diff td.ln.new.diff-add")]
    assert left == ["4"] and right == ["4", "8", "9", "10"], "each removed line beside the line replacing it"
    save_page_screenshot(page, screenshots / "ui-compare-split.png")
    assert not console_errors(page)


def test_version_page_shows_source_provenance_neighbours_and_how_to_use_it(
    page: WebDriver, demo: Demo, screenshots: Path
) -> None:
    oldest, middle, newest = demo.hashes

    open_class_page(page, demo)
    source = click_and_wait(page, find(page, f'tr.version-row[data-hash="{middle}"] a.version-link'), "#source")
    assert urlsplit(page.current_url).path == f"/c/{CLASS_NAME}/{middle}"
    assert find_all(page, "#source .highlight span.k"), "the source is highlighted by Pygments"
    assert "class Greeter:" in source.text and f'greeting = "{GREETINGS[1]}"' in source.text
    assert GREETINGS[0] not in source.text and GREETINGS[2] not in source.text
    assert find(page, "h1 .badge.tag").text == "prod" and not find_all(page, "h1 .badge.latest")
    assert find(page, "#position").text == "version 2 of 3"
    assert find(page, "input#pinned-ref").get_attribute("value") == f"labchain_remote.{CLASS_NAME}@{middle}"
    snippet = find(page, "pre#use-snippet").text
    assert "remoteimport.install(" in snippet and f"labchain_remote.{CLASS_NAME}@{middle}" in snippet
    provenance = find(page, "#provenance").text
    assert MESSAGES[1] in provenance and "ada@ada-laptop" in provenance
    if shutil.which("git"):
        assert "main" in provenance and "https://git.example.org/team/greeters.git" in provenance
    assert find(page, "#trust .trust").text.startswith("signed by a trusted key")
    assert not find_all(page, "#damaged")
    copy = find_all(page, "button.copy")
    assert copy and all(button.is_displayed() for button in copy), "the script ran: the copy buttons show"
    assert not console_errors(page), "nothing was refused by the Content-Security-Policy"
    save_page_screenshot(page, screenshots / "ui-version.png")

    wait_for(page, "#older")
    click_and_wait(page, find(page, "#older"), "#source")
    assert urlsplit(page.current_url).path == f"/c/{CLASS_NAME}/{oldest}" and not find_all(page, "#older")
    click_and_wait(page, find(page, "#newer"), "#source")
    click_and_wait(page, find(page, "#newer"), "#source")
    assert urlsplit(page.current_url).path == f"/c/{CLASS_NAME}/{newest}" and not find_all(page, "#newer")
    links = {link.text: link for link in find_all(page, "#compare-links a")}
    assert list(links) == ["previous version", "tag prod"]
    click_and_wait(page, links["previous version"], "#diff")
    assert parse_qs(urlsplit(page.current_url).query) == {"a": [middle], "b": [newest]}


def test_a_damaged_payload_still_shows_its_header_and_source(page: WebDriver, demo: Demo) -> None:
    damaged, intact = demo.hashes[0], demo.hashes[-1]
    path = Path(demo.store.blob_path(CLASS_NAME, damaged))
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # a byte of the payload: its digest no longer matches the header's
    path.write_bytes(bytes(data))

    page.get(urljoin(demo.url, f"c/{CLASS_NAME}/{damaged}"))
    assert "sha256" in wait_for(page, "#damaged").text, "the damage is explained"
    assert f'greeting = "{GREETINGS[0]}"' in find(page, "#source").text, "its source, shown as stored"
    page.get(urljoin(demo.url, f"c/{CLASS_NAME}/{intact}"))
    assert f'greeting = "{GREETINGS[-1]}"' in wait_for(page, "#source").text
    open_class_page(page, demo)
    assert len(find_all(page, "#versions tr.version-row")) == len(GREETINGS)


def test_every_page_fits_a_narrow_window_and_long_errors_wrap(page: WebDriver, demo: Demo) -> None:
    page.set_window_size(NARROW, 800)
    paths = (
        "",
        f"c/{CLASS_NAME}",
        f"c/{CLASS_NAME}/{demo.hashes[1]}",
        f"c/{CLASS_NAME}/diff?a={demo.hashes[0]}&b={demo.hashes[2]}",
        f"c/{CLASS_NAME}/diff?a={demo.hashes[0]}&b={demo.hashes[2]}&view=split",
        "c/Broken",
        "c/Broken/latest",
        f"c/{CLASS_NAME}/{'ab' * 30}",  # an error naming every version
    )
    for path in paths:
        page.get(urljoin(demo.url, path))
        wait_for(page, "main h1")
        assert sideways_overflow(page) <= 0, f"{path} scrolls sideways at {NARROW} px"
    page.get(demo.url)
    damage = find(page, '#classes tr[data-name="Broken"] td.trust-cell')
    assert damage.size["height"] > 3 * 20, "the long error wraps onto several lines"


def test_everything_but_copying_works_without_javascript(page: WebDriver, demo: Demo) -> None:
    page.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    open_class_page(page, demo)
    find(page, f'tr.version-row[data-hash="{demo.hashes[0]}"] input[name="a"]').click()
    find(page, 'input[name="view"][value="split"]').click()
    click_and_wait(page, find(page, "#compare"), "#diff table.split")  # a plain form: no script needed
    page.get(urljoin(demo.url, f"c/{CLASS_NAME}/{demo.hashes[1]}"))
    assert f"labchain_remote.{CLASS_NAME}@" in wait_for(page, "pre#use-snippet").text
    assert not any(button.is_displayed() for button in find_all(page, "button.copy"))  # hidden, not broken
