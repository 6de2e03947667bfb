"""``make bench``: ingest and end-to-end throughput on the embedded stack.

Brings up a real broker, ``herald api`` and ``herald worker`` processes and Postfix's
``smtp-sink`` as the relay, then measures:

1. API baseline: ``GET /health`` (no auth, no Kafka) with wrk, same server settings.
2. Ingest: authenticated ``POST /v1/emails`` (one recipient) with wrk, the worker stopped so it
   does not compete for the two cores; every 202 means the broker acknowledged the record.
3. Drain: the worker started on that backlog; delivered (relay 250) emails/s.
4. End to end: a burst of BURST single-recipient sends from a Python client, from the first
   request to the last message the relay accepted; loss must be 0.
5. Suppression propagation: from a suppression's 2xx to the last send that still went out
   (:mod:`bench.propagation`).
6. Webhook deliveries/s: events produced onto ``herald.events`` for one endpoint, to the last
   delivery a local receiver got (:mod:`bench.webhooks`).
7. Suppression lookups/s in the screen stage with 1,000,000 entries in RocksDB
   (:mod:`bench.lookups`).

Prints a table and appends it, with the machine's description, to BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from bench import lookups, propagation, webhooks
from config.broker import EmbeddedBroker
from streams.admin import ensure_topics
from streams.topics import all_topics
from tables import database
from tables.db import Message
from tests.integration.stack import Stack, broker_settings, eventually, free_port
from tests.support.seed import SEED

BURST = int(os.environ.get("HERALD_BENCH_BURST", "5000"))
SECONDS = int(os.environ.get("HERALD_BENCH_SECONDS", "10"))
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Sink:
    url: str


def require(tool: str, package: str) -> str:
    path = shutil.which(tool) or (
        f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists() else None
    )
    if not path:
        sys.exit(f"make bench needs {tool}: install it with `apt-get install {package}`")
    return path


def wrk(url: str, script: Path | None) -> dict[str, float]:
    cmd = ["wrk", "-t2", "-c32", f"-d{SECONDS}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
    }
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        if m:
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            result[f"p{pct}"] = float(m.group(1)) * scale
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result["errors"] = float(errors.group(1)) if errors else 0.0
    return result


async def sent_count() -> int:
    return int(await Message.count().where(Message.status == "sent"))


async def wait_sent(target: int, timeout: float) -> float:
    async def reached() -> bool:
        return await sent_count() >= target

    await eventually(reached, timeout=timeout, what=f"{target} sent messages")
    return time.monotonic()


async def burst(stack: Stack, n: int) -> set[str]:
    ids: set[str] = set()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def client_loop(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            body = {**SEED, "to": [f"burst{i}@example.com"]}
            r = await client.post(f"{stack.url}/v1/emails", json=body, headers=stack.headers())
            r.raise_for_status()
            ids.update(m["id"] for m in r.json()["messages"])

    limits = httpx.Limits(max_keepalive_connections=32)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(32)))
    return ids


def machine() -> str:
    cpu = "unknown cpu"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}"


async def main() -> None:
    require("wrk", "wrk")
    sink_bin = require("smtp-sink", "postfix")
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as tmp:
        work = Path(tmp)
        settings = broker_settings(work / "broker")
        sink_port = free_port()
        sink = subprocess.Popen(
            [sink_bin, "-u", "nobody", f"127.0.0.1:{sink_port}", "256"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        async with EmbeddedBroker(settings):
            await ensure_topics(settings, all_topics(3))
            stack = Stack(
                bootstrap=settings.bootstrap,
                smtp=Sink(f"smtp://127.0.0.1:{sink_port}"),  # type: ignore[arg-type]
                workdir=work,
                extra_env={
                    "HERALD_WORKSPACE_SEND_RATE": "1000000",
                    "HERALD_WORKSPACE_SEND_BURST": "1000000",
                    # The bench measures the pipeline, not the limiter: a key that never waits
                    # (its leases are large, so the shared bucket is rarely touched).
                    "HERALD_KEY_REQUEST_RATE": "1000000",
                    "HERALD_KEY_REQUEST_BURST": "1000000",
                    "HERALD_SMTP_POOL_SIZE": "16",
                    "HERALD_WEBHOOK_ALLOW_LOOPBACK": "true",  # the receiver is on loopback
                },
            )
            stack.cli("db", "migrate")
            stack.key = stack.cli("keys", "create", "--workspace", "bench").stdout.strip()
            stack.start("api")
            engine = await database.connect(stack.settings)
            try:
                await stack.wait_api()
                rows = await measure(stack, work)
            finally:
                stack.stop_all()
                await database.close(engine)
        sink.terminate()
        sink.wait()
    report([*rows, lookup_row()])


async def measure(stack: Stack, work: Path) -> list[tuple[str, str, str]]:
    script = work / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = [[{orjson.dumps(SEED).decode()}]]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {stack.key}"\n'
    )
    print(f"baseline: GET /health for {SECONDS}s ...", file=sys.stderr)
    base = wrk(f"{stack.url}/health", None)
    print(f"ingest: POST /v1/emails for {SECONDS}s (worker stopped) ...", file=sys.stderr)
    ingest = wrk(f"{stack.url}/v1/emails", script)
    backlog = int(ingest["requests"] - ingest["errors"])  # every 2xx is one message

    print("drain: starting the worker on the backlog ...", file=sys.stderr)
    t0 = time.monotonic()
    stack.start("worker")
    await wait_sent(backlog, timeout=900)
    drained = await sent_count()
    drain_s = time.monotonic() - t0

    print(f"end to end: burst of {BURST} sends ...", file=sys.stderr)
    before = await sent_count()
    t1 = time.monotonic()
    ids = await burst(stack, BURST)
    accepted_s = time.monotonic() - t1
    t_end = await wait_sent(before + len(ids), timeout=900)
    e2e_s = t_end - t1
    sent_ids = {r["id"] for r in await Message.select(Message.id).where(Message.status == "sent")}
    lost = len(ids - sent_ids)

    print("suppression propagation ...", file=sys.stderr)
    spread = await propagation.measure(stack)
    latest = spread["latest_delivered_ms"]

    print(f"webhooks: {webhooks.EVENTS_N} events to one endpoint ...", file=sys.stderr)
    hooks = await webhooks.measure(stack)
    ratio = ingest["rps"] / base["rps"] if base["rps"] else 0.0
    return [
        (
            "API baseline GET /health (wrk -t2 -c32)",
            f"{base['rps']:.0f} req/s",
            f"p50 {base.get('p50', 0):.1f} ms, p99 {base.get('p99', 0):.1f} ms",
        ),
        (
            "Ingest POST /v1/emails, 202 after broker ack",
            f"{ingest['rps']:.0f} req/s",
            f"p50 {ingest.get('p50', 0):.1f} ms, p99 {ingest.get('p99', 0):.1f} ms, "
            f"{ratio:.2f}x baseline, non-2xx {ingest['errors']:.0f}",
        ),
        (
            "Drain backlog (worker start included)",
            f"{drained / drain_s:.0f} emails/s",
            f"{drained} sent in {drain_s:.1f} s",
        ),
        (
            f"End to end burst of {BURST} (32 clients)",
            f"{len(ids) / e2e_s:.0f} emails/s",
            f"accepted in {accepted_s:.1f} s ({len(ids) / accepted_s:.0f}/s), "
            f"last sent at {e2e_s:.1f} s, lost {lost}",
        ),
        (
            f"Suppression propagation ({spread['trials']} trials, a send every 20 ms)",
            "no send after the 2xx went out" if latest < 0 else f"{latest:.0f} ms",
            "latest delivered send, requested after the suppression's 2xx; every send from "
            f"{spread['earliest_suppressed_ms']:.0f} ms on was suppressed",
        ),
        (
            f"Webhook deliveries, {hooks['events']:,} events to one local endpoint",
            f"{hooks['per_s']:,.0f} deliveries/s",
            f"all delivered {hooks['seconds']:.1f} s after the first event was produced "
            f"(producing took {hooks['produced_s']:.1f} s); signed, one event per request",
        ),
    ]


def lookup_row() -> tuple[str, str, str]:
    """Measured with the stack stopped: it is one process's lookup speed, not a share of two
    cores."""
    print("suppression lookups with 1,000,000 entries ...", file=sys.stderr)
    looked = lookups.measure()
    return (
        f"Suppression lookups, {looked['entries']:,} entries (RocksDB)",
        f"{looked['per_s']:,.0f} lookups/s",
        f"screen's own lookup (address + domain), {looked['hits']:,} of "
        f"{looked['lookups']:,} suppressed; table loaded in {looked['load_s']:.1f} s",
    )


def report(rows: list[tuple[str, str, str]]) -> None:
    header = "| measurement | result | detail |\n|---|---|---|\n"
    table = header + "".join(f"| {a} | {b} | {c} |\n" for a, b, c in rows)
    print("\n" + table)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with open(ROOT / "BENCHMARKS.md", "a") as f:
        f.write(f"\n### make bench, {stamp}\n\nMachine: {machine()}\n\n{table}")


if __name__ == "__main__":
    asyncio.run(main())
