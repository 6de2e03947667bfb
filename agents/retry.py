"""Retry: deferred deliveries wait in their tier's topic until due, then go back through the
per-recipient stage (so anything decided there since, such as a suppression, still applies).

Every record in one tier topic has the same delay, so the head of each partition is always the
first due: the agent only ever sleeps for its head.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from agents.deadletters import guard
from streams import topics
from streams.records import Delivery, decode
from streams.topics import recipient_key

if TYPE_CHECKING:
    from agents.app import Worker


def register(worker: Worker) -> None:
    for tier, topic in enumerate(worker.retries):
        _register_tier(worker, tier, topic)


def _register_tier(worker: Worker, tier: int, topic: Any) -> None:
    source = topics.retry_topic(tier).name

    async def wait_and_requeue(stream: Any) -> None:
        async for event in stream.events():
            async with guard(worker.dead_letters, source, event.value):
                delivery = decode(event.value, Delivery)
                delay = delivery.due_at - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                key = recipient_key(delivery.recipient)
                await worker.send(worker.by_recipient, key, event.value)

    worker.app.agent(topic, name=f"retry-{tier}")(wait_and_requeue)
