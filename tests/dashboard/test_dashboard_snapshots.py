"""SVG snapshots of the main view and every screen, at 80x24 and on a larger terminal, from
the sample stream on a frozen clock (pytest-textual-snapshot; update with
``--snapshot-update`` and look at the files before committing them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.dashboard import sample
from tests.dashboard.screen import settled, until

APP = Path(__file__).parent / "snapshot_app.py"
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((140, 44), id="140x44")]


async def ready(pilot: Pilot) -> None:
    await settled(pilot.app, pilot)


def then(*keys: str):
    async def run(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press(*keys)
        pilot.app.refresh_view()

    return run


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_main_view(snap_compare, size):
    assert snap_compare(APP, terminal_size=size, run_before=ready)


def test_snapshot_main_view_paused_on_a_selection_and_ranked_by_rate(snap_compare):
    assert snap_compare(APP, run_before=then("up", "up", "up", "w"))


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_timeline_screen(snap_compare, size):
    assert snap_compare(APP, terminal_size=size, run_before=then("up", "up", "enter"))


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_lookup_screen(snap_compare, size):
    async def look_up(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("l")
        pilot.app.screen.query_one(Input).value = sample.ADA
        await pilot.press("enter")
        await until(pilot, lambda: pilot.app.screen.found is not None, "the lookup")
        pilot.app.screen.refresh_view()

    assert snap_compare(APP, terminal_size=size, run_before=look_up)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_help_screen(snap_compare, size):
    assert snap_compare(APP, terminal_size=size, run_before=then("question_mark"))


def test_snapshot_details_screen(snap_compare):
    assert snap_compare(APP, terminal_size=(140, 44), run_before=then("d"))


def test_snapshot_filter_box(snap_compare):
    assert snap_compare(APP, run_before=then("slash", "t", "y", "p", "e", ":"))


def test_snapshot_filtered_log(snap_compare):
    async def filtered(pilot: Pilot) -> None:
        await ready(pilot)
        pilot.app.screen.log_view  # noqa: B018 (the main view is up)
        await pilot.press("slash")
        pilot.app.screen.query_one(Input).value = "type:bounced,complained"
        await pilot.press("enter")
        pilot.app.refresh_view()

    assert snap_compare(APP, run_before=filtered)


def test_snapshot_broker_unreachable(snap_compare):
    async def broker_gone(pilot: Pilot) -> None:
        await ready(pilot)
        app = pilot.app
        app.source.health_given = sample.unreachable()
        await until(pilot, lambda: not app.model.health.reachable, "the failed check")
        app.refresh_view()

    assert snap_compare(APP, run_before=broker_gone)
