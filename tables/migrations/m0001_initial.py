"""Workspaces, API keys, messages and their event timelines."""

from __future__ import annotations

from typing import Any

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
from piccolo.engine.base import Engine
from piccolo.table import Table


class Workspace(Table, tablename="workspaces"):
    id = Varchar(length=40, primary_key=True)
    name = Varchar(length=200, unique=True)
    created_at = Timestamptz()


class ApiKey(Table, tablename="api_keys"):
    id = Varchar(length=40, primary_key=True)
    workspace = ForeignKey(references=Workspace, null=False)
    prefix = Varchar(length=32, unique=True)
    key_hash = Varchar(length=64)
    created_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)


class Message(Table, tablename="messages"):
    id = Varchar(length=40, primary_key=True)
    workspace_id = Varchar(length=40, index=True)
    request_id = Varchar(length=40, index=True, null=True, default=None)
    sender = Text()
    recipient = Text()
    subject = Text()
    tags = JSON(default=[])
    status = Varchar(length=16)
    status_rank = Integer(default=0)
    has_summary = Boolean(default=False)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class MessageEvent(Table, tablename="message_events"):
    id = Varchar(length=40, primary_key=True)
    message_id = Varchar(length=40, index=True)
    workspace_id = Varchar(length=40, index=True)
    type = Varchar(length=16)
    at = Float()
    attempt = Integer(default=0)
    smtp_code = Integer(null=True, default=None)
    enhanced_code = Varchar(length=16, null=True, default=None)
    reply = Text(null=True, default=None)
    possible_duplicate = Boolean(default=False)


TABLES: tuple[type[Table], ...] = (Workspace, ApiKey, Message, MessageEvent)


async def forwards(engine: Engine[Any]) -> None:
    for table in TABLES:
        # Piccolo writes DDL for the engine a table is bound to; take the statements at once
        # and run them on the engine given, which may be in a transaction of its own.
        table._meta.db = engine
        statements = list(table.create_table(if_not_exists=True).ddl)
        for ddl in statements:
            await engine.run_ddl(ddl)
