"""Every binding of the main view and the event log, driven by Pilot on the sample stream,
checked on the screen the operator sees."""

from __future__ import annotations

from textual.widgets import Input

from dashboard.source import Batch
from tests.dashboard.sample import event
from tests.dashboard.screen import running, screen_lines, screen_text, until

LOG_ROWS = slice(2, 14)  # at 80x24: title, log header, then the log's rows


def log_rows(app) -> list[str]:
    return screen_lines(app)[LOG_ROWS]


async def test_space_pauses_the_log_and_resumes_it():
    async with running() as (app, pilot, source):
        before = log_rows(app)
        await pilot.press("space")
        assert "PAUSED" in screen_lines(app)[0]
        assert "PAUSED +0 new" in screen_lines(app)[1]
        source.push(Batch(events=[event("queued", 999, 1_746_108_124.0, "ws_new", "zed@x.org")]))
        await until(pilot, lambda: app.model.received == 969, "the pushed event")
        app.refresh_view()
        await pilot.pause()
        assert "PAUSED +1 new" in screen_lines(app)[1]
        assert "zed@x.org" not in screen_text(app)
        assert log_rows(app)[:-1] == before[:-1]  # held still (the last row is now selected)
        await pilot.press("space")
        assert "PAUSED" not in screen_text(app)
        assert "LIVE 969" in screen_lines(app)[1]
        assert "zed@x.org" in log_rows(app)[-1]


async def test_up_and_k_select_older_lines_and_down_and_j_newer_ones():
    async with running() as (app, pilot, _):
        log = app.screen.log_view
        newest = app.model.view[-1]
        await pilot.press("up")
        assert log.paused and log.selected == newest
        await pilot.press("up", "k")
        assert log.selected == app.model.view[-3]
        await pilot.press("down")
        assert log.selected == app.model.view[-2]
        await pilot.press("j", "j", "j")  # stops at the newest line
        assert log.selected == newest
        assert "PAUSED" in screen_lines(app)[1]


async def test_page_up_and_page_down_move_ten_lines_and_scroll_the_log():
    async with running() as (app, pilot, _):
        log = app.screen.log_view
        await pilot.press("up", "pageup", "pageup")
        assert log.selected == app.model.view[-21]
        shown = log_rows(app)
        assert shown[0].startswith("14:01:59")  # scrolled back to keep the selection in view
        assert app.model.view[-21].recipient in "\n".join(shown)
        await pilot.press("pagedown")
        assert log.selected == app.model.view[-11]


async def test_home_selects_the_oldest_line_and_end_follows_the_tail_again():
    async with running() as (app, pilot, _):
        await pilot.press("home")
        log = app.screen.log_view
        assert log.selected == app.model.view[0]
        assert log_rows(app)[0].startswith("14:00:02 ws_5f1c0… queued     user0@example.com")
        await pilot.press("end")
        assert not log.paused
        assert "LIVE 968" in screen_lines(app)[1]
        assert "herald.events[2]@1041" in log_rows(app)[-1]


async def test_enter_opens_the_timeline_of_the_selected_message_and_escape_comes_back():
    async with running() as (app, pilot, _):
        await pilot.press("up", "up", "enter")
        text = screen_text(app)
        assert "Timeline of msg_sample_0395" in text
        for kind in ("queued", "sent", "delivered", "opened"):
            assert kind in text
        assert "May newsletter" in text
        await pilot.press("escape")
        assert "LIVE" not in screen_text(app)  # still paused where it was
        assert "PAUSED" in screen_lines(app)[1]


async def test_enter_on_a_malformed_line_explains_there_is_no_timeline():
    async with running() as (app, pilot, _):
        await pilot.press("up", "enter")  # the newest line is the malformed record
        await pilot.pause()
        assert "This line belongs to no message." in screen_text(app)
        assert app.screen.log_view.paused


async def test_slash_filters_the_log_and_x_clears_it():
    async with running() as (app, pilot, _):
        await pilot.press("slash", *"type:bounced", "enter")
        app.refresh_view()
        await pilot.pause()
        rows = [r for r in log_rows(app) if r.strip()]
        assert len(rows) == 5
        assert all(" bounced " in r for r in rows)
        assert "LIVE 5" in screen_lines(app)[1]
        await pilot.press("x")
        assert "LIVE 968" in screen_lines(app)[1]


async def test_the_filter_box_searches_words_and_escape_keeps_the_filter():
    async with running() as (app, pilot, _):
        await pilot.press("slash", *"receipt", "enter")
        app.refresh_view()
        await pilot.pause()
        rows = [r for r in log_rows(app) if r.strip()]
        assert rows and all("Your receipt" in r for r in rows)
        await pilot.press("slash")
        assert "Filter and search" in screen_text(app)
        app.screen.query_one(Input).value = "receipt type:sent"
        await pilot.press("escape")
        assert app.model.filter.text == "receipt"
        assert "Filter and search" not in screen_text(app)


async def test_keys_bound_elsewhere_are_text_in_the_filter_box():
    async with running() as (app, pilot, _):
        await pilot.press("slash", "q", "l", "d", "question_mark", "space", "w", "x")
        assert app.is_running
        assert app.screen.query_one(Input).value == "qld? wx"
        assert "Filter and search" in screen_text(app)


async def test_a_filter_that_cannot_be_right_is_explained_and_the_box_stays_open():
    async with running() as (app, pilot, _):
        await pilot.press("slash", *"type:bouncy", "enter")
        text = screen_text(app)
        assert "unknown event type 'bouncy'" in text
        assert "Filter and search" in text
        assert app.model.filter.empty


async def test_w_ranks_workspaces_by_bounce_and_complaint_rate_and_back():
    async with running() as (app, pilot, _):
        assert "Workspaces: volume" in screen_text(app)
        assert "ws_5f1c0d…     689" in screen_text(app)
        await pilot.press("w")
        text = screen_text(app)
        assert "Workspaces: b+c rate" in text
        assert "ws_0c9d8e…    3.1%   3.1%" in text
        await pilot.press("w")
        assert "Workspaces: volume" in screen_text(app)


async def test_q_quits():
    async with running() as (app, pilot, _):
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_a_click_selects_the_line_under_the_pointer():
    async with running() as (app, pilot, _):
        await pilot.click("#log", offset=(5, 3))  # the third log row
        assert app.screen.log_view.selected == app.model.view[-10]


async def test_pausing_again_under_a_narrower_filter_shows_every_line_it_keeps():
    async with running() as (app, pilot, _):
        await pilot.press("up", "end")  # paused at the newest line, then following again
        await pilot.press("slash")
        app.screen.query_one(Input).value = "type:bounced"
        await pilot.press("enter", "up")
        rows = [r for r in log_rows(app) if r.strip()]
        assert len(rows) == 5
        assert all(" bounced " in r for r in rows)
