"""Per-shop settings as the worker applies them: which fields publishing writes, skip_existing, the monthly
cap, brand voice and banned words in the prompt; regenerate with a staff note; restore; job meta."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import select

import prompts
from plugin import jobs
from plugin.crypto import Vault
from plugin.db import AuditEntry, Draft, Shop, init_db, make_engine, make_sessionmaker
from plugin.drafts import approve
from plugin.shops import (
    DEFAULT_SETTINGS,
    add_shop,
    drafts_this_month,
    effective_settings,
    month_start,
    parse_setting,
    set_settings,
    validate_settings,
)
from tests.conftest import SECRET_KEY

NEW_PRODUCT = {"title": "Linen Apron", "category": "Kitchen", "tags": ["linen"],
               "attributes": {"Material": "100% linen", "Length": "85 cm"}}
YOAST = ("_yoast_wpseo_title", "_yoast_wpseo_metadesc")


# --- parsing and validation --------------------------------------------------------------------------

def test_new_settings_have_typed_defaults():
    assert DEFAULT_SETTINGS["write_fields"] == ["description_html", "short_description", "seo_title",
                                                "seo_description"]
    assert DEFAULT_SETTINGS["skip_existing"] is False and DEFAULT_SETTINGS["monthly_cap"] == 0
    assert DEFAULT_SETTINGS["banned_words"] == [] and DEFAULT_SETTINGS["voice_examples"] == []


def test_list_settings_take_json_or_one_item_per_line():
    assert parse_setting("write_fields", '["seo_title", "seo_description"]') == ["seo_title", "seo_description"]
    assert parse_setting("write_fields", "seo_title\n\n  description_html \n") == ["seo_title", "description_html"]
    assert parse_setting("banned_words", "cheap\n\nbest ever\n") == ["cheap", "best ever"]
    assert parse_setting("banned_words", '["cheap", "", "Cheap"]') == ["cheap"]  # blanks, repeats dropped
    assert parse_setting("voice_examples", "[New] Our tee is soft.\nSecond.") == ["[New] Our tee is soft.", "Second."]
    assert parse_setting("banned_words", "") == []


@pytest.mark.parametrize("key,raw,message", [
    ("write_fields", '["description_html", "body"]', "write_fields: unknown field(s) 'body'"),
    ("write_fields", "title", "write_fields: unknown field(s) 'title'"),
    ("write_fields", "", "write_fields needs at least one field"),
    ("banned_words", '[1, 2]', "banned_words takes a list"),
    ("banned_words", "\n".join(f"w{i}" for i in range(51)), "banned_words takes at most 50"),
    ("voice_examples", "x" * 4001, "voice_examples: each item is at most 4000"),
    ("monthly_cap", "-1", "monthly_cap cannot be negative"),
    ("monthly_cap", "ten", "monthly_cap takes a whole number"),
    ("skip_existing", "maybe", "skip_existing takes true or false"),
    ("target_words", "19", "target_words must be between 20 and 400"),
    ("target_words", "401", "target_words must be between 20 and 400"),
    ("language", "English", "language takes a short language code"),
    ("language", "e", "language takes a short language code"),
    ("api_version", "../../x", "api_version takes"),
    ("colour", "red", "unknown shop setting 'colour'"),
])
def test_bad_text_is_refused_naming_the_setting(key, raw, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_setting(key, raw)


def test_good_text_is_typed_and_normalised():
    assert parse_setting("monthly_cap", " 25 ") == 25 and parse_setting("monthly_cap", "0") == 0
    assert parse_setting("skip_existing", "on") is True
    assert parse_setting("target_words", "20") == 20 and parse_setting("target_words", "400") == 400
    assert parse_setting("language", "de") == "de" and parse_setting("language", "pt-br") == "pt-BR"
    assert parse_setting("language", "es-419") == "es-419"


def test_validate_settings_takes_typed_values_from_a_form():
    changes = validate_settings({"skip_existing": True, "monthly_cap": 10, "write_fields": ("seo_title",),
                                 "banned_words": ["  cheap  deal "], "voice_examples": "First.\nSecond.",
                                 "language": "en-gb", "requests_per_second": 3, "auto_publish": "off"})
    assert changes == {"skip_existing": True, "monthly_cap": 10, "write_fields": ["seo_title"],
                       "banned_words": ["cheap deal"], "voice_examples": ["First.", "Second."],
                       "language": "en-GB", "requests_per_second": 3.0, "auto_publish": False}


@pytest.mark.parametrize("changes,message", [
    ({"skip_existing": 1}, "skip_existing takes true or false"),
    ({"monthly_cap": True}, "monthly_cap takes a whole number"),
    ({"monthly_cap": -3}, "monthly_cap cannot be negative"),
    ({"target_words": 1000}, "target_words must be between"),
    ({"write_fields": ["seo_title", "alt_text"]}, "write_fields: unknown field"),
    ({"write_fields": "seo_title"}, None),  # text is parsed: fine
    ({"banned_words": {"a": 1}}, "banned_words takes a list"),
    ({"tone": ""}, "tone cannot be empty"),
    ({"seo_meta_keys": {"title": "x"}}, "seo_meta_keys: unknown field"),
    ({"nope": 1}, "unknown shop setting 'nope'"),
])
def test_validate_settings_refuses_bad_values(changes, message):
    if message is None:
        validate_settings(changes)
        return
    with pytest.raises(ValueError, match=message):
        validate_settings(changes)


def test_set_settings_validates_and_stores_nothing_on_bad_input(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    init_db(engine)
    with make_sessionmaker(engine)() as db:
        shop = add_shop(db, Vault(SECRET_KEY), platform="shopify", domain="s.myshopify.com",
                        credentials={"access_token": "t"})
        with pytest.raises(ValueError, match="monthly_cap"):
            set_settings(db, shop, {"skip_existing": True, "monthly_cap": -1})
        db.rollback()
        assert effective_settings(db.get(Shop, shop.id))["skip_existing"] is False
        conf = set_settings(db, shop, {"banned_words": "cheap\nbest", "monthly_cap": "5"})
        assert conf["banned_words"] == ["cheap", "best"] and conf["monthly_cap"] == 5
        with pytest.raises(ValueError, match="language"):
            add_shop(db, Vault(SECRET_KEY), platform="shopify", domain="t.myshopify.com",
                     credentials={"access_token": "t"}, settings={"language": "Deutsch"})
    engine.dispose()


# --- prompt inputs -----------------------------------------------------------------------------------

def test_style_and_note_reach_the_prompt_briefly():
    from tests.model_fixtures import SAMPLE_RECORD
    from worker.pipeline import style_for

    settings = {**DEFAULT_SETTINGS, "language": "de", "banned_words": ["cheap", "best ever"],
                "voice_examples": ["<p>Our <b>linen</b> is woven slowly.</p>", "Second example. " * 60, "Third."]}
    style = style_for(settings, note="Mention the  two-year warranty ==== </product>")
    assert style["voice_examples"][0] == "Our linen is woven slowly." and len(style["voice_examples"]) == 2
    system, user = (m["content"] for m in prompts.render("product_copy", field="description",
                                                         product=SAMPLE_RECORD, style=style))
    assert "German" in system and "Never use these words: cheap, best ever." in system
    assert "Our linen is woven slowly." in user and "Third." not in user
    assert len(user) < 1800  # two examples cut to ~400 characters each
    note_at = user.index("Request from the shop's staff for this text: Mention the two-year warranty")
    assert user.index("Product data:") < user.index("Details:") < note_at < user.index("Write a product description")
    assert "====" not in user and "</product>" not in user
    seo_user = prompts.render("product_copy", field="seo_title", product=SAMPLE_RECORD, style=style)[1]["content"]
    assert "Our linen" not in seo_user and "two-year warranty" in seo_user


# --- end to end through the worker ---------------------------------------------------------------------

def drafts(app, **where) -> list[Draft]:
    with app.extensions["copydesk_sessionmaker"]() as db:
        query = select(Draft).order_by(Draft.id)
        for key, value in where.items():
            query = query.where(getattr(Draft, key) == value)
        return list(db.scalars(query))


def audits(app, action: str) -> list[AuditEntry]:
    with app.extensions["copydesk_sessionmaker"]() as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def set_shop(app, shop_id: int, **changes) -> None:
    with app.extensions["copydesk_sessionmaker"]() as db:
        set_settings(db, db.get(Shop, shop_id), changes)


def generate(app, redis_conn, worker, shop_id: int, product_id, **kwargs) -> Draft:
    jobs.enqueue_generate(redis_conn, shop_id, str(product_id), trigger="test", **kwargs)
    worker.drain()
    return drafts(app, product_id=str(product_id))[-1]


def publish(app, redis_conn, worker, draft: Draft) -> Draft:
    with app.extensions["copydesk_sessionmaker"]() as db:
        approve(db, db.get(Draft, draft.id), actor="staff@example.com")
    jobs.enqueue_publish(redis_conn, draft.id, actor="staff@example.com", shop_id=draft.shop_id)
    worker.drain()
    [after] = drafts(app, id=draft.id)
    return after


def meta_values(product: dict) -> dict:
    return {m["key"]: m["value"] for m in product["meta_data"]}


def test_write_fields_limits_what_reaches_the_store(app, connected, devstore, worker, redis_conn):
    shop_id = connected["woocommerce"]
    set_shop(app, shop_id, write_fields=["seo_title", "seo_description"])
    product_id = devstore.create_product("woocommerce", fire=False, **NEW_PRODUCT)
    draft = publish(app, redis_conn, worker, generate(app, redis_conn, worker, shop_id, product_id))
    assert draft.status == "published", draft.reason
    [write] = devstore.writes("woocommerce")
    assert set(write["body"]) == {"meta_data"}
    stored = devstore.product("woocommerce", product_id)
    assert stored["description_html"] == "" and stored["short_description"] == ""
    assert meta_values(stored) == {YOAST[0]: draft.fields["seo_title"], YOAST[1]: draft.fields["seo_description"]}
    assert audits(app, "draft.published")[-1].detail["fields"] == ["seo_title", "seo_description"]


def test_skip_existing_keeps_copy_the_store_already_has(app, connected, devstore, worker, redis_conn):
    shop_id = connected["woocommerce"]
    set_shop(app, shop_id, skip_existing=True)
    product_id = devstore.create_product("woocommerce", fire=False, description="<p>Our own words.</p>",
                                         **NEW_PRODUCT)
    draft = publish(app, redis_conn, worker, generate(app, redis_conn, worker, shop_id, product_id))
    assert draft.status == "published", draft.reason
    stored = devstore.product("woocommerce", product_id)
    assert stored["description_html"] == "<p>Our own words.</p>"
    assert meta_values(stored)[YOAST[0]] == draft.fields["seo_title"]
    detail = audits(app, "draft.published")[-1].detail
    assert detail["fields"] == ["short_description", "seo_title", "seo_description"]
    assert detail["skipped"] == ["description_html"]
    # Every field filled by hand: nothing is written, and the draft says why.
    other = devstore.create_product(
        "woocommerce", fire=False, description="<p>Written by hand.</p>",
        short_description="<p>A short one by hand.</p>",
        meta_data=[{"key": YOAST[0], "value": "By hand"}, {"key": YOAST[1], "value": "Meta by hand."}],
        **NEW_PRODUCT)
    writes = len(devstore.writes())
    skipped = publish(app, redis_conn, worker, generate(app, redis_conn, worker, shop_id, other))
    assert skipped.status == "failed" and "skip_existing" in skipped.reason
    assert len(devstore.writes()) == writes


def test_monthly_cap_stops_generation_with_an_audit_entry(app, connected, devstore, worker, redis_conn):
    shop_id = connected["shopify"]
    set_shop(app, shop_id, monthly_cap=1)
    first = devstore.create_product("shopify", fire=False, **NEW_PRODUCT)
    second = devstore.create_product("shopify", fire=False, **{**NEW_PRODUCT, "title": "Linen Napkin"})
    with app.extensions["copydesk_sessionmaker"]() as db:  # neither last month's draft nor a restore counts
        for seed, created in ((0, month_start() - timedelta(seconds=1)), (-1, month_start())):
            db.add(Draft(shop_id=shop_id, product_id="1", input_hash=f"h{seed}", seed=seed, created_at=created))
        db.commit()
        assert drafts_this_month(db, shop_id) == 0
    generate(app, redis_conn, worker, shop_id, first)
    job = jobs.enqueue_generate(redis_conn, shop_id, str(second), trigger="test")
    worker.drain()
    assert drafts(app, product_id=str(second)) == []
    assert "monthly cap of 1" in Job.fetch(job.id, connection=redis_conn).return_value()
    assert FailedJobRegistry(jobs.GENERATE, connection=redis_conn).get_job_ids() == []
    [entry] = audits(app, "generate.capped")
    assert entry.shop_id == shop_id and entry.detail["product_id"] == str(second) and entry.detail["cap"] == 1
    set_shop(app, shop_id, monthly_cap=0)  # 0: no cap
    assert generate(app, redis_conn, worker, shop_id, second).product_id == str(second)


def test_regenerate_with_a_note_makes_a_second_draft(app, connected, devstore, worker, redis_conn):
    shop_id = connected["woocommerce"]
    product_id = devstore.create_product("woocommerce", fire=False, **NEW_PRODUCT)
    first = generate(app, redis_conn, worker, shop_id, product_id)
    again = generate(app, redis_conn, worker, shop_id, product_id)  # same input, same seed: the same draft
    assert again.id == first.id
    second = generate(app, redis_conn, worker, shop_id, product_id, note="Mention the warranty.")
    assert second.id != first.id and second.seed != first.seed and second.seed > 0
    assert second.checks["note"] == "Mention the warranty." and second.status == "pending"
    assert drafts(app, id=first.id)[0].status == "stale"  # superseded by the regenerated draft
    created = [e for e in audits(app, "draft.created") if e.draft_id == second.id]
    assert created[0].detail["note"] == "Mention the warranty."
    with pytest.raises(ValueError, match="note"):
        jobs.enqueue_generate(redis_conn, shop_id, str(product_id), trigger="t", note="x" * 301)
    with pytest.raises(ValueError, match="seed"):
        jobs.enqueue_generate(redis_conn, shop_id, str(product_id), trigger="t", seed=-1)


def test_restore_previous_puts_the_original_back(app, connected, devstore, worker, redis_conn):
    shop_id = connected["shopify"]
    seeded = next(p for p in devstore.products() if p["platform"] == "shopify" and p["description_html"]
                  and p["seo_title"])
    draft = publish(app, redis_conn, worker, generate(app, redis_conn, worker, shop_id, seeded["id"]))
    assert draft.status == "published", draft.reason
    assert devstore.product("shopify", seeded["id"])["description_html"] == draft.fields["description_html"]
    jobs.enqueue_restore(redis_conn, shop_id, draft.id, "previous", "staff@example.com")
    worker.drain()
    stored = devstore.product("shopify", seeded["id"])
    assert (stored["description_html"], stored["seo_title"], stored["seo_description"]) == (
        seeded["description_html"], seeded["seo_title"], seeded["seo_description"])
    restored = drafts(app, product_id=str(seeded["id"]))[-1]
    assert restored.status == "published" and restored.seed < 0
    assert restored.checks["restore_of"] == draft.id and restored.checks["version"] == "previous"
    assert restored.previous["description_html"] == draft.fields["description_html"]
    approved = [e for e in audits(app, "draft.approved") if e.draft_id == restored.id]
    assert approved[0].detail["restore_of"] == draft.id and approved[0].detail["version"] == "previous"
    assert approved[0].actor == "staff@example.com"
    # ...and the proposed copy can go back on again.
    jobs.enqueue_restore(redis_conn, shop_id, draft.id, "proposed", "staff@example.com")
    worker.drain()
    assert devstore.product("shopify", seeded["id"])["description_html"] == draft.fields["description_html"]
    assert drafts(app, product_id=str(seeded["id"]))[-1].seed == restored.seed - 1


@pytest.mark.parametrize("platform", ["shopify", "woocommerce"])
def test_restore_previous_clears_fields_that_were_empty(app, connected, devstore, worker, redis_conn, platform):
    shop_id = connected[platform]
    product_id = devstore.create_product(platform, fire=False, **NEW_PRODUCT)
    draft = publish(app, redis_conn, worker, generate(app, redis_conn, worker, shop_id, product_id))
    assert draft.status == "published", draft.reason
    assert devstore.product(platform, product_id)["description_html"]
    jobs.enqueue_restore(redis_conn, shop_id, draft.id, "previous", "staff@example.com")
    worker.drain()
    stored = devstore.product(platform, product_id)
    assert stored["description_html"] == ""
    if platform == "woocommerce":
        assert stored["short_description"] == "" and meta_values(stored) == {YOAST[0]: "", YOAST[1]: ""}
    else:
        assert stored["seo_title"] == "" and stored["seo_description"] == ""
    restored = drafts(app, product_id=str(product_id))[-1]
    assert restored.status == "published" and restored.checks["clear"] == list(draft.fields)
    assert FailedJobRegistry(jobs.PUBLISH, connection=redis_conn).get_job_ids() == []


def test_restore_job_run_twice_makes_one_draft_and_refuses_another_shops_draft(app, connected, devstore, worker,
                                                                                redis_conn):
    from worker import context
    from worker.restore import restore

    shop_id = connected["woocommerce"]
    product_id = devstore.create_product("woocommerce", fire=False, **NEW_PRODUCT)
    draft = publish(app, redis_conn, worker, generate(app, redis_conn, worker, shop_id, product_id))
    first = restore(context.get(), shop_id, draft.id, "previous", actor="staff", request="r1")
    assert restore(context.get(), shop_id, draft.id, "previous", actor="staff", request="r1") == first
    assert len([d for d in drafts(app, product_id=str(product_id)) if d.seed < 0]) == 1
    with pytest.raises(LookupError):
        restore(context.get(), connected["shopify"], draft.id, "previous", actor="staff", request="r2")
    with pytest.raises(ValueError, match="version"):
        jobs.enqueue_restore(redis_conn, shop_id, draft.id, "original", "staff")


def test_every_shop_job_carries_its_shop_id(redis_conn):
    made = [
        jobs.enqueue_generate(redis_conn, 7, "11", trigger="t"),
        jobs.enqueue_generate(redis_conn, 7, "11", trigger="t", note="shorter"),
        jobs.enqueue_product_updated(redis_conn, 7, "11", delivery="d"),
        jobs.enqueue_order_created(redis_conn, 7, "12", delivery="d"),
        jobs.enqueue_backfill_page(redis_conn, 7, "run", 0),
        jobs.enqueue_publish(redis_conn, 3, actor="staff", shop_id=7),
        jobs.enqueue_restore(redis_conn, 7, 3, "previous", "staff"),
    ]
    for job in made:
        assert Job.fetch(job.id, connection=redis_conn).meta["shop_id"] == 7, job.func_name
    assert made[1].kwargs["note"] == "shorter" and made[1].kwargs["seed"] > 0
    with redis_conn.pipeline() as pipe:
        queued = jobs.enqueue_generate(redis_conn, 8, "13", trigger="t", pipeline=pipe)
        pipe.execute()
    assert Job.fetch(queued.id, connection=redis_conn).meta == {"shop_id": 8}
    assert Queue(jobs.PUBLISH, connection=redis_conn).count == 2
