import pytest

from agents.mailer import MemoryMailer, SendResult, classify, enhanced_code
from streams.records import Content, Delivery


@pytest.mark.parametrize(
    ("code", "message", "outcome", "enhanced"),
    [
        (250, "2.0.0 OK queued as 4Bx", "sent", "2.0.0"),
        (250, "OK", "sent", None),
        (
            550,
            "5.1.1 <ann@example.com>: Recipient address rejected: User unknown",
            "bounced",
            "5.1.1",
        ),
        (451, "4.7.1 try again later", "deferred", "4.7.1"),
        (421, "4.3.2 shutting down", "deferred", "4.3.2"),
        (452, "Insufficient system storage", "deferred", None),
        (554, "5.7.1 Message rejected as spam", "bounced", "5.7.1"),
    ],
)
def test_classify(code: int, message: str, outcome: str, enhanced: str | None) -> None:
    assert classify(code, message) == SendResult(outcome, code, enhanced, message)  # type: ignore[arg-type]


@pytest.mark.parametrize("code", [-1, 0, 199, 354, 600])
def test_unexpected_codes_defer_rather_than_lose_mail(code: int) -> None:
    assert classify(code, "what?").outcome == "deferred"


def test_multiline_reply_is_one_line() -> None:
    result = classify(550, "5.7.26 Unauthenticated email is not accepted\n5.7.26 see the docs")
    assert result.reply == "5.7.26 Unauthenticated email is not accepted 5.7.26 see the docs"
    assert result.enhanced == "5.7.26"


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (552, "Requested mail action aborted: mailbox full (5.2.2)", "5.2.2"),
        (550, "  5.1.10 RESOLVER.ADR.RecipientNotFound", "5.1.10"),
        (550, "4.2.2 class does not match the reply", None),
        (550, "Server version 5.1.1.4 says no", None),
        (550, "user unknown", None),
        (250, "2.6.0 <id@example> queued", "2.6.0"),
    ],
)
def test_enhanced_code(code: int, message: str, expected: str | None) -> None:
    assert enhanced_code(code, message) == expected


def make_delivery(recipient: str) -> Delivery:
    content = Content(sender="news@acme.example", subject="Hi", to=(recipient,), text="Hello")
    return Delivery("msg_" + recipient, "req_1", "ws_1", recipient, content, 1_700_000_000.0)


async def test_memory_mailer_records_what_it_sent() -> None:
    mailer = MemoryMailer()
    result = await mailer.send(make_delivery("ann@example.com"))
    assert result.outcome == "sent"
    assert [s.recipient for s in mailer.sent] == ["ann@example.com"]
    assert mailer.sent[0].sender == "news@acme.example"
    assert mailer.to("ANN@example.com")[0]["Subject"] == "Hi"


async def test_memory_mailer_bounces_scripted_addresses() -> None:
    mailer = MemoryMailer(bounce={"Gone@example.com"})
    result = await mailer.send(make_delivery("gone@example.com"))
    assert (result.outcome, result.code, result.enhanced) == ("bounced", 550, "5.1.1")
    assert mailer.sent == []


async def test_memory_mailer_defers_then_accepts() -> None:
    mailer = MemoryMailer(defer={"slow@example.com": 2})
    delivery = make_delivery("slow@example.com")
    outcomes = [(await mailer.send(delivery)).outcome for _ in range(3)]
    assert outcomes == ["deferred", "deferred", "sent"]
    assert len(mailer.attempts) == 3


async def test_memory_mailer_after_close_defers() -> None:
    mailer = MemoryMailer()
    await mailer.close()
    result = await mailer.send(make_delivery("ann@example.com"))
    assert (result.outcome, result.code) == ("deferred", None)
