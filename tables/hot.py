"""Faust changelog-backed tables: the hot-path state the agents read and write.

Each table is written only while processing records of the topic it is declared next to, so a
key always lands on the changelog partition of the record that carries it and is restored to
whichever worker owns that partition (DESIGN.md: never read a table with a key from another
partitioning).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from config.settings import Settings


@dataclass(frozen=True)
class HotTables:
    ledger: Any
    """message id -> {"state": "sending"|"sent"|"deferred"|"bounced"|"failed", "attempt": n},
    and once the attempt has an outcome, "event": the encoded outcome event (published again if
    the record comes back). Read and written by dispatch (topic ``herald.sends.by_recipient``)."""

    buckets: Any
    """``workspace id|partition`` -> [tokens, updated_at]: the partition's share of the
    workspace send token bucket. Written by dispatch on that partition of
    ``herald.sends.by_recipient``, so one worker owns each share."""

    suppressions: Any
    """``workspace|value`` (an address or ``@domain``, :func:`streams.suppressions.table_key`)
    -> {entry id: entry}. Written from ``herald.suppressions`` (keyed by address; domain
    entries on every partition), read by dispatch on ``herald.sends.by_recipient``: both
    topics are keyed by recipient and partitioned alike, so a worker holds the entries of the
    recipients it screens."""

    timeline: Any
    """message id -> what the timeline agent keeps of a message (see :mod:`agents.timeline`).
    Read and written by the timeline agent (``herald.outcomes``, keyed by message id)."""

    webhook_pending: Any
    """``endpoint id|event id`` -> {"task": WebhookTask, "attempts": tries so far, "due":
    epoch seconds}: every webhook delivery not yet delivered or given up. Written by the
    webhook delivery agent (``herald.webhooks.tasks`` and ``.attempts``, keyed by endpoint)."""

    webhook_health: Any
    """endpoint id -> {"failing_since": epoch seconds} while its deliveries fail. Same agent."""


def declare_tables(app: faust.App, settings: Settings) -> HotTables:
    partitions = settings.topic_partitions
    return HotTables(
        ledger=app.Table("ledger", default=None, partitions=partitions),
        buckets=app.Table("buckets", default=None, partitions=partitions),
        suppressions=app.Table("suppressions", default=None, partitions=partitions),
        timeline=app.Table("timeline", default=None, partitions=partitions),
        webhook_pending=app.Table("webhook_pending", default=None, partitions=partitions),
        webhook_health=app.Table("webhook_health", default=None, partitions=partitions),
    )
