"""Write ``docs/dashboard.svg``, the README's screenshot: the main view at 100x30 on the
sample stream and frozen clock. Run ``python -m tests.dashboard.export_screenshot``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.dashboard.screen import running

TARGET = Path(__file__).resolve().parents[2] / "docs" / "dashboard.svg"


async def export() -> str:
    async with running(size=(100, 30)) as (app, _, _):
        return app.export_screenshot(title="herald dashboard")


if __name__ == "__main__":
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(asyncio.run(export()))
    print(TARGET.relative_to(Path.cwd()) if TARGET.is_relative_to(Path.cwd()) else TARGET)
