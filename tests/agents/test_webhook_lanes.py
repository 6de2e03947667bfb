"""The delivery lanes with an in-memory endpoint: who gets a request when, and what each
attempt reports back to the delivery agent."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
from standardwebhooks import Webhook

from agents.webhook_directory import EndpointDirectory
from agents.webhook_http import HttpAnswer
from agents.webhook_lanes import Deliveries
from streams.records import WebhookAttempt, WebhookEndpoint, WebhookSecret, WebhookTask
from streams.webhook_secrets import Sealer, new_secret

SEALER = Sealer(b"k" * 32)
SECRET = new_secret()


class KnownDirectory(EndpointDirectory):
    """The directory without Kafka: endpoints are applied by the test."""

    def __init__(self) -> None:
        super().__init__("unused:9092")

    async def caught_up(self) -> None:
        return None


@dataclass
class Endpoints:
    """Answers per URL: a list of statuses to give in turn (then 200), and a delay."""

    statuses: dict[str, list[int]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], bytes, float]] = field(default_factory=list)

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> HttpAnswer:
        self.requests.append((url, dict(headers), body, time.monotonic()))
        await asyncio.sleep(self.delays.get(url, 0.0))
        queue = self.statuses.get(url, [])
        status = queue.pop(0) if queue else 200
        retry_after = 0.2 if status == 429 else None
        return HttpAnswer(status, 1.0, "ok", retry_after, None)

    def to(self, url: str) -> list[tuple[str, dict[str, str], bytes, float]]:
        return [r for r in self.requests if r[0] == url]


def endpoint(id_: str, **fields: object) -> WebhookEndpoint:
    base: dict[str, object] = {
        "id": id_,
        "workspace_id": "ws_1",
        "url": f"https://{id_}.example/hook",
        "secrets": (WebhookSecret(SEALER.seal(SECRET)),),
        "created_at": 1.0,
        "changed_at": 1.0,
    }
    return WebhookEndpoint(**{**base, **fields})  # type: ignore[arg-type]


def task(endpoint_id: str, n: int) -> WebhookTask:
    return WebhookTask(
        endpoint_id=endpoint_id,
        workspace_id="ws_1",
        event_id=f"evt_{n}",
        event_type="sent",
        at=1_700_000_000.0 + n,
        data={"id": f"evt_{n}", "type": "sent"},
    )


class Harness:
    def __init__(self, schedule: tuple[float, ...] = (0.05, 0.05)) -> None:
        self.directory = KnownDirectory()
        self.endpoints = Endpoints()
        self.reports: list[WebhookAttempt] = []
        self.lanes = Deliveries(
            directory=self.directory,
            client=self.endpoints,
            sealer=SEALER,
            schedule=schedule,
            report=self.report,
            rng=random.Random(7),
        )

    async def report(self, attempt: WebhookAttempt) -> None:
        # What the delivery agent does: a failed attempt is put back for its next try.
        self.reports.append(attempt)
        if attempt.outcome == "failed" and attempt.next_attempt_at is not None:
            for id_ in attempt.event_ids:
                n = int(id_.removeprefix("evt_"))
                key = f"{attempt.endpoint_id}|{id_}"
                due = attempt.next_attempt_at
                self.lanes.put(key, task(attempt.endpoint_id, n), attempt.attempt, due)

    def put(self, endpoint_id: str, n: int) -> None:
        self.lanes.put(f"{endpoint_id}|evt_{n}", task(endpoint_id, n), 0, time.time())

    async def until(self, what: str, check: object, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():  # type: ignore[operator]
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.01)


async def test_a_delivery_is_signed_and_reported_delivered() -> None:
    h = Harness()
    h.directory.apply(endpoint("wh_a"))
    h.put("wh_a", 1)
    await h.until("the report", lambda: h.reports)
    [(url, headers, body, _)] = h.endpoints.requests
    assert url == "https://wh_a.example/hook"
    assert Webhook(SECRET).verify(body, headers)["data"] == {"id": "evt_1", "type": "sent"}
    assert headers["webhook-id"] == "evt_1"
    [report] = h.reports
    assert (report.outcome, report.attempt, report.event_ids, report.status) == (
        "succeeded",
        1,
        ("evt_1",),
        200,
    )
    h.lanes.stop()


async def test_failures_are_retried_on_the_schedule_then_dead_lettered() -> None:
    h = Harness(schedule=(0.05, 0.05))
    h.endpoints.statuses["https://wh_a.example/hook"] = [500, 500, 500]
    h.directory.apply(endpoint("wh_a"))
    h.put("wh_a", 1)
    await h.until("the dead letter", lambda: any(r.outcome == "dead" for r in h.reports))
    assert [(r.attempt, r.outcome) for r in h.reports] == [
        (1, "failed"),
        (2, "failed"),
        (3, "dead"),
    ]
    assert {r[1]["webhook-id"] for r in h.endpoints.requests} == {"evt_1"}
    h.lanes.stop()


async def test_one_slow_endpoint_never_delays_another() -> None:
    h = Harness()
    h.endpoints.delays["https://slow.example/hook"] = 5.0
    h.directory.apply(endpoint("slow"))
    h.directory.apply(endpoint("fast"))
    for n in range(20):
        h.put("slow", n)
    for n in range(20, 40):
        h.put("fast", n)
    fast_done = lambda: sum(r.endpoint_id == "fast" for r in h.reports) == 20  # noqa: E731
    await h.until("the fast endpoint's deliveries", fast_done, timeout=2.0)
    # The slow one has its few requests in flight, and nothing reported yet.
    assert 0 < len(h.endpoints.to("https://slow.example/hook")) < 20
    h.lanes.stop()


async def test_410_gives_up_everything_left_with_no_further_request() -> None:
    h = Harness()
    h.endpoints.statuses["https://wh_a.example/hook"] = [410] * 30
    h.endpoints.delays["https://wh_a.example/hook"] = 0.05
    h.directory.apply(endpoint("wh_a"))
    for n in range(30):
        h.put("wh_a", n)
    await h.until("every delivery given up", lambda: len(h.reports) == 30)
    sent = len(h.endpoints.requests)
    assert sent <= 8  # only what was in flight when the first 410 came
    assert {r.outcome for r in h.reports} == {"dead"}
    unsent = [r for r in h.reports if r.status is None]
    assert len(unsent) == 30 - sent
    assert all("410" in (r.error or "") for r in unsent)
    h.put("wh_a", 99)  # a new event for it while it is off: given up, not sent
    await h.until("the new one given up", lambda: len(h.reports) == 31)
    assert len(h.endpoints.requests) == sent
    h.lanes.stop()


async def test_a_slow_down_answer_pauses_the_endpoint_and_sends_one_at_a_time() -> None:
    h = Harness(schedule=(0.01, 0.01, 0.01))
    h.endpoints.statuses["https://wh_a.example/hook"] = [429]
    h.endpoints.delays["https://wh_a.example/hook"] = 0.02
    h.directory.apply(endpoint("wh_a"))
    h.put("wh_a", 1)
    await h.until("the 429", lambda: h.reports)
    for n in range(2, 6):
        h.put("wh_a", n)
    await h.until("all delivered", lambda: sum(r.outcome == "succeeded" for r in h.reports) == 5)
    times = [t for *_, t in h.endpoints.requests]
    assert times[1] - times[0] >= 0.2  # the Retry-After pause
    h.lanes.stop()


async def test_a_batching_endpoint_gets_due_events_together() -> None:
    h = Harness()
    h.directory.apply(endpoint("wh_b", batch_size=10))
    for n in range(25):
        h.put("wh_b", n)
    await h.until("all reported", lambda: sum(len(r.event_ids) for r in h.reports) == 25)
    bodies = [orjson.loads(body) for _, _, body, _ in h.endpoints.requests]
    assert [len(b["data"]) for b in bodies] == [10, 10, 5]
    assert all(b["type"] == "batch" for b in bodies)
    h.lanes.stop()


async def test_deliveries_to_a_disabled_endpoint_are_given_up_unsent() -> None:
    h = Harness()
    h.directory.apply(endpoint("wh_a", enabled=False, disabled_reason=None))
    h.put("wh_a", 1)
    await h.until("the report", lambda: h.reports)
    assert h.endpoints.requests == []
    [report] = h.reports
    assert (report.outcome, report.latency_ms, report.error) == ("dead", None, "endpoint disabled")
    h.lanes.stop()
