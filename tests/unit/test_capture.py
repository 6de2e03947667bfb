"""The embedded capture server files what it receives in a Maildir."""

import contextlib
import email.policy
import mailbox
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import aiosmtplib

from agents.smtp import SmtpPoolMailer
from config.settings import load_settings
from herald.capture import ENVELOPE_TO_HEADER, CaptureServer
from streams.records import Content, Delivery


def stored(maildir: Path) -> list[EmailMessage]:
    parser = BytesParser(policy=email.policy.default)
    box = mailbox.Maildir(maildir, create=False)
    messages = []
    for key in box.iterkeys():
        parsed = parser.parsebytes(box.get_bytes(key))
        assert isinstance(parsed, EmailMessage)
        messages.append(parsed)
    return messages


def a_message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "news@acme.example"
    msg["To"] = "ann@example.com"
    msg["Subject"] = "Bonjour 🎉"
    msg.set_content("Ça marche 🎉")
    return msg


async def test_stores_one_copy_per_envelope_recipient(tmp_path: Path) -> None:
    maildir = tmp_path / "maildir"
    async with CaptureServer(maildir, port=0) as capture:
        errors, reply = await aiosmtplib.send(
            a_message(),
            hostname=capture.host,
            port=capture.port,
            recipients=["ann@example.com", "hidden@example.com"],
            local_hostname="test",
        )

    assert errors == {}
    assert reply.startswith("2.0.0 OK stored as")
    messages = stored(maildir)
    assert sorted(m[ENVELOPE_TO_HEADER] for m in messages) == [
        "ann@example.com",
        "hidden@example.com",
    ]
    for msg in messages:
        assert msg["Return-Path"] == "<news@acme.example>"
        assert msg["Subject"] == "Bonjour 🎉"
        assert msg.get_content() == "Ça marche 🎉\n"


async def test_accepts_smtputf8_addresses(tmp_path: Path) -> None:
    maildir = tmp_path / "maildir"
    msg = a_message()
    msg.replace_header("To", "jörg@bücher.example")
    async with CaptureServer(maildir, port=0) as capture:
        await aiosmtplib.send(msg, hostname=capture.host, port=capture.port, local_hostname="t")

    [copy] = stored(maildir)
    assert copy[ENVELOPE_TO_HEADER] == "jörg@bücher.example"
    assert copy["To"] == "jörg@bücher.example"


async def test_maildir_lines_end_in_lf(tmp_path: Path) -> None:
    maildir = tmp_path / "maildir"
    async with CaptureServer(maildir, port=0) as capture:
        await aiosmtplib.send(a_message(), hostname=capture.host, port=capture.port)

    [path] = (maildir / "new").iterdir()
    assert b"\r\n" not in path.read_bytes()


async def test_from_settings_uses_the_data_dir_and_capture_port(tmp_path: Path) -> None:
    capture = CaptureServer.from_settings(load_settings(data_dir=tmp_path, capture_smtp_port=0))
    await capture.start()
    try:
        assert capture.maildir == tmp_path / "maildir"
        assert (tmp_path / "maildir" / "new").is_dir()
        assert capture.port != 0
        assert capture.url == f"smtp://127.0.0.1:{capture.port}"
    finally:
        await capture.stop()


async def test_stop_closes_open_sessions(tmp_path: Path) -> None:
    capture = CaptureServer(tmp_path / "maildir", port=0)
    await capture.start()
    client = aiosmtplib.SMTP(hostname=capture.host, port=capture.port, local_hostname="t")
    await client.connect()

    await capture.stop()

    with contextlib.suppress(aiosmtplib.SMTPServerDisconnected):
        await client.noop()
    assert not client.is_connected


async def test_embedded_default_delivers_through_the_pool_into_the_maildir(
    tmp_path: Path,
) -> None:
    async with CaptureServer(tmp_path / "maildir", port=0) as capture:
        settings = load_settings(data_dir=tmp_path, capture_smtp_port=capture.port)
        content = Content(
            sender="news@acme.example",
            subject="Hi 🎉",
            to=("ann@example.com",),
            html="<p>🎉</p>",
        )
        delivery = Delivery("msg_1", "req_1", "ws_1", "hidden@example.com", content, 0.0)
        async with SmtpPoolMailer.from_settings(settings) as mailer:
            result = await mailer.send(delivery)

    assert result.outcome == "sent"
    [copy] = stored(settings.data_dir / "maildir")
    assert copy[ENVELOPE_TO_HEADER] == "hidden@example.com"
    assert copy["Message-ID"] == "<msg_1@acme.example>"
    assert copy["Subject"] == "Hi 🎉"
    assert copy["Bcc"] is None
