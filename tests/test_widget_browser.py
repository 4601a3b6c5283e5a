"""The questions widget in a real browser: a store page on its own 127.0.0.1 origin carries the one script
tag; a customer asks, sees the holding reply, a person approves the answer, and the answer appears (as text).
Cross-origin like a real WooCommerce store: the app answers CORS for the store's origin only."""

from __future__ import annotations

from sqlalchemy import select

from plugin import jobs
from plugin.crypto import Vault
from plugin.db import Draft
from plugin.drafts import approve
from plugin.questions_store import HOLDING_REPLY, widget_key
from plugin.shops import add_shop
from tests.conftest import SECRET_KEY, WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET, ThreadServer
from tests.test_questions import APRON, Answers, use

ANSWER = "The Linen Apron is made of 100% linen and is 85 cm long. <b>Enjoy!</b>"


def _store_page(script_tag: str):
    body = f"<!doctype html><html><head><title>Linen Apron</title></head><body><h1>Linen Apron</h1>{script_tag}" \
           "</body></html>"

    def page_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body.encode()]

    return page_app


def test_ask_approve_answer_appears(app, devstore, web, worker, redis_conn, page):
    use(Answers(ANSWER))
    store_page = ThreadServer(lambda environ, start_response: holder["app"](environ, start_response))
    holder = {}
    try:
        with app.extensions["copydesk_sessionmaker"]() as db:
            shop = add_shop(db, Vault(SECRET_KEY), platform="woocommerce", domain=store_page.url,
                            credentials={"consumer_key": WOO_KEY, "consumer_secret": WOO_SECRET,
                                         "webhook_secret": WOO_HOOK_SECRET}, api_url=devstore.base_url)
            key, shop_id = widget_key(db, shop), shop.id
        devstore.config(woocommerce={"consumer_key": WOO_KEY, "consumer_secret": WOO_SECRET,
                                     "webhook_secret": WOO_HOOK_SECRET})
        product = devstore.create_product("woocommerce", fire=False, **APRON)
        holder["app"] = _store_page(f'<script src="{web.url}/questions/widget.js" data-app="{web.url}" '
                                    f'data-key="{key}" data-product="{product}" data-poll="300"></script>')

        page.goto(store_page.url)
        page.get_by_label("Ask a question about this product").fill("How long is the apron?")
        page.get_by_role("button", name="Ask").click()
        page.get_by_role("status").filter(has_text=HOLDING_REPLY).wait_for(timeout=10_000)

        worker.drain()  # the answer is written and waits for review
        with app.extensions["copydesk_sessionmaker"]() as db:
            draft = db.scalar(select(Draft).where(Draft.shop_id == shop_id, Draft.kind == "answer"))
            approve(db, draft, actor="staff:test")
            jobs.enqueue_publish(redis_conn, draft.id, actor="staff:test", shop_id=shop_id)
        worker.drain()  # delivered to the widget

        answer = page.locator("[data-copydesk=answer]")
        answer.filter(has_text="85 cm long").wait_for(timeout=10_000)
        assert answer.inner_text() == "The Linen Apron is made of 100% linen and is 85 cm long. Enjoy!"
        assert answer.locator("b").count() == 0  # text, never markup
    finally:
        store_page.stop()
