"""The dashboard on the real stack: mail sent through the API shows up in the running app,
a malformed record on herald.events shows as such while the app goes on, the lookup reads
the suppressions topic, and a restarted broker is noticed and read again."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from textual.pilot import Pilot
from textual.widgets import Input

from config.broker import EmbeddedBroker
from dashboard.app import DashboardApp, build_app
from dashboard.kafka import KafkaSource
from streams.admin import ensure_topics
from streams.records import encode
from streams.topics import EVENTS, all_topics
from tests.dashboard.sample import event
from tests.dashboard.screen import screen_text
from tests.integration.stack import Stack, broker_settings
from tests.support.seed import SEED

pytestmark = pytest.mark.integration


async def wait_for(pilot: Pilot[Any], probe: Callable[[], object], what: str, timeout: float):
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.1)


def kinds_of(app: DashboardApp, message_id: str) -> list[str]:
    return [line.kind for line in app.model.lines if line.message_id == message_id]


async def produce(bootstrap: str, value: bytes, key: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(EVENTS.name, value, key=key)
    finally:
        await producer.stop()


async def send_mail(client: httpx.AsyncClient, stack: Stack, to: str) -> str:
    r = await client.post(
        f"{stack.url}/v1/emails", json={**SEED, "to": [to]}, headers=stack.headers()
    )
    assert r.status_code == 202, r.text
    return str(r.json()["messages"][0]["id"])


async def test_the_dashboard_tails_real_mail_and_flags_a_malformed_record(stack: Stack):
    stack.start("worker")
    app = build_app(KafkaSource(stack.bootstrap), health_every=1.0)
    async with app.run_test(size=(120, 40)) as pilot, httpx.AsyncClient(timeout=30) as client:
        await wait_for(pilot, lambda: app.model.status.connected, "the consumer", 30)

        first = await send_mail(client, stack, "dash-one@example.com")
        await wait_for(
            pilot, lambda: {"queued", "sent"} <= set(kinds_of(app, first)), "queued, sent", 90
        )
        app.refresh_view()
        await pilot.pause()
        text = screen_text(app)
        assert "queued" in text and "dash-one@example.com" in text
        assert "Welcome to YourBrand" in text and "250" in text

        await wait_for(
            pilot, lambda: app.model.health and app.model.health.worker, "the worker group", 30
        )
        assert app.model.health.worker.alive
        app.refresh_view()
        await pilot.pause()
        assert "● 1 member" in screen_text(app)

        await produce(stack.bootstrap, b"{this is not an event", key=b"bad")
        await wait_for(pilot, lambda: app.model.malformed == 1, "the malformed record", 30)
        second = await send_mail(client, stack, "dash-two@example.com")
        await wait_for(pilot, lambda: "sent" in kinds_of(app, second), "the next mail", 90)
        app.refresh_view()
        await pilot.pause()
        text = screen_text(app)
        assert "malformed" in text and "herald.events[" in text
        assert "dash-two@example.com" in text

        await pilot.press("up")  # select the newest line: the second mail's
        while app.screen.log_view.selected.message_id != second:
            await pilot.press("up")
        await pilot.press("enter")
        timeline = screen_text(app)
        assert f"Timeline of {second}" in timeline
        assert "queued" in timeline and "sent" in timeline
        await pilot.press("escape")

        r = await client.post(
            f"{stack.url}/v1/suppressions",
            json={"email": "Blocked@Example.com"},
            headers=stack.headers(),
        )
        assert r.status_code == 201, r.text
        await pilot.press("l")
        app.screen.query_one(Input).value = "blocked@example.com"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.found is not None, "the lookup", 30)
        app.screen.refresh_view()
        await pilot.pause()
        text = screen_text(app)
        assert "blocked@example.com" in text and "manual (api)" in text, text


async def test_the_dashboard_sees_the_broker_go_and_reads_again_when_it_is_back(tmp_path: Path):
    """Also: it starts at the latest events, and ``since`` starts it earlier."""
    settings = broker_settings(tmp_path / "broker")
    broker = EmbeddedBroker(settings)
    await broker.start()
    try:
        await ensure_topics(settings, all_topics(3))
        started = time.time()
        old = event("queued", 0, started, "ws_a", "old@example.com")
        await produce(settings.bootstrap, encode(old), key=b"msg_sample_0000")
        source = KafkaSource(settings.bootstrap, retry_every=0.5)
        source.probe.timeout = 2.0
        app = build_app(source, health_every=0.5)
        async with app.run_test(size=(100, 30)) as pilot:
            health = lambda: app.model.health  # noqa: E731
            await wait_for(pilot, lambda: app.model.status.connected, "the consumer", 30)
            before = event("queued", 1, time.time(), "ws_a", "before@example.com")
            await produce(settings.bootstrap, encode(before), key=b"msg_sample_0001")
            await wait_for(pilot, lambda: app.model.received == 1, "the first event", 30)

            await broker.stop()
            await wait_for(pilot, lambda: health() and not health().reachable, "the alarm", 30)
            app.refresh_view()
            await pilot.pause()
            assert f"broker {settings.bootstrap} unreachable" in screen_text(app)

            await broker.start()
            await wait_for(pilot, lambda: health().reachable, "the broker back", 60)
            after = event("queued", 2, time.time(), "ws_a", "after@example.com")
            await produce(settings.bootstrap, encode(after), key=b"msg_sample_0002")
            await wait_for(pilot, lambda: app.model.received == 2, "the next event", 60)
            app.refresh_view()
            await pilot.pause()
            text = screen_text(app)
            assert "unreachable" not in text
            assert "after@example.com" in text and "before@example.com" in text
            assert "old@example.com" not in text  # from the latest events on

        earlier = KafkaSource(settings.bootstrap, since=started - 60)
        app = build_app(earlier)
        async with app.run_test() as pilot:
            await wait_for(pilot, lambda: app.model.received == 3, "every event since", 30)
            assert {line.recipient for line in app.model.lines} == {
                "old@example.com",
                "before@example.com",
                "after@example.com",
            }
    finally:
        await broker.stop()
