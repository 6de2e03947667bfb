"""The worker's Kafka plumbing: Faust's aiokafka driver and flow control, with three
corrections Herald relies on, and one shortcut.

- **Idempotent produce.** Faust only turns idempotence on inside transactions; Herald wants it
  on every produce (DESIGN.md: producers ``acks=all`` + idempotence, so a retried produce never
  duplicates).
- **No skipped records.** Faust's consumer treats a jump in a partition's offsets as a gap (what
  compaction or transaction markers leave) and commits past it. On Herald's topics, which are
  neither compacted nor transactional, a jump only happens when records fetched around a
  rebalance were dropped before reaching the agents (faust-streaming issues 216 and 606): seen
  after a restarted worker, 34 sends were never dispatched and their offsets were committed.
  Such a jump now sends the partition back to the last offset read, once (records deleted by
  retention meanwhile cannot be read again: the same jump seen twice is let through). Records
  read twice are harmless, every agent being at-least-once.
- **No emptied queues.** At the end of a recovery Faust resumes the stream partitions, seeks
  them to their committed offsets while the fetcher runs, then resumes its flow control again,
  and mode's ``FlowControlEvent.resume`` empties every agent's queue even when the flow already
  runs. Records fetched meanwhile were thrown away with their offsets already marked read: 8
  sends of a restarted worker were never dispatched, with no jump to see. Resuming a running
  flow now changes nothing; those records are handled, and read again after the seek.
- **Direct produce.** Agents queue records on aiokafka's producer itself
  (``_IdempotentProducer.enqueue``), not through Faust's ``Topic.send``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiokafka.errors import IllegalStateError
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.utils.queues import FlowControlEvent

from streams.topics import all_topics

log = logging.getLogger(__name__)

_COMPACTED = frozenset(spec.name for spec in all_topics(0) if spec.compacted)


def contiguous(topic: str) -> bool:
    """Whether the topic's offsets never jump: Herald's own topics (not the changelogs, named
    after the worker group) that are not compacted."""
    return topic.startswith("herald.") and topic not in _COMPACTED


class _IdempotentProducer(faust_aiokafka.Producer):
    def _settings_extra(self) -> dict[str, Any]:
        return {"acks": "all", "enable_idempotence": True}

    async def enqueue(self, topic: str, key: bytes, value: bytes) -> None:
        """Queue a record on aiokafka's producer itself. Faust's ``Topic.send`` wraps each
        record in futures, buffers and sensor calls that cost more than aiokafka's own send
        (BENCHMARKS.md); the flush Faust does before every commit covers these records too."""
        await self._ensure_producer().send(topic, value, key=key)


class _GaplessConsumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rewound: dict[Any, int] = {}  # partition -> offset it was last sent back to

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:  # noqa: ASYNC109 (Faust's signature)
        rewinding: set[Any] = set()
        async for tp, message in super().getmany(timeout):
            if tp in rewinding:
                continue  # fetched again after the rewind
            # The offset last handed to the agents, or (just after a seek) the next one due.
            read = self._read_offset[tp]
            if (
                read is not None
                and message.offset > read + 1
                and contiguous(tp.topic)
                and self._rewound.get(tp) != read
            ):
                # Also seen just after Faust's own seek to the committed offset, with records
                # fetched before it still arriving: reading again is right then too.
                log.warning(
                    "%s[%d]: offset %d came after %d; reading again from %d",
                    tp.topic,
                    tp.partition,
                    message.offset,
                    read,
                    read,
                )
                self._rewound[tp] = read
                rewinding.add(tp)
                # Revoked meanwhile: its next owner starts before the skipped records anyway.
                with contextlib.suppress(IllegalStateError):
                    await self.seek(tp, read)
                continue
            yield tp, message


class Transport(faust_aiokafka.Transport):
    Consumer = _GaplessConsumer
    Producer = _IdempotentProducer


class FlowControl(FlowControlEvent):
    """Faust's flow control, except that resuming a flow that already runs changes nothing
    (mode's ``resume`` also empties every agent's queue, whatever the state)."""

    def resume(self) -> None:
        if not self.is_active():
            super().resume()
