"""Campaign copy: an email (subject, preheader, body) and social posts for products staff chose.

Staff pick up to MAX_PRODUCTS products, a theme and optional details (an offer, an end date) in the panel
(`plugin.panel.views_campaign`), which queues `write_campaign` on the generate queue. The job fetches each
product fresh from the store, renders `prompts/campaign.j2` once per field, generates the four fields in
one batched call, and checks them: grounding against the products' data and the staff's own details (a
discount the staff typed is a fact; one the model invents is flagged) and the rules product copy obeys
(banned words, empty superlatives, invented prices, template leakage). Flagged claims must be accepted or
edited out by a person before approval. An approved campaign is exported by staff; nothing is sent.

The draft's `product_id` is the shop's campaign number; its input snapshot keeps the campaign's spec, so
`regenerate` writes it again (the products fetched again) with a staff note and a new seed.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import prompts
from plugin.db import Draft
from plugin.drafts import audit, transition
from plugin.errors import ProductNotFound
from plugin.kinds import CAMPAIGN
from plugin.platforms.base import check_id, digest
from worker.retry import retry_transient

log = logging.getLogger(__name__)
ACTOR = "worker"
TASK = "campaign"
MAX_PRODUCTS = 12
SPEC_LIMITS = {"theme": 200, "offer": 200, "ends": 100, "details": 500}
"""Characters allowed per spec text (the panel's form has the same limits)."""
OCCASIONS = {"sale": "a sale", "season": "a season", "launch": "a launch", "other": ""}
"""What a campaign is for; "other" is the theme's free text alone."""
TOKENS = {"email_subject": 32, "email_preheader": 56, "social_posts": 220}
"""New tokens per field; the body's is 1.8 × target_words + 40 (80–500)."""
MIN_WORDS = {"email_subject": 2, "email_preheader": 3, "email_body": 12, "social_posts": 4}
"""Fewer words than this after parsing → the output is unusable and copy built from the facts is used."""
_LABEL = re.compile(r"^\s*(?:email\s+)?(?:subject(?:\s+line)?|preheader|body|social(?:\s+media)?\s+posts?|"
                    r"post\s*\d*)\s*:\s*", re.I)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")


def clean_spec(spec: dict) -> dict:
    """The campaign's spec, checked: ValueError names a bad part."""
    out = {name: " ".join(str(spec.get(name) or "").split()) for name in SPEC_LIMITS}
    for name, limit in SPEC_LIMITS.items():
        if len(out[name]) > limit:
            raise ValueError(f"{name} is {len(out[name])} characters; at most {limit}")
    if not out["theme"]:
        raise ValueError("theme: say what the campaign is for")
    out["occasion"] = str(spec.get("occasion") or "other")
    if out["occasion"] not in OCCASIONS:
        raise ValueError(f"occasion must be one of {', '.join(OCCASIONS)}, not {out['occasion'][:40]!r}")
    ids = list(dict.fromkeys(check_id(p, "product id") for p in spec.get("products") or []))
    if not 1 <= len(ids) <= MAX_PRODUCTS:
        raise ValueError(f"products: choose 1 to {MAX_PRODUCTS}, not {len(ids)}")
    out["products"] = ids
    return out


def staff_facts(spec: dict) -> dict:
    """The staff's details as a pseudo-product record, so that what they typed counts as a fact."""
    attributes = {label: spec[name] for label, name in (("Offer", "offer"), ("Ends", "ends"), ("Details", "details"))
                  if spec.get(name)}
    return {"id": "", "title": spec["theme"], "attributes": attributes}


@retry_transient
def write_campaign(shop_id: int, number: str, spec: dict, *, seed: int | None = None, note: str = ""):
    """RQ job: a campaign draft's id, or None when the shop or every chosen product is gone."""
    from worker import context

    return make_campaign(context.get(), int(shop_id), check_id(number, "campaign number"), dict(spec),
                         seed=None if seed is None else int(seed), note=str(note or ""), trigger="staff.campaign")


def regenerate(ctx, draft_id: int, *, note: str = "", seed: int | None = None):
    """Write campaign draft `draft_id` again from its stored spec (products fetched again)."""
    with ctx.sessions() as db:
        draft = db.get(Draft, draft_id)
        if draft is None or draft.kind != CAMPAIGN.name:
            return "no such campaign draft"
        shop_id, number = draft.shop_id, draft.product_id
        spec = dict((draft.input_snapshot or {}).get("campaign") or {})
    return make_campaign(ctx, shop_id, number, spec, seed=seed, note=note, trigger="staff.regenerate",
                         replaces=draft_id)


def make_campaign(ctx, shop_id: int, number: str, spec: dict, *, seed: int | None, note: str, trigger: str,
                  replaces: int | None = None) -> int | None:
    from worker.pipeline import adapter, load_shop, style_for

    spec = clean_spec(spec)
    loaded = load_shop(ctx, shop_id)
    if loaded is None:
        log.info("campaign skipped: shop %s not installed", shop_id)
        return None
    shop, settings = loaded
    store = adapter(ctx, shop)
    products, missing = [], []
    for product_id in spec["products"]:
        try:
            products.append(store.get_product(product_id))
        except ProductNotFound:
            missing.append(product_id)
    if not products:
        log.info("campaign skipped: none of its products exist in shop %s any more", shop_id)
        return None
    seed = ctx.settings.seed if seed is None else seed
    snapshot = {"id": number, "title": f"Campaign: {spec['theme']}", "campaign": spec,
                "products": [p.snapshot() for p in products] + [staff_facts(spec)], "policies": {}}
    input_hash = digest(snapshot)
    with ctx.sessions() as db:
        existing = _existing(db, shop_id, number, input_hash, seed)
    if existing is not None:
        return existing

    style = style_for(settings, note)
    generator = ctx.generator(shop_id)
    fields, notes = write_fields(generator, spec, [p.record() for p in products], style=style, seed=seed)
    notes += [f"product {pid} no longer exists in the store; left out" for pid in missing]
    checks = {**check_fields(snapshot, fields, settings), "notes": notes,
              **({"note": style["note"]} if style["note"] else {})}
    with ctx.sessions() as db:
        draft = Draft(shop_id=shop_id, kind=CAMPAIGN.name, product_id=number, status="pending", fields=fields,
                      previous={}, input_snapshot=snapshot, input_hash=input_hash, model_id=generator.model_id,
                      model_revision=generator.revision, adapter=getattr(generator, "adapter", "") or "",
                      prompt_version=prompts.version(TASK), seed=seed, checks=checks)
        db.add(draft)
        try:
            db.flush()
        except IntegrityError:  # the same job ran twice at once; the other one's draft stands
            db.rollback()
            return _existing(db, shop_id, number, input_hash, seed)
        audit(db, action="draft.created", actor=ACTOR, shop_id=shop_id, draft_id=draft.id,
              detail={"trigger": trigger, "kind": CAMPAIGN.name, "model": generator.model_id,
                      "prompt": draft.prompt_version, "seed": seed, "products": [p.id for p in products],
                      "checks": "passed" if checks["passed"] else [f.split(":")[0] for f in checks["flags"]],
                      **({"note": style["note"]} if style["note"] else {}),
                      **({"replaces": replaces} if replaces else {})})
        _supersede(db, shop_id, number, keep=draft.id)
        db.commit()
        draft_id = draft.id
    log.info("campaign draft %s written for shop %s (campaign %s)", draft_id, shop_id, number)
    return draft_id


def _existing(db, shop_id: int, number: str, input_hash: str, seed: int) -> int | None:
    return db.scalar(select(Draft.id).where(Draft.shop_id == shop_id, Draft.kind == CAMPAIGN.name,
                                            Draft.product_id == number, Draft.input_hash == input_hash,
                                            Draft.seed == seed))


def _supersede(db, shop_id: int, number: str, *, keep: int) -> None:
    """The campaign's older pending drafts go stale (campaign drafts only: a product may share the number)."""
    older = db.scalars(select(Draft).where(Draft.shop_id == shop_id, Draft.kind == CAMPAIGN.name,
                                           Draft.product_id == number, Draft.status == "pending",
                                           Draft.id != keep))
    for draft in older:
        transition(db, draft, "stale", actor=ACTOR, reason=f"superseded by draft {keep}")


def write_fields(generator, spec: dict, records: list[dict], *, style: dict, seed: int) -> tuple[dict, list[str]]:
    """The four campaign fields from one batched generate call; unusable output → copy built from facts."""
    names = CAMPAIGN.field_names
    body_tokens = max(80, min(500, int(int(style["target_words"]) * 1.8) + 40))
    products = [{"title": "", "category": "", "attributes": {}, "description": "", **r} for r in records]
    campaign = {**spec, "occasion": OCCASIONS[spec["occasion"]]}
    conversations = [prompts.render(TASK, field=name, campaign=campaign, products=products, style=style)
                     for name in names]
    outputs = generator.generate(conversations, max_new_tokens=[TOKENS.get(n, body_tokens) for n in names],
                                 seed=[seed + i for i in range(len(names))], temperature=0.5, top_p=0.9)
    fields, notes = {}, []
    for name, text in zip(names, outputs, strict=True):
        value = parse_field(name, text)
        if len(value.split()) < MIN_WORDS[name]:
            value = fallback(name, spec, products)
            notes.append(f"{name}: model output unusable; minimal copy built from the campaign's facts")
        fields[name] = _cut(value, CAMPAIGN.field(name).limit)
    return fields, notes


def parse_field(name: str, text: str) -> str:
    """The model's text for one field, cleaned: labels, bullets and quotes gone; one line for the subject
    and preheader, one paragraph per post."""
    lines = [_LABEL.sub("", line).strip() for line in str(text or "").replace("\r\n", "\n").split("\n")]
    if name in ("email_subject", "email_preheader"):
        first = next((line for line in lines if line), "")
        return first.strip("\"'“”").strip()
    if name == "social_posts":
        posts, current = [], []
        for line in lines + [""]:
            if not line or _BULLET.match(line):
                if current:
                    posts.append(" ".join(current))
                current = [_BULLET.sub("", line)] if line else []
            else:
                current.append(line)
        return "\n\n".join(p.strip("\"'“”").strip() for p in posts if p.strip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def fallback(name: str, spec: dict, products: list[dict]) -> str:
    """Plain copy from the campaign's facts alone (nothing a check could flag)."""
    theme, offer, ends = spec["theme"], spec.get("offer", ""), spec.get("ends", "")
    titles = [p["title"] for p in products if p.get("title")]
    offer_line = " ".join(x for x in (offer, f"until {ends}" if ends else "") if x)
    if name == "email_subject":
        return f"{theme}: {offer}" if offer else f"{theme}: {', '.join(titles[:2])}"
    if name == "email_preheader":
        return f"{offer_line}. Featuring {', '.join(titles[:3])}." if offer_line else \
            f"Featuring {', '.join(titles[:3])}."
    if name == "email_body":
        intro = f"{theme}." + (f" {offer_line}." if offer_line else "")
        lines = [f"{p['title']}: {_first_sentence(p.get('description', ''))}".rstrip(": ") for p in products]
        return "\n\n".join([intro, *lines])
    return "\n\n".join(f"{theme}: {t}." + (f" {offer_line}." if offer_line else "") for t in titles[:3])


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s", " ".join(str(text).split()), maxsplit=1)[0][:200]


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:")


def check_fields(snapshot: dict, fields: dict, settings: dict) -> dict:
    """`Draft.checks` for campaign fields: grounding (claims, like product drafts') and the copy rules."""
    from model.checks import rules, text_kinds

    grounding, claims = text_kinds.check(snapshot, fields)
    rule_result = rules.check(text_kinds.facts_record(snapshot), fields, banned=settings.get("banned_words") or (),
                              use_defaults=bool(settings.get("banned_defaults", True)))
    results = {"grounding": grounding, "rules": rule_result}
    return {"passed": all(r.passed for r in results.values()),
            "flags": [f"{n}: {p}" for n, r in results.items() for p in r.problems], "claims": claims,
            "results": {n: r.to_dict() for n, r in results.items()}}
