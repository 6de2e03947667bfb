"""Throughput counters and top workspaces (pure)."""

from __future__ import annotations

from dashboard.stats import OTHER, Throughput, Workspaces

NOW = 1_000_000.5


def test_rate_counts_the_last_complete_seconds_only():
    t = Throughput()
    for second in range(10):
        for _ in range(second):
            t.add("sent", NOW - 10 + second, NOW)
    t.add("sent", NOW, NOW)  # the current second is not complete: not in the rate
    # complete seconds NOW-5..NOW-1 hold 5,6,7,8,9 events
    assert t.rate("sent", NOW) == (5 + 6 + 7 + 8 + 9) / 5
    assert t.rate(None, NOW) == t.rate("sent", NOW)
    assert t.rate("bounced", NOW) == 0


def test_series_slices_the_span_into_columns_oldest_first():
    t = Throughput()
    for ago in range(1, 61):
        t.add("queued", NOW - ago, NOW)
    t.add("bounced", NOW - 2, NOW)
    assert t.series("queued", NOW, columns=6, span=60) == [10] * 6
    assert t.series("bounced", NOW, columns=6, span=60) == [0, 0, 0, 0, 0, 1]
    assert sum(t.series(None, NOW, columns=4, span=120)) == 61


def test_events_from_the_future_count_now_and_old_ones_only_in_the_totals():
    t = Throughput(window=60)
    t.add("sent", NOW + 3600, NOW)  # a clock ahead of ours
    t.add("sent", NOW - 3600, NOW)  # a --since replay, older than the window
    assert t.totals["sent"] == 2
    assert t.series("sent", NOW + 1, columns=1, span=2) == [1]
    assert sum(t.series("sent", NOW, columns=10, span=60)) == 0


def test_prune_forgets_seconds_that_left_the_window():
    t = Throughput(window=60)
    t.add("sent", NOW - 30, NOW)
    t.prune(NOW + 100)
    assert t.series("sent", NOW, columns=1, span=60) == [0]
    assert t.total == 1


def test_kinds_come_busiest_first():
    t = Throughput()
    for kind, n in (("sent", 3), ("queued", 5), ("bounced", 1)):
        for _ in range(n):
            t.add(kind, NOW, NOW)
    assert t.kinds() == ["queued", "sent", "bounced"]


def fill(ws: Workspaces, name: str, queued: int, bounced: int = 0, complained: int = 0) -> None:
    for kind, n in (("queued", queued), ("bounced", bounced), ("complained", complained)):
        for _ in range(n):
            ws.add(name, kind)


def test_top_workspaces_by_volume():
    ws = Workspaces()
    fill(ws, "ws_small", 3)
    fill(ws, "ws_big", 50, bounced=1)
    fill(ws, "ws_mid", 20)
    assert [name for name, _ in ws.by_volume(2)] == ["ws_big", "ws_mid"]
    assert ws.get("ws_big").events == 51


def test_top_workspaces_by_bounce_and_complaint_rate_leave_out_small_senders():
    ws = Workspaces(min_queued=20)
    fill(ws, "ws_tiny", 2, bounced=2)  # 100% of 2: says nothing
    fill(ws, "ws_clean", 100)
    fill(ws, "ws_bouncy", 40, bounced=4)
    fill(ws, "ws_complained", 40, complained=6)
    ranked = ws.by_rate(5)
    assert [name for name, _ in ranked] == ["ws_complained", "ws_bouncy", "ws_clean"]
    assert ranked[0][1].complaint_rate == 6 / 40
    assert ranked[1][1].bounce_rate == 4 / 40


def test_workspaces_beyond_the_limit_are_counted_together():
    ws = Workspaces(limit=2)
    for name in ("a", "b", "c", "d"):
        ws.add(name, "queued")
    ws.add("a", "queued")
    assert len(ws) == 3
    assert ws.get(OTHER).events == 2
    assert ws.get("a").events == 2
    ws.add("", "queued")  # events without a workspace are not a workspace
    assert len(ws) == 3
