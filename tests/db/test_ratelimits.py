"""The shared token buckets: however many processes lease at once, no token is handed out
twice, and the bucket refills at its rate. A process's limiter renews its lease before a key in
steady use runs out, so that key's requests do not wait for the database."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.ratelimit import LEASE_SECONDS, RENEW_AHEAD, KeyLimiter
from config.settings import Settings
from tables import plans, ratelimits
from tables.plans import Limits

RATE, BURST = 100.0, 100  # a lease of 10 tokens


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Leases:
    """The real lease, counted, that can be held shut to show who waits for it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.wants: list[int] = []
        self.open = asyncio.Event()
        self.open.set()
        real = ratelimits.lease

        async def lease(bucket_id: str, *, want: int, **kwargs: Any) -> ratelimits.Lease:
            self.wants.append(want)
            await self.open.wait()
            return await real(bucket_id, want=want, **kwargs)

        monkeypatch.setattr(ratelimits, "lease", lease)


async def spend(limiter: KeyLimiter, n: int) -> None:
    """``n`` requests of the key, each of which must be answered without waiting."""
    for _ in range(n):
        verdict = await asyncio.wait_for(limiter.check("key_k", rate=RATE, burst=BURST), 2.0)
        assert verdict.allowed


async def test_a_key_in_steady_use_does_not_wait_when_its_lease_expires(
    db: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    leases, clock = Leases(monkeypatch), Clock()
    limiter = KeyLimiter(clock)
    await spend(limiter, 1)  # the first lease
    clock.now += LEASE_SECONDS - RENEW_AHEAD / 2
    await spend(limiter, 1)  # this request renews
    leases.open.clear()
    clock.now += RENEW_AHEAD  # past the first lease's expiry

    await spend(limiter, 5)

    assert leases.wants == [10, 2]  # the renewal only tops the process up to one lease


async def test_a_request_renews_when_tokens_run_low_and_the_others_spend_what_is_left(
    db: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    leases = Leases(monkeypatch)
    limiter = KeyLimiter(Clock())
    await spend(limiter, 7)  # 3 of the 10 left
    leases.open.clear()
    renewing = asyncio.create_task(limiter.check("key_k", rate=RATE, burst=BURST))
    await asyncio.sleep(0)  # it spends a token and waits for the database

    await spend(limiter, 2)  # the last two do not wait for it
    leases.open.set()
    assert (await renewing).allowed
    await spend(limiter, 5)  # from the 8 it leased, down to 3: no renewal yet

    assert leases.wants == [10, 8]  # it topped the process up to one lease


async def test_an_idle_keys_tokens_are_dropped_after_the_lease(
    db: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    leases, clock = Leases(monkeypatch), Clock()
    limiter = KeyLimiter(clock)
    await spend(limiter, 1)
    clock.now += LEASE_SECONDS

    await spend(limiter, 1)

    assert leases.wants == [10, 10]  # a whole new lease; the nine left were not kept


async def test_concurrent_leases_never_grant_more_than_the_burst(db: Settings) -> None:
    now = 1_000_000.0
    leases = await asyncio.gather(
        *(ratelimits.lease("key_a", want=3, rate=1.0, burst=20, now=now) for _ in range(20))
    )

    assert sum(lease.granted for lease in leases) == 20
    refused = [lease for lease in leases if lease.granted == 0]
    assert refused and all(0 < lease.retry_after <= 1.0 for lease in refused)


async def test_a_bucket_refills_at_its_rate_up_to_its_burst(db: Settings) -> None:
    first = await ratelimits.lease("key_b", want=10, rate=2.0, burst=10, now=100.0)
    empty = await ratelimits.lease("key_b", want=10, rate=2.0, burst=10, now=100.0)
    later = await ratelimits.lease("key_b", want=10, rate=2.0, burst=10, now=102.0)
    much_later = await ratelimits.lease("key_b", want=50, rate=2.0, burst=10, now=1000.0)

    assert (first.granted, empty.granted, later.granted) == (10, 0, 4)
    assert empty.retry_after == 0.5
    assert much_later.granted == 10


async def test_buckets_are_separate(db: Settings) -> None:
    await ratelimits.lease("key_c", want=5, rate=1.0, burst=5, now=0.0)

    assert (await ratelimits.lease("key_d", want=5, rate=1.0, burst=5, now=0.0)).granted == 5


async def test_a_workspace_gets_its_plans_limits_or_the_defaults(db: Settings) -> None:
    from tables import keys

    defaults = Limits(key_rate=10, key_burst=20, send_rate=5, send_burst=10)
    workspace = await keys.create_workspace("acme")
    assert await plans.limits_of(workspace, defaults) == defaults

    pro = Limits(key_rate=1000, key_burst=2000, send_rate=500, send_burst=1000)
    await plans.set_plan("pro", pro)
    await plans.assign_plan(workspace, "pro")
    assert await plans.limits_of(workspace, defaults) == pro

    faster = Limits(key_rate=2000, key_burst=4000, send_rate=900, send_burst=1800)
    await plans.set_plan("pro", faster)  # changing a plan changes its workspaces
    assert await plans.limits_of(workspace, defaults) == faster
    await plans.assign_plan(workspace, None)
    assert await plans.limits_of(workspace, defaults) == defaults
