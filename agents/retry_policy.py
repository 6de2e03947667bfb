"""When to retry a deferred delivery, and when to give up (pure, no I/O).

RFC 5321 4.5.4.1: retry at growing intervals and give up after a lifetime (Herald: 72 h by
default). Each step of the schedule has its own retry topic, so a retry topic holds records of
one fixed delay and is naturally ordered by due time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPlan:
    tier: int  # which retry topic
    due_at: float  # epoch seconds


def plan_retry(
    *, attempt: int, accepted_at: float, now: float, schedule: tuple[float, ...], lifetime: float
) -> RetryPlan | None:
    """Plan the retry after failed attempt number ``attempt`` (0 = the first try).

    Returns None when the next try would fall past the message's lifetime: it has failed.
    """
    if not schedule:
        return None
    tier = min(attempt, len(schedule) - 1)
    due_at = now + schedule[tier]
    if due_at - accepted_at > lifetime:
        return None
    return RetryPlan(tier=tier, due_at=due_at)
