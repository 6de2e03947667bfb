"""The workspace throttle: each partition holds its share of the workspace's token bucket."""

from __future__ import annotations

import time
from contextlib import nullcontext
from types import SimpleNamespace
from typing import Any

import pytest

from agents import dispatch
from agents.dispatch import Pending, bucket_key, throttle
from config.settings import Settings
from streams.records import Content, Delivery, SendLimit

PARTITIONS = 4
CONTENT = Content(sender="a@acme.example", subject="s", to=("b@example.com",))


class Event:
    """What the throttle reads of the Faust event that carried a delivery: its partition."""

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition, topic="herald.sends.by_recipient")


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    return Settings(data_dir=tmp_path, topic_partitions=PARTITIONS)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The seconds the throttle slept, instead of sleeping them."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(dispatch.asyncio, "sleep", sleep)
    # The table here is a dict: no Faust event needs to be current while it is written.
    monkeypatch.setattr(dispatch.event_context, "current", lambda event: nullcontext())
    return slept


def batch(workspace: str, partitions: list[int], limit: SendLimit) -> list[Pending]:
    return [
        Pending(
            Event(p),
            Delivery(
                f"msg_{i}", "req", workspace, "b@example.com", CONTENT, time.time(), limit=limit
            ),
            False,
        )
        for i, p in enumerate(partitions)
    ]


async def test_a_workspace_spread_over_the_partitions_gets_its_whole_burst_at_once(
    settings: Settings, waits: list[float]
) -> None:
    buckets: dict[str, Any] = {}
    limit = SendLimit(rate=40, burst=8)
    # 8 sends, two on each of the 4 partitions: each partition's share of the burst is 2.
    await throttle(buckets, batch("ws_1", [0, 1, 2, 3] * 2, limit), settings)
    assert waits == []
    assert sorted(buckets) == [bucket_key("ws_1", p) for p in range(PARTITIONS)]


async def test_more_than_a_partition_s_share_waits_at_the_share_s_rate(
    settings: Settings, waits: list[float]
) -> None:
    buckets: dict[str, Any] = {}
    limit = SendLimit(rate=40, burst=8)
    # 7 sends on one partition: its share is a burst of 2 and 10/s, so 5 over need 0.5 s.
    await throttle(buckets, batch("ws_1", [3] * 7, limit), settings)
    assert waits == [pytest.approx(0.5, abs=0.01)]
    # The other partitions' shares are untouched: nothing about them was written.
    assert list(buckets) == [bucket_key("ws_1", 3)]


async def test_workspaces_do_not_share_buckets(settings: Settings, waits: list[float]) -> None:
    buckets: dict[str, Any] = {}
    limit = SendLimit(rate=40, burst=8)
    await throttle(buckets, batch("ws_1", [0, 0], limit), settings)
    await throttle(buckets, batch("ws_2", [0, 0], limit), settings)
    assert waits == []
