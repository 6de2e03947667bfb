"""Timeline: number, deduplicate and complete each message's events
(``herald.outcomes`` -> ``herald.events``).

Everything that learns something about a message reports it on ``herald.outcomes``, keyed by
message id: the pipeline stages, the inbound listener (bounces, complaints), the tracking links
(opens, clicks, unsubscribes). Only ``queued`` skips it: expand publishes that first event
itself, numbered 1, so a timeline starts at its second event (or at ``queued`` when an
internal producer reports one here). One worker owns each message's partition, so this agent sees a
message's reports one at a time, in order, and keeps a little state per message (table
``timeline``) to:

- give each event its sequence number (1, 2, 3, ... in the order seen);
- give a report whose event id it has seen before (a producer retry, a replayed batch) the
  same number again, so a copy on ``herald.events`` is the same event, recognisable by its id.
  It is published again rather than dropped: after a crash the first copy may never have
  reached the topic although the state saying so did;
- fill in what a late report does not know: the inbound listener only knows the message id, the
  rest (workspace, recipient, program, list, tags) comes from the message's first event;
- flag opens and clicks that look like machines (:mod:`agents.machine`), and choose the scope
  of an unsubscribe that did not name one (the list it was sent to, else its program).

:func:`advance` is the pure decision; :func:`register` wires it to the topics.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from agents import event_context
from agents.deadletters import guard
from agents.machine import judge_click, judge_open
from streams import topics
from streams.records import Event, RecordError, decode, encode

if TYPE_CHECKING:
    from agents.app import Worker

RECENT_IDS = 64  # event ids remembered per message: retries come soon after the original
RECENT_CLICKS = 10


class UnknownMessage(RecordError):
    """A report names a message this worker has no timeline for (never sent through this
    cluster, or its timeline was lost). Dead-lettered: inspect it on ``herald.deadletters``."""


def advance(state: dict[str, Any] | None, event: Event) -> tuple[dict[str, Any], Event]:
    """The message's new state, and the event to publish."""
    if state is None:
        if not event.workspace_id:
            raise UnknownMessage(f"no timeline for message {event.message_id}")
        state = {
            "w": event.workspace_id,
            "r": event.recipient,
            "p": event.program,
            "l": event.list_id,
            "t": list(event.tags),
            "sent": None,
            # Expand publishes each message's "queued" event itself, numbered 1.
            "n": 0 if event.type == "queued" else 1,
            "ids": {},
            "clicks": [],
        }
    state = dict(state)
    seen = state["ids"].get(event.event_id)
    if seen is None:
        state["n"] += 1
        ids = {**state["ids"], event.event_id: state["n"]}
        state["ids"] = dict(list(ids.items())[-RECENT_IDS:])
    published = replace(
        event,
        seq=seen or state["n"],
        workspace_id=state["w"],
        recipient=state["r"],
        program=state["p"],
        list_id=state["l"],
        tags=tuple(state["t"]),
    )
    if event.type == "sent" and state["sent"] is None:
        state["sent"] = event.at
    elif event.type == "opened" and not event.machine:
        reason = judge_open(
            at=event.at, sent_at=state["sent"], ip=event.ip, user_agent=event.user_agent
        )
        published = replace(published, machine=reason is not None, machine_reason=reason)
    elif event.type == "clicked" and not event.machine:
        url = event.url or ""
        reason = judge_click(
            at=event.at,
            sent_at=state["sent"],
            ip=event.ip,
            user_agent=event.user_agent,
            url=url,
            recent_clicks=[(at, link) for at, link in state["clicks"]],
        )
        published = replace(published, machine=reason is not None, machine_reason=reason)
        if seen is None:
            state["clicks"] = [*state["clicks"], [event.at, url]][-RECENT_CLICKS:]
    elif event.type == "unsubscribed" and event.unsubscribe_scope is None:
        published = replace(published, unsubscribe_scope="list" if state["l"] else "program")
    return state, published


def register(worker: Worker) -> None:
    table = worker.tables.timeline

    async def timeline(stream: Any) -> None:
        async for events in stream.take_events(worker.settings.worker_batch, within=0.02):
            for event in events:
                async with guard(worker.dead_letters, topics.OUTCOMES.name, event.value):
                    report = decode(event.value, Event)
                    with event_context.current(event):  # its partition's store
                        state, published = advance(table.get(report.message_id), report)
                        table[report.message_id] = state
                    await worker.send(worker.events, event.key, encode(published))

    worker.app.agent(worker.outcomes, name="timeline")(timeline)
