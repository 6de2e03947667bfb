"""Per-key request limits that hold across every ``herald api`` process.

Each key has one token bucket (its plan's rate and burst) kept in the database
(:mod:`tables.ratelimits`). A process leases a few tokens at a time and spends them from
memory, so most requests cost no database round trip; tokens a process has not spent
:data:`LEASE_SECONDS` after its last lease are dropped, never returned. Tokens are taken from the
shared bucket before they are spent, so N processes together admit at most
``burst + rate * T`` requests in any window of T seconds, plus at most one lease per process
(:func:`lease_size`: a tenth of a second of traffic, at most a tenth of the burst).

A key in steady use never waits for the database: when its tokens run low or its lease is about
to expire, the request that notices leases what brings the process back to one lease, while the
key's other requests go on spending what is left. Only when nothing is left do they wait.

Headers follow the IETF httpapi RateLimit draft (``RateLimit-Policy: "key";q=<burst>;w=<s>``
and ``RateLimit: "key";r=<remaining>;t=<s>``) and the common ``X-RateLimit-*`` trio, where
Reset is in seconds from now (until the bucket is full again).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tables import ratelimits

LEASE_SECONDS = 1.0
RENEW_AHEAD = 0.25  # seconds before a lease expires that a request renews it
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
    expires: float = 0.0  # the clock's time the tokens held are dropped
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class KeyLimiter:
    """One process's side of the shared buckets."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._local: dict[str, _Local] = {}
        self._clock = clock

    async def check(self, bucket_id: str, *, rate: float, burst: int) -> Verdict:
        """Spend one token of ``bucket_id``, leasing more from the database when needed."""
        local = self._local.get(bucket_id)
        if local is None:
            if len(self._local) > 10_000:  # bounded: forget idle buckets rather than grow
                self._local = {k: v for k, v in self._local.items() if v.lock.locked()}
            local = self._local[bucket_id] = _Local()
        now = self._clock()
        if local.tokens and now < local.expires:
            local.tokens -= 1  # no await since the check: no other request can take it first
            if not local.lock.locked() and _running_low(local, now, lease_size(rate, burst)):
                async with local.lock:  # this request renews; the others spend what is left
                    await self._top_up(local, bucket_id, rate, burst)
            return self._verdict(local, rate, burst)
        async with local.lock:  # nothing left: every request of the key waits for one lease
            if local.tokens == 0 or self._clock() >= local.expires:
                local.tokens = 0  # an expired lease is dropped
                taken = await self._top_up(local, bucket_id, rate, burst)
                if taken.granted == 0:
                    return self._verdict(local, rate, burst, retry_after=taken.retry_after)
            local.tokens -= 1
            return self._verdict(local, rate, burst)

    async def _top_up(
        self, local: _Local, bucket_id: str, rate: float, burst: int
    ) -> ratelimits.Lease:
        """Lease what brings the tokens held back to one lease, and hold them all for
        :data:`LEASE_SECONDS` from now."""
        want = lease_size(rate, burst) - local.tokens  # at least 1: see the callers
        taken = await ratelimits.lease(
            bucket_id, want=want, rate=rate, burst=burst, now=time.time()
        )
        local.tokens += taken.granted
        local.shared_left = taken.left
        local.expires = self._clock() + LEASE_SECONDS
        return taken

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


def _running_low(local: _Local, now: float, size: int) -> bool:
    """Whether a lease of ``size`` should be renewed ahead: a quarter of it left, or close to
    its expiry."""
    if local.tokens >= size:  # already a whole lease (the plan may have shrunk it)
        return False
    return local.tokens <= size // 4 or now >= local.expires - RENEW_AHEAD
