"""The Events API: ``GET /v1/events`` (a workspace's events, filtered and paged) and
``GET /v1/messages/{message_id}/events`` (one message's timeline).

Each item is the event exactly as a webhook delivers it (:func:`streams.public.event_data`),
so a missed delivery can be fetched here. Events appear once the workers projected them, a
moment after they happened. Needs a ``read`` key (the guard's rule for GET). Unknown query
parameters are refused (422): a misspelt filter must not silently list everything.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from api.decoding import only_known
from api.errors import NotFound, ValidationFailed
from api.event_input import EventQuery, event_filters
from api.event_schemas import (
    DEFAULT_LIMIT,
    EVENT_PARAMETERS,
    LIST_EXAMPLE,
    TIMELINE_EXAMPLE,
    TYPES_TEXT,
    EventList,
    Limit,
    MessageId,
    Order,
    Program,
    Recipient,
    Since,
    StartingAfter,
    Tag,
    Types,
    Until,
)
from api.openapi import GUARDED, problems, returns
from tables import events


@get(
    "/events",
    tags=["events"],
    summary="List events",
    description="The workspace's events, newest first (`order=oldest` for oldest first); "
    "every filter given must hold. `type` is one of "
    f"{TYPES_TEXT}; repeat it for several. `recipient` matches the address in any case. "
    "`since` is inclusive, `until` exclusive (and later than `since`). Page with "
    "`starting_after` (the last id of the previous page) and the same `order` and filters. "
    "Needs a `read` key.",
    responses={
        **returns(EventList, LIST_EXAMPLE, "A page of events."),
        **problems(*GUARDED, 422),
    },
)
async def list_events(
    request: Request[Any, Any, Any],
    workspace_id: NamedDependency[str],
    type: Types = None,  # named as the query parameter, so Litestar's errors name it
    message_id: MessageId = None,
    recipient: Recipient = None,
    tag: Tag = None,
    program: Program = None,
    since: Since = None,
    until: Until = None,
    order: Order = "newest",
    limit: Limit = DEFAULT_LIMIT,
    starting_after: StartingAfter = None,
) -> dict[str, Any]:
    only_known(request.query_params, EVENT_PARAMETERS)
    filters = event_filters(
        EventQuery(
            types=tuple(type or ()),
            message_id=message_id,
            recipient=recipient,
            tag=tag,
            program=program,
            since=since,
            until=until,
        )
    )
    if isinstance(filters, list):
        raise ValidationFailed(filters)
    found, more = await events.list_events(
        workspace_id, filters, limit=limit, order=order, starting_after=starting_after
    )
    return {"data": found, "has_more": more}


@get(
    "/messages/{message_id:str}/events",
    tags=["events"],
    summary="List a message's events",
    description="One message's events in timeline order (oldest first), all on one page. A "
    "message id just returned by `POST /v1/emails` may answer 404 for a moment, until the "
    "workers record its first event. Needs a `read` key.",
    responses={
        **returns(EventList, TIMELINE_EXAMPLE, "The message's events."),
        **problems(*GUARDED, 404),
    },
)
async def message_events(
    message_id: FromPath[str], workspace_id: NamedDependency[str]
) -> dict[str, Any]:
    found = await events.message_events(workspace_id, message_id)
    if found is None:
        raise NotFound(f"This workspace has no message {message_id}.")
    return {"data": found, "has_more": False}
