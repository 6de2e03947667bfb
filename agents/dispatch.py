"""Dispatch: throttle per workspace, keep the send ledger, deliver over SMTP, report outcomes
(``herald.sends.ready`` -> relay, ``herald.events``, retry topics).

Delivery semantics (DESIGN.md): at-least-once with a ledger keyed by message id. A delivery is
marked ``sending`` (and the mark flushed to the changelog) before SMTP, and ``sent`` after the
relay's 250, before the batch's offsets are committed. A record seen again whose ledger entry is
terminal is not sent again, but its outcome event is published again (the ledger keeps it); one
left ``sending`` by a crash is sent again with the same Message-ID and its event says
``possible_duplicate``.
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
from streams import topics
from streams.records import Delivery, EventType, decode, encode
from streams.topics import recipient_key

if TYPE_CHECKING:
    from agents.app import Worker

log = logging.getLogger(__name__)

TERMINAL = frozenset({"sent", "bounced", "failed"})


@dataclass(frozen=True, slots=True)
class Pending:
    event: Any  # the Faust event that carried the delivery
    delivery: Delivery
    possible_duplicate: bool


def register(worker: Worker, mailer: Mailer) -> None:
    settings = worker.settings
    ledger = worker.tables.ledger

    async def throttle(batch: list[Pending]) -> None:
        """Take one token per delivery from its workspace's bucket; wait out any debt."""
        by_workspace: dict[str, list[Pending]] = defaultdict(list)
        for p in batch:
            by_workspace[p.delivery.workspace_id].append(p)
        wait = 0.0
        now = time.time()
        for workspace_id, items in by_workspace.items():
            # The newest record carries the workspace's current plan.
            limit = items[-1].delivery.limit
            rate = limit.rate if limit else settings.workspace_send_rate
            burst = limit.burst if limit else settings.workspace_send_burst
            bucket = Bucket.from_json(worker.tables.buckets.get(workspace_id), burst=burst, now=now)
            bucket, need = take(bucket, len(items), now=now, rate=rate, burst=burst)
            with event_context.current(items[-1].event):
                worker.tables.buckets[workspace_id] = bucket.to_json()
            wait = max(wait, need)
        if wait > 0:
            await asyncio.sleep(wait)

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
                await worker.retries[plan.tier].send(key=key, value=encode(again))
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
        await worker.outcomes.send(key=d.message_id.encode(), value=record)

    async def dispatch(stream: Any) -> None:
        async for events in stream.take_events(settings.worker_batch, within=0.02):
            batch: list[Pending] = []
            for event in events:
                async with guard(worker.dead_letters, topics.SENDS_READY.name, event.value):
                    delivery = decode(event.value, Delivery)
                    entry = ledger.get(delivery.message_id)
                    if entry and entry["state"] in TERMINAL:
                        # Already done: a redelivered record, not a new send. The table's
                        # local store is written at once, its changelog and the outcome only
                        # when flushed, so after a crash the entry can say "sent" while the
                        # event never reached Kafka: publish it again (the timeline knows its
                        # id, so a copy that did arrive changes nothing).
                        if "event" in entry:
                            key = delivery.message_id.encode()
                            await worker.outcomes.send(key=key, value=entry["event"].encode())
                        continue
                    duplicate = bool(entry) and entry["state"] == "sending"
                    with event_context.current(event):
                        ledger[delivery.message_id] = {
                            "state": "sending",
                            "attempt": delivery.attempt,
                        }
                    batch.append(Pending(event, delivery, duplicate))
            if not batch:
                continue
            await throttle(batch)
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
                async with guard(worker.dead_letters, topics.SENDS_READY.name, p.event.value):
                    await report(p, result)

    worker.app.agent(worker.ready, name="dispatch")(dispatch)
