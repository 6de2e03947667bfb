"""The message projection: what GET /v1/messages/{id} shows after events arrive, however
often and in whatever order they arrive."""

from __future__ import annotations

import itertools

import pytest

from config.settings import Settings
from streams.records import Event, EventType, event_id
from tables.db import Message, MessageEvent
from tables.messages import get_message, project_events

WORKSPACE = "ws_acme"
QUEUED_AT = 1_700_000_000.0


def event(
    type_: EventType,
    message_id: str = "msg_1",
    *,
    attempt: int = 0,
    at: float | None = None,
    workspace_id: str = WORKSPACE,
    **fields: object,
) -> Event:
    offsets = {"queued": 0.0, "deferred": 1.0, "sent": 2.0, "bounced": 3.0, "failed": 4.0}
    offsets.update(delivered=5.0, opened=6.0, clicked=7.0, complained=8.0)
    summary: dict[str, object] = {}
    if type_ == "queued":
        summary = {"sender": "hello@acme.test", "subject": "Welcome", "tags": ("welcome",)}
    return Event(
        event_id=event_id(message_id, type_, attempt),
        type=type_,
        message_id=message_id,
        workspace_id=workspace_id,
        recipient="ada@example.com",
        at=QUEUED_AT + offsets[type_] + 60 * attempt if at is None else at,
        attempt=attempt,
        **{**summary, **fields},  # type: ignore[arg-type]
    )


async def test_queued_event_creates_the_message(db: Settings) -> None:
    await project_events([event("queued")])

    message = await get_message(WORKSPACE, "msg_1")
    assert message is not None
    assert message["id"] == "msg_1"
    assert message["status"] == "queued"
    assert message["sender"] == "hello@acme.test"
    assert message["recipient"] == "ada@example.com"
    assert message["subject"] == "Welcome"
    assert message["tags"] == ["welcome"]
    assert message["created_at"].timestamp() == QUEUED_AT
    assert [e["type"] for e in message["events"]] == ["queued"]


async def test_projecting_the_same_events_twice_yields_one_row_each(db: Settings) -> None:
    batch = [event("queued"), event("sent"), event("queued")]

    await project_events(batch)
    await project_events(batch)

    assert await Message.count() == 1
    assert await MessageEvent.count() == 2
    message = await get_message(WORKSPACE, "msg_1")
    assert message is not None
    assert message["status"] == "sent"
    assert [e["type"] for e in message["events"]] == ["queued", "sent"]


STEPS = [event("queued"), event("deferred", attempt=0), event("sent", attempt=1)]


@pytest.mark.parametrize(
    "order", list(itertools.permutations(range(3))), ids=lambda o: "-".join(map(str, o))
)
async def test_events_in_any_order_end_in_the_right_state(
    db: Settings, order: tuple[int, ...]
) -> None:
    for index in order:  # one batch per event, as a consumer would see them
        await project_events([STEPS[index]])

    message = await get_message(WORKSPACE, "msg_1")
    assert message is not None
    assert message["status"] == "sent"
    assert message["sender"] == "hello@acme.test"
    assert message["subject"] == "Welcome"
    assert message["tags"] == ["welcome"]
    assert message["created_at"].timestamp() == QUEUED_AT
    assert [(e["type"], e["attempt"]) for e in message["events"]] == [
        ("queued", 0),
        ("deferred", 0),
        ("sent", 1),
    ]


async def test_events_in_reverse_order_within_one_batch(db: Settings) -> None:
    await project_events(list(reversed(STEPS)))

    message = await get_message(WORKSPACE, "msg_1")
    assert message is not None
    assert message["status"] == "sent"
    assert message["sender"] == "hello@acme.test"


async def test_an_event_before_queued_shows_what_it_knows(db: Settings) -> None:
    await project_events([event("deferred")])

    message = await get_message(WORKSPACE, "msg_1")
    assert message is not None
    assert message["status"] == "deferred"
    assert message["recipient"] == "ada@example.com"
    assert message["sender"] == ""
    assert message["subject"] == ""


async def test_status_never_goes_back(db: Settings) -> None:
    await project_events([event("queued"), event("failed", attempt=3)])
    await project_events([event("deferred", attempt=2), event("queued")])

    message = await get_message(WORKSPACE, "msg_1")
    assert message is not None
    assert message["status"] == "failed"


async def test_a_bounce_report_after_sent_wins_and_the_first_final_status_stays(
    db: Settings,
) -> None:
    await project_events([event("queued"), event("sent")])
    await project_events([event("bounced")])
    await project_events([event("failed"), event("delivered")])

    message = await get_message(WORKSPACE, "msg_1")
    assert message is not None
    assert message["status"] == "bounced"
    assert [e["type"] for e in message["events"]] == [
        "queued",
        "sent",
        "bounced",
        "failed",
        "delivered",
    ]


async def test_engagement_events_leave_the_status_alone(db: Settings) -> None:
    await project_events([event("queued"), event("sent")])
    await project_events([event("opened"), event("clicked"), event("complained")])

    message = await get_message(WORKSPACE, "msg_1")
    assert message is not None
    assert message["status"] == "sent"


async def test_events_keep_their_sequence_and_type_details(db: Settings) -> None:
    await project_events(
        [
            event("queued", seq=1),
            event("sent", seq=2),
            event("bounced", seq=3, bounce="hard", diagnostic="550 5.1.1 user unknown"),
        ]
    )

    message = await get_message(WORKSPACE, "msg_1")
    assert message is not None
    assert [(e["seq"], e["type"]) for e in message["events"]] == [
        (1, "queued"),
        (2, "sent"),
        (3, "bounced"),
    ]
    assert message["events"][2]["detail"] == {
        "bounce": "hard",
        "diagnostic": "550 5.1.1 user unknown",
    }


async def test_timeline_keeps_the_delivery_details(db: Settings) -> None:
    await project_events(
        [
            event("queued"),
            event(
                "deferred",
                smtp_code=451,
                enhanced_code="4.7.1",
                reply="451 4.7.1 try later",
            ),
            event("sent", attempt=1, smtp_code=250, reply="250 ok", possible_duplicate=True),
        ]
    )

    message = await get_message(WORKSPACE, "msg_1")
    assert message is not None
    deferred, sent = message["events"][1], message["events"][2]
    assert (deferred["smtp_code"], deferred["enhanced_code"], deferred["reply"]) == (
        451,
        "4.7.1",
        "451 4.7.1 try later",
    )
    assert deferred["possible_duplicate"] is False
    assert (sent["smtp_code"], sent["reply"], sent["possible_duplicate"]) == (250, "250 ok", True)
    assert sent["at"] == QUEUED_AT + 62.0


async def test_another_workspace_cannot_read_the_message(db: Settings) -> None:
    await project_events([event("queued"), event("sent")])

    assert await get_message("ws_globex", "msg_1") is None
    assert await get_message(WORKSPACE, "msg_unknown") is None
    assert await get_message(WORKSPACE, "msg_1") is not None


async def test_a_large_batch_of_many_messages(db: Settings) -> None:
    ids = [f"msg_{n}" for n in range(1200)]
    batch = [event("queued", m) for m in ids] + [event("sent", m) for m in ids]

    await project_events(batch)
    await project_events(batch[::-1])

    assert await Message.count() == len(ids)
    assert await MessageEvent.count() == 2 * len(ids)
    assert await Message.count().where(Message.status == "sent") == len(ids)
    last = await get_message(WORKSPACE, ids[-1])
    assert last is not None
    assert last["subject"] == "Welcome"


async def test_an_empty_batch_does_nothing(db: Settings) -> None:
    await project_events([])

    assert await Message.count() == 0
