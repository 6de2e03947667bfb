"""The screen stage's lookup: entries of the address and of its domain, by scope."""

from __future__ import annotations

from dataclasses import replace

from agents.screen import suppression_of
from agents.suppressions import applied
from streams.records import Content, Delivery, Scope, Suppression, SuppressionChange
from streams.suppressions import address_value, domain_value, entry_id, table_key


def entry(value: str, scope: Scope = "global", scope_value: str = "") -> Suppression:
    return Suppression(
        id=entry_id("ws_1", scope, scope_value, value),
        workspace_id="ws_1",
        value=value,
        scope=scope,
        scope_value=scope_value,
        reason="manual",
        source="api",
        created_at=1.0,
    )


def table_with(*entries: Suppression) -> dict[str, object]:
    table: dict[str, object] = {}
    for e in entries:
        key = table_key(e.workspace_id, e.value)
        table[key] = applied(table.get(key), SuppressionChange("add", e, at=1.0))  # type: ignore[arg-type]
    return table


def delivery(to: str, program: str = "transactional", list_id: str | None = None) -> Delivery:
    content = Content(
        sender="a@acme.example", subject="s", to=(to,), program=program, list_id=list_id
    )
    return Delivery("msg_1", "req_1", "ws_1", to, content, accepted_at=1.0)


def test_an_address_entry_stops_sends_to_it_whatever_the_case() -> None:
    table = table_with(entry(address_value("ada@example.com")))
    assert suppression_of(table, delivery("Ada@EXAMPLE.com")) is not None
    assert suppression_of(table, delivery("bob@example.com")) is None


def test_a_domain_entry_stops_every_address_of_the_domain() -> None:
    table = table_with(entry(domain_value("Example.com")))
    found = suppression_of(table, delivery("anyone@example.com"))
    assert found is not None and found.value == "@example.com"
    assert suppression_of(table, delivery("anyone@example.org")) is None


def test_program_and_list_entries_apply_only_to_their_program_or_list() -> None:
    table = table_with(
        entry("ada@example.com", "program", "newsletter"),
        entry("ada@example.com", "list", "weekly"),
    )
    assert suppression_of(table, delivery("ada@example.com")) is None
    newsletter = suppression_of(table, delivery("ada@example.com", program="newsletter"))
    weekly = suppression_of(table, delivery("ada@example.com", list_id="weekly"))
    assert newsletter is not None and newsletter.scope == "program"
    assert weekly is not None and weekly.scope == "list"


def test_another_workspaces_entry_stops_nothing() -> None:
    other = replace(entry("ada@example.com"), workspace_id="ws_2")
    table = {
        table_key("ws_2", "ada@example.com"): applied(None, SuppressionChange("add", other, 1.0))
    }
    assert suppression_of(table, delivery("ada@example.com")) is None


def test_a_removed_entry_stops_nothing_and_an_older_add_does_not_bring_it_back() -> None:
    e = entry("ada@example.com")
    key = table_key("ws_1", e.value)
    added = applied(None, SuppressionChange("add", e, 1.0))
    removed = applied(added, SuppressionChange("remove", e, 2.0))
    assert suppression_of({key: removed}, delivery("ada@example.com")) is None
    late_copy = applied(removed, SuppressionChange("add", e, 1.5))
    assert suppression_of({key: late_copy}, delivery("ada@example.com")) is None
    again = applied(late_copy, SuppressionChange("add", e, 3.0))
    assert suppression_of({key: again}, delivery("ada@example.com")) is not None


def test_on_a_tie_the_removal_wins_whatever_the_order() -> None:
    e = entry("ada@example.com")
    key = table_key("ws_1", e.value)
    add, remove = SuppressionChange("add", e, 5.0), SuppressionChange("remove", e, 5.0)
    for first, second in ((add, remove), (remove, add)):
        value = applied(applied(None, first), second)
        assert suppression_of({key: value}, delivery("ada@example.com")) is None
