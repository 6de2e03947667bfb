"""The other screens (timeline, lookup, details, help) and how the dashboard behaves when the
broker goes away, a source fails or a record is malformed; driven by Pilot."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from textual.widgets import Input

from dashboard.app import help_sections
from dashboard.format import key_label
from dashboard.source import Batch, Lookup, SourceStatus
from tests.dashboard import sample
from tests.dashboard.screen import running, screen_lines, screen_text, until


async def test_the_lookup_shows_an_address_s_suppressions_and_latest_events():
    async with running() as (app, pilot, source):
        await pilot.press("l")
        assert "Lookup:" in screen_text(app)
        app.screen.query_one(Input).value = sample.ADA
        await pilot.press("enter")
        await until(pilot, lambda: "hard_bounce (bounce)" in screen_text(app), "the entry")
        text = screen_text(app)
        assert "herald.suppressions partition 2, 1,234 records read" in text
        assert "retention" in text
        assert "05-01 14:01:01  ada@example.com  global" in text
        assert text.count("msg_sample_0201") == 2  # queued, then suppressed
        assert "msg_sample_0001" in text
        assert source.lookups_asked == [sample.ADA]
        await pilot.press("escape")
        assert "Lookup:" not in screen_text(app)


async def test_the_lookup_s_enter_binding_looks_up_again_from_the_results():
    async with running() as (app, pilot, source):
        await pilot.press("l", *"b@x.org", "enter")
        await until(pilot, lambda: "none in force" in screen_text(app), "the answer")
        assert "none since the dashboard started" in screen_text(app)
        await pilot.press("tab")  # focus off the input: the screen's own binding answers
        await pilot.press("enter")
        await until(pilot, lambda: len(source.lookups_asked) == 2, "a second lookup")


async def test_l_on_a_selected_line_looks_its_recipient_up_at_once():
    async with running() as (app, pilot, source):
        await pilot.press("slash", *"to:ada", "enter", "up", "l")
        await until(pilot, lambda: source.lookups_asked == [sample.ADA], "the lookup")
        await until(pilot, lambda: "hard_bounce (bounce)" in screen_text(app), "the entry")


async def test_a_lookup_that_fails_says_so_and_the_dashboard_goes_on():
    async def broken(address: str) -> Lookup:
        raise ConnectionError("broker gone")

    async with running() as (app, pilot, source):
        source.lookup = broken  # type: ignore[method-assign]
        await pilot.press("l", *"a@x.org", "enter")
        await until(pilot, lambda: "could not read" in screen_text(app), "the error")
        assert "ConnectionError: broker gone" in screen_text(app)


async def test_d_shows_lag_per_group_and_partition_totals_dead_letters_and_webhooks():
    async with running(size=(100, 60)) as (app, pilot, _):
        await pilot.press("d")
        text = screen_text(app)
        assert "herald-worker   Stable  2        18" in text
        assert "herald.sends.ready      1          376        388    12" in text
        assert "deferred deliveries (retry topics): 3" in text
        assert "queued      400" in text
        assert "not a valid Event: Object missing required field `type`" in text
        assert "wh_broken_endpoint" in text and "503" in text
        await pilot.press("escape")
        assert "Pipeline details" not in screen_text(app)


async def test_the_help_lists_every_binding_of_every_screen_and_escape_closes_it():
    async with running(size=(100, 60)) as (app, pilot, _):
        await pilot.press("question_mark")
        text = screen_text(app)
        listed = 0
        for title, bindings in help_sections():
            assert title in text
            for binding in bindings:
                assert f"{key_label(binding.key)}" in text
                assert (binding.tooltip or binding.description) in text
                listed += 1
        assert listed >= 20
        await pilot.press("question_mark")  # asking again changes nothing
        await pilot.press("escape")
        assert "Keys" not in screen_text(app)


async def test_the_timeline_follows_new_events_of_its_message():
    async with running() as (app, pilot, source):
        await pilot.press("up", "up", "enter")
        assert "complained" not in screen_text(app)
        late = sample.event("complained", 395, sample.NOW - 1, sample.WORKSPACES[2],
                            "user395@example.com", seq=5)  # fmt: skip
        source.push(Batch(events=[late]))
        await until(pilot, lambda: not app.batches_pending and app.model.received == 969, "it")
        for _ in range(5):  # the reading screens repaint once a second
            app.refresh_view()
        await pilot.pause()
        assert "complained" in screen_text(app)


async def test_an_unreachable_broker_is_shown_prominently_until_it_is_back():
    async with running() as (app, pilot, source):
        assert "unreachable" not in screen_text(app)
        source.health_given = sample.unreachable()
        await until(pilot, lambda: app.model.health and not app.model.health.reachable, "it")
        app.refresh_view()
        await pilot.pause()
        lines = screen_lines(app)
        alert = f"{lines[1]} {lines[2]}"
        assert alert.startswith(
            "✖ broker 127.0.0.1:9092 unreachable since 14:02:05: KafkaConnectionError: "
            "connection refused; retrying"
        )
        assert lines[3].startswith("time ")  # the log right under the alert
        assert "● unreachable" in lines[0]
        source.health_given = sample.healthy()
        await until(pilot, lambda: app.model.health.reachable, "the broker back")
        app.refresh_view()
        await pilot.pause()
        assert "unreachable" not in screen_text(app)
        assert "● live" in screen_lines(app)[0]


async def test_a_source_that_lost_the_broker_says_so_and_recovers():
    async with running() as (app, pilot, source):
        source.push(Batch(status=SourceStatus(False, "cannot read 127.0.0.1:9092: refused")))
        await until(pilot, lambda: not app.model.status.connected, "the status")
        app.refresh_view()
        await pilot.pause()
        assert "✖ cannot read 127.0.0.1:9092: refused; retrying" in screen_text(app)
        source.push(Batch(status=SourceStatus(True, "reading 12 partitions")))
        await until(pilot, lambda: app.model.status.connected, "the status")
        app.refresh_view()
        await pilot.pause()
        assert "retrying" not in screen_text(app)


class FailingSource(sample.ReplaySource):
    """Fails once while reading, then reads like the sample."""

    def __init__(self) -> None:
        super().__init__(sample.batches(20), sample.healthy())
        self.failed = False

    async def batches(self) -> AsyncGenerator[Batch, None]:
        if not self.failed:
            self.failed = True
            yield Batch(events=sample.messages(3)[:2])
            raise RuntimeError("a bug in the source")
        async for batch in super().batches():
            yield batch


async def test_a_source_that_raises_is_restarted_and_the_dashboard_keeps_running():
    async with running(FailingSource(), retry_every=0.05) as (app, _pilot, source):
        assert source.failed
        assert app.is_running
        assert app.model.received == 2 + len(sample.messages(20)) + 1


async def test_a_slow_screen_slows_the_reader_instead_of_queueing_without_bound():
    many = [Batch(events=sample.messages(50)) for _ in range(40)]
    source = sample.ReplaySource(many, sample.healthy())
    async with running(source) as (app, _pilot, _):
        assert app.model.received == 40 * len(sample.messages(50))
        assert app.batches_pending == 0


async def test_the_main_view_fits_80_by_24_and_uses_a_larger_terminal():
    async with running(size=(80, 24)) as (app, _pilot, _):
        lines = screen_lines(app)
        assert len(lines) == 24
        assert all(len(line) <= 80 for line in lines)
        assert "Events/s" in lines[14] and "Health" in lines[14] and "Workspaces" in lines[14]
        assert lines[-1].startswith("⏎ Timeline")
    async with running(size=(160, 50)) as (app, _pilot, _):
        text = screen_text(app)
        assert sample.WORKSPACES[0] in text  # full ids in the log
        assert "complained" in text  # more rows of throughput


async def test_health_checks_keep_coming():
    async with running() as (_, pilot, source):
        calls = 0
        original = source.health

        async def counting():
            nonlocal calls
            calls += 1
            return await original()

        source.health = counting  # type: ignore[method-assign]
        await until(pilot, lambda: calls >= 3, "three more checks")


async def test_the_details_scroll_with_the_keys_the_help_lists():
    async with running() as (app, pilot, _):
        await pilot.press("d")
        assert "Webhook endpoints failing" not in screen_text(app)
        await pilot.press("end")
        assert "Webhook endpoints failing" in screen_text(app)
        await pilot.press("home")
        assert "Events since start" in screen_text(app)
        await pilot.press("pagedown", "down", "down")
        assert "Events since start" not in screen_text(app)
        await pilot.press("pageup", "up", "up")
        assert "Events since start" in screen_text(app)
