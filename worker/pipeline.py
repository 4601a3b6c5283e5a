"""The generate pipeline: fetch the product, write copy with the model, store a draft.

The database is not held open while the model runs: the shop is read first, the draft written after.
A retried or duplicated job cannot make a second draft for the same product input and seed (the
`uq_draft_input` constraint), and a product's older pending drafts are superseded by a newer one.
Every draft is checked before it is stored (`worker.quality`: grounding, HTML, language, sameness, rules),
the worker's own fixes tried first; a draft that still fails a check is never auto-published.
A shop's `monthly_cap` counts the drafts generated in the current calendar month (UTC); restore drafts
(negative seeds, `worker.restore`) are not generated and do not count.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from plugin import jobs, ratelimit
from plugin.db import Draft, ProductState, Shop, utcnow
from plugin.drafts import audit, supersede_pending, transition
from plugin.errors import ProductNotFound
from plugin.install import shopify_tokens
from plugin.platforms import adapter_for
from plugin.platforms.base import CopyFields, Product, html_to_text
from plugin.shops import drafts_this_month, effective_settings, month_start
from worker.context import Context

log = logging.getLogger(__name__)
ACTOR = "worker"


def load_shop(ctx: Context, shop_id: int) -> tuple[Shop, dict] | None:
    """The shop (detached) and its effective settings, or None when it is gone or uninstalled."""
    with ctx.sessions() as db:
        shop = db.get(Shop, shop_id)
        if shop is None or shop.uninstalled_at is not None:
            return None
        db.expunge(shop)
    return shop, effective_settings(shop)


def adapter(ctx: Context, shop: Shop):
    """The shop's adapter, paced by a rate-limit bucket in Redis that every worker shares."""
    if shop.platform == "shopify":
        bucket = ratelimit.for_shopify(ctx.redis, shop.domain)
        # Expiring tokens: refreshed before they run out, and on a 401 (plugin.install.shopify_tokens).
        args = (ctx.sessions, ctx.vault, ctx.redis, ctx.http, ctx.settings)
        creds = shopify_tokens.usable_credentials(*args, shop, timeout=ctx.settings.http_timeout)
        shop_adapter = adapter_for(shop, creds, ctx.http, ctx.settings.http_timeout, bucket)
        shop_adapter.on_unauthorized = shopify_tokens.refresher(*args, shop.id, timeout=ctx.settings.http_timeout)
        return shop_adapter
    else:
        conf = effective_settings(shop)
        bucket = ratelimit.for_woocommerce(ctx.redis, shop.domain, float(conf["requests_per_second"]),
                                           float(conf["burst"]))
    return adapter_for(shop, ctx.vault.open(shop.credentials), ctx.http, ctx.settings.http_timeout, bucket)


LANGUAGES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "nl": "Dutch",
             "pt": "Portuguese", "sv": "Swedish", "da": "Danish", "pl": "Polish", "ja": "Japanese"}
VOICE_EXAMPLES, VOICE_CHARS, BANNED_IN_PROMPT = 2, 400, 30
"""At most 2 voice examples of ~400 characters, and 30 banned words, reach the prompt: the default
model is a 135M one with a short context."""


def style_for(settings: dict, note: str = "") -> dict:
    """Prompt inputs from shop settings, and a staff note; a language code is named for the model
    (`de` → German, `pt-BR` → Portuguese (BR)); voice examples go in as plain text."""
    code = str(settings["language"])
    base, _, region = code.partition("-")
    language = LANGUAGES.get(base.lower(), code) + (f" ({region})" if region and base.lower() in LANGUAGES else "")
    examples = [html_to_text(str(text))[:VOICE_CHARS + 100] for text in settings.get("voice_examples") or []]
    return {"tone": settings["tone"], "language": language, "target_words": settings["target_words"],
            "banned_words": [str(w) for w in settings.get("banned_words") or []][:BANNED_IN_PROMPT],
            "voice_examples": [text for text in examples if text][:VOICE_EXAMPLES],
            "note": " ".join(str(note or "").split())[:jobs.NOTE_MAX]}


def _capped(ctx: Context, shop_id: int, product_id: str, cap: int, trigger: str) -> str | None:
    """When the shop has used its monthly cap: record `generate.capped` and say so; else None."""
    if cap <= 0:
        return None
    with ctx.sessions() as db:
        used = drafts_this_month(db, shop_id)
        if used < cap:
            return None
        audit(db, action="generate.capped", actor=ACTOR, shop_id=shop_id,
              detail={"product_id": product_id, "cap": cap, "month": month_start().strftime("%Y-%m"),
                      "trigger": trigger})
        db.commit()
    log.info("generate skipped: shop %s reached its monthly cap of %s drafts", shop_id, cap)
    return f"not generated: the shop reached its monthly cap of {cap} drafts"


def remember_product(db, shop_id: int, product: Product) -> None:
    state = db.scalar(select(ProductState).where(ProductState.shop_id == shop_id,
                                                 ProductState.product_id == product.id))
    if state is None:
        state = ProductState(shop_id=shop_id, product_id=product.id, content_hash="")
        db.add(state)
    state.title = product.title[:500]
    state.content_hash = product.content_hash()
    state.has_copy = product.has_copy
    state.updated_at = utcnow()


def generate_draft(ctx: Context, shop_id: int, product_id: str, *, trigger: str, seed: int | None = None,
                   note: str = "") -> int | str | None:
    """Write a draft for one product; returns its id (an existing one for a repeated input and seed), None
    when the shop or product is gone, or a message when the shop's monthly cap stops it. `note`: a staff
    instruction for the prompt, kept in the draft's `checks["note"]` and its audit entry."""
    loaded = load_shop(ctx, shop_id)
    if loaded is None:
        log.info("generate skipped: shop %s not installed", shop_id)
        return None
    shop, settings = loaded
    try:
        product = adapter(ctx, shop).get_product(product_id)
    except ProductNotFound:
        log.info("generate skipped: product %s no longer exists in shop %s", product_id, shop_id)
        return None
    seed = ctx.settings.seed if seed is None else seed
    input_hash = product.content_hash()
    with ctx.sessions() as db:
        existing = _existing(db, shop_id, product.id, input_hash, seed)
    if existing is not None:
        return _resume(ctx, existing)
    capped = _capped(ctx, shop_id, product.id, int(settings["monthly_cap"]), trigger)
    if capped:
        return capped

    from worker.quality import shop_descriptions, write_checked

    style = style_for(settings, note)
    note = style["note"]
    with ctx.sessions() as db:
        others = shop_descriptions(db, shop_id, product.id)
    checked = write_checked(ctx.generator(shop_id), product, style=style, seed=seed, settings=settings,
                            others=others)
    result, fields = checked.result, CopyFields.from_dict(checked.fields)
    with ctx.sessions() as db:
        draft = Draft(
            shop_id=shop_id, kind="product_copy", product_id=product.id, status="pending",
            fields=fields.as_dict(), previous=product.copy.as_dict(), input_snapshot=product.snapshot(),
            input_hash=input_hash, model_id=result.model_id, model_revision=result.revision,
            adapter=result.adapter, prompt_version=result.prompt_version, seed=seed,
            checks={"notes": checked.notes, **({"note": note} if note else {}), **checked.checks},
        )
        db.add(draft)
        try:
            db.flush()
        except IntegrityError:  # the same job ran twice at once; the other one's draft stands
            db.rollback()
            return _resume(ctx, _existing(db, shop_id, product.id, input_hash, seed))
        audit(db, action="draft.created", actor=ACTOR, shop_id=shop_id, draft_id=draft.id,
              detail={"trigger": trigger, "model": result.model_id, "prompt": result.prompt_version, "seed": seed,
                      "checks": "passed" if checked.report.passed else checked.report.failed,
                      **({"note": note} if note else {})})
        supersede_pending(db, shop_id=shop_id, product_id=product.id, keep=draft.id,
                          reason=f"superseded by draft {draft.id}", actor=ACTOR)
        remember_product(db, shop_id, product)
        auto = bool(settings["auto_publish"]) and not product.has_copy and checked.report.passed
        if auto:
            transition(db, draft, "approved", actor=ACTOR, detail={"auto_publish": True})
        elif settings["auto_publish"] and product.has_copy:
            draft.reason = "the product already has a description: a person reviews before it is replaced"
        elif settings["auto_publish"]:
            draft.reason = (f"not published automatically: the checks flagged {len(checked.report.flags)} "
                            f"problem(s) ({', '.join(checked.report.failed)}); a person reviews it")
        db.commit()
        draft_id = draft.id
    if auto:
        jobs.enqueue_publish(ctx.redis, draft_id, actor="auto-publish", shop_id=shop_id)
    log.info("draft %s written for shop %s product %s", draft_id, shop_id, product.id)
    return draft_id


def _resume(ctx: Context, draft_id: int | None) -> int | None:
    """A repeated job finds its draft already written; if it was auto-approved but its publish job
    was never queued (Redis went away in between), queue it now. Publishing is idempotent."""
    if draft_id is None:
        return None
    with ctx.sessions() as db:
        draft = db.get(Draft, draft_id)
        approved = draft is not None and draft.status == "approved"
        shop_id = draft.shop_id if draft is not None else None
    if approved:
        jobs.enqueue_publish(ctx.redis, draft_id, actor="auto-publish", shop_id=shop_id)
    return draft_id


def _existing(db, shop_id: int, product_id: str, input_hash: str, seed: int) -> int | None:
    return db.scalar(select(Draft.id).where(
        Draft.shop_id == shop_id, Draft.kind == "product_copy", Draft.product_id == product_id,
        Draft.input_hash == input_hash, Draft.seed == seed))


def refresh_product(ctx: Context, shop_id: int, product_id: str) -> str:
    """A product changed in the store: remember it, and mark drafts made from older data stale."""
    loaded = load_shop(ctx, shop_id)
    if loaded is None:
        return "shop not installed"
    shop, settings = loaded
    try:
        product = adapter(ctx, shop).get_product(product_id)
    except ProductNotFound:
        return "product gone"
    new_hash = product.content_hash()
    stale = 0
    with ctx.sessions() as db:
        # Approved drafts are checked again by their publish job, which re-reads the product.
        pending = db.scalars(select(Draft).where(Draft.shop_id == shop_id, Draft.kind == "product_copy",
                                                 Draft.product_id == product.id, Draft.status == "pending"))
        for draft in pending:
            if draft.input_hash != new_hash:
                changed = changed_fields(draft.input_snapshot, product.snapshot())
                transition(db, draft, "stale", actor=ACTOR,
                           reason=f"the product changed in the store after this draft was made ({changed})")
                stale += 1
        remember_product(db, shop_id, product)
        has_pending = db.scalar(select(Draft.id).where(Draft.shop_id == shop_id, Draft.kind == "product_copy",
                                                       Draft.product_id == product.id,
                                                       Draft.status == "pending")) is not None
        db.commit()
    if settings["generate_on_update_without_copy"] and not product.has_copy and not has_pending:
        jobs.enqueue_generate(ctx.redis, shop_id, product.id, trigger="product.updated",
                              delivery=f"update-{new_hash}")
        return "generate queued"
    return f"refreshed; {stale} draft(s) stale"


def changed_fields(before: dict, after: dict) -> str:
    names = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return ", ".join(names) or "no visible field"
