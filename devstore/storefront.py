"""`GET /`: one HTML page showing every product of both stores as a shopper would see the copy."""

from __future__ import annotations

import hashlib
from html import escape

from flask import Blueprint, Response, render_template

from .context import rt

bp = Blueprint("storefront", __name__, template_folder="templates")

SEO_KEYS = ("seo_title", "_yoast_wpseo_title", "rank_math_title", "_copydesk_seo_title")
SEO_DESC_KEYS = (
    "seo_description",
    "_yoast_wpseo_metadesc",
    "rank_math_description",
    "_copydesk_seo_description",
)


def _meta(product: dict, keys: tuple[str, ...]) -> str | None:
    for row in product["meta_data"]:
        if row["key"] in keys or any(row["key"].endswith(k) for k in keys):
            return str(row["value"])
    return None


def _card(platform: str, product: dict) -> dict:
    seo_title = product["seo_title"] if platform == "shopify" else _meta(product, SEO_KEYS)
    seo_desc = product["seo_description"] if platform == "shopify" else _meta(product, SEO_DESC_KEYS)
    return {
        "platform": platform,
        "id": product["id"],
        "title": product["title"],
        "category": product["category"],
        "price": product["price"],
        "description_html": product["description_html"],
        "short_description": product["short_description"],
        "seo_title": seo_title,
        "seo_description": seo_desc,
        "updated_at": product["updated_at"],
        "tags": product["tags"],
        "attributes": product["attributes"],
    }


@bp.get("/")
def index():
    store = rt().store
    with store.lock:
        cards = [_card(p, prod) for p, items in store.products.items() for prod in items.values()]
        shop = store.config.shopify.shop_domain
    cards.sort(key=lambda c: c["updated_at"], reverse=True)
    return render_template("store.html", cards=cards, shop=shop)


@bp.get("/img/<name>.svg")
def placeholder(name: str):
    """A generated picture so the sample descriptions' <img> tags render offline."""
    hue = int(hashlib.sha256(name.encode()).hexdigest()[:2], 16) * 360 // 256
    label = escape(name.replace("-", " ").title())
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="480" height="240" viewBox="0 0 480 240">'
        f'<rect width="480" height="240" fill="hsl({hue},45%,82%)"/>'
        f'<circle cx="390" cy="70" r="40" fill="hsl({hue},45%,68%)"/>'
        f'<text x="24" y="212" font-family="sans-serif" font-size="22" '
        f'fill="hsl({hue},40%,25%)">{label}</text>'
        f"</svg>"
    )
    return Response(svg, mimetype="image/svg+xml")
