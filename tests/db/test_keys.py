"""API keys: what a client holding a key, or a stolen database dump, would notice."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from config.settings import Settings
from herald.db_cli import create_key_command
from tables import database, keys
from tables.db import ApiKey, Workspace
from tables.errors import KeyAlreadyRotated, KeyLimitReached, WorkspaceNotFound


async def new_key(workspace_id: str, **options: object) -> str:
    _, token = await keys.create_key(workspace_id, **options)  # type: ignore[arg-type]
    return token


async def workspace_of(token: str) -> str | None:
    grant = await keys.authenticate(token)
    return None if grant is None else grant.workspace_id


async def test_created_key_authenticates_to_its_workspace(db: Settings) -> None:
    workspace = await keys.create_workspace("acme")
    token = await new_key(workspace)

    assert token.startswith("hk_live_")
    assert len(token) == len("hk_live_") + 43
    assert await workspace_of(token) == workspace


async def test_each_workspace_gets_its_own_keys(db: Settings) -> None:
    acme = await keys.create_workspace("acme")
    globex = await keys.create_workspace("globex")
    first, second = await new_key(acme), await new_key(acme)
    other = await new_key(globex)

    assert acme != globex
    assert first != second
    assert await workspace_of(first) == acme
    assert await workspace_of(second) == acme
    assert await workspace_of(other) == globex


async def test_creating_a_workspace_twice_returns_the_same_one(db: Settings) -> None:
    first = await keys.create_workspace("acme")
    again = await keys.create_workspace("acme")

    assert first == again
    assert first.startswith("ws_")
    assert await Workspace.count() == 1


async def test_wrong_key_with_a_known_prefix_is_refused(db: Settings) -> None:
    token = await new_key(await keys.create_workspace("acme"))
    last = token[-1]
    forged = token[:-1] + ("A" if last != "A" else "B")

    assert await keys.authenticate(forged) is None


async def test_well_formed_unknown_key_is_refused(db: Settings) -> None:
    await new_key(await keys.create_workspace("acme"))

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
    await new_key(await keys.create_workspace("acme"))

    assert await keys.authenticate(token) is None


async def test_revoked_key_is_refused(db: Settings) -> None:
    workspace = await keys.create_workspace("acme")
    revoked = await new_key(workspace)
    kept = await new_key(workspace)
    revoked_id = keys.key_id(revoked)
    assert revoked_id is not None

    assert await keys.revoke_key("ws_someone_else", revoked_id) is None
    assert await workspace_of(revoked) == workspace
    first = await keys.revoke_key(workspace, revoked_id)
    assert first is not None and first.revoked_at is not None

    assert await keys.authenticate(revoked) is None
    assert await workspace_of(kept) == workspace
    again = await keys.revoke_key(workspace, revoked_id)  # revoking twice changes nothing
    assert again is not None and again.revoked_at == first.revoked_at


async def test_database_holds_no_plaintext_key(db: Settings) -> None:
    token = await new_key(await keys.create_workspace("acme"))
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
        assert await workspace_of(token) == workspace
        assert await workspace_of(again) == workspace
        assert await Workspace.count() == 1
    finally:
        await database.close(engine)


async def test_a_rotated_key_works_until_its_expiry_and_the_new_one_at_once(db: Settings) -> None:
    workspace = await keys.create_workspace("acme")
    old_record, old = await keys.create_key(workspace, name="ci", scopes=["send"])

    rotated = await keys.rotate_key(workspace, old_record.id, overlap=timedelta(hours=1))
    assert rotated is not None
    previous, new_record, new = rotated

    assert new != old
    assert new_record.name == "ci" and new_record.scopes == ("send",)
    assert previous.replaced_by == new_record.id
    assert previous.expires_at is not None
    assert previous.expires_at - datetime.now(UTC) > timedelta(minutes=59)
    assert await workspace_of(old) == workspace
    assert await workspace_of(new) == workspace
    with pytest.raises(KeyAlreadyRotated):
        await keys.rotate_key(workspace, old_record.id, overlap=timedelta(hours=1))


async def test_a_key_rotated_with_no_overlap_stops_at_once(db: Settings) -> None:
    workspace = await keys.create_workspace("acme")
    record, old = await keys.create_key(workspace)

    assert await keys.rotate_key(workspace, record.id, overlap=timedelta(0)) is not None

    assert await keys.authenticate(old) is None


async def test_another_workspace_cannot_rotate_or_read_a_key(db: Settings) -> None:
    acme = await keys.create_workspace("acme")
    globex = await keys.create_workspace("globex")
    record, token = await keys.create_key(acme)

    assert await keys.rotate_key(globex, record.id, overlap=timedelta(0)) is None
    assert await keys.get_key(globex, record.id) is None
    assert await workspace_of(token) == acme


async def test_scopes_and_allowlist_come_back_with_the_grant(db: Settings) -> None:
    workspace = await keys.create_workspace("acme")
    _, token = await keys.create_key(workspace, scopes=["read", "send"], allowed_ips=["10.0.0.0/8"])

    grant = await keys.authenticate(token)
    assert grant is not None
    assert grant.scopes == ("read", "send")
    assert grant.allowed_ips == ("10.0.0.0/8",)


async def test_a_workspace_has_a_bounded_number_of_live_keys(db: Settings) -> None:
    workspace = await keys.create_workspace("acme")
    for _ in range(keys.MAX_LIVE_KEYS):
        await keys.create_key(workspace)

    with pytest.raises(KeyLimitReached):
        await keys.create_key(workspace)
    listed, more = await keys.list_keys(workspace, limit=keys.MAX_LIVE_KEYS)
    first_page, more_first = await keys.list_keys(workspace, limit=60)
    second_page, more_second = await keys.list_keys(workspace, limit=60, before=first_page[-1].id)
    assert len(listed) == keys.MAX_LIVE_KEYS and not more
    assert more_first and not more_second
    assert {k.id for k in first_page + second_page} == {k.id for k in listed}
    await keys.revoke_key(workspace, listed[0].id)
    await keys.create_key(workspace)  # a revoked key frees its place
