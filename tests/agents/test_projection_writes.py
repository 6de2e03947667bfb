"""The worker's projections writing their first batches at the same moment, as they do when
a worker starts with records waiting: every batch lands at once, none waits on the lock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from agents import database as agent_database
from config.settings import Settings
from streams.records import WebhookAttempt, WebhookEndpoint
from tables import database, webhooks
from tables.db import ALL_TABLES

WS = "ws_acme"
T0 = 1_760_000_000.0


@pytest.fixture
async def unbound(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Settings]:
    """A migrated SQLite database the process has not bound its tables to yet; a writer
    waiting on the lock gives up after a second instead of thirty."""
    await database.migrate(sqlite_settings)
    monkeypatch.setattr(agent_database, "_connected", set())
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT", 1.0)
    yield sqlite_settings
    await database.close(ALL_TABLES[0]._meta.db)


def endpoint(n: int) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=f"wh_{n:026d}",
        workspace_id=WS,
        url=f"https://hooks{n}.example.com/",
        secrets=(),
        created_at=T0,
        changed_at=T0,
    )


def attempt(n: int) -> WebhookAttempt:
    return WebhookAttempt(
        endpoint_id=endpoint(n).id,
        workspace_id=WS,
        event_ids=(f"evt_{n}",),
        attempt=1,
        at=T0,
        outcome="failed",
        status=500,
    )


async def test_first_batches_of_several_projections_land_without_waiting_on_the_lock(
    unbound: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=agent_database.__name__)
    writes = [
        agent_database.write_until_done(unbound, webhooks.apply_endpoints, [endpoint(n)])
        for n in range(3)
    ] + [
        agent_database.write_until_done(unbound, webhooks.record_attempts, [attempt(n)])
        for n in range(3)
    ]
    await asyncio.gather(*writes)

    assert [r.getMessage() for r in caplog.records] == []
    for n in range(3):
        assert await webhooks.get_endpoint(WS, endpoint(n).id) is not None
        found, _ = await webhooks.list_attempts(WS, endpoint(n).id, limit=10)
        assert len(found) == 1
