"""SQLite connections are closed on every way out of a transaction.

aiosqlite runs each connection in a thread of its own that is not a daemon: a connection left
open keeps its process from exiting (a worker told to stop with SIGTERM never does), and one
left inside a transaction keeps the database's write lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from config.settings import Settings
from tables.database import AnyEngine, engine_for, write_transaction


def connection_threads() -> int:
    return sum(t.name.endswith("(_connection_worker_thread)") for t in threading.enumerate())


async def settled(expected: int, within: float = 5.0) -> int:
    """The number of aiosqlite threads once it is ``expected``, or after ``within`` seconds."""
    deadline = time.monotonic() + within
    while connection_threads() != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return connection_threads()


def path_of(settings: Settings) -> Path:
    return Path(settings.effective_database_url.removeprefix("sqlite:///"))


@contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Another connection holds the database's write lock for the block."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


def lock_is_free(path: Path) -> bool:
    other = sqlite3.connect(path, isolation_level=None, timeout=0.5)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:  # database is locked
        return False
    finally:
        other.close()


@pytest.fixture
def engine(sqlite_settings: Settings) -> AnyEngine:
    path = path_of(sqlite_settings)
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        setup.execute(
            "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER "
            "REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
        )
    return engine_for(sqlite_settings.effective_database_url)


async def test_a_write_cancelled_while_waiting_for_the_lock_leaves_no_thread_behind(
    engine: AnyEngine, sqlite_settings: Settings
) -> None:
    before = connection_threads()

    async def write() -> None:
        async with write_transaction(engine) as rows:
            await rows.insert("parent", ["id"], [[1]])

    with write_lock_held(path_of(sqlite_settings)):
        task = asyncio.create_task(write())
        await asyncio.sleep(0.3)  # BEGIN IMMEDIATE waits for the lock
        assert not task.done()
        task.cancel()  # as a stopping worker cancels its agents
        with pytest.raises(asyncio.CancelledError) as cancelled:
            await task

    # The error is kept, as a log record or a chained error keeps it: its traceback holds the
    # transaction, so the connection is not simply garbage (and closed) once the task is done.
    assert cancelled.value is not None
    assert await settled(before) == before
    assert lock_is_free(path_of(sqlite_settings))


async def test_a_failed_commit_releases_the_lock_and_the_next_write_lands(
    engine: AnyEngine, sqlite_settings: Settings
) -> None:
    path = path_of(sqlite_settings)
    before = connection_threads()

    with pytest.raises(sqlite3.IntegrityError):  # the deferred foreign key fails at COMMIT
        async with write_transaction(engine) as rows:
            await rows.insert("child", ["id", "parent_id"], [[1, 404]])

    assert await settled(before) == before
    assert lock_is_free(path)
    # The same task writes again: its next transaction is a new one, not the failed one's.
    async with write_transaction(engine) as rows:
        await rows.insert("parent", ["id"], [[7]])
    with sqlite3.connect(path) as reader:
        assert reader.execute("SELECT id FROM parent").fetchall() == [(7,)]
        assert reader.execute("SELECT count(*) FROM child").fetchall() == [(0,)]
    assert await settled(before) == before
