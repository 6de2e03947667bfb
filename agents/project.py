"""Project: write every event into the database, so the status API can read it
(``herald.events`` -> messages and message_events tables).

Projection is idempotent (event ids are stable), so a batch replayed after a crash changes
nothing. While the database is unreachable the agent retries the same batch rather than skipping
it: events are never dropped from the timeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents.database import projection
from streams import topics
from streams.records import Event
from tables import messages

if TYPE_CHECKING:
    from agents.app import Worker


def register(worker: Worker) -> None:
    project = projection(
        worker.settings, worker.dead_letters, topics.EVENTS.name, Event, messages.project_events
    )
    worker.app.agent(worker.events, name="project")(project)
