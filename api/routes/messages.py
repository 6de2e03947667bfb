"""``GET /v1/messages/{message_id}``: one message's status and event timeline.

Messages appear here once the workers projected their first event, so a message id just
returned by ``POST /v1/emails`` may answer 404 for a moment.
"""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath

from api.errors import NotFound
from api.schemas import MessageEventView, MessageView
from tables import messages


@get("/messages/{message_id:str}")
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
        status=found["status"],
        created_at=found["created_at"],
        updated_at=found["updated_at"],
        events=[
            MessageEventView(
                id=event["id"],
                type=event["type"],
                at=datetime.fromtimestamp(event["at"], UTC),
                attempt=event["attempt"],
                smtp_code=event["smtp_code"],
                enhanced_code=event["enhanced_code"],
                reply=event["reply"],
                possible_duplicate=event["possible_duplicate"],
            )
            for event in found["events"]
        ],
    )
