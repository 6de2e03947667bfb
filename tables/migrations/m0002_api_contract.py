"""Plans, key scopes/allowlists/expiry, idempotency keys and shared rate-limit buckets."""

from __future__ import annotations

from typing import Any

from piccolo.columns import JSON, Float, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import Column
from piccolo.engine.base import Engine
from piccolo.table import Table

from tables.migrations.m0001_initial import ApiKey, Workspace


class Plan(Table, tablename="plans"):
    name = Varchar(length=40, primary_key=True)
    key_rate = Float()
    key_burst = Integer()
    send_rate = Float()
    send_burst = Integer()
    created_at = Timestamptz()


class IdempotencyKey(Table, tablename="idempotency_keys"):
    id = Varchar(length=64, primary_key=True)
    workspace_id = Varchar(length=40, index=True)
    key = Varchar(length=255)
    fingerprint = Varchar(length=64)
    state = Varchar(length=16)
    locked_until = Float()
    expires_at = Float(index=True)
    response_status = Integer(null=True, default=None)
    response_body = Text(null=True, default=None)


class RateBucket(Table, tablename="rate_buckets"):
    id = Varchar(length=64, primary_key=True)
    tokens = Float()
    updated_at = Float()


NEW_TABLES: tuple[type[Table], ...] = (Plan, IdempotencyKey, RateBucket)

NEW_COLUMNS: tuple[tuple[type[Table], str, Column], ...] = (
    (Workspace, "plan", Varchar(length=40, null=True, default=None)),
    (ApiKey, "name", Varchar(length=100, default="")),
    (ApiKey, "scopes", JSON(default=["full"])),
    (ApiKey, "allowed_ips", JSON(default=[])),
    (ApiKey, "expires_at", Timestamptz(null=True, default=None)),
    (ApiKey, "replaced_by", Varchar(length=40, null=True, default=None)),
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
