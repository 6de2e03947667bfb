"""How soon a new suppression stops sends: from the API's 2xx to the last send that still went
out.

For each trial a fresh address is suppressed through ``POST /v1/suppressions``; from the
moment the 2xx arrives, one send to that address is requested every ``STEP`` seconds for
``WINDOW`` seconds. Once every one of them has a final status, the figure is the request time
(after the 2xx) of the latest send that was still delivered; the promise is that it stays
under 1 s. Sends requested before any delivered one would show a race, not a delay.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tables.db import Message
from tests.integration.stack import Stack, eventually
from tests.support.seed import SEED

STEP = 0.02
WINDOW = 1.5
FINAL = ("sent", "suppressed", "bounced", "failed")


async def _trial(client: httpx.AsyncClient, stack: Stack, address: str) -> tuple[float, float]:
    """(latest delivered request time, earliest suppressed request time), seconds after 2xx."""
    r = await client.post(
        f"{stack.url}/v1/suppressions", json={"email": address}, headers=stack.headers()
    )
    r.raise_for_status()
    answered = time.monotonic()
    sends: list[tuple[float, str]] = []
    while (offset := time.monotonic() - answered) < WINDOW:
        body = {**SEED, "to": [address]}
        s = await client.post(f"{stack.url}/v1/emails", json=body, headers=stack.headers())
        s.raise_for_status()
        sends.append((offset, s.json()["messages"][0]["id"]))
        await asyncio.sleep(max(0.0, answered + offset + STEP - time.monotonic()))
    ids = [message_id for _, message_id in sends]

    async def settled() -> dict[str, str] | None:
        rows = await Message.select(Message.id, Message.status).where(Message.id.is_in(ids))
        statuses = {row["id"]: row["status"] for row in rows}
        done = len(statuses) == len(ids) and all(s in FINAL for s in statuses.values())
        return statuses if done else None

    statuses = await eventually(settled, timeout=120, what="every probe send to settle")
    delivered = [offset for offset, m in sends if statuses[m] == "sent"]
    suppressed = [offset for offset, m in sends if statuses[m] == "suppressed"]
    return (max(delivered) if delivered else -1.0, min(suppressed) if suppressed else WINDOW)


async def measure(stack: Stack, trials: int = 5) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        results = [await _trial(client, stack, f"probe{i}@example.com") for i in range(trials)]
    return {
        "trials": trials,
        "latest_delivered_ms": max(r[0] for r in results) * 1000,
        "earliest_suppressed_ms": max(r[1] for r in results) * 1000,
    }
