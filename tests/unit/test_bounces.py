"""Bounce classification (RFC 3463) and what an inbound mail becomes: events, or a reason to keep
it for a human."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.bounces import bounce_kind, read_inbound, report_events
from agents.reports import Finding
from streams import verp
from streams.records import event_id

FIXTURES = Path(__file__).parent / "fixtures" / "reports"
DOMAIN = "bounces.yourdomain.com"
KEY = b"k" * 32
POSTFIX_MSG = "msg_01jtj8m4t6v2k9c3x5b7n1p0rd"  # the message the Postfix fixture quotes
ARF_MSG = "msg_01jtjd5e6f7g8h9j0k1m2n3p4q"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def bounce_address(message_id: str, key: bytes = KEY) -> str:
    return verp.address("bounce", message_id, domain=DOMAIN, key=key)


@pytest.mark.parametrize(
    ("enhanced", "reply", "kind"),
    [
        ("5.1.1", "<ada@example.com>: Recipient address rejected", "hard"),
        ("5.1.0", "Address rejected", "hard"),
        ("5.1.2", "Host unknown", "hard"),
        ("5.1.3", "Bad address syntax", "hard"),
        ("5.1.6", "Mailbox has moved", "hard"),
        ("5.1.10", "RESOLVER.ADR.RecipientNotFound", "hard"),
        ("5.2.1", "The email account that you tried to reach is disabled", "hard"),
        ("5.1.7", "Bad sender's mailbox address syntax", "soft"),
        ("5.1.8", "Sender address rejected: Domain not found", "soft"),
        ("5.2.2", "Mailbox full", "soft"),
        ("5.2.3", "Message too big", "soft"),
        ("5.3.4", "Message too big for system", "soft"),
        ("5.4.4", "Unable to route", "soft"),
        ("5.5.4", "Invalid command arguments", "soft"),
        ("5.6.0", "Content rejected", "soft"),  # "other" detail, nothing about the mailbox
        ("5.7.1", "Message rejected as spam; the user does not exist here", "soft"),
        ("5.7.26", "Unauthenticated email from yourdomain.com is not accepted", "soft"),
        ("4.1.1", "User unknown (try again later)", "soft"),
        ("4.2.2", "Mailbox full", "soft"),
        ("4.7.0", "Greylisted", "soft"),
        ("2.0.0", "OK", "soft"),
        # "other" details and unknown subjects: the text decides
        ("5.0.0", "<ada@example.com>... User unknown", "hard"),
        ("5.5.0", "Requested action not taken: mailbox unavailable", "hard"),
        ("5.2.0", "Mailbox unavailable, over quota", "soft"),
        ("5.7.0", "Sender domain does not exist", "soft"),
        ("5.9.9", "no such user here", "hard"),
        # no enhanced code at all
        (None, "550 No such user", "hard"),
        (None, "User unknown in local recipient table", "hard"),
        (None, "Requested action not taken: mailbox unavailable", "hard"),
        (None, "The account ada@example.com does not exist", "hard"),
        (None, "Recipient not found", "hard"),
        (None, "mailbox is full", "soft"),
        (None, "Mailbox unavailable, try again later", "soft"),
        (None, "450 User unknown", "soft"),  # a 4xx reply is never hard
        (None, "Message rejected due to local policy", "soft"),
        (None, "", "soft"),
        ("garbage", "no such user", "hard"),  # an unreadable code counts as none
    ],
)
def test_bounce_kind(enhanced: str | None, reply: str, kind: str) -> None:
    assert bounce_kind(enhanced, reply) == kind


def test_events_from_a_report_are_stable_and_leave_routing_to_the_timeline() -> None:
    finding = Finding("bounced", "nobody@example.org", POSTFIX_MSG, "5.1.1", 550, "550 5.1.1 gone")
    [event] = report_events((finding,), POSTFIX_MSG, "abcd", at=10.0)
    assert event.event_id == event_id(POSTFIX_MSG, "bounced", "report:abcd")
    assert (event.type, event.bounce, event.smtp_code, event.enhanced_code) == (
        "bounced",
        "hard",
        550,
        "5.1.1",
    )
    assert (event.workspace_id, event.recipient) == ("", "")
    assert event.diagnostic == "550 5.1.1 gone (reported for nobody@example.org)"
    assert report_events((finding,), POSTFIX_MSG, "abcd", at=99.0)[0].event_id == event.event_id


def test_repeats_of_one_type_get_their_own_ids_and_not_spam_is_no_complaint() -> None:
    delayed = Finding("delayed", "a@example.com", None, "4.4.1")
    wanted = Finding("complained", None, None, feedback_type="not-spam")
    fraud = Finding("complained", None, None, feedback_type="fraud", reporter="FBL/1.0")
    events = report_events((delayed, delayed, wanted, fraud), "msg_x", "k", at=0)
    assert [e.type for e in events] == ["deferred", "deferred", "complained"]
    assert len({e.event_id for e in events}) == 3
    assert events[2].diagnostic == "fraud report by FBL/1.0"


def test_a_dsn_to_a_signed_return_path_is_about_the_message_it_names() -> None:
    # The report quotes POSTFIX_MSG, but the signed return path wins.
    verdict = read_inbound(
        [bounce_address("msg_other1")],
        fixture("postfix_user_unknown.eml"),
        domain=DOMAIN,
        key=KEY,
        at=1,
    )
    assert verdict.unmatched == ()
    [event] = verdict.events
    assert (event.type, event.message_id, event.bounce) == ("bounced", "msg_other1", "hard")


def test_a_mailto_unsubscribe_needs_no_report() -> None:
    rcpt = verp.address("unsubscribe", "msg_u1", domain=DOMAIN, key=KEY)
    data = b"From: ada@example.com\nSubject: unsubscribe\n\nplease"
    [event] = read_inbound([rcpt], data, domain=DOMAIN, key=KEY, at=1).events
    assert (event.type, event.message_id, event.unsubscribe_scope) == (
        "unsubscribed",
        "msg_u1",
        None,
    )


def test_a_forged_return_path_is_kept_for_a_human() -> None:
    forged = bounce_address(POSTFIX_MSG, key=b"x" * 32)
    verdict = read_inbound(
        [forged], fixture("postfix_user_unknown.eml"), domain=DOMAIN, key=KEY, at=1
    )
    assert verdict.events == ()
    assert verdict.unmatched == ("a return path whose signature does not verify",)


def test_an_out_of_office_reply_is_no_bounce() -> None:
    verdict = read_inbound(
        [bounce_address(POSTFIX_MSG)], fixture("out_of_office.eml"), domain=DOMAIN, key=KEY, at=1
    )
    assert verdict.events == ()
    assert verdict.unmatched == ("not a report (text/plain)",)


def test_a_feedback_loop_address_relies_on_the_ids_in_the_report() -> None:
    rcpts = [f"fbl@{DOMAIN}", f"abuse@{DOMAIN}"]  # one mail to two of our addresses: one event
    verdict = read_inbound(rcpts, fixture("arf_abuse.eml"), domain=DOMAIN, key=KEY, at=1)
    [event] = verdict.events
    assert (event.type, event.message_id, verdict.unmatched) == ("complained", ARF_MSG, ())


def test_a_report_naming_no_message_is_kept() -> None:
    data = (
        fixture("arf_abuse.eml")
        .replace(b"X-Herald-Message-Id", b"X-Other")
        .replace(b"<msg_", b"<other_")
    )
    verdict = read_inbound([f"fbl@{DOMAIN}"], data, domain=DOMAIN, key=KEY, at=1)
    assert verdict.events == ()
    assert verdict.unmatched == ("a report that names no Herald message",)
