"""The worker's producer, on a real broker: a flush sends what is queued at once.

Records wait for the producer's linger to share a produce request, but dispatch flushes its
``sending`` marks before SMTP, and Faust flushes before each commit: both wait for the records,
so a flush must not wait for the linger as well."""

from __future__ import annotations

import asyncio

import pytest

from agents.app import HeraldFaust
from streams import topics
from tests.integration.stack import read_all

pytestmark = pytest.mark.integration

LINGER = 60.0  # seconds: far longer than the test waits


async def test_a_flush_sends_at_once_however_long_the_linger(kafka: str) -> None:
    app = HeraldFaust("herald-test-flush", broker=f"kafka://{kafka}", producer_linger=LINGER)
    producer = app.producer
    await producer.start()
    try:
        await producer.enqueue(topics.OUTCOMES.name, b"msg_1", b"first")
        await producer.enqueue(topics.OUTCOMES.name, b"msg_2", b"second")
        await asyncio.wait_for(producer.flush(), timeout=LINGER / 4)
    finally:
        await producer.stop()

    values = sorted(value for _, value in await read_all(kafka, topics.OUTCOMES.name))
    assert values == [b"first", b"second"]
