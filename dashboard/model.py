"""The dashboard's state, kept apart from the widgets (pure, bounded, no Textual, no Kafka).

The app feeds it batches as they arrive and reads it on a timer, so a burst of 10,000 events
costs 10,000 cheap appends here and one repaint there. Every collection has a fixed bound:
the log ring, the filtered view (same capacity), the per-message timelines (an LRU of recent
messages), the per-second counters (a time window), the workspace and endpoint tables.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable

from dashboard.clock import Clock
from dashboard.filters import Filter
from dashboard.health import DeadLetters, Health, Webhooks
from dashboard.lines import LogLine, event_line, malformed_line
from dashboard.source import Batch, SourceStatus
from dashboard.stats import Throughput, Workspaces
from streams.records import Event


class Timelines:
    """The events of the most recently active ``limit`` messages, at most ``per_message``
    each (a message past that keeps its first and latest events)."""

    def __init__(self, limit: int = 10_000, per_message: int = 64) -> None:
        self.limit = limit
        self.per_message = per_message
        self._events: OrderedDict[str, list[Event]] = OrderedDict()

    def add(self, event: Event) -> None:
        if not event.message_id:
            return
        events = self._events.get(event.message_id)
        if events is None:
            events = self._events[event.message_id] = []
            if len(self._events) > self.limit:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(event.message_id)
            if any(e.event_id == event.event_id for e in events):
                return  # a redelivered record
        if len(events) >= self.per_message:
            del events[1]
        events.append(event)

    def get(self, message_id: str) -> list[Event]:
        events = self._events.get(message_id, [])
        return sorted(events, key=lambda e: (e.seq or 1 << 30, e.at))

    def __len__(self) -> int:
        return len(self._events)

    def for_recipient(self, address: str) -> Iterable[Event]:
        for events in self._events.values():
            if events and events[0].recipient.lower() == address:
                yield from events


class Model:
    def __init__(
        self,
        clock: Clock,
        *,
        capacity: int = 20_000,
        messages: int = 10_000,
        window: int = 600,
    ) -> None:
        self.clock = clock
        self.capacity = capacity
        self.lines: deque[LogLine] = deque(maxlen=capacity)
        self.view: deque[LogLine] = deque(maxlen=capacity)  # the lines the filter keeps
        self.filter = Filter()
        self.throughput = Throughput(window)
        self.workspaces = Workspaces()
        self.timelines = Timelines(messages)
        self.dead_letters = DeadLetters()
        self.webhooks = Webhooks()
        self.health: Health | None = None
        self.down_since: float | None = None  # when the broker was first found unreachable
        self.status = SourceStatus(connected=False, detail="connecting")
        self.received = 0  # log lines ever added
        self.matched = 0  # of those, lines the filter kept (the view's own counter)
        self.malformed = 0
        self.started_at = clock.now()

    def ingest(self, batch: Batch) -> None:
        now = self.clock.now()
        if batch.status is not None:
            self.status = batch.status
        new = [event_line(e) for e in batch.events]
        new.extend(malformed_line(m) for m in batch.malformed)
        for event in batch.events:
            self.throughput.add(event.type, event.at, now)
            self.workspaces.add(event.workspace_id, event.type)
            self.timelines.add(event)
        for record in batch.malformed:
            self.throughput.add("malformed", record.at, now)
        self.malformed += len(batch.malformed)
        self.dead_letters.add(batch.dead_letters)
        self.webhooks.add(batch.attempts)
        self._append(new)

    def _append(self, new: list[LogLine]) -> None:
        self.received += len(new)
        self.lines.extend(new)
        kept = new if self.filter.empty else [line for line in new if self.filter.matches(line)]
        self.matched += len(kept)
        self.view.extend(kept)

    def set_filter(self, new: Filter) -> None:
        """Apply ``new`` to every line the ring still holds (the only O(capacity) step,
        taken once per change of filter)."""
        self.filter = new
        self.view = deque(
            self.lines if new.empty else (line for line in self.lines if new.matches(line)),
            maxlen=self.capacity,
        )
        self.matched = len(self.view)

    def timeline(self, message_id: str) -> list[Event]:
        return self.timelines.get(message_id)

    def recent_for(self, address: str, limit: int = 20) -> list[LogLine]:
        """The latest log lines of ``address``, newest first (from the ring and from the
        timelines of messages the ring no longer holds)."""
        address = address.strip().lower()
        found = [line for line in self.lines if line.recipient.lower() == address]
        held = {(line.message_id, line.kind, line.at) for line in found}
        for event in self.timelines.for_recipient(address):
            line = event_line(event)
            if (line.message_id, line.kind, line.at) not in held:
                found.append(line)
        found.sort(key=lambda line: -line.at)
        return found[:limit]

    def set_health(self, health: Health) -> None:
        if health.reachable:
            self.down_since = None
        elif self.down_since is None:
            self.down_since = health.checked_at
        self.health = health

    def tick(self) -> None:
        """Forget per-second counts that left the window (called on the refresh timer)."""
        self.throughput.prune(self.clock.now())
