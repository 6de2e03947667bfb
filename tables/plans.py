"""Plans: the limits a workspace gets. An operator manages them with ``herald plans`` and
``herald workspaces``; a workspace without a plan gets the settings' defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tables.db import Plan, Workspace
from tables.errors import PlanNotFound, WorkspaceNotFound


@dataclass(frozen=True, slots=True)
class Limits:
    key_rate: float  # API requests per second per key
    key_burst: int  # the largest burst of API requests per key
    send_rate: float  # sends per second per workspace
    send_burst: int


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
    row = await Workspace.select(Workspace.plan).where(Workspace.id == workspace_id).first()
    if row is None or row["plan"] is None:
        return defaults
    plan = await Plan.select().where(Plan.name == row["plan"]).first()
    return defaults if plan is None else _limits(plan)


async def list_workspaces() -> list[WorkspaceView]:
    rows = await Workspace.select().order_by(Workspace.name)
    return [WorkspaceView(r["id"], r["name"], r["plan"], r["created_at"]) for r in rows]


async def find_workspace(id_or_name: str) -> WorkspaceView:
    rows = await Workspace.select().where(
        (Workspace.id == id_or_name) | (Workspace.name == id_or_name)
    )
    if not rows:
        raise WorkspaceNotFound(f"no workspace with id or name {id_or_name!r}")
    r = rows[0]
    return WorkspaceView(r["id"], r["name"], r["plan"], r["created_at"])


def _limits(row: dict[str, Any]) -> Limits:
    return Limits(
        key_rate=float(row["key_rate"]),
        key_burst=int(row["key_burst"]),
        send_rate=float(row["send_rate"]),
        send_burst=int(row["send_burst"]),
    )
