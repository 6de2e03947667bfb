"""Suppression lookups per second inside the screen agent, with 1,000,000 entries.

The table is the worker's own kind (:class:`agents.transport.HeraldTable`) on RocksDB; the
lookup is the screen stage's own :func:`agents.screen.suppression_of` (the address key and the
domain key read from RocksDB, entries decoded and matched). Only Kafka is left out: the entries
are written to the store directly instead of being restored from the changelog, and the
"current event" that tells Faust which partition's store to read is set by hand, as an
agent's event would.
"""

from __future__ import annotations

import tempfile
import time
from types import SimpleNamespace
from typing import Any

import faust

from agents import event_context
from agents.screen import suppression_of
from agents.suppressions import applied
from agents.transport import HeraldTable
from streams.records import Content, Delivery, Suppression, SuppressionChange
from streams.suppressions import address_value, entry_id, table_key

WORKSPACE = "ws_bench"


class _Event:
    """Stands for the agent's current event: Faust reads its partition."""

    message = SimpleNamespace(partition=0)


def hard_bounce(workspace: str, i: int) -> Suppression:
    """The i-th address's global entry, as an automatic hard-bounce suppression adds it."""
    value = address_value(f"user{i}@example.com")
    return Suppression(
        id=entry_id(workspace, "global", "", value),
        workspace_id=workspace,
        value=value,
        scope="global",
        scope_value="",
        reason="hard_bounce",
        source="bounce",
        created_at=1.0,
    )


def _delivery(i: int) -> Delivery:
    content = Content(sender="a@acme.example", subject="s", to=(), program="newsletter")
    return Delivery(f"msg_{i}", "req", WORKSPACE, f"user{i}@example.com", content, 1.0)


def measure(entries: int = 1_000_000, lookups: int = 200_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="herald-bench-lookups-") as tmp:
        app = faust.App(
            "herald-bench-lookups",
            store="rocksdb://",
            datadir=tmp,
            web_enabled=False,
            Table=HeraldTable,
        )
        table = app.Table("suppressions", default=None, partitions=1)
        with event_context.current(_Event()):
            store = table.data
            t0 = time.perf_counter()
            for i in range(entries):
                entry = hard_bounce(WORKSPACE, i)
                store[table_key(WORKSPACE, entry.value)] = applied(
                    None, SuppressionChange("add", entry, 1.0)
                )
            loaded = time.perf_counter() - t0
            # Half the lookups hit an entry (every other address is suppressed), half miss.
            deliveries = [_delivery(i * entries // lookups) for i in range(lookups)]
            deliveries = [d if n % 2 else _miss(d) for n, d in enumerate(deliveries)]
            t1 = time.perf_counter()
            hits = sum(suppression_of(table, d) is not None for d in deliveries)
            took = time.perf_counter() - t1
    return {
        "entries": entries,
        "load_s": loaded,
        "lookups": lookups,
        "hits": hits,
        "per_s": lookups / took,
    }


def _miss(delivery: Delivery) -> Delivery:
    return Delivery(
        delivery.message_id,
        delivery.request_id,
        delivery.workspace_id,
        "nobody-" + delivery.recipient,
        delivery.content,
        delivery.accepted_at,
    )


if __name__ == "__main__":
    print(measure())
