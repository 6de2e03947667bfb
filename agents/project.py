"""Project: write every event into the database, so the status API can read it
(``herald.events`` -> messages and message_events tables).

Projection is idempotent (event ids are stable), so a batch replayed after a crash changes
nothing. While the database is unreachable the agent retries the same batch rather than skipping
it: events are never dropped from the timeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.database import write_until_done
from agents.deadletters import guard
from streams import topics
from streams.records import Event, decode
from tables import messages

if TYPE_CHECKING:
    from agents.app import Worker


def register(worker: Worker) -> None:
    async def project(stream: Any) -> None:
        async for events in stream.take_events(500, within=0.1):
            batch: list[Event] = []
            for event in events:
                async with guard(worker.dead_letters, topics.EVENTS.name, event.value):
                    batch.append(decode(event.value, Event))
            if batch:
                await write_until_done(worker.settings, messages.project_events, batch)

    worker.app.agent(worker.events, name="project")(project)
