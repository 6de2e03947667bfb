"""Schema migrations and connecting: running them again is harmless, on both databases."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from config.settings import Settings
from tables import database
from tables.database import engine_for, migrate, migration_names
from tables.db import ALL_TABLES
from tables.errors import DatabaseUnavailable, UnsupportedDatabaseUrl


async def test_first_run_applies_every_migration_and_second_applies_nothing(
    empty_database: Settings,
) -> None:
    assert migration_names()
    assert await migrate(empty_database) == migration_names()
    assert await migrate(empty_database) == []


async def test_migrated_database_has_every_table_empty(empty_database: Settings) -> None:
    await migrate(empty_database)
    engine = await database.connect(empty_database)
    try:
        for table in ALL_TABLES:
            assert await table.count() == 0
    finally:
        await database.close(engine)


async def test_processes_migrating_at_once_apply_each_migration_once(
    empty_database: Settings,
) -> None:
    runs = await asyncio.gather(*(migrate(empty_database) for _ in range(3)))

    applied = [name for run in runs for name in run]
    assert sorted(applied) == migration_names()


async def test_sqlite_url_creates_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "herald.sqlite3"
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{path}")

    assert await migrate(settings) == migration_names()
    assert path.exists()


async def test_default_database_is_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=None)

    assert await migrate(settings) == migration_names()
    assert (tmp_path / "data" / "herald.sqlite3").is_file()


@pytest.mark.parametrize(
    "url",
    ["mysql://root@localhost/herald", "herald.sqlite3", "sqlite:///:memory:", "sqlite://"],
)
def test_unusable_database_url_is_refused_clearly(url: str) -> None:
    with pytest.raises(UnsupportedDatabaseUrl):
        engine_for(url)


async def test_unreachable_postgres_is_reported(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql://herald:x@127.0.0.1:1/herald")

    with pytest.raises(DatabaseUnavailable):
        await database.connect(settings)
    with pytest.raises(DatabaseUnavailable):
        await migrate(settings)
