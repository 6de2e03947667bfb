"""Writing agent results to the database (the system of record) without ever dropping them.

While the database is unreachable or refusing, the write is retried with a growing pause, so
the agent holds its place in the topic instead of skipping records. Every projection is an
idempotent upsert, so a write retried after a partial failure changes nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from agents.deadletters import guard
from config.settings import Settings
from streams.records import decode
from tables import database

log = logging.getLogger(__name__)

T = TypeVar("T")

_connected: set[str] = set()  # database URLs this process has bound the tables to
# One binding at a time: a second connect() rebinds every table to a new engine, and a write
# transaction opened on the first engine then waits on its own lock (SQLite) until it times out.
_binding: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


async def _bind(settings: Settings) -> None:
    url = settings.effective_database_url
    lock = _binding.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock:
        if url not in _connected:
            await database.connect(settings)
            _connected.add(url)


async def write_until_done(
    settings: Settings, write: Callable[[list[T]], Awaitable[None]], batch: list[T]
) -> None:
    """``write(batch)``, retried until it succeeds."""
    delay = 0.5
    while True:
        try:
            if settings.effective_database_url not in _connected:
                await _bind(settings)
            await write(batch)
            return
        except Exception as exc:  # the database is down or refusing: wait and try again
            log.warning("writing %d records to the database failed (%r); retrying", len(batch), exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


def projection(
    settings: Settings,
    dead_letters: Any,
    source: str,
    record_type: type[T],
    write: Callable[[list[T]], Awaitable[None]],
) -> Callable[[Any], Awaitable[None]]:
    """An agent that decodes each batch of ``source`` records and writes it with ``write``
    until done; a record that does not decode goes to the dead letters."""

    async def project(stream: Any) -> None:
        async for events in stream.take_events(500, within=0.1):
            batch: list[T] = []
            for event in events:
                async with guard(dead_letters, source, event.value):
                    batch.append(decode(event.value, record_type))
            if batch:
                await write_until_done(settings, write, batch)

    return project
