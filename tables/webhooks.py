"""Webhook endpoints and their delivery attempts in the database: what the API lists.

Two writers feed :func:`apply_endpoints`: the API (right after Kafka acknowledged a change)
and the worker's projection of ``herald.webhooks`` (every record, the API's included, maybe
several times). So it is an idempotent upsert: a record applies only when its ``changed_at`` is
newer than the row's. Deletion is final: once a row is deleted, a later record (a worker that
disabled the endpoint from its own stale copy) updates it but never brings it back.

Attempts come from the worker's report of each HTTP try (``herald.webhooks.attempts``), which
may arrive twice: each row's id is derived from the attempt (:func:`attempt_id`), so a copy
inserts nothing.

The SQL is the same on SQLite and PostgreSQL; one batch is one transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
from piccolo.columns.combination import WhereRaw

from streams.records import WebhookAttempt, WebhookEndpoint, WebhookSecret
from tables.database import write_transaction
from tables.db import WebhookAttempt as AttemptRow
from tables.db import WebhookEndpoint as Row
from tables.paging import after_anchor

CHUNK = 200  # rows per statement: well under both databases' limit of bound parameters
_COLUMNS = (
    "id",
    "workspace_id",
    "url",
    "description",
    "event_types",
    "tags",
    "programs",
    "enabled",
    "disabled_reason",
    "batch_size",
    "secrets",
    "created_at",
    "changed_at",
    "deleted",
)
_KEPT = ("id", "workspace_id", "created_at", "deleted")  # set once, or by the rule below
_TAIL = (
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c not in _KEPT)
    + ", deleted = (webhook_endpoints.deleted OR excluded.deleted)"
    + " WHERE excluded.changed_at > webhook_endpoints.changed_at"
    # An id is never reused, so a record naming another workspace is not this endpoint's.
    + " AND excluded.workspace_id = webhook_endpoints.workspace_id"
)


def latest(endpoints: Sequence[WebhookEndpoint]) -> list[WebhookEndpoint]:
    """The record that wins for each endpoint (pure): the newest, a deletion on a tie. One row
    per endpoint is also what PostgreSQL needs: one statement may not update a row twice."""
    winners: dict[str, WebhookEndpoint] = {}
    for record in endpoints:
        known = winners.get(record.id)
        if known is None or (record.changed_at, record.deleted) >= (
            known.changed_at,
            known.deleted,
        ):
            winners[record.id] = record
    return list(winners.values())


async def apply_endpoints(endpoints: Sequence[WebhookEndpoint]) -> None:
    """Bring the rows up to date with ``endpoints`` (any order, any repeats) in one
    transaction."""
    winners = latest(endpoints)
    if not winners:
        return
    async with write_transaction(Row._meta.db):
        for start in range(0, len(winners), CHUNK):
            await _upsert(winners[start : start + CHUNK])


async def _upsert(endpoints: Sequence[WebhookEndpoint]) -> None:
    row = "(" + ", ".join(["{}"] * len(_COLUMNS)) + ")"
    args: list[Any] = []
    for e in endpoints:
        secrets = [{"sealed": s.sealed, "expires_at": s.expires_at} for s in e.secrets]
        args += [e.id, e.workspace_id, e.url, e.description]
        args += [_json(e.event_types), _json(e.tags), _json(e.programs)]
        args += [e.enabled, e.disabled_reason, e.batch_size, _json(secrets)]
        args += [e.created_at, e.changed_at, e.deleted]
    values = ", ".join([row] * len(endpoints))
    sql = f"INSERT INTO webhook_endpoints ({', '.join(_COLUMNS)}) VALUES {values} {_TAIL}"  # noqa: S608
    await Row.raw(sql, *args)


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


async def get_endpoint(workspace_id: str, endpoint_id: str) -> WebhookEndpoint | None:
    """The endpoint of this workspace with this id; None if deleted, never made, or another
    workspace's."""
    row = (
        await Row.select()
        .where(_live(workspace_id) & (Row.id == endpoint_id))
        .first()
        .output(load_json=True)
    )
    return None if row is None else _endpoint(row)


async def list_endpoints(
    workspace_id: str, *, limit: int, starting_after: str | None = None
) -> tuple[list[WebhookEndpoint], bool]:
    """The workspace's endpoints, newest first, ``limit`` at most, after the endpoint
    ``starting_after`` (the last of the previous page); and whether there are more."""
    query = Row.select().where(_live(workspace_id))
    if starting_after is not None:
        after = await after_anchor(
            Row.created_at, Row.id, Row.workspace_id == workspace_id, starting_after
        )
        if after is None:
            return [], False
        query = query.where(after)
    rows = await (
        query.order_by(Row.created_at, Row.id, ascending=False)
        .limit(limit + 1)
        .output(load_json=True)
    )
    return [_endpoint(row) for row in rows[:limit]], len(rows) > limit


def _live(workspace_id: str) -> Any:
    return (Row.workspace_id == workspace_id) & (Row.deleted == False)  # noqa: E712 (SQL)


def _endpoint(row: dict[str, Any]) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row["id"],
        workspace_id=row["workspace_id"],
        url=row["url"],
        secrets=tuple(WebhookSecret(s["sealed"], s["expires_at"]) for s in row["secrets"]),
        created_at=float(row["created_at"]),
        changed_at=float(row["changed_at"]),
        event_types=tuple(row["event_types"]),
        tags=tuple(row["tags"]),
        programs=tuple(row["programs"]),
        enabled=bool(row["enabled"]),
        description=row["description"],
        batch_size=int(row["batch_size"]),
        disabled_reason=row["disabled_reason"],
        deleted=bool(row["deleted"]),
    )


# --- attempts --------------------------------------------------------------------------------


def attempt_id(attempt: WebhookAttempt) -> str:
    """The stable id of an attempt: hex SHA-256 of its endpoint, its events (in any order)
    and its number, so a report that arrives twice is one row."""
    events = ",".join(sorted(attempt.event_ids))
    return hashlib.sha256(f"{attempt.endpoint_id}|{events}|{attempt.attempt}".encode()).hexdigest()


async def record_attempts(attempts: Sequence[WebhookAttempt]) -> None:
    """Insert the attempts not recorded yet (any repeats) in one transaction."""
    rows: dict[str, WebhookAttempt] = {}
    for a in attempts:
        rows.setdefault(attempt_id(a), a)  # the first copy, as the database keeps it
    if not rows:
        return
    items = list(rows.items())
    async with write_transaction(AttemptRow._meta.db):
        for start in range(0, len(items), CHUNK):
            await AttemptRow.insert(
                *(_attempt_row(id_, a) for id_, a in items[start : start + CHUNK])
            ).on_conflict(action="DO NOTHING")


def _attempt_row(id_: str, a: WebhookAttempt) -> AttemptRow:
    return AttemptRow(
        id=id_,
        endpoint_id=a.endpoint_id,
        workspace_id=a.workspace_id,
        event_ids=list(a.event_ids),
        attempt=a.attempt,
        at=a.at,
        outcome=a.outcome,
        status=a.status,
        latency_ms=a.latency_ms,
        response=a.response,
        error=a.error,
        next_attempt_at=a.next_attempt_at,
    )


async def list_attempts(
    workspace_id: str,
    endpoint_id: str,
    *,
    outcome: str | None = None,
    event_id: str | None = None,
    limit: int,
    starting_after: str | None = None,
) -> tuple[list[WebhookAttempt], bool]:
    """The endpoint's attempts, newest first, ``limit`` at most, after the attempt
    ``starting_after`` (an :func:`attempt_id`); only those with ``outcome`` and carrying
    ``event_id`` when given. And whether there are more."""
    mine = (AttemptRow.workspace_id == workspace_id) & (AttemptRow.endpoint_id == endpoint_id)
    query = AttemptRow.select().where(mine)
    if outcome is not None:
        query = query.where(AttemptRow.outcome == outcome)
    if event_id is not None:
        # The list is JSON text on both databases; the id quoted, wildcards escaped.
        pattern = '%"' + _like_escaped(event_id) + '"%'
        query = query.where(WhereRaw("CAST(event_ids AS TEXT) LIKE {} ESCAPE '\\'", pattern))
    if starting_after is not None:
        after = await after_anchor(AttemptRow.at, AttemptRow.id, mine, starting_after)
        if after is None:
            return [], False
        query = query.where(after)
    rows = await (
        query.order_by(AttemptRow.at, AttemptRow.id, ascending=False)
        .limit(limit + 1)
        .output(load_json=True)
    )
    return [_attempt(row) for row in rows[:limit]], len(rows) > limit


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _attempt(row: dict[str, Any]) -> WebhookAttempt:
    return WebhookAttempt(
        endpoint_id=row["endpoint_id"],
        workspace_id=row["workspace_id"],
        event_ids=tuple(row["event_ids"]),
        attempt=int(row["attempt"]),
        at=float(row["at"]),
        outcome=row["outcome"],
        status=row["status"],
        latency_ms=row["latency_ms"],
        response=row["response"],
        error=row["error"],
        next_attempt_at=row["next_attempt_at"],
    )
