"""A real, scriptable SMTP server for tests.

It listens on a free loopback port and runs its own event loop in a thread, so it answers
whether the test is async or not, and a separate process (``herald worker``) can deliver to it
through ``server.url``. Everything it accepts is kept in memory, in arrival order;
``server.rcpts(address)`` counts every RCPT TO asked for an address, accepted or not.

Scripting (change it at any time, from any thread)::

    server.reject.add("nobody@example.com")     # RCPT -> 550 5.1.1 <addr>: user unknown
    server.defer["slow@example.com"] = 2        # RCPT -> 451 4.7.1 twice, then accepted
    server.defer_all = True                     # every RCPT -> 451 4.7.1 until switched off
    server.defer_next(5)                        # the next 5 RCPTs, whatever the address -> 451
    server.closing = True                       # every MAIL -> 421 4.3.2 (the client hangs up)

It offers PIPELINING (RFC 2920) unless ``SmtpTestServer(pipelining=False)``. Given a
``tls_context``, it offers STARTTLS and refuses MAIL (530) until the session is encrypted.
``SmtpTestServer(credentials=("user", "pass"))`` offers AUTH PLAIN/LOGIN (without TLS, loopback
only) and answers MAIL with 530 until the client has logged in with exactly those.

Addresses compare case-insensitively.
"""

from __future__ import annotations

import asyncio
import email.policy
import ssl
import threading
import time
import weakref
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from types import TracebackType
from typing import Any, Self

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

REJECT_REPLY = "550 5.1.1 <{address}>: user unknown"
DEFER_REPLY = "451 4.7.1 try again later"
CLOSING_REPLY = "421 4.3.2 service shutting down, try again later"
AUTH_REQUIRED_REPLY = "530 5.7.0 Authentication required"


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes  # as received, CRLF line endings
    message: EmailMessage
    connection: int  # 1 for the server's first connection, 2 for the next, ...
    login: str | None = None  # the user name the client authenticated as
    received_at: float = 0.0  # time.monotonic() when DATA completed


class _Handler:
    def __init__(self, server: SmtpTestServer) -> None:
        self._server = server

    async def handle_EHLO(
        self, smtp: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # aiosmtpd leaves it to a handler that answers EHLO
        if self._server.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._server.closing:
            return CLOSING_REPLY
        if self._server.credentials is not None and not session.authenticated:
            return AUTH_REQUIRED_REPLY
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        verdict = self._server._verdict(address)
        if verdict is not None:
            return verdict
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        connection = getattr(smtp, "herald_connection", 0)
        auth: object = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        number = self._server._record(envelope, connection, login)
        return f"250 2.0.0 OK queued as {number}"

    def authenticate(
        self, smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        expected = self._server.credentials
        ok = (
            expected is not None
            and isinstance(auth_data, LoginPassword)
            and (auth_data.login, auth_data.password)
            == (expected[0].encode(), expected[1].encode())
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


class SmtpTestServer:
    """Start with ``with SmtpTestServer() as server:`` (or ``async with``), or start()/stop().

    Stopping and starting again keeps the port, so a test can take the relay down and bring it
    back.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        credentials: tuple[str, str] | None = None,
        smtputf8: bool = True,
        max_size: int = 33_554_432,
        pipelining: bool = True,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.pipelining = pipelining
        self.tls_context = tls_context
        self.smtputf8 = smtputf8
        self.max_size = max_size  # offered as SIZE; a larger message is refused (552)
        self.port = port
        self.credentials = credentials
        self.reject: set[str] = set()
        self.defer: dict[str, int] = {}
        self.defer_all = False
        self.closing = False
        self._defer_next = 0
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._messages: list[ReceivedMessage] = []
        self._rcpts: list[str] = []  # every RCPT TO address asked for, lower-cased
        self._connections = 0
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._protocols: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._handler = _Handler(self)

    # --- what the test reads --------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def rcpts(self, address: str) -> int:
        """How many times a client asked RCPT TO for ``address``, whatever the answer."""
        with self._lock:
            return self._rcpts.count(address.lower())

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def connections(self) -> int:
        """Connections accepted since the server was created."""
        with self._lock:
            return self._connections

    def to(self, address: str) -> list[ReceivedMessage]:
        """The messages whose envelope included ``address``."""
        wanted = address.lower()
        return [m for m in self.messages if wanted in (r.lower() for r in m.rcpt_tos)]

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages arrived; TimeoutError after ``timeout``."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(self._timeout_text(count, timeout))
            return list(self._messages)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Await until at least ``count`` messages arrived; TimeoutError after ``timeout``."""
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        deadline = time.monotonic() + timeout
        with self._lock:
            self._waiters.append(waiter)
        try:
            while True:
                event.clear()
                with self._lock:
                    if len(self._messages) >= count:
                        return list(self._messages)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_text(count, timeout))
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    continue
        finally:
            with self._lock:
                self._waiters.remove(waiter)

    # --- scripting --------------------------------------------------------------------------

    def defer_next(self, count: int) -> None:
        """Answer the next ``count`` RCPT commands with 451, whatever the address."""
        with self._lock:
            self._defer_next = count

    def clear(self) -> None:
        """Forget the messages received so far and all scripting."""
        with self._lock:
            self._messages.clear()
            self._rcpts.clear()
            self.reject.clear()
            self.defer.clear()
            self.defer_all = False
            self.closing = False
            self._defer_next = 0

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the test SMTP server is already running")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    loop.create_server(self._protocol, self.host, self.port)
                )
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="smtp-test-server", daemon=True)
        self._thread.start()
        if not ready.wait(timeout=10) or failure:
            self._thread.join(timeout=10)
            loop.close()
            self._loop = self._thread = None
            raise RuntimeError("the test SMTP server did not start") from (
                failure[0] if failure else None
            )

    def stop(self) -> None:
        """Close the listener and every open connection, then end the server's thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = self._server = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.stop)

    # --- inside the server's thread ---------------------------------------------------------

    def _protocol(self) -> SMTP:
        protocol = SMTP(
            self._handler,
            hostname="smtp.test",
            enable_SMTPUTF8=self.smtputf8,
            data_size_limit=self.max_size,
            decode_data=False,
            loop=self._loop,
            authenticator=self._handler.authenticate if self.credentials else None,
            auth_require_tls=False,
            tls_context=self.tls_context,
            require_starttls=self.tls_context is not None,
        )
        with self._lock:
            self._connections += 1
            protocol.herald_connection = self._connections  # type: ignore[attr-defined]
            self._protocols.add(protocol)
        return protocol

    def _verdict(self, address: str) -> str | None:
        key = address.lower()
        with self._lock:
            self._rcpts.append(key)
            if key in {a.lower() for a in self.reject}:
                return REJECT_REPLY.format(address=address)
            if self.defer_all:
                return DEFER_REPLY
            if self._defer_next > 0:
                self._defer_next -= 1
                return DEFER_REPLY
            for scripted, remaining in self.defer.items():
                if scripted.lower() == key and remaining > 0:
                    self.defer[scripted] = remaining - 1
                    return DEFER_REPLY
        return None

    def _record(self, envelope: Envelope, connection: int, login: str | None) -> int:
        data = envelope.original_content or b""
        parsed: Any = BytesParser(policy=email.policy.default).parsebytes(data)
        received = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=data,
            message=parsed,
            connection=connection,
            login=login,
            received_at=time.monotonic(),
        )
        with self._arrived:
            self._messages.append(received)
            number = len(self._messages)
            self._arrived.notify_all()
            for loop, event in self._waiters:
                loop.call_soon_threadsafe(event.set)
        return number

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        with self._lock:
            protocols, self._protocols = list(self._protocols), weakref.WeakSet()
        for protocol in protocols:
            if protocol.transport is not None:
                protocol.transport.close()
        await self._server.wait_closed()
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _timeout_text(self, count: int, timeout: float) -> str:
        return f"expected {count} messages within {timeout}s, got {len(self._messages)}"
