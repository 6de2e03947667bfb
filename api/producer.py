"""How the API hands an accepted send to Kafka.

The API answers 202 only after the broker acknowledged the record (DESIGN.md), so
:meth:`SendProducer.send_requested` returns only then, and raises
:class:`~api.errors.QueueUnavailable` (503, nothing accepted) when it cannot.

Kafka being down must not keep the API from starting (health checks, reads and key
management still work): the Kafka producer connects in the background and refuses sends
with 503 until it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped,unused-ignore]
from aiokafka.errors import (  # type: ignore[import-untyped,unused-ignore]
    KafkaError,
    MessageSizeTooLargeError,
)

from api.errors import QueueUnavailable, RecordTooLarge
from streams import records
from streams.partitioner import kafka_partitioner
from streams.records import SendRequested
from streams.topics import SENDS_REQUESTED

log = logging.getLogger("herald.api.producer")


@runtime_checkable
class SendProducer(Protocol):
    """Publishes accepted send requests on ``herald.sends.requested``."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send_requested(self, record: SendRequested) -> None:
        """Return once the broker acknowledged ``record``; raise QueueUnavailable otherwise."""
        ...

    async def publish(
        self, topic: str, key: bytes, value: bytes, *, partition: int | None = None
    ) -> None:
        """Return once the broker acknowledged the record; raise QueueUnavailable otherwise.
        ``partition`` None: the key's partition (the same one the workers' producers pick)."""
        ...

    async def partitions(self, topic: str) -> int:
        """How many partitions ``topic`` has; raise QueueUnavailable if Kafka cannot say."""
        ...


class KafkaSendProducer:
    """The real producer: acks from all in-sync replicas, idempotent; sends keyed by request id
    (spread over every partition, so one busy workspace keeps every worker busy).

    :meth:`start` returns once the first connection attempt is over, connected or not (so a
    reachable broker is ready before the first request); until a later attempt succeeds,
    sends raise QueueUnavailable. Once connected, aiokafka itself reconnects."""

    def __init__(
        self,
        bootstrap: str,
        *,
        max_request_size: int = 1024 * 1024,
        request_timeout_ms: int = 10_000,
        first_attempt_timeout: float = 5.0,
        max_backoff: float = 5.0,
    ) -> None:
        self._bootstrap = bootstrap
        self._max_request_size = max_request_size
        self._request_timeout_ms = request_timeout_ms
        self._first_attempt_timeout = first_attempt_timeout
        self._max_backoff = max_backoff
        self._producer: AIOKafkaProducer | None = None  # set once connected
        self._connecting: asyncio.Task[None] | None = None

    def _new_producer(self) -> AIOKafkaProducer:
        # ``max_request_size`` must not exceed the broker's ``message.max.bytes``; larger
        # records are refused here, before they reach the broker, as 413.
        return AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id="herald-api",
            acks="all",
            enable_idempotence=True,
            # No linger: each request waits for its ack anyway, and records that arrive while a
            # produce request is in flight are batched into the next one.
            linger_ms=0,
            partitioner=kafka_partitioner,
            max_request_size=self._max_request_size,
            request_timeout_ms=self._request_timeout_ms,
        )

    async def start(self) -> None:
        first_attempt = asyncio.Event()
        self._connecting = asyncio.create_task(
            self._connect(first_attempt), name="herald-api-kafka-connect"
        )
        with contextlib.suppress(TimeoutError):  # a slow broker: keep trying in the background
            await asyncio.wait_for(first_attempt.wait(), self._first_attempt_timeout)

    async def _connect(self, first_attempt: asyncio.Event) -> None:
        """Try until connected, waiting longer after each failure (up to ``max_backoff``)."""
        delay = 0.1
        failures = 0
        while True:
            producer = self._new_producer()
            try:
                await producer.start()
            except asyncio.CancelledError:
                await _close(producer)
                raise
            except Exception as exc:  # any failure: keep trying, the API keeps serving
                await _close(producer)
                failures += 1
                if failures == 1:
                    log.warning(
                        "Kafka at %s is not reachable (%s); sends answer 503 until it is. "
                        "Retrying in the background.",
                        self._bootstrap,
                        type(exc).__name__,
                    )
                first_attempt.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            self._producer = producer
            first_attempt.set()
            if failures:
                log.warning(
                    "Kafka at %s is reachable after %d failed attempts; sends are accepted",
                    self._bootstrap,
                    failures,
                )
            return

    async def stop(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.wait([self._connecting])  # it ends cancelled or connected, never failed
            self._connecting = None
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def send_requested(self, record: SendRequested) -> None:
        await self.publish(
            SENDS_REQUESTED.name, key=record.request_id.encode(), value=records.encode(record)
        )

    async def publish(
        self, topic: str, key: bytes, value: bytes, *, partition: int | None = None
    ) -> None:
        producer = self._connected()
        try:
            await producer.send_and_wait(topic, value=value, key=key, partition=partition)
        except MessageSizeTooLargeError as exc:
            raise RecordTooLarge(str(exc)) from exc
        except KafkaError as exc:
            log.warning("Kafka did not acknowledge a record on %s: %r", topic, exc)
            raise QueueUnavailable("Kafka did not acknowledge the record; retry shortly") from exc

    async def partitions(self, topic: str) -> int:
        producer = self._connected()
        try:
            found = await producer.partitions_for(topic)
        except KafkaError as exc:
            raise QueueUnavailable("Kafka did not answer; retry shortly") from exc
        if not found:
            raise QueueUnavailable(f"topic {topic} does not exist yet; retry shortly")
        return len(found)

    def _connected(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise QueueUnavailable("not connected to Kafka yet; retry shortly")
        return self._producer


async def _close(producer: AIOKafkaProducer) -> None:
    """Release a producer whose start failed; its own errors add nothing to the first one."""
    with contextlib.suppress(Exception):
        await producer.stop()


@dataclass(frozen=True, slots=True)
class Published:
    """One record a :class:`MemorySendProducer` was given through ``publish``."""

    topic: str
    key: bytes
    value: bytes
    partition: int | None


class MemorySendProducer:
    """In-memory producer for tests: keeps what it was given; ``fail = True`` makes it refuse.
    Send requests go to ``records`` (decoded), everything else to ``published``."""

    def __init__(self, partition_count: int = 4) -> None:
        self.records: list[SendRequested] = []
        self.published: list[Published] = []
        self.partition_count = partition_count
        self.fail = False
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def send_requested(self, record: SendRequested) -> None:
        if self.fail:
            raise QueueUnavailable("the in-memory queue was told to fail")
        self.records.append(record)

    async def publish(
        self, topic: str, key: bytes, value: bytes, *, partition: int | None = None
    ) -> None:
        if self.fail:
            raise QueueUnavailable("the in-memory queue was told to fail")
        self.published.append(Published(topic, key, value, partition))

    async def partitions(self, topic: str) -> int:
        if self.fail:
            raise QueueUnavailable("the in-memory queue was told to fail")
        return self.partition_count

    def on(self, topic: str) -> list[Published]:
        """The records published on ``topic``, in order."""
        return [p for p in self.published if p.topic == topic]
