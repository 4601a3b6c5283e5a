"""Take the README's panel screenshots from a running `copydesk demo` (the default model, real drafts).

    .venv/bin/copydesk demo &                      # wait until it has printed a few drafts
    .venv/bin/python docs/screenshots.py [--url http://127.0.0.1:8000] [--instance instance]

Logs in with the demo's staff login and saves docs/panel-queue.png and docs/panel-draft.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run as a script from the checkout

from tests.browser_fixtures import CHROMIUM_ARGS, chromium_path  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--instance", default="instance")
    args = parser.parse_args()
    password = (Path(args.instance) / "demo-staff-password").read_text().strip()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"{args.url}/panel/login")
        page.get_by_label("Email").fill("demo@copydesk.test")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_selector("table.queue")
        page.screenshot(path=str(HERE / "panel-queue.png"))
        page.locator("a.draft-link").first.click()
        page.wait_for_selector("[data-testid=draft-title]")
        page.locator("details.diff").first.evaluate("d => d.open = true")
        page.screenshot(path=str(HERE / "panel-draft.png"))
        browser.close()
    print(f"saved {HERE / 'panel-queue.png'} and {HERE / 'panel-draft.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
