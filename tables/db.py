"""Piccolo tables: the system of record (workspaces, API keys, messages and their events).

The engine is not chosen here: :func:`tables.database.connect` binds these tables to the
database named by the settings at each entry point.
"""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table


class Plan(Table, tablename="plans"):
    """Limits a workspace is sold: API requests per key, and sends per workspace."""

    name = Varchar(length=40, primary_key=True)
    key_rate = Float()  # API requests per second per key (token bucket refill)
    key_burst = Integer()  # token bucket size per key
    send_rate = Float()  # sends per second per workspace, enforced by dispatch
    send_burst = Integer()
    created_at = Timestamptz()


class Workspace(Table, tablename="workspaces"):
    """A tenant. Every resource belongs to exactly one."""

    id = Varchar(length=40, primary_key=True)  # "ws_" + random
    name = Varchar(length=200, unique=True)
    created_at = Timestamptz()
    plan = Varchar(length=40, null=True, default=None)  # a Plan name; None: settings' defaults
    track_opens = Boolean(default=False)  # default of sends that do not say track_opens
    track_clicks = Boolean(default=False)


class ApiKey(Table, tablename="api_keys"):
    """An API key, stored only as a SHA-256 hash plus a non-secret lookup prefix."""

    id = Varchar(length=40, primary_key=True)  # "key_" + random
    workspace = ForeignKey(references=Workspace, null=False)
    prefix = Varchar(length=32, unique=True)  # first chars of the key, not secret
    key_hash = Varchar(length=64)  # hex SHA-256 of the whole key
    created_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)
    name = Varchar(length=100, default="")
    scopes = JSON(default=["full"])  # any of "full", "send", "read"
    allowed_ips = JSON(default=[])  # CIDRs; empty: any address
    expires_at = Timestamptz(null=True, default=None)  # set when rotated: works until then
    replaced_by = Varchar(length=40, null=True, default=None)  # the key that rotated it out


class Message(Table, tablename="messages"):
    """One message = one recipient of one send request; projected from the events topic."""

    id = Varchar(length=40, primary_key=True)  # "msg_" + random, returned by POST /v1/emails
    workspace_id = Varchar(length=40, index=True)
    request_id = Varchar(length=40, index=True, null=True, default=None)  # not on events yet
    sender = Text()
    recipient = Text()
    subject = Text()
    tags = JSON(default=[])
    status = Varchar(length=16)  # latest meaningful event type
    status_rank = Integer(default=0)  # keeps the status monotone when events arrive twice
    has_summary = Boolean(default=False)  # sender/subject came from the queued event
    program = Varchar(length=64, default="transactional")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class MessageEvent(Table, tablename="message_events"):
    """One event of a message's timeline (event ids are stable: inserting twice is a no-op)."""

    id = Varchar(length=40, primary_key=True)  # the event id
    message_id = Varchar(length=40, index=True)
    workspace_id = Varchar(length=40, index=True)
    type = Varchar(length=16)
    at = Float()  # epoch seconds, as on the record
    attempt = Integer(default=0)
    smtp_code = Integer(null=True, default=None)
    enhanced_code = Varchar(length=16, null=True, default=None)
    reply = Text(null=True, default=None)
    possible_duplicate = Boolean(default=False)
    seq = Integer(default=0)  # the event's number in its message's timeline (1, 2, ...)
    program = Varchar(length=64, default="transactional")
    detail = JSON(default={})  # the type's own fields: bounce, diagnostic, url, suppression...
    recipient = Text(default="")  # "" on events of no message (webhook_disabled)
    tags = JSON(default=[])


class MessageTag(Table, tablename="message_tags"):
    """One tag of one message, so events can be filtered by tag with an index on both
    databases (tags are a JSON list on the message and its events)."""

    id = Varchar(length=64, primary_key=True)  # hex SHA-256 of message id and tag
    workspace_id = Varchar(length=40, index=True)
    message_id = Varchar(length=40, index=True)
    tag = Varchar(length=100, index=True)


class WebhookEndpoint(Table, tablename="webhook_endpoints"):
    """A webhook endpoint as configured (mirrors :class:`streams.records.WebhookEndpoint`).
    Secrets are stored sealed with the server key, never in plaintext."""

    id = Varchar(length=40, primary_key=True)  # "wh_" + random
    workspace_id = Varchar(length=40, index=True)
    url = Text()
    description = Text(default="")
    event_types = JSON(default=[])  # empty: every type
    tags = JSON(default=[])
    programs = JSON(default=[])
    enabled = Boolean(default=True)
    disabled_reason = Varchar(length=16, null=True, default=None)
    batch_size = Integer(default=1)
    secrets = JSON(default=[])  # [{"sealed": ..., "expires_at": ...}], newest first
    created_at = Float()  # epoch seconds
    changed_at = Float()  # the latest change applied: an older record changes nothing
    deleted = Boolean(default=False)


class WebhookAttempt(Table, tablename="webhook_attempts"):
    """One delivery attempt (mirrors :class:`streams.records.WebhookAttempt`)."""

    id = Varchar(length=64, primary_key=True)  # hex SHA-256 of endpoint, events and attempt
    endpoint_id = Varchar(length=40, index=True)
    workspace_id = Varchar(length=40, index=True)
    event_ids = JSON(default=[])
    attempt = Integer()
    at = Float(index=True)
    outcome = Varchar(length=16)  # succeeded, failed, dead
    status = Integer(null=True, default=None)
    latency_ms = Float(null=True, default=None)
    response = Text(null=True, default=None)
    error = Text(null=True, default=None)
    next_attempt_at = Float(null=True, default=None)


class Suppression(Table, tablename="suppressions"):
    """A suppression entry (see :mod:`streams.suppressions`). A removed entry keeps its row
    with ``removed_at`` set, so a late copy of an older change cannot bring it back: changes
    apply only when newer than ``changed_at``."""

    id = Varchar(length=40, primary_key=True)  # streams.suppressions.entry_id
    workspace_id = Varchar(length=40, index=True)
    value = Varchar(length=320, index=True)  # "ada@example.com" or "@example.com"
    scope = Varchar(length=16)  # global, list, program
    scope_value = Varchar(length=100, default="")  # the list id or program name
    reason = Varchar(length=16)  # manual, hard_bounce, complaint, unsubscribe, invalid
    source = Varchar(length=32)
    message_id = Varchar(length=40, null=True, default=None)
    detail = Text(null=True, default=None)
    created_at = Float()  # epoch seconds
    changed_at = Float()  # the decision time of the latest change applied
    removed_at = Float(null=True, default=None)


class IdempotencyKey(Table, tablename="idempotency_keys"):
    """An ``Idempotency-Key`` a workspace used, and the first response it got."""

    id = Varchar(length=64, primary_key=True)  # hex SHA-256 of workspace id and key
    workspace_id = Varchar(length=40, index=True)
    key = Varchar(length=255)
    fingerprint = Varchar(length=64)  # hex SHA-256 of method, path and body
    state = Varchar(length=16)  # "in_flight" or "done"
    locked_until = Float()  # epoch seconds; an in-flight claim older than this was abandoned
    expires_at = Float(index=True)  # epoch seconds
    response_status = Integer(null=True, default=None)
    response_body = Text(null=True, default=None)


class RateBucket(Table, tablename="rate_buckets"):
    """A token bucket shared by every API process (see :mod:`tables.ratelimits`)."""

    id = Varchar(length=64, primary_key=True)  # what is limited, e.g. a key id
    tokens = Float()
    updated_at = Float()  # epoch seconds


ALL_TABLES: tuple[type[Table], ...] = (
    Plan,
    Workspace,
    ApiKey,
    Message,
    MessageEvent,
    IdempotencyKey,
    RateBucket,
    Suppression,
    MessageTag,
    WebhookEndpoint,
    WebhookAttempt,
)
