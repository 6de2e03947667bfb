"""Which events an endpoint receives: its event types, tags and programs (each empty: any).

The fan-out agent and time-range replays ask the same question, here.
"""

from __future__ import annotations

from collections.abc import Sequence

from streams.records import WebhookEndpoint


def wants(endpoint: WebhookEndpoint, event_type: str, tags: Sequence[str], program: str) -> bool:
    if endpoint.event_types and event_type not in endpoint.event_types:
        return False
    if endpoint.tags and not set(endpoint.tags).intersection(tags):
        return False
    return not endpoint.programs or program in endpoint.programs


def receives(endpoint: WebhookEndpoint, event_type: str, tags: Sequence[str], program: str) -> bool:
    """Whether the endpoint gets this event now: it is live and wants it. An endpoint is not
    told of its own disabling (it is off by then); the workspace's other endpoints are."""
    return endpoint.enabled and not endpoint.deleted and wants(endpoint, event_type, tags, program)
