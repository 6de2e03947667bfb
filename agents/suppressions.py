"""Suppressions: keep dispatch's table of entries, and the database's copy
(``herald.suppressions`` -> table ``suppressions``, and -> the ``suppressions`` rows).

Two agents on one topic, so a slow or unreachable database never delays enforcement: the table
is what screen reads, the rows are what the API lists. Changes to one address arrive in the
order they were made (one key, one partition); a domain entry arrives on every partition, so
every worker's table has it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from agents import event_context
from agents.database import projection
from agents.deadletters import guard
from streams import topics
from streams.records import Suppression, SuppressionChange, decode
from streams.suppressions import table_key
from tables import suppressions as suppression_rows

if TYPE_CHECKING:
    from agents.app import Worker


def entries_of(stored: dict[str, Any] | None) -> list[Suppression]:
    """The live entries a table value holds."""
    return [
        msgspec.convert(kept["entry"], Suppression)
        for kept in (stored or {}).values()
        if "entry" in kept
    ]


def applied(stored: dict[str, Any] | None, change: SuppressionChange) -> dict[str, Any]:
    """The table value after ``change``: ``{entry id: {"at": decided, "entry": ...}}``, where a
    removed entry keeps only ``at`` (a tombstone).

    The same rule as the database's copy (:mod:`tables.suppressions`): a change applies only
    when decided later than the last one applied to its entry, and on a tie a removal wins. So
    a late copy of an old add (an automatic entry for a bounce seen again) cannot bring back
    an entry someone removed since, and the table and the list the API shows agree."""
    entries = dict(stored or {})
    last = entries.get(change.entry.id)
    if last is not None and not (
        change.at > last["at"] or (change.at == last["at"] and change.op == "remove")
    ):
        return entries
    kept: dict[str, Any] = {"at": change.at}
    if change.op == "add":
        kept["entry"] = msgspec.to_builtins(change.entry)
    entries[change.entry.id] = kept
    return entries


def register(worker: Worker) -> None:
    table = worker.tables.suppressions
    source = topics.SUPPRESSIONS.name

    async def enforce(stream: Any) -> None:
        async for events in stream.take_events(worker.settings.worker_batch, within=0.01):
            for event in events:
                async with guard(worker.dead_letters, source, event.value):
                    change = decode(event.value, SuppressionChange)
                    key = table_key(change.entry.workspace_id, change.entry.value)
                    with event_context.current(event):
                        table[key] = applied(table.get(key), change)

    project = projection(
        worker.settings,
        worker.dead_letters,
        source,
        SuppressionChange,
        suppression_rows.apply_changes,
    )

    worker.app.agent(worker.suppressions, name="suppressions")(enforce)
    worker.app.agent(worker.suppressions, name="suppressions-project")(project)
