"""Tracking and unsubscribe end to end: the links in a delivered mail, followed over real HTTP,
show up in the message's timeline, and a one-click unsubscribe stops the next send of that
program (and only that program)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.integration.stack import Stack, eventually
from tests.support.seed import SEED

pytestmark = pytest.mark.integration

HTML = '<html><body><p>Hi</p><a href="https://acme.example/offer?x=1">the offer</a></body></html>'


async def send(client: httpx.AsyncClient, stack: Stack, **fields: Any) -> str:
    r = await client.post(
        f"{stack.url}/v1/emails", json={**SEED, **fields}, headers=stack.headers()
    )
    assert r.status_code == 202, r.text
    return str(r.json()["messages"][0]["id"])


async def test_opens_clicks_and_one_click_unsubscribe(stack: Stack) -> None:
    stack.start("worker")
    async with httpx.AsyncClient(timeout=30, follow_redirects=False) as client:
        message_id = await send(
            client,
            stack,
            to=["ada@example.com"],
            html=HTML,
            program="news",
            track_opens=True,
            track_clicks=True,
        )
        [received] = await stack.smtp.wait_for(1, timeout=120)
        await stack.wait_status(client, message_id, "sent")
        html = received.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        [pixel] = re.findall(r'<img[^>]+src="([^"]+/t/o/[^"]+)"', html)
        [tracked] = re.findall(r'href="([^"]+/t/c/[^"]+)"', html)
        unsubscribe = received.message["List-Unsubscribe"]
        [one_click] = re.findall(r"<(https?://[^>]+/t/u/[^>]+)>", unsubscribe)
        assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

        opened = await client.get(
            pixel.replace("&amp;", "&"), headers={"User-Agent": "Thunderbird"}
        )
        assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif"
        clicked = await client.get(tracked.replace("&amp;", "&"))
        assert clicked.status_code == 302
        assert clicked.headers["location"] == "https://acme.example/offer?x=1"
        tampered = await client.get(tracked.replace("&amp;", "&").replace("offer", "0ffer"))
        assert tampered.status_code == 400 and "location" not in tampered.headers

        done = await client.post(one_click, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200

        async def all_recorded() -> dict[str, Any] | None:
            m = await stack.message(client, message_id)
            types = [e["type"] for e in m["events"]] if m else []
            return m if {"opened", "clicked", "unsubscribed"} <= set(types) else None

        message = await eventually(all_recorded, timeout=60, what="open, click and unsubscribe")
        assert [e["seq"] for e in message["events"]] == list(range(1, 6))
        assert message["status"] == "sent"
        events = {e["type"]: e for e in message["events"]}
        assert events["clicked"]["url"] == "https://acme.example/offer?x=1"
        assert events["opened"]["user_agent"] == "Thunderbird"
        assert events["unsubscribed"]["unsubscribe_scope"] == "program"

        # The unsubscribe became a program suppression: the next "news" mail stops, other
        # programs still go.
        async def program_entry() -> list[dict[str, Any]]:
            r = await client.get(
                f"{stack.url}/v1/suppressions",
                params={"email": "ada@example.com", "program": "news"},
                headers=stack.headers(),
            )
            return list(r.json()["data"])

        [entry] = await eventually(program_entry, timeout=30, what="the unsubscribe entry")
        assert (entry["scope"], entry["reason"]) == ("program", "unsubscribe")
        news = await send(client, stack, to=["ada@example.com"], program="news")
        billing = await send(client, stack, to=["ada@example.com"], program="billing")
        await stack.wait_status(client, news, "suppressed")
        await stack.wait_status(client, billing, "sent")
