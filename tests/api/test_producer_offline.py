"""The Kafka producer with no Kafka: the API must still start, refuse sends with 503 and stop
cleanly. Uses the real aiokafka client against a local port nobody listens on."""

from __future__ import annotations

import asyncio
import gc
import socket
import time
import warnings

import pytest

from api.errors import QueueUnavailable
from api.producer import KafkaSendProducer
from streams.records import Content, Recipient, SendRequested


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def record() -> SendRequested:
    return SendRequested(
        request_id="req_1",
        workspace_id="ws_1",
        recipients=(Recipient("a@example.com", "to", "msg_a"),),
        content=Content(
            sender="hello@yourdomain.com", subject="Hi", to=("a@example.com",), text="Hi"
        ),
        accepted_at=1.0,
    )


async def test_start_returns_promptly_sends_are_refused_and_stop_is_clean():
    producer = KafkaSendProducer(f"127.0.0.1:{closed_port()}")
    began = time.monotonic()
    await producer.start()
    assert time.monotonic() - began < 1.0

    with pytest.raises(QueueUnavailable):
        await producer.send_requested(record())
    await asyncio.sleep(0.3)  # a few background retries have happened by now
    with pytest.raises(QueueUnavailable):
        await producer.send_requested(record())

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await producer.stop()
        gc.collect()  # an unclosed aiokafka client warns when collected
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_a_silent_broker_does_not_hold_up_start_and_stop_interrupts_the_attempt():
    # Something accepts TCP connections on the port but never answers, so the first attempt
    # is still waiting when start gives up waiting and when stop cancels it.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        producer = KafkaSendProducer(f"127.0.0.1:{port}", first_attempt_timeout=0.2)
        began = time.monotonic()
        await producer.start()
        assert time.monotonic() - began < 1.0
        with pytest.raises(QueueUnavailable):
            await producer.send_requested(record())
        await producer.stop()
    assert asyncio.all_tasks() == {asyncio.current_task()}
