"""The main view's widgets: the event log and the panes. They draw what the model holds when
the app's timer asks them to, never per record."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import islice

from rich.console import RenderableType
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from dashboard.format import fit, log_header, log_text
from dashboard.lines import LogLine
from dashboard.model import Model


class Pane(Widget):
    """A box whose content a pure function draws for the size it has."""

    DEFAULT_CSS = "Pane { overflow: hidden; }"

    def __init__(self, draw: Callable[[int, int], RenderableType], **kwargs: str) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._draw = draw

    def render(self) -> RenderableType:
        size = self.content_size
        return self._draw(size.width, size.height)


class EventLog(Widget, can_focus=True):
    """The live log: the model's filtered view, newest at the bottom. Following, it shows the
    tail; paused (space, or moving the selection), it holds still on a snapshot of the view
    while new lines keep arriving in the model."""

    BINDINGS = [  # noqa: RUF012 (Textual reads it as a class attribute)
        Binding("up,k", "move(-1)", "Up", show=False, tooltip="Select the line above (pauses)"),
        Binding("down,j", "move(1)", "Down", show=False, tooltip="Select the line below"),
        Binding("pageup", "move(-10)", "Page up", show=False, tooltip="Ten lines up"),
        Binding("pagedown", "move(10)", "Page down", show=False, tooltip="Ten lines down"),
        Binding("home", "first", "Oldest", show=False, tooltip="The oldest line the log holds"),
        Binding("end", "follow", "Follow", show=False, tooltip="Follow the live tail (resumes)"),
        Binding("enter", "open", "Timeline", tooltip="Open the selected message's timeline"),
    ]
    COMPONENT_CLASSES = {"event-log--cursor"}  # noqa: RUF012
    DEFAULT_CSS = """
    EventLog { height: 1fr; }
    EventLog > .event-log--cursor { background: $accent 40%; text-style: bold; }
    """

    class Opened(Message):
        """The operator asked for the timeline of ``line``'s message."""

        def __init__(self, line: LogLine) -> None:
            super().__init__()
            self.line = line

    def __init__(self, model: Model, **kwargs: str) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.model = model
        self.frozen: list[LogLine] | None = None  # the snapshot while paused
        self.cursor = 0
        self.top = 0
        self.received_at_pause = 0
        self._window: Sequence[LogLine] = []

    @property
    def paused(self) -> bool:
        return self.frozen is not None

    @property
    def rows(self) -> int:
        return max(1, self.size.height - 1)  # the first row is the header

    @property
    def selected(self) -> LogLine | None:
        if self.frozen is None or not self.frozen:
            return None
        return self.frozen[self.cursor]

    def pause(self) -> None:
        self.frozen = list(self.model.view)
        self.cursor = max(0, len(self.frozen) - 1)
        self.top = max(0, len(self.frozen) - self.rows)  # the view as it was, the newest selected
        self.received_at_pause = self.model.received
        self.update_window()

    def resume(self) -> None:
        self.frozen = None
        self.update_window()

    def update_window(self) -> None:
        """Take the lines to show from the model or the snapshot, and repaint."""
        if self.frozen is None:
            tail = list(islice(reversed(self.model.view), self.rows))
            tail.reverse()
            self._window = tail
        else:
            self._window = self.frozen[self.top : self.top + self.rows]
        self.refresh()

    def _scroll_to_cursor(self) -> None:
        if self.cursor < self.top:
            self.top = self.cursor
        elif self.cursor >= self.top + self.rows:
            self.top = self.cursor - self.rows + 1
        self.update_window()

    def action_move(self, delta: int) -> None:
        if self.frozen is None:
            self.pause()
            return
        self.cursor = max(0, min(len(self.frozen) - 1, self.cursor + delta))
        self._scroll_to_cursor()

    def action_first(self) -> None:
        if self.frozen is None:
            self.pause()
        self.cursor = 0
        self._scroll_to_cursor()

    def action_follow(self) -> None:
        self.resume()

    def action_open(self) -> None:
        if self.frozen is None:
            self.pause()
        line = self.selected
        if line is None:
            self.notify("No line to open yet.", severity="warning")
        elif not line.message_id:
            self.notify("This line belongs to no message.", severity="warning")
        else:
            self.post_message(self.Opened(line))

    def on_resize(self, _: events.Resize) -> None:
        self.update_window()

    def on_click(self, event: events.Click) -> None:
        if event.y < 1:
            return
        if self.frozen is None:
            self.pause()
        self.cursor = max(0, min(len(self.frozen or []) - 1, self.top + event.y - 1))
        self._scroll_to_cursor()

    def on_mouse_scroll_up(self, _: events.MouseScrollUp) -> None:
        self.action_move(-3)

    def on_mouse_scroll_down(self, _: events.MouseScrollDown) -> None:
        self.action_move(3)

    def _state(self) -> Text:
        if self.frozen is None:
            return Text(f"LIVE {self.model.matched:,}", style="bold green")
        new = self.model.received - self.received_at_pause
        return Text(f"PAUSED +{new:,} new", style="bold yellow")

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            state = self._state()
            text = fit(log_header(width), max(0, width - state.cell_len - 1))
            text.pad_right(width - text.cell_len - state.cell_len)
            text.append_text(state)
        elif y - 1 < len(self._window):
            text = log_text(self._window[y - 1], width, self.model.filter.terms)
            if self.frozen is not None and self.top + y - 1 == self.cursor:
                text.pad_right(width - text.cell_len)
                text.stylize(self.get_component_rich_style("event-log--cursor"))
        else:
            return Strip.blank(width, base)
        strip = Strip(list(text.render(self.app.console, end="")))
        return strip.adjust_cell_length(width, base).apply_style(base)
