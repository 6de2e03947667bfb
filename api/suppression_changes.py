"""Adding and removing suppression entries: Kafka first, then the database.

The promise is "once the API answered 2xx, no new send to that address goes out more than a
second later". The screen stage reads ``herald.suppressions``, not the database, so a change
is produced first and the API waits for the broker's acknowledgement; only then is it written
to the database (so the next GET shows it) and answered. When Kafka refuses, the answer is 503
and the database is not touched. When the database write fails after the acknowledgement, the
change still holds: the pipeline enforces it and the worker's projection of the topic writes
the same row (the write is idempotent), so the API answers success and logs the failure; a
GET may lag for that moment.

A change to an address is keyed by the address (the partition of that recipient's sends); a
change to a domain is produced to every partition, since any address of the domain may be on
any of them. A domain change refused by some partitions is answered 503; the partitions that
took it enforce it, and adding or removing again is harmless.

Each change's time is later than the stored row's, so even with clocks of several API hosts
a little apart, the database orders the changes as they were made.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from api.errors import ApiError, NotFound
from api.producer import SendProducer
from api.suppression_input import ENTRY_ID
from streams import records
from streams.records import Suppression, SuppressionChange
from streams.suppressions import is_domain
from streams.topics import SUPPRESSIONS, recipient_key
from tables import suppressions
from tables.suppressions import Stored

log = logging.getLogger("herald.api")

_STEP = 0.001  # the least a new change is later than the stored one


async def stored_entry(workspace_id: str, entry_id: str) -> Stored:
    """The live entry, or the 404 every other case answers (removed, never existed, another
    workspace's, not an id at all)."""
    found = None
    if ENTRY_ID.fullmatch(entry_id):
        found = (await suppressions.stored_entries(workspace_id, [entry_id])).get(entry_id)
    if found is None or not found.live:
        raise NotFound(f"This workspace has no suppression {entry_id}.")
    return found


def change_at(stored: Stored | None, now: float) -> float:
    """The time of a new change to an entry: now, or just after its stored change."""
    return now if stored is None else max(now, stored.changed_at + _STEP)


def add_change(
    entry: Suppression, stored: Stored | None, now: float
) -> tuple[SuppressionChange, bool]:
    """The change adding ``entry``, and whether it is new. An entry already live stays as it
    is (its reason, note and creation time): the change only asserts it again."""
    if stored is not None and stored.live:
        return SuppressionChange("add", stored.entry, change_at(stored, now)), False
    return SuppressionChange("add", entry, change_at(stored, now)), True


def remove_change(stored: Stored, now: float) -> SuppressionChange:
    return SuppressionChange("remove", stored.entry, change_at(stored, now))


async def publish(
    producer: SendProducer, changes: Sequence[SuppressionChange]
) -> list[ApiError | None]:
    """Produce every change at once and wait for the acknowledgements; per change, None or
    why it was not accepted."""
    partitions: int | ApiError = 0
    if any(is_domain(c.entry.value) for c in changes):
        try:
            partitions = await producer.partitions(SUPPRESSIONS.name)
        except ApiError as exc:
            partitions = exc
    outcomes = await asyncio.gather(
        *(_produce(producer, c, partitions) for c in changes), return_exceptions=True
    )
    found: list[ApiError | None] = []
    for change, outcome in zip(changes, outcomes, strict=True):
        if outcome is None or isinstance(outcome, ApiError):
            found.append(outcome)
        elif isinstance(outcome, Exception):
            log.error("suppression change %s not produced", change.entry.id, exc_info=outcome)
            found.append(ApiError("Something went wrong on our side with this entry."))
        else:
            raise outcome  # cancelled: the request is going away
    return found


async def _produce(
    producer: SendProducer, change: SuppressionChange, partitions: int | ApiError
) -> None:
    value = records.encode(change)
    key = recipient_key(change.entry.value)
    if not is_domain(change.entry.value):
        await producer.publish(SUPPRESSIONS.name, key, value)
        return
    if isinstance(partitions, ApiError):
        raise partitions
    await asyncio.gather(
        *(producer.publish(SUPPRESSIONS.name, key, value, partition=i) for i in range(partitions))
    )


async def record(changes: Sequence[SuppressionChange]) -> None:
    """Write acknowledged changes to the database; a failure is logged, not raised (see the
    module docstring)."""
    if not changes:
        return
    try:
        await suppressions.apply_changes(changes)
    except Exception:
        log.exception(
            "%d acknowledged suppression change(s) not written to the database; the worker's "
            "projection of %s writes them",
            len(changes),
            SUPPRESSIONS.name,
        )


async def apply_one(producer: SendProducer, change: SuppressionChange) -> None:
    """Produce one change (raising why Kafka refused it), then write it."""
    (error,) = await publish(producer, [change])
    if error is not None:
        raise error
    await record([change])
