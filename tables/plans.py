"""Plans: the limits a workspace gets. An operator manages them with ``herald plans`` and
``herald workspaces``; a workspace without a plan gets the settings' defaults. Also the
workspace's own defaults for sends that do not say (open and click tracking)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from piccolo.columns import Column

from tables.db import Plan, Workspace
from tables.errors import PlanNotFound, WorkspaceNotFound


@dataclass(frozen=True, slots=True)
class Limits:
    key_rate: float  # API requests per second per key
    key_burst: int  # the largest burst of API requests per key
    send_rate: float  # sends per second per workspace
    send_burst: int


@dataclass(frozen=True, slots=True)
class Tracking:
    """What a send that does not say gets: open and click tracking on or off."""

    track_opens: bool = False
    track_clicks: bool = False


@dataclass(frozen=True, slots=True)
class PlanView:
    name: str
    limits: Limits


@dataclass(frozen=True, slots=True)
class WorkspaceView:
    id: str
    name: str
    plan: str | None
    created_at: datetime
    tracking: Tracking = Tracking()


async def set_plan(name: str, limits: Limits) -> None:
    """Create the plan, or change its limits (workspaces on it get them within seconds)."""
    row = Plan(
        name=name,
        key_rate=limits.key_rate,
        key_burst=limits.key_burst,
        send_rate=limits.send_rate,
        send_burst=limits.send_burst,
        created_at=datetime.now(UTC),
    )
    limit_columns = [Plan.key_rate, Plan.key_burst, Plan.send_rate, Plan.send_burst]
    await Plan.insert(row).on_conflict(target=Plan.name, action="DO UPDATE", values=limit_columns)


async def list_plans() -> list[PlanView]:
    rows = await Plan.select().order_by(Plan.name)
    return [PlanView(row["name"], _limits(row)) for row in rows]


async def assign_plan(workspace_id: str, plan: str | None) -> None:
    """Put the workspace on ``plan`` (None: back to the settings' defaults)."""
    if plan is not None and not await Plan.exists().where(Plan.name == plan):
        raise PlanNotFound(f"no plan named {plan!r}: create it with `herald plans set`")
    changed = (
        await Workspace.update({Workspace.plan: plan})
        .where(Workspace.id == workspace_id)
        .returning(Workspace.id)
    )
    if not changed:
        raise WorkspaceNotFound(f"no workspace with id {workspace_id!r}")


async def limits_of(workspace_id: str, defaults: Limits) -> Limits:
    """The limits in force for a workspace: its plan's, else ``defaults``."""
    return (await policy_of(workspace_id, defaults))[0]


async def policy_of(workspace_id: str, defaults: Limits) -> tuple[Limits, Tracking]:
    """The limits in force for a workspace (its plan's, else ``defaults``) and its tracking
    defaults, read together: the API caches both per key."""
    row = (
        await Workspace.select(Workspace.plan, Workspace.track_opens, Workspace.track_clicks)
        .where(Workspace.id == workspace_id)
        .first()
    )
    if row is None:
        return defaults, Tracking()
    tracking = _tracking(row)
    if row["plan"] is None:
        return defaults, tracking
    plan = await Plan.select().where(Plan.name == row["plan"]).first()
    return (defaults if plan is None else _limits(plan)), tracking


async def set_tracking(
    workspace_id: str, *, track_opens: bool | None = None, track_clicks: bool | None = None
) -> Tracking:
    """Change the workspace's tracking defaults (None: leave as is); returns them. API
    processes apply them within a second (their key cache)."""
    values: dict[Column | str, Any] = {
        column: value
        for column, value in (
            (Workspace.track_opens, track_opens),
            (Workspace.track_clicks, track_clicks),
        )
        if value is not None
    }
    if values:
        await Workspace.update(values).where(Workspace.id == workspace_id)
    row = (
        await Workspace.select(Workspace.track_opens, Workspace.track_clicks)
        .where(Workspace.id == workspace_id)
        .first()
    )
    if row is None:
        raise WorkspaceNotFound(f"no workspace with id {workspace_id!r}")
    return _tracking(row)


async def list_workspaces() -> list[WorkspaceView]:
    rows = await Workspace.select().order_by(Workspace.name)
    return [_workspace(r) for r in rows]


async def find_workspace(id_or_name: str) -> WorkspaceView:
    rows = await Workspace.select().where(
        (Workspace.id == id_or_name) | (Workspace.name == id_or_name)
    )
    if not rows:
        raise WorkspaceNotFound(f"no workspace with id or name {id_or_name!r}")
    return _workspace(rows[0])


def _workspace(row: dict[str, Any]) -> WorkspaceView:
    return WorkspaceView(row["id"], row["name"], row["plan"], row["created_at"], _tracking(row))


def _tracking(row: dict[str, Any]) -> Tracking:
    return Tracking(bool(row["track_opens"]), bool(row["track_clicks"]))


def _limits(row: dict[str, Any]) -> Limits:
    return Limits(
        key_rate=float(row["key_rate"]),
        key_burst=int(row["key_burst"]),
        send_rate=float(row["send_rate"]),
        send_burst=int(row["send_burst"]),
    )
