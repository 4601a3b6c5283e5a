"""Real-browser fixtures: Playwright for Python driving the system's Chromium (Debian's /usr/bin/chromium).

tests/conftest.py imports these fixtures, so every test module can name them as parameters:

    browser  the Chromium of the session, launched once, headless, on first use
    page     a fresh browser context (1280x900) and page per test; a test that fails in its body
             leaves a screenshot at tests/artifacts/<test name>-failure.png

Playwright cannot download its own browser build here, so the fixtures launch the system's Chromium
(COPYDESK_TEST_CHROMIUM, default /usr/bin/chromium). CI installs it (.ci/run); when it or the playwright
package is missing, the tests that need them fail (not skip) and say how to install it.

Two things to know:

* Failure screenshots need to know how the test body went. A small plugin (`_ReportsOnItem`, a
  `pytest_runtest_makereport` wrapper) keeps each phase's report on the test item as `rep_setup`,
  `rep_call` and `rep_teardown`; `page` registers it with pytest the first time it is used, so nothing
  beyond the fixtures has to be imported into conftest.py.
* Playwright's sync API runs an asyncio event loop in the main thread (in a greenlet) and, between its
  calls, leaves that loop marked as the thread's running loop. With one Chromium for the whole session,
  every later test in the process would see a running loop: `asyncio.run()` there fails with "cannot be
  called from a running event loop". So the session-scoped `_chromium` owns the browser, and the
  function-scoped `browser` puts the mark back before a test and clears it after: tests that use no
  browser run with no event loop at all, as without Playwright. Servers in threads (the `web` and
  `devstore` fixtures) are unaffected either way: the mark is per thread.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from pathlib import Path

import pytest

CHROMIUM_ENV = "COPYDESK_TEST_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 900}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # we run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",  # every page a test loads is on 127.0.0.1, whatever *_PROXY says
]
"""Playwright adds its own flags (--headless, --no-sandbox and --disable-dev-shm-usage among them) and a fresh
temporary profile (--user-data-dir), removed on close."""

INSTALL_HINT = (
    "The browser tests drive the system's Chromium through Playwright for Python.\n"
    f"  Chromium:   apt-get install chromium   (or point {CHROMIUM_ENV} at a Chromium binary)\n"
    "  Playwright: .venv/bin/pip install -e '.[dev]'   (make install; the version is pinned in pyproject.toml)\n"
    "Do not run `playwright install`: the tests use the system's Chromium, not a downloaded one."
)

REPORTS_PLUGIN = "copydesk-browser-reports"


def artifacts_dir() -> Path:
    """tests/artifacts/ (git-ignored), created: screenshots and other files a browser test leaves."""
    path = Path(__file__).resolve().parent / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifact_name(node_name: str) -> str:
    """A test's name as a file name: `test_x[sqlite]` -> `test_x_sqlite`."""
    return re.sub(r"[^\w.-]+", "_", node_name).strip("_")


def chromium_path() -> str:
    """The Chromium to launch; fails the test, with how to install it, when there is none."""
    path = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    resolved = shutil.which(path)
    if resolved is None:
        pytest.fail(f"No Chromium at {path}.\n{INSTALL_HINT}", pytrace=False)
    return resolved


class _ReportsOnItem:
    """Keeps each phase's report on the test item (`item.rep_call`, ...), for fixtures' teardown to read."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        setattr(item, f"rep_{report.when}", report)
        return report


def _keep_reports(config: pytest.Config) -> None:
    if config.pluginmanager.get_plugin(REPORTS_PLUGIN) is None:
        config.pluginmanager.register(_ReportsOnItem(), REPORTS_PLUGIN)


class _ChromiumSession:
    """The session's Playwright and Chromium, and the event loop Playwright's sync API runs them on."""

    def __init__(self, executable: str):
        problem = None  # pytest.fail outside the except blocks: no "During handling..." chain in the report
        try:
            from playwright.sync_api import Error as PlaywrightError
            from playwright.sync_api import sync_playwright
        except ImportError as exc:
            problem = f"The playwright package is missing ({exc})."
        if problem:
            pytest.fail(f"{problem}\n{INSTALL_HINT}", pytrace=False)
        started = time.perf_counter()
        self.playwright = sync_playwright().start()
        try:
            self.browser = self.playwright.chromium.launch(
                executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            problem = f"Chromium at {executable} did not start: {exc}"
        if problem:
            self.playwright.stop()
            pytest.fail(f"{problem}\n{INSTALL_HINT}", pytrace=False)
        self.launch_seconds = time.perf_counter() - started
        # After a sync call the loop is marked as this thread's running loop (see the module docstring).
        self.loop = asyncio.get_running_loop()

    def resume(self) -> None:
        """Mark Playwright's loop as running again: its sync API must find it so (else its connection dies)."""
        asyncio._set_running_loop(self.loop)

    def park(self) -> None:
        """Clear the mark, so that code outside the browser tests sees no running loop in the main thread."""
        asyncio._set_running_loop(None)

    def close(self) -> None:
        self.resume()
        try:
            self.browser.close()
        finally:
            self.playwright.stop()  # closes the loop and clears the mark for good


@pytest.fixture(scope="session")
def _chromium():
    """One Chromium for the whole session, launched on first use. Tests take `browser` or `page`, not this."""
    session = _ChromiumSession(chromium_path())
    session.park()
    yield session
    session.close()


@pytest.fixture
def browser(_chromium):
    """The session's Chromium (a playwright.sync_api.Browser); Playwright's loop is live only during the test."""
    _chromium.resume()
    try:
        yield _chromium.browser
    finally:
        _chromium.park()


@pytest.fixture
def page(request, browser):
    """A new browser context with a 1280x900 viewport and a new page, closed after the test.

    When the test body fails, a screenshot of the page is saved as tests/artifacts/<test name>-failure.png
    and its path printed (pytest shows it under the failure as "Captured stdout teardown").
    """
    _keep_reports(request.config)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        yield page
    finally:
        try:
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed and not page.is_closed():
                path = artifacts_dir() / f"{artifact_name(request.node.name)}-failure.png"
                page.screenshot(path=str(path), full_page=True)
                print(f"failure screenshot: {path}")
        finally:
            context.close()
