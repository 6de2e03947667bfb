"""The content of the secondary screens, as Rich renderables (pure): a message's timeline,
an address lookup, pipeline details and the help."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from dashboard.format import BAD, GOOD, WARN, count, full_time, kind_style, short_time
from dashboard.health import Health
from dashboard.lines import LogLine, detail_of
from dashboard.model import Model
from dashboard.source import Lookup
from streams.records import Event

FOLDED = {"detail", "reason", "answer", "does"}  # columns that wrap; the others are cut
CAPPED = {"workspace": 16, "message": 20, "endpoint": 20}  # long ids, cut to leave room


def _table(*headers: str) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold dim")
    for header in headers:
        if header in FOLDED:
            table.add_column(header, overflow="fold", min_width=16)
        else:
            cap = CAPPED.get(header)
            table.add_column(header, no_wrap=True, overflow="ellipsis", max_width=cap)
    return table


def _heading(text: str) -> Text:
    return Text(text, style="bold underline")


def timeline(message_id: str, events: Sequence[Event], kept_messages: int) -> RenderableType:
    if not events:
        return Text(
            f"No events of {message_id} are kept here: the dashboard keeps the latest "
            f"{kept_messages:,} messages it has seen since it started.",
            style="dim",
        )
    first = next((e for e in events if e.type == "queued"), events[0])
    facts = Text()
    for label, value in (
        ("message", message_id),
        ("workspace", first.workspace_id),
        ("to", first.recipient),
        ("from", first.sender or ""),
        ("subject", first.subject or ""),
        ("program", first.program),
        ("tags", ", ".join(first.tags)),
        ("request", first.request_id or ""),
    ):
        if value:
            facts.append(f"{label:<10}", style="dim").append(f"{value}\n")
    table = _table("seq", "time (UTC)", "type", "detail")
    for e in events:
        table.add_row(
            str(e.seq or "-"), full_time(e.at), Text(e.type, style=kind_style(e.type)), detail_of(e)
        )
    return Group(facts, table)


def lookup(address: str, found: Lookup | None, recent: Sequence[LogLine]) -> RenderableType:
    parts: list[RenderableType] = [_heading(f"Suppressions of {address} and its domain")]
    if found is not None and not found.error:
        where = f"partition {found.partition}, " if found.partition is not None else ""
        note = (
            f"every workspace; herald.suppressions {where}{found.scanned:,} records read: "
            "the changes the broker still holds (retention); GET /v1/suppressions has them all"
        )
        parts.append(Text(note, style="dim"))
    if found is None:
        parts.append(Text("reading herald.suppressions ...", style="dim"))
    elif found.error:
        parts.append(Text(f"could not read herald.suppressions: {found.error}", style=BAD))
    elif not found.entries:
        parts.append(Text("none in force", style=GOOD))
    else:
        table = _table("added (UTC)", "value", "scope", "workspace", "reason")
        for entry in found.entries:
            scope = entry.scope + (f" {entry.scope_value}" if entry.scope_value else "")
            reason = Text(entry.reason, style=WARN).append(f" ({entry.source})", style="dim")
            table.add_row(
                short_time(entry.created_at), entry.value, scope, entry.workspace_id, reason
            )
        parts.append(table)
    parts.append(Text())
    parts.append(_heading("Latest events seen by this dashboard"))
    if not recent:
        parts.append(Text("none since the dashboard started", style="dim"))
    else:
        table = _table("time (UTC)", "type", "message", "workspace", "detail")
        for line in recent:
            table.add_row(
                short_time(line.at),
                Text(line.kind, style=kind_style(line.kind)),
                line.message_id,
                line.workspace,
                line.detail,
            )
        parts.append(table)
    return Group(*parts)


def _lag_tables(health: Health) -> list[RenderableType]:
    groups = _table("consumer group", "state", "members", "lag")
    parts = _table("group", "topic", "partition", "committed", "end", "lag")
    for g in health.groups:
        style = GOOD if g.alive else BAD
        groups.add_row(g.group_id, Text(g.state, style=style), str(g.members), f"{g.lag:,}")
        for p in g.partitions:
            committed = "-" if p.committed is None else f"{p.committed:,}"
            lag = Text(f"{p.lag:,}", style=WARN if p.lag else "")
            parts.add_row(g.group_id, p.topic, str(p.partition), committed, f"{p.end:,}", lag)
    return [groups, Text(), _heading("Lag per partition"), parts]


def details(model: Model) -> RenderableType:
    now = model.clock.now()
    out: list[RenderableType] = [_heading("Events since start")]
    totals = _table("type", "total", "per second")
    for kind in model.throughput.kinds():
        totals.add_row(
            Text(kind, style=kind_style(kind)),
            f"{model.throughput.totals[kind]:,}",
            count(model.throughput.rate(kind, now)),
        )
    out += [totals, Text(), _heading("Consumer groups")]
    health = model.health
    if health is None:
        out.append(Text("not checked yet", style="dim"))
    elif not health.reachable:
        out.append(Text(f"broker unreachable: {health.error}", style=BAD))
    else:
        out += _lag_tables(health)
        out.append(Text(f"deferred deliveries (retry topics): {health.deferred:,}"))
    out += [Text(), _heading(f"Dead letters ({model.dead_letters.seen:,} seen)")]
    letters = _table("time (UTC)", "from topic", "reason")
    for letter in reversed(model.dead_letters.latest):
        letters.add_row(short_time(letter.at), letter.source_topic, letter.reason)
    out.append(letters)
    out += [Text(), _heading("Webhook endpoints failing")]
    hooks = _table("endpoint", "workspace", "last try (UTC)", "outcome", "answer")
    for a in model.webhooks.failing():
        answer = str(a.status) if a.status is not None else a.error or ""
        hooks.add_row(a.endpoint_id, a.workspace_id, short_time(a.at), a.outcome, answer)
    out.append(hooks)
    return Group(*out)


def help_table(sections: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> RenderableType:
    parts: list[RenderableType] = []
    for title, bindings in sections:
        table = Table(box=None, pad_edge=False, show_header=False)
        table.add_column("key", width=12, no_wrap=True, style="bold")
        table.add_column("does", overflow="fold")
        for keys, description in bindings:
            table.add_row(keys, description)
        parts += [_heading(title), table, Text()]
    return Group(*parts)
