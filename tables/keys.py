"""Workspaces and their API keys.

A key reads ``hk_live_`` followed by 43 URL-safe base64 characters (32 random bytes). The
first :data:`PREFIX_LENGTH` of those characters are the key's non-secret lookup prefix (its
database row is found by them; its id is ``key_`` + prefix, so logs and lists can name a key
without revealing it). Only the hex SHA-256 of the whole key is stored, and it is compared in
constant time. The plaintext exists once: in the return value of :func:`create_key` or
:func:`rotate_key`.

A key has scopes (``full``, ``send``, ``read``), an optional IP allowlist (CIDRs), and once
rotated an expiry: it keeps working until ``expires_at``, then stops like a revoked key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

from tables.db import ApiKey, Workspace
from tables.errors import KeyAlreadyRotated, KeyLimitReached, WorkspaceNotFound

KEY_SCHEME = "hk_live_"
PREFIX_LENGTH = 16
MAX_LIVE_KEYS = 100  # per workspace: creating keys in a loop must not grow the table forever
_KEY_SHAPE = re.compile(r"hk_live_[A-Za-z0-9_-]{43}")

Scope = Literal["full", "send", "read"]
SCOPES: tuple[Scope, ...] = ("full", "send", "read")


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A key as lists show it: everything but the secret."""

    id: str
    workspace_id: str
    name: str
    scopes: tuple[str, ...]
    allowed_ips: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    replaced_by: str | None

    def live(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def key_prefix(token: str) -> str | None:
    """The lookup prefix of a token, or None if the token is not shaped like a Herald key."""
    if _KEY_SHAPE.fullmatch(token) is None:
        return None
    return token[len(KEY_SCHEME) : len(KEY_SCHEME) + PREFIX_LENGTH]


def key_id(token: str) -> str | None:
    """The id of the key a token would be (``key_`` + prefix), or None if it is malformed."""
    prefix = key_prefix(token)
    return None if prefix is None else "key_" + prefix


async def create_workspace(name: str) -> str:
    """Return the id of the workspace called ``name``, creating it if there is none."""
    existing = await Workspace.select(Workspace.id).where(Workspace.name == name).first()
    if existing is not None:
        return str(existing["id"])
    row = Workspace(id="ws_" + secrets.token_hex(12), name=name, created_at=datetime.now(UTC))
    await Workspace.insert(row).on_conflict(target=Workspace.name, action="DO NOTHING")
    # Someone else may have created it in between: read back whichever row won.
    created = await Workspace.select(Workspace.id).where(Workspace.name == name).first()
    if created is None:  # only if it was deleted in the same instant
        raise WorkspaceNotFound(f"workspace {name!r} vanished while being created")
    return str(created["id"])


async def create_key(
    workspace_id: str,
    *,
    name: str = "",
    scopes: Sequence[str] = ("full",),
    allowed_ips: Sequence[str] = (),
) -> tuple[KeyRecord, str]:
    """Create a key for the workspace; return it and its plaintext (the only time it exists)."""
    if not await Workspace.exists().where(Workspace.id == workspace_id):
        raise WorkspaceNotFound(f"no workspace with id {workspace_id!r}")
    if await _live_count(workspace_id) >= MAX_LIVE_KEYS:
        raise KeyLimitReached(f"a workspace has at most {MAX_LIVE_KEYS} live keys")
    while True:
        token = KEY_SCHEME + secrets.token_urlsafe(32)
        prefix = key_prefix(token)
        if prefix is None:  # token_urlsafe(32) is always 43 characters; be sure anyway
            continue
        row = ApiKey(
            id="key_" + prefix,
            workspace=workspace_id,
            prefix=prefix,
            key_hash=_hash(token),
            created_at=datetime.now(UTC),
            name=name,
            scopes=list(dict.fromkeys(scopes)),
            allowed_ips=list(allowed_ips),
        )
        inserted = await ApiKey.insert(row).on_conflict(action="DO NOTHING").returning(ApiKey.id)
        if inserted:  # a prefix collision (96 random bits) would insert nothing: draw again
            record = await get_key(workspace_id, row.id)
            assert record is not None  # noqa: S101 (just inserted)
            return record, token


@dataclass(frozen=True, slots=True)
class Grant:
    """What a valid key allows: who it is, what it may do, from where, until when."""

    key_id: str
    workspace_id: str
    scopes: tuple[str, ...]
    allowed_ips: tuple[str, ...]
    expires_at: datetime | None


async def authenticate(token: str) -> Grant | None:
    """The grant of a valid, unrevoked, unexpired key; None for anything else."""
    prefix = key_prefix(token)
    if prefix is None:
        return None
    row = await ApiKey.select(*_COLUMNS, ApiKey.key_hash).where(ApiKey.prefix == prefix).first()
    if row is None or not hmac.compare_digest(str(row["key_hash"]), _hash(token)):
        return None
    record = _record(row)
    if not record.live(datetime.now(UTC)):
        return None
    return Grant(
        record.id, record.workspace_id, record.scopes, record.allowed_ips, record.expires_at
    )


async def get_key(workspace_id: str, id_: str) -> KeyRecord | None:
    row = (
        await ApiKey.select(*_COLUMNS)
        .where((ApiKey.id == id_) & (ApiKey.workspace == workspace_id))
        .first()
    )
    return None if row is None else _record(row)


async def list_keys(
    workspace_id: str, *, limit: int, before: str | None = None
) -> tuple[list[KeyRecord], bool]:
    """The workspace's keys, newest first, ``limit`` at most, starting after the key id
    ``before`` (the last one of the previous page); and whether there are more."""
    query = ApiKey.select(*_COLUMNS).where(ApiKey.workspace == workspace_id)
    if before is not None:
        anchor = await get_key(workspace_id, before)
        if anchor is None:
            return [], False
        query = query.where(
            (ApiKey.created_at < anchor.created_at)
            | ((ApiKey.created_at == anchor.created_at) & (ApiKey.id < anchor.id))
        )
    rows = await query.order_by(ApiKey.created_at, ApiKey.id, ascending=False).limit(limit + 1)
    return [_record(row) for row in rows[:limit]], len(rows) > limit


async def rotate_key(
    workspace_id: str, id_: str, *, overlap: timedelta
) -> tuple[KeyRecord, KeyRecord, str] | None:
    """Replace a live key: a new key with the same name, scopes and allowlist, while the old
    one keeps working for ``overlap``. Returns (old, new, new plaintext); None if the workspace
    has no such live key. A key already rotated out cannot be rotated again."""
    old = await get_key(workspace_id, id_)
    now = datetime.now(UTC)
    if old is None or not old.live(now):
        return None
    if old.replaced_by is not None:
        raise KeyAlreadyRotated(f"key {id_} was already rotated; rotate {old.replaced_by}")
    new, token = await create_key(
        workspace_id, name=old.name, scopes=old.scopes, allowed_ips=old.allowed_ips
    )
    claimed = (
        await ApiKey.update({ApiKey.expires_at: now + overlap, ApiKey.replaced_by: new.id})
        .where((ApiKey.id == id_) & (ApiKey.workspace == workspace_id))
        .where(ApiKey.replaced_by.is_null())
        .returning(ApiKey.id)
    )
    if not claimed:  # a concurrent rotation won: withdraw ours
        await revoke_key(workspace_id, new.id)
        raise KeyAlreadyRotated(f"key {id_} was rotated by another request just now")
    rotated = await get_key(workspace_id, id_)
    assert rotated is not None  # noqa: S101 (keys are never deleted)
    return rotated, new, token


async def revoke_key(workspace_id: str, id_: str) -> KeyRecord | None:
    """Revoke a key of the workspace by its id (again: no change); None if it has no such key."""
    await ApiKey.update({ApiKey.revoked_at: datetime.now(UTC)}).where(
        (ApiKey.id == id_) & (ApiKey.workspace == workspace_id) & ApiKey.revoked_at.is_null()
    )
    return await get_key(workspace_id, id_)


_COLUMNS = (
    ApiKey.id,
    ApiKey.workspace,
    ApiKey.name,
    ApiKey.scopes,
    ApiKey.allowed_ips,
    ApiKey.created_at,
    ApiKey.expires_at,
    ApiKey.revoked_at,
    ApiKey.replaced_by,
)


async def _live_count(workspace_id: str) -> int:
    now = datetime.now(UTC)
    count: int = await ApiKey.count().where(
        (ApiKey.workspace == workspace_id)
        & ApiKey.revoked_at.is_null()
        & (ApiKey.expires_at.is_null() | (ApiKey.expires_at > now))
    )
    return count


def _record(row: dict[str, Any]) -> KeyRecord:
    return KeyRecord(
        id=row["id"],
        workspace_id=row["workspace"],
        name=row["name"],
        scopes=tuple(_json_list(row["scopes"])),
        allowed_ips=tuple(_json_list(row["allowed_ips"])),
        created_at=_utc(row["created_at"]),
        expires_at=_utc(row["expires_at"]) if row["expires_at"] else None,
        revoked_at=_utc(row["revoked_at"]) if row["revoked_at"] else None,
        replaced_by=row["replaced_by"],
    )


def _json_list(value: Any) -> list[str]:
    # Piccolo returns JSON columns as text on both engines.
    loaded = orjson.loads(value) if isinstance(value, str | bytes) else value
    return [str(v) for v in loaded]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
