"""Webhook deliveries per second to a local receiver.

One endpoint is created through the API for a real HTTP receiver on loopback (aiohttp, which
answers 200 at once); then ``EVENTS`` events are produced straight onto ``herald.events``, as
the timeline agent would, and the clock runs from the first produce to the last delivery the
receiver got. This measures the webhook path alone (fan-out, the delivery table, signing,
HTTP, the attempt log), not the mail pipeline.
"""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
from aiohttp import web
from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped,unused-ignore]

from streams.records import Event, encode, event_id
from streams.topics import EVENTS
from tests.integration.stack import Stack, eventually, free_port

EVENTS_N = int(os.environ.get("HERALD_BENCH_WEBHOOKS", "5000"))


async def measure(stack: Stack, n: int = EVENTS_N) -> dict[str, Any]:
    got: set[str] = set()
    last = [0.0]

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        got.add(request.headers["webhook-id"])
        last[0] = time.monotonic()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            workspace = await client.get(f"{stack.url}/v1/workspace", headers=stack.headers())
            workspace_id = workspace.json()["id"]
            r = await client.post(
                f"{stack.url}/v1/webhooks",
                json={"url": f"http://127.0.0.1:{port}/hook", "event_types": ["opened"]},
                headers=stack.headers(),
            )
            r.raise_for_status()
        producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all", linger_ms=5)
        await producer.start()
        try:
            t0 = time.monotonic()
            for i in range(n):
                message_id = f"msg_bench{i:08d}"
                event = Event(
                    event_id=event_id(message_id, "opened", 0),
                    type="opened",
                    message_id=message_id,
                    workspace_id=workspace_id,
                    recipient=f"reader{i}@example.com",
                    at=time.time(),
                    seq=1,
                )
                await producer.send(EVENTS.name, key=message_id.encode(), value=encode(event))
            await producer.flush()
            produced_s = time.monotonic() - t0
        finally:
            await producer.stop()

        async def all_in() -> bool:
            return len(got) >= n

        await eventually(all_in, timeout=600, what=f"{n} webhook deliveries")
        elapsed = last[0] - t0
    finally:
        await runner.cleanup()
    return {"events": n, "per_s": n / elapsed, "seconds": elapsed, "produced_s": produced_s}
