"""Token buckets shared by every API process, kept in the database.

A process does not touch the database for every request: it takes a *lease* of a few tokens
at once (:func:`lease`) and spends them locally (see :mod:`api.ratelimit`). Taking a lease is
one short write transaction (the row is locked on PostgreSQL, the write lock is taken up front
on SQLite), so two processes never hand out the same token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from piccolo.engine.postgres import PostgresEngine

from tables.database import write_transaction
from tables.db import RateBucket


@dataclass(frozen=True, slots=True)
class Lease:
    granted: int  # tokens now owned by the caller
    left: float  # tokens still in the shared bucket after the lease
    retry_after: float  # when granted == 0: seconds until one token is back


def refill(tokens: float, updated_at: float, now: float, *, rate: float, burst: float) -> float:
    """The bucket's tokens at ``now``: refilled at ``rate`` per second, never above ``burst``
    (and never lowered when clocks of two hosts disagree a little)."""
    return min(float(burst), tokens + max(0.0, now - updated_at) * rate)


def grant(tokens: float, want: int, *, rate: float) -> Lease:
    """Take up to ``want`` whole tokens from a bucket holding ``tokens``."""
    granted = max(0, min(want, math.floor(tokens)))
    left = tokens - granted
    retry_after = 0.0 if granted else (1.0 - left) / rate
    return Lease(granted, left, retry_after)


async def lease(bucket_id: str, *, want: int, rate: float, burst: float, now: float) -> Lease:
    """Take up to ``want`` tokens from the shared bucket ``bucket_id`` (created full)."""
    engine: Any = RateBucket._meta.db
    async with write_transaction(engine):
        query = RateBucket.select(RateBucket.tokens, RateBucket.updated_at).where(
            RateBucket.id == bucket_id
        )
        if isinstance(engine, PostgresEngine):
            query = query.lock_rows("UPDATE")
        row = await query.first()
        if row is None:  # first use: create it full (a concurrent creator's row wins)
            fresh = RateBucket(id=bucket_id, tokens=float(burst), updated_at=now)
            await RateBucket.insert(fresh).on_conflict(action="DO NOTHING")
            row = await query.first()
        assert row is not None  # noqa: S101 (buckets are never deleted)
        tokens = refill(row["tokens"], row["updated_at"], now, rate=rate, burst=burst)
        taken = grant(tokens, want, rate=rate)
        await RateBucket.update({RateBucket.tokens: taken.left, RateBucket.updated_at: now}).where(
            RateBucket.id == bucket_id
        )
    return taken
