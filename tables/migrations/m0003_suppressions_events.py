"""Suppression entries, workspace tracking defaults, and the richer event schema (sequence
number, program, per-type detail)."""

from __future__ import annotations

from typing import Any

from piccolo.columns import JSON, Boolean, Float, Integer, Text, Varchar
from piccolo.columns.base import Column
from piccolo.engine.base import Engine
from piccolo.table import Table

from tables.migrations.m0001_initial import Message, MessageEvent, Workspace


class Suppression(Table, tablename="suppressions"):
    id = Varchar(length=40, primary_key=True)
    workspace_id = Varchar(length=40, index=True)
    value = Varchar(length=320, index=True)
    scope = Varchar(length=16)
    scope_value = Varchar(length=100, default="")
    reason = Varchar(length=16)
    source = Varchar(length=32)
    message_id = Varchar(length=40, null=True, default=None)
    detail = Text(null=True, default=None)
    created_at = Float()
    changed_at = Float()
    removed_at = Float(null=True, default=None)


NEW_TABLES: tuple[type[Table], ...] = (Suppression,)

NEW_COLUMNS: tuple[tuple[type[Table], str, Column], ...] = (
    (Workspace, "track_opens", Boolean(default=False)),
    (Workspace, "track_clicks", Boolean(default=False)),
    (Message, "program", Varchar(length=64, default="transactional")),
    (MessageEvent, "seq", Integer(default=0)),
    (MessageEvent, "program", Varchar(length=64, default="transactional")),
    (MessageEvent, "detail", JSON(default={})),
)


async def forwards(engine: Engine[Any]) -> None:
    statements: list[str] = []
    for table in NEW_TABLES:
        table._meta.db = engine
        statements += table.create_table(if_not_exists=True).ddl
    for table, name, column in NEW_COLUMNS:
        table._meta.db = engine
        statements += table.alter().add_column(name, column).ddl
    for ddl in statements:
        await engine.run_ddl(ddl)
