"""The panel in a real browser: Playwright driving Chromium against the running app, the store emulator
and the real RQ worker path. A reviewer logs in, opens a draft, edits it, approves it with the keyboard,
and the edited copy arrives in the store. Screenshots of the queue and a draft page are left in
tests/artifacts/."""

from __future__ import annotations

import re

from sqlalchemy import select

from plugin.db import Draft, Shop
from plugin.panel.accounts import add_staff
from tests.browser_fixtures import artifacts_dir

EMAIL, PASSWORD = "reviewer@example.com", "correct horse battery"


def _drafts(app, shop_id: int) -> list[Draft]:
    with app.extensions["copydesk_sessionmaker"]() as db:
        return list(db.scalars(select(Draft).where(Draft.shop_id == shop_id).order_by(Draft.id)))


def _log_in(page, web):
    page.goto(f"{web.url}/panel/")
    assert "/panel/login" in page.url
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/panel/$"))


def test_review_edit_approve_reaches_the_store(app, connected, devstore, worker, web, page):
    shop_id = connected["shopify"]
    with app.extensions["copydesk_sessionmaker"]() as db:
        add_staff(db, db.get(Shop, shop_id), EMAIL, PASSWORD)
    product_ids = [devstore.create_product("shopify", title=f"Linen Apron {n}", category="Kitchen",
                                           attributes={"Material": "100% linen", "Length": "85 cm"})
                   for n in range(3)]
    assert devstore.flush(timeout=15)
    worker.drain()
    assert len(_drafts(app, shop_id)) == 3

    _log_in(page, web)
    assert page.get_by_test_id("total").inner_text() == "3"
    page.screenshot(path=str(artifacts_dir() / "panel-queue.png"), full_page=True)

    page.get_by_role("link", name="Linen Apron 1").click()
    page.wait_for_url(re.compile(r"/panel/drafts/\d+"))
    assert page.get_by_test_id("draft-title").inner_text() == "Linen Apron 1"
    edited = "<p>A linen apron, 85 cm long, for the kitchen.</p>"
    page.locator("textarea[name=description_html]").fill(edited)
    page.locator("textarea[name=seo_title]").fill("Linen Apron 1 | 100% linen, 85 cm")
    page.screenshot(path=str(artifacts_dir() / "panel-draft.png"), full_page=True)
    page.locator("body").click(position={"x": 5, "y": 5})  # leave the field, then the shortcut
    page.keyboard.press("a")
    page.wait_for_url(re.compile(r"msg=approved"))
    assert "approved; publishing" in page.locator(".notice").inner_text()

    worker.drain()  # the publish job, on the real worker path
    approved = [d for d in _drafts(app, shop_id) if d.product_id == str(product_ids[1])]
    assert [d.status for d in approved] == ["published"], approved[0].reason
    stored = devstore.product("shopify", product_ids[1])
    assert stored["description_html"] == edited
    assert stored["seo_title"] == "Linen Apron 1 | 100% linen, 85 cm"
    for name in ("panel-queue.png", "panel-draft.png"):
        assert (artifacts_dir() / name).stat().st_size > 10_000

    # The other two are still waiting; rejecting one from the keyboard asks for a reason first.
    page.goto(f"{web.url}/panel/")
    assert page.get_by_test_id("total").inner_text() == "2"
