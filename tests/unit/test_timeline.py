"""The timeline decision: numbering, repeated ids, filling in late reports, unsubscribe scope."""

from __future__ import annotations

from typing import Any

import pytest

from agents.timeline import UnknownMessage, advance
from streams.records import Event, event_id

MSG = "msg_01jtj8m4t6v2k9c3x5b7n1p0rd"


def event(type_: str, attempt: int | str = 0, **fields: Any) -> Event:
    base: dict[str, Any] = {
        "workspace_id": "ws_1",
        "recipient": "ada@example.com",
        "at": 1000.0,
        "program": "newsletter",
        "tags": ("welcome",),
    }
    base.update(fields)
    return Event(event_id=event_id(MSG, type_, attempt), type=type_, message_id=MSG, **base)  # type: ignore[arg-type]


def run(*events: Event) -> list[Event]:
    state = None
    published = []
    for e in events:
        state, out = advance(state, e)
        published.append(out)
    return published


def test_events_are_numbered_in_the_order_seen() -> None:
    out = run(event("queued"), event("deferred"), event("sent", 1))
    assert [(e.type, e.seq) for e in out] == [("queued", 1), ("deferred", 2), ("sent", 3)]


def test_a_timeline_opened_by_a_later_event_numbers_it_after_the_queued_event() -> None:
    # Expand publishes "queued" itself, numbered 1: the timeline first sees the second event.
    out = run(event("suppressed"))
    assert [(e.type, e.seq) for e in out] == [("suppressed", 2)]
    out = run(event("deferred"), event("sent", 1))
    assert [(e.type, e.seq) for e in out] == [("deferred", 2), ("sent", 3)]


def test_a_repeated_id_keeps_its_number_and_does_not_advance_the_count() -> None:
    out = run(event("queued"), event("sent"), event("sent"), event("opened", "o1"))
    assert [e.seq for e in out] == [1, 2, 2, 3]
    assert out[1] == out[2]


def test_a_report_that_only_knows_the_message_id_is_filled_in() -> None:
    report = event("bounced", "r1", workspace_id="", recipient="", program="transactional", tags=())
    out = run(event("queued", list_id="weekly"), report)
    assert out[1].workspace_id == "ws_1"
    assert out[1].recipient == "ada@example.com"
    assert out[1].program == "newsletter"
    assert out[1].list_id == "weekly"
    assert out[1].tags == ("welcome",)


def test_a_report_for_a_message_never_seen_is_refused() -> None:
    with pytest.raises(UnknownMessage):
        advance(None, event("bounced", "r1", workspace_id="", recipient=""))


def test_an_unsubscribe_without_scope_takes_the_list_else_the_program() -> None:
    on_list = run(event("queued", list_id="weekly"), event("unsubscribed", "u1"))[1]
    no_list = run(event("queued"), event("unsubscribed", "u1"))[1]
    asked_all = run(event("queued"), event("unsubscribed", "u1", unsubscribe_scope="global"))[1]
    assert on_list.unsubscribe_scope == "list"
    assert no_list.unsubscribe_scope == "program"
    assert asked_all.unsubscribe_scope == "global"


def test_an_open_right_after_sending_is_flagged_as_a_machine() -> None:
    sent = event("sent", at=1000.0)
    early = event("opened", "o1", at=1000.2, user_agent="Mozilla/5.0")
    later = event("opened", "o2", at=5000.0, user_agent="Mozilla/5.0 (Macintosh) Mail/16.0")
    out = run(event("queued"), sent, early, later)
    assert out[2].machine is True and out[2].machine_reason
    assert out[3].machine is False and out[3].machine_reason is None


def test_clicks_on_many_links_at_once_are_flagged() -> None:
    clicks = [
        event("clicked", f"c{i}", at=5000.0 + i * 0.1, url=f"https://acme.example/{i}")
        for i in range(4)
    ]
    out = run(event("queued"), event("sent", at=1000.0), *clicks)
    assert out[2].machine is False
    assert out[-1].machine is True


def test_state_is_not_changed_in_place() -> None:
    state, _ = advance(None, event("queued"))
    before = {**state, "ids": dict(state["ids"])}
    advance(state, event("sent"))
    assert state == before
