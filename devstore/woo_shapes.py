"""Render internal records as WooCommerce REST v3 resources, and encode them like PHP's wp_json_encode."""

from __future__ import annotations

import json
from datetime import datetime


def wp_json_encode(data) -> bytes:
    """json_encode with default flags: compact, `/` escaped as `\\/`, non-ASCII as \\uXXXX."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()


def wc_time(stamp: datetime | None) -> str | None:
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") if stamp else None


def _links(base: str, path: str, rid: int) -> dict:
    return {
        "self": [{"href": f"{base}/wp-json/wc/v3/{path}/{rid}"}],
        "collection": [{"href": f"{base}/wp-json/wc/v3/{path}"}],
    }


def product_v3(product: dict, base: str) -> dict:
    """v3 product, keys in the order WooCommerce 7.9 emits them."""
    pid = product["id"]
    variable = any(a["variation"] for a in product["attributes"])
    created, modified = wc_time(product["created_at"]), wc_time(product["updated_at"])
    price = product["price"]
    return {
        "id": pid,
        "name": product["title"],
        "slug": product["handle"],
        "permalink": f"{base}/product/{product['handle']}/",
        "date_created": created,
        "date_created_gmt": created,
        "date_modified": modified,
        "date_modified_gmt": modified,
        "type": "variable" if variable else "simple",
        "status": product["status"],
        "featured": False,
        "catalog_visibility": "visible",
        "description": product["description_html"],
        "short_description": product["short_description"],
        "sku": product["sku"],
        "price": price,
        "regular_price": "" if variable else price,
        "sale_price": "",
        "date_on_sale_from": None,
        "date_on_sale_from_gmt": None,
        "date_on_sale_to": None,
        "date_on_sale_to_gmt": None,
        "on_sale": False,
        "purchasable": True,
        "total_sales": 0,
        "virtual": False,
        "downloadable": False,
        "downloads": [],
        "download_limit": -1,
        "download_expiry": -1,
        "external_url": "",
        "button_text": "",
        "tax_status": "taxable",
        "tax_class": "",
        "manage_stock": False,
        "stock_quantity": None,
        "backorders": "no",
        "backorders_allowed": False,
        "backordered": False,
        "low_stock_amount": None,
        "sold_individually": False,
        "weight": "",
        "dimensions": {"length": "", "width": "", "height": ""},
        "shipping_required": True,
        "shipping_taxable": True,
        "shipping_class": "",
        "shipping_class_id": 0,
        "reviews_allowed": True,
        "average_rating": "0.00",
        "rating_count": 0,
        "upsell_ids": [],
        "cross_sell_ids": [],
        "parent_id": 0,
        "purchase_note": "",
        "categories": [
            {
                "id": _term_id(product["category"]),
                "name": product["category"] or "Uncategorized",
                "slug": _slug(product["category"] or "uncategorized"),
            }
        ],
        "tags": [{"id": _term_id(t), "name": t, "slug": _slug(t)} for t in product["tags"]],
        "images": [
            {
                "id": img["id"],
                "date_created": created,
                "date_created_gmt": created,
                "date_modified": created,
                "date_modified_gmt": created,
                "src": img["src"],
                "name": img["src"].rsplit("/", 1)[-1].split(".")[0],
                "alt": img["alt"],
            }
            for img in product["images"]
        ],
        "attributes": [
            {
                "id": 0,
                "name": a["name"],
                "position": i,
                "visible": True,
                "variation": a["variation"],
                "options": list(a["options"]),
            }
            for i, a in enumerate(product["attributes"])
        ],
        "default_attributes": [],
        "variations": [v["id"] for v in product["variants"]] if variable else [],
        "grouped_products": [],
        "menu_order": 0,
        "price_html": f'<span class="woocommerce-Price-amount amount"><bdi><span '
        f'class="woocommerce-Price-currencySymbol">&#36;</span>{price}</bdi></span>',
        "related_ids": [],
        "meta_data": [dict(m) for m in product["meta_data"]],
        "stock_status": "instock",
        "has_options": variable,
        "_links": _links(base, "products", pid),
    }


def variation_v3(product: dict, variant: dict, base: str) -> dict:
    return {
        "id": variant["id"],
        "sku": variant["sku"],
        "price": variant["price"],
        "regular_price": variant["price"],
        "description": "",
        "status": "publish",
        "attributes": [{"id": 0, "name": k, "option": v} for k, v in variant["options"].items()],
        "_links": {
            "self": [{"href": f"{base}/wp-json/wc/v3/products/{product['id']}/variations/{variant['id']}"}],
            "up": [{"href": f"{base}/wp-json/wc/v3/products/{product['id']}"}],
        },
    }


def order_v3(order: dict, base: str) -> dict:
    c = order["customer"]
    created, modified = wc_time(order["created_at"]), wc_time(order["updated_at"])
    total = sum(float(li["price"]) * li["quantity"] for li in order["line_items"])
    address = {
        "first_name": c["first_name"],
        "last_name": c["last_name"],
        "company": "",
        "address_1": "",
        "address_2": "",
        "city": "",
        "state": "",
        "postcode": "",
        "country": "",
        "phone": "",
    }
    key = f"wc_order_{order['id']:013d}"
    return {
        "id": order["id"],
        "parent_id": 0,
        "status": order["status"],
        "currency": "USD",
        "version": "7.9.0",
        "prices_include_tax": False,
        "date_created": created,
        "date_modified": modified,
        "discount_total": "0.00",
        "discount_tax": "0.00",
        "shipping_total": "0.00",
        "shipping_tax": "0.00",
        "cart_tax": "0.00",
        "total": f"{total:.2f}",
        "total_tax": "0.00",
        "customer_id": 0,
        "order_key": key,
        "billing": {**address, "email": c["email"]},
        "shipping": address,
        "payment_method": "",
        "payment_method_title": "",
        "transaction_id": "",
        "customer_ip_address": "",
        "customer_user_agent": "",
        "created_via": "rest-api",
        "customer_note": order["note"],
        "date_completed": None,
        "date_paid": created,
        "cart_hash": "",
        "number": str(order["id"]),
        "meta_data": [dict(m) for m in order["meta_data"]] + _order_meta(order),
        "line_items": [
            {
                "id": li["id"],
                "name": li["title"],
                "product_id": li["product_id"],
                "variation_id": 0,
                "quantity": li["quantity"],
                "tax_class": "",
                "subtotal": f"{float(li['price']) * li['quantity']:.2f}",
                "subtotal_tax": "0.00",
                "total": f"{float(li['price']) * li['quantity']:.2f}",
                "total_tax": "0.00",
                "taxes": [],
                "meta_data": [],
                "sku": li["sku"],
                "price": float(li["price"]),
                "image": {"id": "", "src": ""},
                "parent_name": None,
            }
            for li in order["line_items"]
        ],
        "tax_lines": [],
        "shipping_lines": [],
        "fee_lines": [],
        "coupon_lines": [],
        "refunds": [],
        "payment_url": f"{base}/checkout/order-pay/{order['id']}/?pay_for_order=true&key={key}",
        "is_editable": False,
        "needs_payment": False,
        "needs_processing": True,
        "date_created_gmt": created,
        "date_modified_gmt": modified,
        "date_completed_gmt": None,
        "date_paid_gmt": created,
        "currency_symbol": "$",
        "_links": _links(base, "orders", order["id"]),
    }


def _order_meta(order: dict) -> list[dict]:
    """What plugins record on a WooCommerce order (no core fields): the buyer's language (WPML), a
    marketing opt-in at checkout, and WooPayments' test mode."""
    meta = []
    if order["customer_locale"]:
        meta.append({"id": 1, "key": "wpml_language", "value": order["customer_locale"]})
    if order["customer"]["accepts_marketing"]:
        meta.append({"id": 2, "key": "_accepts_marketing", "value": "yes"})
    if order["test"]:
        meta.append({"id": 3, "key": "_wcpay_mode", "value": "test"})
    return meta


def note_v3(order_id: int, note: dict, base: str) -> dict:
    stamp = wc_time(note["created_at"])
    return {
        "id": note["id"],
        "author": note["author"],
        "date_created": stamp,
        "date_created_gmt": stamp,
        "note": note["note"],
        "customer_note": note["customer_note"],
        "_links": {
            "self": [{"href": f"{base}/wp-json/wc/v3/orders/{order_id}/notes/{note['id']}"}],
            "collection": [{"href": f"{base}/wp-json/wc/v3/orders/{order_id}/notes"}],
            "up": [{"href": f"{base}/wp-json/wc/v3/orders/{order_id}"}],
        },
    }


def webhook_v3(hook: dict, base: str) -> dict:
    resource, event = hook["topic"].split(".", 1)
    created, modified = wc_time(hook["created_at"]), wc_time(hook["updated_at"])
    return {
        "id": hook["id"],
        "name": hook["name"],
        "status": hook["status"],
        "topic": hook["topic"],
        "resource": resource,
        "event": event,
        "hooks": [f"woocommerce_{'new' if event == 'created' else 'update'}_{resource}"],
        "delivery_url": hook["delivery_url"],
        "date_created": created,
        "date_created_gmt": created,
        "date_modified": modified,
        "date_modified_gmt": modified,
        "_links": _links(base, "webhooks", hook["id"]),
    }


def _slug(text: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def _term_id(name: str) -> int:
    """Stable small term id per name (WooCommerce term ids are small integers)."""
    return 15 if not name else 16 + sum(ord(ch) for ch in name) % 900
