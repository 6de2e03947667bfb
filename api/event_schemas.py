"""The wire shapes of the Events API (``GET /v1/events``, ``GET /v1/messages/{id}/events``):
their OpenAPI types, query parameters and examples.

The routes answer with :func:`streams.public.event_data` itself (the shape webhooks deliver);
:class:`EventView` documents it key for key, and a test holds the two together.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from litestar.params import QueryParameter

from api.schemas import SuppressionRef
from api.validation import MAX_NAME_LENGTH, MAX_TAG_LENGTH
from streams.records import EVENT_TYPES, BounceKind, EventType, Scope

MAX_LIMIT = 100
DEFAULT_LIMIT = 20

Unset = msgspec.UnsetType
UNSET = msgspec.UNSET


class EventView(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One event. Every event has the first fields; the others only when its type has them.
    ``message_id`` and ``recipient`` are empty on events of no message
    (``webhook_disabled``)."""

    id: str  # stable: the same event always has the same id (deduplicate on it)
    type: EventType
    message_id: str
    recipient: str
    seq: int  # 1, 2, 3, ... in the order Herald recorded the message's events
    at: datetime
    tags: list[str]
    program: str
    attempt: int
    smtp_code: int | None
    enhanced_code: str | None
    reply: str | None
    possible_duplicate: bool
    machine: bool  # opened/clicked: likely a privacy proxy or link scanner
    sender: str | Unset = UNSET  # queued
    subject: str | Unset = UNSET  # queued
    list_id: str | Unset = UNSET  # sent to this list
    bounce: BounceKind | Unset = UNSET  # bounced: hard (address suppressed) or soft
    diagnostic: str | Unset = UNSET  # bounced/complained: what the report said
    url: str | Unset = UNSET  # clicked: the link followed
    user_agent: str | Unset = UNSET  # opened/clicked
    ip: str | Unset = UNSET  # opened/clicked
    machine_reason: str | Unset = UNSET
    suppression: SuppressionRef | Unset = UNSET  # suppressed: the entry that matched
    unsubscribe_scope: Scope | Unset = UNSET  # unsubscribed: list, program or global
    webhook_id: str | Unset = UNSET  # webhook_disabled: the endpoint turned off


class EventList(msgspec.Struct):
    data: list[EventView]
    has_more: bool


# --- query parameters ------------------------------------------------------------------------

EVENT_PARAMETERS = frozenset(
    {"type", "message_id", "recipient", "tag", "program", "since", "until"}
    | {"order", "limit", "starting_after"}
)

Types = Annotated[
    list[EventType] | None,
    QueryParameter(
        description="Only these types; repeat the parameter for several "
        "(`type=bounced&type=complained`).",
    ),
]
MessageId = Annotated[
    str | None, QueryParameter(max_length=64, description="One message's events.")
]
Recipient = Annotated[
    str | None,
    QueryParameter(
        max_length=320,
        description="One recipient's events: the address, any case (letters outside ASCII "
        "as sent).",
    ),
]
Tag = Annotated[
    str | None,
    QueryParameter(
        pattern=f"^[A-Za-z0-9_-]{{1,{MAX_TAG_LENGTH}}}$",
        description="Events of messages sent with this tag.",
    ),
]
Program = Annotated[
    str | None, QueryParameter(max_length=MAX_NAME_LENGTH, description="A program name.")
]
Since = Annotated[
    datetime | None,
    QueryParameter(description="From this time on (inclusive); RFC 3339, UTC if no zone."),
]
Until = Annotated[
    datetime | None,
    QueryParameter(description="Before this time (exclusive); RFC 3339, UTC if no zone."),
]
Order = Annotated[
    Literal["newest", "oldest"],
    QueryParameter(description="`newest` first (the default) or `oldest` first."),
]
Limit = Annotated[
    int, QueryParameter(ge=1, le=MAX_LIMIT, description=f"At most {MAX_LIMIT} per page.")
]
StartingAfter = Annotated[
    str | None,
    QueryParameter(max_length=64, description="The last event id of the previous page."),
]

# --- examples --------------------------------------------------------------------------------

_MESSAGE = "msg_01jtj8m4t6v2k9c3x5b7n1p0rd"
BOUNCED = EventView(
    id="evt_9b1f0c2e7a4d6385f0e1c2b3a4",
    type="bounced",
    message_id=_MESSAGE,
    recipient="ada@example.com",
    seq=3,
    at=datetime(2025, 5, 6, 9, 31, 12, tzinfo=UTC),
    tags=["invoice"],
    program="transactional",
    attempt=1,
    smtp_code=550,
    enhanced_code="5.1.1",
    reply="550 5.1.1 <ada@example.com>: Recipient address rejected",
    possible_duplicate=False,
    machine=False,
    bounce="hard",
    diagnostic="smtp; 550 5.1.1 user unknown",
)
SENT = EventView(
    id="evt_4c8e2a0b6d1f9e3a7c5b0d2e4f",
    type="sent",
    message_id=_MESSAGE,
    recipient="ada@example.com",
    seq=2,
    at=datetime(2025, 5, 6, 9, 30, 1, tzinfo=UTC),
    tags=["invoice"],
    program="transactional",
    attempt=1,
    smtp_code=250,
    enhanced_code="2.0.0",
    reply="250 2.0.0 Ok: queued as 4F2A1C",
    possible_duplicate=False,
    machine=False,
)
QUEUED = EventView(
    id="evt_0a3d5f7b9c1e2d4f6a8b0c2e4d",
    type="queued",
    message_id=_MESSAGE,
    recipient="ada@example.com",
    seq=1,
    at=datetime(2025, 5, 6, 9, 30, 0, tzinfo=UTC),
    tags=["invoice"],
    program="transactional",
    attempt=0,
    smtp_code=None,
    enhanced_code=None,
    reply=None,
    possible_duplicate=False,
    machine=False,
    sender="Acme <billing@acme.example>",
    subject="Your invoice",
)
LIST_EXAMPLE = EventList(data=[BOUNCED, SENT], has_more=True)
TIMELINE_EXAMPLE = EventList(data=[QUEUED, SENT, BOUNCED], has_more=False)
TYPES_TEXT = ", ".join(f"`{name}`" for name in EVENT_TYPES)
