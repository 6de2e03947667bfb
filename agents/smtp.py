"""The real :class:`~agents.mailer.Mailer`: a small pool of SMTP connections to one relay.

At most ``size`` connections are open at once and each carries one transaction at a time, so
``size`` also bounds how many messages are in flight. Connections open lazily, stay open between
messages, and are dropped after any connection-level failure. Nothing here raises for a delivery
problem: refusals are classified (:func:`~agents.mailer.classify`) and a relay that cannot be
reached gives ``deferred`` with no code, so the mail is retried later and never lost.

With N worker processes there are up to N x ``size`` connections to the relay. A relay that
offers PIPELINING gets each transaction's commands together (:mod:`agents.pipelining`).

Messages are built with the deployment's :class:`~streams.links.Links` (tracking links,
List-Unsubscribe, VERP return path). When the relay offers DSN and the return path is
Herald's own, each transaction asks for delivery status notifications (RFC 3461).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Self

import aiosmtplib

from agents.mailer import SendResult, SmtpTarget, classify, enhanced_code, parse_smtp_url
from agents.mime import (
    PLAIN_MAILBOX,
    build_message,
    dsn_options,
    envelope_recipient,
    envelope_sender,
)
from agents.pipelining import command, transaction
from config.settings import Settings
from streams.links import Links
from streams.records import Delivery

log = logging.getLogger(__name__)

_START_TLS: dict[str, bool | None] = {"opportunistic": None, "require": True, "never": False}
_QUIT_TIMEOUT = 5.0


def connection_failed(reason: str) -> SendResult:
    """A delivery that never got a verdict from the relay: try again later."""
    return SendResult("deferred", None, None, f"connection failed: {reason}")


def session_refused(code: int, message: str) -> SendResult:
    """The relay answered, but refused the session itself (greeting, EHLO, AUTH): that says
    nothing about the recipient, so try again later whatever the code."""
    reply = " ".join(message.split())
    return SendResult("deferred", code, enhanced_code(code, reply), f"session refused: {reply}")


@dataclass(frozen=True, slots=True)
class Envelope:
    """One transaction: the message, its envelope, and the DSN options for a relay that
    offers DSN."""

    message: bytes
    sender: str
    recipient: str
    mail_options: list[str]
    rcpt_options: list[str]


async def _transaction(
    client: aiosmtplib.SMTP, envelope: Envelope, mail_options: list[str], dsn: bool
) -> str:
    """MAIL, RCPT and DATA for one recipient; the relay's final reply. Raises the library's
    exceptions for a refusal. Not ``sendmail``: it parses both addresses a second time and
    scans the message again for its size, about 4% of a worker's time."""
    if client.supports_extension("size"):
        # RFC 1870: the octets DATA carries before dot-stuffing; agents.mime writes CRLF line
        # ends, so that is the message's length.
        mail_options = [f"SIZE={len(envelope.message)}", *mail_options]
    encoding = "utf-8" if "SMTPUTF8" in mail_options else "ascii"
    rcpt_options = envelope.rcpt_options if dsn else []
    if PLAIN_MAILBOX.fullmatch(envelope.sender) and PLAIN_MAILBOX.fullmatch(envelope.recipient):
        return await _plain_transaction(client, envelope, mail_options, rcpt_options, encoding)
    await client.mail(envelope.sender, options=mail_options, encoding=encoding)
    await client.rcpt(envelope.recipient, options=rcpt_options, encoding=encoding)
    response = await client.data(envelope.message)
    return response.message


async def _plain_transaction(
    client: aiosmtplib.SMTP,
    envelope: Envelope,
    mail_options: list[str],
    rcpt_options: list[str],
    encoding: str,
) -> str:
    """The transaction for plain mailboxes, which go on the command lines as they are:
    pipelined when the relay offers it, else answered as aiosmtplib's mail(), rcpt() and
    data() are."""
    if client.is_ehlo_or_helo_needed:
        await _greet(client)
    sender, recipient = envelope.sender, envelope.recipient
    mail_args = [option.encode("ascii") for option in mail_options]
    rcpt_args = [option.encode("ascii") for option in rcpt_options]
    mail_from = b"FROM:<%b>" % sender.encode(encoding)
    rcpt_to = b"TO:<%b>" % recipient.encode(encoding)
    if client.supports_extension("pipelining"):
        mail, rcpt = command(b"MAIL", mail_from, *mail_args), command(b"RCPT", rcpt_to, *rcpt_args)
        return await transaction(client, sender, recipient, mail, rcpt, envelope.message)
    reply = await client.execute_command(b"MAIL", mail_from, *mail_args)
    if reply.code != aiosmtplib.SMTPStatus.completed:
        raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
    reply = await client.execute_command(b"RCPT", rcpt_to, *rcpt_args)
    if reply.code not in (aiosmtplib.SMTPStatus.completed, aiosmtplib.SMTPStatus.will_forward):
        raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
    response = await client.data(envelope.message)
    return response.message


async def _greet(client: aiosmtplib.SMTP) -> None:
    """EHLO, or HELO for a relay that refuses it (as aiosmtplib does before a transaction)."""
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError:
        if not client.is_connected:
            raise
        await client.helo()


class SmtpPoolMailer:
    """Sends each delivery through a pooled :class:`aiosmtplib.SMTP` connection to ``target``.

    ``timeout`` (seconds, per SMTP command) defaults to the target's. ``local_hostname`` is the
    name given in EHLO (default: this host's FQDN). ``links``: how messages are tracked and
    where they bounce to (None: no tracking, no List-Unsubscribe, From as return path).
    """

    def __init__(
        self,
        target: SmtpTarget,
        size: int = 8,
        timeout: float | None = None,
        *,
        local_hostname: str | None = None,
        links: Links | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("the SMTP pool needs at least one connection")
        self.target = target
        self.size = size
        self.timeout = timeout if timeout is not None else target.timeout
        self.local_hostname = local_hostname
        self.links = links
        self.connections_opened = 0
        self._slots = asyncio.Semaphore(size)
        self._idle: list[aiosmtplib.SMTP] = []
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpPoolMailer:
        target = parse_smtp_url(settings.effective_smtp_url, timeout=settings.smtp_timeout)
        return cls(target, settings.smtp_pool_size, links=Links.from_settings(settings))

    @property
    def idle(self) -> int:
        """Open connections waiting for the next message."""
        return len(self._idle)

    async def send(self, delivery: Delivery) -> SendResult:
        """Deliver one copy. A connection the relay dropped while idle is replaced once, at
        once; every other failure comes back as a result. Raises only if the delivery cannot
        form a message at all (content the API should have refused)."""
        if self._closed:
            return connection_failed("the mailer is closed")
        sender, recipient = envelope_sender(delivery, self.links), envelope_recipient(delivery)
        envelope = Envelope(
            build_message(delivery, self.links, utf8=not (sender + recipient).isascii()),
            sender,
            recipient,
            *dsn_options(delivery, self.links),
        )
        async with self._slots:
            client = self._take_idle()
            if client is not None:
                result, stale = await self._deliver(client, envelope)
                if not stale:
                    return result
                log.debug(
                    "idle connection to %s was lost (%s); reconnecting",
                    self.target.display,
                    result.reply,
                )
            client_or_failure = await self._connect()
            if isinstance(client_or_failure, SendResult):
                return client_or_failure
            result, _ = await self._deliver(client_or_failure, envelope)
            return result

    async def close(self) -> None:
        """Say QUIT on every idle connection; connections in use close when their send ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._quit(client) for client in idle))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            client = self._idle.pop()  # the most recently used is the least likely to be stale
            if client.is_connected:
                return client
            client.close()
        return None

    async def _connect(self) -> aiosmtplib.SMTP | SendResult:
        target = self.target
        client = aiosmtplib.SMTP(
            hostname=target.host,
            port=target.port,
            use_tls=target.tls,
            start_tls=_START_TLS[target.starttls],
            username=target.username,
            password=target.password,
            timeout=self.timeout,
            validate_certs=target.verify,
            local_hostname=self.local_hostname,
        )
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:  # know the relay's extensions (DSN) up front
                await _greet(client)
        except aiosmtplib.SMTPResponseException as exc:
            log.warning("SMTP relay %s refused the session: %s %s", target.display, exc.code, exc)
            client.close()
            return session_refused(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            log.warning("cannot reach SMTP relay %s: %s", target.display, exc)
            client.close()
            return connection_failed(str(exc) or type(exc).__name__)
        self.connections_opened += 1
        return client

    async def _deliver(
        self, client: aiosmtplib.SMTP, envelope: Envelope
    ) -> tuple[SendResult, bool]:
        """Run one transaction. Returns the result and whether the connection failed (rather
        than the relay answering), in which case a fresh connection may be tried."""
        keep = False
        dsn = client.supports_extension("dsn")
        mail_options = envelope.mail_options if dsn else []
        try:
            if not (envelope.sender + envelope.recipient).isascii():
                keep = True  # nothing was said yet: the connection stays good
                if not client.supports_extension("smtputf8"):
                    reply = "relay cannot take this message: it does not offer SMTPUTF8"
                    return SendResult("bounced", None, "5.6.7", reply), False
                mail_options = [*mail_options, "SMTPUTF8"]
            try:
                reply = await _transaction(client, envelope, mail_options, dsn)
            except aiosmtplib.SMTPHeloError as exc:
                return session_refused(exc.code, exc.message), False
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code == 421:  # the relay is closing this connection
                    return classify(exc.code, exc.message), True
                keep = await self._reset(client)
                return classify(exc.code, exc.message), False
            except (aiosmtplib.SMTPTimeoutError, TimeoutError) as exc:
                # The relay may still accept what it got: no quick second try, retry later.
                return connection_failed(str(exc) or "timed out"), False
            except (aiosmtplib.SMTPException, OSError) as exc:
                return connection_failed(str(exc) or type(exc).__name__), True
            except ValueError as exc:  # an address that cannot go on an SMTP command line
                # MAIL may have been accepted already: clear the envelope, or the next
                # message on this connection is refused (503) and bounced.
                keep = await self._reset(client)
                return SendResult("bounced", None, None, f"invalid address: {exc}"), False
            keep = True
            return classify(250, reply), False
        finally:
            if keep and client.is_connected and not self._closed:
                self._idle.append(client)
            else:
                client.close()

    async def _reset(self, client: aiosmtplib.SMTP) -> bool:
        """Make sure the envelope is clear before the connection is used again."""
        if not client.is_connected:
            return False
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            return False
        return True

    async def _quit(self, client: aiosmtplib.SMTP) -> None:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await client.quit(timeout=_QUIT_TIMEOUT)
        client.close()
