"""POST /v1/emails/batch: one result per email, in order, and only valid emails queued."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import msgspec
from litestar.testing import AsyncTestClient

from api import idempotency as api_idempotency
from api.app import create_app
from api.errors import QueueUnavailable
from api.producer import MemorySendProducer
from api.schemas import AcceptedMessage, BatchAccepted, BatchItemResult, new_id
from config.settings import Settings
from streams.records import SendRequested
from tables import idempotency
from tables.idempotency import Claimed, StoredResponse
from tests.api.support import Tenant
from tests.support.seed import SEED

PROBLEMS = "https://herald.dev/problems/"
REQUEST_ID = re.compile(r"req_[0-9a-z]{26}")


def to(address: str) -> dict[str, Any]:
    return {**SEED, "to": [address]}


async def test_good_emails_are_sent_and_bad_ones_answered_in_place(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    batch = [
        to("ada@example.com"),
        {**SEED, "to": [3]},  # a type error
        {**SEED, "to": ["nope"], "subject": ""},  # two validation errors
        "not an email",
        to("bob@example.com"),
    ]

    response = await client.post("/v1/emails/batch", json=batch, headers=tenant.auth)

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [item["index"] for item in data] == [0, 1, 2, 3, 4]
    assert [item["status"] for item in data] == [202, 422, 422, 400, 202]
    assert data[1]["error"]["type"] == PROBLEMS + "validation"
    assert data[1]["error"]["status"] == 422
    assert [e["field"] for e in data[1]["error"]["errors"]] == ["to[0]"]
    assert {e["field"] for e in data[2]["error"]["errors"]} == {"to[0]", "subject"}
    assert data[3]["error"]["type"] == PROBLEMS + "malformed-body"
    assert all(data[i]["error"]["request_id"] == response.headers["x-request-id"] for i in (1, 2))
    assert "id" not in data[1]

    sent = [data[0], data[4]]
    assert all(REQUEST_ID.fullmatch(item["id"]) for item in sent)
    assert [item["messages"][0]["to"] for item in sent] == ["ada@example.com", "bob@example.com"]
    assert {r.request_id for r in producer.records} == {item["id"] for item in sent}
    by_request = {r.request_id: r for r in producer.records}
    for item in sent:
        record = by_request[item["id"]]
        assert [r.message_id for r in record.recipients] == [m["id"] for m in item["messages"]]
        assert record.workspace_id == tenant.workspace_id


async def test_emails_are_produced_concurrently(settings: Settings, tenant: Tenant) -> None:
    class CountingProducer(MemorySendProducer):
        def __init__(self) -> None:
            super().__init__()
            self.running = self.peak = 0

        async def send_requested(self, record: SendRequested) -> None:
            self.running += 1
            self.peak = max(self.peak, self.running)
            await asyncio.sleep(0)  # let the others start, as a real broker round trip would
            self.running -= 1
            await super().send_requested(record)

    producer = CountingProducer()
    batch = [to(f"user{i}@example.com") for i in range(20)]
    async with AsyncTestClient(app=create_app(settings, producer)) as client:
        response = await client.post("/v1/emails/batch", json=batch, headers=tenant.auth)

    assert response.status_code == 200, response.text
    assert len(producer.records) == 20
    assert producer.peak == 20


async def test_an_email_kafka_refused_gets_its_own_503(settings: Settings, tenant: Tenant) -> None:
    class PickyProducer(MemorySendProducer):
        async def send_requested(self, record: SendRequested) -> None:
            if record.recipients[0].address == "bob@example.com":
                raise QueueUnavailable("the broker is having a moment")
            await super().send_requested(record)

    producer = PickyProducer()
    batch = [to("ada@example.com"), to("bob@example.com"), to("cy@example.com")]
    async with AsyncTestClient(app=create_app(settings, producer)) as client:
        response = await client.post("/v1/emails/batch", json=batch, headers=tenant.auth)

    data = response.json()["data"]
    assert [item["status"] for item in data] == [202, 503, 202]
    assert data[1]["error"]["type"] == PROBLEMS + "queue-unavailable"
    assert sorted(r.recipients[0].address for r in producer.records) == [
        "ada@example.com",
        "cy@example.com",
    ]


async def test_more_than_1000_emails_is_refused_whole(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    batch = [{"from": "a@b.co"}] * 1001

    response = await client.post("/v1/emails/batch", json=batch, headers=tenant.auth)

    assert response.status_code == 422
    assert response.json()["type"] == PROBLEMS + "validation"
    assert [e["field"] for e in response.json()["errors"]] == ["body"]
    assert producer.records == []


async def test_an_empty_batch_is_refused(client: AsyncTestClient[Any], tenant: Tenant) -> None:
    response = await client.post("/v1/emails/batch", json=[], headers=tenant.auth)

    assert response.status_code == 422


async def test_a_body_that_is_not_an_array_is_a_400(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    as_object = await client.post("/v1/emails/batch", json=SEED, headers=tenant.auth)
    not_json = await client.post(
        "/v1/emails/batch",
        content=b"[{",
        headers={**tenant.auth, "Content-Type": "application/json"},
    )

    assert as_object.status_code == not_json.status_code == 400
    assert as_object.json()["type"] == PROBLEMS + "malformed-body"


async def test_a_repeated_batch_with_its_key_sends_nothing_new(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    headers = {**tenant.auth, "Idempotency-Key": "batch-7"}
    batch = [to("ada@example.com"), {**SEED, "to": "nope"}, to("bob@example.com")]

    first = await client.post("/v1/emails/batch", json=batch, headers=headers)
    again = await client.post("/v1/emails/batch", json=batch, headers=headers)
    other = await client.post("/v1/emails/batch", json=batch[:1], headers=headers)

    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422
    assert other.json()["type"] == PROBLEMS + "idempotency-mismatch"
    assert len(producer.records) == 2


async def test_a_batch_that_sent_nothing_keeps_its_key_free(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    headers = {**tenant.auth, "Idempotency-Key": "batch-8"}
    batch = [to("ada@example.com"), to("bob@example.com")]

    invalid = await client.post("/v1/emails/batch", json=[{"to": "nope"}], headers=headers)
    producer.fail = True
    refused = await client.post("/v1/emails/batch", json=batch, headers=headers)
    producer.fail = False
    retried = await client.post("/v1/emails/batch", json=batch, headers=headers)

    assert [item["status"] for item in invalid.json()["data"]] == [422]
    assert [item["status"] for item in refused.json()["data"]] == [503, 503]
    assert retried.status_code == 200
    assert "idempotent-replayed" not in retried.headers
    assert [item["status"] for item in retried.json()["data"]] == [202, 202]
    assert len(producer.records) == 2


async def test_an_abandoned_batch_is_resent_under_its_planned_ids(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    body = msgspec.json.encode([to("ada@example.com"), to("bob@example.com")])
    plan = BatchAccepted(
        [
            BatchItemResult(i, 202, id=new_id("req"), messages=[AcceptedMessage(new_id("msg"), a)])
            for i, a in enumerate(["ada@example.com", "bob@example.com"])
        ]
    )
    abandoned = await idempotency.claim(
        tenant.workspace_id,
        "batch-9",
        fingerprint=api_idempotency.fingerprint("POST", "/v1/emails/batch", body),
        planned=StoredResponse(200, msgspec.json.encode(plan).decode()),
        now=time.time() - 2 * api_idempotency.LOCK_SECONDS,
        lock_seconds=api_idempotency.LOCK_SECONDS,
        ttl=3600.0,
    )
    assert isinstance(abandoned, Claimed)

    retried = await client.post(
        "/v1/emails/batch",
        content=body,
        headers={**tenant.auth, "Idempotency-Key": "batch-9", "Content-Type": "application/json"},
    )

    assert retried.status_code == 200, retried.text
    assert retried.content == msgspec.json.encode(plan)
    sent = {r.request_id: [m.message_id for m in r.recipients] for r in producer.records}
    assert sent == {item.id: [m.id for m in item.messages or []] for item in plan.data}
