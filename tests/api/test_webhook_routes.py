"""/v1/webhooks: what a client creating, changing, rotating and replaying endpoints notices,
and what the workers are handed (records on ``herald.webhooks`` and
``herald.webhooks.tasks``). Secrets are shown once and stored only sealed."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx
import msgspec
import pytest
import schemathesis
from litestar.testing import AsyncTestClient

from api import webhook_replay
from api.app import create_app
from api.producer import MemorySendProducer
from config.secrets import signing_key
from config.settings import Settings
from streams.public import event_data
from streams.records import Event, WebhookAttempt, WebhookEndpoint, WebhookTask, decode, event_id
from streams.webhook_secrets import Sealer
from tables import keys, webhooks
from tables.db import IdempotencyKey
from tables.db import WebhookEndpoint as Row
from tables.messages import project_events
from tests.api.support import Tenant, bearer

ENDPOINTS = "herald.webhooks"
TASKS = "herald.webhooks.tasks"
PROBLEMS = "https://herald.dev/problems/"
URL = "https://hooks.example.com/herald"
T0 = 1_767_600_000.0  # 2026-01-05T08:00:00Z


async def create(client: AsyncTestClient[Any], tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/webhooks", json={"url": URL, **body}, headers=tenant.auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def records(producer: MemorySendProducer) -> list[WebhookEndpoint]:
    return [decode(p.value, WebhookEndpoint) for p in producer.on(ENDPOINTS)]


def tasks(producer: MemorySendProducer) -> list[WebhookTask]:
    return [decode(p.value, WebhookTask) for p in producer.on(TASKS)]


def fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in response.json()["errors"]]


def sealer(settings: Settings) -> Sealer:
    return Sealer(signing_key(settings))


def event(n: int, workspace_id: str, **fields: Any) -> Event:
    message_id = f"msg_{n:026d}"
    type_ = fields.pop("type", "delivered")
    return Event(
        event_id=event_id(message_id, type_, 0),
        type=type_,
        message_id=message_id,
        workspace_id=workspace_id,
        recipient=f"r{n}@example.com",
        at=T0 + n * 60,
        **fields,
    )


# --- creating, reading, secrets -------------------------------------------------------------


async def test_the_secret_is_shown_once_and_only_stored_sealed(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer, settings: Settings
) -> None:
    created = await create(client, tenant, event_types=["bounced", "delivered", "bounced"])

    assert created["id"].startswith("wh_")
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) <= 64
    assert created["event_types"] == ["bounced", "delivered"]
    assert (created["enabled"], created["batch_size"], created["active_secrets"]) == (True, 1, 1)

    [record] = records(producer)
    assert producer.on(ENDPOINTS)[0].key == created["id"].encode()
    assert record.workspace_id == tenant.workspace_id and record.url == URL
    [sealed] = record.secrets
    assert secret not in producer.on(ENDPOINTS)[0].value.decode()
    assert sealer(settings).unseal(sealed.sealed) == secret
    [row] = await Row.select().output(load_json=True)
    assert secret not in str(row)
    assert [s["sealed"] for s in row["secrets"]] == [sealed.sealed]

    one = await client.get(f"/v1/webhooks/{created['id']}", headers=tenant.auth)
    listed = await client.get("/v1/webhooks", headers=tenant.auth)
    assert one.status_code == 200 and listed.status_code == 200
    assert "secret" not in one.json() and secret not in one.text + listed.text
    assert one.json() == {k: v for k, v in created.items() if k != "secret"}
    assert [w["id"] for w in listed.json()["data"]] == [created["id"]]


async def test_an_idempotent_replay_shows_the_secret_as_null(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    headers = {**tenant.auth, "Idempotency-Key": "create-hook-1"}
    first = await client.post("/v1/webhooks", json={"url": URL}, headers=headers)
    again = await client.post("/v1/webhooks", json={"url": URL}, headers=headers)

    assert first.status_code == again.status_code == 201
    assert first.json()["secret"].startswith("whsec_")
    assert again.json() == {**first.json(), "secret": None}
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(records(producer)) == 1
    stored = await IdempotencyKey.select(IdempotencyKey.response_body)
    assert first.json()["secret"] not in str(stored)


async def test_what_is_wrong_with_a_body_is_named_field_by_field(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    async def post(body: dict[str, Any]) -> httpx.Response:
        return await client.post("/v1/webhooks", json=body, headers=tenant.auth)

    assert fields(await post({"url": URL, "event_types": ["delivered", "read"]})) == [
        "event_types[1]"
    ]
    assert fields(await post({"url": URL, "batch_size": 101})) == ["batch_size"]
    assert fields(await post({"url": URL, "description": "x" * 501})) == ["description"]
    assert fields(await post({"url": URL, "secret": "whsec_mine"})) == ["secret"]
    assert fields(await post({})) == ["url"]
    assert fields(
        await post({"url": "ftp://x.example", "tags": ["ok", "not ok"], "programs": ["News"]})
    ) == ["url", "tags[1]", "programs[0]"]
    assert producer.published == []


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://hooks.example.com/", "https"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest", "metadata"),
        ("https://[::1]:8443/", "loopback"),
        ("https://127.0.0.1/", "loopback"),
        ("https://localhost/", "loopback"),
    ],
)
async def test_urls_that_are_not_public_https_are_refused(
    client: AsyncTestClient[Any], tenant: Tenant, url: str, says: str
) -> None:
    response = await client.post("/v1/webhooks", json={"url": url}, headers=tenant.auth)

    assert fields(response) == ["url"]
    assert says in response.json()["errors"][0]["message"]


@pytest.fixture
async def loopback_client(
    settings: Settings, producer: MemorySendProducer, tenant: Tenant
) -> AsyncIterator[AsyncTestClient[Any]]:
    allowing = settings.model_copy(update={"webhook_allow_loopback": True})
    async with AsyncTestClient(app=create_app(allowing, producer)) as client:
        yield client


async def test_loopback_over_http_is_allowed_only_when_configured(
    loopback_client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    created = await create(loopback_client, tenant, url="http://127.0.0.1:9000/hook")
    private = await loopback_client.post(
        "/v1/webhooks", json={"url": "http://192.168.1.5/"}, headers=tenant.auth
    )

    assert created["url"] == "http://127.0.0.1:9000/hook"
    assert fields(private) == ["url"]


async def test_a_read_key_reads_but_does_not_change(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    _, token = await keys.create_key(tenant.workspace_id, scopes=["read"])

    listed = await client.get("/v1/webhooks", headers=bearer(token))
    refused = await client.post("/v1/webhooks", json={"url": URL}, headers=bearer(token))

    assert listed.status_code == 200
    assert refused.status_code == 403


async def test_listing_pages_newest_first_and_refuses_unknown_parameters(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    made = [(await create(client, tenant, description=str(n)))["id"] for n in range(3)]

    first = (await client.get("/v1/webhooks?limit=2", headers=tenant.auth)).json()
    rest = await client.get(
        f"/v1/webhooks?limit=2&starting_after={first['data'][-1]['id']}", headers=tenant.auth
    )
    unknown = await client.get("/v1/webhooks?enabled=true", headers=tenant.auth)

    assert [w["id"] for w in first["data"] + rest.json()["data"]] == made[::-1]
    assert first["has_more"] and not rest.json()["has_more"]
    assert fields(unknown) == ["enabled"]


# --- changing and deleting ------------------------------------------------------------------


async def test_a_change_keeps_what_it_does_not_name(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    created = await create(client, tenant, tags=["welcome"], description="CRM")
    path = f"/v1/webhooks/{created['id']}"

    changed = await client.patch(
        path, json={"batch_size": 50, "programs": ["newsletter"]}, headers=tenant.auth
    )
    unchanged = await client.patch(path, json={"batch_size": 50}, headers=tenant.auth)
    bad = await client.patch(
        path, json={"url": "https://10.0.0.1/", "nope": 1}, headers=tenant.auth
    )

    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["batch_size"], body["programs"], body["tags"]) == (50, ["newsletter"], ["welcome"])
    assert body["description"] == "CRM" and body["updated_at"] > created["updated_at"]
    assert unchanged.status_code == 200 and unchanged.json() == body
    assert fields(bad) == ["nope"]
    first, second = records(producer)  # the unchanged PATCH published nothing
    assert second.secrets == first.secrets and second.changed_at > first.changed_at
    assert (await client.get(path, headers=tenant.auth)).json() == body


async def test_enabling_an_endpoint_herald_turned_off_clears_the_reason(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    created = await create(client, tenant)
    [record] = records(producer)
    # The worker turned it off: its record, projected.
    await webhooks.apply_endpoints(
        [replace(record, enabled=False, disabled_reason="gone", changed_at=record.changed_at + 5)]
    )
    path = f"/v1/webhooks/{created['id']}"
    off = (await client.get(path, headers=tenant.auth)).json()

    on = await client.patch(path, json={"enabled": True}, headers=tenant.auth)

    assert (off["enabled"], off["disabled_reason"]) == (False, "gone")
    assert (on.json()["enabled"], on.json()["disabled_reason"]) == (True, None)
    assert records(producer)[-1].changed_at > record.changed_at + 5


async def test_a_deleted_endpoint_is_gone(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    created = await create(client, tenant)
    path = f"/v1/webhooks/{created['id']}"

    removed = await client.delete(path, headers=tenant.auth)

    assert removed.status_code == 204
    last = records(producer)[-1]
    assert (last.id, last.deleted, last.secrets) == (created["id"], True, ())
    for response in (
        await client.get(path, headers=tenant.auth),
        await client.delete(path, headers=tenant.auth),
        await client.patch(path, json={"enabled": True}, headers=tenant.auth),
    ):
        assert response.status_code == 404
    assert (await client.get("/v1/webhooks", headers=tenant.auth)).json()["data"] == []


async def test_nothing_is_stored_while_kafka_refuses(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    kept = await create(client, tenant)
    path = f"/v1/webhooks/{kept['id']}"
    before = await Row.select().output(load_json=True)
    producer.fail = True

    for response in (
        await client.post("/v1/webhooks", json={"url": URL}, headers=tenant.auth),
        await client.patch(path, json={"enabled": False}, headers=tenant.auth),
        await client.post(f"{path}/rotate", headers=tenant.auth),
        await client.delete(path, headers=tenant.auth),
    ):
        assert response.status_code == 503, response.text
        assert response.json()["type"] == PROBLEMS + "queue-unavailable"

    assert await Row.select().output(load_json=True) == before
    producer.fail = False
    assert (await client.get(path, headers=tenant.auth)).json()["enabled"] is True


# --- rotation -------------------------------------------------------------------------------


async def test_rotation_signs_with_both_secrets_until_the_overlap_ends(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer, settings: Settings
) -> None:
    created = await create(client, tenant)
    path = f"/v1/webhooks/{created['id']}"
    before = time.time()

    rotated = await client.post(f"{path}/rotate", json={"overlap_seconds": 1}, headers=tenant.auth)

    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != created["secret"]
    assert (rotated.json()["active_secrets"], rotated.json()["id"]) == (2, created["id"])
    newest, old = records(producer)[-1].secrets
    assert [sealer(settings).unseal(s.sealed) for s in (newest, old)] == [
        new_secret,
        created["secret"],
    ]
    assert newest.expires_at is None
    assert old.expires_at is not None and before + 1 <= old.expires_at <= time.time() + 1

    deadline = time.monotonic() + 5
    while (await client.get(path, headers=tenant.auth)).json()["active_secrets"] != 1:
        assert time.monotonic() < deadline, "the old secret never expired"
        await asyncio.sleep(0.05)

    again = await client.post(f"{path}/rotate", headers=tenant.auth)
    kept = records(producer)[-1].secrets
    assert [sealer(settings).unseal(s.sealed) for s in kept] == [again.json()["secret"], new_secret]
    assert kept[1].expires_at == pytest.approx(time.time() + settings.webhook_secret_overlap, abs=5)


async def test_rotation_answers_are_replayed_without_the_secret(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    created = await create(client, tenant)
    headers = {**tenant.auth, "Idempotency-Key": "rotate-1"}
    path = f"/v1/webhooks/{created['id']}/rotate"

    first = await client.post(path, json={"overlap_seconds": 0}, headers=headers)
    again = await client.post(path, json={"overlap_seconds": 0}, headers=headers)
    bad = await client.post(path, json={"overlap_seconds": 8 * 86400}, headers=tenant.auth)

    assert first.json()["active_secrets"] == 1  # overlap 0: the old secret stopped at once
    assert again.json() == {**first.json(), "secret": None}
    assert len(records(producer)) == 2
    assert fields(bad) == ["overlap_seconds"]


# --- deliveries -----------------------------------------------------------------------------


async def test_deliveries_list_attempts_newest_first_with_the_dead_letter(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    created = await create(client, tenant)
    hook = created["id"]

    def tried(n: int, outcome: str, status: int | None) -> WebhookAttempt:
        return WebhookAttempt(
            endpoint_id=hook,
            workspace_id=tenant.workspace_id,
            event_ids=(f"evt_{n:026d}",),
            attempt=n,
            at=T0 + n,
            outcome=outcome,  # type: ignore[arg-type]
            status=status,
            latency_ms=10.0 * n,
            response="nope" if status else None,
            error=None if status else "timed out",
            next_attempt_at=T0 + n + 300 if outcome == "failed" else None,
        )

    attempts = [tried(1, "failed", 500), tried(2, "dead", None), tried(3, "succeeded", 200)]
    await webhooks.record_attempts([*attempts, attempts[0]])
    path = f"/v1/webhooks/{hook}/deliveries"

    every = (await client.get(path, headers=tenant.auth)).json()
    dead = (await client.get(f"{path}?outcome=dead", headers=tenant.auth)).json()
    one = await client.get(f"{path}?event_id=evt_{1:026d}", headers=tenant.auth)
    paged = await client.get(
        f"{path}?limit=1&starting_after={every['data'][0]['id']}", headers=tenant.auth
    )
    wrong = await client.get(f"{path}?outcome=lost&status=500", headers=tenant.auth)

    assert [d["attempt"] for d in every["data"]] == [3, 2, 1] and not every["has_more"]
    failed = every["data"][2]
    assert failed["at"] == "2026-01-05T08:00:01Z"
    assert failed["next_attempt_at"] == "2026-01-05T08:05:01Z"
    assert (failed["status"], failed["response"], failed["latency_ms"]) == (500, "nope", 10.0)
    assert failed["id"] == webhooks.attempt_id(attempts[0])
    assert [(d["outcome"], d["error"]) for d in dead["data"]] == [("dead", "timed out")]
    assert [d["attempt"] for d in one.json()["data"]] == [1]
    assert [d["attempt"] for d in paged.json()["data"]] == [2] and paged.json()["has_more"]
    assert wrong.status_code == 422


# --- replay ---------------------------------------------------------------------------------


async def seed_events(workspace_id: str) -> list[Event]:
    made = [
        event(1, workspace_id, tags=("welcome",)),
        event(2, workspace_id, type="bounced", bounce="hard"),
        event(3, workspace_id, tags=("welcome",), program="newsletter"),
        event(4, workspace_id, type="opened", tags=("welcome",)),
    ]
    await project_events(made)
    return made


async def test_replaying_one_event_delivers_it_whatever_the_filters(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    made = await seed_events(tenant.workspace_id)
    hook = (await create(client, tenant, event_types=["delivered"]))["id"]
    path = f"/v1/webhooks/{hook}/replay"

    bounced = await client.post(path, json={"event_id": made[1].event_id}, headers=tenant.auth)
    unknown = await client.post(path, json={"event_id": "evt_" + "0" * 26}, headers=tenant.auth)

    assert bounced.status_code == 202, bounced.text
    assert bounced.json() == {"queued": 1}
    [queued] = tasks(producer)
    assert producer.on(TASKS)[0].key == hook.encode()
    assert (queued.endpoint_id, queued.workspace_id, queued.event_id) == (
        hook,
        tenant.workspace_id,
        made[1].event_id,
    )
    assert (queued.event_type, queued.at, queued.replay) == ("bounced", made[1].at, True)
    assert queued.data == event_data(made[1])
    assert unknown.status_code == 404


async def test_replaying_a_range_delivers_what_the_endpoint_wants(
    client: AsyncTestClient[Any],
    tenant: Tenant,
    producer: MemorySendProducer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = await seed_events(tenant.workspace_id)
    monkeypatch.setattr(webhook_replay, "PAGE", 1)  # the range is read page after page
    hook = (await create(client, tenant, event_types=["delivered", "opened"], tags=["welcome"]))[
        "id"
    ]
    path = f"/v1/webhooks/{hook}/replay"

    # 08:01 to 08:04: events 1 to 3 (the range's end is exclusive), of which 1 and 3 are wanted.
    queued = await client.post(
        path,
        json={"since": "2026-01-05T08:01:00Z", "until": "2026-01-05T08:04:00Z"},
        headers=tenant.auth,
    )

    assert queued.status_code == 202, queued.text
    assert queued.json() == {"queued": 2}
    assert [t.event_id for t in tasks(producer)] == [made[0].event_id, made[2].event_id]
    assert all(t.replay for t in tasks(producer))


async def test_a_replay_that_asks_too_much_is_refused(
    client: AsyncTestClient[Any],
    tenant: Tenant,
    producer: MemorySendProducer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await seed_events(tenant.workspace_id)
    hook = (await create(client, tenant))["id"]
    path = f"/v1/webhooks/{hook}/replay"
    monkeypatch.setattr(webhook_replay, "MAX_EVENTS", 3)

    async def replay(body: dict[str, Any]) -> httpx.Response:
        return await client.post(path, json=body, headers=tenant.auth)

    too_many = await replay({"since": "2026-01-05T00:00:00Z", "until": "2026-01-06T00:00:00"})
    assert fields(too_many) == ["until"]
    assert "narrow" in too_many.json()["errors"][0]["message"]
    assert fields(await replay({"since": "2026-01-05T00:00:00Z"})) == ["until"]
    assert fields(
        await replay({"since": "2026-01-05T00:00:00Z", "until": "2026-01-05T00:00:00Z"})
    ) == ["until"]
    assert fields(
        await replay({"since": "2026-01-01T00:00:00Z", "until": "2026-03-01T00:00:00Z"})
    ) == ["until"]
    assert fields(await replay({"event_id": "evt_1", "since": "2026-01-05T00:00:00Z"})) == [
        "event_id"
    ]
    assert fields(await replay({})) == ["since", "until"]
    assert tasks(producer) == []


async def test_a_disabled_endpoint_is_not_replayed_to(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    made = await seed_events(tenant.workspace_id)
    hook = (await create(client, tenant, enabled=False))["id"]

    response = await client.post(
        f"/v1/webhooks/{hook}/replay", json={"event_id": made[0].event_id}, headers=tenant.auth
    )

    assert response.status_code == 409
    assert "enable it first" in response.json()["detail"]
    assert tasks(producer) == []


# --- tenants --------------------------------------------------------------------------------


async def test_another_workspaces_endpoints_are_not_found(
    client: AsyncTestClient[Any],
    tenant: Tenant,
    make_tenant: Callable[[str], Awaitable[Tenant]],
    producer: MemorySendProducer,
) -> None:
    other = await make_tenant("globex")
    theirs = await create(client, other)
    made = await seed_events(tenant.workspace_id)
    await project_events([event(9, other.workspace_id)])
    mine = (await create(client, tenant))["id"]
    path = f"/v1/webhooks/{theirs['id']}"
    published = len(producer.published)

    for response in (
        await client.get(path, headers=tenant.auth),
        await client.patch(path, json={"enabled": False}, headers=tenant.auth),
        await client.delete(path, headers=tenant.auth),
        await client.post(f"{path}/rotate", headers=tenant.auth),
        await client.get(f"{path}/deliveries", headers=tenant.auth),
        await client.post(
            f"{path}/replay", json={"event_id": made[0].event_id}, headers=tenant.auth
        ),
    ):
        assert response.status_code == 404, response.text
    # Their event, replayed to my endpoint: not found either.
    foreign_event = await client.post(
        f"/v1/webhooks/{mine}/replay",
        json={"event_id": event(9, other.workspace_id).event_id},
        headers=tenant.auth,
    )

    assert foreign_event.status_code == 404
    assert len(producer.published) == published
    listed = (await client.get("/v1/webhooks", headers=tenant.auth)).json()["data"]
    assert [w["id"] for w in listed] == [mine]


# --- the document ---------------------------------------------------------------------------


async def test_every_success_answer_matches_the_document(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    """Generated requests rarely name a public https URL or a stored endpoint, so the contract
    test mostly sees problems; the answers that carry data are checked here."""
    document = msgspec.json.decode(msgspec.json.encode(client.app.openapi_schema.to_schema()))
    schema = schemathesis.openapi.from_dict(document)
    made = await seed_events(tenant.workspace_id)
    created = await client.post("/v1/webhooks", json={"url": URL}, headers=tenant.auth)
    hook = created.json()["id"]
    await webhooks.record_attempts(
        [WebhookAttempt(hook, tenant.workspace_id, (made[0].event_id,), 1, T0, "dead", None)]
    )
    path = "/v1/webhooks/{webhook_id}"
    answers = [
        ("/v1/webhooks", "POST", created),
        ("/v1/webhooks", "GET", await client.get("/v1/webhooks", headers=tenant.auth)),
        (path, "GET", await client.get(f"/v1/webhooks/{hook}", headers=tenant.auth)),
        (
            path,
            "PATCH",
            await client.patch(f"/v1/webhooks/{hook}", json={"tags": ["a"]}, headers=tenant.auth),
        ),
        (
            path + "/rotate",
            "POST",
            await client.post(f"/v1/webhooks/{hook}/rotate", headers=tenant.auth),
        ),
        (
            path + "/deliveries",
            "GET",
            await client.get(f"/v1/webhooks/{hook}/deliveries", headers=tenant.auth),
        ),
        (
            path + "/replay",
            "POST",
            await client.post(
                f"/v1/webhooks/{hook}/replay",
                json={"event_id": made[0].event_id},
                headers=tenant.auth,
            ),
        ),
        (path, "DELETE", await client.delete(f"/v1/webhooks/{hook}", headers=tenant.auth)),
    ]

    for template, method, response in answers:
        assert response.status_code < 300, (method, template, response.text)
        schema[template][method].validate_response(response)
