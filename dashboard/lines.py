"""One line of the event log, built from an event or from a record that could not be read."""

from __future__ import annotations

from dataclasses import dataclass

from streams.records import Event

MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Malformed:
    """A record on a topic the dashboard reads that is not what the topic should carry."""

    topic: str
    partition: int
    offset: int
    at: float  # the record's timestamp
    reason: str


@dataclass(frozen=True, slots=True)
class LogLine:
    at: float
    kind: str  # an event type, or MALFORMED
    workspace: str
    recipient: str
    detail: str  # the subject, the SMTP answer, the reason: what says most in one line
    message_id: str = ""
    tags: tuple[str, ...] = ()
    program: str = ""

    def haystack(self) -> str:
        """What a search looks in, lower-cased."""
        return " ".join(
            (self.kind, self.workspace, self.recipient, self.detail, self.message_id)
        ).lower()


def event_line(event: Event) -> LogLine:
    return LogLine(
        at=event.at,
        kind=event.type,
        workspace=event.workspace_id,
        recipient=event.recipient,
        detail=detail_of(event),
        message_id=event.message_id,
        tags=event.tags,
        program=event.program,
    )


def malformed_line(record: Malformed) -> LogLine:
    return LogLine(
        at=record.at,
        kind=MALFORMED,
        workspace="",
        recipient=f"{record.topic}[{record.partition}]@{record.offset}",
        detail=record.reason,
    )


def smtp_answer(event: Event) -> str:
    """``550 5.1.1 user unknown``: the code, the enhanced code, the text, whichever exist."""
    parts = [str(event.smtp_code) if event.smtp_code else "", event.enhanced_code or ""]
    parts.append(event.diagnostic or event.reply or "")
    return " ".join(p for p in parts if p).replace("\n", " ")


def detail_of(event: Event) -> str:
    """The subject for a queued message, otherwise what explains this event."""
    if event.type == "queued":
        return event.subject or ""
    if event.type in ("opened", "clicked"):
        where = event.url or ""
        return f"{where} (machine: {event.machine_reason or 'yes'})" if event.machine else where
    if event.type == "suppressed" and event.suppression is not None:
        entry = event.suppression
        scope = entry.scope if not entry.scope_value else f"{entry.scope} {entry.scope_value}"
        return f"{entry.reason}: {entry.value} ({scope})"
    if event.type == "unsubscribed":
        return f"scope {event.unsubscribe_scope or 'global'}"
    if event.type == "webhook_disabled":
        return f"endpoint {event.webhook_id or '?'}"
    answer = smtp_answer(event)
    if event.type == "bounced" and event.bounce:
        answer = f"{event.bounce}: {answer}"
    if event.attempt and event.type in ("deferred", "sent", "failed"):
        answer = f"try {event.attempt + 1}: {answer}"
    return answer + (" (possible duplicate)" if event.possible_duplicate else "")
