"""Webhook projection: endpoint configurations and delivery attempts into the database, so
the API can list them (``herald.webhooks`` -> webhook_endpoints, ``herald.webhooks.attempts``
-> webhook_attempts).

The API writes endpoint changes itself too; both writes are idempotent upserts where the
newest change wins, so this agent matters for the changes the worker makes (disabling an
endpoint) and for an API write that failed after Kafka took the record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents.database import projection
from streams import topics
from streams.records import WebhookAttempt, WebhookEndpoint
from tables import webhooks

if TYPE_CHECKING:
    from agents.app import Worker


def register(worker: Worker) -> None:
    settings, dead_letters = worker.settings, worker.dead_letters
    endpoints = projection(
        settings, dead_letters, topics.WEBHOOKS.name, WebhookEndpoint, webhooks.apply_endpoints
    )
    attempts = projection(
        settings,
        dead_letters,
        topics.WEBHOOK_ATTEMPTS.name,
        WebhookAttempt,
        webhooks.record_attempts,
    )
    worker.app.agent(worker.webhooks, name="webhook-endpoints-project")(endpoints)
    worker.app.agent(worker.webhook_attempts, name="webhook-attempts-project")(attempts)
