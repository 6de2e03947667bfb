"""Worker start and restart time with a 1,000,000-key ``suppressions`` table.

The table is the real worker's (``suppressions``, :func:`agents.app.build_worker`): the one
screen reads for every send, filled from ``herald.suppressions``, and the one that grows with
the customer base. Its 1,000,000 entries are written straight onto its changelog topic
(``<app id>-suppressions-changelog``), as the suppressions agent would have left them: the key
and the value are what it writes (:func:`agents.suppressions.applied` of an ``add``), encoded
with the table's own serializers, each on the partition of the address's ``herald.suppressions``
record (the partition the agent's write would have used).

Then ``herald worker`` runs as a real process (:class:`tests.integration.stack.Stack`), twice:

1. cold start, with no local RocksDB: Faust restores the whole table from the changelog;
2. restart after SIGTERM, with the local RocksDB kept: Faust reads the changelog only from the
   offset it persisted.

Each time, a send to one of the suppressed addresses is on ``herald.sends.requested`` (produced
by the API's own producer) before the process starts; the figure is the time from the process
start to its ``suppressed`` event on ``herald.events``. That event needs the worker to have
joined the group, restored its tables (Faust processes nothing before) and found the entry:
ready and correct, not just running. The worker's resident memory and the CPU time it used are
read at that moment.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped,unused-ignore]
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from agents.app import build_worker
from agents.mailer import MemoryMailer
from agents.suppressions import applied
from api.producer import KafkaSendProducer
from bench.kafka_ceiling import seed_record
from bench.lookups import hard_bounce
from bench.stack import records_on
from config.broker import EmbeddedBroker
from config.settings import Settings
from streams.admin import ensure_topics
from streams.partitioner import kafka_partitioner
from streams.records import Event, SuppressionChange, decode
from streams.suppressions import table_key
from streams.topics import EVENTS, TopicSpec, all_topics, recipient_key
from tables import database
from tests.integration.stack import PARTITIONS, Stack, broker_settings, free_port
from tests.support.seed import SEED

WORKSPACE = "ws_0123456789abcdef01234567"  # the shape of a real workspace id
BATCH_BYTES = 512 * 1024  # under the broker's default message.max.bytes (1 MiB)
RETRY_SCHEDULE = (0.5, 1.0, 2.0)  # what Stack's environment gives the worker


@dataclass
class Sink:
    """Stack's relay: nothing listens there; a suppressed send never reaches it."""

    url: str


def _change(i: int) -> SuppressionChange:
    """The i-th entry, with what a real bounce leaves on it (so the changelog has real sizes)."""
    entry = replace(
        hard_bounce(WORKSPACE, i),
        created_at=1_700_000_000.0 + i,
        message_id=f"msg_01jtj8m4t6v2k9c3x5{i:08d}",
        detail="550 5.1.1 <user@example.com>: Recipient address rejected: User unknown",
    )
    return SuppressionChange("add", entry, entry.created_at)


def _records(table: Any, entries: int) -> Iterator[tuple[int, bytes, bytes]]:
    """(partition, key, value) of each entry as the suppressions agent's writes leave them."""
    serializers = table.app.serializers
    partitions = list(range(table.partitions))
    for i in range(entries):
        change = _change(i)
        key = table_key(WORKSPACE, change.entry.value)
        yield (
            kafka_partitioner(recipient_key(change.entry.value), partitions, partitions),
            serializers.dumps_key(table.key_type, key, serializer=table.key_serializer),
            serializers.dumps_value(
                table.value_type, applied(None, change), serializer=table.value_serializer
            ),
        )


async def fill(bootstrap: str, table: Any, entries: int) -> int:
    """Produce every entry onto the table's changelog in large batches; return the bytes."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_batch_size=BATCH_BYTES, linger_ms=50
    )
    await producer.start()
    topic = table.changelog_topic.get_topic_name()
    written = 0
    try:
        batches: dict[int, Any] = {}
        sent: list[asyncio.Future[Any]] = []
        for partition, key, value in _records(table, entries):
            written += len(key) + len(value)
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                batch.close()
                sent.append(await producer.send_batch(batch, topic, partition=partition))
                batch = batches[partition] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        for partition, batch in batches.items():
            batch.close()
            sent.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    await _check_count(bootstrap, topic, table.partitions, entries)
    return written


async def _check_count(bootstrap: str, topic: str, partitions: int, entries: int) -> None:
    held = await records_on(bootstrap, topic, partitions)
    if held != entries:
        raise RuntimeError(f"{topic} holds {held} records, not {entries}")


async def _suppressed_event(consumer: AIOKafkaConsumer, message_id: str) -> None:
    while True:
        found = await consumer.getmany(timeout_ms=100)
        for records in found.values():
            for record in records:
                event = decode(record.value, Event)
                if event.message_id == message_id and event.type == "suppressed":
                    return


async def _run_until_ready(stack: Stack, settings: Settings, address: str) -> dict[str, float]:
    """Start ``herald worker`` with a send to ``address`` waiting; seconds until its
    ``suppressed`` event, and the worker's memory then."""
    producer = KafkaSendProducer(stack.bootstrap)
    await producer.start()
    try:
        record = seed_record(settings, WORKSPACE, {**SEED, "to": [address]})
        await producer.send_requested(record)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(EVENTS.name, p) for p in range(PARTITIONS)])
        t0 = time.monotonic()
        stack.start("worker")
        proc = stack.procs["worker"]
        waiting = asyncio.ensure_future(
            _suppressed_event(consumer, record.recipients[0].message_id)
        )
        while not waiting.done():
            await asyncio.wait([waiting], timeout=0.5)
            if proc.poll() is not None:
                waiting.cancel()
                raise RuntimeError(f"herald worker exited ({proc.returncode}):\n{stack.logs()}")
            if time.monotonic() - t0 > 600:
                waiting.cancel()
                raise RuntimeError(f"herald worker not ready after 600 s:\n{stack.logs()}")
        ready = time.monotonic() - t0
    finally:
        await consumer.stop()
    worker = psutil.Process(proc.pid)
    family = [worker, *worker.children(recursive=True)]
    rss = sum(p.memory_info().rss for p in family)
    # CPU seconds against wall seconds: whether the start was bound by the worker's own CPU.
    cpu = sum(t.user + t.system for t in (p.cpu_times() for p in family))
    return {"seconds": ready, "cpu_s": cpu, "rss_mib": rss / 2**20}


async def measure(entries: int = 1_000_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="herald-bench-restart-") as tmp:
        work = Path(tmp)
        broker = broker_settings(work / "broker")
        async with EmbeddedBroker(broker):
            stack = Stack(
                bootstrap=broker.bootstrap,
                smtp=Sink(f"smtp://127.0.0.1:{free_port()}"),  # type: ignore[arg-type]
                workdir=work,
                extra_env={"HERALD_LOG_LEVEL": "WARNING"},
            )
            # The worker's own settings, as Stack's environment gives them to the process.
            settings = Settings(
                data_dir=stack.workdir / "data",
                kafka_bootstrap=broker.bootstrap,
                topic_partitions=PARTITIONS,
                retry_schedule=RETRY_SCHEDULE,
            )
            await ensure_topics(settings, all_topics(len(RETRY_SCHEDULE)))
            await database.migrate(settings)
            # Built only for its table: name, partitions and serializers; never started.
            table = build_worker(settings, MemoryMailer()).tables.suppressions
            changelog = TopicSpec(table.changelog_topic.get_topic_name(), "table key", True)
            await ensure_topics(settings, [changelog])  # compacted, as Faust makes it

            print(f"restart: {entries:,} entries onto {changelog.name} ...", file=sys.stderr)
            t0 = time.monotonic()
            written = await fill(broker.bootstrap, table, entries)
            fill_s = time.monotonic() - t0

            try:
                print("restart: cold start (restore from the changelog) ...", file=sys.stderr)
                assert not (settings.data_dir / "worker").exists()
                cold = await _run_until_ready(stack, settings, f"user{entries - 1}@example.com")
                t1 = time.monotonic()
                stack.stop("worker")
                stop_s = time.monotonic() - t1

                print("restart: SIGTERM, then start with the local RocksDB ...", file=sys.stderr)
                warm = await _run_until_ready(stack, settings, f"user{entries - 2}@example.com")
            finally:
                stack.stop_all()
    return {
        "table": changelog.name,
        "entries": entries,
        "partitions": PARTITIONS,
        "changelog_mib": written / 2**20,
        "fill_s": fill_s,
        "cold_start_s": cold["seconds"],
        "cold_cpu_s": cold["cpu_s"],
        "cold_rss_mib": cold["rss_mib"],
        "stop_s": stop_s,
        "restart_s": warm["seconds"],
        "restart_cpu_s": warm["cpu_s"],
        "restart_rss_mib": warm["rss_mib"],
    }


if __name__ == "__main__":
    print(asyncio.run(measure()))
