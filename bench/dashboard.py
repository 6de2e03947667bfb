"""The dashboard under load: ``python -m bench.dashboard``.

A real broker (embedded), a separate producer process writing realistic ``Event`` records
onto ``herald.events`` at ``RATE`` events/s for ``SECONDS`` s (batched, per partition), and the
dashboard app running headless in this process on the real Kafka source. Measured over the
producing window, after a short warm-up:

- events/s the dashboard consumed, and the lag (produced, not yet consumed) when the producer
  stopped, and how long it took to catch up;
- CPU used by this process (the dashboard; the broker and the producer are other processes)
  as a share of one core; peak and end RSS;
- the interval between repaints (the refresh timer, 5 Hz nominal), p50, p99 and max.

``measure()`` is async and returns a flat dict (see :data:`KEYS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from statistics import median, quantiles
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped,unused-ignore]

from config.broker import EmbeddedBroker
from dashboard.app import build_app
from dashboard.kafka import KafkaSource
from streams.admin import ensure_topics
from streams.records import event_id
from streams.topics import EVENTS, all_topics
from tests.integration.stack import PARTITIONS, broker_settings

RATE = int(os.environ.get("HERALD_BENCH_DASHBOARD_RATE", "12000"))
SECONDS = float(os.environ.get("HERALD_BENCH_DASHBOARD_SECONDS", "15"))
WARM_UP = 2.0  # seconds of production left out of the sustained figures
TICK = 0.02  # the producer sends a batch per partition every TICK seconds
SAMPLE = 0.1  # seconds between two looks at the dashboard while the producer runs
KEYS = (
    "rate_target",
    "produced",
    "produce_seconds",
    "consumed_per_s",
    "lag_at_end",
    "caught_up_s",
    "cpu_share",
    "rss_peak_mib",
    "rss_end_mib",
    "frame_p50_ms",
    "frame_p99_ms",
    "frame_max_ms",
)
_KINDS = ("queued", "sent", "delivered", "opened", "deferred", "bounced", "clicked")
_WEIGHTS = (30, 30, 20, 10, 5, 3, 2)


def _events(n: int, now: float) -> list[dict[str, Any]]:
    """``n`` events as the timeline agent writes them: 50 workspaces, queued with a subject,
    SMTP answers on sent, deferred and bounced."""
    out = []
    kinds = [k for k, w in zip(_KINDS, _WEIGHTS, strict=True) for _ in range(w)]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        message = f"msg_bench{i // 3:08d}"
        e: dict[str, Any] = {
            "event_id": event_id(message, kind, 0),
            "type": kind,
            "message_id": message,
            "workspace_id": f"ws_bench{(i * 7919) % 50:02d}{'0' * 16}",
            "recipient": f"user{i % 5000}@example.com",
            "at": now,
            "seq": 1 + i % 3,
            "tags": ["bench"],
            "program": "transactional",
        }
        if kind == "queued":
            e |= {"subject": f"Your receipt #{i}", "sender": "hello@yourbrand.com"}
        elif kind in ("sent", "deferred", "bounced"):
            code = {"sent": 250, "deferred": 451, "bounced": 550}[kind]
            e |= {"smtp_code": code, "reply": f"{code} 2.0.0 ok", "enhanced_code": "2.0.0"}
        out.append(e)
    return out


async def produce(bootstrap: str, rate: int, seconds: float) -> dict[str, float]:
    """Write ``rate`` events/s for ``seconds`` s, one record batch per partition per tick."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=5, max_batch_size=1024 * 1024
    )
    await producer.start()
    pool = _events(20_000, time.time())
    sent = 0
    began, started = time.time(), time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(rate * min(elapsed + TICK, seconds)) - sent
            now = time.time()
            batches = [producer.create_batch() for _ in range(PARTITIONS)]
            sends = []
            for i in range(sent, sent + due):
                record = pool[i % len(pool)]
                record["at"] = now
                key, value = record["message_id"].encode(), orjson.dumps(record)
                p = i % PARTITIONS
                if batches[p].append(key=key, value=value, timestamp=None) is None:
                    sends.append(producer.send_batch(batches[p], EVENTS.name, partition=p))
                    batches[p] = producer.create_batch()  # that one was full
                    batches[p].append(key=key, value=value, timestamp=None)
            sent += due
            sends += [
                producer.send_batch(b, EVENTS.name, partition=p) for p, b in enumerate(batches)
            ]
            await asyncio.gather(*sends)
            await asyncio.sleep(max(0.0, started + elapsed + TICK - time.monotonic()))
        await producer.flush()
        ended = time.time()  # every record acknowledged by the broker
    finally:
        await producer.stop()
    return {"produced": sent, "started_at": began, "ended_at": ended}


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="herald-bench-dash-") as tmp:
        settings = broker_settings(Path(tmp) / "broker")
        async with EmbeddedBroker(settings):
            await ensure_topics(settings, all_topics(3))
            return await _run(settings.bootstrap)


async def _run(bootstrap: str) -> dict[str, float]:
    app = build_app(KafkaSource(bootstrap))
    async with app.run_test(size=(120, 40)) as pilot:
        while not app.model.status.connected:
            await pilot.pause(0.1)
        producer = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.dashboard", "produce", bootstrap, str(RATE),
            str(SECONDS), stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        # (wall clock, events consumed, CPU seconds, RSS) every SAMPLE seconds
        samples: list[tuple[float, int, float, float]] = []
        while producer.returncode is None:
            samples.append((time.time(), app.model.received, _cpu(), _rss_mib()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(producer.wait(), SAMPLE)
        out, _ = await producer.communicate()
        report = json.loads(out.decode().strip().splitlines()[-1])
        produced = report["produced"]
        while app.model.received < produced and time.time() - report["ended_at"] < 60:
            await asyncio.sleep(0.05)
        caught_up = max(0.0, time.time() - report["ended_at"])
        warm = _at(samples, report["started_at"] + WARM_UP)
        end = _at(samples, report["ended_at"])
        window = end[0] - warm[0]
        frames = [t for t in app.frames if warm[4] <= t <= end[4]]
        gaps = [(b - a) * 1000 for a, b in itertools.pairwise(frames)]
        return {
            "rate_target": RATE,
            "produced": produced,
            "produce_seconds": round(report["ended_at"] - report["started_at"], 2),
            "consumed_per_s": round((end[1] - warm[1]) / window),
            "lag_at_end": produced - end[1],
            "caught_up_s": round(caught_up if end[1] < produced else 0.0, 2),
            "cpu_share": round((end[2] - warm[2]) / window, 3),
            "rss_peak_mib": round(max(s[3] for s in samples), 1),
            "rss_end_mib": round(_rss_mib(), 1),
            "frame_p50_ms": round(median(gaps), 1),
            "frame_p99_ms": round(quantiles(gaps, n=100, method="inclusive")[98], 1),
            "frame_max_ms": round(max(gaps), 1),
        }


def _at(
    samples: list[tuple[float, int, float, float]], when: float
) -> tuple[float, int, float, float, float]:
    """The last sample taken by ``when``, plus its time on the monotonic clock."""
    taken = max((s for s in samples if s[0] <= when), default=samples[0], key=lambda s: s[0])
    return (*taken, time.monotonic() - (time.time() - taken[0]))


def main() -> None:
    if sys.argv[1:2] == ["produce"]:
        bootstrap, rate, seconds = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        print(json.dumps(asyncio.run(produce(bootstrap, rate, seconds))), flush=True)
        return
    figures = asyncio.run(measure())
    width = max(map(len, figures))
    for key in KEYS:
        print(f"{key:<{width}}  {figures[key]}")


if __name__ == "__main__":
    main()
