"""Idempotency keys in the database: one winner per key, across callers and crashes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from config.settings import Settings
from tables import idempotency
from tables.db import IdempotencyKey
from tables.idempotency import (
    Claimed,
    ClaimOutcome,
    InFlight,
    KeyRow,
    Mismatch,
    Replay,
    StoredResponse,
    judge,
)

NOW = 1_700_000_000.0
LOCK = 30.0
TTL = 24 * 3600.0
PLAN = StoredResponse(202, '{"id":"req_1","messages":[{"id":"msg_1","to":"a@example.com"}]}')
DONE = StoredResponse(202, '{"id":"req_1","messages":[{"id":"msg_1","to":"a@example.com"}]} ')


async def claim(
    key: str = "k1",
    *,
    workspace_id: str = "ws_acme",
    fingerprint: str = "f1",
    planned: StoredResponse = PLAN,
    now: float = NOW,
    ttl: float = TTL,
) -> ClaimOutcome:
    return await idempotency.claim(
        workspace_id,
        key,
        fingerprint=fingerprint,
        planned=planned,
        now=now,
        lock_seconds=LOCK,
        ttl=ttl,
    )


async def claimed(key: str = "k1", **kwargs: Any) -> Claimed:
    outcome = await claim(key, **kwargs)
    assert isinstance(outcome, Claimed), outcome
    return outcome


async def test_first_claim_stores_the_plan_in_flight(db: Settings) -> None:
    first = await claimed()

    assert first.planned == PLAN
    assert not first.resumed
    row = await IdempotencyKey.select().first()
    assert row is not None
    assert row["id"] == idempotency.key_id("ws_acme", "k1")
    assert row["state"] == "in_flight"
    assert (row["response_status"], row["response_body"]) == (PLAN.status, PLAN.body)
    assert row["expires_at"] == NOW + TTL


async def test_a_second_claim_while_in_flight_is_refused(db: Settings) -> None:
    await claimed()

    assert await claim(now=NOW + LOCK) == InFlight(NOW + LOCK)


async def test_a_completed_key_replays_the_final_response(db: Settings) -> None:
    first = await claimed()
    assert await idempotency.complete(first, DONE)

    assert await claim(now=NOW + 1) == Replay(DONE)
    assert await claim(now=NOW + TTL) == Replay(DONE)


@pytest.mark.parametrize("complete", [False, True])
async def test_the_same_key_for_another_request_is_a_mismatch(db: Settings, complete: bool) -> None:
    first = await claimed()
    if complete:
        await idempotency.complete(first, DONE)

    assert await claim(fingerprint="f2", now=NOW + 1) == Mismatch()


async def test_keys_are_scoped_to_their_workspace(db: Settings) -> None:
    await claimed(workspace_id="ws_acme")
    other = await claimed(workspace_id="ws_globex")

    assert other.id != idempotency.key_id("ws_acme", "k1")
    assert await IdempotencyKey.count() == 2


async def test_a_released_key_can_be_claimed_again_with_any_request(db: Settings) -> None:
    first = await claimed()
    assert await idempotency.release(first)

    again = await claimed(fingerprint="f2", now=NOW + 1)
    assert not again.resumed
    assert await IdempotencyKey.count() == 1


async def test_an_abandoned_claim_is_taken_over_with_its_stored_plan(db: Settings) -> None:
    first = await claimed()
    mine = StoredResponse(202, '{"id":"req_2","messages":[]}')

    taken = await claimed(planned=mine, now=NOW + LOCK + 1)

    assert taken.resumed
    assert taken.planned == PLAN  # the dead process's ids, not the new caller's
    # The dead process, were it still alive, no longer owns the key.
    assert not await idempotency.complete(first, DONE)
    assert not await idempotency.release(first)
    assert await idempotency.complete(taken, DONE)
    assert await claim(now=NOW + LOCK + 2) == Replay(DONE)


async def test_an_abandoned_claim_is_not_taken_over_by_another_request(db: Settings) -> None:
    await claimed()

    assert await claim(fingerprint="f2", now=NOW + LOCK + 1) == Mismatch()


async def test_concurrent_claims_have_one_winner(db: Settings) -> None:
    outcomes = await asyncio.gather(*(claim() for _ in range(8)))

    assert sum(isinstance(o, Claimed) for o in outcomes) == 1
    assert all(isinstance(o, Claimed | InFlight) for o in outcomes)


async def test_concurrent_takeovers_have_one_winner(db: Settings) -> None:
    await claimed()

    outcomes = await asyncio.gather(*(claim(now=NOW + LOCK + 1) for _ in range(8)))

    assert sum(isinstance(o, Claimed) and o.resumed for o in outcomes) == 1
    assert all(isinstance(o, Claimed | InFlight) for o in outcomes)


async def test_an_expired_key_counts_as_absent(db: Settings) -> None:
    first = await claimed(ttl=10.0)
    await idempotency.complete(first, DONE)

    again = await claimed(fingerprint="f2", now=NOW + 11.0)

    assert not again.resumed
    assert again.planned == PLAN
    assert await IdempotencyKey.count() == 1


async def test_a_new_claim_purges_expired_keys_of_its_workspace_only(db: Settings) -> None:
    for i in range(5):
        await claimed(f"old{i}", ttl=10.0)
    await claimed("theirs", workspace_id="ws_globex", ttl=10.0)
    await claimed("fresh")

    await claimed("new", now=NOW + 11.0)

    rows = await IdempotencyKey.select(IdempotencyKey.key).order_by(IdempotencyKey.key)
    assert [r["key"] for r in rows] == ["fresh", "new", "theirs"]


async def test_purging_is_bounded(db: Settings) -> None:
    for i in range(5):
        await claimed(f"old{i}", ttl=10.0)

    assert await idempotency.purge_expired("ws_acme", NOW + 11.0, limit=2) == 2
    assert await IdempotencyKey.count() == 3


# --- the pure verdict ---------------------------------------------------------------------


def row(state: str = "in_flight", *, fingerprint: str = "f1") -> KeyRow:
    return KeyRow(fingerprint, state, locked_until=NOW + LOCK, expires_at=NOW + TTL, response=PLAN)


@pytest.mark.parametrize(
    ("stored", "fingerprint", "now", "verdict"),
    [
        (row(), "f1", NOW, InFlight(NOW + LOCK)),
        (row(), "f1", NOW + LOCK, InFlight(NOW + LOCK)),
        (row(), "f1", NOW + LOCK + 0.001, "abandoned"),
        (row(), "f2", NOW, Mismatch()),
        (row(), "f2", NOW + LOCK + 1, Mismatch()),
        (row("done"), "f1", NOW + LOCK + 1, Replay(PLAN)),
        (row("done"), "f2", NOW, Mismatch()),
        (row("done"), "f2", NOW + TTL + 1, "absent"),
        (row(), "f1", NOW + TTL + 1, "absent"),
    ],
)
def test_judge(stored: KeyRow, fingerprint: str, now: float, verdict: object) -> None:
    assert judge(stored, fingerprint, now) == verdict
