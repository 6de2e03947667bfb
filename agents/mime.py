"""Build the MIME message one recipient receives, and the SMTP envelope it travels in.

Pure: no I/O, no SMTP library. The same delivery always produces the same message (the
``Message-ID`` and ``Date`` come from the delivery, not from the clock), so a resend after a
crash carries the same ``Message-ID`` and a duplicate can be recognised downstream.

Bcc recipients get their own copy like everyone else; no copy ever carries a ``Bcc`` header.
Bodies are encoded 7-bit clean (quoted-printable or base64 where needed), so the message
survives any relay, with or without 8BITMIME.
"""

from __future__ import annotations

import email.policy
import json
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from streams.records import Delivery

# SMTP line endings, headers folded at 78, and bodies encoded 7-bit clean.
POLICY = email.policy.SMTP.clone(cte_type="7bit")

# Headers Herald sets itself: a custom header of the same name is dropped, never merged.
PROTECTED_HEADERS = frozenset(
    {
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)
HERALD_HEADER_PREFIX = "x-herald-"
FALLBACK_DOMAIN = "herald.invalid"

# RFC 5322 field-name: printable US-ASCII except the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+")


def build_message(delivery: Delivery) -> EmailMessage:
    """The message ``delivery.recipient`` receives (identical on every attempt)."""
    content = delivery.content
    msg = EmailMessage(policy=POLICY)
    msg["From"] = content.sender
    msg["To"] = ", ".join(content.to) if content.to else "undisclosed-recipients:;"
    if content.cc:
        msg["Cc"] = ", ".join(content.cc)
    if content.reply_to:
        msg["Reply-To"] = ", ".join(content.reply_to)
    msg["Subject"] = content.subject
    msg["Date"] = format_datetime(datetime.fromtimestamp(delivery.accepted_at, tz=UTC))
    msg["Message-ID"] = message_id_header(delivery)
    msg["X-Herald-Message-Id"] = delivery.message_id
    if content.tags:
        msg["X-Herald-Tags"] = ",".join(content.tags)
    if content.metadata:
        msg["X-Herald-Metadata"] = json.dumps(content.metadata, sort_keys=True)
    for name, value in content.headers.items():
        if _custom_header_allowed(name, value):
            msg[name] = value
    _set_body(msg, text=content.text, html=content.html)
    return msg


def message_id_header(delivery: Delivery) -> str:
    """``<message id@sender domain>``: deterministic per recipient's copy."""
    return f"<{delivery.message_id}@{sender_domain(delivery.content.sender)}>"


def sender_domain(sender: str) -> str:
    """The ASCII (IDNA) domain of a From address, or a reserved placeholder if it has none."""
    _, address = parseaddr(sender)
    _, at, domain = address.rpartition("@")
    domain = domain.strip().rstrip(".") if at else ""
    if not domain:
        return FALLBACK_DOMAIN
    try:
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return FALLBACK_DOMAIN


def envelope_sender(delivery: Delivery) -> str:
    """The MAIL FROM address: the bare address of ``content.sender``."""
    return _bare_address(delivery.content.sender)


def envelope_recipient(delivery: Delivery) -> str:
    """The RCPT TO address: the bare address of this copy's recipient."""
    return _bare_address(delivery.recipient)


def _bare_address(value: str) -> str:
    _, address = parseaddr(value)
    return address or value.strip()


def _custom_header_allowed(name: str, value: str) -> bool:
    lowered = name.lower()
    if lowered in PROTECTED_HEADERS or lowered.startswith(HERALD_HEADER_PREFIX):
        return False
    if not _FIELD_NAME.fullmatch(name):
        return False
    return "\r" not in value and "\n" not in value


def _set_body(msg: EmailMessage, *, text: str | None, html: str | None) -> None:
    if html is not None and text is not None:
        msg.set_content(text, subtype="plain", charset="utf-8")
        msg.add_alternative(html, subtype="html", charset="utf-8")
    elif html is not None:
        msg.set_content(html, subtype="html", charset="utf-8")
    else:
        msg.set_content(text or "", subtype="plain", charset="utf-8")
