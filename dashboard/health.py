"""Pipeline health: what the probe found on the cluster, and what the streams say about dead
letters and webhook endpoints (pure)."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from streams.records import DeadLetter, WebhookAttempt
from streams.topics import RETRY_PREFIX, WORKER_GROUP

Partition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group never committed here
    end: int
    begin: int = 0

    @property
    def lag(self) -> int:
        """Records the group has still to read (from the start of the log if it never
        committed)."""
        position = self.begin if self.committed is None or self.committed < 0 else self.committed
        return max(0, self.end - max(position, self.begin))


@dataclass(frozen=True, slots=True)
class GroupHealth:
    group_id: str
    state: str  # Stable, PreparingRebalance, CompletingRebalance, Empty, Dead, Unknown
    members: int
    partitions: tuple[PartitionLag, ...] = ()

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def alive(self) -> bool:
        return self.members > 0 and self.state not in ("Empty", "Dead")

    def lag_by_topic(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.partitions:
            out[p.topic] = out.get(p.topic, 0) + p.lag
        return out


@dataclass(frozen=True, slots=True)
class Health:
    reachable: bool
    checked_at: float
    error: str | None = None
    latency_ms: float | None = None
    groups: tuple[GroupHealth, ...] = ()
    dead_letters: int = 0  # records on herald.deadletters (what retention still holds)

    def group(self, group_id: str) -> GroupHealth | None:
        return next((g for g in self.groups if g.group_id == group_id), None)

    @property
    def worker(self) -> GroupHealth | None:
        return self.group(WORKER_GROUP)

    @property
    def deferred(self) -> int:
        """Deliveries waiting in the retry topics: the worker's backlog there."""
        worker = self.worker
        if worker is None:
            return 0
        return sum(p.lag for p in worker.partitions if p.topic.startswith(RETRY_PREFIX))


def partition_lags(
    partitions: Iterable[Partition],
    committed: Mapping[Partition, int],
    begin: Mapping[Partition, int],
    end: Mapping[Partition, int],
) -> tuple[PartitionLag, ...]:
    """One row per partition, sorted by topic and partition."""
    return tuple(
        PartitionLag(
            topic=tp[0],
            partition=tp[1],
            committed=committed.get(tp),
            end=end.get(tp, 0),
            begin=begin.get(tp, 0),
        )
        for tp in sorted(set(partitions))
    )


class DeadLetters:
    """Dead letters seen on the stream: how many, and the latest few with their reasons."""

    def __init__(self, keep: int = 20) -> None:
        self.seen = 0
        self.latest: deque[DeadLetter] = deque(maxlen=keep)

    def add(self, letters: Iterable[DeadLetter]) -> None:
        for letter in letters:
            self.seen += 1
            self.latest.append(letter)


class Webhooks:
    """The latest attempt of each endpoint seen (the most recent ``limit`` endpoints)."""

    def __init__(self, limit: int = 1_000) -> None:
        self.limit = limit
        self._latest: OrderedDict[str, WebhookAttempt] = OrderedDict()

    def add(self, attempts: Iterable[WebhookAttempt]) -> None:
        for attempt in attempts:
            known = self._latest.get(attempt.endpoint_id)
            if known is not None and known.at > attempt.at:
                continue
            self._latest[attempt.endpoint_id] = attempt
            self._latest.move_to_end(attempt.endpoint_id)
            if len(self._latest) > self.limit:
                self._latest.popitem(last=False)

    def failing(self) -> list[WebhookAttempt]:
        """Endpoints whose latest attempt failed, most recent first."""
        bad = [a for a in self._latest.values() if a.outcome != "succeeded"]
        return sorted(bad, key=lambda a: -a.at)

    def __len__(self) -> int:
        return len(self._latest)
