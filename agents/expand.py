"""Expand: one accepted send request becomes one delivery per recipient, repartitioned by
recipient address (``herald.sends.requested`` -> ``herald.sends.by_recipient``).

Each delivery's ``queued`` event goes straight onto ``herald.events`` as the message's first
event (``seq`` 1), produced before the delivery itself so it opens the timeline: no other
report can exist before it, so the timeline agent has nothing to number or fill in, and that
hop would cost a fifth of the worker's records per email. A request read again after a crash
publishes the same event (same id, same number) again, as the timeline would."""

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
                    queued = event_for(delivery, "queued", at=now, seq=1)
                    await worker.send(worker.events, delivery.message_id.encode(), encode(queued))
                    key = recipient_key(delivery.recipient)
                    await worker.send(worker.by_recipient, key, encode(delivery))

    worker.app.agent(worker.requested, name="expand")(expand)
