"""The deliveries of bench/burst.py and the clients that send them.

`build_plan` puts each delivery's product into the store emulator and signs the delivery as the store would
(or forges or breaks it); `send` posts them over N keep-alive connections and tallies the answers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests

from bench.intake import run_clients

SHOPIFY_SECRET = "burst-app-secret"
SHOPIFY_SHOP = "burst-shop.myshopify.com"
WOO = {"key": "ck_burst", "secret": "cs_burst", "hook_secret": "burst-woo-hook-secret"}
CYCLE = ("unique", "duplicate", "forged", "unique", "duplicate", "malformed")
FORGERIES = ("wrong-secret", "tampered-body", "no-signature", "garbage-signature")
BREAKAGES = ("truncated-json", "json-array", "no-id", "bad-id", "invalid-utf8")
EXPECTED = {"unique": 200, "duplicate": 200, "forged": 401, "malformed": 400}
ADJECTIVES = ("Stonewashed", "Waxed", "Quilted", "Hand-thrown", "Brushed", "Woven", "Enamel", "Folding",
              "Insulated", "Braided", "Carved", "Recycled")
MATERIALS = ("linen", "oak", "copper", "wool", "stoneware", "canvas", "bamboo", "steel", "leather", "glass",
             "cotton", "cork")
ITEMS = (("Tea Towel", "Kitchen"), ("Apron", "Kitchen"), ("Serving Bowl", "Tableware"), ("Throw", "Living"),
         ("Lantern", "Garden"), ("Notebook", "Stationery"), ("Tote Bag", "Bags"), ("Desk Lamp", "Lighting"),
         ("Water Bottle", "Outdoor"), ("Plant Pot", "Garden"), ("Cutting Board", "Kitchen"),
         ("Wallet", "Accessories"), ("Pillow Cover", "Bedroom"), ("Mug", "Tableware"), ("Stool", "Furniture"))


@dataclass
class Delivery:
    kind: str  # unique, duplicate, forged or malformed
    platform: str
    product: int
    body: bytes
    headers: dict = field(default_factory=dict)
    variant: str = ""

    @property
    def path(self) -> str:
        return f"/webhooks/{self.platform}"


def _sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _product_fields(i: int) -> dict:
    item, category = ITEMS[i % len(ITEMS)]
    title = f"{ADJECTIVES[i // len(ITEMS) % len(ADJECTIVES)]} {MATERIALS[i // 7 % len(MATERIALS)].title()} {item}"
    return {"title": f"{title} No. {i}", "category": category, "vendor": "Burst Goods",
            "attributes": {"Material": MATERIALS[i // 7 % len(MATERIALS)], "Size": f"{10 + i % 40} cm"},
            "price": f"{5 + i % 90}.00"}


def _body(platform: str, pid: int, fields: dict, stamp: str) -> bytes:
    if platform == "shopify":
        doc = {"id": pid, "title": fields["title"], "body_html": "", "vendor": fields["vendor"],
               "product_type": fields["category"], "updated_at": stamp}
    else:
        doc = {"id": pid, "name": fields["title"], "description": "", "date_modified_gmt": stamp}
    return json.dumps(doc).encode()


def _headers(platform: str, body: bytes, delivery: int, store_url: str) -> dict:
    if platform == "shopify":
        return {"Content-Type": "application/json", "X-Shopify-Topic": "products/create",
                "X-Shopify-Hmac-Sha256": _sign(SHOPIFY_SECRET, body), "X-Shopify-Shop-Domain": SHOPIFY_SHOP,
                "X-Shopify-API-Version": "2025-10", "X-Shopify-Webhook-Id": f"burst-{delivery}"}
    return {"Content-Type": "application/json", "X-WC-Webhook-Source": f"{store_url}/",
            "X-WC-Webhook-Topic": "product.created", "X-WC-Webhook-Resource": "product",
            "X-WC-Webhook-Event": "created", "X-WC-Webhook-ID": "1", "X-WC-Webhook-Delivery-ID": str(delivery),
            "X-WC-Webhook-Signature": _sign(WOO["hook_secret"], body)}


def _forge(d: Delivery, variant: str) -> None:
    sig = "X-Shopify-Hmac-Sha256" if d.platform == "shopify" else "X-WC-Webhook-Signature"
    if variant == "wrong-secret":
        d.headers[sig] = _sign("not-the-secret", d.body)
    elif variant == "tampered-body":  # signed, then changed in transit
        d.body = d.body.replace(b'"id": ', b'"id": 1', 1)
    elif variant == "no-signature":
        del d.headers[sig]
    elif d.platform == "woocommerce":  # a good signature, but from a store that is not connected
        d.headers["X-WC-Webhook-Source"] = "https://elsewhere.example/"
    else:
        d.headers[sig] = "not base64 !!"


def _break(d: Delivery, variant: str, store_url: str, delivery: int) -> None:
    doc = json.loads(d.body)
    body = {"truncated-json": d.body[:-9], "json-array": json.dumps([doc]).encode(),
            "no-id": json.dumps({"product": doc}).encode(),
            "bad-id": json.dumps({**doc, "id": f"{doc['id']} OR 1=1"}).encode(),
            "invalid-utf8": d.body.replace(b'"id"', b'"\xff\xfe"', 1) + b"\xc3\x28"}[variant]
    d.body, d.headers = body, _headers(d.platform, body, delivery, store_url)


def build_plan(n: int, store, store_url: str, rng: random.Random, woo_share: float = 0.25) -> list[Delivery]:
    """N deliveries on the CYCLE; each unique, forged and malformed one names a new product in `store`
    (the emulator's state), which forged and malformed ones can never get a draft for."""
    plan: list[Delivery] = []
    uniques: list[Delivery] = []
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    for i in range(n):
        kind = CYCLE[i % len(CYCLE)]
        if kind == "duplicate" and uniques:
            # Half re-send one of the last few (racing it over the other connections), half an older one.
            original = rng.choice(uniques[-6:] if rng.random() < 0.5 else uniques)
            headers = dict(original.headers)
            if original.platform == "woocommerce":  # WooCommerce's delivery id changes on every send
                headers["X-WC-Webhook-Delivery-ID"] = str(i)
            plan.append(Delivery("duplicate", original.platform, original.product, original.body, headers))
            continue
        kind = "unique" if kind == "duplicate" else kind
        platform = "woocommerce" if rng.random() < woo_share else "shopify"
        fields = _product_fields(i)
        pid = store.add_product(platform, fields)["id"]
        body = _body(platform, pid, fields, stamp)
        d = Delivery(kind, platform, pid, body, _headers(platform, body, i, store_url))
        if kind == "forged":
            d.variant = FORGERIES[i // len(CYCLE) % len(FORGERIES)]
            _forge(d, d.variant)
        elif kind == "malformed":
            d.variant = BREAKAGES[i // len(CYCLE) % len(BREAKAGES)]
            _break(d, d.variant, store_url, i)
        else:
            uniques.append(d)
        plan.append(d)
    return plan


def send(base_url: str, plan: list[Delivery], connections: int) -> dict:
    """Post every delivery once, in order, over `connections` threads; tally statuses and replies."""
    answers: list[tuple[int, str, float] | None] = [None] * len(plan)
    position = iter(range(len(plan)))
    lock = threading.Lock()

    def client():
        session = requests.Session()
        while True:
            with lock:
                i = next(position, None)
            if i is None:
                return
            d = plan[i]
            start = time.perf_counter()
            try:
                resp = session.post(base_url + d.path, data=d.body, headers=d.headers, timeout=30)
                status, reply = resp.status_code, str(resp.json().get("status") or resp.json().get("error"))
            except (requests.RequestException, ValueError, AttributeError) as err:
                status, reply = 0, type(err).__name__
            answers[i] = (status, reply, time.perf_counter() - start)

    elapsed = run_clients(client, connections)
    latencies = sorted(a[2] for a in answers)
    groups: Counter = Counter()  # "queued" answers per product a unique delivery named
    unexpected: Counter = Counter()
    for d, (status, reply, _) in zip(plan, answers, strict=True):
        if d.kind in ("unique", "duplicate"):
            groups[(d.platform, d.product)] += reply == "queued"
        if status != EXPECTED[d.kind] or (status == 200 and reply not in ("queued", "duplicate")):
            unexpected[f"{d.kind}/{d.variant or d.platform}: {status} {reply}"] += 1
    return {"seconds": round(elapsed, 2), "rps": round(len(plan) / elapsed, 1),
            "p50_ms": round(1000 * statistics.median(latencies), 2),
            "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2),
            "by_status": dict(sorted(Counter(str(a[0]) for a in answers).items())),
            "by_reply": dict(sorted(Counter(f"{a[0]} {a[1]}" for a in answers).items())),
            "by_kind": {k: dict(Counter(str(a[0]) for d, a in zip(plan, answers, strict=True) if d.kind == k))
                        for k in EXPECTED},
            "unexpected": dict(unexpected), "groups": groups}
