"""``make bench``: every figure next to a baseline measured in the same run.

Brings up a real broker, ``herald api`` and ``herald worker`` processes (``WORKERS``: one per
core unless ``HERALD_BENCH_WORKERS`` says otherwise) and Postfix's ``smtp-sink`` as the relay
(:mod:`bench.sink`), then measures:

1. SMTP baseline: Postfix's ``smtp-source`` into the same ``smtp-sink``.
2. Kafka ceiling: Kafka's own producer performance tool against Herald's produce path, same
   record size (:mod:`bench.kafka_ceiling`), once the stack has stopped.
3. API baseline ``GET /health`` and ingest ``POST /v1/emails`` (one recipient, its own in each
   request) with wrk (:mod:`bench.load`) at saturation, the workers stopped so they do not
   compete for the two cores (every 202 means the broker acknowledged the record); then ingest
   at half the saturated rate, for the latency of a server that is not queueing; then the
   ingest floor (:mod:`bench.floor`), the same requests to a bare app that only produces them.
4. Drain: the workers started on that backlog, to the relay's last 250.
5. End to end: a burst of BURST sends (each its own request, one recipient), from the first
   request to the last message ``smtp-sink`` accepted; lost = accepted but never relayed.
6. Suppression propagation (:mod:`bench.propagation`) and webhook deliveries/s
   (:mod:`bench.webhooks`).
7. Memory: resident size of the API and the workers at rest and their peak under load
   (:mod:`bench.memory`); and with each rate, the CPU the API, the workers and the broker spent
   per request or email, and how busy the two cores were (:mod:`bench.cpu`): what bounds it.
8. With the stack stopped: suppression lookups/s with 1,000,000 entries (:mod:`bench.lookups`),
   token-bucket decisions/s (:mod:`bench.buckets`), and the worker's start and restart time
   with a 1,000,000-key table (:mod:`bench.restart`); the dashboard reading a steady stream of
   events (:mod:`bench.dashboard`).

Prints a table and appends it, with the machine's description, to BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench import (
    buckets,
    dashboard,
    floor,
    kafka_ceiling,
    lookups,
    propagation,
    restart,
    webhooks,
)
from bench.cpu import CpuUse, cpu_use
from bench.load import CONNECTIONS, SATURATING, burst, post_script, wrk
from bench.memory import Peak, rss_mib
from bench.sink import Sink, require, smtp_source
from bench.stack import broker_and_sink, records_on, start_api
from streams.topics import SENDS_REQUESTED
from tables import database
from tables.db import Message
from tests.integration.stack import PARTITIONS, Stack, eventually
from tests.support.seed import SEED

BURST = int(os.environ.get("HERALD_BENCH_BURST", "20000"))
# One worker process per core, as one would run them on this machine: each is one core's worth
# of Python, and they share the partitions.
WORKERS = int(os.environ.get("HERALD_BENCH_WORKERS", str(os.cpu_count() or 1)))
SECONDS = int(os.environ.get("HERALD_BENCH_SECONDS", "10"))
ROOT = Path(__file__).resolve().parent.parent
Row = tuple[str, str, str]


async def sent_count() -> int:
    return int(await Message.count().where(Message.status == "sent"))


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
    require("smtp-source", "postfix")
    rows: list[Row] = []
    async with broker_and_sink("herald-bench-") as (settings, sink, work, broker):
        rows.append(smtp_row(sink))
        stack = start_api(settings, sink, work)
        engine = await database.connect(stack.settings)
        try:
            await stack.wait_api()
            rows += await measure(stack, sink, work, broker)
        finally:
            stack.stop_all()
            await database.close(engine)
        # After the stack: Herald's side produces real send requests, which a running
        # worker would go on to deliver.
        print("kafka ceiling ...", file=sys.stderr)
        rows.append(ceiling_row(await kafka_ceiling.measure(settings.bootstrap, settings)))
    rows += await asyncio.to_thread(stopped_rows)  # they run their own event loops
    rows.append(await restart_row())
    rows.append(dashboard_row())
    report(rows)


def smtp_row(sink: Sink, n: int = 20_000) -> Row:
    print("smtp-source into smtp-sink ...", file=sys.stderr)
    before = sink.accepted
    took = smtp_source(sink.port, n, size=len(str(SEED)) + 600)
    sink.wait_for(before + n, timeout=60)
    return (
        f"SMTP baseline: smtp-source, {n:,} messages, 32 sessions",
        f"{n / took:,.0f} emails/s",
        "Postfix's own client into the same smtp-sink: the relay's ceiling",
    )


def ceiling_row(c: dict[str, Any]) -> Row:
    return (
        f"Kafka ceiling, {c['record_bytes']} B records, acks=all",
        f"{c['kafka_per_s']:,.0f} records/s",
        f"Herald's produce path ({c['herald_concurrency']} sends in flight, each awaited): "
        f"{c['herald_per_s']:,.0f} records/s = {c['herald_share']:.2f}x; "
        f"its avg {c['herald_avg_ms']:.1f} ms, p99 {c['herald_p99_ms']:.1f} ms",
    )


async def measure(stack: Stack, sink: Sink, work: Path, broker: int) -> list[Row]:
    api = stack.procs["api"].pid
    api_rest = rss_mib(api)
    print(f"baseline: GET /health for {SECONDS}s ...", file=sys.stderr)
    with cpu_use({"api": api}) as base_cpu:
        base = wrk(f"{stack.url}/health", None, SECONDS, SATURATING)
    print(f"ingest: POST /v1/emails for {SECONDS}s (worker stopped) ...", file=sys.stderr)
    with Peak({"api": api}) as api_peak:
        script = post_script(work / "post.lua", stack.key, SEED)
        with cpu_use({"api": api, "broker": broker}) as ingest_cpu:
            ingest = wrk(f"{stack.url}/v1/emails", script, SECONDS, SATURATING)
        half_rate = ingest["rps"] / 2
        script = post_script(work / "half.lua", stack.key, SEED, rate=half_rate)
        half = wrk(f"{stack.url}/v1/emails", script, SECONDS)
    print(f"ingest floor: bare ASGI app for {SECONDS}s ...", file=sys.stderr)
    bare = await floor.measure(stack.bootstrap, work / "post.lua", SECONDS)
    # One record per accepted send. Not wrk's totals: they leave out the requests in flight
    # when it stops, which the API still accepts (then drained, and counted, in the burst).
    backlog = await records_on(stack.bootstrap, SENDS_REQUESTED.name, PARTITIONS)

    print(f"drain: starting {WORKERS} worker(s) on {backlog} sends ...", file=sys.stderr)
    relayed = sink.accepted
    t0 = time.monotonic()
    workers = start_workers(stack, work)
    with Peak(workers) as drain_peak, cpu_use({**workers, "broker": broker}) as drain_cpu:
        drained_at = await asyncio.to_thread(sink.wait_for, relayed + backlog, 900)
    drain_s = drained_at - t0
    await wait_sent(backlog, timeout=300)  # the database has caught up: the workers are at rest
    worker_rest = max(rss_mib(pid) for pid in workers.values())

    print(f"end to end: burst of {BURST} sends ...", file=sys.stderr)
    relayed, sent_before = sink.accepted, await sent_count()
    e2e_pids = {**workers, "api": api, "broker": broker}
    with Peak({**workers, "api": api}) as e2e_peak, cpu_use(e2e_pids) as e2e_cpu:
        t1 = time.monotonic()
        sent = await asyncio.to_thread(burst, stack.url, stack.key, SEED, BURST, work)
        accepted = sent["accepted"]
        try:
            last = await asyncio.to_thread(sink.wait_for, relayed + accepted, 900)
        except TimeoutError:
            last = time.monotonic()
    e2e_s = last - t1
    # Every accepted send must reach "sent": the database holds each id once; a shortfall
    # after the wait is counted as lost below.
    with contextlib.suppress(AssertionError):
        await wait_sent(sent_before + accepted, timeout=300)
    delivered = await sent_count() - sent_before
    lost = max(0, accepted - delivered)

    print("suppression propagation ...", file=sys.stderr)
    spread = await propagation.measure(stack)
    latest = spread["latest_delivered_ms"]
    print(f"webhooks: {webhooks.EVENTS_N} events to one endpoint ...", file=sys.stderr)
    hooks = await webhooks.measure(stack)
    ratio = ingest["rps"] / base["rps"] if base["rps"] else 0.0
    return [
        (
            f"API baseline GET /health (wrk -t2 -c{SATURATING})",
            f"{base['rps']:,.0f} req/s",
            f"p50 {base.get('p50', 0):.1f} ms, p99 {base.get('p99', 0):.1f} ms; "
            f"API CPU {base_cpu.per('api', base['requests']):.0f} us per request, "
            f"{base_cpu.cores:.2f} of {os.cpu_count()} cores busy",
        ),
        (
            f"Ingest POST /v1/emails at saturation (-c{SATURATING}), 202 after broker ack",
            f"{ingest['rps']:,.0f} req/s",
            f"**{ratio:.2f}x baseline**; p50 {ingest.get('p50', 0):.1f} ms, "
            f"p99 {ingest.get('p99', 0):.1f} ms, non-2xx {ingest['errors']:.0f}; CPU per "
            f"request: API {ingest_cpu.per('api', ingest['requests']):.0f} us, broker "
            f"{ingest_cpu.per('broker', ingest['requests']):.0f} us; "
            f"{ingest_cpu.cores:.2f} of {os.cpu_count()} cores busy",
        ),
        (
            f"Ingest at half load ({half_rate:,.0f} req/s asked, random pacing, -c{CONNECTIONS})",
            f"p99 {half.get('p99', 0):.1f} ms",
            f"{half['rps']:,.0f} req/s done, p50 {half.get('p50', 0):.1f} ms, "
            f"non-2xx {half['errors']:.0f}",
        ),
        (
            "Ingest floor: read, decode, produce (acks=all), answer; bare ASGI, same server",
            f"{bare['rps']:,.0f} req/s",
            f"**{bare['rps'] / base['rps']:.2f}x baseline**, POST /v1/emails "
            f"{ingest['rps'] / bare['rps']:.2f}x of it; p50 {bare.get('p50', 0):.1f} ms, "
            f"p99 {bare.get('p99', 0):.1f} ms, non-2xx {bare['errors']:.0f}",
        ),
        (
            f"Drain backlog ({WORKERS} workers, their start included)",
            f"{backlog / drain_s:,.0f} emails/s",
            f"{backlog:,} relayed in {drain_s:.1f} s; CPU per email: workers "
            f"{per_email(drain_cpu, workers, backlog):.2f} ms, broker "
            f"{per_email(drain_cpu, ['broker'], backlog):.2f} ms; "
            f"{drain_cpu.cores:.2f} of {os.cpu_count()} cores busy",
        ),
        (
            f"End to end, burst of {BURST:,} sends (wrk, one recipient each)",
            f"{accepted / e2e_s:,.0f} emails/s",
            f"{accepted:,} accepted, {sent['refused']} refused, {sent['unanswered']} unanswered "
            f"(wrk connection errors); the last relayed at {e2e_s:.1f} s; {delivered:,} sent; "
            f"**lost {lost}** (accepted, never sent); CPU per email: API "
            f"{per_email(e2e_cpu, ['api'], accepted):.2f} ms, workers "
            f"{per_email(e2e_cpu, workers, accepted):.2f} ms, broker "
            f"{per_email(e2e_cpu, ['broker'], accepted):.2f} ms; "
            f"{e2e_cpu.cores:.2f} of {os.cpu_count()} cores busy (wrk included)",
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
        (
            "Memory (RSS): API",
            f"{api_rest:.0f} MiB at rest",
            f"peak {max(api_peak.mib['api'], e2e_peak.mib['api']):.0f} MiB under load",
        ),
        (
            f"Memory (RSS): worker (the largest of {WORKERS})",
            f"{worker_rest:.0f} MiB at rest",
            f"peak {max(*drain_peak.mib.values(), *(e2e_peak.mib[w] for w in workers)):.0f} MiB "
            "while draining and during the burst",
        ),
    ]


def per_email(use: CpuUse, names: Iterable[str], emails: int) -> float:
    """Milliseconds of CPU the processes ``names`` spent together per email."""
    return sum(use.per(name, emails, unit=1e3) for name in names)


def start_workers(stack: Stack, work: Path) -> dict[str, int]:
    """``WORKERS`` worker processes, each with its own table stores; their pids by name."""
    for n in range(1, WORKERS + 1):
        name = f"worker.{n}"
        stack.start("worker", name, HERALD_WORKER_DIR=str(work / name))
    return {f"worker.{n}": stack.procs[f"worker.{n}"].pid for n in range(1, WORKERS + 1)}


async def wait_sent(target: int, timeout: float) -> None:
    async def reached() -> bool:
        return await sent_count() >= target

    await eventually(reached, timeout=timeout, what=f"{target} sent messages")


def stopped_rows() -> list[Row]:
    """Measured with the stack stopped: one process's own speed, not a share of two cores."""
    print("suppression lookups with 1,000,000 entries ...", file=sys.stderr)
    looked = lookups.measure()
    print("token buckets ...", file=sys.stderr)
    b = buckets.measure()
    return [
        (
            f"Suppression lookups, {looked['entries']:,} entries (RocksDB)",
            f"{looked['per_s']:,.0f} lookups/s",
            f"screen's own lookup (address + domain), {looked['hits']:,} of "
            f"{looked['lookups']:,} suppressed; table loaded in {looked['load_s']:.1f} s",
        ),
        (
            f"Token-bucket decisions, {b['workspaces']:,} workspaces",
            f"{b['throttle_decisions_per_s']:,.0f} decisions/s",
            f"dispatch's throttle with its RocksDB table, batches of {b['batch_size']} "
            f"({b['throttle_deliveries_per_s']:,.0f} deliveries/s); the pure take() "
            f"{b['take_per_s']:,.0f}/s; API key limiter {b['key_checks_per_s']:,.0f} checks/s "
            f"for one busy key (a lease costs {b['key_lease_ms']:.1f} ms)",
        ),
    ]


async def restart_row() -> Row:
    print("worker start and restart with a 1,000,000-key table ...", file=sys.stderr)
    r = await restart.measure()
    return (
        f"Worker restart, {r['entries']:,}-key suppressions table (RocksDB kept)",
        f"{r['restart_s']:.1f} s",
        f"stop took {r['stop_s']:.1f} s; RSS {r['restart_rss_mib']:.0f} MiB after; a cold start "
        f"(no local RocksDB, restored from the changelog) took {r['cold_start_s']:.0f} s",
    )


def dashboard_row() -> Row:
    """In a process of its own: its CPU and memory are the dashboard's, not the bench's."""
    print("dashboard under a steady stream of events ...", file=sys.stderr)
    out = subprocess.run(
        [sys.executable, "-m", "bench.dashboard"], capture_output=True, text=True, check=True
    ).stdout
    fields = (line.split() for line in out.splitlines())
    d = {f[0]: float(f[1]) for f in fields if len(f) == 2 and f[0] in dashboard.KEYS}
    return (
        f"Dashboard, {d['rate_target']:,.0f} events/s produced for {d['produce_seconds']:.0f} s",
        f"{d['consumed_per_s']:,.0f} events/s consumed",
        f"caught up {d['caught_up_s']:.1f} s after the producer stopped; "
        f"{d['cpu_share'] * 100:.0f}% of a core, RSS peak {d['rss_peak_mib']:.0f} MiB; "
        f"frame interval p50 {d['frame_p50_ms']:.0f} ms, p99 {d['frame_p99_ms']:.0f} ms",
    )


def report(rows: list[Row]) -> None:
    header = "| measurement | result | detail |\n|---|---|---|\n"
    table = header + "".join(f"| {a} | {b} | {c} |\n" for a, b, c in rows)
    print("\n" + table)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with open(ROOT / "BENCHMARKS.md", "a") as f:
        f.write(f"\n### make bench, {stamp}\n\nMachine: {machine()}\n\n{table}")


if __name__ == "__main__":
    asyncio.run(main())
