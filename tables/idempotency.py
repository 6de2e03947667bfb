"""Idempotency keys in the database: who holds a key, and the response it is bound to.

A key is scoped to its workspace (the row id is the hex SHA-256 of workspace id, NUL, key), so
two workspaces never see each other's keys. A row lives until ``expires_at``; after that it
counts as absent and is deleted by the next claim of the same key, and every new claim also
deletes up to :data:`PURGE_BATCH` expired rows of its workspace so the table does not grow.

The life of a row:

1. :func:`claim` inserts it ``in_flight`` (``INSERT ... ON CONFLICT DO NOTHING``: exactly one
   of any number of processes wins) together with the *planned* response, before the request
   has any effect. The planned response names every id the request will hand out.
2. The winner carries the request out, then :func:`complete` stores the final response and
   marks the row ``done``; or, when it failed with no effect, :func:`release` deletes the row.
3. A row still ``in_flight`` past ``locked_until`` was abandoned (its process died). The next
   claim with the same fingerprint takes it over (a conditional ``UPDATE``, so again one
   winner) and gets the *stored* plan, so the request is carried out again under the same ids.

The outcome of a claim is a small tagged value; what it means over HTTP is :mod:`api`'s job.
All times are epoch seconds passed in by the caller, so tests choose the clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from piccolo.columns.combination import And

from tables.db import IdempotencyKey

PURGE_BATCH = 100  # expired rows of the workspace deleted by each new claim
_ATTEMPTS = 3  # claim rounds before giving up on a key other processes keep changing

IN_FLIGHT = "in_flight"
DONE = "done"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: str  # JSON text, replayed byte for byte (as UTF-8)


@dataclass(frozen=True, slots=True)
class KeyRow:
    """A stored key as :func:`judge` needs it."""

    fingerprint: str
    state: str
    locked_until: float
    expires_at: float
    response: StoredResponse


@dataclass(frozen=True, slots=True)
class Claimed:
    """The caller holds the key: carry out ``planned``, then :func:`complete` or :func:`release`.

    ``resumed`` is True when an abandoned claim was taken over: ``planned`` is then the stored
    plan of the process that died, not the caller's own."""

    id: str
    token: float  # the locked_until written by this claim: proves the row is still ours
    planned: StoredResponse
    resumed: bool


@dataclass(frozen=True, slots=True)
class Replay:
    """The key already finished with the same request: answer ``response`` again."""

    response: StoredResponse


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The key was used for a different request (another fingerprint)."""


@dataclass(frozen=True, slots=True)
class InFlight:
    """Another caller holds the key and has not finished; it is abandoned after ``locked_until``."""

    locked_until: float


ClaimOutcome = Claimed | Replay | Mismatch | InFlight
Verdict = Replay | Mismatch | InFlight | Literal["absent", "abandoned"]


def key_id(workspace_id: str, key: str) -> str:
    """The row id of ``key`` in ``workspace_id``."""
    return hashlib.sha256(f"{workspace_id}\0{key}".encode()).hexdigest()


def judge(row: KeyRow, fingerprint: str, now: float) -> Verdict:
    """What an existing row means for a new request with ``fingerprint`` at ``now`` (pure).

    The fingerprint is compared before the state, so a different request with a used key is
    refused whether the first one finished or not."""
    if row.expires_at < now:
        return "absent"
    if row.fingerprint != fingerprint:
        return Mismatch()
    if row.state == DONE:
        return Replay(row.response)
    if row.locked_until >= now:
        return InFlight(row.locked_until)
    return "abandoned"


async def claim(
    workspace_id: str,
    key: str,
    *,
    fingerprint: str,
    planned: StoredResponse,
    now: float,
    lock_seconds: float,
    ttl: float,
) -> ClaimOutcome:
    """Claim ``key`` for a request, storing ``planned`` with it; or say why not."""
    id_ = key_id(workspace_id, key)
    token = now + lock_seconds
    for _ in range(_ATTEMPTS):
        await IdempotencyKey.delete().where(
            (IdempotencyKey.id == id_) & (IdempotencyKey.expires_at < now)
        )
        inserted = (
            await IdempotencyKey.insert(
                IdempotencyKey(
                    id=id_,
                    workspace_id=workspace_id,
                    key=key,
                    fingerprint=fingerprint,
                    state=IN_FLIGHT,
                    locked_until=token,
                    expires_at=now + ttl,
                    response_status=planned.status,
                    response_body=planned.body,
                )
            )
            .on_conflict(action="DO NOTHING")
            .returning(IdempotencyKey.id)
        )
        if inserted:
            await purge_expired(workspace_id, now)
            return Claimed(id_, token, planned, resumed=False)
        row = await _read(id_)
        if row is None:  # released or expired in between: claim again
            continue
        verdict = judge(row, fingerprint, now)
        if verdict == "absent":
            continue
        if verdict != "abandoned":
            return verdict
        taken = (
            await IdempotencyKey.update({IdempotencyKey.locked_until: token})
            .where(
                (IdempotencyKey.id == id_)
                & (IdempotencyKey.state == IN_FLIGHT)
                & (IdempotencyKey.fingerprint == fingerprint)
                & (IdempotencyKey.locked_until < now)
            )
            .returning(IdempotencyKey.response_status, IdempotencyKey.response_body)
        )
        if taken:
            stored = StoredResponse(
                int(taken[0]["response_status"]), str(taken[0]["response_body"])
            )
            return Claimed(id_, token, stored, resumed=True)
    # Lost every race to other claimers: one of them is working on it now.
    return InFlight(token)


async def complete(claimed: Claimed, response: StoredResponse) -> bool:
    """Store the final response and mark the key done; False if the claim was taken over
    meanwhile (the taker completes it instead)."""
    done = (
        await IdempotencyKey.update(
            {
                IdempotencyKey.state: DONE,
                IdempotencyKey.response_status: response.status,
                IdempotencyKey.response_body: response.body,
            }
        )
        .where(_still_ours(claimed))
        .returning(IdempotencyKey.id)
    )
    return bool(done)


async def release(claimed: Claimed) -> bool:
    """Forget the claim (the request had no effect), so the same key runs again; False if the
    claim was taken over meanwhile."""
    gone = await IdempotencyKey.delete().where(_still_ours(claimed)).returning(IdempotencyKey.id)
    return bool(gone)


async def purge_expired(workspace_id: str, now: float, limit: int = PURGE_BATCH) -> int:
    """Delete up to ``limit`` expired keys of the workspace; return how many went."""
    expired = (
        IdempotencyKey.select(IdempotencyKey.id)
        .where((IdempotencyKey.workspace_id == workspace_id) & (IdempotencyKey.expires_at < now))
        .limit(limit)
    )
    gone = (
        await IdempotencyKey.delete()
        .where(IdempotencyKey.id.is_in(expired) & (IdempotencyKey.expires_at < now))
        .returning(IdempotencyKey.id)
    )
    return len(gone)


def _still_ours(claimed: Claimed) -> And:
    return (
        (IdempotencyKey.id == claimed.id)
        & (IdempotencyKey.state == IN_FLIGHT)
        & (IdempotencyKey.locked_until == claimed.token)
    )


async def _read(id_: str) -> KeyRow | None:
    row = await IdempotencyKey.select().where(IdempotencyKey.id == id_).first()
    if row is None:
        return None
    return KeyRow(
        fingerprint=str(row["fingerprint"]),
        state=str(row["state"]),
        locked_until=float(row["locked_until"]),
        expires_at=float(row["expires_at"]),
        response=StoredResponse(int(row["response_status"]), str(row["response_body"])),
    )
