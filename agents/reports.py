"""What an inbound report says: RFC 3464 delivery status notifications (DSNs) and RFC 5965
abuse reports (ARF), read into findings.

The input is whatever a stranger's mail server chose to send, so :func:`parse` is total: any
bytes give a :class:`Report` or an :class:`Unparseable` with a reason, never an exception. It
reads with the stdlib ``email`` package in its most lenient mode (``compat32``) and checks every
shape instead of trusting it. A plain message (an out-of-office reply, a human answer, a bounce
in a non-standard format) is :class:`Unparseable`: guessing at free text would turn an
auto-reply into a bounce. Pure: no I/O.

Which Herald message a report is about comes from the original message it carries (its third
part): ``X-Herald-Message-Id``, else a ``Message-ID`` of Herald's form ``<msg_...@domain>``.
The listener trusts the signed return path more (see :mod:`streams.verp`).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from typing import Literal

from agents.mailer import enhanced_code

FindingKind = Literal["bounced", "delayed", "delivered", "complained"]
ReportType = Literal["delivery-status", "feedback-report"]

MAX_FINDINGS = 100  # recipient groups read from one report
MAX_FIELD_CHARS = 1000  # a diagnostic or address longer than this is cut
MAX_STATUS_CHARS = 256 * 1024  # of the status part's text

_STATUS_PARTS: dict[str, ReportType] = {
    "message/delivery-status": "delivery-status",
    "message/global-delivery-status": "delivery-status",  # RFC 6533 (internationalized)
    "message/feedback-report": "feedback-report",
}
_ORIGINAL_PARTS = (
    "message/rfc822",
    "text/rfc822-headers",
    "message/global",
    "message/global-headers",
)
_ACTIONS: dict[str, FindingKind] = {
    "failed": "bounced",
    "delayed": "delayed",
    "delivered": "delivered",
    "relayed": "delivered",  # handed to a system that sends no DSNs: as far as we will know
    "expanded": "delivered",  # delivered to a list that forwarded it
}
_NOTHING_REPORTED: dict[ReportType, str] = {
    "delivery-status": "a delivery status report with no recipient of a known action",
    "feedback-report": "a feedback report without a Feedback-Type",
}
_HERALD_ID = re.compile(r"^msg_[0-9a-z]{1,40}$")
_HERALD_MESSAGE_ID = re.compile(r"<\s*(msg_[0-9a-z]{1,40})@[^>\s]+>")
_STATUS = re.compile(r"(?<![\w.])([245]\.\d{1,3}\.\d{1,3})(?![\w.])")
_SMTP_REPLY = re.compile(r"^([2-5]\d\d)(?:[\s-]|$)")


@dataclass(frozen=True, slots=True)
class Finding:
    """One recipient's fate (DSN) or one complaint (ARF)."""

    kind: FindingKind
    recipient: str | None  # the address the report names (informative: not used for routing)
    message_id: str | None  # Herald's id, from the original message's headers
    status: str | None = None  # RFC 3463 code, "5.1.1"
    smtp_code: int | None = None  # from an "smtp;" Diagnostic-Code
    diagnostic: str | None = None
    feedback_type: str | None = None  # ARF: abuse, fraud, virus, other, not-spam, ...
    reporter: str | None = None  # the DSN's Reporting-MTA, the ARF's User-Agent


@dataclass(frozen=True, slots=True)
class Report:
    type: ReportType
    key: str  # the same report delivered again has the same key (see report_key)
    findings: tuple[Finding, ...]


@dataclass(frozen=True, slots=True)
class Unparseable:
    reason: str
    key: str


def parse(data: bytes) -> Report | Unparseable:
    """Read one inbound message; never raises."""
    try:
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        key = report_key(msg, data)
    except Exception as exc:  # the parser gave up on these bytes
        return Unparseable(f"not a mail message ({type(exc).__name__})", _digest(data))
    try:
        return _parse(msg, key)
    except Exception as exc:  # a shape none of the checks foresaw: keep it for a human
        return Unparseable(f"malformed report ({type(exc).__name__}: {exc})"[:200], key)


def report_key(msg: Message, data: bytes) -> str:
    """16 hex digits naming this report: from its own Message-ID, or from its bytes when it has
    none. A reporter retrying after a 4xx resends the same message, so it gets the same key."""
    own = " ".join(str(msg.get("Message-ID", "")).split())
    return _digest(own.encode("utf-8", "replace")) if own else _digest(data)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _parse(msg: Message, key: str) -> Report | Unparseable:
    if msg.get_content_type() != "multipart/report" or not msg.is_multipart():
        return Unparseable(f"not a report ({msg.get_content_type()})", key)
    parts = [p for p in msg.get_payload() if isinstance(p, Message)]
    status = next((p for p in parts if p.get_content_type() in _STATUS_PARTS), None)
    if status is None:
        return Unparseable("a multipart/report without a delivery-status or feedback part", key)
    type_ = _STATUS_PARTS[status.get_content_type()]
    blocks = _blocks(_text(status))
    message_id = _herald_id(_original_headers(parts)) or _original_id(blocks)
    findings = _dsn(blocks, message_id) if type_ == "delivery-status" else _arf(blocks, message_id)
    if not findings:
        return Unparseable(_NOTHING_REPORTED[type_], key)
    return Report(type_, key, tuple(findings[:MAX_FINDINGS]))


def _dsn(blocks: list[dict[str, str]], message_id: str | None) -> list[Finding]:
    per_message = blocks[0] if blocks and "action" not in blocks[0] else {}
    reporter = _typed(per_message.get("reporting-mta"))
    findings = []
    for fields in blocks:
        kind = _ACTIONS.get(_first_word(fields.get("action")))
        if kind is None:
            continue
        code, diagnostic = _diagnostic(fields.get("diagnostic-code"))
        status = _status(fields.get("status"))
        detailed = enhanced_code(code, diagnostic[3:]) if code and diagnostic else None
        if detailed and (status is None or (status.endswith(".0.0") and status[0] == detailed[0])):
            status = detailed  # the reply is more precise than a generic Status: 5.0.0
        recipient = _typed(fields.get("final-recipient") or fields.get("original-recipient"))
        findings.append(
            Finding(
                kind,
                _address(recipient),
                message_id,
                status=status,
                smtp_code=code,
                diagnostic=diagnostic,
                reporter=reporter,
            )
        )
    return findings


def _arf(blocks: list[dict[str, str]], message_id: str | None) -> list[Finding]:
    fields = blocks[0] if blocks else {}
    feedback_type = _first_word(fields.get("feedback-type"))
    if not feedback_type:
        return []
    recipient = _address(_typed(fields.get("original-rcpt-to")))
    reporter = _clean(fields.get("user-agent"))
    return [
        Finding("complained", recipient, message_id, feedback_type=feedback_type, reporter=reporter)
    ]


def _text(part: Message) -> str:
    """The body of a status part as text, however the parser split it."""
    payload = part.get_payload()
    if isinstance(payload, list):  # message/*: already parsed into header blocks
        chunks = []
        for sub in payload:
            if isinstance(sub, Message):
                # Raw values keep undecodable bytes as surrogates: back to bytes, read as UTF-8.
                fields = "\n".join(f"{k}: {v}" for k, v in sub.raw_items())
                chunks.append(fields.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
                body = None if sub.is_multipart() else sub.get_payload(decode=True)
                if isinstance(body, bytes) and body.strip():
                    chunks.append(body.decode("utf-8", "replace"))
        return "\n\n".join(chunks)
    raw = part.get_payload(decode=True)
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)


def _blocks(text: str) -> list[dict[str, str]]:
    """RFC 822-style field groups separated by blank lines; names lower-cased, the first of a
    repeated field kept, folded lines unfolded."""
    blocks: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    name: str | None = None
    for line in text[:MAX_STATUS_CHARS].splitlines():
        if not line.strip():
            if fields:
                blocks.append(fields)
            fields, name = {}, None
        elif line[0] in " \t":
            if name is not None:
                fields[name] += " " + line.strip()
        else:
            field, colon, value = line.partition(":")
            name = field.strip().lower() if colon else None
            if name is not None and name in fields:
                name = None  # a repeated field: keep the first
            if name is not None:
                fields[name] = value.strip()
    if fields:
        blocks.append(fields)
    return blocks


def _original_headers(parts: list[Message]) -> Message | None:
    for part in parts:
        if part.get_content_type() not in _ORIGINAL_PARTS:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            return payload[0] if payload and isinstance(payload[0], Message) else None
        raw = part.get_payload(decode=True)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
        return HeaderParser(policy=email.policy.compat32).parsestr(text, headersonly=True)
    return None


def _herald_id(headers: Message | None) -> str | None:
    if headers is None:
        return None
    explicit = str(headers.get("X-Herald-Message-Id", "")).strip()
    if _HERALD_ID.match(explicit):
        return explicit
    found = _HERALD_MESSAGE_ID.search(str(headers.get("Message-ID", "")))
    return found.group(1) if found else None


def _original_id(blocks: list[dict[str, str]]) -> str | None:
    """Gmail names the original in the per-message fields too (``X-Original-Message-ID``)."""
    found = _HERALD_MESSAGE_ID.search(blocks[0].get("x-original-message-id", "") if blocks else "")
    return found.group(1) if found else None


def _diagnostic(value: str | None) -> tuple[int | None, str | None]:
    """``"smtp; 550 5.1.1 ..."`` -> (550, ``"550 5.1.1 ..."``); other types: (None, text)."""
    kind, sep, text = (value or "").partition(";")
    if not sep:
        kind, text = "", kind
    text = _clean(text) or ""
    reply = _SMTP_REPLY.match(text) if kind.strip().lower() == "smtp" else None
    return (int(reply.group(1)) if reply else None), (text or None)


def _status(value: str | None) -> str | None:
    found = _STATUS.search(value or "")
    return found.group(1) if found else None


def _typed(value: str | None) -> str | None:
    """The value of an ``address-type; address`` field (the type is dropped)."""
    _, _, address = (value or "").rpartition(";")
    return _clean(address)


def _address(value: str | None) -> str | None:
    return _clean((value or "").strip().strip("<>"))


def _first_word(value: str | None) -> str:
    words = (value or "").lower().split()
    return words[0] if words else ""


def _clean(value: str | None) -> str | None:
    text = " ".join((value or "").split())[:MAX_FIELD_CHARS]
    return text or None
