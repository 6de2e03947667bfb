"""Record types carried on Herald's topics, and their codec (orjson out, validated on the way in).

Records are frozen dataclasses. ``encode`` writes JSON with orjson; ``decode`` parses with orjson
and converts with msgspec, which checks every field's type, so a malformed record produced by an
internal system is refused at the door (:class:`RecordError`) instead of failing deep inside an
agent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Literal, TypeVar

import msgspec
import orjson

RecipientKind = Literal["to", "cc", "bcc"]
EventType = Literal["queued", "sent", "deferred", "bounced", "failed"]

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


@dataclass(frozen=True, slots=True)
class SendLimit:
    """The workspace's send rate when the request was accepted (its plan); dispatch throttles
    by it. Records without one (from internal producers) get the worker's default."""

    rate: float  # sends per second (token bucket refill)
    burst: float  # token bucket size


@dataclass(frozen=True, slots=True)
class SendRequested:
    """One accepted send request; topic ``herald.sends.requested``, key: workspace id."""

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
class Event:
    """What happened to one message; topic ``herald.events``, key: message id.

    ``event_id`` is derived from (message, type, attempt), so reprocessing the same step
    produces the same id and consumers can deduplicate on it.
    """

    event_id: str
    type: EventType
    message_id: str
    workspace_id: str
    recipient: str
    at: float
    attempt: int = 0
    tags: tuple[str, ...] = ()
    smtp_code: int | None = None
    enhanced_code: str | None = None
    reply: str | None = None
    possible_duplicate: bool = False
    # Summary of the message, carried on ``queued`` so the projection can create the row.
    sender: str | None = None
    subject: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record an agent could not handle; topic ``herald.deadletters``."""

    source_topic: str
    reason: str
    payload: str  # the original bytes, decoded as UTF-8 with replacement
    at: float


def event_id(message_id: str, type_: str, attempt: int) -> str:
    digest = hashlib.sha256(f"{message_id}|{type_}|{attempt}".encode()).hexdigest()
    return f"evt_{digest[:26]}"


def encode(record: object) -> bytes:
    return orjson.dumps(record)


def decode(data: bytes | None, type_: type[T]) -> T:
    if data is None:
        raise RecordError("empty record")
    try:
        return msgspec.convert(orjson.loads(data), type_, strict=False)
    except (orjson.JSONDecodeError, msgspec.ValidationError) as exc:
        raise RecordError(f"not a valid {type_.__name__}: {exc}") from exc
