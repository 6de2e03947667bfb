"""Every webhook endpoint's configuration, held by every worker.

Endpoints are few and every worker needs all of them (events of any workspace arrive on any
partition), so each worker reads the whole compacted ``herald.webhooks`` topic with a consumer
of its own: no group, no committed offsets, from the beginning at each start.

:meth:`EndpointDirectory.caught_up` waits until everything on the topic when it was called has
been read. The fan-out calls it before each batch of events, so an endpoint whose creation the
API acknowledged before an event was published receives that event.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped,unused-ignore]

from streams.records import RecordError, WebhookEndpoint, decode
from streams.topics import WEBHOOKS

log = logging.getLogger(__name__)

_POLL_MS = 200


class EndpointDirectory:
    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._by_id: dict[str, WebhookEndpoint] = {}
        self._by_workspace: dict[str, dict[str, WebhookEndpoint]] = defaultdict(dict)
        self._consumer: Any = None  # an AIOKafkaConsumer once run() started
        self._read = asyncio.Event()  # set after each batch applied
        self._started = asyncio.Event()

    def get(self, endpoint_id: str) -> WebhookEndpoint | None:
        return self._by_id.get(endpoint_id)

    def of_workspace(self, workspace_id: str) -> list[WebhookEndpoint]:
        return list(self._by_workspace.get(workspace_id, {}).values())

    def apply(self, endpoint: WebhookEndpoint) -> None:
        """Keep the newest configuration of each endpoint (records may be read twice). A deleted
        endpoint stays deleted, as in the database."""
        held = self._by_id.get(endpoint.id)
        if held is not None and (held.deleted or held.changed_at >= endpoint.changed_at):
            return
        self._by_id[endpoint.id] = endpoint
        self._by_workspace[endpoint.workspace_id][endpoint.id] = endpoint

    async def run(self) -> None:
        """Read the topic for as long as the worker runs."""
        # Subscribed without a group: every partition is assigned, from the earliest offset.
        consumer = AIOKafkaConsumer(
            WEBHOOKS.name,
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        self._consumer = consumer
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=_POLL_MS)
                for messages in batches.values():
                    for message in messages:
                        self._apply_bytes(message.value)
                if consumer.assignment():
                    self._started.set()
                self._read.set()
                self._read.clear()
        finally:
            await consumer.stop()

    async def caught_up(self) -> None:
        """Return once every record on the topic at the time of the call has been applied."""
        await self._started.wait()
        consumer = self._consumer
        partitions = sorted(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        while True:
            positions = [await consumer.position(tp) for tp in partitions]
            if all(at >= ends[tp] for tp, at in zip(partitions, positions, strict=True)):
                return
            await self._read.wait()

    def _apply_bytes(self, value: bytes | None) -> None:
        try:
            self.apply(decode(value, WebhookEndpoint))
        except RecordError as exc:
            # Only Herald writes this topic; a bad record is a bug to see, not a reason to stop.
            log.error("ignored a bad webhook endpoint record: %s", exc)
