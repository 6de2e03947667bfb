"""Turning what happened to a delivery into events (pure, no I/O)."""

from __future__ import annotations

from streams.records import Delivery, Event, EventType, event_id


def event_for(
    delivery: Delivery,
    type_: EventType,
    *,
    at: float,
    smtp_code: int | None = None,
    enhanced_code: str | None = None,
    reply: str | None = None,
    possible_duplicate: bool = False,
) -> Event:
    summary = type_ == "queued"
    return Event(
        event_id=event_id(delivery.message_id, type_, delivery.attempt),
        type=type_,
        message_id=delivery.message_id,
        workspace_id=delivery.workspace_id,
        recipient=delivery.recipient,
        at=at,
        attempt=delivery.attempt,
        tags=delivery.content.tags,
        smtp_code=smtp_code,
        enhanced_code=enhanced_code,
        reply=reply,
        possible_duplicate=possible_duplicate,
        sender=delivery.content.sender if summary else None,
        subject=delivery.content.subject if summary else None,
        request_id=delivery.request_id if summary else None,
    )
