"""How the API hands an accepted send to Kafka.

The API answers 202 only after the broker acknowledged the record (DESIGN.md), so
:meth:`SendProducer.send_requested` returns only then, and raises
:class:`~api.errors.QueueUnavailable` (503, nothing accepted) when it cannot.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped,unused-ignore]
from aiokafka.errors import (  # type: ignore[import-untyped,unused-ignore]
    KafkaError,
    MessageSizeTooLargeError,
)

from api.errors import QueueUnavailable, RecordTooLarge
from streams import records
from streams.records import SendRequested
from streams.topics import SENDS_REQUESTED


@runtime_checkable
class SendProducer(Protocol):
    """Publishes accepted send requests on ``herald.sends.requested``."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send_requested(self, record: SendRequested) -> None:
        """Return once the broker acknowledged ``record``; raise QueueUnavailable otherwise."""
        ...


class KafkaSendProducer:
    """The real producer: acks from all in-sync replicas, idempotent, keyed by workspace id."""

    def __init__(
        self,
        bootstrap: str,
        *,
        max_request_size: int = 1024 * 1024,
        request_timeout_ms: int = 10_000,
    ) -> None:
        # ``max_request_size`` must not exceed the broker's ``message.max.bytes``; larger
        # records are refused here, before they reach the broker, as 413.
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id="herald-api",
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_request_size=max_request_size,
            request_timeout_ms=request_timeout_ms,
        )

    async def start(self) -> None:
        try:
            await self._producer.start()
        except KafkaError as exc:
            raise QueueUnavailable(f"cannot reach Kafka: {exc}") from exc

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_requested(self, record: SendRequested) -> None:
        try:
            await self._producer.send_and_wait(
                SENDS_REQUESTED.name,
                value=records.encode(record),
                key=record.workspace_id.encode(),
            )
        except MessageSizeTooLargeError as exc:
            raise RecordTooLarge(str(exc)) from exc
        except KafkaError as exc:
            raise QueueUnavailable(f"Kafka did not acknowledge the send: {exc}") from exc


class MemorySendProducer:
    """In-memory producer for tests: keeps what it was given; ``fail = True`` makes it refuse."""

    def __init__(self) -> None:
        self.records: list[SendRequested] = []
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
