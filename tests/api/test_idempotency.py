"""Idempotency-Key on POST /v1/emails: what a client retrying a request sees, and what reaches
the queue."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest
from httpx import Response
from litestar.testing import AsyncTestClient

from api import idempotency as api_idempotency
from api.app import create_app
from api.producer import MemorySendProducer
from api.schemas import AcceptedMessage, SendAccepted, new_id
from config.settings import Settings
from streams.records import SendRequested
from tables import idempotency
from tables.idempotency import Claimed, StoredResponse
from tests.api.support import Tenant
from tests.support.seed import SEED

PROBLEMS = "https://herald.dev/problems/"
DEADLINE = 10.0  # seconds any wait in these tests may take before it counts as a hang


def keyed(tenant: Tenant, key: str = "order-1234") -> dict[str, str]:
    return {**tenant.auth, "Idempotency-Key": key}


def replayed(response: Response) -> bool:
    return response.headers.get("idempotent-replayed") == "true"


async def test_a_repeat_gets_the_first_answer_and_sends_nothing(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    first = await client.post("/v1/emails", json=SEED, headers=keyed(tenant))
    again = await client.post("/v1/emails", json=SEED, headers=keyed(tenant))

    assert first.status_code == 202, first.text
    assert not replayed(first)
    assert again.status_code == 202
    assert again.content == first.content
    assert replayed(again)
    assert again.headers["content-type"].startswith("application/json")
    assert len(producer.records) == 1


async def test_without_a_key_every_request_is_a_new_send(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    first = await client.post("/v1/emails", json=SEED, headers=tenant.auth)
    again = await client.post("/v1/emails", json=SEED, headers=tenant.auth)

    assert first.json()["id"] != again.json()["id"]
    assert len(producer.records) == 2


async def test_the_same_key_with_another_body_is_refused(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    await client.post("/v1/emails", json=SEED, headers=keyed(tenant))
    other = await client.post(
        "/v1/emails", json={**SEED, "subject": "Another"}, headers=keyed(tenant)
    )

    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"] == PROBLEMS + "idempotency-mismatch"
    assert len(producer.records) == 1


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "caf\x7f"])
async def test_a_malformed_key_is_a_400_and_sends_nothing(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer, key: str
) -> None:
    response = await client.post("/v1/emails", json=SEED, headers=keyed(tenant, key))

    assert response.status_code == 400
    assert response.json()["type"] == PROBLEMS + "invalid-idempotency-key"
    assert producer.records == []


async def test_a_key_of_255_printable_characters_is_accepted(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    key = "".join(chr(0x20 + i % 95) for i in range(255)).strip()

    response = await client.post("/v1/emails", json=SEED, headers=keyed(tenant, key))

    assert response.status_code == 202, response.text


async def test_an_invalid_request_stores_nothing(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    bad = await client.post("/v1/emails", json={**SEED, "to": "nope"}, headers=keyed(tenant))
    good = await client.post("/v1/emails", json=SEED, headers=keyed(tenant))

    assert bad.status_code == 422
    assert bad.json()["type"] == PROBLEMS + "validation"
    assert good.status_code == 202, good.text
    assert not replayed(good)
    assert len(producer.records) == 1


async def test_a_send_kafka_refused_runs_again_on_retry(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    producer.fail = True
    refused = await client.post("/v1/emails", json=SEED, headers=keyed(tenant))
    producer.fail = False
    retried = await client.post("/v1/emails", json=SEED, headers=keyed(tenant))

    assert refused.status_code == 503
    assert retried.status_code == 202, retried.text
    assert not replayed(retried)
    assert len(producer.records) == 1


async def test_keys_belong_to_their_workspace(
    client: AsyncTestClient[Any],
    tenant: Tenant,
    make_tenant: Callable[[str], Awaitable[Tenant]],
    producer: MemorySendProducer,
) -> None:
    other = await make_tenant("globex")

    ours = await client.post("/v1/emails", json=SEED, headers=keyed(tenant))
    theirs = await client.post("/v1/emails", json=SEED, headers=keyed(other))

    assert ours.status_code == theirs.status_code == 202
    assert not replayed(theirs)
    assert ours.json()["id"] != theirs.json()["id"]
    assert [r.workspace_id for r in producer.records] == [tenant.workspace_id, other.workspace_id]


async def test_an_expired_key_runs_again(settings: Settings, tenant: Tenant) -> None:
    producer = MemorySendProducer()
    brief = settings.model_copy(update={"idempotency_ttl": 1e-6})
    async with AsyncTestClient(app=create_app(brief, producer)) as client:
        first = await client.post("/v1/emails", json=SEED, headers=keyed(tenant))
        again = await client.post("/v1/emails", json=SEED, headers=keyed(tenant))

    assert first.status_code == again.status_code == 202
    assert not replayed(again)
    assert first.json()["id"] != again.json()["id"]
    assert len(producer.records) == 2


async def test_another_api_process_sees_the_key(
    client: AsyncTestClient[Any], settings: Settings, tenant: Tenant
) -> None:
    first = await client.post("/v1/emails", json=SEED, headers=keyed(tenant))

    elsewhere = MemorySendProducer()
    async with AsyncTestClient(app=create_app(settings, elsewhere)) as restarted:
        again = await restarted.post("/v1/emails", json=SEED, headers=keyed(tenant))

    assert again.status_code == 202
    assert replayed(again)
    assert again.content == first.content
    assert elsewhere.records == []


async def test_a_claim_abandoned_by_a_dead_process_is_resent_under_its_ids(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    # A process claimed the key with its planned answer, then died before recording the
    # outcome (perhaps after Kafka acknowledged): the retry must reuse the planned ids.
    body = msgspec.json.encode(SEED)
    plan = msgspec.json.encode(
        SendAccepted(
            id=new_id("req"), messages=[AcceptedMessage(new_id("msg"), "customer@example.com")]
        )
    )
    abandoned = await idempotency.claim(
        tenant.workspace_id,
        "order-1234",
        fingerprint=api_idempotency.fingerprint("POST", "/v1/emails", body),
        planned=StoredResponse(202, plan.decode()),
        now=time.time() - 2 * api_idempotency.LOCK_SECONDS,
        lock_seconds=api_idempotency.LOCK_SECONDS,
        ttl=3600.0,
    )
    assert isinstance(abandoned, Claimed)
    headers = {**keyed(tenant), "Content-Type": "application/json"}

    retried = await client.post("/v1/emails", content=body, headers=headers)
    again = await client.post("/v1/emails", content=body, headers=headers)

    assert retried.status_code == 202, retried.text
    assert retried.content == plan
    assert replayed(again)
    assert again.content == plan
    (record,) = producer.records
    planned = msgspec.json.decode(plan, type=SendAccepted)
    assert record.request_id == planned.id
    assert [r.message_id for r in record.recipients] == [m.id for m in planned.messages]


class GatedProducer(MemorySendProducer):
    """Holds every send until ``gate`` opens. Thread events: the app runs in the test
    client's own thread and event loop."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    async def send_requested(self, record: SendRequested) -> None:
        self.entered.set()
        await asyncio.to_thread(self.gate.wait, DEADLINE)
        await super().send_requested(record)


async def test_a_duplicate_while_the_first_is_running_gets_409(
    settings: Settings, tenant: Tenant
) -> None:
    producer = GatedProducer()
    async with AsyncTestClient(app=create_app(settings, producer)) as client:

        def post() -> Response:
            # The test client runs each request to its end before returning, so the first
            # one goes from another thread to overlap with the second.
            return asyncio.run(client.post("/v1/emails", json=SEED, headers=keyed(tenant)))

        first = asyncio.create_task(asyncio.to_thread(post))
        try:
            assert await asyncio.to_thread(producer.entered.wait, DEADLINE)
            duplicate = await client.post("/v1/emails", json=SEED, headers=keyed(tenant))
        finally:
            producer.gate.set()
        done = await asyncio.wait_for(first, DEADLINE)
        after = await client.post("/v1/emails", json=SEED, headers=keyed(tenant))

    assert duplicate.status_code == 409
    assert duplicate.json()["type"] == PROBLEMS + "idempotency-in-flight"
    assert done.status_code == 202, done.text
    assert replayed(after)
    assert after.content == done.content
    assert len(producer.records) == 1
