"""Bearer-key authentication of the ``/v1`` routes.

The ``/v1`` router carries :func:`require_api_key` as a guard, so no route under it runs (or
reads its body) without a valid key; handlers receive the key's workspace as the
``workspace_id`` dependency.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from api.errors import Unauthorized
from tables import keys

_WORKSPACE_KEY = "herald.workspace_id"
KEY_CACHE_SECONDS = 1.0


class KeyCache:
    """Valid keys seen in the last second, by hash: without it every request opened a database
    connection just to authenticate, which bounded ingest. A revoked key therefore keeps working
    for at most ``KEY_CACHE_SECONDS`` in each API process. Unknown keys are never cached."""

    def __init__(self, ttl: float = KEY_CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[str, float]] = {}

    async def authenticate(self, token: str) -> str | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        hit = self._entries.get(digest)
        if hit and hit[1] > now:
            return hit[0]
        workspace_id = await keys.authenticate(token)
        if workspace_id is None:
            self._entries.pop(digest, None)
        else:
            if len(self._entries) > 10_000:  # bounded: drop everything rather than grow
                self._entries.clear()
            self._entries[digest] = (workspace_id, now + self.ttl)
        return workspace_id


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def require_api_key(cache: KeyCache) -> Guard:
    """The guard: admit a request only with a valid key, and remember its workspace."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        token = bearer_token(connection.headers.get("authorization"))
        if token is None:
            raise Unauthorized("Send your API key as Authorization: Bearer <key>.")
        workspace_id = await cache.authenticate(token)
        if workspace_id is None:
            raise Unauthorized("The API key is unknown or revoked.")
        connection.state[_WORKSPACE_KEY] = workspace_id

    return guard


async def provide_workspace_id(request: Request[Any, Any, Any]) -> str:
    """Dependency ``workspace_id``: the workspace the guard authenticated."""
    return str(request.state[_WORKSPACE_KEY])
