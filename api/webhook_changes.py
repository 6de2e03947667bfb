"""Changing a webhook endpoint: Kafka first, then the database.

Workers deliver from ``herald.webhooks`` (compacted, keyed by endpoint id), not from the
database. So a change is produced first and the API waits for the broker's acknowledgement:
once it answered 2xx, the workers deliver by the new configuration. When Kafka refuses, the
answer is 503 and the database is not touched. When the database write fails after the
acknowledgement, the change still holds: the worker's projection of the topic writes the same
row (the write is idempotent), so the API answers success and logs the failure; a GET may lag
for that moment.
"""

from __future__ import annotations

import logging

from api.errors import NotFound
from api.producer import SendProducer
from api.webhook_input import ENDPOINT_ID
from streams import records
from streams.records import WebhookEndpoint
from streams.topics import WEBHOOKS
from tables import webhooks

log = logging.getLogger("herald.api")


async def existing(workspace_id: str, endpoint_id: str) -> WebhookEndpoint:
    """The endpoint, or the 404 every other case answers (deleted, never made, another
    workspace's, not an id at all)."""
    found = None
    if ENDPOINT_ID.fullmatch(endpoint_id):
        found = await webhooks.get_endpoint(workspace_id, endpoint_id)
    if found is None:
        raise NotFound(f"This workspace has no webhook endpoint {endpoint_id}.")
    return found


async def store(producer: SendProducer, endpoint: WebhookEndpoint) -> None:
    """Produce the endpoint's record (raising why Kafka refused it), then write its row."""
    await producer.publish(WEBHOOKS.name, endpoint.id.encode(), records.encode(endpoint))
    try:
        await webhooks.apply_endpoints([endpoint])
    except Exception:
        log.exception(
            "acknowledged change of webhook endpoint %s not written to the database; the "
            "worker's projection of %s writes it",
            endpoint.id,
            WEBHOOKS.name,
        )
