"""The worker's consumer never lets a fetch skip records of Herald's topics: a jump in offsets
sends the partition back to read them (once), instead of Faust committing past them; and
resuming a flow that runs never empties the agents' queues."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.utils.queues import FlowControlQueue

from agents.transport import FlowControl, Transport, contiguous


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass(frozen=True)
class Record:
    offset: int


class Fetches:
    """Faust's consumer as the drain loop sees it: each ``getmany`` yields the next scripted
    batch; what the loop hands on is recorded, and sets the read offset as Faust does."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, batches: list[list[tuple[TP, int]]]):
        self.batches = batches
        self.seeks: list[tuple[TP, int]] = []
        self.handed: list[tuple[TP, int]] = []
        consumer = object.__new__(Transport.Consumer)
        consumer._read_offset = defaultdict(lambda: None)
        consumer._rewound = {}

        async def seek(tp: TP, offset: int) -> None:
            self.seeks.append((tp, offset))
            consumer._read_offset[tp] = offset

        async def scripted(_: Any, timeout: float) -> AsyncIterator[tuple[TP, Record]]:
            for tp, offset in self.batches.pop(0):
                yield tp, Record(offset)

        consumer.seek = seek
        monkeypatch.setattr(faust_aiokafka.Consumer, "getmany", scripted)
        self.consumer = consumer

    async def drain(self) -> None:
        while self.batches:
            async for tp, record in self.consumer.getmany(timeout=1.0):
                self.handed.append((tp, record.offset))
                self.consumer._read_offset[tp] = record.offset


READY = TP("herald.sends.by_recipient", 0)
OTHER = TP("herald.outcomes", 1)


async def test_a_jump_is_read_again_from_the_last_offset_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fetches = Fetches(
        monkeypatch,
        [
            [(READY, 10), (READY, 11), (READY, 15), (OTHER, 3), (READY, 16)],
            [(READY, 11), (READY, 12), (READY, 13), (READY, 14), (READY, 15)],
        ],
    )
    await fetches.drain()
    assert fetches.seeks == [(READY, 11)]
    # 12 to 14 arrive after all; the other partition is not held back; 11 comes twice
    # (Faust ignores a second ack of an offset).
    assert [o for tp, o in fetches.handed if tp == READY] == [10, 11, 11, 12, 13, 14, 15]
    assert [o for tp, o in fetches.handed if tp == OTHER] == [3]


async def test_a_jump_that_is_still_there_after_the_rewind_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Records deleted by retention while the worker was away: reading again cannot find them.
    fetches = Fetches(monkeypatch, [[(READY, 10), (READY, 20)], [(READY, 20), (READY, 21)]])
    await fetches.drain()
    assert fetches.seeks == [(READY, 10)]
    assert [o for _, o in fetches.handed] == [10, 20, 21]


async def test_compacted_topics_and_changelogs_may_jump(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoints = TP("herald.webhooks", 0)
    changelog = TP("herald-worker-ledger-changelog", 0)
    fetches = Fetches(
        monkeypatch, [[(endpoints, 1), (endpoints, 9), (changelog, 2), (changelog, 7)]]
    )
    await fetches.drain()
    assert fetches.seeks == []
    assert len(fetches.handed) == 4


def test_which_topics_are_contiguous() -> None:
    assert contiguous("herald.sends.by_recipient")
    assert contiguous("herald.sends.retry.0")
    assert not contiguous("herald.webhooks")  # compacted
    assert not contiguous("herald-worker-ledger-changelog")


async def test_resuming_a_running_flow_keeps_what_the_agents_have_queued() -> None:
    flow = FlowControl()  # suspended, as Faust starts it
    queue: FlowControlQueue[int] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    flow.resume()
    queue.put_nowait(1)
    flow.resume()  # what Faust does again at the end of a recovery
    assert queue.qsize() == 1
    flow.suspend()  # a rebalance: what was queued is dropped when the flow comes back
    flow.resume()
    assert queue.qsize() == 0
