"""The embedded capture server: the outbound relay of ``herald up`` when no ``HERALD_SMTP_URL``
is set. It accepts every message on the loopback interface and files it in a Maildir under the
data dir, so nothing sent in development ever leaves the machine.

One file per envelope recipient, holding the message as received with two headers in front:
``Return-Path`` (the envelope sender) and ``X-Herald-Envelope-To`` (the recipient this copy was
for; Bcc recipients appear in no other header). Lines end in LF, as Maildir readers expect.
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
from pathlib import Path
from typing import Any

from config.settings import Settings
from herald.smtp_listener import SmtpListener

log = logging.getLogger(__name__)

ENVELOPE_TO_HEADER = "X-Herald-Envelope-To"
MAX_MESSAGE_BYTES = 32 * 1024 * 1024


class _MaildirHandler:
    """aiosmtpd handler: store each accepted message, once per envelope recipient."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data: bytes = envelope.original_content or b""
        try:
            keys = await asyncio.to_thread(
                store_message, self.maildir, envelope.mail_from or "", envelope.rcpt_tos, data
            )
        except OSError as exc:
            log.error("cannot store a captured message in %s: %s", self.maildir, exc)
            return "451 4.3.0 cannot store the message, try again later"
        return f"250 2.0.0 OK stored as {' '.join(keys)}"


def store_message(maildir: Path, mail_from: str, rcpt_tos: list[str], data: bytes) -> list[str]:
    """File ``data`` in ``maildir`` once per recipient; returns the Maildir keys."""
    box = mailbox.Maildir(maildir, create=True)
    body = data.replace(b"\r\n", b"\n")
    keys = []
    for rcpt in rcpt_tos:
        trace = f"Return-Path: <{mail_from}>\n{ENVELOPE_TO_HEADER}: {rcpt}\n".encode()
        keys.append(box.add(trace + body))
    return keys


class CaptureServer(SmtpListener):
    """The capture SMTP server, on the running event loop.

    ``async with CaptureServer.from_settings(settings):`` or ``start()``/``stop()``. With
    ``port=0`` the system picks a free port; read it from ``port`` once started.
    """

    def __init__(self, maildir: Path, *, host: str = "127.0.0.1", port: int = 2525) -> None:
        super().__init__(
            _MaildirHandler(maildir),
            host=host,
            port=port,
            hostname="herald-capture",
            max_bytes=MAX_MESSAGE_BYTES,
        )
        self.maildir = maildir

    @classmethod
    def from_settings(cls, settings: Settings) -> CaptureServer:
        return cls(settings.data_dir / "maildir", port=settings.capture_smtp_port)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    async def start(self) -> None:
        if self._server is not None:
            return
        mailbox.Maildir(self.maildir, create=True)  # fail now, not on the first message
        await super().start()
        log.info("capture SMTP server on %s, storing mail in %s", self.url, self.maildir)
