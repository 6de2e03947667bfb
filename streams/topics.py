"""Herald's Kafka topics: names, keys and what flows through each.

Each topic is keyed by what the next lookup needs (DESIGN.md): the stage that reads it finds its
table entries on the partitions it owns.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    key: str  # what the record key is, for readers of this file
    compacted: bool = False


SENDS_REQUESTED = TopicSpec("herald.sends.requested", key="request id")
"""One record per accepted API send (all recipients); produced by the API or internal systems."""

SENDS_BY_RECIPIENT = TopicSpec("herald.sends.by_recipient", key="recipient address")
"""One record per recipient: dispatch reads it, with the suppression entries, the send ledger and
the workspace's token bucket share of each partition beside it."""

OUTCOMES = TopicSpec("herald.outcomes", key="message id")
"""What producers report about a message (stages, the inbound listener, tracking links), before
the timeline agent numbers and deduplicates it."""

EVENTS = TopicSpec("herald.events", key="message id")
"""Every event of every message, numbered per message and deduplicated: what consumers read."""

SUPPRESSIONS = TopicSpec("herald.suppressions", key="recipient address (domains: every partition)")
"""Suppression entries added and removed (API, bounces, complaints, unsubscribes)."""

WEBHOOKS = TopicSpec("herald.webhooks", key="endpoint id", compacted=True)
"""Webhook endpoint configurations (API changes, endpoints the worker disabled); every
worker reads all of it."""

WEBHOOK_TASKS = TopicSpec("herald.webhooks.tasks", key="endpoint id")
"""One record per event and endpoint that should receive it (fan-out, replays)."""

WEBHOOK_ATTEMPTS = TopicSpec("herald.webhooks.attempts", key="endpoint id")
"""What each delivery attempt got; the delivery agent's retry state follows from it."""

DEAD_LETTERS = TopicSpec("herald.deadletters", key="source topic")
"""Records an agent could not process, with the reason. Never silently dropped."""


# The Faust app id of ``herald worker``: its consumer group, and the prefix of its tables'
# changelog topics (``herald-worker-<table>-changelog``).
WORKER_GROUP = "herald-worker"
RETRY_PREFIX = "herald.sends.retry."


def recipient_key(address: str) -> bytes:
    """The record key of the recipient-keyed topics: one address, one partition, whatever its
    case."""
    return address.lower().encode()


def retry_topic(tier: int) -> TopicSpec:
    """Deferred deliveries waiting for retry ``tier`` (each tier has one fixed delay, so every
    tier topic is ordered by due time and its reader only ever waits for its head)."""
    return TopicSpec(f"{RETRY_PREFIX}{tier}", key="recipient address")


def all_topics(retry_tiers: int) -> list[TopicSpec]:
    base = [
        SENDS_REQUESTED,
        SENDS_BY_RECIPIENT,
        OUTCOMES,
        EVENTS,
        SUPPRESSIONS,
        WEBHOOKS,
        WEBHOOK_TASKS,
        WEBHOOK_ATTEMPTS,
        DEAD_LETTERS,
    ]
    return base + [retry_topic(i) for i in range(retry_tiers)]
