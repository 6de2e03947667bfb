"""Suppression matching (streams.suppressions): which entry stops a send, the one rule the
screen stage enforces and the check endpoint reports."""

from __future__ import annotations

import pytest

from streams.records import Scope, Suppression
from streams.suppressions import (
    address_value,
    applies,
    domain_of,
    domain_value,
    entry_id,
    first_match,
    is_domain,
    lookup_keys,
    table_key,
)

WS = "ws_acme"


def entry(value: str, scope: Scope = "global", scope_value: str = "") -> Suppression:
    return Suppression(
        id=entry_id(WS, scope, scope_value, value),
        workspace_id=WS,
        value=value,
        scope=scope,
        scope_value=scope_value,
        reason="manual",
        source="api",
        created_at=0.0,
    )


def test_values_are_lower_cased_and_domains_carry_their_at_sign() -> None:
    assert address_value("  Ada@Example.COM ") == "ada@example.com"
    assert domain_value("Example.COM.") == "@example.com"
    assert domain_value("@example.com") == "@example.com"
    assert domain_of("Ada@Mail.Example.com") == "@mail.example.com"
    assert is_domain("@example.com") and not is_domain("ada@example.com")


def test_an_entry_id_names_workspace_scope_and_target() -> None:
    one = entry_id(WS, "program", "news", "ada@example.com")

    assert one == entry_id(WS, "program", "news", "ada@example.com")
    assert one.startswith("sup_") and len(one) == 30
    others = {
        entry_id("ws_other", "program", "news", "ada@example.com"),
        entry_id(WS, "list", "news", "ada@example.com"),
        entry_id(WS, "program", "billing", "ada@example.com"),
        entry_id(WS, "program", "news", "@example.com"),
    }
    assert one not in others and len(others) == 4


def test_a_send_is_looked_up_under_its_address_then_its_domain() -> None:
    assert lookup_keys(WS, "Ada@Example.com") == (
        table_key(WS, "ada@example.com"),
        table_key(WS, "@example.com"),
    )


@pytest.mark.parametrize(
    ("scope", "scope_value", "program", "list_id", "stops"),
    [
        ("global", "", "transactional", None, True),
        ("global", "", "news", "weekly", True),
        ("program", "news", "news", None, True),
        ("program", "news", "transactional", None, False),
        ("program", "news", "billing", "news", False),  # a list named like the program
        ("list", "weekly", "news", "weekly", True),
        ("list", "weekly", "news", None, False),
        ("list", "weekly", "weekly", "monthly", False),  # a program named like the list
    ],
)
def test_an_entry_applies_in_its_scope_only(
    scope: Scope, scope_value: str, program: str, list_id: str | None, stops: bool
) -> None:
    found = entry("ada@example.com", scope, scope_value)

    assert applies(found, program=program, list_id=list_id) is stops


def test_nothing_matches_nothing() -> None:
    assert first_match([], program="transactional", list_id=None) is None
    news = entry("ada@example.com", "program", "news")
    assert first_match([news], program="transactional", list_id=None) is None


def test_the_widest_scope_is_reported_first() -> None:
    news = entry("ada@example.com", "program", "news")
    weekly = entry("ada@example.com", "list", "weekly")
    everywhere = entry("@example.com")

    entries = [news, weekly, everywhere]
    assert first_match(entries, program="news", list_id="weekly") == everywhere
    assert first_match([news, weekly], program="news", list_id="weekly") == weekly
    assert first_match([news, weekly], program="news", list_id=None) == news


def test_at_the_same_scope_the_address_comes_before_its_domain() -> None:
    own = entry("ada@example.com")
    domain = entry("@example.com")

    assert first_match([own, domain], program="transactional", list_id=None) == own
    news = entry("ada@example.com", "program", "news")
    domain_news = entry("@example.com", "program", "news")
    assert first_match([news, domain_news], program="news", list_id=None) == news


def test_a_domain_entry_alone_stops_every_address_at_it() -> None:
    domain = entry("@example.com", "program", "news")

    assert first_match([domain], program="news", list_id=None) == domain
    assert first_match([domain], program="billing", list_id=None) is None
