"""What an endpoint's answer means, and when to try again (pure, no I/O).

Standard Webhooks: any 2xx is a success; 410 Gone means the receiver wants no more (Herald
disables the endpoint); anything else is retried at growing intervals for about three days.
Herald also reads 429 and 502/503/504 as "slow down": the delivery is retried like any other
failure, and the whole endpoint pauses first (honouring Retry-After), so one overloaded
receiver is not hit by every queued event at once.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Literal

Outcome = Literal["succeeded", "retry", "slow_down", "gone"]

SLOW_DOWN_STATUSES = frozenset({429, 502, 503, 504})
JITTER = 0.10  # up to 10% added to each wait, so retries of one outage do not arrive in step
MAX_RETRY_AFTER = 24 * 3600.0  # a receiver can push one retry back by a day at most
# An endpoint that asks to slow down pauses this long: Retry-After, within these bounds,
# or the default when it gives none. Capped so a receiver cannot park its queue for hours
# with one header; the delivery's own retry (above) may still wait longer.
SLOW_DOWN_DEFAULT = 5.0
SLOW_DOWN_MIN = 1.0
SLOW_DOWN_MAX = 600.0


def classify(status: int | None) -> Outcome:
    """``status`` None: no answer (timeout, refused, connection failed) — retried."""
    if status is not None and 200 <= status < 300:
        return "succeeded"
    if status == 410:
        return "gone"
    if status in SLOW_DOWN_STATUSES:
        return "slow_down"
    # Redirects too: Herald never follows one (it could lead anywhere, SSRF included).
    return "retry"


def next_attempt_at(
    now: float,
    attempts_made: int,
    schedule: Sequence[float],
    *,
    retry_after: float | None,
    rng: random.Random,
) -> float | None:
    """When to make the next try after ``attempts_made`` failed ones (the first try counts).

    The wait before retry k is ``schedule[k-1]`` plus up to 10% jitter; a Retry-After can
    lengthen it, never shorten it. None when the schedule is used up: the event is dead.
    """
    if attempts_made < 1:
        raise ValueError("attempts_made counts the tries so far, the first one included")
    if attempts_made > len(schedule):
        return None
    wait = schedule[attempts_made - 1] * (1.0 + rng.uniform(0.0, JITTER))
    if retry_after is not None:
        wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
    return now + wait


def slow_down_pause(retry_after: float | None) -> float:
    """Seconds the whole endpoint waits after a slow-down answer."""
    if retry_after is None:
        return SLOW_DOWN_DEFAULT
    return min(max(retry_after, SLOW_DOWN_MIN), SLOW_DOWN_MAX)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from ``now`` that a Retry-After header asks for (RFC 9110 10.2.3: a number of
    seconds or an HTTP-date); None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # the asctime form: HTTP dates are all in GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
