"""The screens besides the main view: a message's timeline, address lookup, pipeline details,
the filter box and the help (generated from the bindings, so it cannot drift)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Static

from dashboard import reports
from dashboard.errors import FilterInvalid
from dashboard.filters import parse_filter
from dashboard.format import key_label
from dashboard.source import Lookup

if TYPE_CHECKING:
    from dashboard.app import DashboardApp

BACK = Binding("escape", "app.pop_screen", "Back", tooltip="Back to the previous screen")


class LiveScreen(Screen[None]):
    """A screen the app's timer repaints (about once a second: these views are for reading)."""

    @property
    def dashboard(self) -> DashboardApp:
        return self.app  # type: ignore[return-value]

    def refresh_view(self) -> None:
        """Draw again from the model."""


class ReportScreen(LiveScreen):
    """A title over one scrolling report, drawn again from the model on every repaint."""

    BINDINGS = [BACK]  # noqa: RUF012 (Textual reads it as a class attribute)
    body_id = ""

    def title_text(self) -> str:
        raise NotImplementedError

    def report(self) -> RenderableType:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        yield Static(self.title_text(), classes="screen-title")
        self.body = Static(id=self.body_id)
        with VerticalScroll():
            yield self.body
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        self.body.update(self.report())


class TimelineScreen(ReportScreen):
    body_id = "timeline"

    def __init__(self, message_id: str) -> None:
        super().__init__()
        self.message_id = message_id

    def title_text(self) -> str:
        return f"Timeline of {self.message_id}"

    def report(self) -> RenderableType:
        model = self.dashboard.model
        return reports.timeline(
            self.message_id, model.timeline(self.message_id), model.timelines.limit
        )


class LookupScreen(LiveScreen):
    BINDINGS = [  # noqa: RUF012
        Binding("enter", "look_up", "Look up", tooltip="Look up the address typed"),
        BACK,
    ]

    def __init__(self, address: str = "") -> None:
        super().__init__()
        self.address = address
        self.found: Lookup | None = None

    def compose(self) -> ComposeResult:
        yield Static("Lookup: an address's suppressions and latest events", classes="screen-title")
        yield Input(self.address, placeholder="ada@example.com", id="address")
        self.body = Static(id="result")
        with VerticalScroll():
            yield self.body
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        if self.address:
            self.action_look_up()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_look_up()

    def action_look_up(self) -> None:
        address = self.query_one("#address", Input).value.strip().lower()
        if not address:
            return
        self.address, self.found = address, None
        self.refresh_view()
        self.run_worker(self._look_up(address), group="lookup", exclusive=True)

    async def _look_up(self, address: str) -> None:
        try:
            found = await self.dashboard.source.lookup(address)
        except Exception as exc:  # a lookup failing must leave the dashboard running
            found = Lookup(address=address, error=f"{type(exc).__name__}: {exc}")
        if address == self.address:
            self.found = found
            self.refresh_view()

    def refresh_view(self) -> None:
        if not self.address:
            return
        recent = self.dashboard.model.recent_for(self.address)
        body = reports.lookup(self.address, self.found, recent)
        self.body.update(body)


class DetailsScreen(ReportScreen):
    body_id = "details"

    def title_text(self) -> str:
        return "Pipeline details"

    def report(self) -> RenderableType:
        return reports.details(self.dashboard.model)


class FilterScreen(ModalScreen[str | None]):
    """The filter box: answers the filter text, or None when cancelled."""

    BINDINGS = [  # noqa: RUF012
        Binding("enter", "apply", "Apply", tooltip="Apply the filter typed"),
        Binding("escape", "cancel", "Cancel", tooltip="Close, keeping the filter as it was"),
    ]
    SYNTAX = (
        "type:bounced,complained  ws:ws_5f1c  to:@example.com  tag:welcome  program:news  "
        "msg:msg_01  and any words to search for. Empty: show everything. "
        "Enter applies, Esc cancels."
    )

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="filter-box"):
            yield Static("Filter and search", classes="screen-title")
            yield Input(self.text, placeholder="type:bounced ws:... words", id="filter")
            yield Static(self.SYNTAX, id="syntax")
            yield Static("", id="problem")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def action_apply(self) -> None:
        text = self.query_one("#filter", Input).value
        try:
            parse_filter(text)
        except FilterInvalid as exc:
            self.query_one("#problem", Static).update(f"[b red]{exc}[/]")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [  # noqa: RUF012
        Binding("escape", "app.pop_screen", "Close", tooltip="Close the help"),
    ]

    def __init__(self, sections: Iterable[tuple[str, Iterable[Any]]]) -> None:
        super().__init__()
        self.sections = [
            (title, [(key_label(b.key), b.tooltip or b.description) for b in bindings])
            for title, bindings in sections
        ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static("Keys", classes="screen-title")
            with VerticalScroll():
                yield Static(reports.help_table(self.sections), id="help")
