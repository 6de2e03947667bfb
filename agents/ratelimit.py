"""Token bucket arithmetic for the per-workspace send throttle (pure, no I/O).

The bucket may go into debt: taking more tokens than it holds returns how long to wait before
those sends may go. Over-limit mail is therefore delayed, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    updated_at: float

    def to_json(self) -> list[float]:
        return [self.tokens, self.updated_at]

    @classmethod
    def from_json(cls, value: list[float] | None, *, burst: float, now: float) -> Bucket:
        if not value:
            return cls(tokens=burst, updated_at=now)  # a new workspace starts with a full bucket
        return cls(tokens=float(value[0]), updated_at=float(value[1]))


def take(bucket: Bucket, n: int, *, now: float, rate: float, burst: float) -> tuple[Bucket, float]:
    """Take ``n`` tokens at time ``now``; return the new bucket and the seconds to wait first."""
    elapsed = max(0.0, now - bucket.updated_at)  # a clock step backwards refills nothing
    tokens = min(burst, bucket.tokens + elapsed * rate) - n
    wait = 0.0 if tokens >= 0 else -tokens / rate
    return Bucket(tokens=tokens, updated_at=now), wait
