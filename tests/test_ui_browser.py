"""The web view (remoteimport.ui) in a real browser: headless Chromium driven by selenium.

A local store gets three versions of one class, pushed in-process from the same file rewritten in between (so
the shipped source differs by one visible line and the view diffs it file by file). The test clicks through the
pages as a user would: the class list, the version list, two versions compared, one version's page. It takes the
screenshots that docs show; they are written to ``docs/ui-class.png`` and ``docs/ui-diff.png`` only when
``REMOTEIMPORT_UPDATE_SCREENSHOTS=1`` (they hold times and temporary paths, so every run would change them).

The browser is the system one (Debian: ``apt-get install chromium chromium-driver``): selenium is pointed at it,
because its own browser download needs the internet. Without a browser the tests skip, except in CI (``CI=true``),
where they fail: ``.ci/run`` installs it.
"""

from __future__ import annotations

import importlib.util
import linecache
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from environments import IN_CI, REPO_ROOT

import remoteimport
from remoteimport.store import Store
from remoteimport.ui import start_server

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

DOCS = REPO_ROOT / "docs"
UPDATE_SCREENSHOTS = os.environ.get("REMOTEIMPORT_UPDATE_SCREENSHOTS") == "1"


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the screenshots go: the docs folder when updating them, else this test's temporary folder."""
    return DOCS if UPDATE_SCREENSHOTS else tmp_path


PAGE_TIMEOUT = 20.0  # seconds; a page of this view renders in milliseconds

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
    "--window-size=1280,800",
)

CLASS_NAME = "Greeter"
# One greeting per version, oldest first: the only line that changes between versions. Different lengths, so
# the rewritten file never has the size of the one before (linecache and .pyc checks compare size and mtime).
GREETINGS = ("hello from version one", "hi from version 2", "good evening from the third version")
GREETER_SOURCE = '''\
class Greeter:
    """Greets someone; each version changes only its greeting line."""

    greeting = "{greeting}"

    def greet(self, who):
        return self.greeting + ", " + who
'''
UNCHANGED_LINE = "def greet(self, who):"


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
    # An explicit driver and browser: selenium-manager (which would download them) is never consulted.
    driver = webdriver.Chrome(service=Service(str(binaries["chromedriver"])), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()


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


def save_page_screenshot(driver: WebDriver, path: Path) -> None:
    """The whole page (up to a sane height), for the docs: Chromium captures only the viewport, so fit the window
    to the content first (the window's own frame, even headless, takes part of its height)."""
    height, frame = driver.execute_script(
        "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]"
    )
    driver.set_window_size(1280, min(int(height), 2400) + int(frame))
    try:
        assert driver.save_screenshot(str(path)), f"could not save a screenshot to {path}"
    finally:
        driver.set_window_size(1280, 800)


# ---------------------------------------------------------------------------------------------------------
# A store with three versions, and the view serving it


@dataclass(frozen=True)
class PushedVersions:
    store: Store
    hashes: tuple[str, ...]  # full hashes, oldest first (one per GREETINGS entry)


def push_from_file(path: Path, source: str, store: Store) -> str:
    """Write ``source`` to ``path``, import it as a fresh module and push its class; return the full hash."""
    path.write_text(source, encoding="utf-8")
    linecache.checkcache(str(path))  # the previous version's lines must not be hashed or shipped again
    module_name = path.stem  # the same module every time, as when a user edits a file and pushes again
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(module_name)
    sys.modules[module_name] = module  # a user module travels by value only while it is imported
    try:
        spec.loader.exec_module(module)
        return remoteimport.push(getattr(module, CLASS_NAME), store=store)
    finally:
        if previous is None:
            del sys.modules[module_name]
        else:
            sys.modules[module_name] = previous


@pytest.fixture
def pushed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PushedVersions:
    # No .pyc: the file is rewritten within the same second, and a .pyc records the source's mtime in seconds.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    store = Store(tmp_path / "store")
    source_file = tmp_path / "project" / "ui_greeter.py"
    source_file.parent.mkdir()
    hashes = tuple(
        push_from_file(source_file, GREETER_SOURCE.format(greeting=greeting), store) for greeting in GREETINGS
    )
    assert len(set(hashes)) == len(GREETINGS)
    return PushedVersions(store, hashes)


@pytest.fixture
def ui_url(pushed: PushedVersions) -> Iterator[str]:
    server = start_server(pushed.store, host="127.0.0.1", port=0)
    try:
        yield server.url
    finally:
        server.close()


def open_class_page(browser: WebDriver, ui_url: str) -> None:
    """From the class list, as a user: click the class's link."""
    browser.get(ui_url)
    rows = find_all(browser, "#classes tr.class-row")
    assert [row.get_attribute("data-name") for row in rows] == [CLASS_NAME]
    find(rows[0], "a.class-link").click()
    wait_for(browser, "#versions")


# ---------------------------------------------------------------------------------------------------------
# The tests


def test_compare_the_oldest_and_newest_versions(
    browser: WebDriver, ui_url: str, pushed: PushedVersions, screenshots: Path
) -> None:
    oldest, newest = pushed.hashes[0], pushed.hashes[-1]

    open_class_page(browser, ui_url)
    rows = find_all(browser, "#versions tr.version-row")
    assert [row.get_attribute("data-hash") for row in rows] == list(reversed(pushed.hashes)), "newest first"

    find(browser, f'tr.version-row[data-hash="{oldest}"] input[name="a"]').click()
    find(browser, f'tr.version-row[data-hash="{newest}"] input[name="b"]').click()
    assert find(browser, f'input[name="a"][value="{oldest}"]').is_selected()
    assert find(browser, f'input[name="b"][value="{newest}"]').is_selected()
    save_page_screenshot(browser, screenshots / "ui-class.png")
    find(browser, "#compare").click()
    wait_for(browser, "#diff")

    address = urlsplit(browser.current_url)
    assert address.path == f"/c/{CLASS_NAME}/diff"
    assert parse_qs(address.query) == {"a": [oldest], "b": [newest]}
    added = [element.text for element in find_all(browser, "#diff .diff-add")]
    removed = [element.text for element in find_all(browser, "#diff .diff-del")]
    assert any(f'greeting = "{GREETINGS[-1]}"' in line for line in added), added
    assert any(f'greeting = "{GREETINGS[0]}"' in line for line in removed), removed
    for line in added + removed:
        assert GREETINGS[1] not in line, "the middle version is not part of this comparison"
        assert UNCHANGED_LINE not in line, f"an unchanged line is marked as changed: {line!r}"
    assert UNCHANGED_LINE in find(browser, "#diff").text, "the diff shows context around the change"
    save_page_screenshot(browser, screenshots / "ui-diff.png")
    assert (screenshots / "ui-diff.png").stat().st_size > 10_000


def test_version_page_shows_shipped_source_and_pinned_reference(
    browser: WebDriver, ui_url: str, pushed: PushedVersions
) -> None:
    middle = pushed.hashes[1]

    open_class_page(browser, ui_url)
    find(browser, f'tr.version-row[data-hash="{middle}"] a.version-link').click()
    source = wait_for(browser, "#source")

    assert urlsplit(browser.current_url).path == f"/c/{CLASS_NAME}/{middle}"
    assert find_all(browser, "#source.highlight, #source .highlight"), "the source is highlighted by Pygments"
    assert "class Greeter:" in source.text
    assert f'greeting = "{GREETINGS[1]}"' in source.text
    assert GREETINGS[0] not in source.text and GREETINGS[2] not in source.text
    assert find(browser, "input#pinned-ref").get_attribute("value") == f"labchain_remote.{CLASS_NAME}@{middle}"
    assert find(browser, "pre#config-snippet").text.strip(), "the config snippet is empty"
    assert not find_all(browser, "#damaged")


def test_damaged_blob_is_reported_and_the_view_keeps_serving(
    browser: WebDriver, ui_url: str, pushed: PushedVersions
) -> None:
    damaged, intact = pushed.hashes[0], pushed.hashes[-1]
    Path(pushed.store.blob_path(CLASS_NAME, damaged)).write_bytes(b"not a remoteimport blob")

    browser.get(urljoin(ui_url, f"c/{CLASS_NAME}/{damaged}"))
    assert wait_for(browser, "#damaged").text.strip(), "the damage is explained"
    assert not find_all(browser, "#source")

    browser.get(urljoin(ui_url, f"c/{CLASS_NAME}/{intact}"))
    assert f'greeting = "{GREETINGS[-1]}"' in wait_for(browser, "#source").text
    open_class_page(browser, ui_url)
    assert len(find_all(browser, "#versions tr.version-row")) == len(GREETINGS)
