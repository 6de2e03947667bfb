"""The HTTP client that delivers webhooks, and refuses to be turned against Herald's network.

Every new connection resolves the URL's host, judges each address with
:func:`streams.webhook_targets.refusal`, and connects to a judged address itself: there is no
second lookup for a rebinding DNS server to answer differently. TLS (SNI, certificate check)
and the Host header keep using the URL's host name. Redirects are never followed; a 3xx is
just an answer. Plain ``http://`` reaches loopback only, and only with
``webhook_allow_loopback``.

httpcore rather than httpx: it has no proxy settings to pick up from the environment (a
proxy would connect on Herald's behalf, past the check) and takes a network backend, which is
where the check sits.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote, urlsplit

import certifi
import httpcore

from agents.webhook_policy import parse_retry_after
from streams.webhook_targets import IPAddress, ip_literal, is_loopback, refusal, url_problem

# (host, port) -> the addresses it resolves to, as strings.
Resolve = Callable[[str, int], Awaitable[Sequence[str]]]
Judge = Callable[[IPAddress], str | None]

MAX_ANSWER_BYTES = 64 * 1024  # read this much of an answer at most, then drop the connection
BODY_START_CHARS = 1000
# Under the 5 s idle timeout of Node's HTTP server, a common receiver: reusing a connection
# the receiver is closing right then fails the attempt.
KEEPALIVE_EXPIRY = 4.0


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int | None
    latency_ms: float
    body_start: str | None  # the first 1000 characters of the answer, None without one
    retry_after: float | None  # seconds from now, from Retry-After
    error: str | None  # why there is no status: "refused: ...", "timeout after 15 s", ...


class TargetRefused(Exception):
    """The address a webhook would connect to is not allowed (``refusal``)."""


async def resolve_host(host: str, port: int) -> list[str]:
    """The system resolver's addresses for ``host``, in its order of preference."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class VettingBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to addresses ``judge`` allows."""

    def __init__(self, judge: Judge, resolve: Resolve) -> None:
        self._judge = judge
        self._resolve = resolve
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        candidates = await self._addresses(host, port)
        allowed = [address for address in candidates if self._judge(address) is None]
        if not allowed:
            reason = self._judge(candidates[0])
            raise TargetRefused(reason if ip_literal(host) else f"{host}: {reason}")
        *others, last = allowed
        for address in others:  # the next address if one does not answer, like getaddrinfo users
            with contextlib.suppress(httpcore.ConnectError):
                return await self._connect(address, port, timeout, local_address, socket_options)
        return await self._connect(last, port, timeout, local_address, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)

    async def _connect(
        self,
        address: IPAddress,
        port: int,
        connect_timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> httpcore.AsyncNetworkStream:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # reach it over IPv4: works without dual-stack sockets
        # AnyIO connects to an IP literal as it is, without a lookup.
        return await self._inner.connect_tcp(
            str(address), port, connect_timeout, local_address, socket_options
        )

    async def _addresses(self, host: str, port: int) -> list[IPAddress]:
        literal = ip_literal(host)
        if literal is not None:
            return [literal]
        try:
            answers = await self._resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        try:
            addresses = [ipaddress.ip_address(answer) for answer in answers]
        except ValueError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}: no address")
        return addresses


class WebhookClient:
    """POSTs webhook deliveries; keeps connections alive per origin (scheme, host, port)."""

    def __init__(
        self,
        *,
        allow_loopback: bool,
        timeout: float,
        resolve: Resolve | None = None,
        max_connections: int = 200,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._allow_loopback = allow_loopback
        self._timeout = timeout
        resolve = resolve or resolve_host

        def public(address: IPAddress) -> str | None:
            return refusal(address, allow_loopback=allow_loopback)

        # Made once: httpcore would build its default per connection, ~40 ms of blocked loop.
        tls = ssl_context or _tls_context()
        self._pools = {
            "https": self._pool(VettingBackend(public, resolve), max_connections, tls),
            "http": self._pool(VettingBackend(_loopback_only, resolve), max_connections, None),
        }

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> HttpAnswer:
        """Deliver once. Network and HTTP problems are answers (``status`` None), not raised."""
        started = time.perf_counter()
        problem = url_problem(url, allow_loopback=self._allow_loopback)
        if problem is not None:
            return _no_answer(started, f"refused: {problem}")
        scheme, target, host_header = _request_target(url)
        extensions = {"timeout": dict.fromkeys(("connect", "read", "write", "pool"), self._timeout)}
        request_headers = [("host", host_header), *headers.items()]
        status: int | None = None
        retry_after: float | None = None
        read = bytearray()
        try:
            async with (
                asyncio.timeout(self._timeout),
                self._pools[scheme].stream(
                    "POST", target, headers=request_headers, content=body, extensions=extensions
                ) as response,
            ):
                status = response.status
                retry_after = parse_retry_after(_header(response, b"retry-after"), time.time())
                # aiter_stream is an async generator: close it if we stop early.
                chunks = cast(AsyncGenerator[bytes, None], response.aiter_stream())
                async with contextlib.aclosing(chunks):
                    async for chunk in chunks:
                        read += chunk
                        if len(read) >= MAX_ANSWER_BYTES:
                            break
        except TargetRefused as exc:
            return _no_answer(started, f"refused: {exc}")
        except (TimeoutError, httpcore.TimeoutException):
            if status is None:
                return _no_answer(started, f"timeout after {self._timeout:g} s")
            # The receiver answered, then stalled in its body: the status is what counts.
        except (httpcore.NetworkError, httpcore.ProtocolError, OSError) as exc:
            if status is None:
                return _no_answer(started, _failure(exc))
        # 4 bytes per character at most: enough bytes for the characters kept.
        text = bytes(read[: BODY_START_CHARS * 4]).decode(errors="replace")
        return HttpAnswer(
            status=status,
            latency_ms=_since(started),
            body_start=text[:BODY_START_CHARS],
            retry_after=retry_after,
            error=None,
        )

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()

    @staticmethod
    def _pool(
        backend: VettingBackend, max_connections: int, ssl_context: ssl.SSLContext | None
    ) -> httpcore.AsyncConnectionPool:
        return httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            keepalive_expiry=KEEPALIVE_EXPIRY,
            retries=0,  # retrying is the retry schedule's job, with the same webhook-id
            network_backend=backend,
        )


def _tls_context() -> ssl.SSLContext:
    """The system's CAs and certifi's (httpcore's default): slim images often lack the former."""
    context = ssl.create_default_context()
    context.load_verify_locations(certifi.where())
    return context


def _loopback_only(address: IPAddress) -> str | None:
    if is_loopback(address):
        return None
    reason = refusal(address, allow_loopback=True)
    return reason or f"{address} is not loopback: plain http is only for loopback, use https"


def _request_target(url: str) -> tuple[str, httpcore.URL, str]:
    """Scheme, httpcore URL and Host header of a URL ``url_problem`` accepted."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    ascii_host = host if ip_literal(host) else host.encode("idna").decode("ascii")
    port = parts.port or (443 if scheme == "https" else 80)
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=~")
    query = "?" + quote(parts.query, safe="/%:@!$&'()*+,;=~?") if parts.query else ""
    host_header = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
    if parts.port is not None:
        host_header += f":{port}"
    target = httpcore.URL(
        scheme=scheme, host=ascii_host, port=port, target=(path + query).encode("ascii")
    )
    return scheme, target, host_header


def _header(response: httpcore.Response, name: bytes) -> str | None:
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _failure(exc: Exception) -> str:
    # The messageless ones are AnyIO's end-of-stream, mapped by httpcore: the peer hung up.
    detail = str(exc) or str(exc.__cause__ or "") or "the receiver closed the connection"
    if isinstance(exc, httpcore.ProtocolError):
        return f"protocol error: {detail}"
    if isinstance(exc, httpcore.ConnectError):
        return f"connection failed: {detail}"
    return f"connection lost: {detail}"


def _no_answer(started: float, error: str) -> HttpAnswer:
    return HttpAnswer(
        status=None, latency_ms=_since(started), body_start=None, retry_after=None, error=error
    )


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
