"""Project: write every event into the database, so the status API can read it
(``herald.events`` -> messages and message_events tables).

Projection is idempotent (event ids are stable), so a batch replayed after a crash changes
nothing. While the database is unreachable the agent retries the same batch rather than skipping
it: events are never dropped from the timeline.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from agents.deadletters import guard
from streams import topics
from streams.records import Event, decode
from tables import database, messages

if TYPE_CHECKING:
    from agents.app import Worker

log = logging.getLogger(__name__)


def register(worker: Worker) -> None:
    connected = False

    async def write(batch: list[Event]) -> None:
        nonlocal connected
        delay = 0.5
        while True:
            try:
                if not connected:
                    await database.connect(worker.settings)
                    connected = True
                await messages.project_events(batch)
                return
            except Exception as exc:  # the database is down or refusing: wait and try again
                log.warning("projection of %d events failed (%r); retrying", len(batch), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def project(stream: Any) -> None:
        async for events in stream.take_events(500, within=0.1):
            batch: list[Event] = []
            for event in events:
                async with guard(worker.dead_letters, topics.EVENTS.name, event.value):
                    batch.append(decode(event.value, Event))
            if batch:
                await write(batch)

    worker.app.agent(worker.events, name="project")(project)
