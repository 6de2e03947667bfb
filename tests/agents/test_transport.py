"""The worker's consumer never lets a fetch skip records of Herald's topics: a jump in offsets
sends the partition back to read them (once), instead of Faust committing past them; resuming
a flow that runs never empties the agents' queues; a table's own reads and writes use the
bytes Faust's would; a record's hand-over to the agents waits only when it must, and gives way
to a suspended flow as Faust's does; and a busy consumer's fetches wait for a batch."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from aiokafka.consumer.fetcher import Fetcher
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.utils.queues import FlowControlQueue

from agents import event_context
from agents.app import build_worker
from agents.mailer import MemoryMailer
from agents.transport import (
    FlowControl,
    HeraldTable,
    Transport,
    _FetchThread,
    _IdempotentProducer,
    contiguous,
)
from config.settings import Settings


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass(frozen=True)
class Record:
    offset: int


class Fetches:
    """Faust's consumer as the drain loop sees it: each ``getmany`` yields the next scripted
    batch; what the loop hands on is recorded, and sets the read offset as Faust does."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, batches: list[list[tuple[TP, int]]]):
        self.batches = batches
        self.seeks: list[tuple[TP, int]] = []
        self.handed: list[tuple[TP, int]] = []
        consumer = object.__new__(Transport.Consumer)
        consumer._read_offset = defaultdict(lambda: None)
        consumer._rewound = {}

        async def seek(tp: TP, offset: int) -> None:
            self.seeks.append((tp, offset))
            consumer._read_offset[tp] = offset

        async def scripted(_: Any, timeout: float) -> AsyncIterator[tuple[TP, Record]]:
            for tp, offset in self.batches.pop(0):
                yield tp, Record(offset)

        consumer.seek = seek
        monkeypatch.setattr(faust_aiokafka.Consumer, "getmany", scripted)
        self.consumer = consumer

    async def drain(self) -> None:
        while self.batches:
            async for tp, record in self.consumer.getmany(timeout=1.0):
                self.handed.append((tp, record.offset))
                self.consumer._read_offset[tp] = record.offset


READY = TP("herald.sends.by_recipient", 0)
OTHER = TP("herald.outcomes", 1)


async def test_a_jump_is_read_again_from_the_last_offset_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fetches = Fetches(
        monkeypatch,
        [
            [(READY, 10), (READY, 11), (READY, 15), (OTHER, 3), (READY, 16)],
            [(READY, 11), (READY, 12), (READY, 13), (READY, 14), (READY, 15)],
        ],
    )
    await fetches.drain()
    assert fetches.seeks == [(READY, 11)]
    # 12 to 14 arrive after all; the other partition is not held back; 11 comes twice
    # (Faust ignores a second ack of an offset).
    assert [o for tp, o in fetches.handed if tp == READY] == [10, 11, 11, 12, 13, 14, 15]
    assert [o for tp, o in fetches.handed if tp == OTHER] == [3]


async def test_a_jump_that_is_still_there_after_the_rewind_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Records deleted by retention while the worker was away: reading again cannot find them.
    fetches = Fetches(monkeypatch, [[(READY, 10), (READY, 20)], [(READY, 20), (READY, 21)]])
    await fetches.drain()
    assert fetches.seeks == [(READY, 10)]
    assert [o for _, o in fetches.handed] == [10, 20, 21]


async def test_compacted_topics_and_changelogs_may_jump(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoints = TP("herald.webhooks", 0)
    changelog = TP("herald-worker-ledger-changelog", 0)
    fetches = Fetches(
        monkeypatch, [[(endpoints, 1), (endpoints, 9), (changelog, 2), (changelog, 7)]]
    )
    await fetches.drain()
    assert fetches.seeks == []
    assert len(fetches.handed) == 4


def test_which_topics_are_contiguous() -> None:
    assert contiguous("herald.sends.by_recipient")
    assert contiguous("herald.sends.retry.0")
    assert not contiguous("herald.webhooks")  # compacted
    assert not contiguous("herald-worker-ledger-changelog")


async def test_resuming_a_running_flow_keeps_what_the_agents_have_queued() -> None:
    flow = FlowControl()  # suspended, as Faust starts it
    queue: FlowControlQueue[int] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    flow.resume()
    queue.put_nowait(1)
    flow.resume()  # what Faust does again at the end of a recovery
    assert queue.qsize() == 1
    flow.suspend()  # a rebalance: what was queued is dropped when the flow comes back
    flow.resume()
    assert queue.qsize() == 0


class _Event:
    """An agent's current event, as the table sees it: its topic and partition."""

    message = SimpleNamespace(topic="herald.sends.by_recipient", partition=0)


class _Producer:
    """Keeps the changelog records a table write hands to the producer."""

    def __init__(self) -> None:
        self.changelog: list[tuple[Any, ...]] = []

    def changelog_soon(self, record: tuple[Any, ...]) -> None:
        self.changelog.append(record)


def _ledger(tmp_path: Path, partitions: int) -> Any:
    """A worker table on RocksDB, its changelog records kept by a stand-in producer."""
    app = faust.App(
        "herald-test-tables", store="rocksdb://", datadir=str(tmp_path), Table=HeraldTable
    )
    app._producer = _Producer()
    table = app.Table("ledger", default=None, partitions=partitions)
    table._verified_source_topics_for_partitions.add(_Event.message.topic)
    return table


@pytest.fixture
def table(tmp_path: Path) -> Iterator[Any]:
    """A worker table used as an agent uses it: on its event's partition."""
    with event_context.current(_Event()):
        yield _ledger(tmp_path, partitions=1)


KEYS_AND_VALUES = [
    ("msg_1", {"state": "sent", "attempt": 1, "event": '{"type":"sent"}'}),
    ("ws_1|josé@exämple.com", {"e_1": {"at": 1.5, "entry": {"value": "josé@exämple.com"}}}),
    ("ws_1|@example.com", {"e_2": {"at": 2.0}}),
]


def faust_bytes(table: Any, key: str, value: Any) -> tuple[bytes, bytes]:
    """The changelog record's key and value as Faust's own table would have written them."""
    topic = table.changelog_topic
    key_bytes, _ = topic.prepare_key(key, table.key_serializer)
    value_bytes, _ = topic.prepare_value(value, table.value_serializer)
    return key_bytes, value_bytes


def test_a_table_reads_back_what_faust_wrote(table: Any) -> None:
    for key, value in KEYS_AND_VALUES:
        table.data[key] = value  # Faust's own encoding of a local write
    assert [table.get(key) for key, _ in KEYS_AND_VALUES] == [v for _, v in KEYS_AND_VALUES]


def test_a_table_reads_back_what_a_changelog_restored(table: Any) -> None:
    for key, value in KEYS_AND_VALUES:
        table.data._set(*faust_bytes(table, key, value))  # what recovery writes
    assert [table.get(key) for key, _ in KEYS_AND_VALUES] == [v for _, v in KEYS_AND_VALUES]


def test_a_write_goes_to_the_store_and_to_the_changelog_as_faust_would_write_it(
    table: Any,
) -> None:
    for key, value in KEYS_AND_VALUES:
        table[key] = value
    # Faust's own read path decodes what the store holds.
    assert [table.data[key] for key, _ in KEYS_AND_VALUES] == [v for _, v in KEYS_AND_VALUES]
    records = [
        (topic, partition, k, v) for topic, partition, k, v, _ in table.app._producer.changelog
    ]
    assert records == [
        (table.changelog_topic.get_topic_name(), 0, *faust_bytes(table, key, value))
        for key, value in KEYS_AND_VALUES
    ]


def test_a_deleted_key_is_gone_and_its_changelog_record_is_a_tombstone(table: Any) -> None:
    table["msg_1"] = {"state": "sent"}
    del table["msg_1"]
    assert table.get("msg_1") is None
    _, _, key, value, _ = table.app._producer.changelog[-1]
    assert (key, value) == (b'"msg_1"', None)


def test_a_missing_key_gives_the_default(table: Any) -> None:
    table["msg_1"] = {"state": "sent"}
    assert table.get("msg_2") is None
    assert table.get("msg_2", {}) == {}


@dataclass(frozen=True)
class _OnPartition:
    """An agent's event on one partition of the source topic."""

    partition: int

    @property
    def message(self) -> Any:
        return SimpleNamespace(topic=_Event.message.topic, partition=self.partition)


@pytest.fixture
def two_partitions(tmp_path: Path) -> Any:
    return _ledger(tmp_path, partitions=2)


def test_a_key_lives_on_the_partition_of_the_event_that_wrote_it(two_partitions: Any) -> None:
    table = two_partitions
    with event_context.current(_OnPartition(1)):
        table["msg_1"] = {"state": "sending"}
        assert table.get("msg_1") == {"state": "sending"}
    _, partition, *_ = table.app._producer.changelog[-1]
    assert partition == 1
    with event_context.current(_OnPartition(0)):
        assert table.get("msg_1") is None  # another partition's store, as in Faust
    # Outside any event every partition is searched.
    assert table.get("msg_1") == {"state": "sending"}


def test_a_key_deleted_outside_its_event_is_gone_from_every_read(two_partitions: Any) -> None:
    table = two_partitions
    with event_context.current(_OnPartition(1)):
        table["msg_1"] = {"state": "sent"}
        del table["msg_1"]
        assert table.get("msg_1") is None
        table["msg_2"] = {"state": "sent"}
    table.data._del(b'"msg_2"')  # what a store does for a tombstone: no partition known
    with event_context.current(_OnPartition(1)):
        assert table.get("msg_2") is None
    assert table.get("msg_1") is None
    assert table.get("msg_2") is None


# The fetch loop hands each record over with ``wait_first(callback(message),
# suspend_flow.wait())``; the callback puts the record's event on the agents' queues.


class _Written:
    """aiokafka's producer as a flush sees it: each record is written at once, at the next
    offset of its partition."""

    def __init__(self) -> None:
        self.offsets: dict[tuple[str, int], int] = defaultdict(int)

    async def send(self, topic: str, value: Any, key: Any, partition: int) -> Any:
        offset = self.offsets[topic, partition]
        self.offsets[topic, partition] += 1
        written: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        written.set_result(SimpleNamespace(topic=topic, partition=partition, offset=offset))
        return written


async def _nothing() -> None:
    pass


async def test_a_flush_keeps_the_offset_of_each_partitions_last_changelog_record(
    tmp_path: Path,
) -> None:
    # A restart reads a table's changelog from the offset its store kept: it must be the last
    # record written, or the restart reads it all again (or, past it, misses changes).
    table = _ledger(tmp_path, partitions=2)
    producer: Any = object.__new__(_IdempotentProducer)
    producer.changelog, producer._changelog_order = [], asyncio.Lock()
    producer.buffer, producer._producer = SimpleNamespace(flush=_nothing), None
    written = _Written()
    producer._ensure_producer = lambda: written
    table.app._producer = producer
    for partition, count in ((0, 3), (1, 2)):
        with event_context.current(_OnPartition(partition)):
            for n in range(count):
                table[f"msg_{partition}_{n}"] = {"state": "sent"}

    await producer.flush()
    await asyncio.sleep(0)  # the written records' callbacks

    changelog = table.changelog_topic.get_topic_name()
    kept = [table.data.persisted_offset(TP(changelog, p)) for p in (0, 1)]  # type: ignore[arg-type]
    assert kept == [2, 1]
    assert written.offsets == {(changelog, 0): 3, (changelog, 1): 2}


@pytest.fixture
async def consumer() -> Any:
    """The worker's Kafka consumer, not started (made in the test's loop, which it binds)."""
    return build_worker(Settings(), MemoryMailer()).app.consumer


def hand_over(consumer: Any, handed: Any) -> Any:
    return consumer.wait_first(handed, consumer.suspend_flow.wait())


async def test_a_hand_over_that_need_not_wait_is_done_when_the_loop_goes_on(
    consumer: Any,
) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)

    async def put(item: int) -> int:
        await queue.put(item)
        return item

    result = await hand_over(consumer, put(1))
    assert (result.results, result.stopped) == ([1], False)
    assert queue.get_nowait() == 1

    async def refuse() -> None:
        raise ValueError("cannot decode")

    with pytest.raises(ValueError, match="cannot decode"):  # as Faust's own race raises it
        await hand_over(consumer, refuse())


async def test_a_hand_over_that_waits_for_room_ends_when_there_is_room(consumer: Any) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    queue.put_nowait(0)
    waiting = asyncio.ensure_future(hand_over(consumer, queue.put(1)))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    assert queue.get_nowait() == 0
    await asyncio.wait_for(waiting, 5)
    assert queue.get_nowait() == 1


async def test_a_hand_over_that_waits_gives_way_to_a_suspended_flow(consumer: Any) -> None:
    # A rebalance suspends the flow: the loop must not stay stuck on a full queue.
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    queue.put_nowait(0)
    waiting = asyncio.ensure_future(hand_over(consumer, queue.put(1)))
    await asyncio.sleep(0.01)
    consumer.suspend_flow.set()
    await asyncio.wait_for(waiting, 5)
    assert queue.get_nowait() == 0
    await asyncio.sleep(0.01)
    assert queue.empty()  # given up: the record is read again after the rebalance


class _Polls:
    """aiokafka's consumer as the consumer thread polls it: each poll brings the next scripted
    number of records; the fetcher keeps what its next fetch request will ask the broker."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, sizes: list[int]) -> None:
        self.consumer = SimpleNamespace(
            _fetch_min_bytes=1,
            _fetch_max_wait_ms=1500,
            _fetcher=SimpleNamespace(_fetch_min_bytes=1, _fetch_max_wait_ms=1500),
        )

        async def poll(*_: Any, **__: Any) -> dict[TP, list[Record]]:
            n = sizes.pop(0)
            return {READY: [Record(i) for i in range(n // 2)], OTHER: [Record(0)] * (n - n // 2)}

        monkeypatch.setattr(faust_aiokafka.AIOKafkaConsumerThread, "_fetch_records", poll)

    async def next_fetch(self) -> tuple[int, int]:
        thread = object.__new__(_FetchThread)
        await thread._fetch_records(self.consumer, set(), timeout=1.0, max_records=None)
        fetcher = self.consumer._fetcher
        return fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms


async def test_a_busy_consumer_fetches_in_batches_and_an_idle_one_at_the_first_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    polls = _Polls(monkeypatch, [5, 500, 40, 0])
    assert await polls.next_fetch() == (1, 1500)  # answered at the first record
    busy = (_FetchThread.BUSY_FETCH_BYTES, _FetchThread.BUSY_FETCH_WAIT_MS)
    assert await polls.next_fetch() == busy
    assert await polls.next_fetch() == busy
    assert await polls.next_fetch() == (1, 1500)


def test_aiokafka_builds_its_fetch_requests_from_the_attributes_the_rule_sets() -> None:
    # Private attributes: a release of aiokafka that renamed them would turn the rule off.
    names = Fetcher._get_actions_per_node.__code__.co_names
    assert {"_fetch_min_bytes", "_fetch_max_wait_ms"} <= set(names)
