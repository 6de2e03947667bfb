"""The message projection: what happened to each message, read back by the API.

An agent feeds batches of :class:`~streams.records.Event` from the events topic to
:func:`project_events`. Events can come twice and in any order, so the projection is an
idempotent upsert:

- each event is one ``message_events`` row, keyed by its stable event id (a replay inserts
  nothing);
- a message's status only climbs: queued (1) < deferred (2) < sent = bounced = failed (3), and
  among equals the first one projected stays;
- an event that arrives before its message's ``queued`` creates the row with what it knows
  (empty sender and subject); the ``queued`` event fills those in when it comes;
- each tag of a message is one ``message_tags`` row (what the Events API filters tags by);
- an event of no message (``webhook_disabled``: empty message id) is recorded as an event only.

The writes of a batch happen in one transaction, one ``executemany`` per table; the SQL
(``INSERT ... ON CONFLICT ... DO UPDATE`` with ``excluded``) is the same on SQLite and
PostgreSQL. Reading events back is :mod:`tables.events`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict

import msgspec
import orjson

from streams.records import Event
from tables.database import Rows, write_transaction
from tables.db import Message, MessageEvent

# Delivery status only climbs. A bounce report after "sent" or "delivered" wins; engagement
# events (opened, clicked, complained, unsubscribed) do not change the status (rank 0).
STATUS_RANK: dict[str, int] = {
    "queued": 1,
    "deferred": 2,
    "sent": 3,
    "delivered": 4,
    "bounced": 5,
    "failed": 5,
    "suppressed": 5,
}
# The fields of an event that belong to some types only: kept together as the row's detail.
# Sender and subject (on ``queued``) are kept too, so an event read back is the one published.
DETAIL_FIELDS = (
    "sender",
    "subject",
    "list_id",
    "bounce",
    "diagnostic",
    "url",
    "user_agent",
    "ip",
    "machine",
    "machine_reason",
    "suppression",
    "unsubscribe_scope",
    "webhook_id",
)


class EventView(TypedDict):
    id: str
    type: str
    seq: int
    program: str
    at: float
    attempt: int
    smtp_code: int | None
    enhanced_code: str | None
    reply: str | None
    possible_duplicate: bool
    detail: dict[str, Any]


class MessageView(TypedDict):
    id: str
    workspace_id: str
    request_id: str | None
    sender: str
    recipient: str
    subject: str
    tags: list[str]
    program: str
    status: str
    created_at: datetime
    updated_at: datetime
    events: list[EventView]


@dataclass(slots=True)
class _Summary:
    """What one batch says about one message, before it meets the stored row."""

    id: str
    workspace_id: str
    recipient: str
    sender: str
    subject: str
    tags: list[str]
    program: str
    request_id: str | None
    status: str
    rank: int
    has_summary: bool
    created_at: float
    events: list[Event] = field(default_factory=list)

    @classmethod
    def first(cls, event: Event) -> _Summary:
        return cls(
            id=event.message_id,
            workspace_id=event.workspace_id,
            recipient=event.recipient,
            sender=event.sender or "",
            subject=event.subject or "",
            tags=list(event.tags),
            program=event.program,
            request_id=event.request_id,
            status=event.type if event.type in STATUS_RANK else "queued",
            rank=STATUS_RANK.get(event.type, 0),
            has_summary=event.type == "queued",
            created_at=event.at,
        )

    def add(self, event: Event) -> None:
        rank = STATUS_RANK.get(event.type, 0)
        if rank > self.rank:
            self.status, self.rank = event.type, rank
        if event.type == "queued" and not self.has_summary:
            self.sender = event.sender or ""
            self.subject = event.subject or ""
            self.tags = list(event.tags)
            self.request_id = event.request_id
            self.created_at = event.at
            self.has_summary = True
        elif not self.has_summary:
            self.created_at = min(self.created_at, event.at)


_UPSERT_COLUMNS = (
    *("id", "workspace_id", "sender", "recipient", "subject", "tags", "program"),
    *("request_id", "status", "status_rank", "has_summary", "created_at", "updated_at"),
)
_FILL = "(excluded.has_summary AND NOT messages.has_summary)"
_CLIMB = "(excluded.status_rank > messages.status_rank)"
_UPSERT_TAIL = f"""
ON CONFLICT (id) DO UPDATE SET
    status = CASE WHEN {_CLIMB} THEN excluded.status ELSE messages.status END,
    status_rank = CASE WHEN {_CLIMB} THEN excluded.status_rank ELSE messages.status_rank END,
    sender = CASE WHEN {_FILL} THEN excluded.sender ELSE messages.sender END,
    subject = CASE WHEN {_FILL} THEN excluded.subject ELSE messages.subject END,
    tags = CASE WHEN {_FILL} THEN excluded.tags ELSE messages.tags END,
    program = CASE WHEN {_FILL} THEN excluded.program ELSE messages.program END,
    request_id = CASE WHEN {_FILL} THEN excluded.request_id ELSE messages.request_id END,
    created_at = CASE WHEN {_FILL} THEN excluded.created_at ELSE messages.created_at END,
    has_summary = (messages.has_summary OR excluded.has_summary),
    updated_at = excluded.updated_at
WHERE {_CLIMB} OR {_FILL}
"""


def _timestamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _summaries(events: list[Event]) -> list[_Summary]:
    by_message: dict[str, _Summary] = {}
    for event in events:
        if not event.message_id:
            continue  # an event of no message (webhook_disabled) makes no message row
        summary = by_message.get(event.message_id)
        if summary is None:
            by_message[event.message_id] = _Summary.first(event)
        else:
            summary.add(event)
    return list(by_message.values())


_EVENT_COLUMNS = (
    *("id", "message_id", "workspace_id", "type", "at", "attempt", "smtp_code"),
    *("enhanced_code", "reply", "possible_duplicate", "seq", "program", "detail"),
    *("recipient", "tags"),
)


async def _insert_events(rows: Rows, events: list[Event]) -> None:
    values = [
        (
            event.event_id,
            event.message_id,
            event.workspace_id,
            event.type,
            event.at,
            event.attempt,
            event.smtp_code,
            event.enhanced_code,
            event.reply,
            event.possible_duplicate,
            event.seq,
            event.program,
            orjson.dumps(detail_of(event)).decode(),
            event.recipient,
            orjson.dumps(event.tags).decode(),
        )
        for event in events
    ]
    await rows.insert("message_events", _EVENT_COLUMNS, values, "ON CONFLICT (id) DO NOTHING")


def tag_id(message_id: str, tag: str) -> str:
    """The id of a ``message_tags`` row: one row per (message, tag), however often written."""
    return hashlib.sha256(f"{message_id}\0{tag}".encode()).hexdigest()


async def _insert_tags(rows: Rows, events: list[Event]) -> None:
    """One row per tag of each message; every event of a message carries its tags (the
    timeline agent fills them in), so whichever event comes first writes them."""
    found: dict[str, tuple[str, str, str, str]] = {}
    for event in events:
        if not event.message_id:
            continue
        for tag in event.tags:
            row_id = tag_id(event.message_id, tag)
            if row_id not in found:
                found[row_id] = (row_id, event.workspace_id, event.message_id, tag)
    columns = ("id", "workspace_id", "message_id", "tag")
    await rows.insert("message_tags", columns, list(found.values()), "ON CONFLICT (id) DO NOTHING")


def detail_of(event: Event) -> dict[str, Any]:
    """The type's own fields that the event has (never the empty ones)."""
    detail: dict[str, Any] = {}
    for name in DETAIL_FIELDS:
        value = getattr(event, name)
        if value is not None and value is not False:
            detail[name] = msgspec.to_builtins(value)
    return detail


async def _upsert_messages(rows: Rows, summaries: list[_Summary], now: datetime) -> None:
    values = [
        (
            s.id,
            s.workspace_id,
            s.sender,
            s.recipient,
            s.subject,
            orjson.dumps(s.tags).decode(),
            s.program,
            s.request_id,
            s.status,
            s.rank,
            s.has_summary,
            _timestamp(s.created_at),
            now,
        )
        for s in summaries
    ]
    await rows.insert("messages", _UPSERT_COLUMNS, values, _UPSERT_TAIL)


async def project_events(events: list[Event]) -> None:
    """Record a batch of events and move each message's status forward (idempotent)."""
    first_seen: dict[str, Event] = {}
    for event in events:
        first_seen.setdefault(event.event_id, event)
    unique = list(first_seen.values())
    if not unique:
        return
    async with write_transaction(Message._meta.db) as rows:
        await _insert_events(rows, unique)
        await _insert_tags(rows, unique)
        await _upsert_messages(rows, _summaries(unique), datetime.now(UTC))


def timeline_order(row: dict[str, Any]) -> tuple[int, float, int, int, str]:
    """Sort key of a message's event rows: the sequence the timeline agent gave; rows from
    before it existed (seq 0) by time, then attempt, then the natural order of steps at the
    same instant."""
    return (row["seq"], row["at"], row["attempt"], STATUS_RANK.get(row["type"], 0), row["id"])


async def get_message(workspace_id: str, message_id: str) -> MessageView | None:
    """A message of this workspace with its event timeline; None if the workspace has none
    with this id (another workspace's message is not found either)."""
    row = (
        await Message.select()
        .where((Message.id == message_id) & (Message.workspace_id == workspace_id))
        .first()
        .output(load_json=True)
    )
    if row is None:
        return None
    events = (
        await MessageEvent.select()
        .where(
            (MessageEvent.message_id == message_id) & (MessageEvent.workspace_id == workspace_id)
        )
        .output(load_json=True)
    )
    events.sort(key=timeline_order)
    return MessageView(
        id=row["id"],
        workspace_id=row["workspace_id"],
        request_id=row["request_id"],
        sender=row["sender"],
        recipient=row["recipient"],
        subject=row["subject"],
        tags=list(row["tags"]),
        program=row["program"],
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        events=[
            EventView(
                id=event["id"],
                type=event["type"],
                seq=event["seq"],
                program=event["program"],
                at=event["at"],
                attempt=event["attempt"],
                smtp_code=event["smtp_code"],
                enhanced_code=event["enhanced_code"],
                reply=event["reply"],
                possible_duplicate=bool(event["possible_duplicate"]),
                detail=dict(event["detail"] or {}),
            )
            for event in events
        ],
    )
