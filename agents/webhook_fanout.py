"""Webhook fan-out: each event, once per endpoint that should receive it
(``herald.events`` -> ``herald.webhooks.tasks``, keyed by endpoint id).

Before each batch the endpoint directory catches up with ``herald.webhooks``: an endpoint the
API acknowledged before an event was published gets that event. The task carries the event as
the Events API shows it, so the body is the same on every retry and on a replay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.deadletters import guard
from agents.webhook_directory import EndpointDirectory
from streams import topics
from streams.public import event_data
from streams.records import Event, WebhookTask, decode, encode
from streams.webhook_filters import receives

if TYPE_CHECKING:
    from agents.app import Worker


def tasks_for(event: Event, directory: EndpointDirectory) -> list[WebhookTask]:
    tasks: list[WebhookTask] = []
    data: dict[str, Any] | None = None
    for endpoint in directory.of_workspace(event.workspace_id):
        if not receives(endpoint, event.type, event.tags, event.program):
            continue
        data = data or event_data(event)
        tasks.append(
            WebhookTask(
                endpoint_id=endpoint.id,
                workspace_id=event.workspace_id,
                event_id=event.event_id,
                event_type=event.type,
                at=event.at,
                data=data,
            )
        )
    return tasks


def register(worker: Worker, directory: EndpointDirectory) -> None:
    async def fan_out(stream: Any) -> None:
        async for events in stream.take_events(500, within=0.1):
            await directory.caught_up()
            for event in events:
                async with guard(worker.dead_letters, topics.EVENTS.name, event.value):
                    for task in tasks_for(decode(event.value, Event), directory):
                        await worker.send(
                            worker.webhook_tasks, task.endpoint_id.encode(), encode(task)
                        )

    worker.app.agent(worker.events, name="webhook-fanout")(fan_out)
