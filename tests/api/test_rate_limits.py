"""Per-key request limits as a client meets them: the headers on every answer, 429 with
Retry-After past the burst, a bucket per key, and plans that change the numbers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.producer import MemorySendProducer
from config.settings import Settings
from streams.records import SendLimit
from tables import plans
from tables.plans import Limits
from tests.api.support import MISSING_MESSAGE, Tenant
from tests.support.seed import SEED

BURST = 5


@pytest.fixture
async def slow_client(settings: Settings, tenant: Tenant) -> AsyncIterator[AsyncTestClient[Any]]:
    """An API whose default is 0.5 request per second per key, in bursts of five."""
    strict = settings.model_copy(update={"key_request_rate": 0.5, "key_request_burst": BURST})
    async with AsyncTestClient(app=create_app(strict, MemorySendProducer())) as client:
        yield client


async def test_every_answer_to_a_key_carries_its_rate_limit(
    slow_client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    first = await slow_client.get(MISSING_MESSAGE, headers=tenant.auth)
    second = await slow_client.get(MISSING_MESSAGE, headers=tenant.auth)

    assert first.status_code == 404  # errors count and carry the headers too
    assert first.headers["ratelimit-policy"] == f'"key";q={BURST};w=10'
    assert first.headers["x-ratelimit-limit"] == str(BURST)
    assert first.headers["x-ratelimit-remaining"] == str(BURST - 1)
    assert second.headers["x-ratelimit-remaining"] == str(BURST - 2)
    assert second.headers["ratelimit"] == f'"key";r={BURST - 2};t=4'
    assert int(second.headers["x-ratelimit-reset"]) == 4


async def test_past_the_burst_a_key_gets_429_with_retry_after(
    slow_client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    statuses = [
        (await slow_client.get(MISSING_MESSAGE, headers=tenant.auth)).status_code
        for _ in range(BURST)
    ]
    refused = await slow_client.get(MISSING_MESSAGE, headers=tenant.auth)

    assert statuses == [404] * BURST
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/rate-limited")
    assert refused.headers["retry-after"] == "2"  # one token every two seconds
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit"].startswith('"key";r=0;')


async def test_each_key_has_its_own_bucket_and_bad_keys_count_against_none(
    slow_client: AsyncTestClient[Any],
    tenant: Tenant,
    make_tenant: Callable[[str], Awaitable[Tenant]],
) -> None:
    other = await make_tenant("globex")
    for _ in range(BURST):
        await slow_client.get(MISSING_MESSAGE, headers=tenant.auth)
    bad = await slow_client.get(MISSING_MESSAGE, headers={"Authorization": "Bearer nope"})

    assert (await slow_client.get(MISSING_MESSAGE, headers=tenant.auth)).status_code == 429
    assert (await slow_client.get(MISSING_MESSAGE, headers=other.auth)).status_code == 404
    assert bad.status_code == 401
    assert "x-ratelimit-limit" not in bad.headers


async def test_a_workspaces_plan_sets_its_limits(
    slow_client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    await plans.set_plan("tiny", Limits(key_rate=0.1, key_burst=2, send_rate=1, send_burst=1))
    await plans.assign_plan(tenant.workspace_id, "tiny")

    seen = await slow_client.get("/v1/workspace", headers=tenant.auth)
    await slow_client.get("/v1/workspace", headers=tenant.auth)
    refused = await slow_client.get("/v1/workspace", headers=tenant.auth)

    assert seen.status_code == 200
    assert seen.json()["plan"] == "tiny"
    assert seen.json()["limits"] == {
        "key_requests_per_second": 0.1,
        "key_burst": 2,
        "sends_per_second": 1.0,
        "send_burst": 1,
    }
    assert seen.headers["x-ratelimit-limit"] == "2"
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "10"


async def test_a_send_carries_its_workspaces_send_rate_to_dispatch(
    settings: Settings, tenant: Tenant
) -> None:
    producer = MemorySendProducer()
    await plans.set_plan("bulk", Limits(key_rate=10, key_burst=10, send_rate=750, send_burst=900))
    await plans.assign_plan(tenant.workspace_id, "bulk")

    async with AsyncTestClient(app=create_app(settings, producer)) as client:
        response = await client.post("/v1/emails", json=SEED, headers=tenant.auth)

    assert response.status_code == 202
    assert producer.records[0].limit == SendLimit(rate=750.0, burst=900)
