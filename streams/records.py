"""Record types carried on Herald's topics, and their codec (orjson out, validated on the way in).

Records are frozen dataclasses. ``encode`` writes JSON with orjson; ``decode`` parses it with
msgspec straight into the record type, checking every field's type, so a malformed record
produced by an internal system is refused at the door (:class:`RecordError`) instead of failing
deep inside an agent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar, cast

import msgspec
import orjson

RecipientKind = Literal["to", "cc", "bcc"]
EventType = Literal[
    "queued",
    "sent",
    "delivered",
    "deferred",
    "bounced",
    "complained",
    "opened",
    "clicked",
    "unsubscribed",
    "suppressed",
    "failed",
    "webhook_disabled",
]
EVENT_TYPES: tuple[EventType, ...] = EventType.__args__  # type: ignore[attr-defined]
Scope = Literal["global", "list", "program"]
Reason = Literal["manual", "hard_bounce", "complaint", "unsubscribe", "invalid"]
BounceKind = Literal["hard", "soft"]
DEFAULT_PROGRAM = "transactional"

T = TypeVar("T")


class RecordError(ValueError):
    """A record on a topic is not valid JSON of the expected shape. The record goes to the
    dead-letter topic with this message; fix the producer that wrote it."""


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    kind: RecipientKind
    message_id: str  # one message id per recipient: what the API returns and status reads


@dataclass(frozen=True, slots=True)
class Content:
    """What the mail says: shared by every recipient of one request."""

    sender: str
    subject: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    html: str | None = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    # The stream of mail this belongs to ("newsletter", "billing"): program suppressions and
    # unsubscribes apply per program. Anything but "transactional" carries List-Unsubscribe.
    program: str = DEFAULT_PROGRAM
    list_id: str | None = None  # the list this was sent to, if any: list suppressions apply
    track_opens: bool = False
    track_clicks: bool = False


@dataclass(frozen=True, slots=True)
class SendLimit:
    """The workspace's send rate when the request was accepted (its plan); dispatch throttles
    by it. Records without one (from internal producers) get the worker's default."""

    rate: float  # sends per second (token bucket refill)
    burst: float  # token bucket size


@dataclass(frozen=True, slots=True)
class SendRequested:
    """One accepted send request; topic ``herald.sends.requested``, key: request id (any key
    will do: expand keeps no state)."""

    request_id: str
    workspace_id: str
    recipients: tuple[Recipient, ...]
    content: Content
    accepted_at: float
    limit: SendLimit | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One recipient's copy of a request, as it moves through the stages."""

    message_id: str
    request_id: str
    workspace_id: str
    recipient: str
    content: Content
    accepted_at: float
    attempt: int = 0  # how many times dispatch was tried before (0: first try)
    due_at: float = 0.0  # retries only: not before this time (epoch seconds)
    limit: SendLimit | None = None

    def next_attempt(self, due_at: float) -> Delivery:
        return replace(self, attempt=self.attempt + 1, due_at=due_at)


@dataclass(frozen=True, slots=True)
class Suppression:
    """One suppression entry: sends to ``value`` in ``scope`` are dropped.

    ``value`` is a lower-cased address (``ada@example.com``) or a whole domain written with
    its at sign (``@example.com``). ``scope_value`` is the list id (scope ``list``) or the
    program name (scope ``program``); empty for ``global`` (the whole workspace). The id is
    derived from those four, so adding the same entry twice is one entry."""

    id: str
    workspace_id: str
    value: str
    scope: Scope
    scope_value: str
    reason: Reason
    source: str  # who decided: "api", "bounce", "complaint", "unsubscribe", ...
    created_at: float
    message_id: str | None = None  # the message whose bounce/complaint/unsubscribe caused it
    detail: str | None = None  # the bounce diagnostic, a note given through the API, ...


@dataclass(frozen=True, slots=True)
class SuppressionChange:
    """An entry added or removed; topic ``herald.suppressions``. Keyed by the address, so it
    lands on the partition of that recipient's sends; a domain entry is written once to every
    partition (any address of the domain may be on any of them)."""

    op: Literal["add", "remove"]
    entry: Suppression
    at: float  # when it was decided: among changes to one entry, the latest wins


@dataclass(frozen=True, slots=True)
class Event:
    """What happened to one message; one schema for every type.

    Producers write to ``herald.outcomes`` (key: message id); the timeline agent numbers each
    message's events (``seq`` 1, 2, 3, ... in the order it saw them), drops a second copy of an
    id it has seen, fills in what a late report does not know (workspace, recipient, program,
    tags) and writes the result to ``herald.events``, which everything downstream reads.

    ``event_id`` is stable: a step that is processed again produces the same id (derived from
    message, type and attempt, or from the report that caused it), so consumers can
    deduplicate on it.
    """

    event_id: str
    type: EventType
    message_id: str
    workspace_id: str  # "" on a report that only knew the message id (filled in by timeline)
    recipient: str
    at: float
    attempt: int = 0
    tags: tuple[str, ...] = ()
    program: str = DEFAULT_PROGRAM
    seq: int = 0  # 0 until the timeline agent numbered it
    smtp_code: int | None = None
    enhanced_code: str | None = None
    reply: str | None = None
    possible_duplicate: bool = False
    # Summary of the message, carried on ``queued`` so the projection can create the row.
    sender: str | None = None
    subject: str | None = None
    request_id: str | None = None
    list_id: str | None = None
    # bounced: hard (the address is bad: suppressed) or soft; the report's diagnostic text.
    bounce: BounceKind | None = None
    diagnostic: str | None = None
    # opened / clicked: the link followed, who asked, and whether it looks like a machine
    # (a privacy proxy or a link scanner) rather than a person; such events are kept, flagged.
    url: str | None = None
    user_agent: str | None = None
    ip: str | None = None
    machine: bool = False
    machine_reason: str | None = None
    # suppressed: the entry that matched. unsubscribed: the scope the recipient asked for.
    suppression: Suppression | None = None
    unsubscribe_scope: Scope | None = None
    # webhook_disabled: the endpoint Herald turned off (410 Gone, or failing too long). Such
    # events belong to no message: message_id and recipient are empty.
    webhook_id: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookSecret:
    """One signing secret of an endpoint, sealed with the server key (``streams.webhooks``):
    never plaintext on a topic or in the database."""

    sealed: str
    expires_at: float | None = None  # a rotated-out secret still signs until then


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """A webhook endpoint's whole configuration; topic ``herald.webhooks`` (compacted, key:
    endpoint id). Written by the API and by the worker (when it disables an endpoint); among
    records of one endpoint, the latest ``changed_at`` wins. A deleted endpoint keeps a record
    with ``deleted`` set."""

    id: str
    workspace_id: str
    url: str
    secrets: tuple[WebhookSecret, ...]  # newest first; every unexpired one signs
    created_at: float
    changed_at: float
    event_types: tuple[str, ...] = ()  # empty: every type
    tags: tuple[str, ...] = ()  # only events carrying one of these tags; empty: any
    programs: tuple[str, ...] = ()  # only events of these programs; empty: any
    enabled: bool = True
    description: str = ""
    batch_size: int = 1  # most events in one request; 1: one event per request
    disabled_reason: str | None = None  # "gone" (410), "failing" (too long), None: by the user
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class WebhookTask:
    """One event to deliver to one endpoint; topic ``herald.webhooks.tasks`` (key: endpoint
    id). ``data`` is the event as the Events API shows it (:func:`streams.public.event_data`),
    so a replay built from the database sends the same body as the first delivery."""

    endpoint_id: str
    workspace_id: str
    event_id: str
    event_type: str
    at: float  # the event's time
    data: dict[str, Any]
    replay: bool = False


AttemptOutcome = Literal["succeeded", "failed", "dead"]


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    """One HTTP attempt to deliver one event (or a batch) to an endpoint; topic
    ``herald.webhooks.attempts`` (key: endpoint id). ``dead``: it failed and was the last
    attempt (or the endpoint is gone): the events are in the endpoint's dead letter."""

    endpoint_id: str
    workspace_id: str
    event_ids: tuple[str, ...]
    attempt: int  # 1 for the first try of these events
    at: float
    outcome: AttemptOutcome
    status: int | None = None  # the HTTP status, if the endpoint answered
    latency_ms: float | None = None
    response: str | None = None  # the start of the answer's body
    error: str | None = None  # why there is no status: timeout, refused address, ...
    next_attempt_at: float | None = None  # failed: when the next try is due


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record an agent could not handle; topic ``herald.deadletters``."""

    source_topic: str
    reason: str
    payload: str  # the original bytes, decoded as UTF-8 with replacement
    at: float


def event_id(message_id: str, type_: str, attempt: int | str) -> str:
    """A stable event id: the same (message, type, attempt or report id) gives the same id."""
    digest = hashlib.sha256(f"{message_id}|{type_}|{attempt}".encode()).hexdigest()
    return f"evt_{digest[:26]}"


def encode(record: object) -> bytes:
    return orjson.dumps(record)


def decode(data: bytes | None, type_: type[T]) -> T:
    if data is None:
        raise RecordError("empty record")
    decoder = _DECODERS.get(type_)
    if decoder is None:
        decoder = _DECODERS[type_] = msgspec.json.Decoder(type_, strict=False)
    try:
        return cast(T, decoder.decode(data))
    except msgspec.DecodeError as exc:  # also msgspec.ValidationError, its subclass
        raise RecordError(f"not a valid {type_.__name__}: {exc}") from exc


# One pass from bytes to the record, as lax as msgspec.convert(strict=False): two to three
# times faster than orjson.loads then msgspec.convert, and every stage decodes its records.
_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}
