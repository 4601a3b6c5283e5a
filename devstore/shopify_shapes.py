"""Render internal records the way Shopify does: GraphQL Admin nodes and REST-shaped webhook bodies."""

from __future__ import annotations

from datetime import datetime


def gid(kind: str, rid: int) -> str:
    return f"gid://shopify/{kind}/{rid}"


def gql_time(stamp: datetime) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def rest_time(stamp: datetime) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _options(product: dict) -> list[dict]:
    return [a for a in product["attributes"] if a["variation"]] + [
        a for a in product["attributes"] if not a["variation"]
    ]


def _selected(product: dict, variant: dict) -> list[dict]:
    chosen = []
    for attr in _options(product):
        value = variant["options"].get(attr["name"], attr["options"][0] if attr["options"] else "")
        chosen.append({"name": attr["name"], "value": value})
    return chosen


def product_node(product: dict, variants_first: int = 100) -> dict:
    """GraphQL `Product` with a fixed superset of the fields Copydesk asks for."""
    seo = {"title": product["seo_title"], "description": product["seo_description"]}
    return {
        "id": gid("Product", product["id"]),
        "legacyResourceId": str(product["id"]),
        "title": product["title"],
        "handle": product["handle"],
        "descriptionHtml": product["description_html"],
        "productType": product["category"],
        "vendor": product["vendor"],
        "tags": list(product["tags"]),
        "status": "ACTIVE" if product["status"] == "active" else product["status"].upper(),
        "createdAt": gql_time(product["created_at"]),
        "updatedAt": gql_time(product["updated_at"]),
        "seo": seo,
        "options": [
            {
                "id": gid("ProductOption", i + 1),
                "name": a["name"],
                "position": i + 1,
                "values": list(a["options"]),
            }
            for i, a in enumerate(_options(product))
        ],
        "variants": {
            "nodes": [
                {
                    "id": gid("ProductVariant", v["id"]),
                    "title": v["title"],
                    "sku": v["sku"],
                    "price": v["price"],
                    "selectedOptions": _selected(product, v),
                }
                for v in product["variants"][:variants_first]
            ]
        },
        "images": {
            "nodes": [
                {"id": gid("ProductImage", i["id"]), "url": i["src"], "altText": i["alt"]}
                for i in product["images"]
            ]
        },
    }


def order_node(order: dict) -> dict:
    customer = order["customer"]
    return {
        "id": gid("Order", order["id"]),
        "legacyResourceId": str(order["id"]),
        "name": f"#{order['number']}",
        "email": customer["email"],
        "note": order["note"] or None,
        "tags": list(order["tags"]),
        "test": order["test"],
        "cancelledAt": gql_time(order["cancelled_at"]) if order["cancelled_at"] else None,
        "customerLocale": order["customer_locale"],
        "createdAt": gql_time(order["created_at"]),
        "updatedAt": gql_time(order["updated_at"]),
        "customer": {
            "id": gid("Customer", customer["id"]),
            "firstName": customer["first_name"],
            "lastName": customer["last_name"],
            "email": customer["email"],
            "emailMarketingConsent": {
                "marketingState": "SUBSCRIBED" if customer["accepts_marketing"] else "NOT_SUBSCRIBED",
                "marketingOptInLevel": "SINGLE_OPT_IN",
            },
        },
        "lineItems": {
            "nodes": [
                {
                    "id": gid("LineItem", li["id"]),
                    "title": li["title"],
                    "quantity": li["quantity"],
                    "sku": li["sku"],
                    "variantTitle": li["variant_title"],
                    "product": {"id": gid("Product", li["product_id"])},
                    "variant": {"id": gid("ProductVariant", li["variant_id"])},
                }
                for li in order["line_items"]
            ]
        },
        "metafields": {"nodes": [dict(m, id=gid("Metafield", m["id"])) for m in order["metafields"]]},
    }


def product_rest(product: dict) -> dict:
    """REST resource as sent in products/create and products/update webhooks."""
    pid = product["id"]
    options = _options(product)
    created, updated = rest_time(product["created_at"]), rest_time(product["updated_at"])
    variants = []
    for v in product["variants"]:
        values = [s["value"] for s in _selected(product, v)] + [None, None, None]
        variants.append(
            {
                "id": v["id"],
                "product_id": pid,
                "title": v["title"],
                "price": v["price"],
                "position": v["position"],
                "inventory_policy": "deny",
                "compare_at_price": None,
                "option1": values[0],
                "option2": values[1],
                "option3": values[2],
                "created_at": created,
                "updated_at": updated,
                "taxable": True,
                "barcode": None,
                "sku": v["sku"] or None,
                "inventory_quantity": 10,
                "admin_graphql_api_id": gid("ProductVariant", v["id"]),
                "image_id": None,
            }
        )
    images = [
        {
            "id": img["id"],
            "product_id": pid,
            "position": i + 1,
            "alt": img["alt"] or None,
            "src": img["src"],
            "admin_graphql_api_id": gid("ProductImage", img["id"]),
        }
        for i, img in enumerate(product["images"])
    ]
    return {
        "id": pid,
        "title": product["title"],
        "body_html": product["description_html"],
        "vendor": product["vendor"],
        "product_type": product["category"],
        "created_at": created,
        "handle": product["handle"],
        "updated_at": updated,
        "published_at": created,
        "template_suffix": None,
        "published_scope": "global",
        "tags": ", ".join(product["tags"]),
        "status": product["status"],
        "admin_graphql_api_id": gid("Product", pid),
        "variants": variants,
        "options": [
            {
                "id": pid * 10 + i,
                "product_id": pid,
                "name": a["name"],
                "position": i + 1,
                "values": a["options"],
            }
            for i, a in enumerate(options)
        ],
        "images": images,
        "image": images[0] if images else None,
        "has_variants_that_requires_components": False,
    }


def order_rest(order: dict, shop_domain: str) -> dict:
    """REST order as sent in orders/create (customer data unredacted: a development store)."""
    c = order["customer"]
    created, updated = rest_time(order["created_at"]), rest_time(order["updated_at"])
    total = sum(float(li["price"]) * li["quantity"] for li in order["line_items"])
    return {
        "id": order["id"],
        "admin_graphql_api_id": gid("Order", order["id"]),
        "buyer_accepts_marketing": c["accepts_marketing"],
        "contact_email": c["email"],
        "cancel_reason": "customer" if order["cancelled_at"] else None,
        "cancelled_at": rest_time(order["cancelled_at"]) if order["cancelled_at"] else None,
        "created_at": created,
        "currency": "USD",
        "customer_locale": order["customer_locale"],
        "email": c["email"],
        "financial_status": "paid",
        "fulfillment_status": None,
        "name": f"#{order['number']}",
        "note": order["note"] or None,
        "note_attributes": [],
        "number": order["number"] - 1000,
        "order_number": order["number"],
        "order_status_url": f"https://{shop_domain}/orders/{order['id']}/authenticate",
        "subtotal_price": f"{total:.2f}",
        "tags": ", ".join(order["tags"]),
        "test": order["test"],
        "total_price": f"{total:.2f}",
        "updated_at": updated,
        "customer": {
            "id": c["id"],
            "email": c["email"],
            "first_name": c["first_name"],
            "last_name": c["last_name"],
            "created_at": created,
            "updated_at": updated,
            "state": "disabled",
            "note": None,
            "tags": "",
            "email_marketing_consent": {
                "state": "subscribed" if c["accepts_marketing"] else "not_subscribed",
                "opt_in_level": "single_opt_in",
                "consent_updated_at": None,
            },
            "currency": "USD",
            "admin_graphql_api_id": gid("Customer", c["id"]),
        },
        "line_items": [
            {
                "id": li["id"],
                "admin_graphql_api_id": gid("LineItem", li["id"]),
                "current_quantity": li["quantity"],
                "fulfillable_quantity": li["quantity"],
                "gift_card": False,
                "name": li["title"] + (f" - {li['variant_title']}" if li["variant_title"] else ""),
                "price": li["price"],
                "product_exists": True,
                "product_id": li["product_id"],
                "properties": [],
                "quantity": li["quantity"],
                "requires_shipping": True,
                "sku": li["sku"] or None,
                "taxable": True,
                "title": li["title"],
                "variant_id": li["variant_id"],
                "variant_title": li["variant_title"],
                "vendor": li["vendor"] or None,
            }
            for li in order["line_items"]
        ],
    }
