"""``Idempotency-Key``: Stripe-style safe retries for any POST that creates something.

A client that sends ``Idempotency-Key: <1 to 255 printable ASCII characters>`` may repeat the
request as often as it likes: it takes effect once, and every repeat gets the first answer.

- The key is scoped to the workspace and kept ``settings.idempotency_ttl`` seconds (24 h by
  default) from its first use; after that it is forgotten and may be used again.
- A request is identified by a fingerprint: SHA-256 of method, path and the exact body bytes.
- The body is decoded and validated *before* the key is looked at, so a request refused for
  bad input stores nothing and the same key still works with a corrected body. A malformed
  key is itself bad input (400).
- Then the key is claimed in the database, atomically across API processes and restarts.
  The claim stores the *planned* response (every id the request will hand out) before the
  request has any effect; when the effect is done, the final response replaces it.
- Same key, same fingerprint, finished: the stored status and body, byte for byte, with
  ``Idempotent-Replayed: true``; nothing runs again.
- Same key, different fingerprint: 422 ``idempotency-mismatch``.
- Same key while the first request is still running: 409 ``idempotency-in-flight``; retry later.
- Same key, but the process running it died (its claim is older than :data:`LOCK_SECONDS`):
  the claim is taken over and the request runs again under the *stored* planned ids, so a
  crash between Kafka's ack and the database write never yields a second copy under new ids
  (the send ledger downstream deduplicates by message id).
- When the request fails with no effect (an exception, e.g. 503 because Kafka did not
  acknowledge), the claim is deleted: a retry with the same key runs again. A cancelled
  request (client gone) keeps its claim, which a retry takes over once it is stale, since
  the effect may or may not have happened.

Responses with a secret: the caller may give a redacted body to store (``Reply.stored_body``);
the client gets the full body once, and a replay answers the stored, redacted one. A taken-over
claim hands ``execute`` that redacted plan, so the secret must then be made anew.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from litestar import Response
from litestar.enums import MediaType
from litestar.types import HTTPScope

from api.errors import IdempotencyConflict, IdempotencyMismatch, InvalidIdempotencyKey
from tables import idempotency
from tables.idempotency import Claimed, InFlight, Mismatch, Replay, StoredResponse

log = logging.getLogger("herald.api")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Longer than anything a request may take (the producer's request timeout is 10 s), so a live
# claim is never taken over; past it, the claim's process is presumed dead.
LOCK_SECONDS = 30.0
_KEY = re.compile(r"[\x20-\x7e]{1,255}")
_HEADER_NAME = HEADER.lower().encode("ascii")


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """A request that carries a valid key: where the key lives and what it is bound to."""

    workspace_id: str
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Reply:
    """A response an idempotent operation gives.

    ``stored_body`` is what the database keeps instead of ``body`` (a copy without secrets);
    ``keep=False`` stores nothing, so the key can be used again (the request had no effect)."""

    status: int
    body: bytes
    stored_body: bytes | None = None
    keep: bool = True


# execute(plan, resumed): carry out the plan (the planned reply's body, or the stored plan of
# an abandoned claim when resumed is True) and return the final reply.
Execute = Callable[[bytes, bool], Awaitable[Reply]]


def parse_key(values: list[bytes]) -> str | None:
    """The key of the request's ``Idempotency-Key`` header values (pure); None without one."""
    if not values:
        return None
    if len(values) > 1:
        raise InvalidIdempotencyKey(f"Send one {HEADER} header, not {len(values)}.")
    text = values[0].decode("latin-1").strip()
    if not _KEY.fullmatch(text):
        raise InvalidIdempotencyKey(f"{HEADER} must be 1 to 255 printable ASCII characters.")
    return text


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same" for a key: method, path and exact body bytes."""
    digest = hashlib.sha256(f"{method.upper()}\0{path}\0".encode())
    digest.update(body)
    return digest.hexdigest()


def idempotent_request(
    scope: HTTPScope, workspace_id: str, body: bytes
) -> IdempotentRequest | None:
    """The key and fingerprint of the request in ``scope``; None when it has no key; 400 when
    the key is bad."""
    values = [value for name, value in scope["headers"] if name.lower() == _HEADER_NAME]
    key = parse_key(values)
    if key is None:
        return None
    return IdempotentRequest(workspace_id, key, fingerprint(scope["method"], scope["path"], body))


async def run_idempotent(
    idem: IdempotentRequest | None,
    *,
    planned: Reply,
    execute: Execute,
    ttl: float,
    lock_seconds: float = LOCK_SECONDS,
) -> Response[bytes]:
    """Run ``execute`` at most once per key (see the module docstring) and answer its reply.

    Call it after the body is validated, with the reply the request will give if all goes
    well (``planned``); without a key it simply runs ``execute(planned.body, False)``."""
    reply, replayed = await settle(
        idem, planned=planned, execute=execute, ttl=ttl, lock_seconds=lock_seconds
    )
    return response(reply, replayed=replayed)


def response(reply: Reply, *, replayed: bool = False) -> Response[bytes]:
    """The reply as Litestar's response, marked when it is a replay."""
    headers = {REPLAYED_HEADER: "true"} if replayed else None
    return Response(
        reply.body, status_code=reply.status, media_type=MediaType.JSON, headers=headers
    )


async def settle(
    idem: IdempotentRequest | None,
    *,
    planned: Reply,
    execute: Execute,
    ttl: float,
    lock_seconds: float = LOCK_SECONDS,
) -> tuple[Reply, bool]:
    """:func:`run_idempotent`'s reply, and whether it is a replay, for a route that writes
    its response itself."""
    if idem is None:
        return await execute(planned.body, False), False
    outcome = await idempotency.claim(
        idem.workspace_id,
        idem.key,
        fingerprint=idem.fingerprint,
        planned=_stored(planned),
        now=time.time(),
        lock_seconds=lock_seconds,
        ttl=ttl,
    )
    if isinstance(outcome, Replay):
        stored = outcome.response
        return Reply(stored.status, stored.body.encode()), True
    if isinstance(outcome, Mismatch):
        raise IdempotencyMismatch(
            f"This {HEADER} was already used with a different request; use a new key."
        )
    if isinstance(outcome, InFlight):
        raise IdempotencyConflict(
            f"A request with this {HEADER} is still being processed; retry in a few seconds."
        )
    return await _carry_out(outcome, planned, execute), False


async def _carry_out(claimed: Claimed, planned: Reply, execute: Execute) -> Reply:
    plan = claimed.planned.body.encode() if claimed.resumed else planned.body
    try:
        reply = await execute(plan, claimed.resumed)
    except Exception:
        await _forget(claimed)
        raise
    if not reply.keep:
        await _forget(claimed)
        return reply
    try:
        await idempotency.complete(claimed, _stored(reply))
    except Exception:
        # The effect happened, so the client hears so. The claim stays in flight; a retry
        # takes it over once stale and repeats the effect under the same ids.
        log.exception("could not record the response of idempotency key %s", claimed.id)
    return reply


async def _forget(claimed: Claimed) -> None:
    try:
        await idempotency.release(claimed)
    except Exception:
        # The key stays claimed and is taken over once stale: a retry is delayed, not lost.
        log.exception("could not release idempotency key %s", claimed.id)


def _stored(reply: Reply) -> StoredResponse:
    body = reply.body if reply.stored_body is None else reply.stored_body
    return StoredResponse(reply.status, body.decode())
