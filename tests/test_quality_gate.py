"""The quality gate through the real worker path (store emulator → webhook → RQ worker → checks → draft)
and the panel: flagged drafts are never auto-published, the worker fixes what it can (retries steered
away from what failed, sentences dropped), a person publishes flagged claims only by accepting each one
(audited), bulk approve leaves them, and the original description's media reach the store in order.

The model is a scripted stand-in (its answers per field, in turn), so each test knows what was written."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from plugin.db import Draft
from plugin.drafts import claim_key
from tests.panel_helpers import (
    EMAIL_A,
    audit_entries,
    csrf,
    logged_in,
    make_staff,
    no_jobs,
    post_form,
)
from tests.test_pipeline import deliver, set_shop

CUES = {"description": "product description", "short_description": "sum up", "seo_title": "page title",
        "seo_description": "meta description"}
APRON = {"title": "Linen Apron", "category": "Kitchen", "tags": ["linen"],
         "attributes": {"Material": "100% linen", "Length": "85 cm"}}
CLEAN = {
    "description": "The Linen Apron is made of 100% linen and is 85 cm long.\n\nIt covers you from chest to knee "
                   "while you cook, bake or wash up, and goes in the wash with the kitchen towels.",
    "short_description": "A kitchen apron of 100% linen, 85 cm long.",
    "seo_title": "Linen Apron | Kitchen",
    "seo_description": "The Linen Apron: 100% linen, 85 cm long, for cooking and baking at home.",
}
CLAIMED = ("This Linen Apron is GOTS certified, fully waterproof and measures 60 x 90 cm for every kitchen "
           "task you take on.")
ACTOR = f"staff:{EMAIL_A}"


class Scripted:
    """A stand-in model: each field's answers in turn (the last one repeats); records every prompt."""

    model_id = "scripted"
    revision = "r1"

    def __init__(self, **answers):
        self.answers = {k: answers.get(k, CLEAN[k]) for k in CUES}
        self.answers = {k: v if isinstance(v, list) else [v] for k, v in self.answers.items()}
        self.asked = {k: 0 for k in CUES}
        self.calls: list[list[list[dict]]] = []

    def generate(self, conversations, *, max_new_tokens, seed, temperature=0.5, top_p=0.9):
        self.calls.append(conversations)
        out = []
        for conversation in conversations:
            line = conversation[-1]["content"].rsplit("\n", 2)[-2]
            field = next(k for k, cue in CUES.items() if cue in line)
            answers = self.answers[field]
            out.append(answers[min(self.asked[field], len(answers) - 1)])
            self.asked[field] += 1
        return out


def use(generator) -> None:
    from worker import context

    context.get().use_generator(generator)


def the_draft(app, shop_id: int, product_id) -> Draft:
    with app.extensions["copydesk_sessionmaker"]() as db:
        return db.scalar(select(Draft).where(Draft.shop_id == shop_id, Draft.product_id == str(product_id))
                         .order_by(Draft.id.desc()))


def generate(app, devstore, worker, shop_id: int, platform: str = "woocommerce", **product) -> tuple[int, Draft]:
    product_id = devstore.create_product(platform, **(product or APRON))
    deliver(devstore)
    worker.drain()
    return product_id, the_draft(app, shop_id, product_id)


def test_an_unsupported_claim_is_flagged_not_auto_published_and_published_once_accepted(
        app, connected, devstore, worker, redis_conn):
    shop_id = connected["woocommerce"]
    set_shop(app, shop_id, auto_publish=True)
    model = Scripted(description=CLAIMED)
    use(model)
    product_id, draft = generate(app, devstore, worker, shop_id)
    assert draft.status == "pending" and "not published automatically" in draft.reason
    assert not devstore.writes()
    checks = draft.checks
    assert checks["passed"] is False and checks["first_try_passed"] is False and "fixes" not in checks
    assert [t["fields"] for t in checks["tries"]] == [["description_html", "short_description", "seo_title",
                                                      "seo_description"], ["description_html"], ["description_html"]]
    flagged = [c for c in checks["claims"] if not c["supported"]]
    assert {c["text"] for c in flagged} == {"GOTS certified", "waterproof", "60 x 90 cm"}
    assert any("GOTS certified" in flag for flag in checks["flags"])
    assert checks["seconds"] >= 0 and set(checks["results"]) == {"grounding", "html", "language", "sameness", "rules"}
    # Each retry asked for the description alone, with the unsupported terms banned in its prompt.
    assert [len(call) for call in model.calls] == [4, 1, 1]
    assert "GOTS certified" in model.calls[1][0][0]["content"] and "waterproof" in model.calls[2][0][0]["content"]
    assert model.calls[1][0][0]["content"] != model.calls[0][0][0]["content"]

    make_staff(app, shop_id, EMAIL_A)
    client = logged_in(app)
    url = f"/panel/drafts/{draft.id}"
    page = client.get(url).get_data(as_text=True)
    assert page.count('name="accept"') == 3 and "not in the product data" in page
    refused = post_form(client, url, action="approve")
    assert refused.status_code == 400
    assert "3 claim(s) not in the product data" in refused.get_data(as_text=True)
    keys = [claim_key(c) for c in flagged]
    assert post_form(client, url, action="approve", accept=keys[:2]).status_code == 400  # every one, not some
    assert the_draft(app, shop_id, product_id).status == "pending" and no_jobs(redis_conn)
    assert audit_entries(app, action="draft.claims_accepted") == []

    accepted = client.post(url, data={"action": "approve", "accept": keys, "csrf_token": csrf(client)})
    assert accepted.status_code == 302
    worker.drain()
    draft = the_draft(app, shop_id, product_id)
    assert draft.status == "published", draft.reason
    assert "GOTS certified" in devstore.product("woocommerce", product_id)["description_html"]
    [entry] = audit_entries(app, action="draft.claims_accepted")
    assert entry.actor == ACTOR and entry.draft_id == draft.id
    assert {c["text"] for c in entry.detail["claims"]} == {"GOTS certified", "waterproof", "60 x 90 cm"}
    assert sorted(draft.checks["accepted"]) == sorted(keys)


def test_a_retry_that_fixes_the_claim_is_auto_published(app, connected, devstore, worker):
    shop_id = connected["woocommerce"]
    set_shop(app, shop_id, auto_publish=True)
    model = Scripted(description=[CLAIMED, CLEAN["description"]])
    use(model)
    product_id, draft = generate(app, devstore, worker, shop_id)
    assert draft.status == "published", draft.reason
    checks = draft.checks
    assert checks["passed"] is True and checks["first_try_passed"] is False and checks["flags"] == []
    assert len(checks["tries"]) == 2 and checks["tries"][1]["steer"]["banned"][:1] == ["GOTS certified"]
    assert checks["tries"][1]["seed"] == checks["tries"][0]["seed"] + 1
    stored = devstore.product("woocommerce", product_id)
    assert "waterproof" not in stored["description_html"] and "chest to knee" in stored["description_html"]
    assert draft.fields["short_description"] == CLEAN["short_description"]  # not written again: kept
    assert draft.fields["seo_title"] == CLEAN["seo_title"]


def test_the_worker_drops_an_unsupported_sentence_when_the_rest_stands(app, connected, devstore, worker):
    shop_id = connected["woocommerce"]
    set_shop(app, shop_id, auto_publish=True)
    use(Scripted(description=f"{CLEAN['description']} It is fully waterproof, too."))
    product_id, draft = generate(app, devstore, worker, shop_id)
    assert draft.status == "published", draft.reason
    assert draft.checks["fixes"] == ["dropped from description_html: “It is fully waterproof, too.”"]
    assert len(draft.checks["tries"]) == 3 and draft.checks["passed"] is True
    stored = devstore.product("woocommerce", product_id)["description_html"]
    assert "waterproof" not in stored and "chest to knee" in stored


def test_a_draft_in_the_wrong_language_is_retried_in_the_shops_language_then_flagged(
        app, connected, devstore, worker):
    shop_id = connected["shopify"]
    set_shop(app, shop_id, auto_publish=True, language="de")
    model = Scripted()  # writes English, whatever it is asked
    use(model)
    _, draft = generate(app, devstore, worker, shop_id, platform="shopify")
    assert draft.status == "pending"
    assert "language" in draft.checks["results"] and draft.checks["results"]["language"]["passed"] is False
    assert any("written in en" in flag for flag in draft.checks["flags"])
    retry_prompt = model.calls[1][0][1]["content"]
    assert "Write only in German" in retry_prompt


def test_a_near_duplicate_is_retried_from_another_angle_then_flagged_with_the_product_it_resembles(
        app, connected, devstore, worker):
    shop_id = connected["woocommerce"]
    template = ("Made of soft 100% linen, this piece brings a calm, natural look to every kitchen and dining table. "
                "It washes well, gets softer with every wash and is made to be used every single day of the year.")
    model = Scripted(description=template)
    use(model)
    first_id, first = generate(app, devstore, worker, shop_id, title="Linen Apron", category="Kitchen",
                               attributes={"Material": "100% linen"})
    assert first.checks["passed"] is True, first.checks["flags"]
    _, second = generate(app, devstore, worker, shop_id, title="Linen Napkin", category="Kitchen",
                         attributes={"Material": "100% linen"})
    sameness = second.checks["results"]["sameness"]
    assert sameness["passed"] is False
    assert sameness["resembles"] == {"product_id": str(first_id), "title": "Linen Apron"}
    assert any("Linen Apron" in flag for flag in second.checks["flags"])
    assert "Take a fresh angle" in model.calls[-1][0][1]["content"]


@pytest.mark.parametrize("position", ["first", "last"])
def test_media_of_the_original_description_reach_the_store_in_order(app, connected, devstore, worker, position):
    shop_id = connected["woocommerce"]
    set_shop(app, shop_id, media_position=position)
    use(Scripted())
    original = ('<p>Old words.</p><p><img src="https://cdn.example/front.jpg" alt="Front"></p>'
                '<table><tr><th>Length</th><td>85 cm</td></tr></table>'
                '<p><img src="https://cdn.example/back.jpg" alt="Back"></p>')
    product_id, draft = generate(app, devstore, worker, shop_id, description=original, **APRON)
    assert draft.status == "pending" and draft.checks["passed"] is True, draft.checks.get("flags")
    make_staff(app, shop_id, EMAIL_A)
    client = logged_in(app)
    assert post_form(client, f"/panel/drafts/{draft.id}", action="approve").status_code == 302
    worker.drain()
    assert the_draft(app, shop_id, product_id).status == "published"
    stored = devstore.product("woocommerce", product_id)["description_html"]
    spots = [stored.index(s) for s in ("front.jpg", "<table>", "back.jpg")]
    assert spots == sorted(spots) and "Old words" not in stored
    text = stored.index("The Linen Apron")
    assert text > spots[-1] if position == "first" else text < spots[0]


def test_bulk_approve_leaves_drafts_with_flagged_claims_for_a_person(app, connected, devstore, worker, redis_conn):
    shop_id = connected["woocommerce"]
    use(Scripted(description=CLAIMED))
    _, flagged = generate(app, devstore, worker, shop_id)
    use(Scripted())
    _, clean = generate(app, devstore, worker, shop_id, title="Linen Apron Two", category="Kitchen",
                        attributes={"Material": "100% linen", "Length": "85 cm"})
    make_staff(app, shop_id, EMAIL_A)
    client = logged_in(app)
    response = client.post("/panel/bulk", data={"action": "approve", "ids": [flagged.id, clean.id],
                                                "csrf_token": csrf(client)})
    assert response.status_code == 302
    progress = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "1 not approved: they make claims that are not in the product data" in progress
    assert the_draft(app, shop_id, flagged.product_id).status == "pending"
    assert the_draft(app, shop_id, clean.product_id).status == "approved"
