"""Pure formatting: counts, sparklines, the log line, key names, --since."""

from __future__ import annotations

import pytest
from rich.text import Text

from dashboard.errors import SinceInvalid
from dashboard.format import clip, count, fit, key_label, log_header, log_text, percent, sparkline
from dashboard.lines import MALFORMED, LogLine, detail_of, event_line
from dashboard.since import parse_since
from tests.dashboard.sample import ADA_SUPPRESSION, T0, event

LINE = LogLine(
    at=T0 + 7.9,
    kind="deferred",
    workspace="ws_5f1c0d9e8a7b6c5d4e3f2a1b",
    recipient="someone.with.a.long.name@example.com",
    detail="451 4.7.1 try again later",
    message_id="msg_1",
)


@pytest.mark.parametrize(
    ("n", "shown"),
    [(0, "0"), (7, "7"), (2.5, "2.5"), (999, "999"), (1_234, "1.23k"), (12_345, "12.3k"),
     (999_499, "999k"), (1_500_000, "1.5M"), (3e9, "3G")],
)  # fmt: skip
def test_counts_fit_in_five_characters(n: float, shown: str):
    assert count(n) == shown


def test_percent():
    assert (percent(0.0), percent(0.0123), percent(1.0)) == ("0.0%", "1.2%", "100%")


def test_sparkline_scales_to_the_highest_value_and_keeps_zero_blank():
    assert sparkline([0, 1, 4, 8], 4) == " ▁▄█"
    assert sparkline([5, 5], 4) == "  ██"  # right-aligned: the newest at the right
    assert sparkline([1, 2, 3, 4, 5, 6], 3) == "▆▇█"  # the last values only
    assert sparkline([0, 0], 2) == "  "


def test_clip_and_fit_cut_with_an_ellipsis():
    assert clip("workspace", 5) == "work…"
    assert clip("ws", 5) == "ws"
    cut = fit(Text("abcdef", style="red"), 4)
    assert (cut.plain, cut.cell_len) == ("abc…", 4)


@pytest.mark.parametrize("width", [80, 120, 160])
def test_a_log_line_never_outgrows_the_terminal(width: int):
    text = log_text(LINE, width)
    assert text.cell_len <= width
    assert text.plain.startswith("14:00:07 ws_5f1c0")
    assert "deferred" in text.plain
    assert log_header(width).cell_len <= width


def test_a_log_line_shows_the_whole_workspace_id_on_a_wide_terminal():
    assert LINE.workspace in log_text(LINE, 160).plain
    assert LINE.workspace not in log_text(LINE, 80).plain


def test_search_terms_are_highlighted_in_the_line():
    text = log_text(LINE, 80, terms=("again",))
    start = text.plain.index("again")
    assert any(span.start == start and "reverse" in str(span.style) for span in text.spans)


def test_a_malformed_line_stands_out():
    bad = LogLine(T0, MALFORMED, "", "herald.events[0]@1", "not a valid Event")
    text = log_text(bad, 80)
    assert any("on red" in str(span.style) for span in text.spans)


def test_the_detail_says_what_explains_each_event():
    bounce = event("bounced", 1, T0, "ws", "a@x.org", smtp_code=550, enhanced_code="5.1.1",
                   bounce="hard", diagnostic="user unknown")  # fmt: skip
    retry = event("deferred", 1, T0, "ws", "a@x.org", smtp_code=451, reply="later", attempt=2)
    assert detail_of(bounce) == "hard: 550 5.1.1 user unknown"
    assert detail_of(retry) == "try 3: 451 later"
    assert detail_of(event("queued", 1, T0, "ws", "a@x.org", subject="Hi")) == "Hi"
    suppressed = event("suppressed", 1, T0, "ws", "ada@example.com", suppression=ADA_SUPPRESSION)
    assert detail_of(suppressed) == "hard_bounce: ada@example.com (global)"
    clicked = event("clicked", 1, T0, "ws", "a@x.org", url="https://x.org", machine=True)
    assert detail_of(clicked) == "https://x.org (machine: yes)"
    dup = event("sent", 1, T0, "ws", "a@x.org", smtp_code=250, possible_duplicate=True)
    assert detail_of(dup) == "250 (possible duplicate)"
    assert event_line(dup).kind == "sent"


def test_key_labels_read_like_the_keyboard():
    assert key_label("up,k") == "↑ k"
    assert key_label("question_mark") == "?"
    assert key_label("slash") == "/"


@pytest.mark.parametrize(
    ("text", "ago"), [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1.5h", 5400)]
)
def test_since_as_a_duration(text: str, ago: float):
    assert parse_since(text, 1_000_000.0) == 1_000_000.0 - ago


def test_since_as_a_time_defaults_to_utc():
    assert parse_since("2025-05-01T14:00:00Z", 2e9) == T0
    assert parse_since("2025-05-01T14:00:00", 2e9) == T0
    assert parse_since("2025-05-01T16:00:00+02:00", 2e9) == T0


@pytest.mark.parametrize("text", ["yesterday", "15 minutes", "-5m", "2999-01-01T00:00:00Z"])
def test_since_refuses_what_it_cannot_read(text: str):
    with pytest.raises(SinceInvalid, match="--since"):
        parse_since(text, T0)
