"""The inbound SMTP listener: the MX of the bounce domain, where asynchronous bounces (RFC 3464
DSNs), complaints (RFC 5965 ARF) and mailto unsubscribes arrive.

It takes mail only for addresses on ``bounce_domain`` (any other recipient: 550 5.7.1, so it is
never an open relay) and up to ``inbound_max_bytes`` (552 above). What a mail means is decided
by :func:`agents.bounces.read_inbound`; the events go to ``herald.outcomes`` keyed by message
id, and the timeline agent takes it from there.

Nothing accepted is lost: 250 is answered only once the broker acknowledged every event, or once
the mail was filed for a human in the Maildir ``<data_dir>/inbound/unmatched`` (a report naming
no message, a forged return path, an out-of-office reply, anything unreadable). Kafka down or
the disk full: 451 4.3.0, and the reporting server tries again later; the same report gives the
same event ids, so a retry after a partial publish adds no duplicates downstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mailbox
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from agents.bounces import read_inbound
from api.errors import QueueUnavailable, RecordTooLarge
from api.producer import KafkaSendProducer
from config.errors import HeraldConfigError
from config.secrets import signing_key
from config.settings import Settings
from herald.capture import ENVELOPE_TO_HEADER
from herald.smtp_listener import SmtpListener
from streams import records
from streams.topics import OUTCOMES

log = logging.getLogger(__name__)

UNMATCHED_DIR = Path("inbound") / "unmatched"  # under the data dir
REASON_HEADER = "X-Herald-Inbound-Reason"
MAX_RECIPIENTS = 50
_PUBLISH_TIMEOUT = 30.0
_TRY_LATER = "451 4.3.0 cannot record this report right now, try again later"


class Publisher(Protocol):
    async def publish(
        self, topic: str, key: bytes, value: bytes, *, partition: int | None = None
    ) -> None: ...


class _ReportHandler:
    """aiosmtpd handler: refuse foreign recipients, turn each accepted mail into events."""

    def __init__(self, domain: str, key: bytes, publisher: Publisher, unmatched: Path) -> None:
        self.domain = domain.lower().rstrip(".")
        self.key = key
        self.publisher = publisher
        self.unmatched = unmatched

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        _, at, host = address.rpartition("@")
        if not at or host.lower().rstrip(".") != self.domain:
            return f"550 5.7.1 relaying denied: this server only takes mail for {self.domain}"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data: bytes = envelope.original_content or b""
        sender: str = envelope.mail_from or ""
        rcpts: list[str] = list(envelope.rcpt_tos)
        try:
            return await self._accept(sender, rcpts, data)
        except Exception:  # one bad mail must never stop the listener: keep it for a human
            log.exception("could not handle an inbound mail; keeping it for inspection")
            return await self._keep(sender, rcpts, data, ("internal error (see the log)",))

    async def _accept(self, sender: str, rcpts: list[str], data: bytes) -> str:
        # Parsing up to inbound_max_bytes takes a while: off the loop, other sessions go on.
        verdict = await asyncio.to_thread(
            read_inbound, rcpts, data, domain=self.domain, key=self.key, at=time.time()
        )
        unmatched = verdict.unmatched
        for event in verdict.events:
            try:
                await asyncio.wait_for(
                    self.publisher.publish(
                        OUTCOMES.name, key=event.message_id.encode(), value=records.encode(event)
                    ),
                    _PUBLISH_TIMEOUT,
                )
            except (QueueUnavailable, TimeoutError):
                log.warning("Kafka did not take a %s event; asking the sender to retry", event.type)
                return _TRY_LATER
            except RecordTooLarge:  # cannot succeed on retry either
                unmatched += (f"the {event.type} event was too large for Kafka",)
        if verdict.events:
            log.info("recorded %s", ", ".join(f"{e.type} {e.message_id}" for e in verdict.events))
        if unmatched:
            return await self._keep(sender, rcpts, data, unmatched)
        return "250 2.0.0 OK"

    async def _keep(self, sender: str, rcpts: list[str], data: bytes, why: tuple[str, ...]) -> str:
        try:
            key = await asyncio.to_thread(keep_unmatched, self.unmatched, sender, rcpts, data, why)
        except OSError as exc:
            log.error("cannot keep an inbound mail in %s: %s", self.unmatched, exc)
            return _TRY_LATER
        log.warning("kept an inbound mail in %s as %s: %s", self.unmatched, key, "; ".join(why))
        return "250 2.0.0 OK (kept for inspection)"


def keep_unmatched(
    maildir: Path, sender: str, rcpts: list[str], data: bytes, why: tuple[str, ...]
) -> str:
    """File ``data`` in ``maildir`` with the envelope and the reasons in front; its key."""
    lines = [f"Return-Path: <{sender.strip('<>')}>"]
    lines += [f"{ENVELOPE_TO_HEADER}: {rcpt}" for rcpt in rcpts]
    lines += [f"{REASON_HEADER}: {' '.join(reason.split())}" for reason in why]
    trace = "".join(f"{line}\n" for line in lines).encode("utf-8", "replace")
    maildir.parent.mkdir(parents=True, exist_ok=True)
    return mailbox.Maildir(maildir, create=True).add(trace + data.replace(b"\r\n", b"\n"))


class InboundServer(SmtpListener):
    """The listener on the running event loop: ``async with`` or ``start()``/``stop()``. With
    ``port=0`` the system picks a free port; read it from ``port`` once started."""

    def __init__(
        self,
        handler: _ReportHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 2526,
        max_bytes: int = 10 * 1024 * 1024,
    ) -> None:
        super().__init__(
            handler, host=host, port=port, hostname=handler.domain, max_bytes=max_bytes
        )
        self._reports = handler

    @classmethod
    def from_settings(cls, settings: Settings, publisher: Publisher) -> InboundServer:
        if not settings.bounce_domain:
            raise HeraldConfigError(
                "The inbound listener needs a bounce domain: set HERALD_BOUNCE_DOMAIN to the "
                "domain whose MX points at this listener (e.g. bounces.example.com)."
            )
        handler = _ReportHandler(
            settings.bounce_domain,
            signing_key(settings),
            publisher,
            settings.data_dir / UNMATCHED_DIR,
        )
        return cls(
            handler,
            host=settings.inbound_host,
            port=settings.inbound_port,
            max_bytes=settings.inbound_max_bytes,
        )

    async def start(self) -> None:
        if self._server is not None:
            return
        unmatched = self._reports.unmatched
        try:  # fail now, not on the first mail
            unmatched.parent.mkdir(parents=True, exist_ok=True)
            mailbox.Maildir(unmatched, create=True)
        except OSError as exc:
            raise HeraldConfigError(
                f"The inbound listener cannot create its Maildir {unmatched} ({exc}); "
                "check HERALD_DATA_DIR and its permissions."
            ) from exc
        try:
            await super().start()
        except OSError as exc:
            raise HeraldConfigError(
                f"The inbound listener cannot listen on {self.host}:{self.port} ({exc}); "
                "set HERALD_INBOUND_HOST / HERALD_INBOUND_PORT to a free address."
            ) from exc
        log.info("inbound SMTP for %s on %s:%d", self.hostname, self.host, self.port)


@contextlib.asynccontextmanager
async def inbound_listener(settings: Settings) -> AsyncIterator[InboundServer]:
    """The listener with its own Kafka producer (acks=all, idempotent), for as long as the
    block runs. The producer connects in the background: until it has, mail gets 451."""
    producer = KafkaSendProducer(settings.bootstrap)
    server = InboundServer.from_settings(settings, producer)
    await producer.start()
    try:
        async with server:
            yield server
    finally:
        await producer.stop()


async def run_inbound(settings: Settings) -> None:
    """``herald inbound``: the listener until SIGINT or SIGTERM."""
    # Herald's own lines at INFO; libraries (aiosmtpd logs every address) only when it matters.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("herald").setLevel(logging.INFO)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with inbound_listener(settings):
        await stop.wait()
