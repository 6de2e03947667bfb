"""The inbound listener as a real process (``herald inbound``) on a real broker: reports arrive
over SMTP, events come out on ``herald.outcomes``, and what cannot be matched waits in a
Maildir."""

from __future__ import annotations

import asyncio
import contextlib
import email
import mailbox
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiosmtplib
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr

from config.secrets import signing_key
from config.settings import Settings
from herald.inbound import REASON_HEADER
from streams import verp
from streams.records import Event, decode
from streams.topics import OUTCOMES
from tests.integration.stack import eventually, free_port

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "unit" / "fixtures" / "reports"
DOMAIN = "bounces.yourdomain.com"
SECRET = "inbound-test-secret"
KEY = signing_key(Settings(secret_key=SecretStr(SECRET)))
ARF_MSG = "msg_01jtjd5e6f7g8h9j0k1m2n3p4q"  # the message the ARF fixture quotes


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def address(purpose: verp.Purpose, message_id: str) -> str:
    return verp.address(purpose, message_id, domain=DOMAIN, key=KEY)


@dataclass
class Listener:
    port: int
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def unmatched(self) -> list[email.message.Message]:
        box = mailbox.Maildir(self.data_dir / "inbound" / "unmatched", create=False)
        return [email.message_from_bytes(box.get_bytes(k)) for k in box.iterkeys()]

    async def deliver(self, rcpts: list[str], data: bytes) -> str:
        """Send as a reporting MTA would (null sender); the final reply, or raise."""
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=self.port, timeout=60) as smtp:
            _, reply = await smtp.sendmail("", rcpts, data)
        return reply


@contextlib.contextmanager
def listener(tmp_path: Path, bootstrap: str, **env: str) -> Iterator[Listener]:
    port = free_port()
    data_dir = tmp_path / "data"
    log = tmp_path / "inbound.log"
    environment = {
        **os.environ,
        "HERALD_KAFKA_BOOTSTRAP": bootstrap,
        "HERALD_BOUNCE_DOMAIN": DOMAIN,
        "HERALD_SECRET_KEY": SECRET,
        "HERALD_INBOUND_PORT": str(port),
        "HERALD_DATA_DIR": str(data_dir),
        **env,
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "herald", "inbound"], env=environment, stdout=out, stderr=out
        )
    try:
        yield Listener(port, data_dir, proc, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


async def answering(inbound: Listener) -> None:
    async def greets() -> bool:
        assert inbound.proc.poll() is None, inbound.log.read_text()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", inbound.port)
        except OSError:
            return False
        try:
            return (await asyncio.wait_for(reader.readline(), 10)).startswith(b"220")
        finally:
            writer.close()

    await eventually(greets, timeout=60, what="the inbound listener to greet")


@dataclass
class Outcomes:
    consumer: AIOKafkaConsumer
    seen: list[tuple[bytes, Event]] = field(default_factory=list)

    async def wait_for(self, count: int) -> list[tuple[bytes, Event]]:
        async def enough() -> list[tuple[bytes, Event]] | None:
            for records in (await self.consumer.getmany(timeout_ms=500)).values():
                self.seen += [(r.key, decode(r.value, Event)) for r in records]
            return self.seen if len(self.seen) >= count else None

        return await eventually(enough, timeout=60, what=f"{count} events on {OUTCOMES.name}")


@pytest.fixture
async def outcomes(kafka: str) -> AsyncIterator[Outcomes]:
    consumer = AIOKafkaConsumer(
        OUTCOMES.name,
        bootstrap_servers=kafka,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        yield Outcomes(consumer)
    finally:
        await consumer.stop()


async def test_reports_become_outcome_events(kafka: str, outcomes: Outcomes, tmp_path: Path):
    with listener(tmp_path, kafka) as inbound:
        await answering(inbound)

        # Garbage first: kept for a human, and the listener goes on answering.
        assert "kept" in await inbound.deliver([f"postmaster@{DOMAIN}"], fixture("garbage.eml"))
        forged = f"b-msg_forged1-{'a' * 16}@{DOMAIN}"
        assert "kept" in await inbound.deliver([forged], fixture("postfix_user_unknown.eml"))
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await inbound.deliver(["someone@example.com"], fixture("postfix_user_unknown.eml"))
        [(code, text)] = [(e.code, e.message) for e in refused.value.recipients]
        assert code == 550 and "5.7.1" in text  # not an open relay

        dsn = fixture("postfix_user_unknown.eml")
        await inbound.deliver([address("bounce", "msg_bounced1")], dsn)
        await inbound.deliver([address("bounce", "msg_bounced1")], dsn)  # the MTA retried
        await inbound.deliver([address("bounce", "msg_delayed1")], fixture("postfix_delayed.eml"))
        await inbound.deliver([f"fbl@{DOMAIN}"], fixture("arf_abuse.eml"))
        unsubscribe = b"From: ada@example.com\r\nSubject: unsubscribe\r\n\r\nunsubscribe"
        await inbound.deliver([address("unsubscribe", "msg_unsub1")], unsubscribe)

        seen = await outcomes.wait_for(5)
        by_type = {e.type: e for _, e in seen}
        assert all(key == e.message_id.encode() for key, e in seen)
        first, second = [e for _, e in seen if e.type == "bounced"]
        assert first.event_id == second.event_id  # the same report gives the same event
        assert (first.message_id, first.bounce, first.smtp_code, first.enhanced_code) == (
            "msg_bounced1",
            "hard",
            550,
            "5.1.1",
        )
        assert (first.workspace_id, first.recipient) == ("", "")  # the timeline fills them
        assert "nobody@example.org" in (first.diagnostic or "")
        delayed = by_type["deferred"]
        assert (delayed.message_id, delayed.enhanced_code) == ("msg_delayed1", "4.4.1")
        assert by_type["complained"].message_id == ARF_MSG
        assert by_type["unsubscribed"].message_id == "msg_unsub1"
        assert by_type["unsubscribed"].unsubscribe_scope is None
        assert len(seen) == 5

        kept = inbound.unmatched
        reasons = sorted(str(m[REASON_HEADER]) for m in kept)
        assert reasons == [
            "a delivery status report with no recipient of a known action",
            "a return path whose signature does not verify",
        ]
        assert all(m["X-Herald-Envelope-To"] for m in kept)

        inbound.proc.send_signal(signal.SIGTERM)
        assert inbound.proc.wait(30) == 0, inbound.log.read_text()


async def test_without_kafka_reports_are_refused_for_now_and_nothing_is_lost(tmp_path: Path):
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens there
    with listener(tmp_path, nowhere, HERALD_INBOUND_MAX_BYTES=str(64 * 1024)) as inbound:
        await answering(inbound)
        dsn = fixture("postfix_user_unknown.eml")
        with pytest.raises(aiosmtplib.SMTPDataError) as later:
            await inbound.deliver([address("bounce", "msg_bounced1")], dsn)
        assert later.value.code == 451 and "4.3.0" in later.value.message
        assert inbound.unmatched == []  # refused, not half-accepted

        with pytest.raises(aiosmtplib.SMTPResponseException) as too_big:
            await inbound.deliver([f"postmaster@{DOMAIN}"], dsn + b"x" * 100 * 1024)
        assert too_big.value.code == 552

        # Storing for a human needs no broker: still accepted.
        assert "kept" in await inbound.deliver([f"postmaster@{DOMAIN}"], fixture("garbage.eml"))
        assert len(inbound.unmatched) == 1
