"""The workspace's tracking defaults: shown, changed with a full key, and applied within a
second to sends that do not say."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from api.producer import MemorySendProducer
from streams.records import Content
from tables import keys
from tests.api.support import Tenant, bearer
from tests.support.seed import SEED


async def change(client: AsyncTestClient[Any], tenant: Tenant, body: Any) -> Any:
    return await client.patch("/v1/workspace", json=body, headers=tenant.auth)


async def sent_content(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer, **fields: Any
) -> Content:
    answer = await client.post("/v1/emails", json={**SEED, **fields}, headers=tenant.auth)
    assert answer.status_code == 202, answer.text
    return producer.records[-1].content


async def defaults_applied(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    """Wait, sending, until a send that does not say is tracked (the key cache lives 0.9 s)."""
    deadline = time.monotonic() + 1.5
    while not (await sent_content(client, tenant, producer)).track_opens:
        assert time.monotonic() < deadline, "the new default did not apply within a second"
        await asyncio.sleep(0.05)


async def test_the_workspace_shows_its_defaults_off_at_first(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    body = (await client.get("/v1/workspace", headers=tenant.auth)).json()
    assert (body["track_opens"], body["track_clicks"]) == (False, False)
    content = await sent_content(client, tenant, producer)
    assert (content.track_opens, content.track_clicks) == (False, False)


async def test_a_change_applies_to_sends_that_do_not_say_within_a_second(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    await sent_content(client, tenant, producer)  # the key's workspace is now cached
    answer = await change(client, tenant, {"track_opens": True})

    assert answer.status_code == 200, answer.text
    assert (answer.json()["track_opens"], answer.json()["track_clicks"]) == (True, False)
    shown = (await client.get("/v1/workspace", headers=tenant.auth)).json()
    assert shown["track_opens"] is True
    await defaults_applied(client, tenant, producer)
    assert producer.records[-1].content.track_clicks is False


async def test_a_send_that_says_wins_over_the_default(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    await change(client, tenant, {"track_opens": True, "track_clicks": True})
    await defaults_applied(client, tenant, producer)
    content = await sent_content(client, tenant, producer, track_opens=False)
    assert (content.track_opens, content.track_clicks) == (False, True)

    batch = [{**SEED, "track_clicks": False}, SEED]
    answer = await client.post("/v1/emails/batch", json=batch, headers=tenant.auth)
    assert answer.status_code == 200
    told, default = (r.content for r in producer.records[-2:])
    assert (told.track_opens, told.track_clicks) == (True, False)
    assert (default.track_opens, default.track_clicks) == (True, True)


async def test_fields_left_out_keep_their_value(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    await change(client, tenant, {"track_clicks": True})
    answer = await change(client, tenant, {})
    assert answer.status_code == 200
    assert (answer.json()["track_opens"], answer.json()["track_clicks"]) == (False, True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"track_opens": 1}, "track_opens"),
        ({"track_clicks": None}, "track_clicks"),
        ({"track_opens": True, "open_tracking": True}, "open_tracking"),
    ],
)
async def test_anything_but_booleans_and_known_fields_is_refused(
    client: AsyncTestClient[Any], tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    answer = await change(client, tenant, body)
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [field]
    shown = (await client.get("/v1/workspace", headers=tenant.auth)).json()
    assert (shown["track_opens"], shown["track_clicks"]) == (False, False)


async def test_a_body_that_is_not_an_object_is_malformed(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    for body in ([True], "yes"):
        assert (await change(client, tenant, body)).status_code == 400
    raw = await client.patch("/v1/workspace", content=b"{", headers=tenant.auth)
    assert raw.status_code == 400


async def test_only_a_full_key_may_change_the_defaults(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    for scope in ("send", "read"):
        _, token = await keys.create_key(tenant.workspace_id, scopes=[scope])
        answer = await client.patch(
            "/v1/workspace", json={"track_opens": True}, headers=bearer(token)
        )
        assert answer.status_code == 403, scope
    shown = (await client.get("/v1/workspace", headers=tenant.auth)).json()
    assert shown["track_opens"] is False


async def test_each_workspace_has_its_own_defaults(
    client: AsyncTestClient[Any], tenant: Tenant, make_tenant: Any
) -> None:
    other: Tenant = await make_tenant("globex")
    await change(client, tenant, {"track_opens": True})
    shown = (await client.get("/v1/workspace", headers=other.auth)).json()
    assert shown["track_opens"] is False
