"""Shopify's GraphQL leaky bucket and the fault queue shared by both platforms."""

from __future__ import annotations

import time


class LeakyBucket:
    """Cost-point bucket: refills at `restore_rate`/s up to `maximum`; not thread-safe (the store locks)."""

    def __init__(self, maximum: float, restore_rate: float, clock=time.monotonic) -> None:
        self.maximum = float(maximum)
        self.restore_rate = float(restore_rate)
        self._clock = clock
        self._available = float(maximum)
        self._last = clock()

    def available(self) -> float:
        now = self._clock()
        self._available = min(self.maximum, self._available + (now - self._last) * self.restore_rate)
        self._last = now
        return self._available

    def take(self, cost: float) -> bool:
        """Debit `cost` if the bucket holds it; return False (and debit nothing) otherwise."""
        if self.available() < cost:
            return False
        self._available -= cost
        return True

    def refund(self, points: float) -> None:
        self._available = min(self.maximum, self.available() + max(0.0, points))

    def status(self) -> dict:
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": int(self.available()),
            "restoreRate": self.restore_rate,
        }


class FaultQueue:
    """Faults applied to the next N API calls of one platform, oldest first."""

    def __init__(self) -> None:
        self._faults: list[dict] = []

    def add(self, fault: dict) -> None:
        count = int(fault.get("count", 1))
        if count < 1:
            raise ValueError("count: please enter a value greater than 0")
        if not any(k in fault for k in ("status", "delay_s", "throttle")):
            raise ValueError("a fault needs status, delay_s or throttle")
        if "status" in fault and int(fault["status"]) not in (400, 429, 500, 503):
            raise ValueError("status: must be 400, 429, 500 or 503")
        if int(fault.get("skip", 0)) < 0:
            raise ValueError("skip: must be 0 or more")
        self._faults.append({**fault, "count": count, "skip": int(fault.get("skip", 0))})

    def next(self) -> dict | None:
        """Consume one use of the oldest fault and return it, or None when none is pending."""
        if not self._faults:
            return None
        fault = self._faults[0]
        if fault["skip"] > 0:  # let this many calls through first (e.g. fail the write, not the read)
            fault["skip"] -= 1
            return None
        fault["count"] -= 1
        if fault["count"] <= 0:
            self._faults.pop(0)
        return dict(fault)

    def pending(self) -> list[dict]:
        return [dict(f) for f in self._faults]

    def clear(self) -> None:
        self._faults.clear()
