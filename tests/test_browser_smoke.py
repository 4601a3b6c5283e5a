"""The real-browser harness end to end: the system's Chromium, driven by Playwright, loads the running app."""

from __future__ import annotations

import asyncio
import json

from tests.browser_fixtures import _chromium, artifact_name, artifacts_dir, browser, page  # noqa: F401


def test_healthz_in_chromium(request, web, page):
    response = page.goto(f"{web.url}/healthz")

    assert response is not None and response.status == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"ok": True, "redis": True, "database": True}
    # What the browser shows: Chromium renders a JSON body as text in a <pre>.
    assert json.loads(page.locator("pre").first.inner_text())["ok"] is True

    shot = artifacts_dir() / f"{artifact_name(request.node.name)}.png"
    shot.unlink(missing_ok=True)
    page.screenshot(path=str(shot))
    assert shot.is_file() and shot.stat().st_size > 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_event_loop_left_in_main_thread_between_browser_tests():
    """After a browser test (the one above, when run with it) the main thread has no running event loop."""

    async def answer():
        return 42

    assert asyncio.run(answer()) == 42
