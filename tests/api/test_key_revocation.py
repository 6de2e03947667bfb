"""A revoked key stops working within the API's key cache lifetime (one second)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from litestar.testing import AsyncTestClient

from api.auth import KEY_CACHE_SECONDS
from tables import keys
from tests.api.support import Tenant


async def test_a_revoked_key_gets_401_within_the_cache_lifetime(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    missing = "/v1/messages/msg_00000000000000000000000000"
    assert (await client.get(missing, headers=tenant.auth)).status_code == 404  # key works
    key_id = keys.key_id(tenant.key)
    assert key_id is not None
    assert await keys.revoke_key(tenant.workspace_id, key_id)

    revoked_at = time.monotonic()
    while (await client.get(missing, headers=tenant.auth)).status_code != 401:
        assert time.monotonic() - revoked_at < KEY_CACHE_SECONDS + 1.0, "still accepted"
        await asyncio.sleep(0.05)
