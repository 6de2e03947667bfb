"""What an events listing asks for, checked and normalised (pure: no I/O).

A recipient is normalised the way the send path stored it (email-validator: the domain
lower-cased and in one Unicode form, the local part as written), so the address a client sent
to finds its events however it is spelt now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email

from api.decoding import epoch_seconds
from api.validation import FieldError, check_name
from tables.events import EventFilters


@dataclass(frozen=True, slots=True)
class EventQuery:
    """The listing's filters as the client gave them (types already known ones: the route's
    parameter type refuses others)."""

    types: tuple[str, ...] = ()
    message_id: str | None = None
    recipient: str | None = None
    tag: str | None = None
    program: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def recipient_value(raw: str) -> str | None:
    """The address as the send path stores a recipient, or None if it is not one."""
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def event_filters(query: EventQuery) -> EventFilters | list[FieldError]:
    """The listing's filters, or every parameter that is wrong."""
    errors: list[FieldError] = []
    recipient = None
    if query.recipient is not None and (recipient := recipient_value(query.recipient)) is None:
        errors.append(FieldError("recipient", "not a valid email address"))
    check_name("program", query.program, errors)
    since, until = epoch_seconds(query.since), epoch_seconds(query.until)
    if since is not None and until is not None and until <= since:
        errors.append(FieldError("until", "must be later than since"))
    if errors:
        return errors
    return EventFilters(
        types=tuple(dict.fromkeys(query.types)),
        message_id=query.message_id,
        recipient=recipient,
        tag=query.tag,
        program=query.program,
        since=since,
        until=until,
    )
