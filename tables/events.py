"""Reading a workspace's events back from the projection (``message_events``), as customers see
them: every item is :func:`streams.public.event_data` of the event rebuilt from its row, the
same dictionary a webhook delivery carries.

A listing is one query per page, ordered by ``(at, id)`` and walking the index on
``(workspace_id, at, id)``; the next page starts after the last event of the previous one
(``starting_after``), so events recorded meanwhile neither repeat nor shift a page. The SQL is
the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from piccolo.columns.combination import WhereRaw
from piccolo.query.functions.string import Lower

from streams.public import event_data
from streams.records import Event, Suppression
from tables.db import Message, MessageEvent, MessageTag
from tables.messages import DETAIL_FIELDS, timeline_order

Order = Literal["newest", "oldest"]
CHUNK = 500  # ids per query: well under both databases' limit of bound parameters


@dataclass(frozen=True, slots=True)
class EventFilters:
    """What a listing keeps; every filter given must hold.

    ``recipient`` is one address, as the send path stores it (domain lower-cased, local part
    as the client wrote it): an ASCII address matches without regard to case, others exactly
    (databases fold non-ASCII case differently). ``tag`` keeps the events of messages sent
    with that tag. Times are epoch seconds: ``since`` inclusive, ``until`` exclusive."""

    types: tuple[str, ...] = ()
    message_id: str | None = None
    recipient: str | None = None
    tag: str | None = None
    program: str | None = None
    since: float | None = None
    until: float | None = None


async def list_events(
    workspace_id: str,
    filters: EventFilters,
    *,
    limit: int,
    order: Order = "newest",
    starting_after: str | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """The workspace's events newest (or oldest) first, ``limit`` at most, after the event
    ``starting_after`` (the last one of the previous page); and whether there are more. An
    anchor this workspace does not have gives an empty page."""
    query = MessageEvent.select().where(MessageEvent.workspace_id == workspace_id)
    for condition in _conditions(workspace_id, filters):
        query = query.where(condition)
    if starting_after is not None:
        anchor = (
            await MessageEvent.select(MessageEvent.at, MessageEvent.id)
            .where(
                (MessageEvent.workspace_id == workspace_id) & (MessageEvent.id == starting_after)
            )
            .first()
        )
        if anchor is None:
            return [], False
        query = query.where(_past(order, anchor["at"], anchor["id"]))
    rows = (
        await query.order_by(MessageEvent.at, MessageEvent.id, ascending=order == "oldest")
        .limit(limit + 1)
        .output(load_json=True)
    )
    return [event_data(row_event(row)) for row in rows[:limit]], len(rows) > limit


def _past(order: Order, at: float, event_id: str) -> WhereRaw:
    """Beyond the anchor in the listing's direction. A row value compares (at, id) in one
    step, which both databases answer with a range scan of the index."""
    operator = "<" if order == "newest" else ">"
    columns = '("message_events"."at", "message_events"."id")'
    return WhereRaw(f"{columns} {operator} ({{}}, {{}})", at, event_id)


def _conditions(workspace_id: str, filters: EventFilters) -> list[Any]:
    found: list[Any] = []
    if filters.types:
        found.append(MessageEvent.type.is_in(list(filters.types)))
    if filters.message_id is not None:
        found.append(MessageEvent.message_id == filters.message_id)
    if filters.recipient is not None:
        if filters.recipient.isascii():
            found.append(Lower(MessageEvent.recipient) == filters.recipient.lower())
        else:
            found.append(MessageEvent.recipient == filters.recipient)
    if filters.tag is not None:
        tagged = MessageTag.select(MessageTag.message_id).where(
            (MessageTag.workspace_id == workspace_id) & (MessageTag.tag == filters.tag)
        )
        found.append(MessageEvent.message_id.is_in(tagged))
    if filters.program is not None:
        found.append(MessageEvent.program == filters.program)
    if filters.since is not None:
        found.append(MessageEvent.at >= filters.since)
    if filters.until is not None:
        found.append(MessageEvent.at < filters.until)
    return found


async def get_events(workspace_id: str, event_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The events of this workspace among ``event_ids``, in the order asked (each once);
    ids it does not have (unknown, or another workspace's) are left out."""
    unique = list(dict.fromkeys(event_ids))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(unique), CHUNK):
        rows = await (
            MessageEvent.select()
            .where(
                (MessageEvent.workspace_id == workspace_id)
                & MessageEvent.id.is_in(unique[start : start + CHUNK])
            )
            .output(load_json=True)
        )
        found.update((row["id"], event_data(row_event(row))) for row in rows)
    return [found[event_id] for event_id in unique if event_id in found]


async def message_events(workspace_id: str, message_id: str) -> list[dict[str, Any]] | None:
    """One message's events in timeline order (as ``GET /v1/messages/{id}`` shows them); None
    when this workspace has no such message."""
    known = await Message.exists().where(
        (Message.id == message_id) & (Message.workspace_id == workspace_id)
    )
    if not known:
        return None
    rows = await (
        MessageEvent.select()
        .where(
            (MessageEvent.message_id == message_id) & (MessageEvent.workspace_id == workspace_id)
        )
        .output(load_json=True)
    )
    rows.sort(key=timeline_order)
    return [event_data(row_event(row)) for row in rows]


def row_event(row: dict[str, Any]) -> Event:
    """The event a ``message_events`` row (JSON loaded) records; its ``detail`` holds the
    type's own fields (:data:`tables.messages.DETAIL_FIELDS`)."""
    detail: dict[str, Any] = dict(row["detail"] or {})
    extra = {name: detail[name] for name in DETAIL_FIELDS if name in detail}
    if "suppression" in extra:
        extra["suppression"] = msgspec.convert(extra["suppression"], Suppression)
    return Event(
        event_id=row["id"],
        type=row["type"],
        message_id=row["message_id"],
        workspace_id=row["workspace_id"],
        recipient=row["recipient"],
        at=float(row["at"]),
        attempt=row["attempt"],
        tags=tuple(row["tags"] or ()),
        program=row["program"],
        seq=row["seq"],
        smtp_code=row["smtp_code"],
        enhanced_code=row["enhanced_code"],
        reply=row["reply"],
        possible_duplicate=bool(row["possible_duplicate"]),
        **extra,
    )
