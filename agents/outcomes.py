"""Turning what happened to a delivery into events (pure, no I/O)."""

from __future__ import annotations

from typing import Any

from streams.records import Delivery, Event, EventType, event_id


def event_for(delivery: Delivery, type_: EventType, *, at: float, **fields: Any) -> Event:
    """The event ``type_`` of ``delivery``'s current attempt; ``fields`` are the type's own
    (``smtp_code``, ``bounce``, ``suppression``, ...)."""
    content = delivery.content
    summary = type_ == "queued"
    return Event(
        event_id=event_id(delivery.message_id, type_, delivery.attempt),
        type=type_,
        message_id=delivery.message_id,
        workspace_id=delivery.workspace_id,
        recipient=delivery.recipient,
        at=at,
        attempt=delivery.attempt,
        tags=content.tags,
        program=content.program,
        list_id=content.list_id,
        sender=content.sender if summary else None,
        subject=content.subject if summary else None,
        request_id=delivery.request_id if summary else None,
        **fields,
    )
