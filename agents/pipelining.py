"""One SMTP transaction with PIPELINING (RFC 2920), on a connection aiosmtplib opened.

MAIL, RCPT and DATA go out in one write and their three replies are read together; the message
follows once DATA is answered 354. That is two round trips per message instead of four: a
connection to a distant relay carries twice the mail, and the client's CPU per message is a
tenth to a quarter lower (BENCHMARKS.md, fifteenth push).

aiosmtplib cannot read pipelined replies: its protocol parses one reply per chunk received and
drops data that arrives while a reply waits to be picked up. So for the transaction the
connection's transport talks to :class:`_Replies`, which keeps every reply in order, and is
handed back to aiosmtplib's protocol afterwards (``set_protocol``, asyncio's own way to do
that). A connection lost meanwhile is passed on, so aiosmtplib knows the connection is gone.

Errors are raised as aiosmtplib raises them for the same commands sent one by one, so the
caller cannot tell the two apart.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast

import aiosmtplib
from aiosmtplib.protocol import (
    COMMAND_INJECTION_REGEX,
    MAX_RESPONSE_LENGTH,
    PERIOD_REGEX,
    SMTPProtocol,
    normalize_message_line_endings,
)

_CLOSING = 421  # the relay is closing the connection: no further reply is coming


def command(*args: bytes) -> bytes:
    """One command line; ValueError for an argument with a control character (as
    aiosmtplib's ``execute_command``), before anything is sent."""
    for arg in args:
        if COMMAND_INJECTION_REGEX.search(arg):
            raise ValueError("Command arg contains a prohibited control character")
    return b" ".join(args) + b"\r\n"


async def transaction(
    client: aiosmtplib.SMTP, sender: str, recipient: str, mail: bytes, rcpt: bytes, message: bytes
) -> str:
    """Send ``mail`` and ``rcpt`` (command lines from :func:`command`), DATA and ``message``;
    the relay's final reply. Raises the library's exceptions for a refusal, for the first
    command refused, like the commands sent one by one would."""
    protocol = client.protocol
    transport = cast(asyncio.Transport | None, protocol.transport if protocol else None)
    if protocol is None or transport is None or transport.is_closing():
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    replies = _Replies(protocol)
    transport.set_protocol(replies)
    try:
        transport.write(mail + rcpt + b"DATA\r\n")
        async with asyncio.timeout(client.timeout):
            to_mail = await replies.next()
            to_rcpt = await replies.next()
            to_data = await replies.next()
        envelope_ok = to_mail.code == 250 and to_rcpt.code in (250, 251)
        if to_data.code == 354:
            # RFC 2920 3.1: a relay that took DATA after refusing the envelope gets an empty
            # message, which it must deliver to no one.
            body = normalize_message_line_endings(message) if envelope_ok else b""
            transport.write(PERIOD_REGEX.sub(b"..", body) + b".\r\n")
            async with asyncio.timeout(client.timeout):
                final = await replies.next()
    finally:
        transport.set_protocol(protocol)
    if to_mail.code != 250:
        raise aiosmtplib.SMTPSenderRefused(to_mail.code, to_mail.message, sender)
    if not envelope_ok:
        raise aiosmtplib.SMTPRecipientRefused(to_rcpt.code, to_rcpt.message, recipient)
    if to_data.code != 354:
        raise aiosmtplib.SMTPDataError(to_data.code, to_data.message)
    if final.code != 250:
        raise aiosmtplib.SMTPDataError(final.code, final.message)
    return final.message


class _Replies(asyncio.Protocol):
    """The connection's protocol while replies to pipelined commands come in: every complete
    reply is kept, in order. Flow control and the connection's loss go on to ``owner``."""

    def __init__(self, owner: SMTPProtocol) -> None:
        self._owner = owner
        self._buffer = bytearray()
        self._replies: deque[aiosmtplib.SMTPResponse] = deque()
        self._failure: Exception | None = None
        self._wake: asyncio.Future[None] | None = None

    async def next(self) -> aiosmtplib.SMTPResponse:
        """The next reply; raises once the connection has failed, or when the relay said it
        is closing it (421, as aiosmtplib does)."""
        while not self._replies:
            if self._failure is not None:
                raise self._failure
            self._wake = asyncio.get_running_loop().create_future()
            await self._wake
        reply = self._replies.popleft()
        if reply.code == _CLOSING:
            raise aiosmtplib.SMTPResponseException(reply.code, reply.message)
        return reply

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            while (reply := self._take_reply()) is not None:
                self._replies.append(reply)
        except aiosmtplib.SMTPResponseException as exc:
            self._failure = exc
        if len(self._buffer) > MAX_RESPONSE_LENGTH:
            self._failure = aiosmtplib.SMTPResponseException(-1, "Response too long")
        self._notify()

    def eof_received(self) -> bool:
        self._fail(aiosmtplib.SMTPServerDisconnected("Unexpected EOF received"))
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(aiosmtplib.SMTPServerDisconnected("Connection lost"))
        self._owner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._owner.pause_writing()

    def resume_writing(self) -> None:
        self._owner.resume_writing()

    def _take_reply(self) -> aiosmtplib.SMTPResponse | None:
        """The first complete reply in the buffer, removed from it (RFC 5321 4.2: lines of
        ``code-text``, the last one ``code text``)."""
        lines: list[bytes] = []
        start = 0
        while (end := self._buffer.find(b"\n", start)) != -1:
            line = bytes(self._buffer[start : end + 1])
            start = end + 1
            try:
                code = int(line[:3])
            except ValueError:
                text = line.decode("utf-8", errors="replace").strip()
                raise aiosmtplib.SMTPResponseException(
                    -1, f"Malformed SMTP response line: {text}"
                ) from None
            lines.append(line[4:].strip(b" \t\r\n"))
            if line[3:4] != b"-":
                del self._buffer[:start]
                return aiosmtplib.SMTPResponse(code, b"\n".join(lines).decode("utf-8", "replace"))
        return None

    def _fail(self, exc: Exception) -> None:
        if self._failure is None:
            self._failure = exc
        self._notify()

    def _notify(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
