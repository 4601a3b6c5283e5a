"""End to end: the emulator's signed webhook → the web app over HTTP → real Redis → the real RQ worker
path with the tiny model → a draft → publish → the emulator receives the copy."""

from __future__ import annotations

import pytest
from rq import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import select

from plugin import jobs
from plugin.crypto import Vault
from plugin.db import AuditEntry, Draft, Shop
from plugin.drafts import approve
from plugin.shops import set_settings

PLATFORMS = ("shopify", "woocommerce")
CREATED = {"shopify": "products/create", "woocommerce": "product.created"}
NEW_PRODUCT = {"title": "Linen Apron", "category": "Kitchen", "tags": ["linen"],
               "attributes": {"Material": "100% linen", "Length": "85 cm"}}


def drafts(app, **where) -> list[Draft]:
    with app.extensions["copydesk_sessionmaker"]() as db:
        query = select(Draft).order_by(Draft.id)
        for key, value in where.items():
            query = query.where(getattr(Draft, key) == value)
        return list(db.scalars(query))


def set_shop(app, shop_id: int, **changes) -> None:
    with app.extensions["copydesk_sessionmaker"]() as db:
        set_settings(db, db.get(Shop, shop_id), changes)


def deliver(devstore) -> list[dict]:
    assert devstore.flush(timeout=15), "the emulator did not finish sending its webhooks"
    return devstore.deliveries()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_product_created_becomes_a_published_draft(app, connected, devstore, worker, redis_conn, platform):
    set_shop(app, connected[platform], auto_publish=True)
    product_id = devstore.create_product(platform, **NEW_PRODUCT)
    assert [d["status"] for d in deliver(devstore)] == [200]
    worker.drain()
    [draft] = drafts(app, shop_id=connected[platform])
    assert draft.status == "published", draft.reason
    assert draft.product_id == str(product_id)
    assert draft.prompt_version and draft.model_id and draft.input_hash
    assert draft.input_snapshot["title"] == "Linen Apron"
    fields = draft.fields
    assert fields["description_html"] and len(fields["seo_title"]) <= 70 and len(fields["seo_description"]) <= 160
    stored = devstore.product(platform, product_id)
    assert stored["description_html"] == fields["description_html"]
    # Our own write fires the store's update webhook; it is recognised and nothing new is queued.
    statuses = [d["status"] for d in deliver(devstore)]
    assert statuses == [200, 200]
    assert all(Queue(q, connection=redis_conn).count == 0 for q in jobs.QUEUES)
    assert len(drafts(app)) == 1


def test_approval_publishes_and_keeps_the_previous_copy(app, connected, devstore, worker, redis_conn):
    seeded = next(p for p in devstore.products() if p["platform"] == "shopify" and p["description_html"])
    devstore.fire("shopify", "products/create", seeded["id"])
    deliver(devstore)
    worker.drain()
    [draft] = drafts(app)
    assert draft.status == "pending"
    assert not [w for w in devstore.writes() if w["platform"] == "shopify"]
    with app.extensions["copydesk_sessionmaker"]() as db:
        approve(db, db.get(Draft, draft.id), actor="staff@example.com")
    jobs.enqueue_publish(redis_conn, draft.id, actor="staff@example.com")
    worker.drain()
    [draft] = drafts(app)
    assert draft.status == "published"
    assert draft.previous["description_html"] == seeded["description_html"]
    with app.extensions["copydesk_sessionmaker"]() as db:
        actions = [e.action for e in db.scalars(select(AuditEntry).where(AuditEntry.draft_id == draft.id))]
    assert actions == ["draft.created", "draft.approved", "draft.published"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_duplicate_deliveries_make_one_draft(app, connected, devstore, worker, platform):
    product_id = devstore.create_product(platform, **NEW_PRODUCT)
    deliver(devstore)
    devstore.fire(platform, CREATED[platform], product_id, redeliver=True)
    statuses = [d["status"] for d in deliver(devstore)]
    assert statuses == [200, 200]
    worker.drain()
    assert len(drafts(app, product_id=str(product_id))) == 1


def test_a_job_run_twice_makes_one_draft(app, connected, devstore, worker, redis_conn):
    product_id = str(devstore.create_product("woocommerce", fire=False, **NEW_PRODUCT))
    for delivery in ("first", "second"):
        jobs.enqueue_generate(redis_conn, connected["woocommerce"], product_id, trigger="t", delivery=delivery)
    worker.drain()
    assert len(drafts(app, product_id=product_id)) == 1


def test_staff_edit_after_the_draft_makes_it_stale_and_nothing_is_overwritten(app, connected, devstore, worker,
                                                                             redis_conn):
    product_id = devstore.create_product("woocommerce", **NEW_PRODUCT)
    deliver(devstore)
    worker.drain()
    [draft] = drafts(app)
    with app.extensions["copydesk_sessionmaker"]() as db:
        approve(db, db.get(Draft, draft.id), actor="staff")
    # A person edits the product in the store before the publish job runs; its webhook is lost.
    devstore.edit_product("woocommerce", product_id, fire=False, description="<p>Written by hand.</p>")
    jobs.enqueue_publish(redis_conn, draft.id, actor="staff")
    worker.drain()
    [draft] = drafts(app)
    assert draft.status == "stale"
    assert "description_html" in draft.reason
    assert devstore.product("woocommerce", product_id)["description_html"] == "<p>Written by hand.</p>"
    assert not devstore.writes()


def test_update_webhook_marks_pending_draft_stale(app, connected, devstore, worker):
    product_id = devstore.create_product("shopify", **NEW_PRODUCT)
    deliver(devstore)
    worker.drain()
    devstore.edit_product("shopify", product_id, title="Linen Apron, Natural")
    assert [d["status"] for d in deliver(devstore)] == [200, 200]
    worker.drain()
    [draft] = drafts(app)
    assert draft.status == "stale" and "title" in draft.reason


def test_store_errors_retry_then_fail_with_the_reason(app, connected, devstore, worker, redis_conn):
    product_id = str(devstore.create_product("shopify", fire=False, **NEW_PRODUCT))
    devstore.fault("shopify", status=503, count=50)
    job = jobs.enqueue_generate(redis_conn, connected["shopify"], product_id, trigger="t")
    worker.drain()
    assert job.id in ScheduledJobRegistry(jobs.GENERATE, connection=redis_conn).get_job_ids()
    devstore.clear_faults()
    # Wrong credentials are not transient: straight to the failed registry, with the reason.
    with app.extensions["copydesk_sessionmaker"]() as db:
        shop = db.get(Shop, connected["woocommerce"])
        shop.credentials = Vault(app.config["COPYDESK"].secret_key).seal(
            {"consumer_key": "ck_test", "consumer_secret": "revoked", "webhook_secret": "x"})
        db.commit()
    failing = jobs.enqueue_generate(redis_conn, connected["woocommerce"], product_id, trigger="t")
    worker.drain()
    registry = FailedJobRegistry(jobs.GENERATE, connection=redis_conn)
    assert failing.id in registry.get_job_ids()
    failing.refresh()
    assert "StoreAuthError" in (failing.latest_result().exc_string or "")


def test_order_created_gets_a_follow_up_draft(app, connected, devstore, worker):
    product_id = next(p["id"] for p in devstore.products() if p["platform"] == "woocommerce")
    order_id = devstore.create_order("woocommerce", line_items=[{"product_id": product_id, "quantity": 1}])
    assert [d["status"] for d in deliver(devstore)] == [200]
    worker.drain()
    with app.extensions["copydesk_sessionmaker"]() as db:
        [draft] = db.scalars(select(Draft).where(Draft.kind == "order_follow_up")).all()
        entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "draft.created",
                                                   AuditEntry.draft_id == draft.id))
    assert draft.product_id == str(order_id) and draft.status == "pending" and draft.fields["message"]
    assert entry is not None


def test_a_refused_write_fails_the_draft_and_the_job_with_the_reason(app, connected, devstore, worker, redis_conn):
    product_id = devstore.create_product("woocommerce", fire=False, **NEW_PRODUCT)
    set_shop(app, connected["woocommerce"], auto_publish=True)
    jobs.enqueue_generate(redis_conn, connected["woocommerce"], str(product_id), trigger="t")
    devstore.fault("woocommerce", status=400, count=1, skip=2)  # the draft's read and publish's re-read pass
    worker.drain()
    [draft] = drafts(app)
    assert draft.status == "failed"
    assert "400" in draft.reason
    failed = FailedJobRegistry(jobs.PUBLISH, connection=redis_conn).get_job_ids()
    assert failed == [f"publish-{draft.id}"]
    assert not devstore.writes()


def test_auto_publish_leaves_existing_copy_for_a_person(app, connected, devstore, worker):
    set_shop(app, connected["woocommerce"], auto_publish=True)
    product_id = devstore.create_product("woocommerce", description="<p>Our own words.</p>", **NEW_PRODUCT)
    deliver(devstore)
    worker.drain()
    [draft] = drafts(app)
    assert draft.status == "pending" and "already has a description" in draft.reason
    assert devstore.product("woocommerce", product_id)["description_html"] == "<p>Our own words.</p>"
    assert not devstore.writes()


def test_two_publish_jobs_for_one_draft_write_once(app, connected, devstore, worker, redis_conn):
    product_id = devstore.create_product("shopify", **NEW_PRODUCT)
    deliver(devstore)
    worker.drain()
    [draft] = drafts(app)
    with app.extensions["copydesk_sessionmaker"]() as db:
        approve(db, db.get(Draft, draft.id), actor="staff")
    jobs.enqueue_publish(redis_conn, draft.id, actor="staff")
    jobs.enqueue_publish(redis_conn, draft.id, actor="staff")  # a double click, a retried request
    worker.drain()
    assert [w["resource_id"] for w in devstore.writes()] in ([product_id], [str(product_id)])
    assert drafts(app)[0].status == "published"


@pytest.mark.model
def test_real_model_writes_the_draft_end_to_end(app, connected, devstore, worker, real_generator):
    from worker import context

    context.get().use_generator(real_generator)
    devstore.create_product("woocommerce", **NEW_PRODUCT)
    deliver(devstore)
    worker.drain()
    [draft] = drafts(app)
    assert draft.model_id == "smollm2" and draft.model_revision
    fields = draft.fields
    assert all(fields[k] for k in ("description_html", "short_description", "seo_title", "seo_description"))
    assert len(fields["seo_title"]) <= 70 and len(fields["seo_description"]) <= 160
    assert fields["description_html"].startswith("<")
    assert "<script" not in fields["description_html"]
