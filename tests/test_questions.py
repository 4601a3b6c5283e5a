"""Customer questions end to end: the app proxy signature, the WooCommerce widget key and per-IP limit, the
worker writing the answer (holding reply → review → approve → the widget shows it; instant when allowed),
order questions refused without the order's email, and the email channel to a tiny SMTP server.

Real HTTP to the app and the store emulator, the real redis-server, the real RQ worker path (burst)."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from urllib.parse import urlencode

import pytest
import requests
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from plugin import jobs
from plugin.db import Draft, Question, Shop
from plugin.drafts import approve
from plugin.questions import ProxyRefused, verify_proxy
from plugin.questions_store import HOLDING_REPLY, ORDER_REFUSED, widget_key
from tests.conftest import APP_SECRET, SHOP_DOMAIN
from tests.test_pipeline import set_shop

APRON = {"title": "Linen Apron", "category": "Kitchen", "attributes": {"Material": "100% linen", "Length": "85 cm"}}
GOOD = "The Linen Apron is made of 100% linen and is 85 cm long."


class Answers:
    """A stand-in model that answers every prompt with the next scripted text (the last repeats)."""

    model_id, revision = "scripted-answers", "r1"

    def __init__(self, *texts: str):
        self.texts, self.prompts = list(texts or [GOOD]), []

    def generate(self, conversations, *, max_new_tokens, seed, temperature=0.5, top_p=0.9):
        self.prompts += conversations
        return [self.texts[min(len(self.prompts) - 1, len(self.texts) - 1)] for _ in conversations]


def use(generator) -> None:
    from worker import context

    context.get().use_generator(generator)


def sign(pairs: list[tuple[str, str]], secret: str = APP_SECRET) -> str:
    """platforms.md 1.5, written out independently of the app's code."""
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    message = "".join(f"{k}={','.join(v)}" for k, v in sorted(grouped.items()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def proxied(web, path: str, pairs=None, *, when: float | None = None, signature: str | None = None,
            extra: list[tuple[str, str]] = ()) -> str:
    pairs = list(pairs if pairs is not None else [
        ("shop", SHOP_DOMAIN), ("logged_in_customer_id", ""), ("path_prefix", "/apps/copydesk"),
        ("timestamp", str(int(time.time() if when is None else when)))])
    sig = sign(pairs) if signature is None else signature
    return f"{web.url}/proxy/{path}?" + urlencode([*pairs, ("signature", sig), *extra])


def test_shopifys_documented_proxy_example_verifies():
    query = MultiDict([("extra", "1"), ("extra", "2"), ("shop", "shop-name.myshopify.com"),
                       ("path_prefix", "/apps/awesome_reviews"), ("timestamp", "1317327555"),
                       ("signature", "a9718877bea71c2484f91608a7eaea1532bdf71f5c56825065fa4ccabe549ef3")])
    assert verify_proxy(query, ["hush"], now=1317327555 + 10) == "shop-name.myshopify.com"
    reordered = MultiDict([("extra", "2"), ("extra", "1"), *list(query.items(multi=True))[2:]])
    with pytest.raises(ProxyRefused) as refused:
        verify_proxy(reordered, ["hush"], now=1317327555 + 10)
    assert refused.value.status == 401
    # The spec joins repeated values with commas, so one value "1,2" signs exactly like two: say so.
    joined = MultiDict([("extra", "1,2"), *list(query.items(multi=True))[2:]])
    assert verify_proxy(joined, ["hush"], now=1317327555 + 10) == "shop-name.myshopify.com"


def test_app_proxy_signature(app, connected, web):
    status = "questions/not-a-token"
    assert requests.get(proxied(web, status), timeout=5).status_code == 404  # verified; no such question
    assert requests.get(proxied(web, status, signature="0" * 64), timeout=5).status_code == 401
    assert requests.get(proxied(web, status, when=time.time() - 301), timeout=5).status_code == 401
    assert requests.get(proxied(web, status, when=time.time() - 100), timeout=5).status_code == 401  # Shopify: 90 s
    assert requests.get(proxied(web, status, when=time.time() + 120), timeout=5).status_code == 401
    assert requests.get(f"{web.url}/proxy/{status}?shop={SHOP_DOMAIN}&timestamp={int(time.time())}",
                        timeout=5).status_code == 401
    now = str(int(time.time()))
    base = [("shop", SHOP_DOMAIN), ("path_prefix", "/apps/copydesk"), ("timestamp", now)]
    twice = proxied(web, status, base, extra=[("signature", sign(base))])
    assert requests.get(twice, timeout=5).status_code == 400
    assert requests.get(proxied(web, status, [*base, ("shop", SHOP_DOMAIN)]), timeout=5).status_code == 400
    assert requests.get(proxied(web, status, [("shop", SHOP_DOMAIN), ("timestamp", "soon")]),
                        timeout=5).status_code == 400
    split = [*base, ("color", "red"), ("color", "blue")]
    assert requests.get(proxied(web, status, split), timeout=5).status_code == 404
    swapped = [*base, ("color", "blue"), ("color", "red")]
    assert requests.get(proxied(web, status, swapped, signature=sign(split)), timeout=5).status_code == 401
    assert requests.get(proxied(web, status, [*base, ("color", "red,blue")], signature=sign(split)),
                        timeout=5).status_code == 404  # what the spec's comma join means
    other = proxied(web, status, [("shop", "other.myshopify.com"), ("timestamp", now)])
    assert requests.get(other, timeout=5).status_code == 404


def _woo(app, shop_id: int) -> str:
    with app.extensions["copydesk_sessionmaker"]() as db:
        return widget_key(db, db.get(Shop, shop_id))


def test_per_ip_rate_limit(app, connected, web):
    set_shop(app, connected["woocommerce"], questions_per_ip_hour=2)
    url = f"{web.url}/questions/w/{_woo(app, connected['woocommerce'])}"
    codes = [requests.post(url, json={"question": f"Is it washable? {n}"}, timeout=5).status_code for n in range(3)]
    assert codes == [202, 202, 429]
    limited = requests.post(url, json={"question": "again"}, timeout=5)
    assert 0 < int(limited.headers["Retry-After"]) <= 3600
    assert requests.post(f"{web.url}/questions/w/{connected['woocommerce']}-guess", json={"question": "x"},
                         timeout=5).status_code == 404
    assert requests.post(url, json={"question": "x" * 1001}, timeout=5).status_code in (400, 429)


def test_nul_bytes_in_a_question_are_dropped_not_a_500(app, connected, web):
    """PostgreSQL refuses NUL in text: a question carrying one is stored without it, or refused if empty."""
    url = f"{web.url}/questions/w/{_woo(app, connected['woocommerce'])}"
    asked = requests.post(url, json={"question": "Is it\x00 linen?"}, timeout=5)
    assert asked.status_code == 202
    assert _question(app, asked.json()["token"]).text == "Is it linen?"
    assert requests.post(url, json={"question": "\x00 \x00"}, timeout=5).status_code == 400


def test_cors_only_for_the_store_origin(app, connected, web, devstore):
    url = f"{web.url}/questions/w/{_woo(app, connected['woocommerce'])}"
    mine = requests.options(url, headers={"Origin": devstore.base_url}, timeout=5)
    assert mine.headers["Access-Control-Allow-Origin"] == devstore.base_url
    theirs = requests.options(url, headers={"Origin": "https://evil.example"}, timeout=5)
    assert "Access-Control-Allow-Origin" not in theirs.headers


def _question(app, token: str) -> Question:
    with app.extensions["copydesk_sessionmaker"]() as db:
        return db.scalar(select(Question).where(Question.token == token))


def _answer_drafts(app, question_id: int) -> list[Draft]:
    with app.extensions["copydesk_sessionmaker"]() as db:
        return list(db.scalars(select(Draft).where(Draft.kind == "answer", Draft.product_id == str(question_id))
                               .order_by(Draft.id)))


def _approve(app, redis_conn, draft_id: int) -> None:
    with app.extensions["copydesk_sessionmaker"]() as db:
        draft = approve(db, db.get(Draft, draft_id), actor="staff:test")
        jobs.enqueue_publish(redis_conn, draft.id, actor="staff:test", shop_id=draft.shop_id)


def test_question_review_approve_widget_shows_answer(app, connected, devstore, web, worker, redis_conn):
    use(Answers(GOOD))
    product = devstore.create_product("shopify", fire=False, **APRON)
    asked = requests.post(proxied(web, "questions"), json={"question": "How long is it?", "product_id": product,
                                                           "email": "kim@example.com"}, timeout=5)
    assert asked.status_code == 202, asked.text
    token = asked.json()["token"]
    poll = proxied(web, f"questions/{token}")
    assert requests.get(poll, timeout=5).json() == {"status": "pending", "message": HOLDING_REPLY}
    worker.drain()
    question = _question(app, token)
    assert question.status == "pending" and question.email_sealed and b"kim@" not in question.email_sealed
    assert question.ip_hash and "127.0.0.1" not in question.ip_hash
    [draft] = _answer_drafts(app, question.id)
    assert draft.status == "pending" and draft.fields == {"answer": GOOD}
    assert draft.prompt_version == "answer/1" and draft.input_snapshot["products"][0]["title"] == "Linen Apron"
    assert requests.get(poll, timeout=5).json()["status"] == "pending"
    _approve(app, redis_conn, draft.id)
    worker.drain()
    assert _answer_drafts(app, question.id)[0].status == "published"
    assert requests.get(poll, timeout=5).json() == {"status": "answered", "answer": GOOD}


def test_instant_answer_when_enabled_and_grounded(app, connected, devstore, web, worker):
    use(Answers(GOOD))
    shop_id = connected["woocommerce"]
    set_shop(app, shop_id, instant_answers=True)
    product = devstore.create_product("woocommerce", fire=False, **APRON)
    url = f"{web.url}/questions/w/{_woo(app, shop_id)}"
    token = requests.post(url, json={"question": "How long?", "product_id": str(product)}, timeout=5).json()["token"]
    worker.drain()
    assert requests.get(f"{url}/{token}", timeout=5).json() == {"status": "answered", "answer": GOOD}
    [draft] = _answer_drafts(app, _question(app, token).id)
    assert draft.status == "published" and draft.checks["passed"]
    # A price the product data does not state, or a banned word, is never answered at once.
    for text in (GOOD + " It costs $12.99 today.", GOOD + " It is a must-have."):
        use(Answers(text))
        token = requests.post(url, json={"question": "Price?", "product_id": str(product)}, timeout=5).json()["token"]
        worker.drain()
        assert requests.get(f"{url}/{token}", timeout=5).json()["status"] == "pending"
        [draft] = _answer_drafts(app, _question(app, token).id)
        assert draft.status == "pending" and not draft.checks["results"]["rules"]["passed"], draft.checks


def test_order_question_refused_without_the_orders_email(app, connected, devstore, web, worker):
    generator = Answers(GOOD)
    use(generator)
    shop_id = connected["woocommerce"]
    product = devstore.create_product("woocommerce", fire=False, **APRON)
    order = devstore.create_order("woocommerce", [{"product_id": product}], fire=False,
                                  customer={"email": "ada@example.com"})
    url = f"{web.url}/questions/w/{_woo(app, shop_id)}"
    assert requests.post(url, json={"question": "Where is it?", "order_number": str(order)},
                         timeout=5).status_code == 400  # an order question needs an email
    wrong = requests.post(url, json={"question": "Where is my order?", "order_number": str(order),
                                     "email": "mallory@example.com"}, timeout=5).json()["token"]
    right = requests.post(url, json={"question": "Where is my order?", "order_number": str(order),
                                     "email": "ADA@example.com"}, timeout=5).json()["token"]
    worker.drain()
    assert requests.get(f"{url}/{wrong}", timeout=5).json() == {"status": "refused", "answer": ORDER_REFUSED}
    assert _answer_drafts(app, _question(app, wrong).id) == []
    assert len(generator.prompts) == 1  # only the matching one reached the model
    [draft] = _answer_drafts(app, _question(app, right).id)
    assert draft.status == "pending"


def test_shopify_order_question_by_the_orders_name(app, connected, devstore, web, worker):
    generator = Answers(GOOD)
    use(generator)
    product = devstore.create_product("shopify", fire=False, **APRON)
    order = devstore.create_order("shopify", [{"product_id": product}], fire=False,
                                  customer={"email": "ada@example.com"})
    name = f"#{devstore.order('shopify', order)['number']}"  # what the customer sees; the id is never shown

    def ask(number: str, email: str) -> str:
        asked = requests.post(proxied(web, "questions"), json={"question": "Where is my order?",
                                                               "order_number": number, "email": email}, timeout=5)
        assert asked.status_code == 202, asked.text
        return asked.json()["token"]

    right, bare = ask(name, "ADA@example.com"), ask(name.lstrip("#"), "ada@example.com")
    wrong, by_id = ask(name, "mallory@example.com"), ask(str(order), "ada@example.com")
    worker.drain()
    for token in (wrong, by_id):
        assert requests.get(proxied(web, f"questions/{token}"), timeout=5).json() == \
            {"status": "refused", "answer": ORDER_REFUSED}
        assert _answer_drafts(app, _question(app, token).id) == []
    assert len(generator.prompts) == 2  # only the matching ones reached the model
    for token in (right, bare):
        assert _question(app, token).status == "pending"
        [draft] = _answer_drafts(app, _question(app, token).id)
        assert draft.status == "pending"
        assert requests.get(proxied(web, f"questions/{token}"), timeout=5).json()["status"] == "pending"


class SMTPServer:
    """Enough SMTP on 127.0.0.1 to take messages (stdlib sockets, one thread)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.messages: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as lines:
                conn.sendall(b"220 test ESMTP\r\n")
                for raw in lines:
                    verb = raw.decode(errors="replace").strip().upper()
                    if verb.startswith("DATA"):
                        conn.sendall(b"354 go ahead\r\n")
                        body = []
                        for line in lines:
                            if line in (b".\r\n", b".\n"):
                                break
                            body.append(line.decode(errors="replace"))
                        self.messages.append("".join(body))
                        conn.sendall(b"250 queued\r\n")
                    elif verb.startswith("QUIT"):
                        conn.sendall(b"221 bye\r\n")
                        break
                    else:
                        conn.sendall(b"250 ok\r\n")

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("smtp", [True, False], ids=["smtp", "no-smtp"])
def test_email_channel(app, connected, devstore, web, worker, redis_conn, smtp):
    from worker import context

    server = SMTPServer()
    if smtp:
        ctx = context.get()
        ctx.settings = ctx.settings.replace(smtp_url=f"smtp://127.0.0.1:{server.port}?from=answers@shop.example")
    use(Answers(GOOD))
    shop_id = connected["woocommerce"]
    set_shop(app, shop_id, answer_channel="email")
    url = f"{web.url}/questions/w/{_woo(app, shop_id)}"
    product = str(devstore.create_product("woocommerce", fire=False, **APRON))
    assert requests.post(url, json={"question": "How long?"}, timeout=5).status_code == 400  # email required
    token = requests.post(url, json={"question": "How long?", "email": "kim@example.com", "product_id": product},
                          timeout=5).json()["token"]
    worker.drain()
    [draft] = _answer_drafts(app, _question(app, token).id)
    _approve(app, redis_conn, draft.id)
    worker.drain()
    [draft] = _answer_drafts(app, _question(app, token).id)
    if smtp:
        assert draft.status == "published"
        [message] = server.messages
        assert "To: kim@example.com" in message and GOOD in message
        jobs.enqueue_publish(redis_conn, draft.id, actor="staff:test", shop_id=shop_id)  # again: not resent
        worker.drain()
        assert len(server.messages) == 1
        with app.extensions["copydesk_sessionmaker"]() as db:  # a retry after the send landed: not resent
            db.get(Draft, draft.id).status = "approved"
            db.commit()
        jobs.enqueue_publish(redis_conn, draft.id, actor="staff:test", shop_id=shop_id)
        worker.drain()
        assert len(server.messages) == 1 and _answer_drafts(app, _question(app, token).id)[0].status == "published"
        # An earlier try that stopped mid-send (worker killed): a person decides; nothing is sent blind.
        token = requests.post(url, json={"question": "Colour?", "email": "kim@example.com", "product_id": product},
                              timeout=5).json()["token"]
        worker.drain()
        [draft] = _answer_drafts(app, _question(app, token).id)
        redis_conn.set(f"{jobs.PREFIX}:answer-sent:{draft.id}", "sending")
        _approve(app, redis_conn, draft.id)
        worker.drain()
        [draft] = _answer_drafts(app, _question(app, token).id)
        assert draft.status == "failed" and "stopped while sending" in draft.reason
        assert len(server.messages) == 1
    else:
        assert draft.status == "failed" and "COPYDESK_SMTP_URL" in draft.reason
        assert server.messages == []
    server.close()


def _shopify_webhook(web, topic: str, payload: dict) -> int:
    import base64
    import json
    import uuid

    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": SHOP_DOMAIN,
               "X-Shopify-Hmac-Sha256": base64.b64encode(hmac.new(APP_SECRET.encode(), body, hashlib.sha256).digest()),
               "X-Shopify-API-Version": "2025-10", "X-Shopify-Webhook-Id": str(uuid.uuid4())}
    return requests.post(f"{web.url}/webhooks/shopify", data=body, headers=headers, timeout=10).status_code


def test_customer_data_request_and_redact_cover_questions(app, connected, devstore, web, worker):
    from plugin.db import DataExport

    use(Answers(GOOD))
    product = devstore.create_product("shopify", fire=False, **APRON)
    for email, text in (("kim@example.com", "How long?"), ("kim@example.com", "Is it linen?"),
                        ("lee@example.com", "Washable?")):
        assert requests.post(proxied(web, "questions"), json={"question": text, "product_id": product,
                                                              "email": email}, timeout=5).status_code == 202
    worker.drain()
    customer = {"id": 77, "email": "KIM@example.com"}
    assert _shopify_webhook(web, "customers/data_request", {"shop_domain": SHOP_DOMAIN, "customer": customer,
                                                            "orders_requested": [], "data_request": {"id": 5}}) == 200
    with app.extensions["copydesk_sessionmaker"]() as db:
        [export] = db.scalars(select(DataExport))
        assert sorted(q["question"] for q in export.payload["questions"]) == ["How long?", "Is it linen?"]
    assert _shopify_webhook(web, "customers/redact", {"shop_domain": SHOP_DOMAIN, "customer": customer,
                                                      "orders_to_redact": []}) == 200
    with app.extensions["copydesk_sessionmaker"]() as db:
        assert [q.text for q in db.scalars(select(Question))] == ["Washable?"]
        left = [d.product_id for d in db.scalars(select(Draft).where(Draft.kind == "answer"))]
        assert len(left) == 1


def test_regenerate_an_answer_with_a_note(app, connected, devstore, web, worker, redis_conn):
    generator = Answers(GOOD, "It is 85 cm long.")
    use(generator)
    product = devstore.create_product("shopify", fire=False, **APRON)
    token = requests.post(proxied(web, "questions"), json={"question": "How long?", "product_id": product},
                          timeout=5).json()["token"]
    worker.drain()
    question = _question(app, token)
    [first] = _answer_drafts(app, question.id)
    jobs.enqueue_regenerate(redis_conn, connected["shopify"], first.id, note="shorter please")
    worker.drain()
    old, new = _answer_drafts(app, question.id)
    assert (old.status, new.status) == ("stale", "pending")
    assert new.fields == {"answer": "It is 85 cm long."} and new.checks["note"] == "shorter please"
    assert "shorter please" in generator.prompts[-1][-1]["content"]
