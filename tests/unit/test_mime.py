import email
import email.policy
import json
from dataclasses import replace
from email.message import EmailMessage, MIMEPart
from typing import Any

import pytest

from agents.mime import build_message, envelope_recipient, envelope_sender, message_id_header
from streams.records import Content, Delivery


def make_delivery(recipient: str = "ann@example.com", **content: Any) -> Delivery:
    fields: dict[str, Any] = {
        "sender": "Acme News <news@acme.example>",
        "subject": "Hello",
        "to": ("ann@example.com", "Bob <bob@example.com>"),
        "text": "Hi there",
    }
    fields.update(content)
    return Delivery(
        message_id="msg_01",
        request_id="req_01",
        workspace_id="ws_01",
        recipient=recipient,
        content=Content(**fields),
        accepted_at=1_700_000_000.0,
    )


def on_the_wire(delivery: Delivery) -> EmailMessage:
    """The message as a receiving mail client parses it."""
    raw = build_message(delivery)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body(part: MIMEPart | None) -> str:
    """A text part's content as a reader sees it (MIME text travels with CRLF line ends)."""
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def test_address_headers() -> None:
    msg = on_the_wire(make_delivery(cc=("carol@example.com",), reply_to=("support@acme.example",)))
    assert msg["From"] == "Acme News <news@acme.example>"
    assert [a.addr_spec for a in msg["To"].addresses] == ["ann@example.com", "bob@example.com"]
    assert msg["Cc"] == "carol@example.com"
    assert msg["Reply-To"] == "support@acme.example"
    assert msg["Bcc"] is None


def test_bcc_recipient_gets_a_copy_without_bcc_header() -> None:
    msg = on_the_wire(make_delivery(recipient="secret@example.com"))
    raw = build_message(make_delivery(recipient="secret@example.com"))
    assert msg["Bcc"] is None
    assert b"secret@example.com" not in raw


def test_only_bcc_recipients_gives_undisclosed_to() -> None:
    msg = on_the_wire(make_delivery(to=()))
    assert msg["To"] == "undisclosed-recipients:;"


def test_message_id_is_deterministic_across_retries() -> None:
    first = make_delivery()
    retry = first.next_attempt(due_at=1_700_000_600.0)
    assert on_the_wire(first)["Message-ID"] == "<msg_01@acme.example>"
    assert on_the_wire(retry)["Message-ID"] == on_the_wire(first)["Message-ID"]
    assert on_the_wire(retry)["Date"] == on_the_wire(first)["Date"]
    assert build_message(retry) == build_message(first)


def test_message_id_uses_the_ascii_form_of_an_international_domain() -> None:
    delivery = make_delivery(sender="shop@bücher.example")
    assert message_id_header(delivery) == "<msg_01@xn--bcher-kva.example>"


def test_message_id_without_sender_domain_uses_placeholder() -> None:
    assert message_id_header(make_delivery(sender="nobody")) == "<msg_01@herald.invalid>"


def test_date_is_when_the_request_was_accepted() -> None:
    assert on_the_wire(make_delivery())["Date"].datetime.timestamp() == 1_700_000_000.0


def test_herald_headers() -> None:
    msg = on_the_wire(
        make_delivery(
            tags=("welcome", "onboarding"),
            metadata={"user_id": "42", "plan": "ünlimited " + "x" * 120},
        )
    )
    assert msg["X-Herald-Message-Id"] == "msg_01"
    assert msg["X-Herald-Tags"] == "welcome,onboarding"
    assert json.loads(msg["X-Herald-Metadata"]) == {
        "user_id": "42",
        "plan": "ünlimited " + "x" * 120,
    }


def test_no_tags_or_metadata_no_headers() -> None:
    msg = on_the_wire(make_delivery())
    assert msg["X-Herald-Tags"] is None
    assert msg["X-Herald-Metadata"] is None


def test_custom_headers_are_added() -> None:
    msg = on_the_wire(
        make_delivery(
            headers={
                "List-Unsubscribe": "<https://acme.example/u/1>",
                "X-Campaign": "spring",
            }
        )
    )
    assert msg["List-Unsubscribe"] == "<https://acme.example/u/1>"
    assert msg["X-Campaign"] == "spring"


@pytest.mark.parametrize(
    "name",
    [
        "From",
        "to",
        "CC",
        "Bcc",
        "Subject",
        "Message-ID",
        "Date",
        "Reply-To",
        "Content-Type",
        "X-Herald-Message-Id",
    ],
)
def test_custom_header_cannot_override_what_herald_sets(name: str) -> None:
    msg = on_the_wire(make_delivery(headers={name: "evil@attacker.example"}))
    assert all("attacker" not in str(value) for value in msg.values())


def test_custom_header_with_bad_name_or_line_break_is_dropped() -> None:
    msg = on_the_wire(make_delivery(headers={"Bad Name": "x", "X-Split": "a\r\nBcc: b@x.example"}))
    assert msg["Bad Name"] is None
    assert msg["X-Split"] is None
    assert msg["Bcc"] is None


def test_emoji_subject_and_html_survive() -> None:
    msg = on_the_wire(make_delivery(subject="Party 🎉 à Paris", text=None, html="<p>Hé 🎉</p>"))
    assert msg["Subject"] == "Party 🎉 à Paris"
    assert msg.get_content_type() == "text/html"
    assert body(msg) == "<p>Hé 🎉</p>\n"


def test_text_and_html_make_multipart_alternative() -> None:
    msg = on_the_wire(make_delivery(text="Plain 🎉", html="<b>Rich 🎉</b>"))
    assert msg.get_content_type() == "multipart/alternative"
    assert body(msg.get_body(preferencelist=("plain",))) == "Plain 🎉\n"
    assert body(msg.get_body(preferencelist=("html",))) == "<b>Rich 🎉</b>\n"


def test_text_only_is_text_plain() -> None:
    msg = on_the_wire(make_delivery(text="Just text", html=None))
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert body(msg) == "Just text\n"


def test_message_is_seven_bit_clean_even_with_long_html_lines() -> None:
    html = "<p>" + "é" * 5000 + "</p>"
    raw = build_message(make_delivery(text=None, html=html))
    raw.decode("ascii")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert body(parsed) == html + "\n"


def test_envelope_addresses_are_bare() -> None:
    delivery = make_delivery(recipient="Ann <ann@example.com>")
    assert envelope_recipient(delivery) == "ann@example.com"
    assert envelope_sender(delivery) == "news@acme.example"
    assert envelope_recipient(replace(delivery, recipient="bob@example.com")) == "bob@example.com"
