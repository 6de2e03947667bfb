"""The database commands of the ``herald`` CLI: migrations, keys, workspaces and plans.

This is the operator's admin interface: workspaces and plans are managed here, not over the
public API. Each command builds nothing global: it takes the process's settings, opens the
database, does one thing and closes it. stdout carries only the result, so
``herald keys create --workspace NAME`` can be captured by a script.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from config.settings import Settings
from tables import plans
from tables.database import close, connect, migrate
from tables.keys import create_key, create_workspace
from tables.plans import Limits


async def migrate_command(settings: Settings) -> None:
    """Bring the database schema up to date and say what was applied."""
    applied = await migrate(settings)
    if applied:
        for name in applied:
            print(f"applied {name}")
    else:
        print("database schema is up to date")


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[None]:
    await migrate(settings)
    engine = await connect(settings)
    try:
        yield
    finally:
        await close(engine)


async def create_key_command(
    settings: Settings, workspace: str, *, name: str = "", scopes: Sequence[str] = ("full",)
) -> str:
    """Create an API key for the workspace named ``workspace`` (created if new); return it."""
    async with _database(settings):
        workspace_id = await create_workspace(workspace)
        _, token = await create_key(workspace_id, name=name, scopes=scopes)
        return token


async def list_workspaces_command(settings: Settings) -> list[str]:
    async with _database(settings):
        return [
            f"{w.id}\t{w.name}\t{w.plan or '(default limits)'}"
            for w in await plans.list_workspaces()
        ]


async def create_workspace_command(settings: Settings, name: str, plan: str | None) -> str:
    async with _database(settings):
        workspace_id = await create_workspace(name)
        if plan is not None:
            await plans.assign_plan(workspace_id, plan)
        return workspace_id


async def assign_plan_command(settings: Settings, workspace: str, plan: str | None) -> None:
    async with _database(settings):
        found = await plans.find_workspace(workspace)
        await plans.assign_plan(found.id, plan)


async def set_plan_command(settings: Settings, name: str, limits: Limits) -> None:
    async with _database(settings):
        await plans.set_plan(name, limits)


async def list_plans_command(settings: Settings) -> list[str]:
    async with _database(settings):
        return [
            f"{p.name}\tkey {p.limits.key_rate:g}/s burst {p.limits.key_burst}\t"
            f"sends {p.limits.send_rate:g}/s burst {p.limits.send_burst}"
            for p in await plans.list_plans()
        ]
