"""The API's wire shapes (msgspec Structs) and the identifiers it hands out."""

from __future__ import annotations

import secrets
import time
from datetime import datetime

import msgspec

# --- identifiers -----------------------------------------------------------------------------

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # every 10-bit value as 2 digits


def _base32(value: int, length: int) -> str:
    """``value`` as ``length`` (even) Crockford base32 digits, two at a time: half the cost of
    one digit at a time, and ids are made on every request."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(length * 5 - 10, -1, -10)])


def new_ids(prefix: str, count: int) -> list[str]:
    """``count`` ids ``<prefix>_`` + 26 chars, ULID-like: 48-bit millisecond time then 80 random
    bits (Crockford base32), so they sort by creation time. The ids of one call share the time
    and count up from one random start, so they also sort in the order asked for."""
    millis = time.time_ns() // 1_000_000
    start = secrets.randbits(80) >> 8  # headroom so counting up never overflows 80 bits
    head = f"{prefix}_{_base32(millis, 10)}"
    return [head + _base32(start + i, 16) for i in range(count)]


def new_id(prefix: str) -> str:
    return new_ids(prefix, 1)[0]


# --- POST /v1/emails -------------------------------------------------------------------------

Addresses = str | list[str] | None


class SendEmail(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A send request as the client wrote it. Presence and content are checked by
    :mod:`api.validation`, so every missing or bad field is reported at once."""

    sender: str | None = msgspec.field(default=None, name="from")
    to: Addresses = None
    cc: Addresses = None
    bcc: Addresses = None
    reply_to: Addresses = None
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    tags: list[str] = msgspec.field(default_factory=list)
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    program: str | None = None  # default "transactional"
    list_id: str | None = msgspec.field(default=None, name="list")  # its suppressions apply
    track_opens: bool | None = None  # None: the workspace's default
    track_clicks: bool | None = None


class AcceptedMessage(msgspec.Struct):
    id: str
    to: str


class SendAccepted(msgspec.Struct):
    """202 answer: the request id and one message id per recipient (to, cc and bcc)."""

    id: str
    messages: list[AcceptedMessage]


# --- GET /v1/messages/{id} -------------------------------------------------------------------


class SuppressionRef(msgspec.Struct):
    """The suppression entry that stopped a send (see ``/v1/suppressions``)."""

    id: str
    value: str  # "ada@example.com", or "@example.com" for a whole domain
    scope: str  # global, list or program
    scope_value: str  # the list or program; "" for global
    reason: str


class MessageEventView(msgspec.Struct, kw_only=True):
    """One event of a message's timeline. Every type has the same fields; those that do not
    apply to a type are null (false for ``machine``)."""

    id: str  # stable: a retried step keeps its id
    type: str  # queued sent delivered deferred bounced complained opened clicked
    # unsubscribed suppressed failed
    seq: int  # 1, 2, 3, ... in the order Herald recorded the message's events
    at: datetime
    attempt: int
    smtp_code: int | None
    enhanced_code: str | None
    reply: str | None
    possible_duplicate: bool
    bounce: str | None = None  # bounced: hard (address suppressed) or soft
    diagnostic: str | None = None  # bounced/complained: what the report said
    url: str | None = None  # clicked: the link followed
    user_agent: str | None = None  # opened/clicked
    ip: str | None = None  # opened/clicked
    machine: bool = False  # opened/clicked: likely a privacy proxy or link scanner
    machine_reason: str | None = None
    suppression: SuppressionRef | None = None  # suppressed: the entry that matched
    unsubscribe_scope: str | None = None  # unsubscribed: list, program or global


class MessageView(msgspec.Struct):
    """One message (one recipient of one send request): its status and its events, oldest
    first. ``status`` only moves forward: queued, deferred, sent, delivered (a report
    confirmed it), then bounced, failed or suppressed; opens, clicks, complaints and
    unsubscribes are events that leave the status as it is."""

    id: str
    request_id: str | None
    sender: str = msgspec.field(name="from")
    to: str
    subject: str
    tags: list[str]
    program: str
    status: str
    created_at: datetime
    updated_at: datetime
    events: list[MessageEventView]


# --- errors and health -----------------------------------------------------------------------


class FieldErrorView(msgspec.Struct):
    field: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    """An RFC 9457 problem details body (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    request_id: str
    errors: list[FieldErrorView] | None = None


class Health(msgspec.Struct):
    status: str


# --- POST /v1/emails/batch -------------------------------------------------------------------


class BatchItemResult(msgspec.Struct, omit_defaults=True):
    """What became of one email of a batch, at its ``index`` in the request.

    ``status`` is what ``POST /v1/emails`` would have answered for that email alone: 202 with
    ``id`` and ``messages``, or a 4xx/5xx with ``error`` (a problem body, as that endpoint's)."""

    index: int
    status: int
    id: str | None = None
    messages: list[AcceptedMessage] | None = None
    error: Problem | None = None


class BatchAccepted(msgspec.Struct):
    """200 answer of a batch: one result per email, in the order of the request."""

    data: list[BatchItemResult]
