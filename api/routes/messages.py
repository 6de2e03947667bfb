"""``GET /v1/messages/{message_id}``: one message's status and event timeline.

Messages appear here once the workers projected their first event, so a message id just
returned by ``POST /v1/emails`` may answer 404 for a moment.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath

from api.errors import NotFound
from api.openapi import GUARDED, problems, returns
from api.schemas import MessageEventView, MessageView, SuppressionRef
from tables import messages

_QUEUED_AT = datetime(2025, 5, 6, 9, 30, 0, tzinfo=UTC)
_SENT_AT = datetime(2025, 5, 6, 9, 30, 1, tzinfo=UTC)
EXAMPLE = MessageView(
    id="msg_01jtj8m4t6v2k9c3x5b7n1p0rd",
    request_id="req_01jtj8m4t6v2k9c3x5b7n1p0re",
    sender="Acme <billing@acme.example>",
    to="ada@example.com",
    subject="Your invoice",
    tags=["invoice"],
    program="transactional",
    status="sent",
    created_at=_QUEUED_AT,
    updated_at=_SENT_AT,
    events=[
        MessageEventView(
            id="evt_01jtj8m4t6v2k9c3x5b7n1p0rf",
            type="queued",
            seq=1,
            at=_QUEUED_AT,
            attempt=0,
            smtp_code=None,
            enhanced_code=None,
            reply=None,
            possible_duplicate=False,
        ),
        MessageEventView(
            id="evt_01jtj8m4t6v2k9c3x5b7n1p0rg",
            type="sent",
            seq=2,
            at=_SENT_AT,
            attempt=1,
            smtp_code=250,
            enhanced_code="2.0.0",
            reply="250 2.0.0 Ok: queued as 4F2A1C",
            possible_duplicate=False,
        ),
    ],
)


@get(
    "/messages/{message_id:str}",
    tags=["messages"],
    summary="Get a message",
    description="One message (one recipient of one send request): its status and its events, "
    "oldest first. A message id just returned by `POST /v1/emails` may answer 404 for a "
    "moment, until the workers record its first event.",
    responses={
        **returns(MessageView, EXAMPLE, "The message and its events."),
        **problems(*GUARDED, 404),
    },
)
async def get_message(message_id: FromPath[str], workspace_id: NamedDependency[str]) -> MessageView:
    found = await messages.get_message(workspace_id, message_id)
    if found is None:
        raise NotFound(f"This workspace has no message {message_id}.")
    return MessageView(
        id=found["id"],
        request_id=found["request_id"],
        sender=found["sender"],
        to=found["recipient"],
        subject=found["subject"],
        tags=found["tags"],
        program=found["program"],
        status=found["status"],
        created_at=found["created_at"],
        updated_at=found["updated_at"],
        events=[event_view(event) for event in found["events"]],
    )


def event_view(event: messages.EventView) -> MessageEventView:
    detail = event["detail"]
    suppression = detail.get("suppression")
    return MessageEventView(
        id=event["id"],
        type=event["type"],
        seq=event["seq"],
        at=datetime.fromtimestamp(event["at"], UTC),
        attempt=event["attempt"],
        smtp_code=event["smtp_code"],
        enhanced_code=event["enhanced_code"],
        reply=event["reply"],
        possible_duplicate=event["possible_duplicate"],
        bounce=detail.get("bounce"),
        diagnostic=detail.get("diagnostic"),
        url=detail.get("url"),
        user_agent=detail.get("user_agent"),
        ip=detail.get("ip"),
        machine=bool(detail.get("machine")),
        machine_reason=detail.get("machine_reason"),
        suppression=msgspec.convert(suppression, SuppressionRef) if suppression else None,
        unsubscribe_scope=detail.get("unsubscribe_scope"),
    )
