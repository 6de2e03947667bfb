"""A deterministic stream for the dashboard's tests, snapshots and screenshot: the same
events, dead letters, webhook attempts and malformed records every time, on a frozen clock."""

from __future__ import annotations

import random

from dashboard.clock import FrozenClock
from dashboard.health import GroupHealth, Health, PartitionLag
from dashboard.lines import Malformed
from dashboard.source import Batch, Lookup, ReplaySource, SourceStatus
from streams.records import DeadLetter, Event, Suppression, WebhookAttempt, event_id

T0 = 1_746_108_000.0  # 2025-05-01 14:00:00 UTC
NOW = T0 + 125.0
WORKSPACES = (
    "ws_5f1c0d9e8a7b6c5d4e3f2a1b",
    "ws_a1b2c3d4e5f60718293a4b5c",
    "ws_0c9d8e7f6a5b4c3d2e1f0a9b",
    "ws_77e1aa02bc93de45f60718ab",
)
SUBJECTS = ("Welcome to YourBrand", "Your receipt #1042", "Reset your password", "May newsletter")
ADA = "ada@example.com"
ADA_SUPPRESSION = Suppression(
    id="sup_0123456789abcdefghijklmnop",
    workspace_id=WORKSPACES[0],
    value=ADA,
    scope="global",
    scope_value="",
    reason="hard_bounce",
    source="bounce",
    created_at=T0 + 61.0,
    message_id="msg_sample_0001",
    detail="550 5.1.1 user unknown",
)


def event(kind: str, n: int, at: float, ws: str, to: str, **fields: object) -> Event:
    message = f"msg_sample_{n:04d}"
    return Event(
        event_id=event_id(message, kind, 0),
        type=kind,  # type: ignore[arg-type]
        message_id=message,
        workspace_id=ws,
        recipient=to,
        at=at,
        seq=int(fields.pop("seq", 1)),  # type: ignore[call-overload]
        tags=("onboarding",) if n % 3 == 0 else (),
        program="newsletter" if n % 4 == 3 else "transactional",
        **fields,  # type: ignore[arg-type]
    )


def messages(count: int = 400) -> list[Event]:
    """``count`` messages over the two minutes before NOW, each queued then decided."""
    rng = random.Random(7)
    out: list[Event] = []
    for n in range(count):
        at = T0 + 2.0 + 120.0 * n / count
        ws = WORKSPACES[min(3, int(rng.expovariate(1.2)))]
        to = ADA if n in (1, 201) else f"user{n}@example.com"
        subject = SUBJECTS[n % len(SUBJECTS)]
        out.append(event("queued", n, at, ws, to, subject=subject, sender="hello@yourbrand.com"))
        roll = rng.random()
        after = at + 0.3
        if n == 1 or (roll < 0.04 and ws == WORKSPACES[2]) or roll < 0.01:
            out.append(
                event(
                    "bounced",
                    n,
                    after,
                    ws,
                    to,
                    seq=2,
                    smtp_code=550,
                    enhanced_code="5.1.1",
                    bounce="hard",
                    diagnostic="user unknown",
                )
            )
        elif roll < 0.06:
            out.append(
                event(
                    "deferred",
                    n,
                    after,
                    ws,
                    to,
                    seq=2,
                    smtp_code=451,
                    enhanced_code="4.7.1",
                    reply="try again later",
                )
            )
        elif n == 201:
            out.append(event("suppressed", n, after, ws, to, seq=2, suppression=ADA_SUPPRESSION))
        else:
            out.append(event("sent", n, after, ws, to, seq=2, smtp_code=250, reply="2.0.0 Ok"))
            if roll > 0.7:
                out.append(event("delivered", n, after + 0.5, ws, to, seq=3))
            if roll > 0.9:
                out.append(
                    event(
                        "opened", n, after + 2.0, ws, to, seq=4, url=None, user_agent="Mozilla/5.0"
                    )
                )
            if 0.985 < roll < 0.99:
                out.append(event("complained", n, after + 3.0, ws, to, seq=5))
    out.sort(key=lambda e: e.at)
    return out


DEAD_LETTERS = (
    DeadLetter(
        "herald.sends.requested", "not a valid SendRequested: Expected `str`", "{}", T0 + 40.0
    ),
    DeadLetter(
        "herald.outcomes",
        "not a valid Event: Object missing required field `type`",
        '{"event_id": "evt_x"}',
        T0 + 100.0,
    ),
)
ATTEMPTS = (
    WebhookAttempt(
        "wh_good_endpoint",
        WORKSPACES[0],
        ("evt_1",),
        1,
        T0 + 50.0,
        "succeeded",
        status=200,
        latency_ms=31.0,
    ),
    WebhookAttempt(
        "wh_broken_endpoint",
        WORKSPACES[1],
        ("evt_2",),
        3,
        T0 + 90.0,
        "failed",
        status=503,
        latency_ms=120.0,
        next_attempt_at=T0 + 390.0,
    ),
)
MALFORMED = (Malformed("herald.events", 2, 1041, T0 + 70.0, "not a valid Event: malformed JSON"),)


def batches(count: int = 400, size: int = 100) -> list[Batch]:
    events = messages(count)
    out = [Batch(status=SourceStatus(connected=True, detail="reading"))]
    out += [Batch(events=events[i : i + size]) for i in range(0, len(events), size)]
    out.append(Batch(dead_letters=DEAD_LETTERS, attempts=ATTEMPTS, malformed=MALFORMED))
    return out


def healthy() -> Health:
    def lags(topic: str, ends: tuple[int, ...], behind: tuple[int, ...]) -> list[PartitionLag]:
        return [
            PartitionLag(topic, p, end - lag, end)
            for p, (end, lag) in enumerate(zip(ends, behind, strict=True))
        ]

    partitions = (
        *lags("herald.sends.requested", (310, 295, 301, 288), (0, 0, 0, 0)),
        *lags("herald.sends.ready", (402, 388, 395, 410), (0, 12, 0, 3)),
        *lags("herald.events", (1210, 1188, 1202, 1190), (0, 0, 0, 0)),
        *lags("herald.sends.retry.0", (14, 9, 11, 7), (2, 0, 1, 0)),
    )
    worker = GroupHealth("herald-worker", "Stable", 2, partitions)
    return Health(reachable=True, checked_at=NOW, latency_ms=4.0, groups=(worker,), dead_letters=5)


def unreachable() -> Health:
    return Health(reachable=False, checked_at=NOW, error="KafkaConnectionError: connection refused")


def source(count: int = 400) -> ReplaySource:
    lookup = Lookup(address=ADA, entries=(ADA_SUPPRESSION,), scanned=1234, partition=2)
    return ReplaySource(batches(count), healthy(), {ADA: lookup}, label="127.0.0.1:9092")


def clock() -> FrozenClock:
    return FrozenClock(NOW)
