"""Webhook delivery: every pending delivery's retry state, in a changelog table
(``herald.webhooks.tasks`` + ``herald.webhooks.attempts`` -> the delivery lanes).

A task (from the fan-out or a replay) becomes a pending entry, due now. Each attempt the lanes
report moves its entries on: delivered and dead ones leave the table, failed ones wait for
their next try. Both topics are keyed by endpoint id, so one worker holds all of an
endpoint's entries, and a restart loses none: the table is restored from its changelog and
the lanes are rebuilt from it (:mod:`agents.webhook_lanes`).

The agent also watches each endpoint's health: a 410 Gone, or failing without a single
success for ``webhook_disable_after``, disables the endpoint. The disabled configuration goes
to ``herald.webhooks`` and a ``webhook_disabled`` event to ``herald.events``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import msgspec

from agents.deadletters import guard
from agents.webhook_directory import EndpointDirectory
from agents.webhook_lanes import Deliveries
from streams import topics
from streams.records import Event, WebhookAttempt, WebhookTask, decode, encode, event_id

if TYPE_CHECKING:
    from agents.app import Worker

DISABLED_BECAUSE = {
    "gone": "the endpoint answered 410 Gone",
    "failing": "every delivery failed for longer than the workspace allows",
}


def pending_key(endpoint_id: str, event_id_: str) -> str:
    return f"{endpoint_id}|{event_id_}"


def register(worker: Worker, directory: EndpointDirectory, lanes: Deliveries) -> None:
    settings = worker.settings
    pending = worker.tables.webhook_pending
    health = worker.tables.webhook_health

    async def rebuild() -> None:
        # After every rebalance: this worker's lanes are exactly its partitions' entries.
        lanes.reset(
            (key, msgspec.convert(entry["task"], WebhookTask), entry["attempts"], entry["due"])
            for key, entry in pending.items()
            if entry is not None
        )

    pending.on_recover(rebuild)

    def on_task(task: WebhookTask) -> None:
        key = pending_key(task.endpoint_id, task.event_id)
        if pending.get(key) is not None:
            return  # already waiting (a repeated event, or a replay of one still pending)
        due = time.time()
        pending[key] = {"task": msgspec.to_builtins(task), "attempts": 0, "due": due}
        lanes.put(key, task, 0, due)

    async def on_attempt(attempt: WebhookAttempt) -> None:
        for id_ in attempt.event_ids:
            key = pending_key(attempt.endpoint_id, id_)
            entry: dict[str, Any] | None = pending.get(key)
            if entry is None or entry["attempts"] >= attempt.attempt:
                continue  # a report seen before, or one about an older try
            if attempt.outcome == "failed" and attempt.next_attempt_at is not None:
                due = attempt.next_attempt_at
                pending[key] = {**entry, "attempts": attempt.attempt, "due": due}
                task = msgspec.convert(entry["task"], WebhookTask)
                lanes.put(key, task, attempt.attempt, due)
            else:
                del pending[key]
                lanes.discard(attempt.endpoint_id, key)
        await judge_health(attempt)

    async def judge_health(attempt: WebhookAttempt) -> None:
        if attempt.latency_ms is None:
            return  # no request was made (endpoint disabled or deleted): not its failure
        endpoint_id = attempt.endpoint_id
        if attempt.outcome == "succeeded":
            if health.get(endpoint_id) is not None:
                health[endpoint_id] = None
            return
        if attempt.status == 410:
            await disable(endpoint_id, "gone")
            return
        state = health.get(endpoint_id) or {}
        since = state.get("failing_since") or attempt.at
        health[endpoint_id] = {"failing_since": since}
        if attempt.at - since >= settings.webhook_disable_after:
            await disable(endpoint_id, "failing")

    async def disable(endpoint_id: str, reason: str) -> None:
        endpoint = directory.get(endpoint_id)
        if endpoint is None or endpoint.deleted or not endpoint.enabled:
            return
        at = max(time.time(), endpoint.changed_at + 0.001)
        off = replace(endpoint, enabled=False, disabled_reason=reason, changed_at=at)
        directory.apply(off)  # the lanes stop at once, before the topic comes back round
        health[endpoint_id] = None
        await worker.send(worker.webhooks, endpoint_id.encode(), encode(off))
        event = Event(
            event_id=event_id(endpoint_id, "webhook_disabled", repr(at)),
            type="webhook_disabled",
            message_id="",
            workspace_id=endpoint.workspace_id,
            recipient="",
            at=at,
            webhook_id=endpoint_id,
            diagnostic=DISABLED_BECAUSE[reason],
        )
        await worker.send(worker.events, endpoint_id.encode(), encode(event))

    async def deliver(stream: Any) -> None:
        async for event in stream.events():
            source = event.message.topic
            async with guard(worker.dead_letters, source, event.value):
                if source == topics.WEBHOOK_TASKS.name:
                    on_task(decode(event.value, WebhookTask))
                else:
                    await on_attempt(decode(event.value, WebhookAttempt))

    worker.app.agent(worker.webhook_inbox, name="webhook-delivery")(deliver)
