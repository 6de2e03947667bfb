"""Token-bucket decisions per second: the dispatch stage's workspace throttle and the API's key
limiter.

1. ``take``: the pure arithmetic of :func:`agents.ratelimit.take`, one token at a time, round
   robin over ``workspaces`` buckets held in memory.
2. ``throttle``: :func:`agents.dispatch.throttle` with the ``buckets`` table of the real
   worker that :func:`agents.app.build_worker` builds, on batches of ``settings.worker_batch``
   deliveries, each from one of ``workspaces`` workspaces at random, on a partition at random
   (deliveries are keyed by recipient). Per workspace and partition in a batch: the bucket
   share's JSON read from the table (Faust on RocksDB), ``take``, the JSON written back with
   that partition as the current event, which also queues the changelog record. The limits
   are set so high that no batch waits: the figure is the decision, not the throttling. Left
   out: Kafka (the queued changelog records are dropped, never produced).
3. ``key limiter``: :meth:`api.ratelimit.KeyLimiter.check` as the API's guard calls it, for one
   busy key at the default key rate (so it leases the default 10 tokens from the database every
   10th check), on a migrated SQLite database; no HTTP server is needed. Also one lease alone
   (what a check pays when its lease is spent or has expired, as every check of a key used
   less than once a second does) and the pure shared-bucket decision a lease makes
   (:func:`tables.ratelimits.refill` then :func:`~tables.ratelimits.grant`).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from agents.app import Worker, build_worker
from agents.dispatch import Pending, throttle
from agents.mailer import MemoryMailer
from agents.ratelimit import Bucket, take
from api.ratelimit import KeyLimiter, lease_size
from config.settings import Settings
from streams.records import Content, Delivery, SendLimit
from streams.topics import SENDS_BY_RECIPIENT
from tables import database, ratelimits

# High enough that no bucket ever goes into debt: a batch that had to wait would measure sleep.
NEVER_WAIT = SendLimit(rate=1e12, burst=1e12)


class _Event:
    """Stands for the Faust event that carried a delivery: the table reads its partition."""

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition, topic=SENDS_BY_RECIPIENT.name)


def _drop_changelog_records(worker: Worker) -> None:
    # Table writes queue a changelog record for the producer's next flush; nothing flushes here.
    worker.app.producer.changelog.clear()


def measure_take(workspaces: int, decisions: int = 1_000_000) -> dict[str, float]:
    rate, burst = 200.0, 400.0  # the default plan; take's cost does not depend on them
    now = time.time()
    buckets = [Bucket(tokens=burst, updated_at=now) for _ in range(workspaces)]
    t0 = time.perf_counter()
    for i in range(decisions):
        n = i % workspaces
        buckets[n], _ = take(buckets[n], 1, now=now + i * 1e-6, rate=rate, burst=burst)
    took = time.perf_counter() - t0
    return {"decisions": decisions, "per_s": decisions / took}


async def measure_throttle(settings: Settings, workspaces: int, seconds: float) -> dict[str, float]:
    worker = build_worker(settings, MemoryMailer())
    buckets = worker.tables.buckets
    events = [_Event(partition) for partition in range(settings.topic_partitions)]
    content = Content(sender="a@acme.example", subject="s", to=("b@example.com",))
    deliveries = [
        Delivery(
            "msg", "req", "ws_" + secrets.token_hex(12), "b@example.com", content, time.time(),
            limit=NEVER_WAIT,
        )
        for _ in range(workspaces)
    ]  # fmt: skip
    rng = random.Random(1)
    size = settings.worker_batch

    def pending() -> Pending:
        return Pending(rng.choice(events), rng.choice(deliveries), False)

    batches = [[pending() for _ in range(size)] for _ in range(200)]
    distinct = [
        len({(p.delivery.workspace_id, p.event.message.partition) for p in batch})
        for batch in batches
    ]
    # The first pass creates every bucket (a full one for a workspace not seen before).
    for batch in batches:
        await throttle(buckets, batch, settings)
        _drop_changelog_records(worker)
    done = decided = 0
    took = 0.0
    while took < seconds:
        for batch, n in zip(batches, distinct, strict=True):
            t0 = time.perf_counter()
            await throttle(buckets, batch, settings)
            took += time.perf_counter() - t0
            _drop_changelog_records(worker)
            done += 1
            decided += n
    return {
        "batches": done,
        "batch_size": size,
        "decisions_per_batch": decided / done,
        "decisions_per_s": decided / took,
        "deliveries_per_s": done * size / took,
    }


async def measure_key_limiter(settings: Settings, seconds: float) -> dict[str, float]:
    await database.migrate(settings)
    engine = await database.connect(settings)
    # One busy key at the default rate, so each lease is the default size (10 tokens); the
    # burst is raised only so that it is never refused (a refused check leases every time).
    rate, burst = settings.key_request_rate, 10**9
    size = lease_size(rate, settings.key_request_burst)
    assert lease_size(rate, burst) == size
    try:
        limiter = KeyLimiter()
        checks = allowed = 0
        t0 = time.perf_counter()
        while (took := time.perf_counter() - t0) < seconds:
            verdict = await limiter.check("key_bench", rate=rate, burst=burst)
            allowed += verdict.allowed
            checks += 1
        # One lease alone: what a request that finds its lease spent or expired pays.
        t1 = time.perf_counter()
        for _ in range(100):
            await ratelimits.lease("key_lease", want=size, rate=rate, burst=burst, now=time.time())
        lease_s = (time.perf_counter() - t1) / 100
    finally:
        await database.close(engine)
    # The pure decision one lease makes on the shared bucket.
    now = time.time()
    grants = 1_000_000
    t2 = time.perf_counter()
    for i in range(grants):
        tokens = ratelimits.refill(100.0, now, now + i * 1e-6, rate=rate, burst=burst)
        ratelimits.grant(tokens, size, rate=rate)
    grant_took = time.perf_counter() - t2
    return {
        "checks": checks,
        "allowed": allowed,
        "lease_size": size,
        "per_s": checks / took,
        "lease_ms": lease_s * 1000,
        "grants_per_s": grants / grant_took,
    }


def measure(
    workspaces: int = 1000, seconds: float = 5.0, key_seconds: float = 3.0
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="herald-bench-buckets-") as tmp:
        # The worker is built, never started: nothing connects to this address.
        settings = Settings(data_dir=Path(tmp), kafka_bootstrap="127.0.0.1:9")
        pure = measure_take(workspaces)
        batched = asyncio.run(measure_throttle(settings, workspaces, seconds))
        keys = asyncio.run(measure_key_limiter(settings, key_seconds))
    return {
        "workspaces": workspaces,
        "take_per_s": pure["per_s"],
        "batch_size": batched["batch_size"],
        "batches": batched["batches"],
        "decisions_per_batch": batched["decisions_per_batch"],
        "throttle_decisions_per_s": batched["decisions_per_s"],
        "throttle_deliveries_per_s": batched["deliveries_per_s"],
        "key_checks": keys["checks"],
        "key_allowed": keys["allowed"],
        "key_lease_size": keys["lease_size"],
        "key_checks_per_s": keys["per_s"],
        "key_lease_ms": keys["lease_ms"],
        "key_grants_per_s": keys["grants_per_s"],
    }


if __name__ == "__main__":
    print(measure())
