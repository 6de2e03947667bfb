"""Checks and normalises a send request (pure: no I/O, no web framework).

:func:`validate_send` reports every problem it finds, each tied to the field that caused it,
so a client fixes a request in one round trip.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from email.utils import quote

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import (
    CASE_INSENSITIVE_MAILBOX_NAMES,
    DOT_ATOM_TEXT,
    EMAIL_MAX_LENGTH,
)

from api.schemas import Addresses, SendEmail
from streams.records import DEFAULT_PROGRAM

MAX_SUBJECT = 998  # RFC 5322 line length limit
MAX_TAGS = 10
MAX_TAG_LENGTH = 64
MAX_METADATA_KEYS = 20
MAX_METADATA_KEY_LENGTH = 64
MAX_METADATA_VALUE = 256

_TAG = re.compile(r"[A-Za-z0-9_-]+")
MAX_NAME_LENGTH = 64
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")  # program names and list ids
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")  # RFC 5322 ftext: printable ASCII but ":"
_BREAKS = re.compile(r"[\r\n\x00]")
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')

# Headers Herald writes itself: set them with the request's fields instead. Beyond the address
# and identity headers, the MIME ones are Herald's too: render builds the body's structure.
RESERVED_HEADERS = frozenset(
    name.lower()
    for name in (
        "From",
        "To",
        "Cc",
        "Bcc",
        "Subject",
        "Message-ID",
        "Date",
        "Sender",
        "Reply-To",
        "Return-Path",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    )
)


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str  # as the client wrote it: "to[0]", "headers.X-Foo", "subject"
    message: str


@dataclass(frozen=True, slots=True)
class ValidSend:
    """A request that passed every check, addresses normalised and recipients deduplicated."""

    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    reply_to: tuple[str, ...]
    subject: str
    html: str | None
    text: str | None
    headers: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    program: str = DEFAULT_PROGRAM
    list_id: str | None = None
    track_opens: bool | None = None  # None: the workspace's default decides
    track_clicks: bool | None = None


def validate_send(request: SendEmail, *, max_recipients: int) -> ValidSend | list[FieldError]:
    """The normalised request, or every field error found (never just the first)."""
    errors: list[FieldError] = []

    sender = _mailbox("from", request.sender, errors)
    if request.sender is None:
        errors.append(FieldError("from", "is required"))
    reply_to = tuple(
        mailbox
        for name, value in _listed("reply_to", request.reply_to)
        if (mailbox := _mailbox(name, value, errors)) is not None
    )

    to, cc, bcc = _deduplicate(
        _recipients("to", request.to, errors),
        _recipients("cc", request.cc, errors),
        _recipients("bcc", request.bcc, errors),
    )
    total = len(to) + len(cc) + len(bcc)
    if total == 0 and not any(e.field.startswith(("to", "cc", "bcc")) for e in errors):
        errors.append(FieldError("to", "at least one recipient (to, cc or bcc) is required"))
    if total > max_recipients:
        errors.append(
            FieldError("to", f"at most {max_recipients} recipients (to, cc and bcc together)")
        )

    _check_subject(request.subject, errors)
    if not request.html and not request.text:
        errors.append(FieldError("html", "html or text (or both) is required"))
    _check_headers(request.headers, errors)
    _check_tags(request.tags, errors)
    _check_metadata(request.metadata, errors)
    check_name("program", request.program, errors)
    check_name("list", request.list_id, errors)

    if errors or sender is None or request.subject is None:
        return errors
    return ValidSend(
        sender=sender,
        to=to,
        cc=cc,
        bcc=bcc,
        reply_to=reply_to,
        subject=request.subject,
        html=request.html or None,
        text=request.text or None,
        headers=dict(request.headers),
        tags=tuple(request.tags),
        metadata=dict(request.metadata),
        program=request.program or DEFAULT_PROGRAM,
        list_id=request.list_id,
        track_opens=request.track_opens,
        track_clicks=request.track_clicks,
    )


def _listed(name: str, value: Addresses) -> list[tuple[str, str]]:
    """(field name, address) pairs: ``to`` for a lone string, ``to[0]``... for a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [(name, value)]
    return [(f"{name}[{i}]", item) for i, item in enumerate(value)]


def _mailbox(name: str, value: str | None, errors: list[FieldError]) -> str | None:
    """``from``/``reply_to``: an address, optionally ``Name <addr>``; the name is kept."""
    if value is None:
        return None
    if _BREAKS.search(value):
        errors.append(FieldError(name, "must not contain CR, LF or NUL"))
        return None
    checked = _address(value, named=True)
    if isinstance(checked, str):
        errors.append(FieldError(name, f"not a valid address: {checked}"))
        return None
    address, display = checked
    if not display:
        return address
    if _SPECIALS.search(display):
        display = f'"{quote(display)}"'
    return f"{display} <{address}>"


def _recipients(kind: str, value: Addresses, errors: list[FieldError]) -> list[str]:
    """``to``/``cc``/``bcc``: bare addresses only (they key suppression and the ledger)."""
    addresses = []
    for name, raw in _listed(kind, value):
        if _BREAKS.search(raw):
            errors.append(FieldError(name, "must not contain CR, LF or NUL"))
            continue
        checked = _address(raw, named=False)
        if isinstance(checked, str):
            errors.append(FieldError(name, f"not a valid address: {checked}"))
            continue
        addresses.append(checked[0])
    return addresses


@functools.lru_cache(maxsize=4096)
def _address(value: str, *, named: bool) -> tuple[str, str] | str:
    """(normalised address, display name), or why ``value`` is not an address. Cached: a
    sender repeats its From (and often its recipients), and email_validator's parsing cost
    more than all the other checks of a send together."""
    if not named and (simple := _simple_address(value)) is not None:
        return simple, ""
    try:
        checked = validate_email(value, check_deliverability=False, allow_display_name=named)
    except EmailNotValidError as exc:
        return str(exc)
    return checked.normalized, checked.display_name or ""


def _simple_address(value: str) -> str | None:
    """What email_validator makes of a plain ASCII ``local@domain`` it would accept, without
    checking the domain again for every local part: most of its work is the domain's, and a
    campaign's recipients are many local parts at a few domains. None: ask email_validator.

    Its rules for such a local part: kept as written when it is a dot-atom, lowercased when it
    is a role name (``Postmaster``); and the address, as written and normalised, at most 254
    bytes."""
    local, at, domain = value.rpartition("@")
    if not at or not DOT_ATOM_TEXT.match(local) or local.lower() in _ROLE_NAMES:
        return None
    checked = _domain(domain)
    if checked is None:
        return None  # let email_validator say what is wrong with it
    normalized, ascii_domain = f"{local}@{checked[0]}", checked[1]
    longest = max(len(value.encode()), len(normalized.encode()), len(local) + 1 + len(ascii_domain))
    return normalized if longest <= EMAIL_MAX_LENGTH else None


_ROLE_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


@functools.lru_cache(maxsize=4096)
def _domain(domain: str) -> tuple[str, str] | None:
    """The domain's normalised and IDNA ASCII forms, or None if email_validator refuses it."""
    try:
        checked = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return checked.domain, checked.ascii_domain


def _deduplicate(*groups: list[str]) -> tuple[tuple[str, ...], ...]:
    # One address listed twice (in to, cc or bcc, in any case) gets ONE message: the first
    # occurrence wins, so an address in both "to" and "bcc" stays a visible "to" recipient.
    # Local parts are compared without case: mailbox providers treat them so, and two copies
    # to Bob@ and bob@ would reach one person twice.
    seen: set[str] = set()
    kept: list[tuple[str, ...]] = []
    for group in groups:
        unique = []
        for address in group:
            if address.casefold() not in seen:
                seen.add(address.casefold())
                unique.append(address)
        kept.append(tuple(unique))
    return tuple(kept)


def _check_subject(subject: str | None, errors: list[FieldError]) -> None:
    if subject is None or not subject.strip():
        errors.append(FieldError("subject", "is required and must not be blank"))
    elif _BREAKS.search(subject):
        errors.append(FieldError("subject", "must not contain CR, LF or NUL"))
    elif len(subject) > MAX_SUBJECT:
        errors.append(FieldError("subject", f"must be at most {MAX_SUBJECT} characters"))


def _check_headers(headers: dict[str, str], errors: list[FieldError]) -> None:
    for name, value in headers.items():
        where = f"headers.{name}"
        if _BREAKS.search(name):
            errors.append(FieldError(f"headers.{_escaped(name)}", "must not contain CR, LF or NUL"))
            continue
        if not _FIELD_NAME.fullmatch(name):
            errors.append(
                FieldError(where, "not a header field name (printable ASCII, no ':' or spaces)")
            )
        elif name.lower() in RESERVED_HEADERS:
            errors.append(FieldError(where, "set by Herald: use the request's fields instead"))
        if _BREAKS.search(value):
            errors.append(FieldError(where, "must not contain CR, LF or NUL"))


def _check_tags(tags: list[str], errors: list[FieldError]) -> None:
    if len(tags) > MAX_TAGS:
        errors.append(FieldError("tags", f"at most {MAX_TAGS} tags"))
    for i, tag in enumerate(tags):
        if _BREAKS.search(tag):
            errors.append(FieldError(f"tags[{i}]", "must not contain CR, LF or NUL"))
        elif not _TAG.fullmatch(tag) or len(tag) > MAX_TAG_LENGTH:
            errors.append(
                FieldError(
                    f"tags[{i}]",
                    f"1 to {MAX_TAG_LENGTH} characters of letters, digits, '_' and '-'",
                )
            )


def _check_metadata(metadata: dict[str, str], errors: list[FieldError]) -> None:
    if len(metadata) > MAX_METADATA_KEYS:
        errors.append(FieldError("metadata", f"at most {MAX_METADATA_KEYS} keys"))
    for key, value in metadata.items():
        if _BREAKS.search(key):
            errors.append(FieldError(f"metadata.{_escaped(key)}", "must not contain CR, LF or NUL"))
            continue
        where = f"metadata.{key}"
        if not key or len(key) > MAX_METADATA_KEY_LENGTH:
            errors.append(
                FieldError(where, f"keys must be 1 to {MAX_METADATA_KEY_LENGTH} characters")
            )
        if len(value) > MAX_METADATA_VALUE:
            errors.append(FieldError(where, f"must be at most {MAX_METADATA_VALUE} characters"))


def check_name(field: str, value: str | None, errors: list[FieldError]) -> None:
    """A program name or list id: lower-case letters, digits, ``_ . -``, 1 to 64 long."""
    if value is not None and (len(value) > MAX_NAME_LENGTH or not _NAME.fullmatch(value)):
        errors.append(
            FieldError(
                field,
                f"1 to {MAX_NAME_LENGTH} lower-case letters, digits, '_', '.' or '-', "
                "starting with a letter or digit",
            )
        )


def _escaped(name: str) -> str:
    """A field name fit to show back: control characters written as escapes."""
    return name.encode("unicode_escape").decode("ascii")
