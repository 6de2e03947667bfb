"""Connecting Piccolo to the database the settings name, and keeping its schema current.

**Engines.** ``sqlite:///path`` (SQLAlchemy style: three slashes, then a relative or absolute
path) opens a SQLite file in WAL mode, so the API and a worker can share it; ``postgresql://``
or ``postgres://`` URLs go to PostgreSQL through asyncpg, which parses the URL itself (query
parameters such as ``sslmode`` or ``search_path`` work as asyncpg documents them).

**Migrations.** Herald runs its own small versioned migrator rather than Piccolo's migration
app: Piccolo's runner finds the engine through an importable ``piccolo_conf`` module, while
Herald chooses its database at run time from the settings. Each migration is a module in
:mod:`tables.migrations` named ``mNNNN_what.py`` with ``async def forwards(engine)``; the
modules run in name order and each applied name is recorded in the ``herald_migrations``
table. A migration creates its tables from *frozen* Piccolo table definitions kept in the
migration itself (not from :mod:`tables.db`), so Piccolo writes the right DDL for SQLite and
PostgreSQL and an old migration means the same thing forever; later changes are new modules.
Migrations run their DDL through the engine they are given, never through a table's globally
bound engine.

One run is one transaction: on PostgreSQL it first takes an advisory lock, on SQLite it begins
``IMMEDIATE`` (the write lock), so processes starting together apply each migration once, and
a failure leaves the schema exactly as it was.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiosqlite
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import (
    SQLiteEngine,
    SQLiteTransaction,
    TransactionType,
    dict_factory,
)
from piccolo.querystring import QueryString

from config.settings import Settings
from tables import migrations
from tables.db import ALL_TABLES
from tables.errors import DatabaseUnavailable, MigrationFailed, UnsupportedDatabaseUrl

log = logging.getLogger(__name__)

AnyEngine = Engine[Any]

SQLITE_BUSY_TIMEOUT = 30.0  # seconds a writer waits for another one before failing
MIGRATION_LOCK_ID = 0x6865_7261_6C64  # "herald": the advisory lock held while migrating


_CREATE_LEDGER = (
    "CREATE TABLE IF NOT EXISTS herald_migrations ("
    "name VARCHAR(100) PRIMARY KEY NOT NULL, "
    "applied_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP)"
)


def engine_for(url: str) -> AnyEngine:
    """Build (without connecting a pool) the Piccolo engine for a database URL."""
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite":
        return _sqlite_engine(url, rest)
    if scheme in ("postgresql", "postgres"):
        return _postgres_engine(url)
    raise UnsupportedDatabaseUrl(
        f"unsupported database URL scheme {scheme!r}: use sqlite:///path or "
        "postgresql://user:password@host:port/database"
    )


def _sqlite_engine(url: str, rest: str) -> SQLiteEngine:
    if not rest.startswith("/") or rest == "/":
        raise UnsupportedDatabaseUrl(f"a SQLite URL is sqlite:///path, not {url!r}")
    path = rest[1:]
    if path == ":memory:" or path.startswith("file:"):
        raise UnsupportedDatabaseUrl(
            "Herald needs a SQLite file that several connections share; "
            f"{url!r} is not one: use sqlite:///path/to/herald.sqlite3"
        )
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot create the directory of {path}: {exc}") from exc
    return _SQLiteEngine(path=path, timeout=SQLITE_BUSY_TIMEOUT)


class _SQLiteEngine(SQLiteEngine):
    """Piccolo's SQLite engine, with each connection a transaction opens closed on every way
    out of it. aiosqlite gives each connection a thread that is not a daemon and ends only
    when the connection closes. Piccolo leaves the connection open when the transaction is
    cancelled while it begins (a stopping worker's agent waiting for the write lock) or when
    its COMMIT fails. That thread then keeps the process from exiting, a failed COMMIT keeps
    the write lock, and the task's next transaction nests in the dead one."""

    async def get_connection(self) -> Any:
        connection = await aiosqlite.connect(**self.connection_kwargs)
        try:
            connection.row_factory = dict_factory  # type: ignore[assignment]  # any callable
            await connection.execute("PRAGMA foreign_keys = 1")
        except BaseException:
            connection.stop()  # closes the connection (rolling back), then ends its thread
            raise
        return connection

    def transaction(
        self,
        transaction_type: TransactionType = TransactionType.deferred,
        allow_nested: bool = True,
    ) -> SQLiteTransaction:
        return _SQLiteTransaction(self, transaction_type, allow_nested)


class _SQLiteTransaction(SQLiteTransaction):
    async def __aenter__(self) -> SQLiteTransaction:
        try:
            return await super().__aenter__()
        except BaseException:
            self._abandon()
            raise

    async def __aexit__(self, *exc_info: Any) -> bool:
        try:
            return await super().__aexit__(*exc_info)
        except BaseException:  # COMMIT, ROLLBACK or the close failed, or were cancelled
            self._abandon()
            self.engine.current_transaction.reset(self.context)
            raise

    def _abandon(self) -> None:
        connection = getattr(self, "connection", None)  # unset if it was never opened
        if connection is not None:
            connection.stop()


def _postgres_engine(url: str) -> PostgresEngine:
    parts = urlsplit(url)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"
    try:
        # Piccolo checks the server version while building the engine; it warns (instead of
        # failing) when the server is down. connect() reports that when it opens the pool.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return PostgresEngine(config={"dsn": url})
    except Exception as exc:
        raise DatabaseUnavailable(f"cannot reach PostgreSQL at {where}: {exc}") from exc


async def connect(settings: Settings) -> AnyEngine:
    """Open the database the settings name and bind every Herald table to it.

    Call once at each entry point, and :func:`close` the engine on the way out.
    """
    engine = engine_for(settings.effective_database_url)
    try:
        if isinstance(engine, PostgresEngine):
            await engine.start_connection_pool(min_size=1, max_size=10)
        else:
            await engine.run_ddl("PRAGMA journal_mode=WAL")
    except Exception as exc:
        raise DatabaseUnavailable(f"cannot open the database: {exc}") from exc
    for table in ALL_TABLES:
        table._meta.db = engine
    return engine


async def close(engine: AnyEngine) -> None:
    """Release the engine's connections (PostgreSQL's pool; SQLite holds none between queries)."""
    if isinstance(engine, PostgresEngine) and engine.pool is not None:
        await engine.close_connection_pool()


@dataclass(frozen=True, slots=True)
class Rows:
    """Rows written straight through the transaction's own connection."""

    connection: Any  # aiosqlite's or asyncpg's: both have executemany(sql, rows)
    sqlite: bool

    async def insert(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], tail: str = ""
    ) -> None:
        """``INSERT INTO table (columns) VALUES (...) tail``, run for each row by the driver's
        ``executemany``. Piccolo's raw query walks every bound value in Python, and on SQLite
        runs a PRAGMA before each statement: 5-7% of a busy worker (BENCHMARKS.md)."""
        if not rows:
            return
        width = len(columns)
        marks = ["?"] * width if self.sqlite else [f"${i}" for i in range(1, width + 1)]
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608  # names are Herald's
            f"VALUES ({', '.join(marks)}) {tail}"
        )
        await self.connection.executemany(sql, rows)


@asynccontextmanager
async def write_transaction(engine: AnyEngine) -> AsyncIterator[Rows]:
    """A transaction that writes: on SQLite it takes the write lock up front (``BEGIN
    IMMEDIATE``), so two writers queue behind the busy timeout instead of deadlocking."""
    if isinstance(engine, SQLiteEngine):
        async with engine.transaction(transaction_type=TransactionType.immediate) as tx:
            yield Rows(tx.connection, sqlite=True)
    else:
        async with engine.transaction() as tx:
            yield Rows(tx.connection, sqlite=False)


def migration_names() -> list[str]:
    """Every migration Herald knows, in the order they apply."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules(migrations.__path__)
        if info.name.startswith("m") and info.name[1:5].isdigit()
    )


async def migrate(settings: Settings) -> list[str]:
    """Apply the migrations this database has not seen yet; return their names.

    Uses its own short-lived engine and binds no table globally, so it can run before or
    beside :func:`connect`, and several runs can overlap.
    """
    engine = engine_for(settings.effective_database_url)
    current: str | None = None
    applied: list[str] = []
    try:
        async with write_transaction(engine):
            if isinstance(engine, PostgresEngine):
                await engine.run_ddl(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
            await engine.run_ddl(_CREATE_LEDGER)
            rows = await engine.run_querystring(QueryString("SELECT name FROM herald_migrations"))
            done = {row["name"] for row in rows}
            for name in migration_names():
                if name in done:
                    continue
                current = name
                module = importlib.import_module(f"{migrations.__name__}.{name}")
                forwards: Callable[[AnyEngine], Awaitable[None]] = module.forwards
                await forwards(engine)
                await engine.run_querystring(
                    QueryString("INSERT INTO herald_migrations (name) VALUES ({})", name)
                )
                applied.append(name)
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot open the database: {exc}") from exc
    except Exception as exc:
        if current is None:
            raise MigrationFailed(f"cannot read herald_migrations: {exc}") from exc
        raise MigrationFailed(f"migration {current} failed, nothing was applied: {exc}") from exc
    finally:
        await close(engine)
    for name in applied:
        log.info("applied database migration %s", name)
    return applied
