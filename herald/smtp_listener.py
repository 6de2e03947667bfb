"""What Herald's own SMTP servers share: an aiosmtpd handler served on the running event loop,
started and stopped cleanly (``async with`` or ``start()``/``stop()``).

With ``port=0`` the system picks a free port; read it from ``port`` once started. Stopping
closes every open session and lets each one see its connection go before returning.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, Self

from aiosmtpd.smtp import SMTP

_STOP_TIMEOUT = 5.0


class SmtpListener:
    def __init__(
        self, handler: Any, *, host: str, port: int, hostname: str, max_bytes: int
    ) -> None:
        self.host = host
        self.port = port
        self.hostname = hostname  # what the server calls itself in its greeting
        self.max_bytes = max_bytes
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._protocols: weakref.WeakSet[Any] = weakref.WeakSet()

    async def start(self) -> None:
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        protocols, self._protocols = list(self._protocols), weakref.WeakSet()
        sessions = [p._handler_coroutine for p in protocols if p._handler_coroutine is not None]
        for protocol in protocols:
            if protocol.transport is not None:
                protocol.transport.close()
        await server.wait_closed()
        if sessions:  # let each session see its connection go and end
            await asyncio.wait(sessions, timeout=_STOP_TIMEOUT)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _protocol(self) -> Any:
        protocol = SMTP(
            self._handler,
            hostname=self.hostname,
            data_size_limit=self.max_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            loop=asyncio.get_running_loop(),
        )
        self._protocols.add(protocol)
        return protocol
