"""Which events suppress an address, in which scope."""

from __future__ import annotations

from typing import Any

from agents.autosuppress import suppression_for
from streams.records import Event, event_id
from streams.suppressions import entry_id


def event(type_: str, **fields: Any) -> Event:
    return Event(
        event_id=event_id("msg_1", type_, 0),
        type=type_,  # type: ignore[arg-type]
        message_id="msg_1",
        workspace_id="ws_1",
        recipient="Ada@Example.com",
        at=1000.0,
        program="newsletter",
        **fields,
    )


def test_a_hard_bounce_suppresses_the_address_for_the_whole_workspace() -> None:
    entry = suppression_for(event("bounced", bounce="hard", diagnostic="550 5.1.1 user unknown"))
    assert entry is not None
    assert (entry.scope, entry.value, entry.reason, entry.source) == (
        "global",
        "ada@example.com",
        "hard_bounce",
        "bounce",
    )
    assert entry.id == entry_id("ws_1", "global", "", "ada@example.com")
    assert entry.message_id == "msg_1"
    assert entry.detail == "550 5.1.1 user unknown"


def test_a_soft_bounce_suppresses_nothing() -> None:
    assert suppression_for(event("bounced", bounce="soft")) is None


def test_a_complaint_suppresses_globally() -> None:
    entry = suppression_for(event("complained"))
    assert entry is not None and (entry.scope, entry.reason) == ("global", "complaint")


def test_unsubscribes_follow_the_scope_asked_for() -> None:
    program = suppression_for(event("unsubscribed", unsubscribe_scope="program"))
    on_list = suppression_for(event("unsubscribed", unsubscribe_scope="list", list_id="weekly"))
    everything = suppression_for(event("unsubscribed", unsubscribe_scope="global"))
    assert program is not None and (program.scope, program.scope_value) == ("program", "newsletter")
    assert on_list is not None and (on_list.scope, on_list.scope_value) == ("list", "weekly")
    assert everything is not None and (everything.scope, everything.scope_value) == ("global", "")


def test_other_events_suppress_nothing() -> None:
    for type_ in ("queued", "sent", "delivered", "deferred", "opened", "clicked", "failed"):
        assert suppression_for(event(type_)) is None
