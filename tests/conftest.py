"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from config.settings import Settings
from tables import database


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings whose data dir is a temporary directory and whose database is a SQLite file
    there that does not exist yet."""
    return Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'herald.sqlite3'}")


@pytest.fixture
async def sqlite_db(sqlite_settings: Settings) -> AsyncIterator[Settings]:
    """A migrated SQLite database in a temporary directory, with Herald's tables bound to it.
    Yields the settings that name it."""
    settings = sqlite_settings
    await database.migrate(settings)
    engine = await database.connect(settings)
    try:
        yield settings
    finally:
        await database.close(engine)
