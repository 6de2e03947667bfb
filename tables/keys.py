"""Workspaces and their API keys.

A key reads ``hk_live_`` followed by 43 URL-safe base64 characters (32 random bytes). The
first :data:`PREFIX_LENGTH` of those characters are the key's non-secret lookup prefix (its
database row is found by them; its id is ``key_`` + prefix, so logs and lists can name a key
without revealing it). Only the hex SHA-256 of the whole key is stored, and it is compared in
constant time. The plaintext exists once: in the return value of :func:`create_key`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime

from tables.db import ApiKey, Workspace
from tables.errors import WorkspaceNotFound

KEY_SCHEME = "hk_live_"
PREFIX_LENGTH = 16
_KEY_SHAPE = re.compile(r"hk_live_[A-Za-z0-9_-]{43}")


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


async def create_key(workspace_id: str) -> str:
    """Create a key for the workspace and return it: the only time the plaintext exists."""
    if not await Workspace.exists().where(Workspace.id == workspace_id):
        raise WorkspaceNotFound(f"no workspace with id {workspace_id!r}")
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
        )
        inserted = await ApiKey.insert(row).on_conflict(action="DO NOTHING").returning(ApiKey.id)
        if inserted:  # a prefix collision (96 random bits) would insert nothing: draw again
            return token


async def authenticate(token: str) -> str | None:
    """The workspace id a valid, unrevoked key belongs to; None for anything else."""
    prefix = key_prefix(token)
    if prefix is None:
        return None
    row = (
        await ApiKey.select(ApiKey.workspace, ApiKey.key_hash, ApiKey.revoked_at)
        .where(ApiKey.prefix == prefix)
        .first()
    )
    if row is None or not hmac.compare_digest(str(row["key_hash"]), _hash(token)):
        return None
    if row["revoked_at"] is not None:
        return None
    return str(row["workspace"])


async def revoke_key(workspace_id: str, id_: str) -> bool:
    """Revoke a key of the workspace by its id; False if the workspace has no such live key."""
    revoked = (
        await ApiKey.update({ApiKey.revoked_at: datetime.now(UTC)})
        .where(
            (ApiKey.id == id_) & (ApiKey.workspace == workspace_id) & ApiKey.revoked_at.is_null()
        )
        .returning(ApiKey.id)
    )
    return bool(revoked)
