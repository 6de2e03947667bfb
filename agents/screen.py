"""Screen: the per-recipient stage (``herald.sends.by_recipient`` -> ``herald.sends.ready``).

Records here are partitioned by recipient address, which is where recipient-keyed decisions
(suppression lists, per-recipient dedupe) belong; today it validates and forwards each delivery
to the dispatch stage, repartitioned by workspace for the workspace throttle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.deadletters import guard
from streams import topics
from streams.records import Delivery, decode

if TYPE_CHECKING:
    from agents.app import Worker


def register(worker: Worker) -> None:
    async def screen(stream: Any) -> None:
        async for event in stream.events():
            async with guard(worker.dead_letters, topics.SENDS_BY_RECIPIENT.name, event.value):
                delivery = decode(event.value, Delivery)
                await worker.ready.send(key=delivery.workspace_id.encode(), value=event.value)

    worker.app.agent(worker.by_recipient, name="screen")(screen)
