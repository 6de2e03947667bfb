"""Suppression entries: how they are named, keyed and matched (pure, no I/O).

The API (the check endpoint) and the screen agent (enforcement) answer "would this send be
dropped, and why" with the same functions, so the answer the API gives is the one the pipeline
acts on.

An entry names an address (``ada@example.com``) or a whole domain (``@example.com``), in one
scope of one workspace: ``global`` (every send), ``list`` (sends to that list) or ``program``
(sends of that program). Addresses and domains compare without case.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from streams.records import Scope, Suppression

# Which entry is reported when several match: the widest scope, then the address before its
# domain (the more specific reason).
_SCOPE_ORDER: dict[str, int] = {"global": 0, "list": 1, "program": 2}


def entry_id(workspace_id: str, scope: Scope, scope_value: str, value: str) -> str:
    """The entry's id: the same workspace, scope and target always name the same entry."""
    digest = hashlib.sha256(f"{workspace_id}|{scope}|{scope_value}|{value}".encode()).hexdigest()
    return f"sup_{digest[:26]}"


def address_value(address: str) -> str:
    """The value an address entry is stored under."""
    return address.strip().lower()


def domain_value(domain: str) -> str:
    """The value a domain entry is stored under: ``@`` + the lower-cased domain."""
    return "@" + domain.strip().lstrip("@").rstrip(".").lower()


def is_domain(value: str) -> bool:
    return value.startswith("@")


def domain_of(address: str) -> str:
    """``@example.com`` for ``Ada@Example.com``."""
    return domain_value(address.rpartition("@")[2])


def table_key(workspace_id: str, value: str) -> str:
    """The key of the screen stage's table: entries of one workspace for one address or domain."""
    return f"{workspace_id}|{value}"


def lookup_keys(workspace_id: str, address: str) -> tuple[str, str]:
    """The two table keys a send to ``address`` must be checked against: its own and its
    domain's."""
    return (
        table_key(workspace_id, address_value(address)),
        table_key(workspace_id, domain_of(address)),
    )


def applies(entry: Suppression, *, program: str, list_id: str | None) -> bool:
    """Whether ``entry`` stops a send of ``program`` (sent to ``list_id``, if any)."""
    if entry.scope == "global":
        return True
    if entry.scope == "program":
        return entry.scope_value == program
    return list_id is not None and entry.scope_value == list_id


def first_match(
    entries: Iterable[Suppression], *, program: str, list_id: str | None
) -> Suppression | None:
    """The entry that stops the send, or None. ``entries`` come address entries first, then
    domain entries (as :func:`lookup_keys` orders them)."""
    best: tuple[int, int, Suppression] | None = None
    for position, entry in enumerate(entries):
        if not applies(entry, program=program, list_id=list_id):
            continue
        rank = (_SCOPE_ORDER[entry.scope], position)
        if best is None or rank < best[:2]:
            best = (*rank, entry)
    return best[2] if best else None
