"""Where the dashboard's data comes from: the :class:`Source` protocol, the batches it yields,
and :class:`ReplaySource`, a deterministic source for tests and screenshots.

The real source (:class:`dashboard.kafka.KafkaSource`) reads the broker; the app cannot tell
the two apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from dashboard.health import Health
from dashboard.lines import Malformed
from streams.records import DeadLetter, Event, Suppression, SuppressionChange, WebhookAttempt


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """A change in the source's connection: shown in the title bar, and as an alert when
    ``connected`` is false."""

    connected: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Batch:
    """What one poll of the topics brought: the app ingests it in one go."""

    events: Sequence[Event] = ()
    attempts: Sequence[WebhookAttempt] = ()
    dead_letters: Sequence[DeadLetter] = ()
    malformed: Sequence[Malformed] = ()
    status: SourceStatus | None = None

    def __len__(self) -> int:
        return len(self.events) + len(self.attempts) + len(self.dead_letters) + len(self.malformed)


@dataclass(frozen=True, slots=True)
class Lookup:
    """The suppression entries of an address (and of its domain), as the topic says now."""

    address: str
    entries: tuple[Suppression, ...] = ()
    scanned: int = 0  # records read to find them
    partition: int | None = None
    error: str | None = None


class Source(Protocol):
    label: str  # where it reads from, for the title bar

    def batches(self) -> AsyncGenerator[Batch, None]:
        """Batches until cancelled; never raises for a lost broker or a bad record."""
        ...

    async def health(self) -> Health:
        """One look at the cluster; an unreachable broker is a Health, not an exception."""
        ...

    async def lookup(self, address: str) -> Lookup: ...

    async def close(self) -> None:
        """Release what the health checks hold (the app is closing)."""
        ...


def current_entries(changes: Iterable[SuppressionChange]) -> tuple[Suppression, ...]:
    """The entries still in force after ``changes``: per entry the latest change wins."""
    latest: dict[str, SuppressionChange] = {}
    for change in changes:
        known = latest.get(change.entry.id)
        if known is None or change.at >= known.at:
            latest[change.entry.id] = change
    kept = [c.entry for c in latest.values() if c.op == "add"]
    return tuple(sorted(kept, key=lambda e: (-e.created_at, e.workspace_id, e.id)))


@dataclass
class ReplaySource:
    """Yields the given batches, then whatever is :meth:`push`-ed; answers health and lookups
    from what it was given. ``drained`` is set once every given batch was yielded."""

    batches_given: Sequence[Batch]
    health_given: Health
    lookups: dict[str, Lookup] = field(default_factory=dict)
    label: str = "replay"
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    lookups_asked: list[str] = field(default_factory=list)
    _pushed: asyncio.Queue[Batch] = field(default_factory=asyncio.Queue)

    def push(self, batch: Batch) -> None:
        self._pushed.put_nowait(batch)

    async def batches(self) -> AsyncGenerator[Batch, None]:
        for batch in self.batches_given:
            yield batch
        self.drained.set()
        while True:  # a live source never ends
            yield await self._pushed.get()

    async def health(self) -> Health:
        return self.health_given

    async def close(self) -> None:
        pass

    async def lookup(self, address: str) -> Lookup:
        self.lookups_asked.append(address)
        return self.lookups.get(address.strip().lower(), Lookup(address=address))
