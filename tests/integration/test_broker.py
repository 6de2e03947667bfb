"""The embedded Kafka broker, for real: a JVM on free ports in a temporary data dir."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]

from config.broker import EmbeddedBroker
from config.errors import BrokerFailed
from config.settings import Settings, load_settings
from streams.admin import ensure_topics
from streams.topics import TopicSpec

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def broker_settings(data_dir: Path, **overrides: object) -> Settings:
    return load_settings(
        **{
            "data_dir": data_dir,
            "kafka_port": free_port(),
            "kafka_controller_port": free_port(),
            "topic_partitions": 3,
            **overrides,
        }
    )


def java_processes_using(path: Path) -> list[int]:
    """Pids of live processes whose command line mentions ``path``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if str(path).encode() in cmdline:
            found.append(int(entry.name))
    return found


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def broker(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedBroker]:
    async with EmbeddedBroker(broker_settings(tmp_path_factory.mktemp("herald"))) as running:
        yield running


async def describe(bootstrap: str, names: list[str]) -> dict[str, int]:
    """Partition count of each named topic that exists."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = await admin.describe_topics(names)
    finally:
        await admin.close()
    return {t["topic"]: len(t["partitions"]) for t in topics if t["error_code"] == 0}


async def test_produce_and_consume_roundtrip(broker: EmbeddedBroker) -> None:
    await ensure_topics(broker.settings, [TopicSpec("roundtrip", key="test")])
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        await producer.send_and_wait("roundtrip", b"hello", key=b"k1")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        "roundtrip",
        bootstrap_servers=broker.bootstrap,
        group_id="roundtrip-test",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"k1", b"hello")


async def test_ensure_topics_creates_missing_topics_once(broker: EmbeddedBroker) -> None:
    specs = [TopicSpec("plain", key="test"), TopicSpec("compacted", key="test", compacted=True)]

    await ensure_topics(broker.settings, specs)
    await ensure_topics(broker.settings, specs)  # second call: nothing to do, no error

    assert await describe(broker.bootstrap, ["plain", "compacted"]) == {
        "plain": 3,
        "compacted": 3,
    }


async def test_restart_keeps_topics_and_stop_leaves_no_jvm(tmp_path: Path) -> None:
    settings = broker_settings(tmp_path)
    first = EmbeddedBroker(settings)
    async with first:
        await ensure_topics(settings, [TopicSpec("kept", key="test")])
        pid = first.pid
    assert pid is not None
    assert java_processes_using(tmp_path) == []
    meta = (tmp_path / "kafka" / "data" / "meta.properties").read_text()

    # New ports too: the controller's address is not baked into the formatted storage.
    moved = broker_settings(tmp_path)
    async with EmbeddedBroker(moved) as second:
        assert await describe(second.bootstrap, ["kept"]) == {"kept": 3}
    assert (tmp_path / "kafka" / "data" / "meta.properties").read_text() == meta
    assert java_processes_using(tmp_path) == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_port_in_use_is_reported_before_starting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BrokerFailed, match=f"Port {port} .* HERALD_KAFKA_PORT"):
            await EmbeddedBroker(broker_settings(tmp_path, kafka_port=port)).start()
    assert java_processes_using(tmp_path) == []


async def test_early_exit_reports_the_end_of_the_log(tmp_path: Path) -> None:
    # A heap the JVM refuses makes it exit at once, explaining why on stderr.
    broker = EmbeddedBroker(broker_settings(tmp_path, kafka_heap="1k"))
    with pytest.raises(BrokerFailed, match="exited with code 1") as failed:
        await broker.start()
    assert "heap" in str(failed.value).lower()
    assert broker.pid is None
