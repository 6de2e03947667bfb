"""Who may call the ``/v1`` routes: bearer keys, their IP allowlists, scopes and rate limits.

The ``/v1`` router carries :meth:`Admit.guard` as a guard, and :mod:`api.send_lane` calls
:meth:`Admit.check` itself, so no route under ``/v1`` runs (or reads its body) without a valid
key. In order, a request needs: a live key (401), a client address the key's allowlist admits
(403), a token from the key's bucket (429), and the scope its route asks for (403). Handlers
receive the key's workspace as the ``workspace_id`` dependency and the whole :class:`Caller`
as ``caller``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers import BaseRouteHandler
from litestar.params import SkipValidation
from litestar.types import Message, Scope

from api.client_ip import Address, Network, allowed, client_ip, parse_networks
from api.errors import Forbidden, RateLimited, Unauthorized
from api.ratelimit import KeyLimiter, Verdict
from tables import keys, plans
from tables.keys import Grant
from tables.plans import Limits, Tracking

log = logging.getLogger("herald.api")

_CALLER = "herald.caller"
_VERDICT = "herald.rate_limit"
KEY_CACHE_SECONDS = 0.9  # under a second, so "refused within a second" holds with room to spare


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated key behind a request, with the limits of its workspace's plan and
    the workspace's defaults for sends (as of at most ``KEY_CACHE_SECONDS`` ago)."""

    grant: Grant
    networks: tuple[Network, ...]
    limits: Limits
    tracking: Tracking = field(default_factory=Tracking)

    @property
    def workspace_id(self) -> str:
        return self.grant.workspace_id

    @property
    def key_id(self) -> str:
        return self.grant.key_id


# Handlers take the caller as ``caller: CallerDep``; Litestar must not try to re-validate it.
CallerDep = NamedDependency[SkipValidation[Caller]]


class KeyCache:
    """Valid keys seen in the last second, by hash: without it every request opened a database
    connection just to authenticate, which bounded ingest. A revoked key (or a plan change, or
    new tracking defaults) therefore takes effect within ``KEY_CACHE_SECONDS`` in each API
    process; a rotated key's expiry is checked on every request. Unknown keys are never
    cached.

    One load per key runs at a time: the requests that miss together (every request in flight
    for a busy key, each time its entry expires) wait for that one load."""

    def __init__(self, defaults: Limits, ttl: float = KEY_CACHE_SECONDS) -> None:
        self.defaults = defaults
        self.ttl = ttl
        self._entries: dict[str, _Entry] = {}
        self._loads: dict[str, asyncio.Task[Caller | None]] = {}

    async def authenticate(self, token: str) -> Caller | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        hit = self._entries.get(digest)
        if hit is None or hit.expires <= now:
            # Shielded: a client that goes away must not cancel the load others wait for.
            caller = await asyncio.shield(self._load_once(digest, token))
        else:
            caller = hit.caller
        expires = caller.grant.expires_at if caller else None
        if expires is not None and expires <= datetime.now(UTC):
            return None
        return caller

    async def close(self) -> None:
        """Stop the loads still running (on shutdown, before the database closes)."""
        loads = list(self._loads.values())
        for load in loads:
            load.cancel()
        await asyncio.gather(*loads, return_exceptions=True)

    def _load_once(self, digest: str, token: str) -> asyncio.Task[Caller | None]:
        load = self._loads.get(digest)
        if load is None:
            load = self._loads[digest] = asyncio.create_task(self._load(digest, token))
            load.add_done_callback(_log_failure)
        return load

    async def _load(self, digest: str, token: str) -> Caller | None:
        # The entry lives from when the load started: a key revoked after that is seen by the
        # next load, which starts before this entry expires.
        started = time.monotonic()
        try:
            grant = await keys.authenticate(token)
            if grant is None:
                self._entries.pop(digest, None)
                return None
            limits, tracking = await plans.policy_of(grant.workspace_id, self.defaults)
            caller = Caller(grant, parse_networks(grant.allowed_ips), limits, tracking)
            if len(self._entries) > 10_000:  # bounded: drop everything rather than grow
                self._entries.clear()
            self._entries[digest] = _Entry(caller, started + self.ttl)
            return caller
        finally:
            del self._loads[digest]


@dataclass(frozen=True, slots=True)
class _Entry:
    caller: Caller
    expires: float  # monotonic time it is no longer used


def _log_failure(load: asyncio.Task[Caller | None]) -> None:
    """A load whose waiters all went away: its error is logged rather than lost (requests
    that wait for a load get its error themselves)."""
    if not load.cancelled() and (exc := load.exception()) is not None:
        log.warning("could not load an API key: %r", exc)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def scope_ip(scope: Scope, trusted: tuple[Network, ...]) -> Address | None:
    """The client's address: the socket peer, or what ``trusted`` proxies say it is."""
    client = scope.get("client")
    headers = scope.get("headers", ())
    forwarded = [value.decode("latin-1") for name, value in headers if name == b"x-forwarded-for"]
    return client_ip(client[0] if client else None, forwarded, trusted)


Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Admit:
    """The admission of every ``/v1`` request: :meth:`guard` for the router, :meth:`check`
    for a route served below Litestar (:mod:`api.send_lane`)."""

    cache: KeyCache
    limiter: KeyLimiter
    trusted: tuple[Network, ...]

    def guard(self) -> Guard:
        """The router's guard. A route names the scope it needs in its ``opt``
        (``{"scope": "send"}``); otherwise reading (GET) needs ``read`` and anything else
        ``full``. A ``full`` key may do everything.

        A function, not a bound method: Litestar deep-copies the guards it registers, and the
        copy of a bound method would check keys against its own copy of the cache and limiter."""

        async def guard(
            connection: ASGIConnection[Any, Any, Any, Any], route: BaseRouteHandler
        ) -> None:
            await self.check(connection.scope, route.opt.get("scope"))

        return guard

    async def check(self, scope: Scope, needed: str | None) -> Caller:
        """The caller of the request in ``scope`` if it may do what needs ``needed``; else the
        401, 403 or 429 to answer. Read from the scope itself: Litestar's Headers and State
        wrappers, built for every request, cost as much as the checks."""
        token = bearer_token(_header(scope, b"authorization"))
        if token is None:
            raise Unauthorized("Send your API key as Authorization: Bearer <key>.")
        caller = await self.cache.authenticate(token)
        if caller is None:
            raise Unauthorized("The API key is unknown, revoked or expired.")
        if caller.networks:  # most keys have no allowlist: no address to work out then
            ip = scope_ip(scope, self.trusted)
            if not allowed(ip, caller.networks):
                raise Forbidden(f"This key may not be used from {ip}.", kind="ip-not-allowed")
        limits = caller.limits
        verdict = await self.limiter.check(
            caller.key_id, rate=limits.key_rate, burst=limits.key_burst
        )
        state = scope.setdefault("state", {})
        state[_VERDICT] = verdict
        if not verdict.allowed:
            raise RateLimited(
                f"This key allows {limits.key_rate:g} requests per second "
                f"(bursts of {limits.key_burst}); retry in {verdict.retry_after} s."
            )
        needed = needed or ("read" if scope.get("method") in ("GET", "HEAD") else "full")
        if needed not in caller.grant.scopes and "full" not in caller.grant.scopes:
            raise Forbidden(
                f"This route needs a key with the {needed!r} or 'full' scope; this key has "
                f"{', '.join(caller.grant.scopes)}.",
                kind="insufficient-scope",
            )
        state[_CALLER] = caller
        return caller


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (ASGI servers give the names in lowercase)."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


async def add_rate_limit_headers(message: Message, scope: Scope) -> None:
    """``before_send`` hook: the rate-limit headers of the key that made the request, on every
    response to an authenticated request (429 included). Requests without a valid key were
    not counted against any key and get none."""
    if message["type"] != "http.response.start":
        return
    verdict = scope.get("state", {}).get(_VERDICT)
    if not isinstance(verdict, Verdict):
        return
    headers = list(message.get("headers", ()))
    present = {name.lower() for name, _ in headers}
    for name, value in verdict.headers().items():
        if name.lower().encode() not in present:
            headers.append((name.lower().encode(), value.encode("latin-1")))
    message["headers"] = headers


def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """The key the guard admitted (for hot routes that skip dependency injection)."""
    caller = connection.scope["state"][_CALLER]
    assert isinstance(caller, Caller)  # noqa: S101 (set by the guard on every /v1 route)
    return caller


async def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    """Dependency ``caller``: the key the guard admitted."""
    return caller_of(request)


async def provide_workspace_id(request: Request[Any, Any, Any]) -> str:
    """Dependency ``workspace_id``: the workspace the guard authenticated."""
    return caller_of(request).workspace_id
