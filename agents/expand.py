"""Expand: one accepted send request becomes one delivery per recipient, repartitioned by
recipient address (``herald.sends.requested`` -> ``herald.sends.by_recipient``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from agents.deadletters import guard
from agents.outcomes import event_for
from streams import topics
from streams.records import Delivery, SendRequested, decode, encode
from streams.topics import recipient_key

if TYPE_CHECKING:
    from agents.app import Worker


def deliveries(request: SendRequested) -> list[Delivery]:
    return [
        Delivery(
            message_id=r.message_id,
            request_id=request.request_id,
            workspace_id=request.workspace_id,
            recipient=r.address,
            content=request.content,
            accepted_at=request.accepted_at,
            limit=request.limit,
        )
        for r in request.recipients
    ]


def register(worker: Worker) -> None:
    async def expand(stream: Any) -> None:
        async for event in stream.events():
            async with guard(worker.dead_letters, topics.SENDS_REQUESTED.name, event.value):
                request = decode(event.value, SendRequested)
                now = time.time()
                for delivery in deliveries(request):
                    # "queued" first: it opens the message's timeline before any later step.
                    queued = event_for(delivery, "queued", at=now)
                    await worker.outcomes.send(
                        key=delivery.message_id.encode(), value=encode(queued)
                    )
                    key = recipient_key(delivery.recipient)
                    await worker.by_recipient.send(key=key, value=encode(delivery))

    worker.app.agent(worker.requested, name="expand")(expand)
