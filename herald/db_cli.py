"""The database commands of the ``herald`` CLI: ``herald db migrate``, ``herald keys create``.

Each builds nothing global: it takes the process's settings, opens the database, does one
thing and closes it. Progress goes to the log (stderr); stdout carries only the result, so
``herald keys create --workspace NAME`` can be captured by a script.
"""

from __future__ import annotations

from config.settings import Settings
from tables.database import close, connect, migrate
from tables.keys import create_key, create_workspace


async def migrate_command(settings: Settings) -> None:
    """Bring the database schema up to date and say what was applied."""
    applied = await migrate(settings)
    if applied:
        for name in applied:
            print(f"applied {name}")
    else:
        print("database schema is up to date")


async def create_key_command(settings: Settings, workspace: str) -> str:
    """Create an API key for the workspace named ``workspace`` (created if new); return it."""
    await migrate(settings)
    engine = await connect(settings)
    try:
        workspace_id = await create_workspace(workspace)
        return await create_key(workspace_id)
    finally:
        await close(engine)
