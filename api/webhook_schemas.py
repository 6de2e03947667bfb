"""The wire shapes of ``/v1/webhooks`` (msgspec Structs), their examples, and how a stored
endpoint and a delivery attempt are shown.

An endpoint is never shown with its secrets: only how many sign deliveries now and, during a
rotation, when the older ones stop. The plaintext secret appears once, in the answer to the
creation or rotation that made it (:class:`NewWebhook`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import msgspec

from streams.records import EVENT_TYPES, AttemptOutcome, EventType, WebhookAttempt, WebhookEndpoint
from tables.webhooks import attempt_id

MAX_URL = 2048
MAX_DESCRIPTION = 500
MAX_FILTERS = 20  # most tags, and most programs, one endpoint filters on
MAX_BATCH = 100
MAX_OVERLAP = 7 * 24 * 3600

Url = Annotated[str, msgspec.Meta(max_length=MAX_URL)]
Description = Annotated[str, msgspec.Meta(max_length=MAX_DESCRIPTION, pattern="^[^\\x00]*$")]
Names = Annotated[list[str], msgspec.Meta(max_length=MAX_FILTERS)]
Types = Annotated[list[EventType], msgspec.Meta(max_length=len(EVENT_TYPES))]
BatchSize = Annotated[int, msgspec.Meta(ge=1, le=MAX_BATCH)]
Unset = msgspec.UnsetType


class WebhookBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new endpoint. ``event_types``, ``tags`` and ``programs`` narrow what it receives
    (each empty: any); an event must pass all three. ``url`` is required, checked with the
    rest (:mod:`api.webhook_input`), so a body missing it hears of every mistake at once."""

    url: Url | None = None
    event_types: Types = msgspec.field(default_factory=list)
    tags: Names = msgspec.field(default_factory=list)
    programs: Names = msgspec.field(default_factory=list)
    enabled: bool = True
    description: Description = ""
    batch_size: BatchSize = 1


class WebhookChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The fields to change; a field left out keeps its value."""

    url: Url | Unset = msgspec.UNSET
    event_types: Types | Unset = msgspec.UNSET
    tags: Names | Unset = msgspec.UNSET
    programs: Names | Unset = msgspec.UNSET
    enabled: bool | Unset = msgspec.UNSET
    description: Description | Unset = msgspec.UNSET
    batch_size: BatchSize | Unset = msgspec.UNSET


class WebhookRotate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``overlap_seconds``: how long the current secret(s) keep signing (0: stop now).
    Default: the server's ``webhook_secret_overlap`` (24 h)."""

    overlap_seconds: Annotated[int, msgspec.Meta(ge=0, le=MAX_OVERLAP)] | None = None


class WebhookReplay(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One event by id, or every event of a time range the endpoint wants."""

    event_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    since: datetime | None = None
    until: datetime | None = None


class WebhookView(msgspec.Struct):
    """An endpoint without its secrets. ``active_secrets``: how many sign each delivery now
    (2 or more during a rotation); ``rotation_ends_at``: when the older ones stop (null
    outside a rotation). ``disabled_reason``: ``gone`` (it answered 410), ``failing`` (it
    failed for too long), null when enabled or turned off through the API."""

    id: str
    url: str
    description: str
    event_types: list[str]
    tags: list[str]
    programs: list[str]
    enabled: bool
    disabled_reason: str | None
    batch_size: int
    active_secrets: int
    rotation_ends_at: datetime | None
    created_at: datetime
    updated_at: datetime


class NewWebhook(WebhookView):
    """An endpoint with the secret just made: shown this once."""

    secret: str | None  # None only in an idempotent replay: the plaintext is never stored


class WebhookList(msgspec.Struct):
    data: list[WebhookView]
    has_more: bool


class WebhookDelivery(msgspec.Struct):
    """One HTTP attempt to deliver ``event_ids`` (one, or a batch). ``outcome``: ``succeeded``
    (2xx), ``failed`` (retried at ``next_attempt_at``), ``dead`` (the last try failed: the
    events are in the endpoint's dead letter; replay them once it works)."""

    id: str
    event_ids: list[str]
    attempt: int
    at: datetime
    outcome: AttemptOutcome
    status: int | None
    latency_ms: float | None
    response: str | None
    error: str | None
    next_attempt_at: datetime | None


class WebhookDeliveryList(msgspec.Struct):
    data: list[WebhookDelivery]
    has_more: bool


class WebhookReplayQueued(msgspec.Struct):
    """How many events were queued for delivery again (each flagged as a replay)."""

    queued: int


DELIVERY_PARAMETERS = frozenset(("outcome", "event_id", "limit", "starting_after"))
LIST_PARAMETERS = frozenset(("limit", "starting_after"))


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def view(endpoint: WebhookEndpoint, now: float) -> WebhookView:
    active = [s for s in endpoint.secrets if s.expires_at is None or s.expires_at > now]
    ends = [s.expires_at for s in active if s.expires_at is not None]
    return WebhookView(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=list(endpoint.event_types),
        tags=list(endpoint.tags),
        programs=list(endpoint.programs),
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        batch_size=endpoint.batch_size,
        active_secrets=len(active),
        rotation_ends_at=_time(max(ends)) if ends else None,
        created_at=_time(endpoint.created_at),
        updated_at=_time(endpoint.changed_at),
    )


def with_secret(endpoint: WebhookEndpoint, now: float, secret: str | None) -> NewWebhook:
    return NewWebhook(**msgspec.structs.asdict(view(endpoint, now)), secret=secret)


def delivery(attempt: WebhookAttempt) -> WebhookDelivery:
    due = attempt.next_attempt_at
    return WebhookDelivery(
        id=attempt_id(attempt),
        event_ids=list(attempt.event_ids),
        attempt=attempt.attempt,
        at=_time(attempt.at),
        outcome=attempt.outcome,
        status=attempt.status,
        latency_ms=attempt.latency_ms,
        response=attempt.response,
        error=attempt.error,
        next_attempt_at=None if due is None else _time(due),
    )


# --- examples --------------------------------------------------------------------------------

_AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
BODY_EXAMPLE = {
    "url": "https://hooks.example.com/herald",
    "event_types": ["delivered", "bounced", "complained"],
    "description": "CRM sync",
}
VIEW_EXAMPLE = WebhookView(
    id="wh_01jtj8m4t6v2k9c3x5b7n1p0rd",
    url="https://hooks.example.com/herald",
    description="CRM sync",
    event_types=["delivered", "bounced", "complained"],
    tags=[],
    programs=[],
    enabled=True,
    disabled_reason=None,
    batch_size=1,
    active_secrets=1,
    rotation_ends_at=None,
    created_at=_AT,
    updated_at=_AT,
)
NEW_EXAMPLE = NewWebhook(
    **msgspec.structs.asdict(VIEW_EXAMPLE),
    secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw+0yTgGzPbpI=",  # noqa: S106 (an example)
)
ROTATED_EXAMPLE = msgspec.structs.replace(
    NEW_EXAMPLE,
    active_secrets=2,
    rotation_ends_at=_AT + timedelta(days=1),
    secret="whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD5Ha+Q8BfYE0=",  # noqa: S106 (an example)
)
CHANGE_EXAMPLE = {"enabled": True, "tags": ["welcome"]}
LIST_EXAMPLE = WebhookList([VIEW_EXAMPLE], has_more=False)
DELIVERY_EXAMPLE = WebhookDelivery(
    id="9b0c6f2e4d1a8c7b5e3f2a1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b",
    event_ids=["evt_4f3c2b1a0e9d8c7b6a5f4e3d2c"],
    attempt=2,
    at=_AT,
    outcome="failed",
    status=503,
    latency_ms=412.5,
    response="upstream unavailable",
    error=None,
    next_attempt_at=_AT + timedelta(minutes=30),
)
DELIVERY_LIST_EXAMPLE = WebhookDeliveryList([DELIVERY_EXAMPLE], has_more=False)
REPLAY_EXAMPLE = {"since": "2026-01-05T00:00:00Z", "until": "2026-01-06T00:00:00Z"}
