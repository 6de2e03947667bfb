"""Webhooks end to end: real API, broker and worker processes, real mail, and a real HTTP
receiver on loopback that checks every delivery with the ``standardwebhooks`` package."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from tests.integration.stack import Stack, eventually, free_port
from tests.support.seed import SEED

pytestmark = pytest.mark.integration

FAST = {
    "HERALD_WEBHOOK_ALLOW_LOOPBACK": "true",
    "HERALD_WEBHOOK_RETRY_SCHEDULE": "[0.5, 0.5, 0.5, 0.5]",
    "HERALD_WEBHOOK_TIMEOUT": "5",
}


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def payload(self) -> dict[str, Any]:
        return dict(orjson.loads(self.body))


@dataclass
class Receiver:
    """An HTTP server standing in for a customer's endpoint. ``answers[path]`` lists the
    statuses to give, one per request, then 200 for ever; every request is kept."""

    port: int = field(default_factory=free_port)
    answers: dict[str, list[int]] = field(default_factory=dict)
    got: list[Delivery] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Delivery]:
        return [d for d in self.got if d.path == path]

    async def handle(self, request: web.Request) -> web.Response:
        queue = self.answers.get(request.path, [])
        status = queue.pop(0) if queue else 200
        body = await request.read()
        self.got.append(Delivery(request.path, dict(request.headers), body, status))
        return web.Response(status=status, text="thanks" if status == 200 else "nope")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", r.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", r.port).start()
    try:
        yield r
    finally:
        await runner.cleanup()


@pytest.fixture
def fast(stack: Stack) -> Stack:
    """The stack with loopback endpoints allowed and a retry schedule of half seconds; the
    API is restarted to take the setting, the worker started by each test."""
    stack.extra_env.update(FAST)
    stack.stop("api")
    stack.start("api")
    return stack


async def create_endpoint(
    client: httpx.AsyncClient, stack: Stack, url: str, **fields: Any
) -> dict[str, Any]:
    r = await client.post(
        f"{stack.url}/v1/webhooks", json={"url": url, **fields}, headers=stack.headers()
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def send(client: httpx.AsyncClient, stack: Stack, **fields: Any) -> list[dict[str, Any]]:
    r = await client.post(
        f"{stack.url}/v1/emails", json={**SEED, **fields}, headers=stack.headers()
    )
    assert r.status_code == 202, r.text
    return list(r.json()["messages"])


async def arrived(receiver: Receiver, path: str, count: int, timeout: float = 60) -> None:
    async def enough() -> bool:
        return len(receiver.at(path)) >= count

    await eventually(enough, timeout=timeout, what=f"{count} deliveries to {path}")


async def listed_events(
    client: httpx.AsyncClient, stack: Stack, path: str, count: int, **params: Any
) -> list[dict[str, Any]]:
    """The items of an events listing once it has ``count`` of them (the database projection
    may lag the webhook a moment)."""

    async def enough() -> list[dict[str, Any]] | None:
        r = await client.get(f"{stack.url}{path}", params=params, headers=stack.headers())
        items = list(r.json().get("data", [])) if r.status_code == 200 else []
        return items if len(items) >= count else None

    return await eventually(enough, timeout=30, what=f"{count} events at {path}")


async def attempts(client: httpx.AsyncClient, stack: Stack, endpoint_id: str) -> list[Any]:
    r = await client.get(
        f"{stack.url}/v1/webhooks/{endpoint_id}/deliveries", headers=stack.headers()
    )
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


async def test_every_delivery_verifies_before_and_across_a_secret_rotation(
    fast: Stack, receiver: Receiver
) -> None:
    fast.start("worker")
    async with httpx.AsyncClient(timeout=30) as client:
        await fast.wait_api()
        endpoint = await create_endpoint(client, fast, receiver.url("/hooks"))
        first_secret = endpoint["secret"]
        [message] = await send(client, fast, to=["ada@example.com"])
        await arrived(receiver, "/hooks", 2)  # queued and sent

        for delivery in receiver.at("/hooks"):
            body = Webhook(first_secret).verify(delivery.body, delivery.headers)
            assert body["data"]["message_id"] == message["id"]
            assert delivery.id == body["data"]["id"]  # webhook-id is the event id
        assert {d.payload["type"] for d in receiver.at("/hooks")} == {"queued", "sent"}

        # What a webhook carries is what the Events API serves.
        sent = next(d.payload for d in receiver.at("/hooks") if d.payload["type"] == "sent")
        listed = await listed_events(client, fast, f"/v1/messages/{message['id']}/events", 2)
        assert sent["data"] in listed

        r = await client.post(
            f"{fast.url}/v1/webhooks/{endpoint['id']}/rotate", json={}, headers=fast.headers()
        )
        assert r.status_code == 200, r.text
        second_secret = r.json()["secret"]
        assert second_secret != first_secret
        await send(client, fast, to=["bob@example.com"])
        await arrived(receiver, "/hooks", 4)

        # During the overlap each delivery carries both signatures: either secret verifies.
        for delivery in receiver.at("/hooks")[2:]:
            assert len(delivery.headers["webhook-signature"].split(" ")) == 2
            Webhook(second_secret).verify(delivery.body, delivery.headers)
            Webhook(first_secret).verify(delivery.body, delivery.headers)


async def test_a_batching_endpoint_gets_several_events_in_one_signed_request(
    fast: Stack, receiver: Receiver
) -> None:
    fast.start("worker")
    async with httpx.AsyncClient(timeout=30) as client:
        await fast.wait_api()
        endpoint = await create_endpoint(
            client, fast, receiver.url("/batched"), event_types=["queued"], batch_size=10
        )
        to = [f"user{i}@example.com" for i in range(5)]
        await send(client, fast, to=to)

        async def all_five() -> bool:
            return sum(len(d.payload["data"]) for d in receiver.at("/batched")) >= 5

        await eventually(all_five, timeout=60, what="five queued events")
        batches = receiver.at("/batched")
        assert len(batches) < 5  # some came together
        for delivery in batches:
            body = Webhook(endpoint["secret"]).verify(delivery.body, delivery.headers)
            assert body["type"] == "batch"
            assert {item["type"] for item in body["data"]} == {"queued"}
        recipients = [item["data"]["recipient"] for d in batches for item in d.payload["data"]]
        assert sorted(recipients) == sorted(to)


async def test_a_receiver_failing_three_times_gets_the_event_on_the_fourth_try(
    fast: Stack, receiver: Receiver
) -> None:
    receiver.answers["/flaky"] = [500, 500, 500]
    fast.start("worker")
    async with httpx.AsyncClient(timeout=30) as client:
        await fast.wait_api()
        endpoint = await create_endpoint(client, fast, receiver.url("/flaky"), event_types=["sent"])
        await send(client, fast, to=["ada@example.com"])
        await arrived(receiver, "/flaky", 4)

        tries = receiver.at("/flaky")
        assert [d.status for d in tries] == [500, 500, 500, 200]
        assert len({d.id for d in tries}) == 1  # the same webhook-id every time
        assert len({d.body for d in tries}) == 1

        async def four_attempts() -> list[Any]:
            found = await attempts(client, fast, endpoint["id"])
            return found if len(found) == 4 else []

        log = await eventually(four_attempts, timeout=30, what="four recorded attempts")
        assert [(a["attempt"], a["outcome"], a["status"]) for a in reversed(log)] == [
            (1, "failed", 500),
            (2, "failed", 500),
            (3, "failed", 500),
            (4, "succeeded", 200),
        ]

        # A replay sends the same event again, under the same id.
        await listed_events(client, fast, "/v1/events", 1, type="sent")
        r = await client.post(
            f"{fast.url}/v1/webhooks/{endpoint['id']}/replay",
            json={"event_id": tries[0].id},
            headers=fast.headers(),
        )
        assert r.status_code == 202, r.text
        await arrived(receiver, "/flaky", 5)
        assert receiver.at("/flaky")[4].id == tries[0].id
        assert len(receiver.at("/flaky")) == 5


async def test_410_disables_the_endpoint_with_no_further_attempt(
    fast: Stack, receiver: Receiver
) -> None:
    receiver.answers["/gone"] = [410]
    fast.start("worker")
    async with httpx.AsyncClient(timeout=30) as client:
        await fast.wait_api()
        gone = await create_endpoint(client, fast, receiver.url("/gone"), event_types=["sent"])
        # A second endpoint of the workspace hears about the disabling, and paces the test.
        watcher = await create_endpoint(client, fast, receiver.url("/watch"))
        await send(client, fast, to=["ada@example.com"])
        await arrived(receiver, "/gone", 1)

        async def disabled() -> dict[str, Any] | None:
            r = await client.get(f"{fast.url}/v1/webhooks/{gone['id']}", headers=fast.headers())
            found = dict(r.json())
            return found if found["enabled"] is False else None

        found = await eventually(disabled, timeout=30, what="the endpoint to be disabled")
        assert found["disabled_reason"] == "gone"

        async def told() -> Delivery | None:
            return next(
                (d for d in receiver.at("/watch") if d.payload["type"] == "webhook_disabled"),
                None,
            )

        notice = await eventually(told, timeout=30, what="the webhook_disabled event")
        Webhook(watcher["secret"]).verify(notice.body, notice.headers)
        assert notice.payload["data"]["webhook_id"] == gone["id"]
        listed = await listed_events(client, fast, "/v1/events", 1, type="webhook_disabled")
        assert [e["webhook_id"] for e in listed] == [gone["id"]]

        # Mail keeps flowing; the watcher gets its events, the disabled endpoint nothing.
        [later] = await send(client, fast, to=["bob@example.com"])

        async def watcher_saw_it() -> bool:
            return any(
                d.payload["data"].get("message_id") == later["id"] and d.payload["type"] == "sent"
                for d in receiver.at("/watch")
            )

        await eventually(watcher_saw_it, timeout=60, what="the watcher to get the next mail")
        assert len(receiver.at("/gone")) == 1


async def test_restarting_the_worker_loses_no_pending_retry(
    fast: Stack, receiver: Receiver
) -> None:
    fast.extra_env["HERALD_WEBHOOK_RETRY_SCHEDULE"] = "[4.0, 4.0, 4.0, 4.0]"
    receiver.answers["/down"] = [500] * 5
    fast.start("worker")
    async with httpx.AsyncClient(timeout=30) as client:
        await fast.wait_api()
        endpoint = await create_endpoint(client, fast, receiver.url("/down"), event_types=["sent"])
        messages = await send(client, fast, to=[f"user{i}@example.com" for i in range(5)])
        await arrived(receiver, "/down", 5)  # each failed once: five retries pending

        async def failures_recorded() -> bool:
            return len(await attempts(client, fast, endpoint["id"])) >= 5

        await eventually(failures_recorded, timeout=30, what="the failed attempts")
        fast.kill("worker")
        fast.start("worker")

        async def all_delivered() -> set[str]:
            ok = {d.payload["data"]["message_id"] for d in receiver.at("/down") if d.status == 200}
            return ok if ok == {m["id"] for m in messages} else set()

        await eventually(all_delivered, timeout=90, what="every pending retry after the restart")
        per_event = Counter(d.id for d in receiver.at("/down"))
        assert len(per_event) == 5


async def test_the_deliveries_log_shows_what_the_endpoint_answered(
    fast: Stack, receiver: Receiver
) -> None:
    receiver.answers["/picky"] = [400, 400, 400, 400, 400]
    fast.start("worker")
    async with httpx.AsyncClient(timeout=30) as client:
        await fast.wait_api()
        endpoint = await create_endpoint(client, fast, receiver.url("/picky"), event_types=["sent"])
        await send(client, fast, to=["ada@example.com"])

        async def dead() -> list[Any]:
            r = await client.get(
                f"{fast.url}/v1/webhooks/{endpoint['id']}/deliveries",
                params={"outcome": "dead"},
                headers=fast.headers(),
            )
            return list(r.json()["data"])

        # Five tries (the first and four retries), then the event is in the dead letter.
        [last] = await eventually(dead, timeout=60, what="the event in the dead letter")
        assert (last["attempt"], last["status"], last["response"]) == (5, 400, "nope")
        assert last["latency_ms"] >= 0
        assert len(receiver.at("/picky")) == 5
        assert len(await attempts(client, fast, endpoint["id"])) == 5


async def test_an_endpoint_failing_for_longer_than_allowed_is_disabled(
    fast: Stack, receiver: Receiver
) -> None:
    fast.extra_env["HERALD_WEBHOOK_DISABLE_AFTER"] = "1.0"
    receiver.answers["/broken"] = [500] * 10
    fast.start("worker")
    async with httpx.AsyncClient(timeout=30) as client:
        await fast.wait_api()
        broken = await create_endpoint(client, fast, receiver.url("/broken"), event_types=["sent"])
        await send(client, fast, to=["ada@example.com"])

        async def disabled() -> dict[str, Any] | None:
            r = await client.get(f"{fast.url}/v1/webhooks/{broken['id']}", headers=fast.headers())
            found = dict(r.json())
            return found if found["enabled"] is False else None

        found = await eventually(disabled, timeout=60, what="the endpoint to be disabled")
        assert found["disabled_reason"] == "failing"
        # Failing from the first try on, it was given up once it had failed for over 1 s:
        # on the third try (0.5 s apart, up to 10% later each), well before the schedule ends.
        assert 3 <= len(receiver.at("/broken")) <= 4
        [event] = await listed_events(client, fast, "/v1/events", 1, type="webhook_disabled")
        assert event["webhook_id"] == broken["id"]
