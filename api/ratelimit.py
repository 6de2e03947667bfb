"""Per-key request limits that hold across every ``herald api`` process.

Each key has one token bucket (its plan's rate and burst) kept in the database
(:mod:`tables.ratelimits`). A process leases a few tokens at a time and spends them from
memory, so most requests cost no database round trip; a lease it does not spend within
:data:`LEASE_SECONDS` is dropped, never returned. Tokens are taken from the shared bucket before
they are spent, so N processes together admit at most ``burst + rate * T`` requests in any
window of T seconds, plus at most one lease per process (:func:`lease_size`: a tenth of a
second of traffic, at most a tenth of the burst).

Headers follow the IETF httpapi RateLimit draft (``RateLimit-Policy: "key";q=<burst>;w=<s>``
and ``RateLimit: "key";r=<remaining>;t=<s>``) and the common ``X-RateLimit-*`` trio, where
Reset is in seconds from now (until the bucket is full again).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

from tables import ratelimits

LEASE_SECONDS = 1.0
POLICY = "key"


def lease_size(rate: float, burst: int) -> int:
    return max(1, min(int(rate / 10), burst // 10))


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int  # the burst: the most requests that may come at once
    remaining: int
    reset: int  # seconds until the bucket is full again
    window: int  # seconds the bucket takes to refill from empty
    retry_after: int  # when refused: seconds until a request may succeed

    def headers(self) -> dict[str, str]:
        found = {
            "RateLimit-Policy": f'"{POLICY}";q={self.limit};w={self.window}',
            "RateLimit": f'"{POLICY}";r={self.remaining};t={self.reset}',
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            found["Retry-After"] = str(self.retry_after)
        return found


@dataclass
class _Local:
    tokens: int = 0  # leased, not yet spent
    shared_left: float = 0.0  # the shared bucket's level at the last lease
    expires: float = 0.0  # monotonic time the lease is dropped
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class KeyLimiter:
    """One process's side of the shared buckets."""

    def __init__(self) -> None:
        self._local: dict[str, _Local] = {}

    async def check(self, bucket_id: str, *, rate: float, burst: int) -> Verdict:
        """Spend one token of ``bucket_id``, leasing more from the database when needed."""
        local = self._local.get(bucket_id)
        if local is None:
            if len(self._local) > 10_000:  # bounded: forget idle buckets rather than grow
                self._local = {k: v for k, v in self._local.items() if v.lock.locked()}
            local = self._local[bucket_id] = _Local()
        if local.tokens and time.monotonic() < local.expires:
            local.tokens -= 1  # no await since the check: no other request can take it first
            return self._verdict(local, rate, burst)
        async with local.lock:  # one lease at a time per key; the others wait for it
            if local.tokens == 0 or time.monotonic() >= local.expires:
                taken = await ratelimits.lease(
                    bucket_id, want=lease_size(rate, burst), rate=rate, burst=burst, now=time.time()
                )
                local.tokens, local.shared_left = taken.granted, taken.left
                local.expires = time.monotonic() + LEASE_SECONDS
                if taken.granted == 0:
                    return self._verdict(local, rate, burst, retry_after=taken.retry_after)
            local.tokens -= 1
            return self._verdict(local, rate, burst)

    @staticmethod
    def _verdict(local: _Local, rate: float, burst: int, retry_after: float = 0.0) -> Verdict:
        remaining = min(burst, local.tokens + math.floor(local.shared_left))
        return Verdict(
            allowed=retry_after == 0.0,
            limit=burst,
            remaining=remaining,
            reset=math.ceil((burst - local.tokens - local.shared_left) / rate),
            window=math.ceil(burst / rate),
            retry_after=max(1, math.ceil(retry_after)),
        )
