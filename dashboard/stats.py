"""Counters behind the throughput and top-workspace panes (pure, bounded).

Throughput is bucketed by the event's own time (clamped to now), so a ``--since`` replay draws
the minutes it covers instead of one spike at start-up. Only the last ``window`` seconds are
kept per second; totals since start are kept per type.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

OTHER = "(other)"  # where workspaces beyond the limit are counted


class Throughput:
    def __init__(self, window: int = 600) -> None:
        self.window = window
        self.totals: dict[str, int] = {}
        self._seconds: dict[int, dict[str, int]] = {}

    def add(self, kind: str, at: float, now: float) -> None:
        self.totals[kind] = self.totals.get(kind, 0) + 1
        second = int(min(at, now))
        if second <= now - self.window:
            return
        bucket = self._seconds.get(second)
        if bucket is None:
            bucket = self._seconds[second] = {}
        bucket[kind] = bucket.get(kind, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    def prune(self, now: float) -> None:
        oldest = now - self.window
        for second in [s for s in self._seconds if s <= oldest]:
            del self._seconds[second]

    def _count(self, second: int, kind: str | None) -> int:
        bucket = self._seconds.get(second)
        if not bucket:
            return 0
        return sum(bucket.values()) if kind is None else bucket.get(kind, 0)

    def series(self, kind: str | None, now: float, columns: int, span: int) -> list[int]:
        """Events of ``kind`` (None: every kind) in each of ``columns`` equal slices of the
        last ``span`` complete seconds, oldest first."""
        columns = max(1, min(columns, span))
        last = int(now) - 1
        first = last - span + 1
        out = [0] * columns
        for second in range(first, last + 1):
            out[(second - first) * columns // span] += self._count(second, kind)
        return out

    def rate(self, kind: str | None, now: float, over: int = 5) -> float:
        """Events per second of ``kind`` over the last ``over`` complete seconds."""
        last = int(now) - 1
        return sum(self._count(s, kind) for s in range(last - over + 1, last + 1)) / over

    def kinds(self) -> list[str]:
        """Every kind seen since start, busiest first."""
        return sorted(self.totals, key=lambda k: (-self.totals[k], k))


@dataclass(slots=True)
class WorkspaceCounts:
    events: int = 0
    queued: int = 0
    bounced: int = 0
    complained: int = 0

    @property
    def bounce_rate(self) -> float:
        return self.bounced / self.queued if self.queued else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complained / self.queued if self.queued else 0.0


class Workspaces:
    """Per-workspace counts since start. Rates are per message queued, among workspaces with
    at least ``min_queued`` queued (a 1-of-1 bounce says nothing)."""

    def __init__(self, limit: int = 10_000, min_queued: int = 20) -> None:
        self.limit = limit
        self.min_queued = min_queued
        self._counts: dict[str, WorkspaceCounts] = {}

    def add(self, workspace: str, kind: str) -> None:
        if not workspace:
            return
        counts = self._counts.get(workspace)
        if counts is None:
            if len(self._counts) >= self.limit:
                workspace = OTHER
            counts = self._counts.setdefault(workspace, WorkspaceCounts())
        counts.events += 1
        if kind == "queued":
            counts.queued += 1
        elif kind == "bounced":
            counts.bounced += 1
        elif kind == "complained":
            counts.complained += 1

    def __len__(self) -> int:
        return len(self._counts)

    def get(self, workspace: str) -> WorkspaceCounts | None:
        return self._counts.get(workspace)

    def by_volume(self, n: int) -> list[tuple[str, WorkspaceCounts]]:
        return heapq.nsmallest(n, self._counts.items(), key=lambda kv: (-kv[1].events, kv[0]))

    def by_rate(self, n: int) -> list[tuple[str, WorkspaceCounts]]:
        ranked = [kv for kv in self._counts.items() if kv[1].queued >= self.min_queued]
        return heapq.nsmallest(
            n,
            ranked,
            key=lambda kv: (-(kv[1].bounce_rate + kv[1].complaint_rate), -kv[1].events, kv[0]),
        )
