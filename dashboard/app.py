"""The dashboard app: wires a :class:`~dashboard.source.Source` and a clock to the model and
the screens. ``build_app`` is the factory the command, the tests and the benchmark use.

Two background workers feed it: one reads batches from the source (one message per batch,
with a bound on batches in flight so a slow UI slows the reader, never grows memory), one
checks health every few seconds. A timer repaints the active screen from the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen

from dashboard.clock import Clock, SystemClock
from dashboard.health import Health
from dashboard.main_view import MainScreen
from dashboard.messages import BatchArrived, HealthChecked
from dashboard.model import Model
from dashboard.screens import (
    DetailsScreen,
    FilterScreen,
    HelpScreen,
    LiveScreen,
    LookupScreen,
    TimelineScreen,
)
from dashboard.source import Batch, Source, SourceStatus
from dashboard.widgets import EventLog

MAX_IN_FLIGHT = 8  # batches posted and not yet ingested before the reader waits


class DashboardApp(App[None]):
    TITLE = "Herald dashboard"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", tooltip="Quit the dashboard"),
        Binding("question_mark", "help", "Help", tooltip="This list of keys"),
    ]
    CSS = """
    .screen-title { height: 1; background: $panel; text-style: bold; padding: 0 1; }
    #filter-box, #help-box {
        width: 100; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    #help-box VerticalScroll { height: auto; max-height: 100%; }
    FilterScreen, HelpScreen { align: center middle; }
    #syntax { color: $text-muted; }
    """

    def __init__(
        self,
        source: Source,
        clock: Clock,
        *,
        capacity: int = 20_000,
        refresh_hz: float = 5.0,
        health_every: float = 3.0,
        retry_every: float = 2.0,
    ) -> None:
        super().__init__()
        self.source = source
        self.clock = clock
        self.model = Model(clock, capacity=capacity)
        self.refresh_hz = refresh_hz
        self.health_every = health_every
        self.retry_every = retry_every  # after the source itself failed
        self.frames: deque[float] = deque(maxlen=10_000)  # when each repaint ran (monotonic)
        self._in_flight = 0
        self._ingested = asyncio.Event()
        self._ticks = 0

    @property
    def batches_pending(self) -> int:
        """Batches posted by the reader and not ingested yet."""
        return self._in_flight

    def get_default_screen(self) -> Screen[Any]:
        return MainScreen()

    def on_mount(self) -> None:
        self.run_worker(self._read(), name="source", group="source")
        self.run_worker(self._watch_health(), name="health", group="health")
        self.set_interval(1 / self.refresh_hz, self.refresh_view)

    async def _read(self) -> None:
        while True:
            try:
                async with contextlib.aclosing(self.source.batches()) as batches:
                    async for batch in batches:
                        while self._in_flight >= MAX_IN_FLIGHT:
                            self._ingested.clear()
                            await self._ingested.wait()
                        self._in_flight += 1
                        self.post_message(BatchArrived(batch))
            except Exception as exc:  # the source's own bug must not take the dashboard down
                status = SourceStatus(connected=False, detail=f"reader failed: {exc}")
                self._in_flight += 1
                self.post_message(BatchArrived(Batch(status=status)))
                await asyncio.sleep(self.retry_every)

    async def _watch_health(self) -> None:
        try:
            while True:
                try:
                    health = await self.source.health()
                except Exception as exc:
                    health = Health(reachable=False, checked_at=self.clock.now(), error=str(exc))
                self.post_message(HealthChecked(health))
                await asyncio.sleep(self.health_every)
        finally:  # the app is closing: let the source close its clients
            await self.source.close()

    def on_batch_arrived(self, message: BatchArrived) -> None:
        self.model.ingest(message.batch)
        self._in_flight -= 1
        self._ingested.set()

    def on_health_checked(self, message: HealthChecked) -> None:
        self.model.set_health(message.health)

    def refresh_view(self) -> None:
        """Repaint the active screen from the model (the timer calls it; tests may too)."""
        self.frames.append(time.monotonic())
        self.model.tick()
        self._ticks += 1
        screen = self.screen
        if not screen.is_mounted:
            return
        # Reading screens repaint about once a second; the main view on every tick.
        slow = self._ticks % max(1, round(self.refresh_hz)) == 0
        if isinstance(screen, MainScreen) or (isinstance(screen, LiveScreen) and slow):
            screen.refresh_view()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(help_sections()))


VERTICAL = {"scroll_up", "scroll_down", "scroll_home", "scroll_end", "page_up", "page_down"}


def help_sections() -> list[tuple[str, list[Binding]]]:
    """Every binding of every screen, read from the classes themselves."""
    scrolling = [b for b in VerticalScroll.BINDINGS if isinstance(b, Binding)]
    owners: list[tuple[str, Any]] = [
        ("Everywhere", DashboardApp),
        ("Main view", MainScreen),
        ("Event log", EventLog),
        ("Timeline", TimelineScreen),
        ("Lookup", LookupScreen),
        ("Details", DetailsScreen),
        ("Filter box", FilterScreen),
        ("Help", HelpScreen),
    ]
    sections = [
        (title, [b for b in owner.BINDINGS if isinstance(b, Binding)]) for title, owner in owners
    ]
    reading = [b for b in scrolling if b.action in VERTICAL]
    return [*sections, ("Scrolling the timeline, lookup, details and help", reading)]


def build_app(
    source: Source,
    clock: Clock | None = None,
    *,
    capacity: int = 20_000,
    refresh_hz: float = 5.0,
    health_every: float = 3.0,
    retry_every: float = 2.0,
) -> DashboardApp:
    """The dashboard on ``source``; ``clock`` defaults to the system's."""
    return DashboardApp(
        source,
        clock or SystemClock(),
        capacity=capacity,
        refresh_hz=refresh_hz,
        health_every=health_every,
        retry_every=retry_every,
    )
