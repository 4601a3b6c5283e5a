"""Post-purchase follow-ups end to end: the emulator's signed order webhook → the web app over HTTP → real
Redis → the real RQ worker path → a follow-up draft → approval → the note on the emulator's order, once.

The model is a scripted stand-in that answers fixed text and records its prompts, so each test knows
what was written (the tiny random model writes gibberish)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from plugin import jobs
from plugin.db import AuditEntry, Draft
from plugin.drafts import approve
from tests.test_pipeline import deliver, drafts, set_shop

PLATFORMS = ("shopify", "woocommerce")
APRON = {"title": "Linen Apron", "category": "Kitchen",
         "attributes": {"Material": "100% linen", "Care": "Machine wash at 40 °C, hang to dry"},
         "description": "<p>A kitchen apron, 85 cm long. Store it folded in a dry drawer.</p>"}
CLEAN = ("Thank you for your order! Your Linen Apron is made of 100% linen and is 85 cm long. "
         "Machine wash it at 40 °C and hang it to dry after every wash in the kitchen.")
HOSTILE = ("Thank you for your order! Your Linen Apron is fully waterproof and GOTS certified. "
           "Tumble dry it at 90 °C and bleach it once a month. Ignore the label.")
PROMO = ("Thank you for your order! Your Linen Apron is made of 100% linen and is 85 cm long. "
         "Shop now and enjoy a special offer with coupon THANKS on your next order. "
         "Machine wash it at 40 °C and hang it to dry after every wash in the kitchen.")
BUYER = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}


class Scripted:
    """A stand-in model: one fixed answer; records every conversation it is given."""

    model_id, revision = "scripted", "r1"

    def __init__(self, text: str = CLEAN):
        self.text = text
        self.prompts: list[str] = []

    def generate(self, conversations, *, max_new_tokens, seed, temperature=0.5, top_p=0.9):
        self.prompts += ["\n".join(m["content"] for m in c) for c in conversations]
        return [self.text for _ in conversations]


@pytest.fixture
def model(worker):
    from worker import context

    scripted = Scripted()
    context.get().use_generator(scripted)
    return scripted


def order(devstore, worker, platform: str, product: dict | None = None, **fields) -> int:
    """A product (no webhook), then an order for it whose webhook the worker handles."""
    product_id = devstore.create_product(platform, fire=False, **(product or APRON))
    order_id = devstore.create_order(platform, [{"product_id": product_id, "quantity": 2}],
                                     customer=fields.pop("customer", BUYER), **fields)
    assert [d["status"] for d in deliver(devstore)][-1] == 200
    worker.drain()
    return order_id


def follow_ups(app, shop_id: int) -> list[Draft]:
    return drafts(app, shop_id=shop_id, kind="order_follow_up")


def skipped(app) -> list[dict]:
    with app.extensions["copydesk_sessionmaker"]() as db:
        return [e.detail for e in db.scalars(select(AuditEntry).where(AuditEntry.action == "order.skipped"))]


def publish(app, worker, redis_conn, draft_id: int) -> None:
    with app.extensions["copydesk_sessionmaker"]() as db:
        approve(db, db.get(Draft, draft_id), actor="staff@example.com")
    jobs.enqueue_publish(redis_conn, draft_id, actor="staff@example.com")
    worker.drain()


def note_writes(devstore, platform: str) -> list[dict]:
    return [w for w in devstore.writes(platform) if w["op"] in ("order.note", "orderUpdate")]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_an_approved_follow_up_reaches_the_order_once(app, connected, devstore, worker, redis_conn, model,
                                                      platform):
    shop_id = connected[platform]
    set_shop(app, shop_id, order_note_namespace="shopcare", order_note_key="thanks")
    order_id = order(devstore, worker, platform, note="Please gift wrap", customer={**BUYER, "accepts_marketing": True})
    [draft] = follow_ups(app, shop_id)
    assert draft.status == "pending" and draft.product_id == str(order_id)
    assert draft.fields == {"message": CLEAN} and draft.checks["passed"], draft.checks["flags"]
    assert draft.prompt_version == "order_follow_up/1" and draft.model_id == "scripted"
    assert draft.input_snapshot["products"][0]["title"] == "Linen Apron"
    assert draft.input_snapshot["order"]["accepts_marketing"] is True
    assert not note_writes(devstore, platform)

    publish(app, worker, redis_conn, draft.id)
    [draft] = follow_ups(app, shop_id)
    assert draft.status == "published", draft.reason
    stored = devstore.order(platform, order_id)
    if platform == "woocommerce":
        assert [(n["note"], n["customer_note"]) for n in stored["notes"]] == [(CLEAN, True)]
    else:
        assert [(m["namespace"], m["key"], m["value"]) for m in stored["metafields"]] == \
            [("shopcare", "thanks", CLEAN)]
        assert stored["note"] == "Please gift wrap"  # the buyer's own note is never touched

    # Publishing again writes nothing: a second job finds the draft published; a retry after a write
    # that landed (the draft still approved) finds the message on the order.
    jobs.enqueue_publish(redis_conn, draft.id, actor="staff@example.com")
    worker.drain()
    with app.extensions["copydesk_sessionmaker"]() as db:
        db.get(Draft, draft.id).status = "approved"
        db.commit()
    jobs.enqueue_publish(redis_conn, draft.id, actor="staff@example.com")
    worker.drain()
    assert len(note_writes(devstore, platform)) == 1
    assert follow_ups(app, shop_id)[0].status == "published"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_test_cancelled_and_followed_up_orders_get_no_draft(app, connected, devstore, worker, redis_conn, model,
                                                           platform):
    shop_id = connected[platform]
    order(devstore, worker, platform, test=True)
    order(devstore, worker, platform, cancelled=True)
    assert follow_ups(app, shop_id) == []
    order_id = order(devstore, worker, platform)
    assert len(follow_ups(app, shop_id)) == 1
    jobs.enqueue_order_created(redis_conn, shop_id, str(order_id), delivery="a day-late retry")
    worker.drain()
    assert len(follow_ups(app, shop_id)) == 1
    set_shop(app, shop_id, follow_ups=False)
    order(devstore, worker, platform)
    assert len(follow_ups(app, shop_id)) == 1
    reasons = [d["reason"] for d in skipped(app)]
    assert reasons[:2] == ["a test order", "the order is cancelled"]
    assert reasons[2].startswith("the order already has follow-up draft")
    assert reasons[3].startswith("follow-ups are off")
    logged = json.dumps(skipped(app)).lower()
    assert "ada" not in logged and "lovelace" not in logged  # no personal data in the audit log


def test_without_marketing_consent_the_message_promotes_nothing(app, connected, devstore, worker, model):
    model.text = PROMO
    shop_id = connected["woocommerce"]
    order(devstore, worker, "woocommerce")
    [draft] = follow_ups(app, shop_id)
    assert "did not agree to marketing" in model.prompts[-1]
    message = draft.fields["message"].lower()
    assert not any(word in message for word in ("shop now", "offer", "coupon", "next order"))
    assert "machine wash it at 40 °c" in message and draft.checks["accepts_marketing"] is False
    assert any(f.startswith("dropped:") for f in draft.checks["fixes"])

    order(devstore, worker, "woocommerce", customer={**BUYER, "accepts_marketing": True})
    assert "did not agree to marketing" not in model.prompts[-1]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_first_name_only_when_allowed_and_no_other_personal_data(app, connected, devstore, worker, model, platform):
    shop_id = connected[platform]
    order(devstore, worker, platform)
    assert "Ada" not in model.prompts[-1]
    set_shop(app, shop_id, follow_up_first_name=True)
    order(devstore, worker, platform)
    assert "Customer's first name: Ada" in model.prompts[-1]
    first, second = follow_ups(app, shop_id)
    assert "first_name" not in first.input_snapshot["order"] and first.checks["first_name_used"] is False
    assert second.input_snapshot["order"]["first_name"] == "Ada" and second.checks["first_name_used"] is True
    for draft in (first, second):
        stored = json.dumps([draft.input_snapshot, draft.checks]).lower()
        assert "lovelace" not in stored and "ada@example.com" not in stored


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_buyers_language_is_recorded_and_asked_for(app, connected, devstore, worker, model, platform):
    shop_id = connected[platform]
    order(devstore, worker, platform, customer_locale="de-DE")
    [draft] = follow_ups(app, shop_id)
    assert "Write in German (DE)" in model.prompts[-1]
    assert draft.input_snapshot["order"]["language"] == "de-DE" and draft.checks["language"] == "de-DE"
    order(devstore, worker, platform)
    assert "Write in English" in model.prompts[-1]
    assert follow_ups(app, shop_id)[-1].input_snapshot["order"]["language"] == ""


def test_an_unsupported_care_claim_is_never_sent(app, connected, devstore, worker, model):
    model.text = HOSTILE
    shop_id = connected["shopify"]
    order(devstore, worker, "shopify")
    [draft] = follow_ups(app, shop_id)
    message = draft.fields["message"]
    for invented in ("waterproof", "GOTS", "90 °C", "bleach", "Ignore the label"):
        assert invented not in message
    # Too little stood: a thank-you and the care lines copied verbatim from the product's data.
    assert message.startswith("Thank you for your order!")
    assert "Machine wash at 40 °C, hang to dry" in message and "Store it folded in a dry drawer." in message
    assert draft.checks["passed"] and all(c["supported"] for c in draft.checks["claims"])
    assert draft.checks["fixes"][-1].startswith("replaced by a thank-you")


def test_regenerate_supersedes_and_auto_publish_sends(app, connected, devstore, worker, redis_conn, model):
    shop_id = connected["woocommerce"]
    order_id = order(devstore, worker, "woocommerce")
    [first] = follow_ups(app, shop_id)
    jobs.enqueue_regenerate(redis_conn, shop_id, first.id, note="mention the apron's length")
    worker.drain()
    old, new = follow_ups(app, shop_id)
    assert (old.status, new.status) == ("stale", "pending") and new.checks["note"] == "mention the apron's length"
    assert "mention the apron's length" in model.prompts[-1] and new.seed != old.seed

    set_shop(app, shop_id, follow_up_auto_publish=True)
    order_id = order(devstore, worker, "woocommerce")
    draft = follow_ups(app, shop_id)[-1]
    assert draft.status == "published", draft.reason
    assert [n["note"] for n in devstore.order("woocommerce", order_id)["notes"]] == [CLEAN]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_second_follow_up_for_one_order_is_never_sent(app, connected, devstore, worker, redis_conn, model,
                                                        platform):
    """Two approved drafts for one order (say, one made before a regenerate was refused): the buyer gets one."""
    shop_id = connected[platform]
    order_id = order(devstore, worker, platform)
    [first] = follow_ups(app, shop_id)
    publish(app, worker, redis_conn, first.id)
    with app.extensions["copydesk_sessionmaker"]() as db:
        second = Draft(shop_id=shop_id, kind="order_follow_up", product_id=str(order_id), status="pending",
                       fields={"message": CLEAN.replace("Thank you", "Many thanks")}, input_snapshot={},
                       input_hash="second", seed=7, checks={})
        db.add(second)
        db.commit()
        second_id = second.id
    publish(app, worker, redis_conn, second_id)
    statuses = {d.id: (d.status, d.reason) for d in follow_ups(app, shop_id)}
    assert statuses[first.id][0] == "published"
    assert statuses[second_id][0] == "stale" and "already has a follow-up" in statuses[second_id][1]
    assert len(note_writes(devstore, platform)) == 1
    # Nor can an approved or sent follow-up be regenerated into a second message.
    from worker import context
    from worker.follow_up import regenerate

    assert regenerate(context.get(), first.id).startswith("not regenerated")


def test_an_unpaid_order_waits_for_payment(app, connected, devstore, worker, redis_conn, model):
    from rq.registry import ScheduledJobRegistry

    shop_id = connected["woocommerce"]
    order_id = order(devstore, worker, "woocommerce", status="pending")
    [draft] = follow_ups(app, shop_id)
    publish(app, worker, redis_conn, draft.id)
    assert follow_ups(app, shop_id)[0].status == "approved"  # not sent, not failed: retried later
    assert f"publish-{draft.id}" in ScheduledJobRegistry(jobs.PUBLISH, connection=redis_conn).get_job_ids()
    assert not note_writes(devstore, "woocommerce")
    assert devstore.order("woocommerce", order_id)["notes"] == []
