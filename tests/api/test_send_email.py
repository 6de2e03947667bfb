"""POST /v1/emails: what a client sees, and what reaches the queue."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import AsyncTestClient

from api.producer import MemorySendProducer
from streams import records
from streams.records import SendRequested
from tests.api.support import Tenant
from tests.support.seed import SEED

MESSAGE_ID = re.compile(r"msg_[0-9a-z]{26}")
REQUEST_ID = re.compile(r"req_[0-9a-z]{26}")


async def test_seed_request_is_accepted_and_produced_once(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    response = await client.post("/v1/emails", json=SEED, headers=tenant.auth)

    assert response.status_code == 202, response.text
    body = response.json()
    assert REQUEST_ID.fullmatch(body["id"])
    assert len(body["messages"]) == 1
    assert body["messages"][0]["to"] == "customer@example.com"
    assert MESSAGE_ID.fullmatch(body["messages"][0]["id"])
    assert response.headers["x-request-id"] == body["id"]

    assert len(producer.records) == 1
    record = producer.records[0]
    assert record.request_id == body["id"]
    assert record.workspace_id == tenant.workspace_id
    assert [(r.address, r.kind, r.message_id) for r in record.recipients] == [
        ("customer@example.com", "to", body["messages"][0]["id"])
    ]
    assert record.content.sender == "hello@yourdomain.com"
    assert record.content.subject == "Welcome to YourBrand"
    assert record.content.html == "<h1>Hi 👋</h1>"
    assert record.content.text is None
    assert record.content.tags == ("onboarding", "welcome")
    # What goes on the wire decodes back to the same record.
    assert records.decode(records.encode(record), SendRequested) == record


async def test_one_message_per_recipient_across_to_cc_and_bcc(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    payload = {
        **SEED,
        "from": "YourBrand <Hello@YourDomain.com>",
        "to": "a@example.com",
        "cc": ["b@example.com", "A@example.com"],
        "bcc": ["c@bücher.de"],
        "reply_to": "Support Team <support@yourdomain.com>",
    }
    response = await client.post("/v1/emails", json=payload, headers=tenant.auth)

    assert response.status_code == 202, response.text
    messages = response.json()["messages"]
    # A@example.com repeats a@example.com: collapsed, the first occurrence wins.
    assert [m["to"] for m in messages] == ["a@example.com", "b@example.com", "c@bücher.de"]
    assert len({m["id"] for m in messages}) == 3
    assert [m["id"] for m in messages] == sorted(m["id"] for m in messages)

    (record,) = producer.records
    assert [r.kind for r in record.recipients] == ["to", "cc", "bcc"]
    assert record.content.sender == "YourBrand <Hello@yourdomain.com>"
    assert record.content.reply_to == ("Support Team <support@yourdomain.com>",)
    assert record.content.to == ("a@example.com",)
    assert record.content.cc == ("b@example.com",)


async def test_client_request_id_is_echoed_but_not_used_as_send_id(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    headers = {**tenant.auth, "X-Request-Id": "trace-1234"}
    response = await client.post("/v1/emails", json=SEED, headers=headers)

    assert response.status_code == 202
    assert response.headers["x-request-id"] == "trace-1234"
    assert REQUEST_ID.fullmatch(response.json()["id"])


async def test_unsafe_client_request_id_is_replaced(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    headers = {**tenant.auth, "X-Request-Id": "x" * 129}
    response = await client.post("/v1/emails", json=SEED, headers=headers)

    assert response.status_code == 202
    assert REQUEST_ID.fullmatch(response.headers["x-request-id"])


async def test_queue_failure_is_503_and_nothing_is_accepted(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    producer.fail = True
    response = await client.post("/v1/emails", json=SEED, headers=tenant.auth)

    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "https://herald.dev/problems/queue-unavailable"
    assert problem["status"] == 503
    assert problem["request_id"] == response.headers["x-request-id"]
    assert "messages" not in problem
    assert producer.records == []


async def test_health_needs_no_key(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert REQUEST_ID.fullmatch(response.headers["x-request-id"])
