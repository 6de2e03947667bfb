"""Events API filters (recipient and tags on events, one row per message tag, an index by
workspace and time) and webhook endpoints with their delivery attempts."""

from __future__ import annotations

from typing import Any

from piccolo.columns import JSON, Boolean, Float, Integer, Text, Varchar
from piccolo.columns.base import Column
from piccolo.engine.base import Engine
from piccolo.table import Table

from tables.migrations.m0001_initial import MessageEvent


class MessageTag(Table, tablename="message_tags"):
    id = Varchar(length=64, primary_key=True)
    workspace_id = Varchar(length=40, index=True)
    message_id = Varchar(length=40, index=True)
    tag = Varchar(length=100, index=True)


class WebhookEndpoint(Table, tablename="webhook_endpoints"):
    id = Varchar(length=40, primary_key=True)
    workspace_id = Varchar(length=40, index=True)
    url = Text()
    description = Text(default="")
    event_types = JSON(default=[])
    tags = JSON(default=[])
    programs = JSON(default=[])
    enabled = Boolean(default=True)
    disabled_reason = Varchar(length=16, null=True, default=None)
    batch_size = Integer(default=1)
    secrets = JSON(default=[])
    created_at = Float()
    changed_at = Float()
    deleted = Boolean(default=False)


class WebhookAttempt(Table, tablename="webhook_attempts"):
    id = Varchar(length=64, primary_key=True)
    endpoint_id = Varchar(length=40, index=True)
    workspace_id = Varchar(length=40, index=True)
    event_ids = JSON(default=[])
    attempt = Integer()
    at = Float(index=True)
    outcome = Varchar(length=16)
    status = Integer(null=True, default=None)
    latency_ms = Float(null=True, default=None)
    response = Text(null=True, default=None)
    error = Text(null=True, default=None)
    next_attempt_at = Float(null=True, default=None)


NEW_TABLES: tuple[type[Table], ...] = (MessageTag, WebhookEndpoint, WebhookAttempt)

NEW_COLUMNS: tuple[tuple[type[Table], str, Column], ...] = (
    (MessageEvent, "recipient", Text(default="")),
    (MessageEvent, "tags", JSON(default=[])),
)

# Listing a workspace's events by time, newest or oldest first, is the Events API's main read.
INDEXES = (
    "CREATE INDEX IF NOT EXISTS message_events_workspace_at "
    "ON message_events (workspace_id, at, id)",
    "CREATE INDEX IF NOT EXISTS webhook_attempts_endpoint_at "
    "ON webhook_attempts (endpoint_id, at, id)",
)

# Events recorded before this migration learn their message's recipient and tags.
BACKFILL = (
    "UPDATE message_events SET recipient = COALESCE((SELECT m.recipient FROM messages m "
    "WHERE m.id = message_events.message_id), '')",
)


async def forwards(engine: Engine[Any]) -> None:
    statements: list[str] = []
    for table in NEW_TABLES:
        table._meta.db = engine
        statements += table.create_table(if_not_exists=True).ddl
    for table, name, column in NEW_COLUMNS:
        table._meta.db = engine
        statements += table.alter().add_column(name, column).ddl
    for ddl in [*statements, *INDEXES, *BACKFILL]:
        await engine.run_ddl(ddl)
