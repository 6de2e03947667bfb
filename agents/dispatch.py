"""Dispatch: screen, throttle per workspace, keep the send ledger, deliver over SMTP, report
outcomes (``herald.sends.by_recipient`` -> relay, ``herald.outcomes``, retry topics).

One stage per delivery: the suppression check (:mod:`agents.screen`), the ledger and the
throttle all live on the recipient's partition, so a delivery is read once between expand and
the relay, and one workspace's mail spreads over every partition and every worker.

Delivery semantics (DESIGN.md): at-least-once with a ledger keyed by message id. A delivery is
marked ``sending`` (and the mark flushed to the changelog) before SMTP, and ``sent`` after the
relay's 250, before the batch's offsets are committed. A record seen again whose ledger entry is
terminal is not sent again, but its outcome event is published again (the ledger keeps it); one
left ``sending`` by a crash is sent again with the same Message-ID and its event says
``possible_duplicate``.

The workspace throttle is a token bucket per workspace and partition, each refilled at the
rate divided by the partition count (its burst likewise): however many workers run, a
workspace never sends faster than its rate. Mail to a few recipients only gets the shares of
their partitions, so it is throttled below the rate, never above it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agents import event_context
from agents.bounces import bounce_kind
from agents.deadletters import guard
from agents.mailer import Mailer, SendResult
from agents.outcomes import event_for
from agents.ratelimit import Bucket, take
from agents.retry_policy import plan_retry
from agents.screen import suppression_of
from streams import topics
from streams.records import Delivery, EventType, decode, encode
from streams.topics import recipient_key

if TYPE_CHECKING:
    from agents.app import Worker
    from config.settings import Settings

log = logging.getLogger(__name__)

TERMINAL = frozenset({"sent", "bounced", "failed"})


@dataclass(frozen=True, slots=True)
class Pending:
    event: Any  # the Faust event that carried the delivery
    delivery: Delivery
    possible_duplicate: bool


def bucket_key(workspace_id: str, partition: int) -> str:
    return f"{workspace_id}|{partition}"


async def throttle(buckets: Any, batch: list[Pending], settings: Settings) -> None:
    """Take one token per delivery from its workspace's bucket on the delivery's partition;
    wait out any debt."""
    shares = settings.topic_partitions
    groups: dict[tuple[str, int], list[Pending]] = defaultdict(list)
    for p in batch:
        groups[p.delivery.workspace_id, p.event.message.partition].append(p)
    wait = 0.0
    now = time.time()
    for (workspace_id, partition), items in groups.items():
        # The newest record carries the workspace's current plan.
        limit = items[-1].delivery.limit
        rate = (limit.rate if limit else settings.workspace_send_rate) / shares
        burst = (limit.burst if limit else settings.workspace_send_burst) / shares
        key = bucket_key(workspace_id, partition)
        with event_context.current(items[-1].event):  # its partition's store
            bucket = Bucket.from_json(buckets.get(key), burst=burst, now=now)
            bucket, need = take(bucket, len(items), now=now, rate=rate, burst=burst)
            buckets[key] = bucket.to_json()
        wait = max(wait, need)
    if wait > 0:
        await asyncio.sleep(wait)


def register(worker: Worker, mailer: Mailer) -> None:
    settings = worker.settings
    ledger = worker.tables.ledger
    suppressions = worker.tables.suppressions

    async def report(p: Pending, result: SendResult) -> None:
        d, now = p.delivery, time.time()
        detail: dict[str, Any] = {
            "smtp_code": result.code,
            "enhanced_code": result.enhanced,
            "reply": result.reply,
            "possible_duplicate": p.possible_duplicate,
        }
        if result.outcome == "deferred":
            plan = plan_retry(
                attempt=d.attempt,
                accepted_at=d.accepted_at,
                now=now,
                schedule=settings.retry_schedule,
                lifetime=settings.max_message_lifetime,
            )
            state: EventType = "deferred" if plan else "failed"
            event = event_for(d, state, at=now, **detail)
            if plan:
                again = d.next_attempt(plan.due_at)
                key = recipient_key(again.recipient)
                await worker.send(worker.retries[plan.tier], key, encode(again))
        else:
            state = result.outcome
            if state == "bounced":
                detail["bounce"] = bounce_kind(result.enhanced, result.reply)
                detail["diagnostic"] = result.reply
            event = event_for(d, state, at=now, **detail)
        record = encode(event)
        with event_context.current(p.event):
            ledger[d.message_id] = {
                "state": state,
                "attempt": d.attempt,
                "event": record.decode(),  # published again if this record comes back
            }
        await worker.send(worker.outcomes, d.message_id.encode(), record)

    async def admit(event: Any) -> Pending | None:
        """The delivery ``event`` carries, marked ``sending``; None when it goes no further
        (sent before, or suppressed)."""
        delivery = decode(event.value, Delivery)
        key = delivery.message_id.encode()
        entry = ledger.get(delivery.message_id)
        if entry and entry["state"] in TERMINAL:
            # Already done: a redelivered record, not a new send. The table's local store is
            # written at once, its changelog and the outcome only when flushed, so after a
            # crash the entry can say "sent" while the event never reached Kafka: publish it
            # again (the timeline knows its id, so a copy that did arrive changes nothing).
            if "event" in entry:
                await worker.send(worker.outcomes, key, entry["event"].encode())
            return None
        stop = suppression_of(suppressions, delivery)
        if stop is not None:
            suppressed = event_for(delivery, "suppressed", at=time.time(), suppression=stop)
            await worker.send(worker.outcomes, key, encode(suppressed))
            return None
        duplicate = bool(entry) and entry["state"] == "sending"
        ledger[delivery.message_id] = {"state": "sending", "attempt": delivery.attempt}
        return Pending(event, delivery, duplicate)

    async def dispatch(stream: Any) -> None:
        source = topics.SENDS_BY_RECIPIENT.name
        async for events in stream.take_events(settings.worker_batch, within=0.02):
            batch: list[Pending] = []
            for event in events:
                # The event's partition picks the stores that admit reads and writes.
                with event_context.current(event):
                    async with guard(worker.dead_letters, source, event.value):
                        if pending := await admit(event):
                            batch.append(pending)
            if not batch:
                continue
            await throttle(worker.tables.buckets, batch, settings)
            # The "sending" marks must be durable before any SMTP DATA goes out.
            await worker.app.producer.flush()
            results = await asyncio.gather(
                *(mailer.send(p.delivery) for p in batch), return_exceptions=True
            )
            for p, result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    # A mailer bug must not lose the mail: treat it as a temporary failure.
                    log.error("mailer failed on %s: %r", p.delivery.message_id, result)
                    result = SendResult("deferred", None, None, "internal error, will retry")
                async with guard(worker.dead_letters, source, p.event.value):
                    await report(p, result)

    worker.app.agent(worker.by_recipient, name="dispatch")(dispatch)
