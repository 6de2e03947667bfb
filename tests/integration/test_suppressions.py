"""Suppressions and synchronous bounces end to end: real HTTP, real broker, real worker, and a
real SMTP server that refuses some recipients (550 5.1.1) and defers others (451 4.7.1)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.integration.stack import Stack, eventually
from tests.support.seed import SEED

pytestmark = pytest.mark.integration


async def send(client: httpx.AsyncClient, stack: Stack, **fields: Any) -> list[dict[str, Any]]:
    r = await client.post(
        f"{stack.url}/v1/emails", json={**SEED, **fields}, headers=stack.headers()
    )
    assert r.status_code == 202, r.text
    return list(r.json()["messages"])


async def suppress(client: httpx.AsyncClient, stack: Stack, **body: Any) -> dict[str, Any]:
    r = await client.post(f"{stack.url}/v1/suppressions", json=body, headers=stack.headers())
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


async def entries(client: httpx.AsyncClient, stack: Stack, email: str) -> list[dict[str, Any]]:
    r = await client.get(
        f"{stack.url}/v1/suppressions", params={"email": email}, headers=stack.headers()
    )
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


def timeline(message: dict[str, Any]) -> list[tuple[int, str]]:
    return [(e["seq"], e["type"]) for e in message["events"]]


async def test_bounces_deferrals_and_the_suppression_a_hard_bounce_leaves(stack: Stack) -> None:
    stack.smtp.reject.add("gone@example.com")
    stack.smtp.defer["slow@example.com"] = 2
    stack.start("worker")
    async with httpx.AsyncClient(timeout=30) as client:
        gone, slow = await send(client, stack, to=["gone@example.com", "slow@example.com"])

        bounced = await stack.wait_status(client, gone["id"], "bounced")
        assert timeline(bounced) == [(1, "queued"), (2, "bounced")]
        event = bounced["events"][1]
        assert (event["bounce"], event["smtp_code"], event["enhanced_code"]) == (
            "hard",
            550,
            "5.1.1",
        )
        assert "user unknown" in event["diagnostic"]

        # Greylisted twice, retried on the schedule, then accepted.
        sent = await stack.wait_status(client, slow["id"], "sent")
        assert timeline(sent) == [(1, "queued"), (2, "deferred"), (3, "deferred"), (4, "sent")]
        assert [e["attempt"] for e in sent["events"]] == [0, 0, 1, 2]
        assert sent["events"][1]["enhanced_code"] == "4.7.1"

        # The hard bounce suppressed the address for the whole workspace...
        async def hard_bounce_entry() -> list[dict[str, Any]]:
            return await entries(client, stack, "gone@example.com")

        [entry] = await eventually(hard_bounce_entry, timeout=30, what="the bounce suppression")
        assert (entry["scope"], entry["reason"], entry["source"]) == (
            "global",
            "hard_bounce",
            "bounce",
        )

        # ...so the next send to it stops at the screen stage: no SMTP traffic at all.
        asked_before = stack.smtp.rcpts("gone@example.com")
        [again] = await send(client, stack, to=["gone@example.com"], program="newsletter")
        suppressed = await stack.wait_status(client, again["id"], "suppressed")
        assert timeline(suppressed) == [(1, "queued"), (2, "suppressed")]
        assert suppressed["events"][1]["suppression"]["id"] == entry["id"]
        assert stack.smtp.rcpts("gone@example.com") == asked_before == 1


async def test_a_new_suppression_stops_sends_within_a_second(stack: Stack) -> None:
    stack.start("worker")
    async with httpx.AsyncClient(timeout=30) as client:
        # Warm the pipeline: a first message goes all the way through.
        [warm] = await send(client, stack, to=["warm@example.com"])
        await stack.wait_status(client, warm["id"], "sent")

        await suppress(client, stack, email="ada@example.com", scope="program", program="news")
        await suppress(client, stack, domain="blocked.example")
        # The promise: a send requested from 1 s after the 2xx on is stopped. (How much sooner
        # it takes effect is measured by `make bench`, not asserted here.)
        await asyncio.sleep(1.0)

        # A program entry stops that program only; a domain entry every address of the domain,
        # whichever partition the address falls on.
        newsletter = (await send(client, stack, to=["ada@example.com"], program="news"))[0]
        billing = (await send(client, stack, to=["ada@example.com"], program="billing"))[0]
        domain = await send(client, stack, to=[f"u{i}@blocked.example" for i in range(8)])

        await stack.wait_status(client, newsletter["id"], "suppressed")
        await stack.wait_status(client, billing["id"], "sent")
        for message in domain:
            found = await stack.wait_status(client, message["id"], "suppressed")
            assert found["events"][-1]["suppression"]["value"] == "@blocked.example"
        assert stack.smtp.rcpts("ada@example.com") == 1
        assert all(stack.smtp.rcpts(f"u{i}@blocked.example") == 0 for i in range(8))

        # Removing the entry lets mail through again.
        [program_entry] = [
            e for e in await entries(client, stack, "ada@example.com") if e["scope"] == "program"
        ]
        r = await client.delete(
            f"{stack.url}/v1/suppressions/{program_entry['id']}", headers=stack.headers()
        )
        assert r.status_code == 204, r.text
        await asyncio.sleep(1.0)
        [after] = await send(client, stack, to=["ada@example.com"], program="news")
        await stack.wait_status(client, after["id"], "sent")
