"""The main view: title bar, alert banner, event log, and the throughput, health and
top-workspace panes; laid out to fit 80x24, roomier on bigger terminals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer

from dashboard import panes
from dashboard.filters import parse_filter
from dashboard.screens import DetailsScreen, FilterScreen, LookupScreen, TimelineScreen
from dashboard.widgets import EventLog, Pane

if TYPE_CHECKING:
    from dashboard.app import DashboardApp

TALL = 40  # rows from which the panes get taller


class MainScreen(Screen[None]):
    BINDINGS = [  # noqa: RUF012 (Textual reads it as a class attribute)
        Binding("space", "pause", "Pause", tooltip="Pause or resume the log"),
        Binding("slash", "filter", "Filter", tooltip="Filter and search the log"),
        Binding("x", "clear_filter", "Clear", show=False, tooltip="Clear the filter"),
        Binding("l", "lookup", "Lookup", tooltip="An address's suppressions and latest events"),
        Binding(
            "d",
            "details",
            "Details",
            tooltip="Lag per group and partition, totals, dead letters, failing webhooks",
        ),
        Binding(
            "w",
            "rank",
            "Rank",
            show=False,
            tooltip="Rank workspaces by volume or by bounce+complaint rate",
        ),
    ]
    DEFAULT_CSS = """
    MainScreen #title { height: 1; background: $panel; }
    MainScreen #alert { height: auto; max-height: 3; display: none; }
    MainScreen #alert.-shown { display: block; }
    MainScreen #panes { height: 9; }
    MainScreen.-tall #panes { height: 14; }
    MainScreen #panes Pane { width: 1fr; border: round $primary 60%; border-title-color: $text; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.by_rate = False

    @property
    def dashboard(self) -> DashboardApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        app = self.dashboard
        model, label = app.model, app.source.label
        self.log_view = EventLog(model, id="log")
        self.alert = Pane(lambda *_: panes.alert(model, label, model.down_since) or "", id="alert")
        self.panes = [
            Pane(lambda w, _: panes.title(model, label, w, self.log_view.paused), id="title"),
            self.alert,
            Pane(lambda w, h: panes.throughput(model, w, h), id="throughput"),
            Pane(lambda w, h: panes.health(model, w, h), id="health"),
            Pane(lambda w, h: panes.top_workspaces(model, w, h, self.by_rate), id="top"),
        ]
        yield from self.panes[:2]
        yield self.log_view
        with Horizontal(id="panes"):
            yield from self.panes[2:]
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#throughput").border_title = f"Events/s, {panes.SPAN // 60} min"
        self.query_one("#health").border_title = "Health"
        self._title_top()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.height >= TALL, "-tall")

    def _title_top(self) -> None:
        rank = "b+c rate" if self.by_rate else "volume"
        self.query_one("#top").border_title = f"Workspaces: {rank}"

    def refresh_view(self) -> None:
        alert = panes.alert(self.dashboard.model, self.dashboard.source.label, None)
        self.alert.set_class(alert is not None, "-shown")
        self.log_view.update_window()
        for pane in self.panes:
            pane.refresh()

    def action_pause(self) -> None:
        if self.log_view.paused:
            self.log_view.resume()
        else:
            self.log_view.pause()
        self.refresh_view()

    def action_filter(self) -> None:
        self.app.push_screen(FilterScreen(self.dashboard.model.filter.text), self._apply_filter)

    def _apply_filter(self, text: str | None) -> None:
        if text is None:
            return
        self.dashboard.model.set_filter(parse_filter(text))
        if self.log_view.paused:
            self.log_view.pause()  # a fresh snapshot, through the new filter
        self.refresh_view()

    def action_clear_filter(self) -> None:
        self._apply_filter("")

    def action_lookup(self) -> None:
        selected = self.log_view.selected
        address = selected.recipient if selected and "@" in selected.recipient else ""
        self.app.push_screen(LookupScreen(address))

    def action_details(self) -> None:
        self.app.push_screen(DetailsScreen())

    def action_rank(self) -> None:
        self.by_rate = not self.by_rate
        self._title_top()
        self.refresh_view()

    def on_event_log_opened(self, message: EventLog.Opened) -> None:
        self.app.push_screen(TimelineScreen(message.line.message_id))
