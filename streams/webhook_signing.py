"""What a webhook delivery carries: its body and its Standard Webhooks headers (pure, no I/O).

Standard Webhooks (standardwebhooks.com): ``webhook-id`` is the event's id, the same on every
retry, so receivers can drop duplicates; ``webhook-timestamp`` is the attempt's time in unix
seconds, which receivers check against their clock to refuse replays; ``webhook-signature`` is
``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``, one per secret, space-separated,
so during a rotation a receiver holding either secret accepts the delivery.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import orjson

from streams.public import iso

BATCH_TYPE = "batch"
BATCH_ID_PREFIX = "bat_"

# An event type, when it happened (epoch seconds), and its public data (streams.public).
BatchItem = tuple[str, float, Mapping[str, Any]]


def signature(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,`` signature: ``secret`` is the HMAC key (``webhook_secrets.secret_bytes``)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def delivery_headers(
    msg_id: str, timestamp: int, body: bytes, secrets: Sequence[bytes]
) -> dict[str, str]:
    """The headers of one attempt, signed with each of ``secrets`` (two during a rotation)."""
    if not secrets:
        raise ValueError("a webhook delivery needs at least one secret to sign with")
    return {
        "content-type": "application/json",
        "user-agent": user_agent(),
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in secrets),
    }


def event_body(event_type: str, at: float, data: Mapping[str, Any]) -> bytes:
    """The body of a delivery of one event."""
    return orjson.dumps(_envelope(event_type, at, data))


def batch_body(items: Sequence[BatchItem]) -> bytes:
    """The body of a delivery of several events: each in the shape it would have alone."""
    if not items:
        raise ValueError("a webhook batch needs at least one event")
    newest = max(at for _, at, _ in items)
    return orjson.dumps(
        {
            "type": BATCH_TYPE,
            "timestamp": iso(newest),
            "data": [_envelope(event_type, at, data) for event_type, at, data in items],
        }
    )


def batch_id(event_ids: Sequence[str]) -> str:
    """The ``webhook-id`` of a batch: the same events give the same id, whatever their order,
    so a retried batch is recognised as a duplicate like a retried single event."""
    digest = hashlib.sha256("\n".join(sorted(event_ids)).encode()).hexdigest()
    return BATCH_ID_PREFIX + digest[:26]


@cache
def user_agent() -> str:
    try:
        herald_version = version("herald")
    except PackageNotFoundError:  # run from a source tree that is not installed
        herald_version = "0"
    return f"Herald-Webhooks/{herald_version}"


def _envelope(event_type: str, at: float, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "timestamp": iso(at), "data": dict(data)}
