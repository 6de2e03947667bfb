"""The worker's Kafka plumbing: Faust's aiokafka driver and flow control, with three
corrections Herald relies on, and six shortcuts.

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
- **Flush at once.** A record waits up to the producer's linger to share a produce request
  with others (the worker's is 20 ms), unless a flush sends it sooner: ``flush`` closes every
  batch and sends it, where aiokafka's own waits for the linger to run out.
- **Direct produce.** Agents queue records on aiokafka's producer itself
  (``_IdempotentProducer.enqueue``), not through Faust's ``Topic.send``.
- **Changelog at flush.** A table write (:class:`HeraldTable`) goes to the local store at once
  and its changelog record into a list that the producer's next ``flush`` sends, in order,
  before waiting for every record's acknowledgement. Faust flushes before every commit and
  rebalance, and dispatch before every SMTP batch, so a changelog record is in Kafka before
  the offset of the record that caused it is committed, as with Faust's own buffer, which cost
  about 9% of the worker (a queue, a task and sensor calls per record).
- **Raw records.** Every topic carries bytes that the agents decode themselves, so an event's
  key and value are the record's own (:class:`RawSchema`), without a trip through Faust's codec
  registry for each.
- **Records handed over at once.** Faust's fetch loop hands each record to the agents' queues
  in a race against the flow's suspension: four tasks and a wait per record, where handing it
  over almost never has to wait. The hand-over now runs at once; only one that has to wait gets
  the race (:meth:`_GaplessConsumer.wait_first`).
- **Batches under load.** A busy worker's fetches wait for a batch (:class:`_FetchThread`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import types
from collections.abc import AsyncIterator, Coroutine, Generator
from functools import partial
from typing import Any, cast

import faust
import orjson
from aiokafka.errors import IllegalStateError
from faust.streams import current_event
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode.services import WaitResults
from mode.utils.queues import FlowControlEvent

from streams.topics import all_topics

log = logging.getLogger(__name__)

_FAUST_JSON = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z  # faust.utils.json.dumps's options
_COMPACTED = frozenset(spec.name for spec in all_topics(0) if spec.compacted)


def contiguous(topic: str) -> bool:
    """Whether the topic's offsets never jump: Herald's own topics (not the changelogs, named
    after the worker group) that are not compacted."""
    return topic.startswith("herald.") and topic not in _COMPACTED


# A changelog record waiting for the next flush: topic, partition, key, value (None deletes),
# and the table's store, which keeps the offset it reached.
ChangelogRecord = tuple[str, int | None, bytes, bytes | None, Any]


class _IdempotentProducer(faust_aiokafka.Producer):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.changelog: list[ChangelogRecord] = []  # records waiting for the next flush
        self._changelog_order = asyncio.Lock()

    def _settings_extra(self) -> dict[str, Any]:
        return {"acks": "all", "enable_idempotence": True}

    def changelog_soon(self, record: ChangelogRecord) -> None:
        self.changelog.append(record)

    async def flush(self) -> None:
        # One flush queues its records before the next one starts: a key's newer value never
        # overtakes its older one.
        async with self._changelog_order:
            pending, self.changelog = self.changelog, []
            # The store keeps one offset per partition, and a partition's records are written
            # in order: only the last of each (store, partition) has its offset kept, once
            # written. That is a RocksDB write per partition and flush instead of per record
            # (2% of a draining worker); a crash before it only means more changelog to read.
            last: dict[tuple[int, int], tuple[Any, asyncio.Future[Any]]] = {}
            for topic, partition, key, value, store in pending:
                sent = await self._ensure_producer().send(
                    topic, value, key=key, partition=partition
                )
                if partition is None:  # the producer picks it: kept as it comes
                    sent.add_done_callback(partial(_persisted, store))
                    continue
                if (earlier := last.get((id(store), partition))) is not None:
                    earlier[1].add_done_callback(_failed)
                last[id(store), partition] = (store, sent)
            for store, sent in last.values():
                sent.add_done_callback(partial(_persisted, store))
        await self.buffer.flush()  # anything sent through Faust's own Topic.send
        if self._producer is not None:
            # aiokafka's flush() waits out each batch's linger; its transactions' flush closes
            # the batches, so they go at once. Whoever flushes is waiting for these records.
            await self._producer._message_accumulator.flush_for_commit()

    async def enqueue(self, topic: str, key: bytes, value: bytes) -> None:
        """Queue a record on aiokafka's producer itself. Faust's ``Topic.send`` wraps each
        record in futures, buffers and sensor calls that cost more than aiokafka's own send
        (BENCHMARKS.md); the flush Faust does before every commit covers these records too."""
        await self._ensure_producer().send(topic, value, key=key)


def _failed(sent: asyncio.Future[Any]) -> bool:
    if sent.cancelled() or sent.exception() is not None:
        log.error("a changelog record was not written: %r", sent)
        return True
    return False


def _persisted(store: Any, sent: asyncio.Future[Any]) -> None:
    """What Faust's table does once a changelog record is written: the store remembers the
    offset, so a restart only reads the changelog after it."""
    if _failed(sent):
        return
    written = sent.result()
    store.set_persisted_offset(TP(written.topic, written.partition), written.offset)


class HeraldTable(faust.Table):  # type: ignore[type-arg]  # Herald's tables hold any JSON
    """A Faust table whose changelog records wait for the producer's next flush (see above).
    Herald's tables have no expiry and the worker no sensors, the rest of what Faust does on
    a write.

    Reads and writes encode keys and values themselves: Faust's own path goes through its
    serializer registry for each (twice per read, a membership test then the item; twice per
    write, the changelog then the store), most of what a table access costs. Herald's keys
    are strings and its values JSON, which Faust's json codec writes with orjson and these
    options, so the bytes are the same either way.

    Inside an agent's event they also go straight to the RocksDB of the event's partition, as
    the store's ``_get`` and ``_set`` would, without also noting each key's partition in the
    store's key index (an LRU map behind a lock). Only reads and deletes outside an event
    consult that index, and they search every partition for a key it does not hold."""

    def get(self, key: Any, default: Any = None) -> Any:
        key_bytes = orjson.dumps(key)
        event = current_event()
        store: Any = self.data  # a RocksDB store
        if event is None:  # no partition to read: the store searches them
            stored = store._get(key_bytes)
        else:
            stored = store._db_for_partition(event.message.partition).get(key_bytes)
        return default if stored is None else orjson.loads(stored)

    def __setitem__(self, key: Any, value: Any) -> None:
        key_bytes, value_bytes = orjson.dumps(key), orjson.dumps(value, option=_FAUST_JSON)
        partition = self._changelog_soon(key, key_bytes, value_bytes)
        store: Any = self.data  # a RocksDB store
        store._db_for_partition(partition).put(key_bytes, value_bytes)

    def on_key_del(self, key: Any) -> None:
        self._changelog_soon(key, orjson.dumps(key), None)

    def _changelog_soon(self, key: Any, key_bytes: bytes, value_bytes: bytes | None) -> int:
        """Queue the change for the next flush; return its partition, the current event's
        (Faust refuses a write outside an event)."""
        # None only for tables that pick partitions with the producer's partitioner.
        partition = cast("int", self.partition_for_key(key))
        record = (
            self.changelog_topic.get_topic_name(),
            partition,
            key_bytes,
            value_bytes,
            self.data,
        )
        producer: _IdempotentProducer = self.app.producer  # type: ignore[assignment]
        producer.changelog_soon(record)
        return partition


class _FetchThread(faust_aiokafka.AIOKafkaConsumerThread):
    """The consumer's thread, whose fetches wait for a batch while the worker is busy.

    Kafka answers a fetch as soon as it has ``fetch_min_bytes`` (aiokafka's default: 1) and
    the worker fetches again as soon as it has handed the last batch over, so a worker that
    keeps up fetches a few records at a time, and every batch its agents take (SMTP flushes,
    database writes, commits) is as small. After a poll that brought ``BUSY_RECORDS`` or more,
    the next fetch waits for ``BUSY_FETCH_BYTES`` or ``BUSY_FETCH_WAIT_MS``; after a smaller
    one it is answered at the first record again, so a lone send is not held back."""

    BUSY_RECORDS = 32
    BUSY_FETCH_BYTES = 256 * 1024
    BUSY_FETCH_WAIT_MS = 100

    async def _fetch_records(self, consumer: Any, *args: Any, **kwargs: Any) -> Any:
        records = await super()._fetch_records(consumer, *args, **kwargs)
        # aiokafka reads both when it builds each fetch request; neither has a public setter.
        fetcher = consumer._fetcher
        if sum(map(len, records.values())) >= self.BUSY_RECORDS:
            fetcher._fetch_min_bytes = self.BUSY_FETCH_BYTES
            fetcher._fetch_max_wait_ms = self.BUSY_FETCH_WAIT_MS
        else:
            fetcher._fetch_min_bytes = consumer._fetch_min_bytes
            fetcher._fetch_max_wait_ms = consumer._fetch_max_wait_ms
        return records


class _GaplessConsumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rewound: dict[Any, int] = {}  # partition -> offset it was last sent back to

    def _new_consumer_thread(self) -> _FetchThread:
        return _FetchThread(self, loop=self.loop, beacon=self.beacon)

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

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:  # noqa: ASYNC109 (mode's signature)
        """Faust's fetch loop hands every record over with ``wait_first(callback(message),
        suspend_flow.wait())``: the callback (the records' way into the agents' queues) races
        a rebalance's suspension of the flow, in four tasks and a wait, 64-83 us a record. The
        callback is now run at once, as far as it goes without waiting; one that has to wait
        (a full queue, a suspended flow) is finished in Faust's race, which is what a wait
        needs it for."""
        if len(coros) != 2 or timeout is not None or not asyncio.iscoroutine(coros[0]):
            return await super().wait_first(*coros, timeout=timeout)
        handled, suspended = coros
        try:
            waiting_on = handled.send(None)
        except StopIteration as done:
            suspended.close()
            return WaitResults([handled], [done.value], False)
        except BaseException:
            suspended.close()
            raise
        return await super().wait_first(_finish(handled, waiting_on), suspended)


async def _finish(started: Coroutine[Any, Any, Any], waiting_on: Any) -> Any:
    """The rest of a coroutine that was run by hand until it waited on ``waiting_on``."""
    return await _carry_on(started, waiting_on)


@types.coroutine
def _carry_on(started: Coroutine[Any, Any, Any], waiting_on: Any) -> Generator[Any, Any, Any]:
    while True:
        try:
            yield waiting_on  # the task waits as the coroutine asked
        except GeneratorExit:
            started.close()
            raise
        except BaseException as exc:  # thrown in while it waited: a cancellation
            try:
                waiting_on = started.throw(exc)
            except StopIteration as done:
                return done.value
            continue
        return (yield from started)  # a started coroutine goes on from where it waited


class RawSchema(faust.Schema[bytes, bytes]):
    """Keys and values as the bytes fetched, as Faust's ``raw`` codec gives them. Faust
    decodes a record once for each agent reading it, about nine times per email, and its
    registry's decode took 5 us where this takes 2.6."""

    def compile(self, app: Any, **_: Any) -> Any:
        create_event = app.create_event

        async def decode(message: Any, *, propagate: bool = False) -> Any:
            return create_event(message.key, message.value, message.headers, message)

        return decode


class Transport(faust_aiokafka.Transport):
    Consumer = _GaplessConsumer
    Producer = _IdempotentProducer


class FlowControl(FlowControlEvent):
    """Faust's flow control, except that resuming a flow that already runs changes nothing
    (mode's ``resume`` also empties every agent's queue, whatever the state)."""

    def resume(self) -> None:
        if not self.is_active():
            super().resume()
