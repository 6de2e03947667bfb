"""The ingest floor: the least a ``POST /v1/emails`` can do, to read Herald's ingest against.

``python -m bench.floor PORT BOOTSTRAP`` serves a bare ASGI app under uvicorn with the API's
server settings. ``POST`` reads the body, decodes the JSON, produces it with Herald's own
producer (:class:`api.producer.KafkaSendProducer`: acks=all, idempotent) onto ``bench.floor``
and answers 202 with an id once the broker acknowledged it. Anything else answers
``{"status": "ok"}``. There is no framework, no key, no validation and no rate limit: what
``POST /v1/emails`` costs above this is Herald's own work, and what this costs above the
hello-world baseline is HTTP plus an acknowledged produce on the same cores.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import msgspec
import uvicorn

from api.producer import KafkaSendProducer
from api.schemas import new_id
from bench.load import SATURATING, wrk
from streams.topics import TopicSpec
from tests.integration.stack import eventually, free_port

TOPIC = TopicSpec("bench.floor", key="the record's id")
_HEADERS = [(b"content-type", b"application/json")]


def floor_app(producer: KafkaSendProducer) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(producer, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        status, answer = 200, b'{"status":"ok"}'
        if scope["method"] == "POST":
            msgspec.json.decode(body)
            record_id = new_id("req")
            await producer.publish(TOPIC.name, key=record_id.encode(), value=body)
            status, answer = 202, msgspec.json.encode({"id": record_id})
        await send({"type": "http.response.start", "status": status, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": answer})

    return app


async def _lifespan(producer: KafkaSendProducer, receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await producer.start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await producer.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def measure(bootstrap: str, script: Path, seconds: float) -> dict[str, float]:
    """wrk with ``script`` (the ingest's) against the floor app, in its own process, at
    saturation as the API's ingest is measured."""
    port = free_port()
    cmd = [sys.executable, "-m", "bench.floor", str(port), bootstrap]
    proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parent.parent)
    url = f"http://127.0.0.1:{port}"

    async def up() -> bool:
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(url)).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await eventually(up, timeout=30, what="the ingest floor app")
        return wrk(f"{url}/v1/emails", script, seconds, SATURATING)
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    port, bootstrap = int(sys.argv[1]), sys.argv[2]
    app = floor_app(KafkaSendProducer(bootstrap))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
