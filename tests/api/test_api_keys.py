"""/v1/api-keys and what a key may do: secrets shown once, scopes, rotation, revocation,
allowlists, and the workspace's view of its own limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from api.auth import KEY_CACHE_SECONDS
from tables.db import ApiKey, IdempotencyKey
from tests.api.support import MISSING_MESSAGE, Tenant, bearer
from tests.support.seed import SEED


def problem_kind(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json")
    return str(response.json()["type"]).rsplit("/", 1)[-1]


async def create(client: AsyncTestClient[Any], tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/api-keys", json=body, headers=tenant.auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_a_new_key_is_shown_once_and_works_at_once(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    created = await create(client, tenant, name="billing service")

    assert created["key"].startswith("hk_live_")
    assert created["name"] == "billing service"
    assert created["scopes"] == ["full"]
    assert created["status"] == "active"
    assert (await client.get(MISSING_MESSAGE, headers=bearer(created["key"]))).status_code == 404

    listed = (await client.get("/v1/api-keys", headers=tenant.auth)).json()
    one = (await client.get(f"/v1/api-keys/{created['id']}", headers=tenant.auth)).json()
    assert created["id"] in [k["id"] for k in listed["data"]]
    assert created["key"] not in str(listed) and created["key"] not in str(one)
    assert "key" not in one
    stored = " ".join(str(v) for row in await ApiKey.select() for v in row.values())
    assert created["key"] not in stored


async def test_scopes_limit_what_a_key_may_do(client: AsyncTestClient[Any], tenant: Tenant) -> None:
    send_only = bearer((await create(client, tenant, scopes=["send"]))["key"])
    read_only = bearer((await create(client, tenant, scopes=["read"]))["key"])

    assert (await client.post("/v1/emails", json=SEED, headers=send_only)).status_code == 202
    refused = await client.get(MISSING_MESSAGE, headers=send_only)
    assert refused.status_code == 403 and problem_kind(refused) == "insufficient-scope"
    assert (await client.get("/v1/api-keys", headers=send_only)).status_code == 403

    assert (await client.get(MISSING_MESSAGE, headers=read_only)).status_code == 404
    assert (await client.get("/v1/workspace", headers=read_only)).status_code == 200
    assert (await client.post("/v1/emails", json=SEED, headers=read_only)).status_code == 403
    assert (await client.post("/v1/api-keys", json={}, headers=read_only)).status_code == 403


async def test_a_rotated_key_works_during_the_overlap_then_gets_401(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    old = await create(client, tenant)
    response = await client.post(
        f"/v1/api-keys/{old['id']}/rotate", json={"expires_in": 1}, headers=tenant.auth
    )
    assert response.status_code == 201, response.text
    rotated = response.json()
    new_key = rotated["key"]["key"]

    assert rotated["previous"]["id"] == old["id"]
    assert rotated["previous"]["status"] == "expiring"
    assert rotated["previous"]["replaced_by"] == rotated["key"]["id"]
    assert (await client.get(MISSING_MESSAGE, headers=bearer(old["key"]))).status_code == 404
    assert (await client.get(MISSING_MESSAGE, headers=bearer(new_key))).status_code == 404

    started = time.monotonic()
    while (await client.get(MISSING_MESSAGE, headers=bearer(old["key"]))).status_code != 401:
        assert time.monotonic() - started < 3.0, "the rotated key still works after its expiry"
        await asyncio.sleep(0.05)
    assert time.monotonic() - started > 0.5  # it did work during the overlap
    assert (await client.get(MISSING_MESSAGE, headers=bearer(new_key))).status_code == 404
    again = await client.post(f"/v1/api-keys/{old['id']}/rotate", json={}, headers=tenant.auth)
    assert again.status_code == 404  # expired: nothing left to rotate


async def test_rotation_keeps_the_old_key_for_24_hours_by_default(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    old = await create(client, tenant, scopes=["send", "read"], allowed_ips=["10.0.0.0/8"])

    rotated = (await client.post(f"/v1/api-keys/{old['id']}/rotate", headers=tenant.auth)).json()

    expires = datetime.fromisoformat(rotated["previous"]["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=1)
    assert rotated["key"]["scopes"] == ["send", "read"]
    assert rotated["key"]["allowed_ips"] == ["10.0.0.0/8"]
    twice = await client.post(f"/v1/api-keys/{old['id']}/rotate", headers=tenant.auth)
    assert twice.status_code == 409 and problem_kind(twice) == "key-already-rotated"


async def test_a_revoked_key_gets_401_within_a_second(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    doomed = await create(client, tenant)
    assert (await client.get(MISSING_MESSAGE, headers=bearer(doomed["key"]))).status_code == 404

    revoked = await client.delete(f"/v1/api-keys/{doomed['id']}", headers=tenant.auth)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    started = time.monotonic()
    while (await client.get(MISSING_MESSAGE, headers=bearer(doomed["key"]))).status_code != 401:
        assert time.monotonic() - started < KEY_CACHE_SECONDS + 0.5, "still accepted"
        await asyncio.sleep(0.05)
    again = await client.delete(f"/v1/api-keys/{doomed['id']}", headers=tenant.auth)
    assert again.status_code == 200  # revoking twice is harmless


async def test_another_workspaces_keys_are_404(
    client: AsyncTestClient[Any],
    tenant: Tenant,
    make_tenant: Callable[[str], Awaitable[Tenant]],
) -> None:
    other = await make_tenant("globex")
    theirs = await create(client, other)

    for method, path in [
        ("GET", f"/v1/api-keys/{theirs['id']}"),
        ("POST", f"/v1/api-keys/{theirs['id']}/rotate"),
        ("DELETE", f"/v1/api-keys/{theirs['id']}"),
    ]:
        response = await client.request(method, path, headers=tenant.auth)
        assert response.status_code == 404, (method, path)
    mine = (await client.get("/v1/api-keys", headers=tenant.auth)).json()["data"]
    assert theirs["id"] not in [k["id"] for k in mine]
    assert (await client.get(MISSING_MESSAGE, headers=bearer(theirs["key"]))).status_code == 404


async def test_a_key_used_from_outside_its_allowlist_is_403(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    fenced = await create(client, tenant, allowed_ips=["10.0.0.0/8", "2001:db8::/32"])

    response = await client.get(MISSING_MESSAGE, headers=bearer(fenced["key"]))

    assert response.status_code == 403 and problem_kind(response) == "ip-not-allowed"


async def test_bad_key_requests_are_422_naming_the_fields_and_create_nothing(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    before = await ApiKey.count()
    for body, field in [
        ({"allowed_ips": ["10.0.0.0/8", "not-an-ip"]}, "allowed_ips[1]"),
        ({"scopes": ["admin"]}, "scopes[0]"),
        ({"scopes": []}, "scopes"),
        ({"name": "a\nb"}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"owner": "me"}, "owner"),
    ]:
        response = await client.post("/v1/api-keys", json=body, headers=tenant.auth)
        assert response.status_code == 422, (body, response.text)
        assert [e["field"] for e in response.json()["errors"]] == [field], body
    assert await ApiKey.count() == before


async def test_the_workspace_shows_its_limits(client: AsyncTestClient[Any], tenant: Tenant) -> None:
    response = await client.get("/v1/workspace", headers=tenant.auth)

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == tenant.workspace_id and body["name"] == "acme"
    assert body["plan"] is None
    assert body["limits"]["key_burst"] > 0


async def test_a_repeated_key_creation_makes_one_key_and_never_stores_its_secret(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    headers = {**tenant.auth, "Idempotency-Key": "create-ci-key-1"}
    first = await client.post("/v1/api-keys", json={"name": "ci"}, headers=headers)
    before = await ApiKey.count()
    again = await client.post("/v1/api-keys", json={"name": "ci"}, headers=headers)
    other = await client.post("/v1/api-keys", json={"name": "cd"}, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == {**first.json(), "key": None}
    assert await ApiKey.count() == before
    assert other.status_code == 422
    secret = first.json()["key"]
    stored = " ".join(str(v) for row in await IdempotencyKey.select() for v in row.values())
    assert secret not in stored and first.json()["id"] in stored
