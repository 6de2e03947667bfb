"""How an event looks to customers: the item of ``GET /v1/events`` and the ``data`` of a
webhook delivery are this one dictionary, so what a webhook carries can be fetched again.

Built from an :class:`~streams.records.Event` (the fan-out) or from the database row of one
(the Events API, replays), through :func:`event_data`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from streams.records import Event

# Fields only some types have: present when set, left out otherwise.
OPTIONAL_FIELDS = (
    "sender",
    "subject",
    "list_id",
    "bounce",
    "diagnostic",
    "url",
    "user_agent",
    "ip",
    "machine_reason",
    "suppression",
    "unsubscribe_scope",
    "webhook_id",
)

SUPPRESSION_FIELDS = ("id", "value", "scope", "scope_value", "reason")


def iso(epoch: float) -> str:
    """An event time as customers see it: RFC 3339 in UTC, with microseconds."""
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def event_data(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": event.event_id,
        "type": event.type,
        "message_id": event.message_id,
        "recipient": event.recipient,
        "seq": event.seq,
        "at": iso(event.at),
        "tags": list(event.tags),
        "program": event.program,
        "attempt": event.attempt,
        "smtp_code": event.smtp_code,
        "enhanced_code": event.enhanced_code,
        "reply": event.reply,
        "possible_duplicate": event.possible_duplicate,
        "machine": event.machine,
    }
    for name in OPTIONAL_FIELDS:
        value = getattr(event, name)
        if value is not None:
            data[name] = msgspec.to_builtins(value)
    if event.suppression is not None:
        # The entry as /v1/suppressions names it; who decided it and why stays there.
        data["suppression"] = {k: data["suppression"][k] for k in SUPPRESSION_FIELDS}
    return data
