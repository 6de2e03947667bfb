"""``GET /v1/workspace``: the workspace a key belongs to, and the limits of its plan."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from litestar import get

from api.auth import CallerDep
from api.openapi import GUARDED, problems, returns
from tables import plans


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


EXAMPLE = WorkspaceView(
    id="ws_5f1c0d9e8a7b6c5d4e3f2a1b",
    name="acme",
    plan="pro",
    created_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
    limits=LimitsView(
        key_requests_per_second=100.0, key_burst=200, sends_per_second=200.0, send_burst=400
    ),
)


@get(
    "/workspace",
    opt={"scope": "read"},
    tags=["workspace"],
    summary="Get the key's workspace",
    responses={
        **returns(WorkspaceView, EXAMPLE, "The workspace and its limits."),
        **problems(*GUARDED),
    },
)
async def get_workspace(caller: CallerDep) -> WorkspaceView:
    """The caller's workspace and the limits in force for it."""
    found = await plans.find_workspace(caller.workspace_id)
    limits = caller.limits
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
    )
