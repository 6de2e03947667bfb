"""``herald up``: the whole stack on embedded defaults, in one command.

Starts the broker (unless ``HERALD_KAFKA_BOOTSTRAP`` names a cluster), creates the topics,
migrates the database, starts the capture SMTP server (unless ``HERALD_SMTP_URL`` names a relay)
and the inbound SMTP listener for bounces and complaints (only when ``HERALD_BOUNCE_DOMAIN`` is
set: without it mail carries no return path of Herald's, so nothing would arrive), then runs
``herald worker`` (``HERALD_WORKERS`` of them) and ``herald api`` as child processes. Ctrl-C or
SIGTERM stops them all, in reverse order. If a child dies, everything stops and the exit code
says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator

import httpx

from config.broker import EmbeddedBroker
from config.settings import Settings
from herald.capture import CaptureServer
from herald.inbound import inbound_listener
from streams.admin import ensure_topics
from streams.topics import all_topics
from tables import database, keys
from tables.db import Workspace


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextlib.asynccontextmanager
async def embedded_broker(settings: Settings) -> AsyncIterator[None]:
    if not settings.embedded_kafka:
        yield
        return
    broker = EmbeddedBroker(settings)
    say("starting the embedded Kafka broker (the first start downloads its jars)...")
    await broker.start()
    try:
        yield
    finally:
        await broker.stop()


@contextlib.asynccontextmanager
async def capture_server(settings: Settings) -> AsyncIterator[None]:
    if settings.smtp_url:
        yield
        return
    server = CaptureServer.from_settings(settings)
    await server.start()
    maildir = settings.data_dir / "maildir"
    say(f"capture SMTP on 127.0.0.1:{settings.capture_smtp_port}, mail in {maildir}")
    try:
        yield
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def inbound_server(settings: Settings) -> AsyncIterator[None]:
    if not settings.bounce_domain:
        yield
        return
    async with inbound_listener(settings) as server:
        say(f"inbound SMTP for {settings.bounce_domain} on {server.host}:{server.port}")
        yield


async def first_run_key(settings: Settings) -> str | None:
    """On a fresh database, create the workspace ``default`` and return its key."""
    engine = await database.connect(settings)
    try:
        if await Workspace.count() > 0:
            return None
        _, token = await keys.create_key(await keys.create_workspace("default"))
        return token
    finally:
        await database.close(engine)


async def wait_healthy(url: str, deadline: float) -> None:
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"the API did not answer at {url}")


async def spawn(command: str, settings: Settings, **extra: str) -> asyncio.subprocess.Process:
    env = dict(os.environ, HERALD_KAFKA_BOOTSTRAP=settings.bootstrap, **extra)
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "herald", command, env=env)


async def spawn_workers(settings: Settings) -> list[asyncio.subprocess.Process]:
    """``settings.workers`` worker processes, each with its own table stores."""
    workers = [await spawn("worker", settings)]
    for n in range(2, settings.workers + 1):
        workers.append(
            await spawn(
                "worker", settings, HERALD_WORKER_DIR=str(settings.data_dir / f"worker.{n}")
            )
        )
    return workers


async def stop_child(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def run_up(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    # The inbound listener may take mail before the topics exist: it answers 451 until then.
    async with embedded_broker(settings), capture_server(settings), inbound_server(settings):
        await ensure_topics(settings, all_topics(len(settings.retry_schedule)))
        await database.migrate(settings)
        key = await first_run_key(settings)
        workers = await spawn_workers(settings)
        api = await spawn("api", settings)
        children = [api, *workers]
        try:
            base = f"http://{settings.api_host}:{settings.api_port}"
            await wait_healthy(f"{base}/health", time.monotonic() + 60)
            say(f"Herald is up: API at {base}")
            if key:
                say("first run: created workspace 'default'; its API key (shown only once):")
                print(f"HERALD_API_KEY={key}", flush=True)
            say("Ctrl-C stops everything.")
            exited = [asyncio.ensure_future(c.wait()) for c in children]
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait([stopping, *exited], return_when=asyncio.FIRST_COMPLETED)
            for child, name in (*((w, "worker") for w in workers), (api, "api")):
                if child.returncode is not None and not stop.is_set():
                    say(f"herald {name} exited with code {child.returncode}; stopping")
        finally:
            for child in children:
                await stop_child(child)
    say("stopped")
