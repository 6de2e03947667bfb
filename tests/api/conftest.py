"""Fixtures for the HTTP API: a real SQLite database in a temporary directory, a workspace
with a key, the in-memory producer, and a client talking to the app in process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.producer import MemorySendProducer
from config.settings import Settings, load_settings
from tables import database, keys
from tests.api.support import MAX_BODY_BYTES, Tenant


@pytest.fixture
async def settings(tmp_path: Path) -> Settings:
    settings = load_settings(
        data_dir=tmp_path, database_url=None, max_body_bytes=MAX_BODY_BYTES, max_recipients=5
    )
    await database.migrate(settings)
    return settings


@pytest.fixture
async def make_tenant(settings: Settings) -> AsyncIterator[Callable[[str], Awaitable[Tenant]]]:
    engine = await database.connect(settings)

    async def make(name: str) -> Tenant:
        workspace_id = await keys.create_workspace(name)
        _, token = await keys.create_key(workspace_id)
        return Tenant(workspace_id, token)

    yield make
    await database.close(engine)


@pytest.fixture
async def tenant(make_tenant: Callable[[str], Awaitable[Tenant]]) -> Tenant:
    return await make_tenant("acme")


@pytest.fixture
def producer() -> MemorySendProducer:
    return MemorySendProducer()


@pytest.fixture
async def client(
    settings: Settings, producer: MemorySendProducer, tenant: Tenant
) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(settings, producer)
    async with AsyncTestClient(app=app) as client:
        yield client
