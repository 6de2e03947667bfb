"""How Herald reads a webhook endpoint's answer, and when it tries again."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from agents.webhook_policy import (
    MAX_RETRY_AFTER,
    SLOW_DOWN_DEFAULT,
    SLOW_DOWN_MAX,
    classify,
    next_attempt_at,
    parse_retry_after,
    slow_down_pause,
)

SCHEDULE = (5.0, 300.0, 1800.0)
NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "succeeded"), (201, "succeeded"), (204, "succeeded"), (299, "succeeded"),
     (410, "gone"),
     (429, "slow_down"), (502, "slow_down"), (503, "slow_down"), (504, "slow_down"),
     (301, "retry"), (302, "retry"), (307, "retry"), (308, "retry"), (304, "retry"),
     (400, "retry"), (401, "retry"), (404, "retry"), (408, "retry"), (500, "retry"),
     (501, "retry"), (100, "retry"), (None, "retry")],
)  # fmt: skip
def test_answers_are_classified(status: int | None, outcome: str):
    assert classify(status) == outcome


def test_each_retry_waits_its_step_of_the_schedule_plus_at_most_ten_percent():
    rng = random.Random(7)
    for attempts, step in enumerate(SCHEDULE, start=1):
        for _ in range(50):
            due = next_attempt_at(NOW, attempts, SCHEDULE, retry_after=None, rng=rng)
            assert due is not None
            assert NOW + step <= due <= NOW + step * 1.1


def test_jitter_spreads_retries_of_one_outage():
    rng = random.Random(1)
    dues = {next_attempt_at(NOW, 2, SCHEDULE, retry_after=None, rng=rng) for _ in range(20)}
    assert len(dues) > 1


def test_after_the_last_step_the_event_is_dead():
    rng = random.Random(0)
    assert next_attempt_at(NOW, len(SCHEDULE), SCHEDULE, retry_after=None, rng=rng) is not None
    assert next_attempt_at(NOW, len(SCHEDULE) + 1, SCHEDULE, retry_after=None, rng=rng) is None
    assert next_attempt_at(NOW, 1, (), retry_after=None, rng=rng) is None


def test_attempts_count_from_one():
    with pytest.raises(ValueError, match="first"):
        next_attempt_at(NOW, 0, SCHEDULE, retry_after=None, rng=random.Random(0))


def test_retry_after_lengthens_the_wait_but_never_shortens_it():
    rng = random.Random(0)
    assert next_attempt_at(NOW, 1, SCHEDULE, retry_after=120.0, rng=rng) == NOW + 120.0
    shorter = next_attempt_at(NOW, 2, SCHEDULE, retry_after=1.0, rng=rng)
    assert shorter is not None and shorter >= NOW + 300.0


def test_retry_after_is_capped_at_a_day():
    rng = random.Random(0)
    due = next_attempt_at(NOW, 1, SCHEDULE, retry_after=10 * 86400.0, rng=rng)
    assert due == NOW + MAX_RETRY_AFTER


def test_retry_after_does_not_revive_a_dead_event():
    rng = random.Random(0)
    assert next_attempt_at(NOW, 4, SCHEDULE, retry_after=60.0, rng=rng) is None


@pytest.mark.parametrize(
    ("retry_after", "pause"),
    [(None, SLOW_DOWN_DEFAULT), (30.0, 30.0), (0.0, 1.0), (86400.0, SLOW_DOWN_MAX)],
)
def test_a_slow_down_pauses_the_endpoint_within_bounds(retry_after: float | None, pause: float):
    assert slow_down_pause(retry_after) == pause


def test_retry_after_in_seconds_is_read():
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after(" 0 ", NOW) == 0.0


def test_retry_after_as_an_http_date_is_read_relative_to_now():
    when = datetime.fromtimestamp(NOW + 90, UTC)
    assert parse_retry_after(format_datetime(when, usegmt=True), NOW) == pytest.approx(90.0)
    assert parse_retry_after(when.strftime("%a %b %d %H:%M:%S %Y"), NOW) == pytest.approx(90.0)


def test_a_retry_after_date_in_the_past_means_now():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "١٢", "Wed, 99 Foo 2015"])
def test_an_unreadable_retry_after_is_ignored(value: str | None):
    assert parse_retry_after(value, NOW) is None
