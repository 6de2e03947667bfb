"""What each pane of the main view says, as Rich ``Text`` from the model (pure).

Each function takes the size it has to fill, so the same code draws 80x24 and a wall screen.
"""

from __future__ import annotations

from rich.text import Text

from dashboard.format import (
    BAD,
    GOOD,
    WARN,
    clip,
    clock_time,
    count,
    fit,
    kind_style,
    percent,
    sparkline,
)
from dashboard.health import Health
from dashboard.model import Model

SPAN = 120  # seconds the sparklines cover
LAG_WARN = 1_000  # records behind before the lag turns yellow


def _row(label: str, value: str | Text, style: str = "", label_width: int = 9) -> Text:
    row = Text(f"{label:<{label_width}}", style="dim")
    row.append(value if isinstance(value, Text) else Text(value, style=style))
    return row


def broker_state(model: Model) -> tuple[str, str]:
    """(style, words) for the broker: what the probe and the consumer last said."""
    health = model.health
    if health is not None and not health.reachable:
        return BAD, "unreachable"
    if not model.status.connected:
        return WARN, model.status.detail or "connecting"
    if health is None:
        return WARN, "checking"
    return GOOD, "live"


def title(model: Model, label: str, width: int, paused: bool) -> Text:
    now = model.clock.now()
    style, words = broker_state(model)
    text = Text("Herald ", style="bold")
    text.append(f"● {words}", style=style)
    text.append(f"  {label}  {clock_time(now)} UTC", style="dim")
    text.append(f"  {count(model.throughput.rate(None, now))} ev/s")
    text.append(f"  Σ {count(model.throughput.total)}")
    if paused:
        text.append("  PAUSED", style="bold reverse yellow")
    return fit(text, width)


def alert(model: Model, label: str, down_since: float | None) -> Text | None:
    """The banner when the broker cannot be read, None when all is well."""
    health = model.health
    if health is not None and not health.reachable:
        since = f" since {clock_time(down_since)}" if down_since is not None else ""
        why = f": {health.error}" if health.error else ""
        return Text(
            f"✖ broker {label} unreachable{since}{why}; retrying", style="bold white on red"
        )
    if not model.status.connected and model.status.detail not in ("", "connecting"):
        return Text(f"✖ {model.status.detail}; retrying", style="bold white on red")
    return None


def throughput(model: Model, width: int, height: int) -> Text:
    """One row for every kind (busiest first, after the total): sparkline of the last
    ``SPAN`` seconds, events/s now, and the total since start when there is room."""
    now = model.clock.now()
    wide = width >= 34
    name_w = 13 if wide else 10
    spark_w = max(1, width - name_w - 6 - (8 if wide else 0))
    rows = []
    for kind in [None, *model.throughput.kinds()][: max(1, height)]:
        series = model.throughput.series(kind, now, spark_w, SPAN)
        name = clip(kind or "all", name_w - 1)
        row = Text(f"{name:<{name_w}}", style=kind_style(kind) if kind else "bold")
        row.append(sparkline(series, spark_w), style=kind_style(kind) if kind else "")
        row.append(f"{count(model.throughput.rate(kind, now)):>6}")
        if wide:
            total = model.throughput.total if kind is None else model.throughput.totals[kind]
            row.append(f"{count(total):>8}", style="dim")
        rows.append(row)
    return Text("\n").join(rows)


def _worker_row(health: Health) -> Text:
    worker = health.worker
    if worker is None:
        return Text("✖ never joined", style=BAD)
    plural = "s" if worker.members != 1 else ""
    if worker.alive and worker.state == "Stable":
        return Text(f"● {worker.members} member{plural}", style=GOOD)
    if worker.alive:
        return Text(f"◐ {worker.members} {worker.state.lower()}", style=WARN)
    return Text(f"✖ none ({worker.state.lower()})", style=BAD)


def _lag_row(health: Health) -> Text:
    worst = max(
        ((lag, topic) for g in health.groups for topic, lag in g.lag_by_topic().items()),
        default=(0, ""),
    )
    total = sum(g.lag for g in health.groups)
    style = GOOD if total == 0 else WARN if total < LAG_WARN else BAD
    text = Text(count(total), style=style)
    if worst[0]:
        text.append(f" {worst[1].removeprefix('herald.')}", style="dim")
    return text


def health(model: Model, width: int, height: int) -> Text:
    h = model.health
    rows: list[Text] = []
    style, words = broker_state(model)
    latency = f" {h.latency_ms:.0f} ms" if h and h.reachable and h.latency_ms is not None else ""
    rows.append(_row("broker", f"● {words}{latency}", style))
    if h is not None and h.reachable:
        rows.append(_row("worker", _worker_row(h)))
        rows.append(_row("lag", _lag_row(h)))
        rows.append(_row("deferred", count(h.deferred), GOOD if h.deferred == 0 else WARN))
    letters = model.dead_letters
    on_topic = h.dead_letters if h is not None and h.reachable else letters.seen
    new = f" ({letters.seen} new)" if letters.seen else ""
    rows.append(_row("dead ltr", f"{count(on_topic)}{new}", GOOD if not on_topic else WARN))
    failing = model.webhooks.failing()
    hooks = Text(f"● {len(failing)} failing", style=GOOD if not failing else BAD)
    if failing:
        hooks.append(f" {failing[0].endpoint_id}", style="dim")
    rows.append(_row("webhooks", hooks))
    if model.malformed:
        rows.append(_row("malformed", count(model.malformed), BAD, label_width=10))
    if letters.latest and len(rows) < height:
        rows.append(Text(f"last dead letter: {letters.latest[-1].reason}", style="dim"))
    return Text("\n").join(fit(r, width) for r in rows)


def top_workspaces(model: Model, width: int, height: int, by_rate: bool) -> Text:
    ws_w = max(9, width - 14)
    n = max(0, height - 1)
    if by_rate:
        head = f"{'workspace':<{ws_w}}{'bounce':>7}{'compl':>7}"
        ranked = model.workspaces.by_rate(n)
        rows = [
            Text(clip(ws, ws_w - 1).ljust(ws_w))
            + Text(f"{percent(c.bounce_rate):>7}", style=WARN if c.bounce_rate > 0.05 else "")
            + Text(f"{percent(c.complaint_rate):>7}", style=BAD if c.complaint_rate > 0.001 else "")
            for ws, c in ranked
        ]
        empty = f"none with {model.workspaces.min_queued}+ queued"
    else:
        head = f"{'workspace':<{ws_w}}{'events':>7}{'b+c':>7}"
        ranked = model.workspaces.by_volume(n)
        rows = [
            Text(clip(ws, ws_w - 1).ljust(ws_w))
            + Text(f"{count(c.events):>7}")
            + Text(f"{percent(c.bounce_rate + c.complaint_rate):>7}", style="dim")
            for ws, c in ranked
        ]
        empty = "no events yet"
    lines = [Text(clip(head, width), style="bold dim"), *rows]
    if not rows:
        lines.append(Text(clip(empty, width), style="dim"))
    return Text("\n").join(lines)
