"""Replaying events to a webhook endpoint: the events are read back from the database and
queued on ``herald.webhooks.tasks`` (keyed by the endpoint, like the fan-out's tasks), each
flagged as a replay, with the same ``data`` the first delivery carried.

An event named by id is delivered whatever the endpoint's filters: the client asked for it. A
time range keeps what the endpoint wants (its event types, tags and programs), at most
:data:`MAX_EVENTS`; more is refused as a whole, so a replay is never silently cut short.

A replay is at least once: when Kafka refuses part of it (503), the part it took is delivered,
and replaying again delivers those events again (receivers deduplicate on ``webhook-id``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from api.errors import NotFound, ValidationFailed
from api.producer import SendProducer
from api.validation import FieldError
from api.webhook_input import ReplayAsk
from streams import records
from streams.records import WebhookEndpoint, WebhookTask
from streams.topics import WEBHOOK_TASKS
from streams.webhook_filters import wants
from tables import events
from tables.events import EventFilters

MAX_EVENTS = 10_000
MAX_SCANNED = 100_000  # events of the range read to find them: bounds one request's work
PAGE = 1_000
PUBLISH_AT_ONCE = 500  # records in flight together: the broker batches them


async def chosen_events(endpoint: WebhookEndpoint, ask: ReplayAsk) -> list[dict[str, Any]]:
    """The events to deliver again, oldest first (each as the Events API shows it)."""
    if ask.event_id is not None:
        found = await events.get_events(endpoint.workspace_id, [ask.event_id])
        if not found:
            raise NotFound(f"This workspace has no event {ask.event_id}.")
        return found
    # Event types narrow the query itself; tags and programs are judged row by row.
    filters = EventFilters(types=endpoint.event_types, since=ask.since, until=ask.until)
    kept: list[dict[str, Any]] = []
    scanned, cursor, more = 0, None, True
    while more:
        page, more = await events.list_events(
            endpoint.workspace_id, filters, limit=PAGE, order="oldest", starting_after=cursor
        )
        scanned += len(page)
        kept += [e for e in page if wants(endpoint, e["type"], e["tags"], e["program"])]
        if len(kept) > MAX_EVENTS:
            raise _too_wide(f"more than {MAX_EVENTS} events match")
        if more and scanned >= MAX_SCANNED:
            raise _too_wide(f"more than {MAX_SCANNED} events happened in it")
        cursor = page[-1]["id"] if page else None
    return kept


def _too_wide(why: str) -> ValidationFailed:
    return ValidationFailed([FieldError("until", f"{why}: narrow the range")])


def task(endpoint: WebhookEndpoint, data: dict[str, Any]) -> WebhookTask:
    return WebhookTask(
        endpoint_id=endpoint.id,
        workspace_id=endpoint.workspace_id,
        event_id=data["id"],
        event_type=data["type"],
        at=datetime.fromisoformat(data["at"]).timestamp(),
        data=data,
        replay=True,
    )


async def queue(producer: SendProducer, tasks: list[WebhookTask]) -> None:
    """Produce every task and wait for the acknowledgements; raise why Kafka refused one."""
    for start in range(0, len(tasks), PUBLISH_AT_ONCE):
        await asyncio.gather(
            *(
                producer.publish(WEBHOOK_TASKS.name, t.endpoint_id.encode(), records.encode(t))
                for t in tasks[start : start + PUBLISH_AT_ONCE]
            )
        )
