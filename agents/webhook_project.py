"""Webhook projection: endpoint configurations and delivery attempts into the database, so
the API can list them (``herald.webhooks`` -> webhook_endpoints, ``herald.webhooks.attempts``
-> webhook_attempts).

The API writes endpoint changes itself too; both writes are idempotent upserts where the
newest change wins, so this agent matters for the changes the worker makes (disabling an
endpoint) and for an API write that failed after Kafka took the record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.database import write_until_done
from agents.deadletters import guard
from streams import topics
from streams.records import WebhookAttempt, WebhookEndpoint, decode
from tables import webhooks

if TYPE_CHECKING:
    from agents.app import Worker


def register(worker: Worker) -> None:
    async def project_endpoints(stream: Any) -> None:
        async for events in stream.take_events(100, within=0.1):
            batch: list[WebhookEndpoint] = []
            for event in events:
                async with guard(worker.dead_letters, topics.WEBHOOKS.name, event.value):
                    batch.append(decode(event.value, WebhookEndpoint))
            if batch:
                await write_until_done(worker.settings, webhooks.apply_endpoints, batch)

    async def project_attempts(stream: Any) -> None:
        async for events in stream.take_events(500, within=0.1):
            batch: list[WebhookAttempt] = []
            for event in events:
                async with guard(worker.dead_letters, topics.WEBHOOK_ATTEMPTS.name, event.value):
                    batch.append(decode(event.value, WebhookAttempt))
            if batch:
                await write_until_done(worker.settings, webhooks.record_attempts, batch)

    worker.app.agent(worker.webhooks, name="webhook-endpoints-project")(project_endpoints)
    worker.app.agent(worker.webhook_attempts, name="webhook-attempts-project")(project_attempts)
