"""``/v1/workspace``: the workspace a key belongs to, the limits of its plan, and its defaults
for sends (``GET`` with any key, ``PATCH`` with a ``full`` one)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, get, patch

from api.auth import CallerDep
from api.errors import UNKNOWN_FIELD, MalformedBody, ValidationFailed
from api.openapi import GUARDED, body_documented_as, problems, returns
from api.validation import FieldError
from tables import plans
from tables.plans import Limits


class LimitsView(msgspec.Struct):
    key_requests_per_second: float
    key_burst: int
    sends_per_second: float
    send_burst: int


class WorkspaceView(msgspec.Struct):
    id: str
    name: str
    plan: str | None  # None: the server's default limits
    created_at: datetime
    limits: LimitsView
    track_opens: bool  # what a send that does not say track_opens gets
    track_clicks: bool


class WorkspaceChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The defaults to change; a field left out keeps its value."""

    track_opens: bool | msgspec.UnsetType = msgspec.UNSET
    track_clicks: bool | msgspec.UnsetType = msgspec.UNSET


# Decoded by hand, strictly: Litestar's own decoding would take 0 for false.
_DECODER = msgspec.json.Decoder(WorkspaceChange)
_ERROR_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$\.?(?P<field>[^`]*)`)?$", re.DOTALL)


EXAMPLE = WorkspaceView(
    id="ws_5f1c0d9e8a7b6c5d4e3f2a1b",
    name="acme",
    plan="pro",
    created_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
    limits=LimitsView(
        key_requests_per_second=100.0, key_burst=200, sends_per_second=200.0, send_burst=400
    ),
    track_opens=True,
    track_clicks=False,
)


@get(
    "/workspace",
    opt={"scope": "read"},
    tags=["workspace"],
    summary="Get the key's workspace",
    responses={
        **returns(WorkspaceView, EXAMPLE, "The workspace, its limits and defaults."),
        **problems(*GUARDED),
    },
)
async def get_workspace(caller: CallerDep) -> WorkspaceView:
    """The caller's workspace, the limits in force for it and its defaults for sends."""
    return _view(await plans.find_workspace(caller.workspace_id), caller.limits)


@patch(
    "/workspace",
    opt={"scope": "full"},
    tags=["workspace"],
    summary="Change the workspace's defaults",
    description="Whether sends that do not say `track_opens` or `track_clicks` get open and "
    "click tracking. Fields left out keep their value. New sends get the new defaults within "
    "a second. Needs a `full` key.",
    operation_class=body_documented_as(WorkspaceChange, {"track_opens": True}),
    responses={
        **returns(WorkspaceView, EXAMPLE, "The workspace with its new defaults."),
        **problems(400, *GUARDED, 413, 422),
    },
)
async def change_workspace(request: Request[Any, Any, Any], caller: CallerDep) -> WorkspaceView:
    """Set the workspace's tracking defaults."""
    data = decode_change(await request.body())
    await plans.set_tracking(
        caller.workspace_id,
        track_opens=_given(data.track_opens),
        track_clicks=_given(data.track_clicks),
    )
    return _view(await plans.find_workspace(caller.workspace_id), caller.limits)


def decode_change(body: bytes) -> WorkspaceChange:
    """The body as a :class:`WorkspaceChange`; 400 unless a JSON object, 422 naming the field
    that is unknown or not a boolean."""
    try:
        return _DECODER.decode(body)
    except msgspec.ValidationError as exc:
        match = _ERROR_AT.match(str(exc))
        message = match.group("message") if match else str(exc)
        field = (match.group("field") or "") if match else ""
        if unknown := UNKNOWN_FIELD.match(message):
            field, message = unknown.group("name"), "unknown field"
        if not field:
            raise MalformedBody(f"The body must be a JSON object: {message}") from exc
        raise ValidationFailed([FieldError(field, message)]) from exc
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"The body is not valid JSON: {exc}") from exc


def _given(value: bool | msgspec.UnsetType) -> bool | None:
    return None if isinstance(value, msgspec.UnsetType) else value


def _view(found: plans.WorkspaceView, limits: Limits) -> WorkspaceView:
    return WorkspaceView(
        id=found.id,
        name=found.name,
        plan=found.plan,
        created_at=found.created_at,
        limits=LimitsView(
            key_requests_per_second=limits.key_rate,
            key_burst=limits.key_burst,
            sends_per_second=limits.send_rate,
            send_burst=limits.send_burst,
        ),
        track_opens=found.tracking.track_opens,
        track_clicks=found.tracking.track_clicks,
    )
