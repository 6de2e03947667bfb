"""Screen: the per-recipient stage (``herald.sends.by_recipient`` -> ``herald.sends.ready``).

Records here are partitioned by recipient address, like ``herald.suppressions``, so this worker
holds every suppression entry of the recipients it screens (table ``suppressions``, kept by
:mod:`agents.suppressions`). A delivery that an entry stops gets a ``suppressed`` event naming
the entry and goes no further: no SMTP traffic. Retries come back through here too, so an entry
added while a delivery waited for its retry stops it. The others go on to dispatch,
repartitioned by workspace for the workspace throttle.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from agents.deadletters import guard
from agents.outcomes import event_for
from agents.suppressions import entries_of
from streams import topics
from streams.records import Delivery, Suppression, decode, encode
from streams.suppressions import first_match, lookup_keys

if TYPE_CHECKING:
    from agents.app import Worker


def suppression_of(table: Any, delivery: Delivery) -> Suppression | None:
    """The entry that stops ``delivery``, if any (its address's entries, then its domain's)."""
    entries = [
        entry
        for key in lookup_keys(delivery.workspace_id, delivery.recipient)
        for entry in entries_of(table.get(key))
    ]
    if not entries:
        return None
    content = delivery.content
    return first_match(entries, program=content.program, list_id=content.list_id)


def register(worker: Worker) -> None:
    table = worker.tables.suppressions

    async def screen(stream: Any) -> None:
        async for event in stream.events():
            async with guard(worker.dead_letters, topics.SENDS_BY_RECIPIENT.name, event.value):
                delivery = decode(event.value, Delivery)
                entry = suppression_of(table, delivery)
                if entry is None:
                    await worker.ready.send(key=delivery.workspace_id.encode(), value=event.value)
                    continue
                suppressed = event_for(delivery, "suppressed", at=time.time(), suppression=entry)
                await worker.outcomes.send(
                    key=delivery.message_id.encode(), value=encode(suppressed)
                )

    worker.app.agent(worker.by_recipient, name="screen")(screen)
