"""What a suppression request names, checked and normalised (pure: no I/O, no web framework).

Addresses and domains are normalised the way the send path normalises recipients
(email-validator, then lower-cased), so an entry's value is exactly what the screen stage
looks up for a send: ``Ada@Bücher.example`` and ``ada@xn--bcher-kva.example`` are one entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email

from api.decoding import epoch_seconds
from api.suppression_schemas import SCOPES, SuppressionBody
from api.validation import FieldError, check_name
from streams.records import DEFAULT_PROGRAM, Reason, Scope, Suppression
from streams.suppressions import address_value, domain_value, entry_id
from tables.suppressions import Filters

ENTRY_ID = re.compile(r"sup_[0-9a-f]{26}")


@dataclass(frozen=True, slots=True)
class Target:
    """What an entry applies to: one address or domain in one scope."""

    value: str  # "ada@example.com" or "@example.com"
    scope: Scope
    scope_value: str  # the program or list; "" for global

    def entry_id(self, workspace_id: str) -> str:
        return entry_id(workspace_id, self.scope, self.scope_value, self.value)


def email_value(raw: str) -> str | None:
    """The stored value of an address, or None if it is not one."""
    try:
        return address_value(validate_email(raw, check_deliverability=False).normalized)
    except EmailNotValidError:
        return None


def domain_value_of(raw: str) -> str | None:
    """The stored value (``@example.com``) of a domain given as ``example.com`` or
    ``@example.com`` (IDNA or Unicode, a final dot allowed), or None if it is not one."""
    name = raw.removeprefix("@").removesuffix(".")
    if not name or "@" in name:
        return None
    try:
        checked = validate_email(f"postmaster@{name}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return domain_value(checked.domain)


def check_target(body: SuppressionBody, where: str = "") -> Target | list[FieldError]:
    """The body's target, or every field error in it; ``where`` prefixes field names
    (``add[3].``) for bulk items."""
    errors: list[FieldError] = []
    value = _value(body, where, errors)
    program, list_id = body.program, body.list_id
    check_name(where + "program", program, errors)
    check_name(where + "list", list_id, errors)
    if program is not None and list_id is not None:
        errors.append(FieldError(where + "list", "give program or list, not both"))
    scope = body.scope or ("program" if program else "list" if list_id else "global")
    if scope == "program" and program is None:
        errors.append(FieldError(where + "program", "is required with scope 'program'"))
    if scope == "list" and list_id is None:
        errors.append(FieldError(where + "list", "is required with scope 'list'"))
    if scope != "program" and program is not None:
        errors.append(FieldError(where + "program", "only with scope 'program'"))
    if scope != "list" and list_id is not None and program is None:
        errors.append(FieldError(where + "list", "only with scope 'list'"))
    if errors or value is None:
        return errors
    return Target(value, scope, program or list_id or "")


def _value(body: SuppressionBody, where: str, errors: list[FieldError]) -> str | None:
    if body.email is not None and body.domain is not None:
        errors.append(FieldError(where + "domain", "give email or domain, not both"))
        return None
    if body.email is not None:
        value = email_value(body.email)
        if value is None:
            errors.append(FieldError(where + "email", "not a valid email address"))
        return value
    if body.domain is not None:
        value = domain_value_of(body.domain)
        if value is None:
            errors.append(FieldError(where + "domain", "not a valid domain name (example.com)"))
        return value
    errors.append(FieldError(where + "email", "email or domain is required"))
    return None


def new_entry(
    workspace_id: str, target: Target, *, reason: Reason, note: str | None, now: float
) -> Suppression:
    """The entry the API adds for ``target``."""
    return Suppression(
        id=target.entry_id(workspace_id),
        workspace_id=workspace_id,
        value=target.value,
        scope=target.scope,
        scope_value=target.scope_value,
        reason=reason,
        source="api",
        created_at=now,
        detail=note,
    )


@dataclass(frozen=True, slots=True)
class ListQuery:
    """The list route's filters as the client gave them."""

    email: str | None = None
    domain: str | None = None
    scope: str | None = None
    program: str | None = None
    list_id: str | None = None
    reason: Reason | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    starting_after: str | None = None


def list_filters(query: ListQuery) -> Filters | list[FieldError]:
    """The listing's filters, or every parameter that is wrong. ``program`` and ``list`` imply
    their scope; times without a zone are UTC."""
    errors: list[FieldError] = []
    value = domain = None
    if query.email is not None and (value := email_value(query.email)) is None:
        errors.append(FieldError("email", "not a valid email address"))
    if query.domain is not None and (domain := domain_value_of(query.domain)) is None:
        errors.append(FieldError("domain", "not a valid domain name (example.com)"))
    check_name("program", query.program, errors)
    check_name("list", query.list_id, errors)
    scope = next((s for s in SCOPES if s == query.scope), None)
    scope_value = query.program or query.list_id
    if query.scope is not None and scope is None:
        errors.append(FieldError("scope", "one of " + ", ".join(SCOPES)))
    elif query.program is not None and query.list_id is not None:
        errors.append(FieldError("list", "give program or list, not both"))
    elif scope_value is not None:
        implied: Scope = "program" if query.program is not None else "list"
        if scope not in (None, implied):
            errors.append(FieldError("scope", f"must be '{implied}' (or left out) with {implied}"))
        scope = implied
    if query.starting_after is not None and not ENTRY_ID.fullmatch(query.starting_after):
        errors.append(FieldError("starting_after", "not a suppression id (sup_...)"))
    if errors:
        return errors
    return Filters(
        scope=scope,
        scope_value=scope_value,
        reason=query.reason,
        value=value,
        domain=domain,
        created_from=epoch_seconds(query.created_after),
        created_before=epoch_seconds(query.created_before),
    )


def check_query(
    email: str, program: str | None, list_id: str | None
) -> tuple[str, str] | list[FieldError]:
    """The check route's address (as stored) and program (default ``transactional``), or
    every parameter that is wrong."""
    errors: list[FieldError] = []
    value = email_value(email)
    if value is None:
        errors.append(FieldError("email", "not a valid email address"))
    check_name("program", program, errors)
    check_name("list", list_id, errors)
    if errors or value is None:
        return errors
    return value, program or DEFAULT_PROGRAM
