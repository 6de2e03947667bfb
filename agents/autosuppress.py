"""Automatic suppressions: what recipients and their providers tell us becomes an entry
(``herald.events`` -> ``herald.suppressions``).

- a hard bounce (the address does not exist) and a complaint suppress the address for the whole
  workspace;
- an unsubscribe suppresses it for the scope the recipient chose: the list the mail was sent
  to, its program, or everything (global).

The entry's id depends only on workspace, scope and address, so the same bounce seen twice is
one entry. :func:`suppression_for` is the pure rule; :func:`register` wires it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.deadletters import guard
from streams import topics
from streams.records import Event, Reason, Scope, Suppression, SuppressionChange, decode, encode
from streams.suppressions import address_value, entry_id
from streams.topics import recipient_key

if TYPE_CHECKING:
    from agents.app import Worker


def suppression_for(event: Event) -> Suppression | None:
    """The entry ``event`` calls for, or None."""
    scope: Scope = "global"
    scope_value = ""
    reason: Reason
    if event.type == "bounced" and event.bounce == "hard":
        reason, source, detail = "hard_bounce", "bounce", event.diagnostic or event.reply
    elif event.type == "complained":
        reason, source, detail = "complaint", "complaint", event.diagnostic
    elif event.type == "unsubscribed":
        reason, source, detail = "unsubscribe", "unsubscribe", None
        if event.unsubscribe_scope == "list" and event.list_id:
            scope, scope_value = "list", event.list_id
        elif event.unsubscribe_scope != "global":
            scope, scope_value = "program", event.program
    else:
        return None
    value = address_value(event.recipient)
    return Suppression(
        id=entry_id(event.workspace_id, scope, scope_value, value),
        workspace_id=event.workspace_id,
        value=value,
        scope=scope,
        scope_value=scope_value,
        reason=reason,
        source=source,
        created_at=event.at,
        message_id=event.message_id,
        detail=detail,
    )


def register(worker: Worker) -> None:
    async def autosuppress(stream: Any) -> None:
        # In batches: nearly every event (queued, sent, opened) calls for nothing, and Faust's
        # per-event delivery cost more than the rule.
        async for events in stream.take_events(worker.settings.worker_batch, within=0.1):
            for event in events:
                async with guard(worker.dead_letters, topics.EVENTS.name, event.value):
                    record = decode(event.value, Event)
                    entry = suppression_for(record)
                    if entry is not None:
                        change = SuppressionChange("add", entry, at=record.at)
                        await worker.send(
                            worker.suppressions, recipient_key(entry.value), encode(change)
                        )

    worker.app.agent(worker.events, name="autosuppress")(autosuppress)
