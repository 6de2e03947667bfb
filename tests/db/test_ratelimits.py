"""The shared token buckets: however many processes lease at once, no token is handed out
twice, and the bucket refills at its rate."""

from __future__ import annotations

import asyncio

from config.settings import Settings
from tables import plans, ratelimits
from tables.plans import Limits


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
