"""API keys: what a client holding a key, or a stolen database dump, would notice."""

from __future__ import annotations

import hashlib
import secrets

import pytest

from config.settings import Settings
from herald.db_cli import create_key_command
from tables import database, keys
from tables.db import ApiKey, Workspace
from tables.errors import WorkspaceNotFound


async def test_created_key_authenticates_to_its_workspace(db: Settings) -> None:
    workspace = await keys.create_workspace("acme")
    token = await keys.create_key(workspace)

    assert token.startswith("hk_live_")
    assert len(token) == len("hk_live_") + 43
    assert await keys.authenticate(token) == workspace


async def test_each_workspace_gets_its_own_keys(db: Settings) -> None:
    acme = await keys.create_workspace("acme")
    globex = await keys.create_workspace("globex")
    first, second = await keys.create_key(acme), await keys.create_key(acme)
    other = await keys.create_key(globex)

    assert acme != globex
    assert first != second
    assert await keys.authenticate(first) == acme
    assert await keys.authenticate(second) == acme
    assert await keys.authenticate(other) == globex


async def test_creating_a_workspace_twice_returns_the_same_one(db: Settings) -> None:
    first = await keys.create_workspace("acme")
    again = await keys.create_workspace("acme")

    assert first == again
    assert first.startswith("ws_")
    assert await Workspace.count() == 1


async def test_wrong_key_with_a_known_prefix_is_refused(db: Settings) -> None:
    token = await keys.create_key(await keys.create_workspace("acme"))
    last = token[-1]
    forged = token[:-1] + ("A" if last != "A" else "B")

    assert await keys.authenticate(forged) is None


async def test_well_formed_unknown_key_is_refused(db: Settings) -> None:
    await keys.create_key(await keys.create_workspace("acme"))

    assert await keys.authenticate("hk_live_" + secrets.token_urlsafe(32)) is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "hk_live_",
        "hk_test_" + "a" * 43,
        "hk_live_" + "a" * 42,
        "hk_live_" + "a" * 44,
        "hk_live_" + "a" * 42 + "=",
        "hk_live_" + "é" * 43,
        "Bearer hk_live_" + "a" * 43,
        "hk_live_" + "a" * 43 + "\n",
    ],
)
async def test_malformed_tokens_are_refused(db: Settings, token: str) -> None:
    await keys.create_key(await keys.create_workspace("acme"))

    assert await keys.authenticate(token) is None


async def test_revoked_key_is_refused(db: Settings) -> None:
    workspace = await keys.create_workspace("acme")
    revoked = await keys.create_key(workspace)
    kept = await keys.create_key(workspace)
    revoked_id = keys.key_id(revoked)
    assert revoked_id is not None

    assert await keys.revoke_key("ws_someone_else", revoked_id) is False
    assert await keys.authenticate(revoked) == workspace
    assert await keys.revoke_key(workspace, revoked_id) is True

    assert await keys.authenticate(revoked) is None
    assert await keys.authenticate(kept) == workspace
    assert await keys.revoke_key(workspace, revoked_id) is False


async def test_database_holds_no_plaintext_key(db: Settings) -> None:
    token = await keys.create_key(await keys.create_workspace("acme"))
    secret_part = token[len("hk_live_") + keys.PREFIX_LENGTH :]

    rows = await ApiKey.select()
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0].values())
    assert token not in stored
    assert secret_part not in stored
    assert rows[0]["key_hash"] == hashlib.sha256(token.encode()).hexdigest()


async def test_key_for_a_missing_workspace_is_an_error(db: Settings) -> None:
    with pytest.raises(WorkspaceNotFound):
        await keys.create_key("ws_does_not_exist")


async def test_keys_create_command_migrates_and_returns_a_working_key(
    empty_database: Settings,
) -> None:
    token = await create_key_command(empty_database, "acme")
    again = await create_key_command(empty_database, "acme")

    engine = await database.connect(empty_database)
    try:
        workspace = await keys.create_workspace("acme")
        assert await keys.authenticate(token) == workspace
        assert await keys.authenticate(again) == workspace
        assert await Workspace.count() == 1
    finally:
        await database.close(engine)
