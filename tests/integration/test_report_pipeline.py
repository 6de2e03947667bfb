"""Asynchronous reports end to end: mail goes out with its signed return path, then a delivery
status notification (RFC 3464) and a feedback-loop complaint (RFC 5965) come back to the inbound
listener, and the message's timeline and the suppression list show them."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx
import pytest

from tests.integration.stack import Stack, eventually, free_port
from tests.support.seed import SEED

pytestmark = pytest.mark.integration

DOMAIN = "bounces.yourdomain.com"


def report(kind: str, to: str, fields: str, original: EmailMessage) -> bytes:
    """A multipart/report as a receiving MTA writes it: a human part, the machine-readable part
    (``message/delivery-status`` or ``message/feedback-report``), and the original message."""
    report_type = "delivery-status" if kind == "dsn" else "feedback-report"
    head = (
        "From: MAILER-DAEMON@mx.example.com\r\n"
        f"To: {to}\r\n"
        "Subject: Delivery report\r\n"
        f"Message-ID: <{kind}-{original['X-Herald-Message-Id']}@mx.example.com>\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type={report_type}; boundary="BOUNDARY"\r\n'
        "\r\n"
        "--BOUNDARY\r\nContent-Type: text/plain\r\n\r\nThis is the mail system at mx.\r\n"
        f"--BOUNDARY\r\nContent-Type: message/{report_type}\r\n\r\n"
        + fields.replace("\n", "\r\n")
        + "\r\n--BOUNDARY\r\nContent-Type: message/rfc822\r\n\r\n"
    )
    return head.encode() + original.as_bytes() + b"\r\n--BOUNDARY--\r\n"


def dsn_fields(recipient: str) -> str:
    return (
        "Reporting-MTA: dns; mx.example.com\n\n"
        f"Final-Recipient: rfc822; {recipient}\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: "
        "User unknown in virtual mailbox table\n"
    )


def arf_fields(recipient: str) -> str:
    return (
        "Feedback-Type: abuse\nUser-Agent: SomeGenerator/1.0\nVersion: 1\n"
        f"Original-Rcpt-To: <{recipient}>\nArrival-Date: Thu, 26 Nov 2026 14:00:00 +0000\n"
    )


async def deliver(port: int, rcpt: str, data: bytes) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) as smtp:
        await smtp.sendmail("", [rcpt], data)


def timeline(message: dict[str, Any]) -> list[tuple[int, str]]:
    return [(e["seq"], e["type"]) for e in message["events"]]


async def test_a_dsn_and_a_complaint_come_back_to_their_messages(stack: Stack) -> None:
    port = free_port()
    stack.extra_env.update(
        HERALD_BOUNCE_DOMAIN=DOMAIN,
        HERALD_SECRET_KEY="reports-test-secret",
        HERALD_INBOUND_PORT=str(port),
    )
    stack.start("worker")
    stack.start("inbound")
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            f"{stack.url}/v1/emails",
            json={**SEED, "to": ["later@example.com", "angry@example.com"], "program": "news"},
            headers=stack.headers(),
        )
        assert r.status_code == 202, r.text
        later, angry = r.json()["messages"]
        received = {m.rcpt_tos[0]: m for m in await stack.smtp.wait_for(2, timeout=120)}
        await stack.wait_status(client, later["id"], "sent")
        await stack.wait_status(client, angry["id"], "sent")

        # The relay accepted "later", then the destination bounced it: the DSN goes to the
        # message's own signed return path.
        return_path = received["later@example.com"].mail_from
        assert return_path.startswith(f"b-{later['id']}-") and return_path.endswith(f"@{DOMAIN}")
        original = received["later@example.com"].message
        await deliver(
            port, return_path, report("dsn", return_path, dsn_fields("later@example.com"), original)
        )

        bounced = await stack.wait_status(client, later["id"], "bounced")
        assert timeline(bounced) == [(1, "queued"), (2, "sent"), (3, "bounced")]
        event = bounced["events"][2]
        assert (event["bounce"], event["enhanced_code"]) == ("hard", "5.1.1")

        # The complaint comes through the feedback loop address and names the message by the
        # copy it quotes.
        fbl = f"fbl@{DOMAIN}"
        quoted = received["angry@example.com"].message
        await deliver(port, fbl, report("arf", fbl, arf_fields("angry@example.com"), quoted))

        async def complained() -> dict[str, Any] | None:
            m = await stack.message(client, angry["id"])
            return m if m and any(e["type"] == "complained" for e in m["events"]) else None

        complaint = await eventually(complained, timeout=60, what="the complaint event")
        assert timeline(complaint) == [(1, "queued"), (2, "sent"), (3, "complained")]
        assert complaint["status"] == "sent"  # a complaint is an event, not a delivery status

        async def suppressed(address: str) -> list[dict[str, Any]]:
            r = await client.get(
                f"{stack.url}/v1/suppressions", params={"email": address}, headers=stack.headers()
            )
            return list(r.json()["data"])

        [hard] = await eventually(
            lambda: suppressed("later@example.com"), timeout=30, what="a bounce entry"
        )
        [spam] = await eventually(
            lambda: suppressed("angry@example.com"), timeout=30, what="a complaint entry"
        )
        assert (hard["scope"], hard["reason"]) == ("global", "hard_bounce")
        assert (spam["scope"], spam["reason"]) == ("global", "complaint")
