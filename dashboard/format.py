"""Pure formatting: times, counts, sparklines and the log line, as Rich ``Text``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich.text import Text

from dashboard.lines import MALFORMED, LogLine

# One colour per kind, so a glance at the log says what is happening.
KIND_STYLES: dict[str, str] = {
    "queued": "blue",
    "sent": "cyan",
    "delivered": "green",
    "deferred": "yellow",
    "bounced": "bold red",
    "complained": "bold magenta",
    "opened": "bright_green",
    "clicked": "bright_cyan",
    "unsubscribed": "magenta",
    "suppressed": "bright_black",
    "failed": "bold red",
    "webhook_disabled": "bold yellow",
    MALFORMED: "bold red",
}
BARS = "▁▂▃▄▅▆▇█"
KEY_NAMES = {
    "up": "↑",
    "down": "↓",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "home": "Home",
    "end": "End",
    "enter": "Enter",
    "escape": "Esc",
    "space": "Space",
    "question_mark": "?",
    "slash": "/",
    "tab": "Tab",
}
GOOD, WARN, BAD = "green", "yellow", "bold red"
MALFORMED_STYLE = "bold white on red"  # a record nobody can read stands out in the log


def kind_style(kind: str) -> str:
    return KIND_STYLES.get(kind, "white")


def clock_time(at: float) -> str:
    """``14:03:07``, UTC (the API's times are UTC too)."""
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S")


def short_time(at: float) -> str:
    """``05-01 14:03:07``, UTC: a date and time for tables."""
    return datetime.fromtimestamp(at, UTC).strftime("%m-%d %H:%M:%S")


def full_time(at: float) -> str:
    """``2025-05-01 14:03:07.123Z``."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def count(n: float) -> str:
    """A count in at most five characters: 999, 12.3k, 4.56M."""
    if n < 1_000:
        return f"{n:.0f}" if float(n).is_integer() or n >= 10 else f"{n:.1f}"
    for unit, size in (("k", 1e3), ("M", 1e6), ("G", 1e9)):
        value = n / size
        if value < 999.5:
            return f"{value:.3g}{unit}" if value < 100 else f"{value:.0f}{unit}"
    return f"{n / 1e12:.0f}T"


def percent(ratio: float) -> str:
    return f"{ratio * 100:.1f}%" if ratio < 0.995 else f"{ratio * 100:.0f}%"


def sparkline(values: Sequence[int], width: int) -> str:
    """``values`` as ``width`` bar characters (the last ``width`` values); zero is a space,
    anything above zero at least the lowest bar."""
    values = list(values)[-width:] if width > 0 else []
    top = max(values, default=0)
    cells = []
    for v in values:
        if v <= 0 or top <= 0:
            cells.append(" ")
        else:
            cells.append(BARS[min(len(BARS) - 1, (v * len(BARS) - 1) // top)])
    return "".join(cells).rjust(width)


def clip(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, with an ellipsis when cut."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def columns(width: int) -> tuple[int, int, int]:
    """Widths of workspace, type and recipient for a log of ``width`` cells; the detail
    takes the rest (at 80 cells: 9, 10, 22 and 36)."""
    if width >= 140:
        return 27, 16, 36
    if width >= 110:
        return 14, 16, 30
    return 9, 10, 22


def log_text(line: LogLine, width: int, terms: Sequence[str] = ()) -> Text:
    """One log line: time, workspace, type, recipient, detail; coloured by type, search terms
    highlighted."""
    ws_w, kind_w, to_w = columns(width)
    text = Text(no_wrap=True, overflow="crop")
    text.append(clock_time(line.at) + " ", style="dim")
    text.append(clip(line.workspace, ws_w).ljust(ws_w) + " ", style="dim cyan")
    alarm = line.kind == MALFORMED
    kind = clip(line.kind, kind_w).ljust(kind_w)
    text.append(kind, style=MALFORMED_STYLE if alarm else kind_style(line.kind)).append(" ")
    text.append(clip(line.recipient, to_w).ljust(to_w) + " ")
    rest = width - len(text.plain)
    detail_style = MALFORMED_STYLE if alarm else ""
    text.append(clip(line.detail, rest), style=detail_style)
    if terms:
        text.highlight_words([t for t in terms if t], "reverse", case_sensitive=False)
    return text


def log_header(width: int) -> Text:
    ws_w, kind_w, to_w = columns(width)
    head = f"{'time':<9}{'workspace':<{ws_w + 1}}{'type':<{kind_w + 1}}{'recipient':<{to_w + 1}}"
    return Text(clip(head + "subject / answer / reason", width), style="bold dim")


def fit(text: Text, width: int) -> Text:
    """``text`` cut to ``width`` cells (with an ellipsis), keeping its styles."""
    if text.cell_len <= width:
        return text
    cut = text.copy()
    cut.truncate(width, overflow="ellipsis")
    return cut


def key_label(keys: str) -> str:
    """``up,k`` as ``↑ k``: how the help and the footer name a binding's keys."""
    return " ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in keys.split(","))
