"""The real source: its own consumer (no group, nothing committed) on ``herald.events``,
``herald.deadletters`` and ``herald.webhooks.attempts``.

It starts at the end of the events (or at ``since``), a few records back on the other two (so
the health pane shows the latest dead letters and webhook failures at once), and reads with
``getmany`` into one decoded batch per poll. When the broker goes away it says so, and starts
again where it stopped once the broker is back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import UnknownTopicOrPartitionError

from dashboard.clock import Clock, SystemClock
from dashboard.decode import TOPICS, RawRecord, decode_records
from dashboard.health import Health
from dashboard.probe import FAILURES, Probe, scan_suppressions
from dashboard.source import Batch, Lookup, SourceStatus
from streams.topics import EVENTS


class KafkaSource:
    def __init__(
        self,
        bootstrap: str,
        *,
        since: float | None = None,
        clock: Clock | None = None,
        history: int = 20,
        max_records: int = 1_000,
        retry_every: float = 2.0,
    ) -> None:
        self.label = bootstrap
        self.bootstrap = bootstrap
        self.since = since
        self.history = history  # records read back on dead letters and webhook attempts
        self.max_records = max_records
        self.retry_every = retry_every
        self.probe = Probe(bootstrap, clock or SystemClock())
        self._positions: dict[TopicPartition, int] = {}  # next offset to read, per partition

    def _consumer(self) -> AIOKafkaConsumer:
        # Subscribed without a group: every partition of the three topics is assigned, and
        # nothing is ever committed (the dashboard moves nobody's offsets).
        return AIOKafkaConsumer(
            *TOPICS,
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            # Only used when a saved position is gone (retention, a new cluster): read what
            # still exists rather than skip it.
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )

    async def batches(self) -> AsyncGenerator[Batch, None]:
        while True:
            consumer = self._consumer()
            try:
                await consumer.start()
                assigned = await self._position(consumer)
                detail = f"reading {len(assigned)} partitions"
                yield Batch(status=SourceStatus(connected=True, detail=detail))
                while True:
                    got = await consumer.getmany(timeout_ms=250, max_records=self.max_records)
                    if got:
                        yield self._decode(got)
            except UnknownTopicOrPartitionError:
                detail = f"waiting for Herald's topics ({', '.join(TOPICS)})"
                yield Batch(status=SourceStatus(connected=False, detail=detail))
                await asyncio.sleep(self.retry_every)
            except FAILURES as exc:
                detail = f"cannot read {self.bootstrap}: {type(exc).__name__}: {exc}"
                yield Batch(status=SourceStatus(connected=False, detail=detail))
                await asyncio.sleep(self.retry_every)
            finally:
                with contextlib.suppress(*FAILURES):
                    await consumer.stop()

    def _decode(self, got: dict[TopicPartition, list[RawRecord]]) -> Batch:
        records: dict[tuple[str, int], list[RawRecord]] = {}
        for tp, batch in got.items():
            if batch:
                self._positions[tp] = batch[-1].offset + 1
                records[(tp.topic, tp.partition)] = batch
        return decode_records(records)

    async def _position(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        tps = sorted(consumer.assignment())
        fresh = [tp for tp in tps if tp not in self._positions]
        for tp in tps:
            if tp in self._positions:
                consumer.seek(tp, self._positions[tp])
        await self._start_at(consumer, fresh)
        for tp in fresh:  # pinned now, so a reconnect never skips what came meanwhile
            self._positions[tp] = await consumer.position(tp)
        return tps

    async def _start_at(self, consumer: AIOKafkaConsumer, fresh: list[TopicPartition]) -> None:
        if not fresh:
            return
        # Explicit offsets and seek(): seek_to_end() can lose a race with the reset the
        # subscription started, and the log would begin at the oldest record.
        end = await consumer.end_offsets(fresh)
        if self.since is not None:
            stamp = int(self.since * 1000)
            found = await consumer.offsets_for_times({tp: stamp for tp in fresh})
            for tp in fresh:
                hit = found.get(tp)
                consumer.seek(tp, end[tp] if hit is None else hit.offset)  # None: nothing since
            return
        begin = await consumer.beginning_offsets(fresh)
        for tp in fresh:
            back = 0 if tp.topic == EVENTS.name else self.history
            consumer.seek(tp, max(begin[tp], end[tp] - back))

    async def health(self) -> Health:
        return await self.probe.health()

    async def close(self) -> None:
        await self.probe.close()

    async def lookup(self, address: str) -> Lookup:
        return await scan_suppressions(self.bootstrap, address)
