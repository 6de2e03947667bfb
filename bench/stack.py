"""The stack every bench run measures: Herald's processes on the embedded broker, set up so
that the pipeline is measured, not the limiters."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench import floor
from bench.sink import Sink
from config.broker import EmbeddedBroker
from config.settings import Settings
from streams.admin import ensure_topics
from streams.topics import all_topics
from tests.integration.stack import Stack, broker_settings, free_port

STACK_ENV = {
    "HERALD_WORKSPACE_SEND_RATE": "1000000",
    "HERALD_WORKSPACE_SEND_BURST": "1000000",
    # A key that never waits (its leases are large, so the shared bucket is rarely touched).
    "HERALD_KEY_REQUEST_RATE": "1000000",
    "HERALD_KEY_REQUEST_BURST": "1000000",
    "HERALD_SMTP_POOL_SIZE": "16",
    "HERALD_WEBHOOK_ALLOW_LOOPBACK": "true",  # the webhook receiver is on loopback
    "HERALD_LOG_LEVEL": "WARNING",  # the default, not the tests' INFO
}


def start_api(settings: Settings, sink: Sink, work: Path) -> Stack:
    """A migrated database, a key for the workspace ``bench``, and ``herald api`` started
    (``await stack.wait_api()`` before loading it; ``stack.stop_all()`` in any case)."""
    stack = Stack(
        bootstrap=settings.bootstrap,
        smtp=sink,  # type: ignore[arg-type]
        workdir=work,
        extra_env=dict(STACK_ENV),
    )
    stack.cli("db", "migrate")
    stack.key = stack.cli("keys", "create", "--workspace", "bench").stdout.strip()
    stack.start("api")
    return stack


@asynccontextmanager
async def broker_and_sink(prefix: str) -> AsyncIterator[tuple[Settings, Sink, Path, int]]:
    """The embedded broker with Herald's topics (three retry tiers) and ``smtp-sink`` as the relay,
    in a scratch directory removed afterwards; the last item is the broker's process id."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        settings = broker_settings(work / "broker")
        sink = Sink(free_port())
        try:
            async with EmbeddedBroker(settings) as broker:
                await ensure_topics(settings, [*all_topics(3), floor.TOPIC])
                assert broker.pid is not None  # it runs until the block ends
                yield settings, sink, work, broker.pid
        finally:
            sink.stop()


async def records_on(bootstrap: str, topic: str, partitions: int) -> int:
    """How many records ``topic`` holds (none deleted): the sum of its end offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
    finally:
        await consumer.stop()
    return sum(ends.values())
