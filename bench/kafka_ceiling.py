"""Kafka's own produce ceiling against Herald's produce path, at the same record size.

The record size is that of one encoded ``SendRequested`` as ``POST /v1/emails`` produces it for
the seed body (:data:`tests.support.seed.SEED`), built by the API's own
:func:`api.routes.emails.build_record`.

1. Kafka's ``ProducerPerformance`` (the class behind ``kafka-producer-perf-test``, from the
   broker's own jars) writes ``records`` records of that size to ``bench.ceiling`` as fast as it
   can, with ``acks=all`` and idempotence: what one Java client gets from this broker.
2. Herald's :class:`api.producer.KafkaSendProducer` (the API's producer, its own settings) sends
   such records through ``send_requested`` from ``concurrency`` tasks, each awaiting its ack
   before the next send as an API request does, for ``seconds`` seconds. The records are keyed
   by 1,000 workspaces, so they spread over the partitions as many tenants' sends would (the
   perf tool's unkeyed records spread too).

Both topics have Herald's partition count (``settings.topic_partitions``). The broker, the
Java client and the Python client share the machine's cores, so the figures are indicative.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from api.producer import KafkaSendProducer
from api.routes.emails import build_record, decode_send
from api.schemas import new_id
from api.validation import validate_send
from config.broker import EmbeddedBroker, ensure_jars, require_java
from config.settings import Settings
from streams.admin import ensure_topics
from streams.records import SendLimit, SendRequested, encode
from streams.topics import SENDS_REQUESTED, TopicSpec
from tests.integration.stack import broker_settings
from tests.support.seed import SEED

TOPIC = TopicSpec("bench.ceiling", key="none (the perf tool sends unkeyed records)")
PERF_CLASS = "org.apache.kafka.tools.ProducerPerformance"
WORKSPACES = 1000

# ProducerPerformance's closing line: "N records sent, R records/sec (M MB/sec), A ms avg
# latency, X ms max latency, P50 ms 50th, P95 ms 95th, P99 ms 99th, P999 ms 99.9th."
_SUMMARY = re.compile(
    r"(?P<sent>\d+) records sent, (?P<rps>[\d.]+) records/sec \((?P<mbps>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, "
    r"(?P<p50>\d+) ms 50th, (?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th"
)


def seed_record(
    settings: Settings, workspace_id: str, body: Mapping[str, Any] = SEED
) -> SendRequested:
    """The record the API builds for ``body`` (the seed by default), with the default plan's
    send limit."""
    checked = validate_send(decode_send(orjson.dumps(body)), max_recipients=settings.max_recipients)
    assert not isinstance(checked, list), checked
    return build_record(
        checked,
        request_id=new_id("req"),
        workspace_id=workspace_id,
        accepted_at=time.time(),
        limit=SendLimit(
            rate=settings.workspace_send_rate, burst=int(settings.workspace_send_burst)
        ),
    )


def _workspace_id() -> str:
    return "ws_" + secrets.token_hex(12)  # the shape tables.keys.create_workspace gives


async def perf_tool(bootstrap: str, libs: Path, records: int, size: int) -> dict[str, float]:
    """Run Kafka's ProducerPerformance; its summary line as numbers (latencies in ms)."""
    java = await asyncio.to_thread(require_java)
    proc = await asyncio.create_subprocess_exec(
        java, "-Xmx512m", "-cp", str(libs / "*"), PERF_CLASS,
        "--topic", TOPIC.name, "--num-records", str(records), "--record-size", str(size),
        "--throughput", "-1",
        "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all",
        "enable.idempotence=true",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out_bytes, _ = await proc.communicate()
    out = out_bytes.decode(errors="replace")
    # The last summary line is the whole run's; the ones before are 5 s windows.
    found = list(_SUMMARY.finditer(out))
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"{PERF_CLASS} failed (exit {proc.returncode}):\n{out[-3000:]}")
    return {k: float(v) for k, v in found[-1].groupdict().items()}


async def herald_path(
    bootstrap: str, pool: list[SendRequested], *, concurrency: int, seconds: float
) -> dict[str, float]:
    """Records/s and ack latency of KafkaSendProducer.send_requested from concurrent tasks."""
    producer = KafkaSendProducer(bootstrap)
    await producer.start()
    latencies: list[float] = []
    try:
        # Metadata and the idempotent producer id come with the first sends, not in the window.
        await asyncio.gather(*(producer.send_requested(r) for r in pool[:concurrency]))
        deadline = time.perf_counter() + seconds

        async def sender(start: int) -> None:
            i = start
            while (t := time.perf_counter()) < deadline:
                await producer.send_requested(pool[i % len(pool)])
                latencies.append(time.perf_counter() - t)
                i += concurrency

        t0 = time.perf_counter()
        await asyncio.gather(*(sender(n) for n in range(concurrency)))
        took = time.perf_counter() - t0
    finally:
        await producer.stop()
    latencies.sort()
    return {
        "sent": float(len(latencies)),
        "seconds": took,
        "rps": len(latencies) / took,
        "avg_ms": 1000 * sum(latencies) / len(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
    }


async def measure(
    bootstrap: str,
    settings: Settings,
    *,
    records: int = 1_000_000,
    concurrency: int = 64,
    seconds: float = 10.0,
) -> dict[str, Any]:
    """Both measurements against the broker at ``bootstrap``; ``settings`` gives the partition
    count and where the Kafka jars are cached."""
    on_cluster = settings.model_copy(update={"kafka_bootstrap": bootstrap})
    await ensure_topics(on_cluster, [TOPIC, SENDS_REQUESTED])
    pool = [seed_record(settings, _workspace_id()) for _ in range(WORKSPACES)]
    size = len(encode(pool[0]))
    libs = await asyncio.to_thread(ensure_jars, settings)
    print(f"kafka ceiling: {PERF_CLASS}, {records:,} records of {size} B ...", file=sys.stderr)
    kafka = await perf_tool(bootstrap, libs, records, size)
    print(
        f"kafka ceiling: KafkaSendProducer, {concurrency} concurrent sends for {seconds:.0f} s ...",
        file=sys.stderr,
    )
    herald = await herald_path(bootstrap, pool, concurrency=concurrency, seconds=seconds)
    return {
        "record_bytes": size,
        "partitions": settings.topic_partitions,
        "kafka_records": int(kafka["sent"]),
        "kafka_per_s": kafka["rps"],
        "kafka_mb_per_s": kafka["mbps"],
        "kafka_avg_ms": kafka["avg"],
        "kafka_p99_ms": kafka["p99"],
        "herald_records": int(herald["sent"]),
        "herald_seconds": herald["seconds"],
        "herald_concurrency": concurrency,
        "herald_per_s": herald["rps"],
        "herald_mb_per_s": herald["rps"] * size / 2**20,
        "herald_avg_ms": herald["avg_ms"],
        "herald_p99_ms": herald["p99_ms"],
        "herald_share": herald["rps"] / kafka["rps"],
    }


async def _main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="herald-bench-ceiling-") as tmp:
        settings = broker_settings(Path(tmp) / "broker")
        async with EmbeddedBroker(settings) as broker:
            return await measure(broker.bootstrap, settings)


if __name__ == "__main__":
    print(asyncio.run(_main()))
