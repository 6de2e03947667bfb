"""What the operator sees: the app's screen as plain text lines, read from Textual's own SVG
export (public API), and a poll with a deadline for the Pilot tests."""

from __future__ import annotations

import contextlib
import html
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from textual.app import App
from textual.pilot import Pilot

from dashboard.app import DashboardApp, build_app
from dashboard.source import ReplaySource
from tests.dashboard import sample

_TEXT = re.compile(
    r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)" textLength="([\d.]+)"[^>]*>(.*?)</text>', re.S
)


def screen_lines(app: App[Any]) -> list[str]:
    """The terminal's rows, as text (each span put back at its column)."""
    spans = [
        (float(y), float(x), float(length), html.unescape(text).replace("\xa0", " "))
        for x, y, length, text in _TEXT.findall(app.export_screenshot())
    ]
    cell = next(length / len(text) for _, _, length, text in spans if text)
    width, rows = app.size.width, app.size.height
    ys = sorted({y for y, *_ in spans})
    lines = [[" "] * width for _ in range(rows)]
    for y, x, _, text in spans:
        row, col = ys.index(y), round(x / cell)
        for i, char in enumerate(text):
            if 0 <= col + i < width and row < rows:
                lines[row][col + i] = char
    return ["".join(line).rstrip() for line in lines]


def screen_text(app: App[Any]) -> str:
    return "\n".join(screen_lines(app))


async def until(
    pilot: Pilot[Any], probe: Callable[[], object], what: str, timeout: float = 5
) -> None:
    """Let the app run until ``probe()`` is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.02)


@contextlib.asynccontextmanager
async def running(
    source: ReplaySource | None = None, size: tuple[int, int] = (80, 24), **options: float
) -> AsyncIterator[tuple[DashboardApp, Pilot[None], ReplaySource]]:
    """The app on the sample source (or ``source``), every given batch ingested, health in,
    and the screen drawn. Health is checked often, so a test changing it waits little."""
    source = source or sample.source()
    app = build_app(source, sample.clock(), **{"health_every": 0.05, **options})
    async with app.run_test(size=size, notifications=True) as pilot:
        await settled(app, pilot)
        yield app, pilot, source


async def settled(app: DashboardApp, pilot: Pilot[Any]) -> None:
    """Wait until the source's batches are ingested and health is in, then draw."""
    source = app.source
    assert isinstance(source, ReplaySource)
    await until(
        pilot,
        lambda: source.drained.is_set() and not app.batches_pending and app.model.health,
        "the sample to be ingested",
    )
    app.refresh_view()
    await pilot.pause()
