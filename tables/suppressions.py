"""Suppression entries in the database: the copy the API lists and reads back.

Two writers feed :func:`apply_changes`: the API (right after Kafka acknowledged a change) and
the worker's projection of ``herald.suppressions`` (every change, the API's included, some of
them several times: a domain entry arrives once per partition). So it is an idempotent upsert
ordered by each change's decision time ``at``:

- a change applies only when it is newer than the row's ``changed_at``; on a tie a removal
  wins, whatever order the two arrive in;
- a removal keeps the row, with ``removed_at`` set (a tombstone), so a late copy of an older
  add cannot bring the entry back; a removal of an entry never seen writes the tombstone;
- an add over a live entry keeps its ``created_at`` ("suppressed since") and takes the newer
  reason, source and detail; an add over a removed entry is a new entry, created when the
  change says.

The SQL (``INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE``) is the same on SQLite and
PostgreSQL; one batch is one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from piccolo.columns.combination import And

from streams.records import Reason, Scope, Suppression, SuppressionChange
from streams.suppressions import address_value, domain_of
from tables.database import write_transaction
from tables.db import Suppression as Row
from tables.paging import after_anchor

CHUNK = 500  # rows per statement: well under both databases' limit of bound parameters
_COLUMNS = (
    "id",
    "workspace_id",
    "value",
    "scope",
    "scope_value",
    "reason",
    "source",
    "message_id",
    "detail",
    "created_at",
    "changed_at",
    "removed_at",
)
_NEWER = "excluded.changed_at > suppressions.changed_at"
_ADD_TAIL = f"""
ON CONFLICT (id) DO UPDATE SET
    reason = excluded.reason,
    source = excluded.source,
    message_id = excluded.message_id,
    detail = excluded.detail,
    created_at = CASE WHEN suppressions.removed_at IS NULL
        THEN suppressions.created_at ELSE excluded.created_at END,
    changed_at = excluded.changed_at,
    removed_at = NULL
WHERE {_NEWER}
    OR (excluded.changed_at = suppressions.changed_at AND suppressions.removed_at IS NULL)
"""
_REMOVE_TAIL = """
ON CONFLICT (id) DO UPDATE SET
    changed_at = excluded.changed_at,
    removed_at = excluded.removed_at
WHERE excluded.changed_at >= suppressions.changed_at
"""


def latest(changes: Sequence[SuppressionChange]) -> list[SuppressionChange]:
    """The change that wins for each entry (pure): the newest, a removal on a tie. One row
    per entry is also what PostgreSQL needs: one statement may not update a row twice."""
    winners: dict[str, SuppressionChange] = {}
    for change in changes:
        known = winners.get(change.entry.id)
        if known is None or _rank(change) >= _rank(known):
            winners[change.entry.id] = change
    return list(winners.values())


def _rank(change: SuppressionChange) -> tuple[float, bool]:
    return change.at, change.op == "remove"


async def apply_changes(changes: Sequence[SuppressionChange]) -> None:
    """Bring the rows up to date with ``changes`` (any order, any repeats) in one
    transaction."""
    winners = latest(changes)
    if not winners:
        return
    async with write_transaction(Row._meta.db):
        for op, tail in (("add", _ADD_TAIL), ("remove", _REMOVE_TAIL)):
            todo = [c for c in winners if c.op == op]
            for start in range(0, len(todo), CHUNK):
                await _upsert(todo[start : start + CHUNK], tail)


async def _upsert(changes: Sequence[SuppressionChange], tail: str) -> None:
    row = "(" + ", ".join(["{}"] * len(_COLUMNS)) + ")"
    args: list[Any] = []
    for change in changes:
        e = change.entry
        removed_at = change.at if change.op == "remove" else None
        args += [e.id, e.workspace_id, e.value, e.scope, e.scope_value, e.reason, e.source]
        args += [e.message_id, e.detail, e.created_at, change.at, removed_at]
    values = ", ".join([row] * len(changes))
    sql = f"INSERT INTO suppressions ({', '.join(_COLUMNS)}) VALUES {values} {tail}"  # noqa: S608
    await Row.raw(sql, *args)


@dataclass(frozen=True, slots=True)
class Filters:
    """What a listing keeps; every filter given must hold. ``value`` is one address or domain
    entry exactly; ``domain`` (``@example.com``) keeps its domain entry and every address at
    it (not its subdomains). Times are epoch seconds: ``created_from`` inclusive,
    ``created_before`` exclusive."""

    scope: Scope | None = None
    scope_value: str | None = None
    reason: Reason | None = None
    value: str | None = None
    domain: str | None = None
    created_from: float | None = None
    created_before: float | None = None


async def list_entries(
    workspace_id: str, filters: Filters, *, limit: int, starting_after: str | None = None
) -> tuple[list[Suppression], bool]:
    """Live entries of the workspace, newest first, ``limit`` at most, after the entry
    ``starting_after`` (the last one of the previous page); and whether there are more."""
    query = Row.select(*_SELECTED).where(_live(workspace_id))
    for condition in _conditions(filters):
        query = query.where(condition)
    if starting_after is not None:
        after = await after_anchor(
            Row.created_at, Row.id, Row.workspace_id == workspace_id, starting_after
        )
        if after is None:
            return [], False
        query = query.where(after)
    rows = await query.order_by(Row.created_at, Row.id, ascending=False).limit(limit + 1)
    return [_entry(row) for row in rows[:limit]], len(rows) > limit


def _conditions(filters: Filters) -> list[Any]:
    found: list[Any] = []
    if filters.scope is not None:
        found.append(Row.scope == filters.scope)
    if filters.scope_value is not None:
        found.append(Row.scope_value == filters.scope_value)
    if filters.reason is not None:
        found.append(Row.reason == filters.reason)
    if filters.value is not None:
        found.append(Row.value == filters.value)
    if filters.domain is not None:
        # "%@example.com" matches the domain entry and every address at it. Domains reach here
        # validated (letters, digits, dots, hyphens): nothing in them is a LIKE wildcard.
        found.append(Row.value.like("%" + filters.domain))
    if filters.created_from is not None:
        found.append(Row.created_at >= filters.created_from)
    if filters.created_before is not None:
        found.append(Row.created_at < filters.created_before)
    return found


async def get_entry(workspace_id: str, entry_id: str) -> Suppression | None:
    """The live entry of this workspace with this id; None otherwise (removed, never
    existed, or another workspace's)."""
    row = await Row.select(*_SELECTED).where(_live(workspace_id) & (Row.id == entry_id)).first()
    return None if row is None else _entry(row)


@dataclass(frozen=True, slots=True)
class Stored:
    """An entry's row as a writer needs it: a change it makes must be newer than
    ``changed_at`` to apply (a removed entry's row too)."""

    entry: Suppression
    changed_at: float
    live: bool


async def stored_entries(workspace_id: str, entry_ids: Sequence[str]) -> dict[str, Stored]:
    """The rows of this workspace among ``entry_ids``, live or removed, by id."""
    found: dict[str, Stored] = {}
    unique = list(dict.fromkeys(entry_ids))
    for start in range(0, len(unique), CHUNK):
        rows = await Row.select(*_SELECTED, Row.changed_at, Row.removed_at).where(
            (Row.workspace_id == workspace_id) & Row.id.is_in(unique[start : start + CHUNK])
        )
        for row in rows:
            live = row["removed_at"] is None
            found[row["id"]] = Stored(_entry(row), float(row["changed_at"]), live)
    return found


async def entries_for(workspace_id: str, address: str) -> list[Suppression]:
    """The live entries a send to ``address`` meets: the address's, then its domain's (the
    order :func:`streams.suppressions.first_match` expects), each group widest scope first."""
    own, domain = address_value(address), domain_of(address)
    rows = await Row.select(*_SELECTED).where(_live(workspace_id) & Row.value.is_in([own, domain]))
    # global < list < program: alphabetical is also widest first
    rows.sort(key=lambda r: (r["value"] != own, r["scope"], r["scope_value"]))
    return [_entry(row) for row in rows]


def _live(workspace_id: str) -> And:
    return (Row.workspace_id == workspace_id) & Row.removed_at.is_null()


_SELECTED = (
    Row.id,
    Row.workspace_id,
    Row.value,
    Row.scope,
    Row.scope_value,
    Row.reason,
    Row.source,
    Row.created_at,
    Row.message_id,
    Row.detail,
)


def _entry(row: dict[str, Any]) -> Suppression:
    return Suppression(
        id=row["id"],
        workspace_id=row["workspace_id"],
        value=row["value"],
        scope=row["scope"],
        scope_value=row["scope_value"],
        reason=row["reason"],
        source=row["source"],
        created_at=float(row["created_at"]),
        message_id=row["message_id"],
        detail=row["detail"],
    )
