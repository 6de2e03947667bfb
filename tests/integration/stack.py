"""A real Herald stack for integration tests: the embedded Kafka broker, ``herald worker`` and
``herald api`` as real processes, a real SMTP server, a SQLite database, HTTP over a socket."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

from config.settings import Settings
from tests.support.smtp_server import SmtpTestServer

T = TypeVar("T")

PARTITIONS = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def broker_settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        topic_partitions=PARTITIONS,
    )


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float, what: str) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.2)


@dataclass
class Stack:
    bootstrap: str
    smtp: SmtpTestServer
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    api_port: int = field(default_factory=free_port)
    key: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    starts: dict[str, int] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HERALD_DATA_DIR": str(self.workdir / "data"),
            "HERALD_KAFKA_BOOTSTRAP": self.bootstrap,
            "HERALD_SMTP_URL": self.smtp.url,
            "HERALD_API_PORT": str(self.api_port),
            "HERALD_TOPIC_PARTITIONS": str(PARTITIONS),
            "HERALD_RETRY_SCHEDULE": "[0.5, 1.0, 2.0]",
            "HERALD_WORKSPACE_SEND_RATE": "5000",
            "HERALD_WORKSPACE_SEND_BURST": "5000",
            "HERALD_LOG_LEVEL": "INFO",  # a failing test shows what the processes did
            **self.extra_env,
        }

    @property
    def settings(self) -> Settings:
        return Settings(data_dir=self.workdir / "data", kafka_bootstrap=self.bootstrap)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "herald", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )

    def start(self, part: str, name: str | None = None, **env: str) -> None:
        """Run ``herald <part>`` as ``name`` (default: the part) with ``env`` on top."""
        name = name or part
        n = self.starts.get(name, 0) + 1
        self.starts[name] = n
        log = open(self.workdir / f"{name}.{n}.log", "wb")  # noqa: SIM115 (kept for the process)
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "herald", part], env={**self.env, **env}, stdout=log, stderr=log
        )

    def kill(self, part: str) -> None:
        proc = self.procs.pop(part)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)

    def stop(self, part: str) -> None:
        proc = self.procs.pop(part)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def stop_all(self) -> None:
        for part in list(self.procs):
            self.stop(part)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-6000:]}"
            for p in sorted(self.workdir.glob("*.log"))
        )

    def post_mortem(self) -> str:
        """What a failed test's report shows: the Python stacks of the processes still
        running (py-spy: threads blocked in a driver or a lock show up there), then the logs."""
        dumps = []
        spy = Path(sys.executable).with_name("py-spy")
        for part, proc in self.procs.items():
            if proc.poll() is None and spy.exists():
                done = subprocess.run(
                    [str(spy), "dump", "--pid", str(proc.pid)],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                )
                dumps.append(f"--- py-spy dump of {part}\n{done.stdout}{done.stderr}")
        return "\n".join([*dumps, self.logs()])

    async def wait_api(self, timeout: float = 60) -> None:
        async def healthy() -> bool:
            try:
                async with httpx.AsyncClient() as c:
                    return (await c.get(f"{self.url}/health")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(healthy, timeout=timeout, what="the API to answer /health")

    async def message(self, client: httpx.AsyncClient, message_id: str) -> dict[str, Any] | None:
        r = await client.get(f"{self.url}/v1/messages/{message_id}", headers=self.headers())
        return r.json() if r.status_code == 200 else None

    async def wait_status(
        self, client: httpx.AsyncClient, message_id: str, status: str, timeout: float = 90
    ) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            m = await self.message(client, message_id)
            return m if m and m["status"] == status else None

        return await eventually(reached, timeout=timeout, what=f"{message_id} to be {status}")


async def read_all(bootstrap: str, topic: str) -> list[tuple[bytes, bytes]]:
    """Every record of ``topic`` so far, as (key, value)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        records: list[tuple[bytes, bytes]] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(timeout_ms=1000)
            records += [(r.key, r.value) for rs in batch.values() for r in rs]
        return records
    finally:
        await consumer.stop()
