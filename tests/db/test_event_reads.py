"""Reading events back (tables.events): what the projection keeps of each event, the filters,
and pages that neither repeat nor skip an event, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from config.settings import Settings
from streams.public import event_data
from streams.records import Event, EventType, Suppression, event_id
from tables.db import Message, MessageEvent, MessageTag
from tables.events import EventFilters, get_events, list_events, message_events, row_event
from tables.messages import project_events, tag_id

ACME, GLOBEX = "ws_acme", "ws_globex"
T = 1_700_000_000.0


def event(
    type_: EventType,
    message_id: str,
    at: float,
    *,
    workspace_id: str = ACME,
    recipient: str = "Ada@example.com",
    tags: tuple[str, ...] = ("welcome",),
    program: str = "transactional",
    attempt: int = 0,
    **fields: Any,
) -> Event:
    return Event(
        event_id=event_id(message_id, type_, attempt),
        type=type_,
        message_id=message_id,
        workspace_id=workspace_id,
        recipient=recipient,
        at=at,
        tags=tags,
        program=program,
        attempt=attempt,
        **fields,
    )


def disabled(at: float, workspace_id: str = ACME) -> Event:
    return Event(
        event_id=event_id("wh_1", "webhook_disabled", at),
        type="webhook_disabled",
        message_id="",
        workspace_id=workspace_id,
        recipient="",
        at=at,
        webhook_id="wh_1",
    )


BOB = {"recipient": "bob@example.com", "tags": ("invoice", "monthly"), "program": "billing"}
# name: the event; acme's events, then globex's
CATALOGUE: dict[str, Event] = {
    "a_queued": event("queued", "msg_a", T, sender="hi@acme.test", subject="Welcome", seq=1),
    "a_sent": event("sent", "msg_a", T + 1, smtp_code=250, reply="250 ok", seq=2),
    "b_queued": event("queued", "msg_b", T + 1, sender="billing@acme.test", subject="Bill", **BOB),
    "b_bounced": event("bounced", "msg_b", T + 3, bounce="hard", diagnostic="550 5.1.1", **BOB),
    "hook_off": disabled(T + 4),
    "a_opened": event("opened", "msg_a", T + 5, ip="192.0.2.1", machine=True, machine_reason="x"),
    "c_queued": event("queued", "msg_c", T + 2, workspace_id=GLOBEX, recipient="ada@example.com"),
}
OWN = [name for name, e in CATALOGUE.items() if e.workspace_id == ACME]


def newest_first(names: list[str]) -> list[str]:
    """The listing's order, by definition: (at, id), newest first."""
    return sorted(names, key=lambda n: (CATALOGUE[n].at, CATALOGUE[n].event_id), reverse=True)


def ids(names: list[str]) -> list[str]:
    return [CATALOGUE[name].event_id for name in names]


async def listed(filters: EventFilters, **kwargs: Any) -> list[str]:
    found, more = await list_events(ACME, filters, limit=100, **kwargs)
    assert not more
    return [item["id"] for item in found]


@pytest.fixture
async def catalogue(db: Settings) -> None:
    await project_events(list(CATALOGUE.values()))


# --- what the projection keeps -------------------------------------------------------------


async def test_each_event_is_kept_with_its_recipient_and_tags(catalogue: None) -> None:
    row = (
        await MessageEvent.select()
        .where(MessageEvent.id == CATALOGUE["b_bounced"].event_id)
        .first()
        .output(load_json=True)
    )

    assert row is not None
    assert (row["recipient"], row["tags"]) == ("bob@example.com", ["invoice", "monthly"])
    tags = await MessageTag.select().order_by(MessageTag.tag, MessageTag.workspace_id)
    assert [(t["workspace_id"], t["message_id"], t["tag"]) for t in tags] == [
        (ACME, "msg_b", "invoice"),
        (ACME, "msg_b", "monthly"),
        (ACME, "msg_a", "welcome"),
        (GLOBEX, "msg_c", "welcome"),
    ]
    assert tags[0]["id"] == tag_id("msg_b", "invoice")


async def test_projecting_again_adds_nothing(catalogue: None) -> None:
    await project_events(list(CATALOGUE.values())[::-1])

    assert await MessageEvent.count() == len(CATALOGUE)
    assert await MessageTag.count() == 4
    assert await Message.count() == 3


async def test_an_event_of_no_message_makes_no_message(db: Settings) -> None:
    await project_events([disabled(T)])

    assert await Message.count() == 0
    assert await MessageTag.count() == 0
    found, _ = await list_events(ACME, EventFilters(), limit=10)
    assert found == [event_data(disabled(T))]
    assert found[0]["webhook_id"] == "wh_1"


async def test_an_event_read_back_is_the_event_published(db: Settings) -> None:
    entry = Suppression(
        id="sup_1",
        workspace_id=ACME,
        value="ada@example.com",
        scope="list",
        scope_value="weekly",
        reason="unsubscribe",
        source="unsubscribe",
        created_at=T,
        message_id="msg_a",
    )
    published = [
        *CATALOGUE.values(),
        event("suppressed", "msg_d", T, suppression=entry, list_id="weekly"),
        event("unsubscribed", "msg_a", T + 9, unsubscribe_scope="list", user_agent="Mail/1.0"),
        event("clicked", "msg_a", T + 8.25, url="https://acme.test/x", possible_duplicate=True),
        event("deferred", "msg_e", T, smtp_code=451, enhanced_code="4.7.1", attempt=2, tags=()),
    ]
    await project_events(published)

    rows = await MessageEvent.select().output(load_json=True)
    by_id = {e.event_id: e for e in published}
    assert len(rows) == len(published)
    for row in rows:
        assert event_data(row_event(row)) == event_data(by_id[row["id"]])
    assert await get_events(ACME, [e.event_id for e in published[-4:]]) == [
        event_data(e) for e in published[-4:]
    ]


# --- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (EventFilters(), OWN),
        (EventFilters(types=("queued",)), ["a_queued", "b_queued"]),
        (EventFilters(types=("sent", "bounced")), ["a_sent", "b_bounced"]),
        (EventFilters(types=("webhook_disabled",)), ["hook_off"]),
        (EventFilters(message_id="msg_a"), ["a_queued", "a_sent", "a_opened"]),
        (EventFilters(message_id="msg_c"), []),  # globex's
        (EventFilters(recipient="ada@example.com"), ["a_queued", "a_sent", "a_opened"]),
        (EventFilters(recipient="ADA@EXAMPLE.COM"), ["a_queued", "a_sent", "a_opened"]),
        (EventFilters(recipient="ad@example.com"), []),
        (EventFilters(tag="monthly"), ["b_queued", "b_bounced"]),
        (EventFilters(tag="welcome"), ["a_queued", "a_sent", "a_opened"]),
        (EventFilters(tag="Welcome"), []),
        (EventFilters(program="billing"), ["b_queued", "b_bounced"]),
        (EventFilters(since=T + 1), ["a_sent", "b_queued", "b_bounced", "hook_off", "a_opened"]),
        (EventFilters(until=T + 1), ["a_queued"]),
        (EventFilters(since=T + 1, until=T + 4), ["a_sent", "b_queued", "b_bounced"]),
        (EventFilters(types=("queued",), tag="invoice", since=T), ["b_queued"]),
        (EventFilters(types=("opened",), recipient="ada@example.com", program="billing"), []),
        (EventFilters(message_id="msg_b", types=("bounced", "sent")), ["b_bounced"]),
    ],
)
async def test_each_filter_keeps_what_it_names(
    catalogue: None, filters: EventFilters, expected: list[str]
) -> None:
    assert await listed(filters) == ids(newest_first(expected))
    assert await listed(filters, order="oldest") == ids(newest_first(expected)[::-1])


async def test_a_recipient_outside_ascii_matches_as_sent(db: Settings) -> None:
    sent = event("queued", "msg_u", T, recipient="Zoë@example.com")
    await project_events([sent])

    assert await listed(EventFilters(recipient="Zoë@example.com")) == [sent.event_id]
    assert await listed(EventFilters(recipient="zoë@example.com")) == []


async def test_another_workspace_sees_only_its_own(catalogue: None) -> None:
    found, _ = await list_events(GLOBEX, EventFilters(), limit=10)

    assert [item["id"] for item in found] == ids(["c_queued"])
    assert await get_events(GLOBEX, ids(["a_queued", "c_queued"])) == [
        event_data(CATALOGUE["c_queued"])
    ]


# --- pages -----------------------------------------------------------------------------------

# Many events at few instants: pages must split ties on `at` by id, without a gap or a repeat.
CROWD = [
    event(type_, f"msg_{n}", T + n // 4, tags=("crowd",))
    for n in range(13)
    for type_ in ("queued", "sent")
]


async def pages(order: Any, limit: int, filters: EventFilters | None = None) -> list[list[str]]:
    found: list[list[str]] = []
    after = None
    for _ in range(len(CROWD) + 1):  # a page that does not move on fails, not hangs
        page, more = await list_events(
            ACME, filters or EventFilters(), limit=limit, order=order, starting_after=after
        )
        found.append([item["id"] for item in page])
        if not more:
            return found
        after = page[-1]["id"]
    raise AssertionError(f"more pages than events: {found[:3]}...")


@pytest.mark.parametrize("limit", [1, 4, 26])
async def test_pages_walk_every_event_once(db: Settings, limit: int) -> None:
    await project_events(CROWD)
    everything = sorted(CROWD, key=lambda e: (e.at, e.event_id))
    oldest = [e.event_id for e in everything]

    for order, expected in (("oldest", oldest), ("newest", oldest[::-1])):
        walked = await pages(order, limit)
        assert [i for page in walked for i in page] == expected
        assert all(len(page) == limit for page in walked[:-1])
        assert 0 < len(walked[-1]) <= limit


async def test_pages_keep_their_filters(db: Settings) -> None:
    await project_events(CROWD)

    walked = await pages("newest", 3, EventFilters(types=("sent",), until=T + 2))
    assert [i for page in walked for i in page] == [
        e.event_id
        for e in sorted(CROWD, key=lambda e: (e.at, e.event_id), reverse=True)
        if e.type == "sent" and e.at < T + 2
    ]


async def test_an_anchor_of_another_workspace_gives_an_empty_page(catalogue: None) -> None:
    foreign = CATALOGUE["c_queued"].event_id

    assert await list_events(ACME, EventFilters(), limit=5, starting_after=foreign) == ([], False)
    assert await list_events(ACME, EventFilters(), limit=5, starting_after="evt_nope") == (
        [],
        False,
    )


async def test_an_anchor_outside_the_filters_still_marks_the_place(catalogue: None) -> None:
    """A page may start after an event the filters leave out (the client changed filters):
    the anchor's position still holds."""
    anchor = CATALOGUE["b_bounced"].event_id

    page, more = await list_events(
        ACME, EventFilters(types=("queued",)), limit=5, starting_after=anchor
    )
    assert [item["id"] for item in page] == ids(newest_first(["a_queued", "b_queued"]))
    assert not more


# --- one message -----------------------------------------------------------------------------


async def test_a_message_timeline_is_in_sequence(db: Settings) -> None:
    # seq decides, whatever the times say (a report can carry an earlier time than its step)
    steps = [
        event("queued", "msg_a", T + 5, seq=1),
        event("sent", "msg_a", T + 1, seq=2),
        event("delivered", "msg_a", T + 2, seq=3),
    ]
    await project_events([*steps[::-1], disabled(T)])

    assert await message_events(ACME, "msg_a") == [event_data(e) for e in steps]
    assert await message_events(GLOBEX, "msg_a") is None
    assert await message_events(ACME, "msg_nope") is None
    assert await message_events(ACME, "") is None  # events of no message are not a message


async def test_get_events_keeps_the_order_asked(catalogue: None) -> None:
    asked = ids(["a_opened", "a_queued", "b_bounced"])

    found = await get_events(ACME, [asked[0], "evt_unknown", *asked, asked[1]])
    assert [item["id"] for item in found] == asked
    assert await get_events(ACME, []) == []


def test_rebuilding_needs_only_the_row() -> None:
    """row_event is pure: a row dictionary in, the record out."""
    row = {
        "id": "evt_1",
        "type": "deferred",
        "message_id": "msg_1",
        "workspace_id": ACME,
        "recipient": "ada@example.com",
        "at": T,
        "attempt": 1,
        "tags": ["x"],
        "program": "transactional",
        "seq": 2,
        "smtp_code": 451,
        "enhanced_code": "4.7.1",
        "reply": "451 later",
        "possible_duplicate": False,
        "detail": {"diagnostic": "greylisted"},
    }
    expected = event("deferred", "msg_1", T, recipient="ada@example.com", tags=("x",))
    expected = replace(
        expected,
        event_id="evt_1",
        attempt=1,
        seq=2,
        smtp_code=451,
        enhanced_code="4.7.1",
        reply="451 later",
        diagnostic="greylisted",
    )
    assert row_event(row) == expected
