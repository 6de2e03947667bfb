"""Records an agent could not handle go to the dead-letter topic with the reason: one bad record
never stops an agent's loop (Faust would otherwise crash the agent and stop consuming)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from streams.records import DeadLetter, RecordError, encode

log = logging.getLogger(__name__)


async def dead_letter(
    dead_letters: Any, source_topic: str, payload: bytes | None, reason: str
) -> None:
    log.warning("dead letter from %s: %s", source_topic, reason)
    record = DeadLetter(
        source_topic=source_topic,
        reason=reason,
        payload=(payload or b"").decode("utf-8", errors="replace"),
        at=time.time(),
    )
    await dead_letters.send(key=source_topic.encode(), value=encode(record))


@asynccontextmanager
async def guard(dead_letters: Any, source_topic: str, payload: bytes | None) -> AsyncIterator[None]:
    """Run the handling of one record; if it fails, dead-letter the record and carry on."""
    try:
        yield
    except RecordError as exc:
        await dead_letter(dead_letters, source_topic, payload, str(exc))
    except Exception as exc:
        log.exception("failed to handle a record from %s", source_topic)
        await dead_letter(dead_letters, source_topic, payload, f"{type(exc).__name__}: {exc}")
