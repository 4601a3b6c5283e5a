"""Per-shop token buckets against a real redis-server. Timing asserts use tolerances, never exact values."""

from __future__ import annotations

import threading
import time

import pytest

from plugin.errors import RateLimited
from plugin.ratelimit import IDLE_TTL, ShopBucket, for_shopify, for_woocommerce

EPS = 0.05  # seconds of slack for scheduling and round trips


def drain(bucket: ShopBucket) -> None:
    assert bucket.take(bucket.state()["tokens"]) == 0.0


def test_new_bucket_is_full_then_refills_at_the_rate(redis_conn):
    bucket = ShopBucket(redis_conn, "copydesk:ratelimit:test:refill", capacity=5, rate=20)
    for _ in range(5):
        assert bucket.take() == 0.0
    assert bucket.take() == pytest.approx(0.05, abs=0.02)  # empty now: one token is 1/20 s away
    start = time.monotonic()
    time.sleep(0.15)
    tokens = bucket.state()["tokens"]
    elapsed = time.monotonic() - start
    assert 20 * 0.15 - 0.5 <= tokens <= 20 * elapsed + 1  # ~3 tokens after 0.15 s
    time.sleep(0.5)
    assert bucket.state()["tokens"] == pytest.approx(5.0)  # capped at capacity, not 13


def test_take_when_short_returns_the_wait_and_takes_nothing(redis_conn):
    bucket = ShopBucket(redis_conn, "copydesk:ratelimit:test:short", capacity=10, rate=2)
    assert bucket.take(10) == 0.0
    first = bucket.take(4)
    assert 2.0 - EPS <= first <= 2.0
    second = bucket.take(4)
    assert 2.0 - 2 * EPS <= second <= first  # still ~2 s: the refused call took nothing
    assert bucket.state()["tokens"] < 0.5
    with pytest.raises(ValueError, match="capacity"):
        bucket.take(11)


def test_wait_and_take_sleeps_for_a_short_wait(redis_conn):
    bucket = ShopBucket(redis_conn, "copydesk:ratelimit:test:sleep", capacity=2, rate=10)
    drain(bucket)
    start = time.monotonic()
    bucket.wait_and_take(1, max_wait=1.0)
    elapsed = time.monotonic() - start
    assert 0.1 - EPS <= elapsed <= 0.1 + 0.3
    assert bucket.state()["tokens"] < 0.5  # it took the token it waited for


def test_wait_and_take_raises_rate_limited_past_max_wait(redis_conn):
    bucket = ShopBucket(redis_conn, "copydesk:ratelimit:test:raise", capacity=2, rate=1)
    drain(bucket)
    start = time.monotonic()
    with pytest.raises(RateLimited) as info:
        bucket.wait_and_take(1, max_wait=0.2)
    assert time.monotonic() - start < 0.1  # raised at once instead of sleeping into the job
    assert 1.0 - EPS <= info.value.retry_after <= 1.0
    assert bucket.state()["tokens"] < 0.2  # nothing was taken


def test_observe_lowers_the_level_and_adopts_the_stores_rate(redis_conn):
    bucket = for_shopify(redis_conn, "test-shop.myshopify.com")
    assert bucket.key == "copydesk:ratelimit:shopify:test-shop.myshopify.com"
    assert bucket.state() == pytest.approx({"tokens": 1000, "capacity": 1000, "rate": 100, "blocked_for": 0})
    bucket.observe(currently_available=200, maximum_available=2000, restore_rate=200)
    # Another worker building the bucket from the defaults sees the store's figures, not 1000/100.
    other = for_shopify(redis_conn, "test-shop.myshopify.com")
    state = other.state()
    assert state["capacity"] == 2000 and state["rate"] == 200
    assert 200 <= state["tokens"] <= 200 + 200 * 0.2
    assert 0.5 - EPS <= other.take(state["tokens"] + 100) <= 0.5  # 100 short at 200 points/s
    # A store that reports more than we hold does not raise our level.
    assert other.take(150) == 0.0
    before = other.state()["tokens"]
    other.observe_throttle_status({"currentlyAvailable": 2000, "maximumAvailable": 2000, "restoreRate": 200})
    assert other.state()["tokens"] <= before + 200 * 0.2
    other.observe_throttle_status(None)  # a response without cost info changes nothing
    assert other.state()["rate"] == 200


def test_refund_returns_unspent_tokens_up_to_capacity(redis_conn):
    bucket = ShopBucket(redis_conn, "copydesk:ratelimit:test:refund", capacity=100, rate=1)
    assert bucket.take(100) == 0.0
    bucket.refund(98)  # requested 100, actually charged 2
    assert 98 <= bucket.state()["tokens"] <= 98 + 0.5
    bucket.refund(1000)
    assert bucket.state()["tokens"] == pytest.approx(100)


def test_block_for_blocks_every_taker_then_releases(redis_conn):
    bucket = for_woocommerce(redis_conn, "shop.example", requests_per_second=50, burst=5)
    other = for_woocommerce(redis_conn, "shop.example", requests_per_second=50, burst=5)
    bucket.block_for(0.3)
    wait = other.take()
    assert 0.3 - EPS <= wait <= 0.3
    bucket.block_for(0.1)  # a shorter block never shortens the running one
    assert other.state()["blocked_for"] > 0.2
    time.sleep(wait + 0.02)
    assert other.take() == 0.0
    assert other.state()["blocked_for"] == 0.0


def test_keys_expire_when_idle(redis_conn):
    bucket = for_woocommerce(redis_conn, "https://shop.example")
    assert bucket.take() == 0.0
    assert redis_conn.exists("copydesk:ratelimit:woocommerce:https://shop.example")
    assert 0 < redis_conn.ttl(bucket.key) <= IDLE_TTL
    bucket.block_for(IDLE_TTL + 100)  # a block outlives the idle expiry
    assert redis_conn.ttl(bucket.key) > IDLE_TTL
    with pytest.raises(ValueError):
        for_woocommerce(redis_conn, "shop.example", requests_per_second=0)
    with pytest.raises(ValueError):
        for_shopify(redis_conn, "")


def test_concurrent_workers_never_exceed_capacity_plus_refill(redis_server):
    """4 threads, each with its own Redis client (as separate workers would have), hammer one bucket."""
    capacity, rate, run_for = 5.0, 20.0, 1.5
    taken = [0] * 4

    def hammer(i: int, stop_at: float) -> None:
        bucket = ShopBucket(redis_server.client(), "copydesk:ratelimit:test:shared", capacity=capacity, rate=rate)
        while time.monotonic() < stop_at:
            if bucket.take(1) == 0.0:
                taken[i] += 1

    start = time.monotonic()
    threads = [threading.Thread(target=hammer, args=(i, start + run_for)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    total = sum(taken)
    assert total <= capacity + rate * elapsed
    assert total >= capacity + rate * run_for * 0.8  # the limit was used, not just refused
    assert all(n > 0 for n in taken)  # every worker got a share
