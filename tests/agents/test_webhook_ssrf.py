"""The webhook HTTP client against real sockets: it reaches receivers, and nothing else.

A canary listener on loopback records every connection it gets: a refused target must leave
it untouched, however the address was spelled or resolved.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from email.utils import formatdate

import pytest
import trustme
from aiohttp import web

from agents.webhook_http import (
    MAX_ANSWER_BYTES,
    TargetRefused,
    VettingBackend,
    WebhookClient,
    resolve_host,
)
from streams.webhook_targets import refusal

BODY = b'{"type":"delivered","timestamp":"2023-11-14T22:13:20Z","data":{}}'
HEADERS = {"content-type": "application/json", "webhook-id": "evt_1"}


class Canary:
    """Listens on 127.0.0.1 (and ::1 when the host has IPv6) and records who connects."""

    def __init__(self) -> None:
        self.connections: list[str] = []
        self._servers: list[asyncio.Server] = []
        self._flushed = asyncio.Event()

    async def start(self) -> None:
        self._servers.append(await asyncio.start_server(self._seen, "127.0.0.1", 0))
        # Without IPv6 loopback here, the [::1] cases use the IPv4 port (and stay refused).
        with contextlib.suppress(OSError):
            self._servers.append(await asyncio.start_server(self._seen, "::1", 0))

    @property
    def port(self) -> int:
        return int(self._servers[0].sockets[0].getsockname()[1])

    @property
    def port6(self) -> int:
        return int(self._servers[-1].sockets[0].getsockname()[1])

    async def quiet(self) -> bool:
        """Whether nobody connected. Connects once itself first and waits to be seen: the
        canary accepts in order, so any earlier connection has been recorded by then."""
        for server in self._servers:
            host, port = server.sockets[0].getsockname()[:2]
            self._flushed.clear()
            _, writer = await asyncio.open_connection(host, port)
            writer.write(b"flush\n")
            await self._flushed.wait()
            writer.close()
        return not self.connections

    async def _seen(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str(writer.get_extra_info("peername"))
        self.connections.append(peer)  # at once: a client that sends nothing counts too
        try:
            said = await reader.readexactly(6)
        except asyncio.IncompleteReadError as exc:
            said = exc.partial
        if said == b"flush\n":
            self.connections.remove(peer)
            self._flushed.set()
        writer.close()

    async def close(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    listener = Canary()
    await listener.start()
    yield listener
    await listener.close()


class Receiver:
    """A real HTTP receiver on loopback with one route per behaviour under test."""

    def __init__(self, canary_port: int) -> None:
        self.seen: list[tuple[str, str, bytes]] = []  # path, Host header, body
        self.release = asyncio.Event()  # holds the slow routes until the test ends
        self._canary_port = canary_port
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        app = web.Application()
        app.router.add_post("/{route}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        route = request.match_info["route"]
        self.seen.append((route, request.host, await request.read()))
        if route == "ok":
            return web.Response(text="thanks")
        if route == "close":
            response = web.Response(text="bye")
            response.force_close()
            return response
        if route == "redirect-private":
            return web.Response(status=302, headers={"Location": "http://10.0.0.1/"})
        if route == "redirect-canary":
            location = f"http://127.0.0.1:{self._canary_port}/"
            return web.Response(status=302, headers={"Location": location})
        if route == "busy":
            return web.Response(status=503, headers={"Retry-After": "120"})
        if route == "busy-until":
            until = formatdate(time.time() + 60, usegmt=True)
            return web.Response(status=429, headers={"Retry-After": until})
        if route == "big":
            return web.Response(text="é" * MAX_ANSWER_BYTES * 2)
        if route == "slow":
            await self.release.wait()
            return web.Response(text="too late")
        if route == "stall-body":
            response = web.StreamResponse()
            await response.prepare(request)
            await response.write(b"partial")
            await self.release.wait()
            return response
        return web.Response(status=404)


@pytest.fixture
async def receiver(canary: Canary) -> AsyncIterator[Receiver]:
    running = Receiver(canary.port)
    await running.start()
    yield running
    await running.close()


def resolver(names: dict[str, Sequence[str]]) -> Callable[[str, int], Awaitable[Sequence[str]]]:
    """A resolver that answers ``names`` from the dict (changeable during a test), and asks
    the system for anything else."""

    async def resolve(host: str, port: int) -> Sequence[str]:
        if host in names:
            return names[host]
        return await resolve_host(host, port)

    return resolve


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., WebhookClient]]:
    clients: list[WebhookClient] = []

    def make(**options: object) -> WebhookClient:
        options.setdefault("timeout", 5.0)
        client = WebhookClient(**options)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


NAMES: dict[str, Sequence[str]] = {
    "rebound.example": ["127.0.0.1"],  # public when the endpoint was saved; DNS changed since
    "mixed.example": ["10.0.0.1", "::1", "127.0.0.1"],
    "metadata.example": ["169.254.169.254", "fd00:ec2::254"],
}

REFUSED = [
    "http://127.0.0.1:{p}/",
    "https://127.0.0.1:{p}/",
    "http://10.0.0.1/",
    "https://10.0.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/latest/meta-data/",
    "http://[::1]:{p6}/",
    "https://[::1]:{p6}/",
    "http://[::ffff:127.0.0.1]:{p}/",
    "https://[::ffff:127.0.0.1]:{p}/",
    "http://2130706433:{p}/",
    "https://2130706433:{p}/",
    "https://0x7f.1:{p}/",
    "https://127.1:{p}/",
    "https://017700000001:{p}/",
    "https://0.0.0.0:{p}/",  # on Linux, connecting to 0.0.0.0 reaches loopback
    "https://[::]:{p6}/",
    "http://100.64.0.1/",
    "https://100.64.0.1/",
    "http://localhost:{p}/",
    "https://localhost:{p}/",
    "https://[fd00:ec2::254]/",
    "https://[64:ff9b::7f00:1]:{p}/",
    "https://[2002:7f00:1::]:{p}/",
    "https://rebound.example:{p}/",
    "https://mixed.example:{p}/",
    "https://metadata.example/latest/meta-data/",
    "https://user:secret@rebound.example:{p}/",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_a_non_public_target_is_refused_without_a_connection(
    url: str, canary: Canary, make_client: Callable[..., WebhookClient]
):
    client = make_client(allow_loopback=False, timeout=2.0, resolve=resolver(NAMES))
    answer = await client.post(url.format(p=canary.port, p6=canary.port6), HEADERS, BODY)
    assert answer.status is None
    assert answer.error is not None and answer.error.startswith("refused"), answer.error
    assert await canary.quiet()


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1", "2130706433", "0x7f.1", "0", "::1", "::ffff:127.0.0.1"]
)
async def test_the_connection_itself_is_refused_whatever_the_url_check_said(
    host: str, canary: Canary
):
    # The last line of defence: the network backend, asked directly, with the real resolver.
    backend = VettingBackend(lambda a: refusal(a, allow_loopback=False), resolve_host)
    port = canary.port6 if ":" in host and "." not in host else canary.port
    with pytest.raises(TargetRefused, match=r"loopback|unspecified"):
        await backend.connect_tcp(host, port)
    assert await canary.quiet()


async def test_the_canary_does_see_a_connection_that_is_allowed(
    canary: Canary, make_client: Callable[..., WebhookClient]
):
    client = make_client(allow_loopback=True)
    answer = await client.post(f"http://127.0.0.1:{canary.port}/", HEADERS, BODY)
    assert answer.status is None and answer.error is not None  # the canary does not speak HTTP
    assert not await canary.quiet()


async def test_loopback_over_plain_http_is_reached_when_allowed(
    receiver: Receiver, make_client: Callable[..., WebhookClient]
):
    client = make_client(allow_loopback=True)
    answer = await client.post(f"http://127.0.0.1:{receiver.port}/ok", HEADERS, BODY)
    assert (answer.status, answer.body_start, answer.error) == (200, "thanks", None)
    assert receiver.seen == [("ok", f"127.0.0.1:{receiver.port}", BODY)]
    assert answer.latency_ms > 0


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.1/", "https://10.0.0.1/", "http://[fd00:ec2::254]/",
     "http://public.example/", "https://169.254.169.254/", "https://0.0.0.0/"]
)  # fmt: skip
async def test_allow_loopback_allows_loopback_only(
    url: str, make_client: Callable[..., WebhookClient]
):
    # public.example is public, but plain http is for loopback only.
    client = make_client(allow_loopback=True, resolve=resolver({"public.example": ["8.8.8.8"]}))
    answer = await client.post(url, HEADERS, BODY)
    assert answer.status is None
    assert answer.error is not None and answer.error.startswith("refused"), answer.error


@pytest.mark.parametrize("route", ["redirect-private", "redirect-canary"])
async def test_a_redirect_is_an_answer_never_followed(
    route: str, receiver: Receiver, canary: Canary, make_client: Callable[..., WebhookClient]
):
    client = make_client(allow_loopback=True)
    answer = await client.post(f"http://127.0.0.1:{receiver.port}/{route}", HEADERS, BODY)
    assert answer.status == 302 and answer.error is None
    assert [path for path, _, _ in receiver.seen] == [route]
    assert await canary.quiet()


async def test_a_receiver_that_does_not_answer_in_time_is_a_timeout(
    receiver: Receiver, make_client: Callable[..., WebhookClient]
):
    client = make_client(allow_loopback=True, timeout=0.3)
    answer = await client.post(f"http://127.0.0.1:{receiver.port}/slow", HEADERS, BODY)
    assert (answer.status, answer.error) == (None, "timeout after 0.3 s")
    assert 300 <= answer.latency_ms < 2000


async def test_a_receiver_that_answers_then_stalls_still_counts_as_answered(
    receiver: Receiver, make_client: Callable[..., WebhookClient]
):
    client = make_client(allow_loopback=True, timeout=0.3)
    answer = await client.post(f"http://127.0.0.1:{receiver.port}/stall-body", HEADERS, BODY)
    assert (answer.status, answer.body_start, answer.error) == (200, "partial", None)
    assert answer.latency_ms < 2000


async def test_retry_after_is_read(receiver: Receiver, make_client: Callable[..., WebhookClient]):
    client = make_client(allow_loopback=True)
    answer = await client.post(f"http://127.0.0.1:{receiver.port}/busy", HEADERS, BODY)
    assert (answer.status, answer.retry_after) == (503, 120.0)
    answer = await client.post(f"http://127.0.0.1:{receiver.port}/busy-until", HEADERS, BODY)
    assert answer.status == 429
    assert answer.retry_after is not None and 55 <= answer.retry_after <= 61


async def test_only_the_start_of_a_long_answer_is_kept(
    receiver: Receiver, make_client: Callable[..., WebhookClient]
):
    client = make_client(allow_loopback=True)
    answer = await client.post(f"http://127.0.0.1:{receiver.port}/big", HEADERS, BODY)
    assert answer.status == 200
    assert answer.body_start == "é" * 1000


async def test_a_name_is_resolved_again_for_each_new_connection(
    receiver: Receiver, canary: Canary, make_client: Callable[..., WebhookClient]
):
    names: dict[str, Sequence[str]] = {"hook.example": ["127.0.0.1"]}
    asked: list[str] = []
    resolve = resolver(names)

    async def counting(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        return await resolve(host, port)

    client = make_client(allow_loopback=True, resolve=counting)
    url = f"http://hook.example:{receiver.port}"
    assert (await client.post(f"{url}/ok", HEADERS, BODY)).status == 200
    assert (await client.post(f"{url}/close", HEADERS, BODY)).status == 200
    assert asked == ["hook.example"]  # the kept-alive connection was reused, then closed
    names["hook.example"] = ["169.254.169.254"]
    answer = await client.post(f"{url}/ok", HEADERS, BODY)
    assert (
        answer.error
        == "refused: hook.example: 169.254.169.254 is a link-local (cloud metadata) address"
    )
    assert asked == ["hook.example", "hook.example"]
    assert await canary.quiet()


async def test_tls_checks_the_url_name_while_connecting_to_the_vetted_address(
    canary: Canary, make_client: Callable[..., WebhookClient]
):
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("receiver.example").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    receiver = Receiver(canary.port)
    await receiver.start(ssl_context=server_context)
    try:
        names = {"receiver.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]}
        client = make_client(
            allow_loopback=True, resolve=resolver(names), ssl_context=client_context
        )
        good = await client.post(f"https://receiver.example:{receiver.port}/ok", HEADERS, BODY)
        assert (good.status, good.body_start) == (200, "thanks")
        assert receiver.seen == [("ok", f"receiver.example:{receiver.port}", BODY)]
        wrong = await client.post(f"https://other.example:{receiver.port}/ok", HEADERS, BODY)
        assert wrong.status is None
        assert wrong.error is not None and "certificate" in wrong.error.lower(), wrong.error
        assert len(receiver.seen) == 1
    finally:
        await receiver.close()


async def test_a_receiver_that_refuses_connections_is_a_connection_failure(
    make_client: Callable[..., WebhookClient],
):
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    client = make_client(allow_loopback=True)
    answer = await client.post(f"http://127.0.0.1:{port}/", HEADERS, BODY)
    assert answer.status is None
    assert answer.error is not None and answer.error.startswith("connection failed"), answer.error
