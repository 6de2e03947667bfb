"""Records off the wire into a :class:`~dashboard.source.Batch` (pure: no Kafka client here).

A record that does not decode becomes a :class:`~dashboard.lines.Malformed` entry, shown in the
log as such; it never stops the reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from dashboard.lines import Malformed
from dashboard.source import Batch
from streams.records import DeadLetter, Event, RecordError, WebhookAttempt, decode
from streams.topics import DEAD_LETTERS, EVENTS, WEBHOOK_ATTEMPTS

TOPICS = (EVENTS.name, DEAD_LETTERS.name, WEBHOOK_ATTEMPTS.name)
_TYPES: dict[str, type[Any]] = {
    EVENTS.name: Event,
    DEAD_LETTERS.name: DeadLetter,
    WEBHOOK_ATTEMPTS.name: WebhookAttempt,
}


class RawRecord(Protocol):
    """What the dashboard needs of a consumed record (aiokafka's ConsumerRecord has it)."""

    @property
    def offset(self) -> int: ...

    @property
    def timestamp(self) -> int: ...  # milliseconds

    @property
    def value(self) -> bytes | None: ...


def decode_records(records: Mapping[tuple[str, int], Sequence[RawRecord]]) -> Batch:
    """One batch from records of the dashboard's topics, keyed by (topic, partition)."""
    found: dict[str, list[Any]] = {name: [] for name in TOPICS}
    malformed: list[Malformed] = []
    for (topic, partition), batch in records.items():
        type_ = _TYPES.get(topic)
        sink = found.get(topic)
        if type_ is None or sink is None:
            continue
        for record in batch:
            try:
                sink.append(decode(record.value, type_))
            except RecordError as exc:
                at = record.timestamp / 1000
                malformed.append(Malformed(topic, partition, record.offset, at, str(exc)))
    return Batch(
        events=found[EVENTS.name],
        dead_letters=found[DEAD_LETTERS.name],
        attempts=found[WEBHOOK_ATTEMPTS.name],
        malformed=malformed,
    )
