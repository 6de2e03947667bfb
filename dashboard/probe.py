"""The I/O behind pipeline health and address lookup: an admin client and a consumer with no
group, asking the cluster how far each consumer group is, and reading the suppressions topic.

Every call is bounded by a timeout; a broker that does not answer is a :class:`Health` saying
so, and the clients are rebuilt on the next check.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from dashboard.clock import Clock
from dashboard.health import GroupHealth, Health, partition_lags
from dashboard.source import Lookup, current_entries
from streams.partitioner import kafka_partitioner
from streams.records import RecordError, SuppressionChange, decode
from streams.suppressions import address_value, domain_of
from streams.topics import DEAD_LETTERS, RETRY_PREFIX, SUPPRESSIONS, WORKER_GROUP, recipient_key

FAILURES = (KafkaError, OSError, TimeoutError)
SCAN_TIMEOUT = 60.0  # seconds a lookup may read the suppressions partition


async def herald_partitions(admin: AIOKafkaAdminClient, *names: str) -> list[TopicPartition]:
    """Every partition of Herald's topics (or of ``names``) the cluster has."""
    topics = await admin.describe_topics(list(names) or None)
    return sorted(
        TopicPartition(t["topic"], p["partition"])
        for t in topics
        if t["topic"].startswith("herald.") and not t["error_code"]
        for p in t["partitions"]
    )


def _group_states(described: list[Any]) -> dict[str, tuple[str, int]]:
    """group id -> (state, members) from DescribeGroups responses (raw tuples: error code,
    group id, state, protocol type, protocol, members, ...)."""
    states: dict[str, tuple[str, int]] = {}
    for response in described:
        for group in response.groups:
            states[str(group[1])] = (str(group[2]), len(group[5]))
    return states


class Probe:
    def __init__(self, bootstrap: str, clock: Clock, timeout: float = 5.0) -> None:
        self.bootstrap = bootstrap
        self.clock = clock
        self.timeout = timeout
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def health(self) -> Health:
        try:
            return await asyncio.wait_for(self._check(), self.timeout)
        except FAILURES as exc:
            await self.close()
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            return Health(reachable=False, checked_at=self.clock.now(), error=error)

    async def close(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        with contextlib.suppress(*FAILURES):
            if admin is not None:
                await admin.close()
            if consumer is not None:
                await consumer.stop()

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            await self.close()
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None)
            self._admin, self._consumer = admin, consumer
            await admin.start()
            await consumer.start()
        return self._admin, self._consumer

    async def _check(self) -> Health:
        admin, consumer = await self._clients()
        started = time.perf_counter()
        tps = await herald_partitions(admin)  # a metadata request: the broker answers
        latency_ms = (time.perf_counter() - started) * 1000
        begin = {
            (tp.topic, tp.partition): o for tp, o in (await consumer.beginning_offsets(tps)).items()
        }
        end = {(tp.topic, tp.partition): o for tp, o in (await consumer.end_offsets(tps)).items()}
        group_ids = sorted(str(g[0]) for g in await admin.list_consumer_groups())
        states = _group_states(await admin.describe_consumer_groups(group_ids)) if group_ids else {}
        groups = []
        for group_id in group_ids:
            offsets = await admin.list_consumer_group_offsets(group_id)
            committed = {
                (tp.topic, tp.partition): meta.offset
                for tp, meta in offsets.items()
                if tp.topic.startswith("herald.") and meta.offset >= 0
            }
            if not committed and group_id != WORKER_GROUP:
                continue  # a group of something else on a shared cluster
            read = {topic for topic, _ in committed}
            if group_id == WORKER_GROUP:
                read |= {topic for topic, _ in end if topic.startswith(RETRY_PREFIX)}
            mine = [tp for tp in end if tp[0] in read]
            state, members = states.get(group_id, ("Unknown", 0))
            lags = partition_lags(mine, committed, begin, end)
            groups.append(GroupHealth(group_id, state, members, lags))
        dead = sum(end[tp] - begin.get(tp, 0) for tp in end if tp[0] == DEAD_LETTERS.name)
        return Health(
            reachable=True,
            checked_at=self.clock.now(),
            latency_ms=latency_ms,
            groups=tuple(groups),
            dead_letters=dead,
        )


async def scan_suppressions(bootstrap: str, address: str) -> Lookup:
    """The entries of ``address`` and its domain, read from the one partition of
    ``herald.suppressions`` that holds them (the partition the screen stage reads for this
    address; domain entries are written to every partition). Keeps only matching changes."""
    address = address_value(address)
    wanted = {address, domain_of(address)}
    keys = {recipient_key(v) for v in wanted}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        async with asyncio.timeout(SCAN_TIMEOUT):
            await admin.start()
            tps = await herald_partitions(admin, SUPPRESSIONS.name)
            return await _scan(consumer, [tp.partition for tp in tps], address, wanted, keys)
    except FAILURES as exc:
        return Lookup(address=address, error=f"{type(exc).__name__}: {exc}")
    finally:
        with contextlib.suppress(*FAILURES):
            await admin.close()
            await consumer.stop()


async def _scan(
    consumer: AIOKafkaConsumer,
    partitions: list[int],
    address: str,
    wanted: set[str],
    keys: set[bytes],
) -> Lookup:
    await consumer.start()
    if not partitions:
        return Lookup(address=address, error=f"no topic {SUPPRESSIONS.name} on the cluster")
    partition = kafka_partitioner(recipient_key(address), partitions, partitions)
    tp = TopicPartition(SUPPRESSIONS.name, partition)
    consumer.assign([tp])
    end = (await consumer.end_offsets([tp]))[tp]
    # Explicit offsets: seek_to_beginning can lose a race with the reset assign() started.
    consumer.seek(tp, (await consumer.beginning_offsets([tp]))[tp])
    changes: list[SuppressionChange] = []
    scanned = 0
    while await consumer.position(tp) < end:
        got = await consumer.getmany(tp, timeout_ms=500, max_records=5_000)
        for record in got.get(tp, []):
            scanned += 1
            if record.key not in keys:
                continue
            with contextlib.suppress(RecordError):  # a bad record is the worker's dead letter
                change = decode(record.value, SuppressionChange)
                if change.entry.value in wanted:
                    changes.append(change)
    entries = current_entries(changes)
    return Lookup(address=address, entries=entries, scanned=scanned, partition=partition)
