"""Platform adapters over real HTTP against the store emulator: reads, writes, errors, throttling."""

from __future__ import annotations

import time

import pytest

from plugin.errors import ProductNotFound, RateLimited, StoreAuthError, TransientStoreError
from plugin.platforms.base import CopyFields
from plugin.platforms.http import make_session
from plugin.platforms.shopify import ShopifyAdapter
from plugin.platforms.woocommerce import WooCommerceAdapter
from tests.conftest import SHOP_DOMAIN, SHOP_TOKEN, WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET


@pytest.fixture
def store(devstore):
    devstore.config(
        shopify={"shop_domain": SHOP_DOMAIN, "access_token": SHOP_TOKEN},
        woocommerce={"consumer_key": WOO_KEY, "consumer_secret": WOO_SECRET, "webhook_secret": WOO_HOOK_SECRET},
    )
    return devstore


def shopify(store, token=SHOP_TOKEN) -> ShopifyAdapter:
    return ShopifyAdapter(domain=SHOP_DOMAIN, api_url=store.base_url, credentials={"access_token": token},
                          settings={}, session=make_session(), timeout=5)


def woo(store, secret=WOO_SECRET) -> WooCommerceAdapter:
    return WooCommerceAdapter(domain="store", api_url=store.base_url,
                              credentials={"consumer_key": WOO_KEY, "consumer_secret": secret},
                              settings={}, session=make_session(), timeout=5)


def first_id(store, platform: str) -> str:
    return str(next(p for p in store.products() if p["platform"] == platform)["id"])


COPY = CopyFields(description_html="<p>New words.</p>", short_description="Short & sweet.",
                  seo_title="A title", seo_description="A meta description.")


def test_shopify_reads_a_product(store):
    product = shopify(store).get_product(first_id(store, "shopify"))
    assert product.title == "Merino Crew Tee"
    assert "merino" in product.description_html.lower()
    assert product.attributes["Size"] == "S, M, L, XL"
    assert product.variants and product.variants[0]["options"]
    assert product.record()["description"].startswith("A soft crew-neck tee")


def test_shopify_writes_description_and_seo(store):
    pid = first_id(store, "shopify")
    shopify(store).update_copy(pid, COPY)
    raw = store.product("shopify", int(pid))
    assert raw["description_html"] == COPY.description_html
    assert (raw["seo_title"], raw["seo_description"]) == (COPY.seo_title, COPY.seo_description)
    [write] = [w for w in store.writes() if w["platform"] == "shopify"]
    assert write["resource_id"] in (pid, int(pid))


def test_shopify_wrong_token_is_auth_error(store):
    with pytest.raises(StoreAuthError):
        shopify(store, token="wrong").get_product(first_id(store, "shopify"))


def test_shopify_missing_product(store):
    with pytest.raises(ProductNotFound):
        shopify(store).get_product("999999")
    with pytest.raises(ProductNotFound):
        shopify(store).update_copy("999999", COPY)


def test_shopify_throttled_body_becomes_rate_limited(store):
    store.fault("shopify", throttle=True, count=1)
    with pytest.raises(RateLimited) as info:
        shopify(store).get_product(first_id(store, "shopify"))
    assert info.value.retry_after >= 1


def test_long_retry_after_goes_back_to_the_job(store):
    store.fault("shopify", status=429, retry_after=30, count=5)
    with pytest.raises(RateLimited) as info:
        shopify(store).get_product(first_id(store, "shopify"))
    assert info.value.retry_after == 30


def test_short_429_is_retried_by_the_transport(store):
    pid = first_id(store, "woocommerce")
    store.fault("woocommerce", status=429, retry_after=1, count=1)
    assert woo(store).get_product(pid).id == pid


def test_woocommerce_5xx_is_transient(store):
    store.fault("woocommerce", status=500, count=5)
    with pytest.raises(TransientStoreError):
        woo(store).get_product(first_id(store, "woocommerce"))


def test_woocommerce_reads_and_writes_over_oauth1(store):
    pid = first_id(store, "woocommerce")
    adapter = woo(store)
    before = adapter.get_product(pid)
    assert before.title and before.attributes
    adapter.update_copy(pid, COPY)
    after = adapter.get_product(pid)
    assert after.description_html == COPY.description_html
    assert after.short_description == "<p>Short &amp; sweet.</p>"
    assert (after.seo_title, after.seo_description) == (COPY.seo_title, COPY.seo_description)
    assert after.content_hash() != before.content_hash()


def test_woocommerce_wrong_secret_is_refused(store):
    with pytest.raises(StoreAuthError):
        woo(store, secret="cs_wrong").get_product(first_id(store, "woocommerce"))


def test_woocommerce_order_note(store):
    pid = first_id(store, "woocommerce")
    order_id = store.create_order("woocommerce", line_items=[{"product_id": int(pid), "quantity": 1}], fire=False)
    woo(store).add_order_note(str(order_id), "Thanks for your order!", customer_visible=True)
    notes = store.order("woocommerce", order_id)["notes"]
    assert notes[-1]["note"] == "Thanks for your order!" and notes[-1]["customer_note"] is True


def test_shopify_order_note_is_a_metafield_not_the_buyers_note(store):
    pid = first_id(store, "shopify")
    order_id = store.create_order("shopify", line_items=[{"product_id": int(pid), "quantity": 1}],
                                  note="Leave at the back door", fire=False)
    shopify(store).add_order_note(str(order_id), "Care: hand wash cold.", customer_visible=True)
    order = store.order("shopify", order_id)
    assert order["note"] == "Leave at the back door"
    assert any(m["value"] == "Care: hand wash cold." for m in order["metafields"])


def test_short_description_is_text_never_markup(store):
    pid = first_id(store, "woocommerce")
    hostile = CopyFields(short_description="<img src=x onerror=alert(1) Great lamp")
    woo(store).update_copy(pid, hostile)
    stored = store.product("woocommerce", int(pid))["short_description"]
    assert "<img" not in stored and stored.startswith("<p>&lt;img")


def test_calls_are_paced_by_the_shared_bucket(store, redis_conn):
    from plugin.ratelimit import ShopBucket

    pid = first_id(store, "woocommerce")
    bucket = ShopBucket(redis_conn, "copydesk:ratelimit:woocommerce:test", capacity=1, rate=5)
    adapters = [woo(store), woo(store)]  # two workers, one store
    for adapter in adapters:
        adapter.bucket = bucket
    started = time.monotonic()
    for i in range(4):
        adapters[i % 2].get_product(pid)
    assert time.monotonic() - started >= 0.5  # 1 token at once, then 5 a second


def test_shopify_throttling_pauses_every_worker_of_the_shop(store, redis_conn):
    from plugin.ratelimit import for_shopify

    adapter = shopify(store)
    adapter.bucket = for_shopify(redis_conn, SHOP_DOMAIN)
    adapter.get_product(first_id(store, "shopify"))
    assert adapter.bucket.state()["capacity"] == 2000  # the store's own figures replace our defaults
    store.fault("shopify", throttle=True, count=1)
    with pytest.raises(RateLimited):
        adapter.get_product(first_id(store, "shopify"))
    assert adapter.bucket.state()["blocked_for"] > 0
    assert for_shopify(redis_conn, SHOP_DOMAIN).take(1) > 0  # another worker waits too


def test_shopify_finds_an_order_by_the_name_the_customer_sees(store):
    pid = first_id(store, "shopify")
    other = store.create_order("shopify", line_items=[{"product_id": int(pid)}], fire=False)
    order_id = store.create_order("shopify", line_items=[{"product_id": int(pid), "quantity": 2}], fire=False,
                                  customer={"email": "kim@example.com", "first_name": "Kim"})
    number = store.order("shopify", order_id)["number"]
    adapter = shopify(store)
    for typed in (f"#{number}", str(number), f" # {number} "):
        found = adapter.find_order(typed)
        assert found is not None, typed
        assert (found.id, found.name, found.email, found.first_name) == (str(order_id), f"#{number}",
                                                                         "kim@example.com", "Kim")
        assert found.product_ids == [pid] and found.lines[0].quantity == 2
    assert adapter.find_order(str(store.order("shopify", other)["number"])).id == str(other)
    assert adapter.find_order(str(order_id)) is None  # an id is not a name
    assert adapter.find_order("999999") is None
    assert adapter.find_order(f'{number}" OR name:*') is None  # never search syntax
    assert adapter.find_order("") is None


def test_woocommerce_finds_an_order_by_its_number(store):
    pid = int(first_id(store, "woocommerce"))
    plain = store.create_order("woocommerce", line_items=[{"product_id": pid}], fire=False,
                               customer={"email": "ada@example.com"})
    # A sequential-numbers plugin: the number the customer sees is not the id.
    lettered = store.create_order("woocommerce", line_items=[{"product_id": pid}], fire=False,
                                  customer={"email": "lin@example.com"},
                                  meta_data=[{"key": "_order_number", "value": "WC-2001"}])
    digits = store.create_order("woocommerce", line_items=[{"product_id": pid}], fire=False,
                                customer={"email": "sam@example.com"},
                                meta_data=[{"key": "_order_number", "value": "5001"}])
    adapter = woo(store)
    found = adapter.find_order(str(plain))
    assert found is not None and (found.id, found.name, found.email) == (str(plain), str(plain), "ada@example.com")
    assert adapter.find_order(f"#{plain}").id == str(plain)
    for typed, order_id, email in (("WC-2001", lettered, "lin@example.com"), ("wc-2001", lettered, "lin@example.com"),
                                   ("5001", digits, "sam@example.com")):
        found = adapter.find_order(typed)
        assert found is not None, typed
        assert (found.id, found.name, found.email) == (str(order_id), typed.upper(), email)
    assert adapter.find_order(str(digits)) is None  # its id is not its number
    assert adapter.find_order("WC-20") is None  # search matches loosely; the number must match exactly
    assert adapter.find_order("999999") is None
