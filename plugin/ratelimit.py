"""Per-shop rate limits: one token bucket per store, kept in Redis so every worker process and machine
paces against the same budget (platforms.md 1.7, 2.6).

The bucket is a Redis hash under `copydesk:ratelimit:{platform}:{shop}`, changed only by one Lua script
that reads the clock with Redis `TIME`, so the workers' own clocks never matter. A missing key is a full
bucket; a key expires once idle long enough to have refilled anyway (and never while blocked).

Shopify: `for_shopify()` starts from Standard-plan figures; `observe()` then adopts the store's own
`throttleStatus` (capacity and restore rate from Shopify win; the level is the lower of ours and theirs).
WooCommerce has no limit of its own, so `for_woocommerce()` self-paces to spare shared WordPress hosts.
"""

from __future__ import annotations

import math
import time
import weakref

from plugin.errors import RateLimited

KEY_PREFIX = "copydesk:ratelimit"
IDLE_TTL = 3600
"""Seconds: a bucket untouched this long is deleted (kept longer if refilling or a block takes longer)."""
MAX_WAIT = 5.0
"""Seconds: default longest sleep in `wait_and_take`; longer waits go back to RQ as `RateLimited`."""
SHOPIFY_CAPACITY, SHOPIFY_RATE = 1000.0, 100.0
"""GraphQL points and points/second of the Standard plan, used until the store's throttleStatus is seen."""

# KEYS[1] bucket; ARGV: op, capacity, rate, idle_ttl, then op arguments.
# Returns {result, tokens, capacity, rate, blocked_for} as strings (Lua numbers would be truncated to ints).
_LUA = """
local key, op = KEYS[1], ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local h = redis.call('HMGET', key, 'tokens', 'ts', 'cap', 'rate', 'until', 'observed')
local cap, rate = tonumber(ARGV[2]), tonumber(ARGV[3])
if h[6] then cap, rate = tonumber(h[3]), tonumber(h[4]) end
local tokens = tonumber(h[1]) or cap
local ts = tonumber(h[2]) or now
local blocked = tonumber(h[5]) or 0
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local result = 0
if op == 'take' then
  local cost = tonumber(ARGV[5])
  if cost > cap then result = -1
  elseif now < blocked then result = blocked - now + math.max(0, cost - tokens - (blocked - now) * rate) / rate
  elseif tokens >= cost then tokens = tokens - cost
  else result = (cost - tokens) / rate end
elseif op == 'observe' then
  cap, rate = tonumber(ARGV[6]), tonumber(ARGV[7])
  tokens = math.min(tokens, tonumber(ARGV[5]), cap)
  redis.call('HSET', key, 'observed', '1')
elseif op == 'refund' then
  tokens = math.min(cap, tokens + tonumber(ARGV[5]))
elseif op == 'block' then
  blocked = math.max(blocked, now + tonumber(ARGV[5]))
end
local f = function(x) return string.format('%.17g', x) end
redis.call('HSET', key, 'tokens', f(tokens), 'ts', f(now), 'cap', f(cap), 'rate', f(rate), 'until', f(blocked))
local ttl = math.max(tonumber(ARGV[4]), (cap - tokens) / rate + 1, blocked - now + 1)
redis.call('EXPIRE', key, math.ceil(ttl))
return {f(result), f(tokens), f(cap), f(rate), f(math.max(0, blocked - now))}
"""

_scripts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _script(conn):
    """The bucket script, registered once per Redis client (EVALSHA, reloaded by redis-py if flushed)."""
    script = _scripts.get(conn)
    if script is None:
        script = _scripts[conn] = conn.register_script(_LUA)
    return script


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not value > 0 or math.isinf(value):
        raise ValueError(f"{name}: must be a positive finite number, got {value!r}")
    return value


def _non_negative(name: str, value: float) -> float:
    value = float(value)
    if not value >= 0 or math.isinf(value):
        raise ValueError(f"{name}: must be a non-negative finite number, got {value!r}")
    return value


class ShopBucket:
    """A token bucket shared by all workers: `capacity` tokens at most, refilled at `rate` tokens/second.

    `capacity` and `rate` apply until `observe()` stores the platform's own figures in the bucket.
    """

    def __init__(self, conn, key: str, *, capacity: float, rate: float, idle_ttl: int = IDLE_TTL):
        if conn is None:
            raise TypeError("conn: a Redis client is required")
        if not key:
            raise ValueError("key: must not be empty")
        self.conn = conn
        self.key = key
        self.capacity = _positive("capacity", capacity)
        self.rate = _positive("rate", rate)
        self.idle_ttl = int(_positive("idle_ttl", idle_ttl))

    def _run(self, op: str, *args: float) -> list[float]:
        argv = [op, repr(self.capacity), repr(self.rate), self.idle_ttl, *(repr(float(a)) for a in args)]
        return [float(v) for v in _script(self.conn)(keys=[self.key], args=argv)]

    def take(self, cost: float = 1.0) -> float:
        """Take `cost` tokens and return 0.0, or take nothing and return the seconds until they'd be there.

        Raises ValueError if `cost` exceeds the bucket's capacity (it could never be served).
        """
        wait = self._run("take", _non_negative("cost", cost))[0]
        if wait < 0:
            raise ValueError(f"cost: {cost:g} exceeds the capacity of {self.key}")
        return wait

    def wait_and_take(self, cost: float = 1.0, max_wait: float = MAX_WAIT) -> None:
        """Take `cost` tokens, sleeping while the wait fits in `max_wait` seconds (counted from the call).

        Raises RateLimited(retry_after=...) as soon as the wait would go past `max_wait`, having taken
        nothing, so the job can hand the wait back to RQ instead of parking the worker.
        """
        deadline = time.monotonic() + _non_negative("max_wait", max_wait)
        while True:
            wait = self.take(cost)
            if wait <= 0:
                return
            if time.monotonic() + wait > deadline:
                raise RateLimited(f"rate limit for {self.key}: {wait:.2f}s to wait", retry_after=wait)
            time.sleep(wait)

    def observe(self, currently_available: float, maximum_available: float, restore_rate: float) -> None:
        """Adopt the platform's view (Shopify `extensions.cost.throttleStatus`): its capacity and restore
        rate replace ours for every worker, and the level drops to `currently_available` if that is lower."""
        self._run("observe", _non_negative("currently_available", currently_available),
                  _positive("maximum_available", maximum_available), _positive("restore_rate", restore_rate))

    def observe_throttle_status(self, status: dict | None) -> None:
        """`observe()` from a raw throttleStatus dict; ignores a missing or malformed one."""
        try:
            self.observe(status["currentlyAvailable"], status["maximumAvailable"], status["restoreRate"])
        except (TypeError, KeyError, ValueError):
            pass

    def refund(self, amount: float) -> None:
        """Give back tokens taken but not spent (Shopify: requestedQueryCost taken, actualQueryCost charged)."""
        self._run("refund", _non_negative("amount", amount))

    def block_for(self, seconds: float) -> None:
        """After a 429 with Retry-After: no worker takes tokens for `seconds` (an earlier-ending block never
        shortens a longer one)."""
        self._run("block", _non_negative("seconds", seconds))

    def state(self) -> dict[str, float]:
        """The bucket as Redis sees it now: tokens, capacity, rate, and blocked_for (seconds left)."""
        _, tokens, capacity, rate, blocked_for = self._run("peek")
        return {"tokens": tokens, "capacity": capacity, "rate": rate, "blocked_for": blocked_for}


def bucket_key(platform: str, shop: str) -> str:
    if not platform or not shop or any(c.isspace() for c in shop):
        raise ValueError(f"shop: a non-empty platform and shop without whitespace are required, got {shop!r}")
    return f"{KEY_PREFIX}:{platform}:{shop}"


def for_shopify(conn, shop_domain: str) -> ShopBucket:
    """GraphQL Admin cost bucket of one shop; Standard-plan figures until `observe()` corrects them."""
    return ShopBucket(conn, bucket_key("shopify", shop_domain), capacity=SHOPIFY_CAPACITY, rate=SHOPIFY_RATE)


def for_woocommerce(conn, store_key: str, requests_per_second: float = 2.0, burst: float = 5.0) -> ShopBucket:
    """Self-imposed request pacing for one WooCommerce store (one token per request)."""
    return ShopBucket(conn, bucket_key("woocommerce", store_key), capacity=_positive("burst", burst),
                      rate=_positive("requests_per_second", requests_per_second))
