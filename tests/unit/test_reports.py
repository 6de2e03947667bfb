"""Reading DSNs (RFC 3464) and ARF reports (RFC 5965): realistic samples, odd shapes, and bytes
that are not mail at all (the parser must answer, never raise)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from agents.reports import Finding, Report, Unparseable, parse

FIXTURES = Path(__file__).parent / "fixtures" / "reports"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def report(data: bytes) -> Report:
    parsed = parse(data)
    assert isinstance(parsed, Report), parsed
    return parsed


def dsn(groups: str, *, original: str = "", per_message: str = "Reporting-MTA: dns; mx.test\n"):
    """A minimal multipart/report around the given recipient field groups."""
    third = f"--b\nContent-Type: text/rfc822-headers\n\n{original}\n" if original else ""
    return (
        "From: MAILER-DAEMON@mx.test\nMessage-ID: <dsn-1@mx.test>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nNotification.\n\n"
        f"--b\nContent-Type: message/delivery-status\n\n{per_message}\n{groups}\n"
        f"{third}--b--\n"
    ).encode()


HERALD_HEADERS = "Message-ID: <msg_abc123@yourdomain.com>\nX-Herald-Message-Id: msg_abc123\n"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "postfix_user_unknown.eml",
            Finding(
                kind="bounced",
                recipient="nobody@example.org",
                message_id="msg_01jtj8m4t6v2k9c3x5b7n1p0rd",
                status="5.1.1",
                smtp_code=550,
                diagnostic="550 5.1.1 <nobody@example.org>: Recipient address rejected: "
                "User unknown in virtual mailbox table",
                reporter="mx1.example.org",
            ),
        ),
        (
            "postfix_delayed.eml",
            Finding(
                kind="delayed",
                recipient="slow@example.net",
                message_id="msg_01jtj9a0c3d4e5f6g7h8j9k0ma",
                status="4.4.1",
                smtp_code=None,  # an X-Postfix diagnostic, not an SMTP reply
                diagnostic="connect to mx.example.net[203.0.113.9]:25: Connection timed out",
                reporter="mx1.example.org",
            ),
        ),
        (
            "exchange_recipient_not_found.eml",
            Finding(
                kind="bounced",
                recipient="former.employee@contoso.com",
                message_id="msg_01jtjc0d1e2f3g4h5j6k7m8n9p",
                status="5.1.10",
                smtp_code=550,
                diagnostic="550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by "
                "SMTP address lookup",
                reporter="AM0PR02MB5555.eurprd02.prod.outlook.com",
            ),
        ),
        (
            "arf_abuse.eml",
            Finding(
                kind="complained",
                recipient="user@example.com",
                message_id="msg_01jtjd5e6f7g8h9j0k1m2n3p4q",
                feedback_type="abuse",
                reporter="SomeGenerator/1.0",
            ),
        ),
    ],
)
def test_realistic_reports(name: str, expected: Finding) -> None:
    assert report(fixture(name)).findings == (expected,)


def test_gmail_dsn_names_the_message_by_its_message_id_header() -> None:
    parsed = report(fixture("gmail_no_such_user.eml"))
    [finding] = parsed.findings
    assert parsed.type == "delivery-status"
    assert finding.message_id == "msg_01jtjb7r2s3t4v5w6x7y8z9a0b"  # no X-Herald-Message-Id
    assert (finding.kind, finding.status, finding.smtp_code) == ("bounced", "5.1.1", 550)
    assert finding.recipient == "nobody.here@gmail.com"
    assert finding.diagnostic is not None
    assert finding.diagnostic.startswith("550-5.1.1 The email account that you tried to reach")
    assert "NoSuchUser" in finding.diagnostic  # folded lines joined


def test_gmail_x_original_message_id_is_used_when_the_original_is_missing() -> None:
    data = fixture("gmail_no_such_user.eml")
    cut = data.index(b"--000000000000a1b2c3d4e5f60718\nContent-Type: message/rfc822")
    [finding] = report(data[:cut] + b"--000000000000a1b2c3d4e5f60718--\n").findings
    assert finding.message_id == "msg_01jtjb7r2s3t4v5w6x7y8z9a0b"


@pytest.mark.parametrize("name", ["out_of_office.eml", "garbage.eml"])
def test_what_is_not_a_report_is_unparseable(name: str) -> None:
    parsed = parse(fixture(name))
    assert isinstance(parsed, Unparseable)
    assert parsed.reason and len(parsed.key) == 16


def test_one_finding_per_recipient_group_with_a_known_action() -> None:
    groups = (
        "Final-Recipient: rfc822; a@example.com\nAction: failed\nStatus: 5.2.2\n\n"
        "Final-Recipient: rfc822; b@example.com\nAction: delivered\nStatus: 2.0.0\n\n"
        "Final-Recipient: rfc822; c@example.com\nAction: relayed\nStatus: 2.0.0\n\n"
        "Final-Recipient: rfc822; d@example.com\nAction: exploded\nStatus: 5.0.0\n\n"
        "Final-Recipient: rfc822; e@example.com\nAction: Delayed (will retry)\nStatus: 4.2.2\n"
    )
    found = report(dsn(groups, original=HERALD_HEADERS)).findings
    assert [(f.kind, f.recipient, f.status) for f in found] == [
        ("bounced", "a@example.com", "5.2.2"),
        ("delivered", "b@example.com", "2.0.0"),
        ("delivered", "c@example.com", "2.0.0"),
        ("delayed", "e@example.com", "4.2.2"),
    ]
    assert {f.message_id for f in found} == {"msg_abc123"}


def test_a_generic_status_gives_way_to_the_replys_precise_code() -> None:
    groups = (
        "Final-Recipient: rfc822;x@example.com\nAction: failed\nStatus: 5.0.0 (permanent)\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\n"
    )
    [finding] = report(dsn(groups)).findings
    assert (finding.status, finding.smtp_code, finding.message_id) == ("5.1.1", 550, None)


def test_status_missing_is_taken_from_the_diagnostic() -> None:
    groups = (
        "Final-Recipient: rfc822;x@example.com\nAction: failed\n"
        "Diagnostic-Code: smtp; 552-5.2.2 full\n"
    )
    [finding] = report(dsn(groups)).findings
    assert (finding.status, finding.smtp_code) == ("5.2.2", 552)


def test_base64_header_part_and_a_message_id_only() -> None:
    import base64

    headers = base64.b64encode(b"Message-ID: <msg_zz9@yourdomain.com>\n").decode()
    data = (
        "Message-ID: <r@mx.test>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.test\n\n"
        "Final-Recipient: rfc822;x@example.com\nAction: failed\nStatus: 5.1.1\n\n"
        "--b\nContent-Type: text/rfc822-headers\nContent-Transfer-Encoding: base64\n\n"
        f"{headers}\n--b--\n"
    ).encode()
    [finding] = report(data).findings
    assert finding.message_id == "msg_zz9"


def test_a_foreign_message_id_is_not_taken_for_herald_s() -> None:
    original = "Message-ID: <CAF=abc@mail.gmail.com>\nX-Herald-Message-Id: not-ours\n"
    groups = "Final-Recipient: rfc822;x@example.com\nAction: failed\nStatus: 5.1.1\n"
    [finding] = report(dsn(groups, original=original)).findings
    assert finding.message_id is None


def test_internationalized_delivery_status() -> None:
    data = dsn(
        "Final-Recipient: utf-8; jos\u00e9@ex\u00e4mple.com\nAction: failed\nStatus: 5.1.1\n"
    )
    data = data.replace(b"message/delivery-status", b"message/global-delivery-status")
    [finding] = report(data).findings
    assert finding.recipient == "jos\u00e9@ex\u00e4mple.com"


def test_arf_not_spam_is_read_as_such() -> None:
    data = fixture("arf_abuse.eml").replace(b"Feedback-Type: abuse", b"Feedback-Type: not-spam")
    [finding] = report(data).findings
    assert (finding.kind, finding.feedback_type) == ("complained", "not-spam")


def test_arf_without_feedback_type_is_unparseable() -> None:
    data = fixture("arf_abuse.eml").replace(b"Feedback-Type: abuse\n", b"")
    assert isinstance(parse(data), Unparseable)


def test_report_key_follows_the_report_message_id_else_its_bytes() -> None:
    data = fixture("postfix_user_unknown.eml")
    resent = b"Received: by relay.test; Tue, 13 May 2025 10:00:00 +0000\n" + data
    assert report(data).key == report(resent).key  # same Message-ID, same report
    anonymous = data.replace(b"Message-Id: <20250513091403.4Zb1x02QZcz9rxL@mx1.example.org>\n", b"")
    assert report(anonymous).key == report(anonymous).key != report(data).key
    assert report(anonymous).key != report(b"X-Trace: 1\n" + anonymous).key


# --- fuzz: none of these may raise -----------------------------------------------------------


def all_fixtures() -> list[bytes]:
    return [p.read_bytes() for p in sorted(FIXTURES.glob("*.eml"))]


def test_truncated_reports_never_raise() -> None:
    for data in all_fixtures():
        for cut in range(0, len(data), 37):
            assert isinstance(parse(data[:cut]), Report | Unparseable)


def test_random_bytes_and_mangled_reports_never_raise() -> None:
    rng = random.Random(3464)
    samples = all_fixtures()
    for _ in range(300):
        data = bytearray(rng.choice(samples))
        for _ in range(rng.randint(1, 40)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        assert isinstance(parse(bytes(data)), Report | Unparseable)
    for size in (0, 1, 10, 1000, 100_000):
        assert isinstance(parse(rng.randbytes(size)), Report | Unparseable)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n\r\n",
        b"Content-Type: multipart/report\n\n",  # no boundary
        b'Content-Type: multipart/report; boundary="b"\n\n--b\n',  # no parts
        b'Content-Type: multipart/report; boundary="b"\n\n--b\nContent-Type: text/plain\n\nhi',
        b"Subject: " + b"x" * 2_000_000 + b"\n\nbody",  # a huge header
        b"X-" + b"a" * 100_000 + b": v\n\n",  # a huge field name
        b"\x00\xff\xfe" * 10_000,
        "Subject: caf\u00e9 \ud800\n\n".encode("utf-8", "surrogatepass"),  # not UTF-8 at all
        dsn("Final-Recipient: rfc822;x@e.com\nAction: failed\nStatus: 5.1.1\n" * 5000),
        dsn("Action: failed\n" + "Status: " + "5." * 50_000 + "1\n"),
        dsn(" continuation first\n\x00: \xff\n:::\n"),
    ],
    ids=lambda d: repr(d[:30]),
)
def test_odd_shapes_never_raise(data: bytes | str) -> None:
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    assert isinstance(parse(raw), Report | Unparseable)


@pytest.mark.parametrize("depth", [400, 5000])  # the second is past the recursion limit
def test_deeply_nested_garbage_never_raises(depth: int) -> None:
    head = "".join(
        f'--b{i}\nContent-Type: multipart/mixed; boundary="b{i + 1}"\n\n' for i in range(depth)
    )
    data = (
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b0"\n\n'
        + head
        + "junk\n"
    ).encode()
    assert isinstance(parse(data), Unparseable)


def test_too_many_recipient_groups_are_capped() -> None:
    group = "Final-Recipient: rfc822;x@e.com\nAction: failed\nStatus: 5.1.1\n\n"
    assert len(report(dsn(group * 500)).findings) == 100
