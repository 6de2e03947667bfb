"""The wire shapes of ``/v1/suppressions`` (msgspec Structs and query parameters), their
examples, and how a stored entry is shown.

An entry is shown with ``email`` or ``domain`` (the other is null) rather than the internal
``value`` (``@example.com`` for a domain), and with ``program`` or ``list`` for its scope.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar.params import QueryParameter

from api.errors import ValidationFailed, problem_of
from api.schemas import Problem
from api.validation import FieldError
from streams.records import Reason, Scope, Suppression
from streams.suppressions import is_domain

MAX_NOTE = 500
MAX_BULK = 1000
SCOPES: tuple[Scope, ...] = ("global", "list", "program")

Address = Annotated[str, msgspec.Meta(max_length=320)]
Note = Annotated[str, msgspec.Meta(max_length=MAX_NOTE, pattern="^[^\\x00]*$")]


class SuppressionBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An entry to add, or (in a bulk ``remove``) to name. Exactly one of ``email`` and
    ``domain``. ``scope`` defaults to ``program`` when ``program`` is given, ``list`` when
    ``list`` is, else ``global``. ``reason`` and ``note`` only matter when adding."""

    email: Address | None = None
    domain: Address | None = None
    scope: Scope | None = None
    program: str | None = None
    list_id: str | None = msgspec.field(default=None, name="list")
    reason: Reason = "manual"
    note: Note | None = None


class SuppressionBulk(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Entries to add, and entries to remove (by id, or named like an addition); at most
    :data:`MAX_BULK` items in both together."""

    add: Annotated[list[SuppressionBody], msgspec.Meta(max_length=MAX_BULK)] = msgspec.field(
        default_factory=list
    )
    remove: Annotated[list[str | SuppressionBody], msgspec.Meta(max_length=MAX_BULK)] = (
        msgspec.field(default_factory=list)
    )


class SuppressionView(msgspec.Struct):
    """One entry. ``source`` says who added it (``api``, ``bounce``, ``complaint``,
    ``unsubscribe``); ``message_id`` is the message whose bounce, complaint or unsubscribe
    caused it; ``detail`` is the note given through the API or the report's diagnostic."""

    id: str
    email: str | None
    domain: str | None
    scope: Scope
    program: str | None
    list_id: str | None = msgspec.field(name="list")
    reason: Reason
    source: str
    created_at: datetime
    message_id: str | None
    detail: str | None


class SuppressionList(msgspec.Struct):
    data: list[SuppressionView]
    has_more: bool


class SuppressionBulkItem(msgspec.Struct, omit_defaults=True):
    """What became of one item, at ``index`` in its array: the status the single route would
    have answered (add: 201 new, 200 already there; remove: 204, 404), with the entry added or
    removed, or a problem."""

    index: int
    status: int
    entry: SuppressionView | None = None
    error: Problem | None = None


class SuppressionBulkResult(msgspec.Struct):
    add: list[SuppressionBulkItem]
    remove: list[SuppressionBulkItem]


class SuppressionCheck(msgspec.Struct):
    """Whether a send to ``email`` of ``program`` (to ``list``) would be dropped now: ``entry``
    is the entry the pipeline would report; ``entries`` every live entry of the address and
    of its domain, whatever their scope."""

    suppressed: bool
    email: str
    program: str
    list_id: str | None = msgspec.field(name="list")
    entry: SuppressionView | None
    entries: list[SuppressionView]


# --- query parameters ----------------------------------------------------------------------

LIST_PARAMETERS = frozenset(
    {"email", "domain", "scope", "program", "list", "reason"}
    | {"created_after", "created_before", "limit", "starting_after"}
)
CHECK_PARAMETERS = frozenset(("email", "program", "list"))

Email = Annotated[str, QueryParameter(max_length=320, description="An address, any case.")]
AnyEmail = Annotated[
    str | None, QueryParameter(max_length=320, description="One address's entries.")
]
Domain = Annotated[
    str | None,
    QueryParameter(
        max_length=320, description="`example.com`: its domain entry and every address at it."
    ),
]
Program = Annotated[str | None, QueryParameter(max_length=64, description="A program name.")]
# Aliased parameters carry no constraints Litestar checks: its errors would name the Python
# argument (list_id), not the parameter; their values are checked with the others.
ListId = Annotated[str | None, QueryParameter(name="list", description="A list id.")]
ScopeName = Annotated[
    str | None,
    QueryParameter(name="scope", enum=SCOPES, description="`global`, `list` or `program`."),
]


def view(entry: Suppression) -> SuppressionView:
    domain = entry.value.removeprefix("@") if is_domain(entry.value) else None
    return SuppressionView(
        id=entry.id,
        email=None if domain else entry.value,
        domain=domain,
        scope=entry.scope,
        program=entry.scope_value if entry.scope == "program" else None,
        list_id=entry.scope_value if entry.scope == "list" else None,
        reason=entry.reason,
        source=entry.source,
        created_at=datetime.fromtimestamp(entry.created_at, UTC),
        message_id=entry.message_id,
        detail=entry.detail,
    )


# --- examples --------------------------------------------------------------------------------

_AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
BODY_EXAMPLE = {"email": "ada@example.com", "program": "newsletter", "note": "asked by phone"}
VIEW_EXAMPLE = SuppressionView(
    id="sup_3f9c2a71d0b84e6a5c1f7e2d90",
    email="ada@example.com",
    domain=None,
    scope="program",
    program="newsletter",
    list_id=None,
    reason="manual",
    source="api",
    created_at=_AT,
    message_id=None,
    detail="asked by phone",
)
DOMAIN_EXAMPLE = SuppressionView(
    id="sup_8a41c07e5b2d9f63e1a0c4b7d2",
    email=None,
    domain="example.org",
    scope="global",
    program=None,
    list_id=None,
    reason="complaint",
    source="complaint",
    created_at=_AT,
    message_id="msg_01jtj8m4t6v2k9c3x5b7n1p0rd",
    detail=None,
)
LIST_EXAMPLE = SuppressionList([VIEW_EXAMPLE, DOMAIN_EXAMPLE], has_more=False)
BULK_EXAMPLE = {
    "add": [{"email": "bob@example.com"}, {"domain": "example.org", "reason": "complaint"}],
    "remove": ["sup_3f9c2a71d0b84e6a5c1f7e2d90", {"email": "cy@example.com"}],
}
BULK_RESULT_EXAMPLE = SuppressionBulkResult(
    add=[
        SuppressionBulkItem(0, 201, entry=VIEW_EXAMPLE),
        SuppressionBulkItem(
            1,
            422,
            error=problem_of(
                ValidationFailed([FieldError("add[1].domain", "not a valid domain name")]),
                "req_01jtj8m4t6v2k9c3x5b7n1p0rf",
            ),
        ),
    ],
    remove=[SuppressionBulkItem(0, 204, entry=DOMAIN_EXAMPLE)],
)
CHECK_EXAMPLE = SuppressionCheck(
    suppressed=True,
    email="ada@example.com",
    program="newsletter",
    list_id=None,
    entry=VIEW_EXAMPLE,
    entries=[VIEW_EXAMPLE],
)
