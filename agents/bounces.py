"""What bounces and complaints mean: is a bounce hard (the address is bad: suppress it) or soft
(try again some other day), and which events an inbound report becomes.

A hard bounce suppresses the address, so the rule errs towards soft: a wrongly soft bounce costs
one more failed attempt later, a wrongly hard one silences a working address for good. Used for
synchronous 5xx replies (dispatch) and for asynchronous DSNs (the inbound listener). Pure.

The RFC 3463 enhanced code decides when there is one:

===================  =====  =======================================================
code                 kind   why
===================  =====  =======================================================
4.x.x                soft   transient by definition, whatever the text says
5.1.x                hard   bad destination mailbox, system or syntax; 5.1.10 null MX
5.1.7, 5.1.8         soft   *sender's* address is bad: the recipient may be fine
5.1.9                soft   relayed to a non-compliant mailer: not about the address
5.2.1                hard   mailbox disabled (Gmail, Outlook: closed account), as most
                            ESPs treat it
5.2.2, 5.2.x         soft   mailbox full, message too big, list expansion
5.3.x, 5.4.x         soft   the receiving system or the route (may be fixed later)
5.5.x, 5.6.x         soft   protocol or content: about this message, not the address
5.7.x                soft   policy, reputation, spam: about the sender
5.x.0                text   "other" detail in a soft subject: the reply text decides
none, 5.0.0, 5.9.x   text   no usable code: the reply text decides
===================  =====  =======================================================

"The reply text decides": hard when it carries a well-known unknown-mailbox phrase ("user
unknown", "no such user", "does not exist", "mailbox unavailable", ...) and no sign of a
transient or sender-side problem (quota, full, try again, sender address); soft otherwise,
and always soft for a text that starts with a 4xx reply code. Outlook's "550 5.5.0 Requested
action not taken: mailbox unavailable" and Sendmail's "550 5.0.0 User unknown" are hard
through this path.

Which message an inbound mail is about (:func:`read_inbound`): the signed return path it was
sent to (:mod:`streams.verp`) first, since only Herald can make one; else the ids in the
report's copy of the original. A return path whose signature does not verify, a report naming
no message, or anything that is not a report (an out-of-office reply) becomes no event: the
listener keeps it for a human. Events carry ``workspace_id=""`` and ``recipient=""``: the
timeline agent fills them from its own state for the message, which is trusted; the address a
report names is only quoted in ``diagnostic``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agents import reports
from agents.reports import Finding
from streams import verp
from streams.records import BounceKind, Event, EventType, event_id

_CODE = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\s*$")
_LEADING_4XX = re.compile(r"^\s*4\d\d(?:[\s-]|$)")
# Sender-side or not-about-the-address details of subject 1 (RFC 3463 3.2).
_SOFT_ADDRESS_DETAILS = {7, 8, 9}
_HARD_MAILBOX_DETAILS = {1}  # 5.2.1 mailbox disabled

_HARD_PHRASES = (
    "user unknown",
    "unknown user",
    "no such user",
    "no such mailbox",
    "no such recipient",
    "no such address",
    "unknown recipient",
    "recipient unknown",
    "recipient not found",
    "user not found",
    "address not found",
    "invalid recipient",
    "invalid mailbox",
    "not a valid mailbox",
    "mailbox not found",
    "mailbox unavailable",
    "mailbox does not exist",
    "does not exist",
    "doesn't exist",
    "account disabled",
    "account has been disabled",
    "unrouteable address",
)
_SOFT_PHRASES = (
    "quota",
    "mailbox full",
    "mailbox is full",
    "insufficient storage",
    "try again",
    "temporar",  # temporary, temporarily
    "sender address",  # "Sender address rejected: domain does not exist": not the recipient
    "sender domain",
)


def bounce_kind(enhanced: str | None, reply: str) -> BounceKind:
    """``"hard"`` or ``"soft"`` for a refused delivery, from its RFC 3463 code (``"5.1.1"``,
    or None when the reply had none) and its reply or diagnostic text (table above)."""
    match = _CODE.match(enhanced or "")
    if match is None:
        return _by_text(reply)
    klass, subject, detail = (int(g) for g in match.groups())
    if klass != 5:
        return "soft"
    if subject == 1:
        return "soft" if detail in _SOFT_ADDRESS_DETAILS else "hard"
    if subject == 2 and detail in _HARD_MAILBOX_DETAILS:
        return "hard"
    if subject in (2, 3, 4, 5, 6, 7) and detail != 0:
        return "soft"
    return _by_text(reply)  # 5.0.0, 5.x.0, or a subject RFC 3463 does not define


def _by_text(reply: str) -> BounceKind:
    if _LEADING_4XX.match(reply):
        return "soft"
    text = " ".join(reply.lower().split())
    if any(p in text for p in _SOFT_PHRASES):
        return "soft"
    return "hard" if any(p in text for p in _HARD_PHRASES) else "soft"


_VERP_SHAPED = re.compile(r"^[bu]-msg_", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one inbound mail comes to: events to publish, and why (if at all) it should be kept
    for a human. Both may be non-empty (a report naming two messages, one unknown)."""

    events: tuple[Event, ...]
    unmatched: tuple[str, ...]


def read_inbound(rcpts: list[str], data: bytes, *, domain: str, key: bytes, at: float) -> Verdict:
    """The events one inbound mail (``data``, sent to ``rcpts`` on ``domain``) stands for."""
    parsed = reports.parse(data)
    events: dict[str, Event] = {}  # by id: one mail to several of our addresses counts once
    unmatched: list[str] = []
    for rcpt in rcpts:
        found = verp.parse(rcpt, domain=domain, key=key)
        if found is None and _VERP_SHAPED.match(rcpt):
            unmatched.append("a return path whose signature does not verify")
            continue
        new: list[Event] = []
        if found is not None and found.purpose == "unsubscribe":
            new = [unsubscribe_event(found.message_id, parsed.key, at=at)]
        elif isinstance(parsed, reports.Unparseable):
            unmatched.append(parsed.reason)
        elif found is not None:  # the signed return path names the message: trust it
            new = report_events(parsed.findings, found.message_id, parsed.key, at=at)
        else:
            named = [f for f in parsed.findings if f.message_id]
            if len(named) < len(parsed.findings):
                unmatched.append("a report that names no Herald message")
            for message_id in dict.fromkeys(f.message_id for f in named if f.message_id):
                mine = tuple(f for f in named if f.message_id == message_id)
                new += report_events(mine, message_id, parsed.key, at=at)
        events.update((e.event_id, e) for e in new)
    return Verdict(tuple(events.values()), tuple(dict.fromkeys(unmatched)))


_EVENT_TYPES: dict[str, EventType] = {
    "bounced": "bounced",
    "delayed": "deferred",
    "delivered": "delivered",
    "complained": "complained",
}
NOT_COMPLAINTS = {"not-spam"}  # ARF feedback that says the mail was wanted


def report_events(
    findings: tuple[Finding, ...], message_id: str, report_key: str, *, at: float
) -> list[Event]:
    """The events for ``message_id`` from one report's findings. Ids are stable across
    redelivery of the report: ``report:<key>`` (``:<n>`` for the n-th repeat of one type)."""
    events: list[Event] = []
    seen: dict[EventType, int] = {}
    for finding in findings:
        type_ = _EVENT_TYPES[finding.kind]
        if finding.kind == "complained" and finding.feedback_type in NOT_COMPLAINTS:
            continue
        n = seen.get(type_, 0)
        seen[type_] = n + 1
        attempt = f"report:{report_key}" + (f":{n}" if n else "")
        events.append(_event(finding, type_, event_id(message_id, type_, attempt), message_id, at))
    return events


def unsubscribe_event(message_id: str, report_key: str, *, at: float) -> Event:
    """A mailto unsubscribe (RFC 2369) for ``message_id``; the scope (program or list) is the
    downstream rule's to decide."""
    return Event(
        event_id=event_id(message_id, "unsubscribed", f"report:{report_key}"),
        type="unsubscribed",
        message_id=message_id,
        workspace_id="",
        recipient="",
        at=at,
        diagnostic="unsubscribe requested by mail",
    )


def _event(finding: Finding, type_: EventType, id_: str, message_id: str, at: float) -> Event:
    if type_ == "complained":
        by = f" by {finding.reporter}" if finding.reporter else ""
        detail = f"{finding.feedback_type} report{by}"
    else:
        detail = finding.diagnostic or f"{finding.kind} according to a delivery status report"
    if finding.recipient and finding.recipient.lower() not in detail.lower():
        detail += f" (reported for {finding.recipient})"
    return Event(
        event_id=id_,
        type=type_,
        message_id=message_id,
        workspace_id="",
        recipient="",
        at=at,
        smtp_code=finding.smtp_code,
        enhanced_code=finding.status,
        reply=finding.diagnostic if finding.smtp_code is not None else None,
        bounce=bounce_kind(finding.status, finding.diagnostic or "")
        if type_ == "bounced"
        else None,
        diagnostic=detail,
    )
