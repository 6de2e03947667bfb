"""SmtpPoolMailer against a real SMTP server on a loopback port."""

import asyncio
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import trustme

from agents.mailer import SendResult, parse_smtp_url
from agents.smtp import SmtpPoolMailer
from streams.records import Content, Delivery
from tests.support.smtp_server import SmtpTestServer


@pytest.fixture(params=[True, False], ids=["pipelining", "one-by-one"])
def server(request: pytest.FixtureRequest) -> Iterator[SmtpTestServer]:
    # Every test on this server runs against a relay that offers PIPELINING and one that does not.
    with SmtpTestServer(pipelining=request.param) as running:
        yield running


@pytest.fixture
async def mailer(server: SmtpTestServer) -> AsyncIterator[SmtpPoolMailer]:
    pool = SmtpPoolMailer(parse_smtp_url(server.url), size=4, timeout=5, local_hostname="test")
    yield pool
    await pool.close()


def make_delivery(recipient: str = "ann@example.com", n: int = 0, **content: Any) -> Delivery:
    fields: dict[str, Any] = {
        "sender": "Acme <news@acme.example>",
        "subject": "Welcome 🎉",
        "to": ("ann@example.com",),
        "text": "Hello Ann",
        "html": "<p>Hello <b>Ann</b> 🎉</p>",
        "tags": ("welcome",),
    }
    fields.update(content)
    return Delivery(
        message_id=f"msg_{n:03d}",
        request_id="req_1",
        workspace_id="ws_1",
        recipient=recipient,
        content=Content(**fields),
        accepted_at=1_700_000_000.0,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_delivers_headers_and_body(server: SmtpTestServer, mailer: SmtpPoolMailer) -> None:
    result = await mailer.send(make_delivery(cc=("carol@example.com",)))

    assert (result.outcome, result.code, result.enhanced) == ("sent", 250, "2.0.0")
    [received] = await server.wait_for(1)
    assert received.mail_from == "news@acme.example"
    assert received.rcpt_tos == ("ann@example.com",)
    msg = received.message
    assert msg["Message-ID"] == "<msg_000@acme.example>"
    assert msg["Subject"] == "Welcome 🎉"
    assert msg["From"] == "Acme <news@acme.example>"
    assert msg["Cc"] == "carol@example.com"
    assert msg["X-Herald-Tags"] == "welcome"
    html = msg.get_body(preferencelist=("html",))
    text = msg.get_body(preferencelist=("plain",))
    assert html is not None and text is not None
    assert "<p>Hello <b>Ann</b> 🎉</p>" in html.get_content()
    assert "Hello Ann" in text.get_content()


async def test_international_address_travels_with_smtputf8(
    server: SmtpTestServer, mailer: SmtpPoolMailer
) -> None:
    result = await mailer.send(
        make_delivery("jörg@bücher.example", to=("Jörg <jörg@bücher.example>",))
    )

    assert result.outcome == "sent"
    [received] = await server.wait_for(1)
    assert received.rcpt_tos == ("jörg@bücher.example",)
    assert received.message["To"] == "Jörg <jörg@bücher.example>"


async def test_international_address_bounces_at_a_relay_without_smtputf8() -> None:
    with SmtpTestServer(smtputf8=False) as plain:
        pool = SmtpPoolMailer(parse_smtp_url(plain.url), size=1, timeout=5, local_hostname="t")
        async with pool:
            refused = await pool.send(make_delivery("jörg@bücher.example"))
            after = await pool.send(make_delivery("ann@example.com", 1))

        assert (refused.outcome, refused.enhanced) == ("bounced", "5.6.7")
        assert "SMTPUTF8" in refused.reply
        assert after.outcome == "sent"
        assert plain.rcpts("jörg@bücher.example") == 0
        assert plain.connections == 1  # the refusal did not cost the connection


async def test_bcc_copy_goes_to_the_bcc_address_only(
    server: SmtpTestServer, mailer: SmtpPoolMailer
) -> None:
    await mailer.send(make_delivery("hidden@example.com"))

    [received] = await server.wait_for(1)
    assert received.rcpt_tos == ("hidden@example.com",)
    assert received.message["Bcc"] is None
    assert b"hidden@example.com" not in received.data


@pytest.mark.parametrize("recipient", ['"ann smith"@example.com', "ann.o'neil+news@example.com"])
async def test_an_address_goes_on_rcpt_to_as_written(
    server: SmtpTestServer, mailer: SmtpPoolMailer, recipient: str
) -> None:
    # A plain mailbox goes on the command line directly, any other through aiosmtplib's parser.
    result = await mailer.send(make_delivery(recipient))

    assert result.outcome == "sent"
    [received] = await server.wait_for(1)
    assert received.rcpt_tos == (recipient,)


async def test_an_address_with_a_control_character_bounces_unsent(
    server: SmtpTestServer, mailer: SmtpPoolMailer
) -> None:
    result = await mailer.send(make_delivery("ann@exa\x00mple.com"))

    assert (result.outcome, result.code) == ("bounced", None)
    assert result.reply.startswith("invalid address")
    assert (await mailer.send(make_delivery("ann@example.com"))).outcome == "sent"
    [received] = await server.wait_for(1)
    assert received.rcpt_tos == ("ann@example.com",)


async def test_connections_are_reused(server: SmtpTestServer, mailer: SmtpPoolMailer) -> None:
    deliveries = [make_delivery(f"user{n}@example.com", n) for n in range(50)]

    results = await asyncio.gather(*(mailer.send(d) for d in deliveries))

    assert {r.outcome for r in results} == {"sent"}
    received = await server.wait_for(50)
    assert sorted(m.rcpt_tos[0] for m in received) == sorted(d.recipient for d in deliveries)
    assert server.connections <= 4
    assert mailer.connections_opened == server.connections
    assert mailer.idle == server.connections


async def test_unknown_user_bounces_with_enhanced_code(
    server: SmtpTestServer, mailer: SmtpPoolMailer
) -> None:
    server.reject.add("gone@example.com")

    result = await mailer.send(make_delivery("gone@example.com"))

    assert (result.outcome, result.code, result.enhanced) == ("bounced", 550, "5.1.1")
    assert "user unknown" in result.reply
    # The connection is reset and kept: the next message goes through on it.
    assert (await mailer.send(make_delivery("ann@example.com"))).outcome == "sent"
    assert server.connections == 1


async def test_message_too_large_for_the_relay_is_refused_before_its_body() -> None:
    with SmtpTestServer(max_size=2_000) as small:
        async with SmtpPoolMailer(parse_smtp_url(small.url), size=1, timeout=5) as mailer:
            result = await mailer.send(make_delivery("ann@example.com", text="x" * 5_000))
            fits = await mailer.send(make_delivery("bob@example.com", n=1))

        # The size went with MAIL FROM (RFC 1870): the relay said no before the body, and took
        # no RCPT (the pipelined RCPT and DATA were refused for want of a MAIL).
        assert (result.outcome, result.code) == ("bounced", 552)
        assert small.rcpts("ann@example.com") == 0
        assert fits.outcome == "sent"
        assert small.connections == 1


async def _pipelining_relay(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, replies: bytes, seen: list[bytes]
) -> None:
    """A relay offering PIPELINING that answers nothing until MAIL, RCPT and DATA are all in,
    then answers them with ``replies``, in one write; ``seen`` gets every line it read."""
    writer.write(b"220 relay.test ESMTP\r\n")
    seen.append(await reader.readline())  # EHLO
    writer.write(b"250-relay.test\r\n250-SIZE 1000000\r\n250 PIPELINING\r\n")
    seen.extend([await reader.readline() for _ in range(3)])
    writer.write(replies)
    while line := await reader.readline():
        seen.append(line)
        if line == b".\r\n":
            writer.write(b"250 2.0.0 queued as 1\r\n")
        elif line.upper() in (b"RSET\r\n", b"QUIT\r\n"):
            writer.write(b"250 2.0.0 ok\r\n")
    writer.close()


async def _send_through(replies: bytes) -> tuple[SendResult, list[bytes]]:
    seen: list[bytes] = []
    relay = await asyncio.start_server(
        lambda r, w: _pipelining_relay(r, w, replies, seen), "127.0.0.1", 0
    )
    port = relay.sockets[0].getsockname()[1]
    try:
        target = parse_smtp_url(f"smtp://127.0.0.1:{port}")
        async with SmtpPoolMailer(target, size=1, timeout=2, local_hostname="t") as mailer:
            result = await mailer.send(make_delivery("ann@example.com"))
    finally:
        relay.close()
    return result, seen


async def test_envelope_and_data_go_out_together_to_a_pipelining_relay() -> None:
    # A client that waited for MAIL's reply before RCPT would wait for ever (here: time out).
    result, seen = await _send_through(
        b"250-2.1.0 sender\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n"
    )

    assert (result.outcome, result.code, result.reply) == ("sent", 250, "2.0.0 queued as 1")
    assert [line.split(b":")[0] for line in seen[1:4]] == [b"MAIL FROM", b"RCPT TO", b"DATA\r\n"]
    body = seen[4 : seen.index(b".\r\n")]  # what followed the 354, up to the lone dot
    assert b"Message-ID: <msg_000@acme.example>\r\n" in body


async def test_relay_taking_data_after_refusing_the_recipient_gets_an_empty_message() -> None:
    # RFC 2920 3.1: DATA was answered 354 with no valid recipient; the message must not follow.
    result, seen = await _send_through(
        b"250 2.1.0 ok\r\n550 5.1.1 <ann@example.com>: user unknown\r\n354 go ahead\r\n"
    )

    assert (result.outcome, result.code, result.enhanced) == ("bounced", 550, "5.1.1")
    assert seen[4] == b".\r\n"  # straight after DATA's 354: an empty message
    assert b"Subject" not in b"".join(seen)


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "one-by-one"])
async def test_messages_go_through_starttls_on_one_connection(pipelining: bool) -> None:
    # The relay refuses MAIL until STARTTLS: every message accepted went over TLS.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    with SmtpTestServer(tls_context=context, pipelining=pipelining) as secure:
        target = parse_smtp_url(f"{secure.url}?starttls=require&verify=false")
        async with SmtpPoolMailer(target, size=1, timeout=5, local_hostname="t") as mailer:
            results = [await mailer.send(make_delivery(f"u{n}@example.com", n)) for n in range(3)]

        assert [r.outcome for r in results] == ["sent"] * 3
        assert [m.rcpt_tos for m in secure.messages] == [(f"u{n}@example.com",) for n in range(3)]
        assert secure.connections == 1


async def test_temporary_failure_defers_then_recovers(
    server: SmtpTestServer, mailer: SmtpPoolMailer
) -> None:
    server.defer["slow@example.com"] = 1
    delivery = make_delivery("slow@example.com")

    first = await mailer.send(delivery)
    second = await mailer.send(delivery.next_attempt(due_at=0))

    assert (first.outcome, first.code, first.enhanced) == ("deferred", 451, "4.7.1")
    assert second.outcome == "sent"
    assert len(server.to("slow@example.com")) == 1


async def test_relay_answering_4xx_for_a_while(
    server: SmtpTestServer, mailer: SmtpPoolMailer
) -> None:
    server.defer_all = True
    during = await asyncio.gather(*(mailer.send(make_delivery(n=n)) for n in range(5)))
    server.defer_all = False
    after = await mailer.send(make_delivery(n=9))

    assert {(r.outcome, r.code) for r in during} == {("deferred", 451)}
    assert after.outcome == "sent"
    assert len(server.messages) == 1


async def test_relay_closing_the_session_defers(
    server: SmtpTestServer, mailer: SmtpPoolMailer
) -> None:
    server.closing = True
    result = await mailer.send(make_delivery())
    server.closing = False

    assert (result.outcome, result.code, result.enhanced) == ("deferred", 421, "4.3.2")
    assert (await mailer.send(make_delivery())).outcome == "sent"


async def test_relay_down_defers_without_raising() -> None:
    target = parse_smtp_url(f"smtp://127.0.0.1:{free_port()}")
    async with SmtpPoolMailer(target, size=2, timeout=2) as mailer:
        result = await mailer.send(make_delivery())

    assert (result.outcome, result.code, result.enhanced) == ("deferred", None, None)
    assert result.reply.startswith("connection failed:")


async def test_relay_restart_drops_pooled_connections_without_losing_mail(
    server: SmtpTestServer, mailer: SmtpPoolMailer
) -> None:
    assert (await mailer.send(make_delivery(n=1))).outcome == "sent"
    await asyncio.to_thread(server.stop)
    down = await mailer.send(make_delivery(n=2))
    await asyncio.to_thread(server.start)
    up = await mailer.send(make_delivery(n=3))

    assert (down.outcome, down.code) == ("deferred", None)
    assert up.outcome == "sent"
    assert [m.message["Message-ID"] for m in server.messages] == [
        "<msg_001@acme.example>",
        "<msg_003@acme.example>",
    ]


async def test_idle_connection_lost_under_our_feet_is_replaced(
    server: SmtpTestServer, mailer: SmtpPoolMailer, caplog: pytest.LogCaptureFixture
) -> None:
    assert (await mailer.send(make_delivery(n=1))).outcome == "sent"
    # The relay restarts between two messages. Blocking calls on purpose: the client's loop
    # has not seen the hang-up yet, so the pooled connection still looks alive when taken.
    server.stop()
    server.start()

    with caplog.at_level(logging.DEBUG, logger="agents.smtp"):
        result = await mailer.send(make_delivery(n=2))

    assert result.outcome == "sent"
    assert "reconnecting" in caplog.text
    assert server.connections == 2
    assert [m.message["Message-ID"] for m in server.messages] == [
        "<msg_001@acme.example>",
        "<msg_002@acme.example>",
    ]


async def test_idle_connection_closed_by_the_relay_is_dropped(
    server: SmtpTestServer, mailer: SmtpPoolMailer
) -> None:
    assert (await mailer.send(make_delivery(n=1))).outcome == "sent"
    await asyncio.to_thread(server.stop)
    await asyncio.to_thread(server.start)

    assert (await mailer.send(make_delivery(n=2))).outcome == "sent"
    assert server.connections == 2


async def test_close_quits_idle_connections(server: SmtpTestServer) -> None:
    mailer = SmtpPoolMailer(parse_smtp_url(server.url), size=2, timeout=5)
    await mailer.send(make_delivery())
    assert mailer.idle == 1

    await mailer.close()

    assert mailer.idle == 0
    late = await mailer.send(make_delivery())
    assert (late.outcome, late.code) == ("deferred", None)


async def test_relay_that_never_answers_defers_after_the_timeout() -> None:
    hung_up = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never greets; returns when the client gives up
        writer.close()
        await writer.wait_closed()
        hung_up.set()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        target = parse_smtp_url(f"smtp://127.0.0.1:{port}")
        async with SmtpPoolMailer(target, size=1, timeout=0.2, local_hostname="t") as mailer:
            result = await mailer.send(make_delivery())
        await asyncio.wait_for(hung_up.wait(), 5)

    assert (result.outcome, result.code) == ("deferred", None)
    assert result.reply.startswith("connection failed:")


async def test_authenticates_when_the_url_has_credentials() -> None:
    with SmtpTestServer(credentials=("apikey", "s3cr3t:/@")) as relay:
        url = f"smtp://apikey:s3cr3t%3A%2F%40@127.0.0.1:{relay.port}"
        async with SmtpPoolMailer(parse_smtp_url(url), size=1, local_hostname="t") as mailer:
            result = await mailer.send(make_delivery())

        assert result.outcome == "sent"
        assert [m.login for m in relay.messages] == ["apikey"]


async def test_wrong_password_defers_and_never_bounces(caplog: pytest.LogCaptureFixture) -> None:
    with SmtpTestServer(credentials=("apikey", "right")) as relay:
        url = f"smtp://apikey:wrong-password@127.0.0.1:{relay.port}"
        async with SmtpPoolMailer(parse_smtp_url(url), size=1, local_hostname="t") as mailer:
            result = await mailer.send(make_delivery())

    assert (result.outcome, result.code) == ("deferred", 535)
    assert "wrong-password" not in caplog.text
    assert "wrong-password" not in result.reply
