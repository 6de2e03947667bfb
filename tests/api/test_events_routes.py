"""GET /v1/events and GET /v1/messages/{id}/events: a workspace's events as webhooks carry them
(streams.public.event_data), filtered, paged, and never another workspace's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from api.event_schemas import EventView
from streams.public import OPTIONAL_FIELDS, event_data
from streams.records import Event, EventType, Suppression, event_id
from tables import keys
from tables.messages import project_events
from tests.api.support import MISSING_MESSAGE, Tenant, bearer
from tests.api.test_suppression_routes import fields

T = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def make(workspace_id: str, type_: EventType, message_id: str, at: float, **extra: Any) -> Event:
    extra.setdefault("recipient", "Ada@example.com")
    extra.setdefault("tags", ("welcome",))
    return Event(
        event_id=event_id(message_id, type_, 0),
        type=type_,
        message_id=message_id,
        workspace_id=workspace_id,
        at=at,
        **extra,
    )


def story(workspace_id: str) -> dict[str, Event]:
    """Two messages and a disabled webhook, by name."""
    bob = {"recipient": "bob@example.com", "tags": ("invoice",), "program": "billing"}
    entry = Suppression(
        id="sup_1",
        workspace_id=workspace_id,
        value="@example.com",
        scope="global",
        scope_value="",
        reason="complaint",
        source="complaint",
        created_at=T,
    )
    return {
        "a_queued": make(workspace_id, "queued", "msg_a", T, sender="hi@acme.test", subject="Hi"),
        "a_sent": make(workspace_id, "sent", "msg_a", T + 1, smtp_code=250, reply="250 ok"),
        "a_clicked": make(
            workspace_id, "clicked", "msg_a", T + 2.5, url="https://acme.test/", machine=True
        ),
        "b_queued": make(workspace_id, "queued", "msg_b", T + 1, **bob),
        "b_suppressed": make(workspace_id, "suppressed", "msg_b", T + 3, suppression=entry, **bob),
        "hook_off": Event(
            event_id=event_id("wh_1", "webhook_disabled", T + 4),
            type="webhook_disabled",
            message_id="",
            workspace_id=workspace_id,
            recipient="",
            at=T + 4,
            webhook_id="wh_1",
        ),
    }


@pytest.fixture
async def events(tenant: Tenant) -> dict[str, Event]:
    mine = story(tenant.workspace_id)
    await project_events(list(mine.values()))
    return mine


def newest(events: dict[str, Event], *names: str) -> list[str]:
    chosen = [events[name] for name in names]
    return [e.event_id for e in sorted(chosen, key=lambda e: (e.at, e.event_id), reverse=True)]


async def listed(client: AsyncTestClient[Any], tenant: Tenant, query: str = "") -> list[str]:
    response = await client.get(f"/v1/events{query}", headers=tenant.auth)
    assert response.status_code == 200, response.text
    assert response.json()["has_more"] is False
    return [item["id"] for item in response.json()["data"]]


async def test_each_item_is_the_event_as_webhooks_carry_it(
    client: AsyncTestClient[Any], tenant: Tenant, events: dict[str, Event]
) -> None:
    response = await client.get("/v1/events", headers=tenant.auth)

    assert response.status_code == 200, response.text
    by_id = {e.event_id: e for e in events.values()}
    items = response.json()["data"]
    assert [item["id"] for item in items] == newest(events, *events)
    for item in items:
        assert item == msgspec.json.decode(msgspec.json.encode(event_data(by_id[item["id"]])))
    suppressed = next(item for item in items if item["type"] == "suppressed")
    assert suppressed["suppression"] == {
        "id": "sup_1",
        "value": "@example.com",
        "scope": "global",
        "scope_value": "",
        "reason": "complaint",
    }
    assert "sender" not in suppressed  # optional fields only where the type has them


def test_the_documented_item_is_event_data_key_for_key() -> None:
    """EventView documents event_data: every key it writes, optional ones when they are set."""
    always = set(event_data(story("ws_x")["a_sent"]))
    assert set(EventView.__struct_fields__) == always | set(OPTIONAL_FIELDS)
    for event in story("ws_x").values():
        data = msgspec.to_builtins(event_data(event))
        assert msgspec.to_builtins(msgspec.convert(data, EventView)) == data


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?type=queued", ["a_queued", "b_queued"]),
        ("?type=queued&type=suppressed", ["a_queued", "b_queued", "b_suppressed"]),
        ("?type=webhook_disabled", ["hook_off"]),
        ("?message_id=msg_a", ["a_queued", "a_sent", "a_clicked"]),
        ("?recipient=ADA@Example.COM", ["a_queued", "a_sent", "a_clicked"]),
        ("?tag=invoice", ["b_queued", "b_suppressed"]),
        ("?program=billing", ["b_queued", "b_suppressed"]),
        ("?since=2023-11-14T22:13:23Z", ["b_suppressed", "hook_off"]),
        ("?since=2023-11-14T23:13:23%2B01:00", ["b_suppressed", "hook_off"]),
        ("?until=2023-11-14T22:13:21", ["a_queued"]),  # no zone: UTC; until is exclusive
        (
            "?since=2023-11-14T22:13:21Z&until=2023-11-14T22:13:23Z",
            ["a_sent", "b_queued", "a_clicked"],
        ),
        ("?type=queued&tag=welcome&recipient=ada@example.com", ["a_queued"]),
        ("?type=sent&program=billing", []),
    ],
)
async def test_filters(
    client: AsyncTestClient[Any],
    tenant: Tenant,
    events: dict[str, Event],
    query: str,
    expected: list[str],
) -> None:
    assert await listed(client, tenant, query) == newest(events, *expected)


async def test_oldest_first(
    client: AsyncTestClient[Any], tenant: Tenant, events: dict[str, Event]
) -> None:
    assert await listed(client, tenant, "?order=oldest") == newest(events, *events)[::-1]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?type=opend", "type"),
        ("?type=sent,bounced", "type"),
        ("?since=yesterday", "since"),
        ("?until=2023-13-01T00:00:00Z", "until"),
        ("?since=2024-01-01T00:00:00Z&until=2024-01-01T00:00:00Z", "until"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?order=sideways", "order"),
        ("?recipient=nobody", "recipient"),
        ("?tag=not%20a%20tag", "tag"),
        ("?program=Not%20A%20Name", "program"),
        ("?starting_after=" + "e" * 65, "starting_after"),
        ("?types=sent", "types"),
    ],
)
async def test_a_bad_parameter_is_a_422_naming_it(
    client: AsyncTestClient[Any], tenant: Tenant, query: str, field: str
) -> None:
    response = await client.get(f"/v1/events{query}", headers=tenant.auth)

    assert fields(response) == [field]


@pytest.mark.parametrize("order", ["newest", "oldest"])
async def test_pages_walk_every_event_once(
    client: AsyncTestClient[Any], tenant: Tenant, events: dict[str, Event], order: str
) -> None:
    walked: list[list[str]] = []
    query = f"?order={order}&limit=4"
    for _ in range(len(events)):
        response = await client.get(f"/v1/events{query}", headers=tenant.auth)
        assert response.status_code == 200, response.text
        body = response.json()
        walked.append([item["id"] for item in body["data"]])
        if not body["has_more"]:
            break
        query = f"?order={order}&limit=4&starting_after={walked[-1][-1]}"

    everything = newest(events, *events)
    if order == "oldest":
        everything.reverse()
    assert walked == [everything[:4], everything[4:]]


async def test_the_default_page_is_twenty(client: AsyncTestClient[Any], tenant: Tenant) -> None:
    await project_events(
        [make(tenant.workspace_id, "queued", f"msg_{n}", T + n) for n in range(21)]
    )

    response = await client.get("/v1/events", headers=tenant.auth)

    assert len(response.json()["data"]) == 20
    assert response.json()["has_more"] is True


async def test_another_workspace_never_sees_them(
    client: AsyncTestClient[Any],
    tenant: Tenant,
    events: dict[str, Event],
    make_tenant: Callable[[str], Awaitable[Tenant]],
) -> None:
    other = await make_tenant("globex")
    theirs = make(other.workspace_id, "queued", "msg_z", T + 9)
    await project_events([theirs])

    assert await listed(client, other) == [theirs.event_id]
    assert await listed(client, other, "?message_id=msg_a") == []
    assert await listed(client, other, "?recipient=ada@example.com") == [theirs.event_id]
    mine = events["a_sent"].event_id
    assert await listed(client, other, f"?starting_after={mine}") == []
    response = await client.get("/v1/messages/msg_a/events", headers=other.auth)
    assert response.status_code == 404
    assert await listed(client, tenant) == newest(events, *events)


async def test_a_message_timeline(
    client: AsyncTestClient[Any], tenant: Tenant, events: dict[str, Event]
) -> None:
    response = await client.get("/v1/messages/msg_a/events", headers=tenant.auth)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "data": [
            msgspec.to_builtins(event_data(events[name]))
            for name in ("a_queued", "a_sent", "a_clicked")
        ],
        "has_more": False,
    }


async def test_an_unknown_message_is_404(client: AsyncTestClient[Any], tenant: Tenant) -> None:
    response = await client.get(f"{MISSING_MESSAGE}/events", headers=tenant.auth)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "https://herald.dev/problems/not-found"


async def test_reading_needs_a_read_key(
    client: AsyncTestClient[Any], tenant: Tenant, events: dict[str, Event]
) -> None:
    _, reader = await keys.create_key(tenant.workspace_id, scopes=("read",))
    _, sender = await keys.create_key(tenant.workspace_id, scopes=("send",))

    assert (await client.get("/v1/events", headers=bearer(reader))).status_code == 200
    assert (await client.get("/v1/events", headers=bearer(sender))).status_code == 403
    assert (
        await client.get("/v1/messages/msg_a/events", headers=bearer(sender))
    ).status_code == 403
    assert (await client.get("/v1/events")).status_code == 401
