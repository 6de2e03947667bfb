"""GET /v1/messages/{id}: a workspace sees its own messages' timelines, and only those."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.testing import AsyncTestClient

from streams.records import Event, event_id
from tables.messages import project_events
from tests.api.support import Tenant

MESSAGE_ID = "msg_01jf0000000000000000000000"


async def deliver(workspace_id: str) -> None:
    def event(type_: Any, at: float, **extra: Any) -> Event:
        return Event(
            event_id=event_id(MESSAGE_ID, type_, 0),
            type=type_,
            message_id=MESSAGE_ID,
            workspace_id=workspace_id,
            recipient="customer@example.com",
            at=at,
            tags=("onboarding",),
            **extra,
        )

    await project_events(
        [
            event("queued", 1_700_000_000.0, sender="hello@yourdomain.com", subject="Welcome"),
            event("sent", 1_700_000_001.5, smtp_code=250, reply="250 2.0.0 OK queued"),
        ]
    )


async def test_own_message_shows_status_and_events(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    await deliver(tenant.workspace_id)

    response = await client.get(f"/v1/messages/{MESSAGE_ID}", headers=tenant.auth)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == MESSAGE_ID
    assert body["status"] == "sent"
    assert body["from"] == "hello@yourdomain.com"
    assert body["to"] == "customer@example.com"
    assert body["subject"] == "Welcome"
    assert body["tags"] == ["onboarding"]
    assert [e["type"] for e in body["events"]] == ["queued", "sent"]
    assert body["events"][1]["smtp_code"] == 250
    assert body["events"][0]["at"].startswith("2023-11-14T22:13:20")
    assert response.headers["x-request-id"]


async def test_message_of_another_workspace_is_404(
    client: AsyncTestClient[Any],
    tenant: Tenant,
    make_tenant: Callable[[str], Awaitable[Tenant]],
) -> None:
    other = await make_tenant("globex")
    await deliver(other.workspace_id)

    response = await client.get(f"/v1/messages/{MESSAGE_ID}", headers=tenant.auth)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "https://herald.dev/problems/not-found"
    assert problem["request_id"] == response.headers["x-request-id"]
    # The owner still sees it: the 404 is about who asks, not a missing row.
    owned = await client.get(f"/v1/messages/{MESSAGE_ID}", headers=other.auth)
    assert owned.status_code == 200


async def test_unknown_message_is_404(client: AsyncTestClient[Any], tenant: Tenant) -> None:
    response = await client.get("/v1/messages/msg_nope", headers=tenant.auth)

    assert response.status_code == 404
    assert response.json()["status"] == 404


async def test_reading_a_message_needs_a_key(client: AsyncTestClient[Any]) -> None:
    response = await client.get(f"/v1/messages/{MESSAGE_ID}")

    assert response.status_code == 401
