"""Every database test runs twice: on a SQLite file and on PostgreSQL.

PostgreSQL comes from ``HERALD_TEST_POSTGRES_URL`` (a database the user owns); each test gets
its own schema in it, dropped afterwards. Without the URL the PostgreSQL variants are skipped,
except under CI (``CI`` set), where they fail: CI must never pass by skipping them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest

from config.settings import Settings
from tables import database

POSTGRES_URL_VAR = "HERALD_TEST_POSTGRES_URL"


def postgres_url() -> str:
    url = os.environ.get(POSTGRES_URL_VAR)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{POSTGRES_URL_VAR} is not set: CI must run the PostgreSQL tests")
    pytest.skip(f"PostgreSQL tests need {POSTGRES_URL_VAR}=postgresql://user:pass@host/db")


@pytest.fixture
async def empty_postgres() -> AsyncIterator[str]:
    """The URL of an empty schema of the test database (dropped after the test)."""
    url = postgres_url()
    schema = f"herald_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        yield f"{url}{'&' if '?' in url else '?'}search_path={schema}"
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, sqlite_settings: Settings) -> Settings:
    """Settings naming an empty database (no tables yet) of each kind."""
    if request.param == "sqlite":
        return sqlite_settings
    url = request.getfixturevalue("empty_postgres")
    return sqlite_settings.model_copy(update={"database_url": url})


@pytest.fixture
async def db(empty_database: Settings) -> AsyncIterator[Settings]:
    """A migrated database of each kind, Herald's tables bound to it; yields its settings."""
    await database.migrate(empty_database)
    engine = await database.connect(empty_database)
    try:
        yield empty_database
    finally:
        await database.close(engine)
