"""Delivery lanes: the worker's in-memory schedule of webhook deliveries, one lane per endpoint.

Each lane is its own task with its own queue (ordered by due time) and at most
:data:`MAX_IN_FLIGHT` requests at once, so one slow or failing endpoint never delays another.
The lanes hold no state of their own that matters: the delivery agent keeps every pending
delivery in a changelog table and puts it here; after a restart or a rebalance it rebuilds the
lanes from the table. What an attempt got goes back to the agent as a
:class:`~streams.records.WebhookAttempt` record, and only the agent changes the table.

A lane stops for its endpoint when the endpoint answers 410 Gone (every delivery left is given
up at once, no further request), and slows down (one request at a time, after a pause) when it
answers 429, 502, 503 or 504, until a request succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from agents.webhook_directory import EndpointDirectory
from agents.webhook_http import HttpAnswer
from agents.webhook_policy import classify, next_attempt_at, slow_down_pause
from streams.records import AttemptOutcome, WebhookAttempt, WebhookEndpoint, WebhookTask
from streams.webhook_secrets import Sealer, SecretUnreadable, secret_bytes
from streams.webhook_signing import batch_body, batch_id, delivery_headers, event_body

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 8  # requests at once to one endpoint while it answers well
BATCH_LINGER = 0.5  # seconds a batching endpoint's first due event waits for company

Report = Callable[[WebhookAttempt], Awaitable[None]]


class Poster(Protocol):
    """What sends a request (:class:`agents.webhook_http.WebhookClient`); never raises for
    network or HTTP trouble, it answers with what happened."""

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> HttpAnswer: ...


@dataclass(slots=True)
class Item:
    key: str
    task: WebhookTask
    attempts: int  # tries made so far
    due: float
    version: int  # which heap entry is current (a rescheduled item leaves a stale one behind)


class Deliveries:
    """Every lane of this worker."""

    def __init__(
        self,
        *,
        directory: EndpointDirectory,
        client: Poster,
        sealer: Sealer,
        schedule: tuple[float, ...],
        report: Report,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.directory = directory
        self.client = client
        self.sealer = sealer
        self.schedule = schedule
        self.report = report
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not secrecy)
        self._lanes: dict[str, Lane] = {}
        self._versions = 0

    def put(self, key: str, task: WebhookTask, attempts: int, due: float) -> None:
        """Schedule a delivery (again): its next try is due at ``due``."""
        lane = self._lanes.get(task.endpoint_id)
        if lane is None:
            lane = self._lanes[task.endpoint_id] = Lane(task.endpoint_id, self)
        self._versions += 1
        lane.put(Item(key, task, attempts, due, self._versions))

    def discard(self, endpoint_id: str, key: str) -> None:
        lane = self._lanes.get(endpoint_id)
        if lane is not None:
            lane.items.pop(key, None)

    def reset(self, items: Iterable[tuple[str, WebhookTask, int, float]]) -> None:
        """Forget every lane and schedule ``items`` (key, task, attempts, due) instead."""
        self.stop()
        for key, task, attempts, due in items:
            self.put(key, task, attempts, due)

    def stop(self) -> None:
        for lane in self._lanes.values():
            lane.stop()
        self._lanes.clear()


class Lane:
    def __init__(self, endpoint_id: str, owner: Deliveries) -> None:
        self.endpoint_id = endpoint_id
        self.owner = owner
        self.items: dict[str, Item] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._wake = asyncio.Event()
        self._limit = MAX_IN_FLIGHT
        self._in_flight: set[asyncio.Task[None]] = set()
        self._paused_until = 0.0
        self._gone_at: float | None = None  # the endpoint's changed_at when it answered 410
        self._task = asyncio.get_running_loop().create_task(self._run())

    def put(self, item: Item) -> None:
        self.items[item.key] = item
        heapq.heappush(self._heap, (item.due, item.version, item.key))
        self._wake.set()

    def stop(self) -> None:
        self._task.cancel()
        for task in self._in_flight:
            task.cancel()

    async def _run(self) -> None:
        # Judging a delivery needs its endpoint: after a restart, wait until all are known.
        await self.owner.directory.caught_up()
        while True:
            endpoint = self.owner.directory.get(self.endpoint_id)
            size = endpoint.batch_size if endpoint is not None else 1
            head = self._head()
            now = self.owner.clock()
            if head is None or len(self._in_flight) >= self._limit:
                await self._sleep(None)
                continue
            start = max(head.due, self._paused_until)
            if size > 1 and len(self.items) < size:
                start = max(start, head.due + BATCH_LINGER)
            if start > now:
                await self._sleep(start - now)
                continue
            batch = self._take(now, size)
            task = asyncio.get_running_loop().create_task(self._attempt(endpoint, batch))
            self._in_flight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()

    async def _sleep(self, seconds: float | None) -> None:
        """Until ``seconds`` pass (None: for ever) or something changes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    def _head(self) -> Item | None:
        while self._heap:
            _, version, key = self._heap[0]
            item = self.items.get(key)
            if item is not None and item.version == version:
                return item
            heapq.heappop(self._heap)  # rescheduled, delivered or discarded since
        return None

    def _take(self, now: float, size: int) -> list[Item]:
        """Up to ``size`` due items with the same number of tries (they are one attempt)."""
        taken: list[Item] = []
        others: list[tuple[float, int, str]] = []
        while len(taken) < size and (head := self._head()) is not None and head.due <= now:
            entry = heapq.heappop(self._heap)
            if taken and head.attempts != taken[0].attempts:
                others.append(entry)
                continue
            taken.append(self.items.pop(head.key))
        for entry in others:
            heapq.heappush(self._heap, entry)
        return taken

    async def _attempt(self, endpoint: WebhookEndpoint | None, items: list[Item]) -> None:
        owner = self.owner
        now = owner.clock()
        attempt = items[0].attempts + 1
        refusal = self._refusal(endpoint)
        if refusal is not None or endpoint is None:
            await self._report(items, attempt, now, "dead", error=refusal)
            return
        try:
            secrets = [
                secret_bytes(owner.sealer.unseal(s.sealed))
                for s in endpoint.secrets
                if s.expires_at is None or s.expires_at > now
            ]
        except SecretUnreadable:
            secrets = []
        if not secrets:
            answer = HttpAnswer(None, 0.0, None, None, "no readable signing secret: rotate it")
        else:
            headers, body = _request(items, now, secrets, batched=endpoint.batch_size > 1)
            answer = await owner.client.post(endpoint.url, headers, body)
        await self._judge(endpoint, items, attempt, now, answer)

    def _refusal(self, endpoint: WebhookEndpoint | None) -> str | None:
        if endpoint is None or endpoint.deleted:
            return "endpoint deleted"
        if self._gone_at is not None and endpoint.changed_at <= self._gone_at:
            return "endpoint answered 410 Gone: disabled"
        if not endpoint.enabled:
            return "endpoint disabled"
        return None

    async def _judge(
        self,
        endpoint: WebhookEndpoint,
        items: list[Item],
        attempt: int,
        now: float,
        answer: HttpAnswer,
    ) -> None:
        verdict = classify(answer.status)
        if verdict == "succeeded":
            self._limit = MAX_IN_FLIGHT
            await self._report(items, attempt, now, "succeeded", answer=answer)
            return
        if verdict == "gone":
            self._gone_at = endpoint.changed_at
            await self._report(items, attempt, now, "dead", answer=answer)
            await self._give_up_all("endpoint answered 410 Gone: disabled")
            return
        if verdict == "slow_down":
            self._limit = 1
            pause = slow_down_pause(answer.retry_after)
            self._paused_until = max(self._paused_until, self.owner.clock() + pause)
        due = next_attempt_at(
            now,
            attempt,
            self.owner.schedule,
            retry_after=answer.retry_after,
            rng=self.owner.rng,
        )
        outcome: AttemptOutcome = "failed" if due is not None else "dead"
        await self._report(items, attempt, now, outcome, answer=answer, due=due)

    async def _give_up_all(self, reason: str) -> None:
        left = list(self.items.values())
        self.items.clear()
        self._heap.clear()
        for item in left:
            await self._report([item], item.attempts + 1, self.owner.clock(), "dead", error=reason)

    async def _report(
        self,
        items: list[Item],
        attempt: int,
        now: float,
        outcome: AttemptOutcome,
        *,
        answer: HttpAnswer | None = None,
        error: str | None = None,
        due: float | None = None,
    ) -> None:
        record = WebhookAttempt(
            endpoint_id=self.endpoint_id,
            workspace_id=items[0].task.workspace_id,
            event_ids=tuple(item.task.event_id for item in items),
            attempt=attempt,
            at=now,
            outcome=outcome,
            status=answer.status if answer else None,
            latency_ms=answer.latency_ms if answer else None,
            response=answer.body_start if answer else None,
            error=answer.error if answer else error,
            next_attempt_at=due,
        )
        try:
            await self.owner.report(record)
        except Exception:
            # The table still holds these deliveries as they were: try them again shortly.
            log.exception("could not record a webhook attempt; retrying the deliveries")
            for item in items:
                self.owner.put(item.key, item.task, item.attempts, self.owner.clock() + 5.0)


def _request(
    items: list[Item], now: float, secrets: list[bytes], *, batched: bool
) -> tuple[dict[str, str], bytes]:
    """Headers and body of one request: one event, or a batch (a batching endpoint always
    gets the batch form, even of one event, so it parses one shape)."""
    if not batched:
        task = items[0].task
        msg_id, body = task.event_id, event_body(task.event_type, task.at, task.data)
    else:
        tasks = [item.task for item in items]
        msg_id = batch_id([t.event_id for t in tasks])
        body = batch_body([(t.event_type, t.at, t.data) for t in tasks])
    return delivery_headers(msg_id, int(now), body, secrets), body
