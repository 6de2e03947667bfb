"""Suppression rows: both writers (the API and the worker's projection) may apply any change
any number of times, in any order, and the rows still say what the latest decision was."""

from __future__ import annotations

import dataclasses

import pytest

from config.settings import Settings
from streams.records import Reason, Scope, Suppression, SuppressionChange
from streams.suppressions import address_value, domain_value, entry_id
from tables import suppressions
from tables.db import Suppression as Row
from tables.suppressions import Filters

WS = "ws_acme"
T0 = 1_760_000_000.0


def entry(
    value: str,
    *,
    scope: Scope = "global",
    scope_value: str = "",
    reason: Reason = "manual",
    created_at: float = T0,
    workspace_id: str = WS,
    detail: str | None = None,
) -> Suppression:
    stored = domain_value(value) if "@" not in value.lstrip("@") else address_value(value)
    return Suppression(
        id=entry_id(workspace_id, scope, scope_value, stored),
        workspace_id=workspace_id,
        value=stored,
        scope=scope,
        scope_value=scope_value,
        reason=reason,
        source="api",
        created_at=created_at,
        detail=detail,
    )


def add(e: Suppression, at: float | None = None) -> SuppressionChange:
    return SuppressionChange("add", e, e.created_at if at is None else at)


def remove(e: Suppression, at: float) -> SuppressionChange:
    return SuppressionChange("remove", e, at)


async def live_ids(workspace_id: str = WS, **filters: object) -> list[str]:
    found, _ = await suppressions.list_entries(
        workspace_id,
        Filters(**filters),  # type: ignore[arg-type]
        limit=100,
    )
    return [e.id for e in found]


async def test_an_added_entry_reads_back_as_it_was_made(db: Settings) -> None:
    ada = entry("Ada@Example.com", reason="hard_bounce", detail="550 5.1.1 no such user")
    await suppressions.apply_changes([add(ada)])

    assert await suppressions.get_entry(WS, ada.id) == ada
    assert await suppressions.get_entry("ws_other", ada.id) is None
    assert await live_ids() == [ada.id]


async def test_replaying_changes_changes_nothing(db: Settings) -> None:
    ada = entry("ada@example.com")
    bob = entry("bob@example.com")
    changes = [add(ada), add(bob), remove(bob, T0 + 5)]

    for _ in range(3):
        await suppressions.apply_changes(changes)
    await suppressions.apply_changes(changes + changes)  # repeats inside one batch too

    assert await live_ids() == [ada.id]
    assert await Row.count() == 2  # bob stays as a tombstone


async def test_an_older_add_after_a_newer_remove_keeps_it_removed(db: Settings) -> None:
    ada = entry("ada@example.com")
    await suppressions.apply_changes([add(ada, T0), remove(ada, T0 + 10)])
    await suppressions.apply_changes([add(ada, T0 + 5)])  # late copy of an older decision

    assert await suppressions.get_entry(WS, ada.id) is None


async def test_a_remove_arriving_before_its_add_still_wins(db: Settings) -> None:
    ada = entry("ada@example.com")
    await suppressions.apply_changes([remove(ada, T0 + 10)])
    await suppressions.apply_changes([add(ada, T0)])

    assert await suppressions.get_entry(WS, ada.id) is None


async def test_on_a_tie_the_removal_wins_in_either_order(db: Settings) -> None:
    ada, bob = entry("ada@example.com"), entry("bob@example.com")
    await suppressions.apply_changes([add(ada, T0), remove(ada, T0)])
    await suppressions.apply_changes([remove(bob, T0)])
    await suppressions.apply_changes([add(bob, T0)])

    assert await live_ids() == []


async def test_a_re_add_after_removal_is_a_new_entry(db: Settings) -> None:
    ada = entry("ada@example.com", created_at=T0)
    again = dataclasses.replace(ada, created_at=T0 + 20, reason="complaint")
    await suppressions.apply_changes([add(ada), remove(ada, T0 + 10)])
    await suppressions.apply_changes([add(again)])

    found = await suppressions.get_entry(WS, ada.id)
    assert found is not None
    assert (found.created_at, found.reason) == (T0 + 20, "complaint")


async def test_re_adding_a_live_entry_keeps_its_creation_time(db: Settings) -> None:
    ada = entry("ada@example.com", created_at=T0)
    bounced = dataclasses.replace(ada, created_at=T0 + 20, reason="hard_bounce")
    await suppressions.apply_changes([add(ada)])
    await suppressions.apply_changes([add(bounced)])

    found = await suppressions.get_entry(WS, ada.id)
    assert found is not None
    assert (found.created_at, found.reason) == (T0, "hard_bounce")


async def test_large_batches_apply_in_one_go(db: Settings) -> None:
    many = [entry(f"user{i}@example.com", created_at=T0 + i) for i in range(1_200)]
    await suppressions.apply_changes([add(e) for e in many])

    assert await Row.count() == 1_200
    found, more = await suppressions.list_entries(WS, Filters(), limit=100)
    assert more and found[0].id == many[-1].id


@pytest.fixture
async def catalogue(db: Settings) -> dict[str, Suppression]:
    made = {
        "ada": entry("ada@example.com", created_at=T0 + 1),
        "bob_news": entry(
            "bob@example.com", scope="program", scope_value="newsletter", created_at=T0 + 2
        ),
        "domain": entry("@example.com", reason="complaint", created_at=T0 + 3),
        "cy_list": entry("cy@example.org", scope="list", scope_value="weekly", created_at=T0 + 4),
        "sub": entry("dee@mail.example.com", reason="hard_bounce", created_at=T0 + 5),
        "gone": entry("eve@example.com", created_at=T0 + 6),
        "theirs": entry("ada@example.com", workspace_id="ws_globex", created_at=T0 + 7),
    }
    await suppressions.apply_changes([add(e) for e in made.values()])
    await suppressions.apply_changes([remove(made["gone"], T0 + 60)])
    return made


async def test_lists_filter_by_scope_reason_and_value(catalogue: dict[str, Suppression]) -> None:
    c = {name: e.id for name, e in catalogue.items()}

    assert await live_ids() == [c["sub"], c["cy_list"], c["domain"], c["bob_news"], c["ada"]]
    assert await live_ids(scope="program") == [c["bob_news"]]
    assert await live_ids(scope="list", scope_value="weekly") == [c["cy_list"]]
    assert await live_ids(scope_value="monthly") == []
    assert await live_ids(reason="hard_bounce") == [c["sub"]]
    assert await live_ids(value="ada@example.com") == [c["ada"]]
    assert await live_ids(value="@example.com") == [c["domain"]]
    assert await live_ids("ws_globex") == [c["theirs"]]


async def test_the_domain_filter_keeps_the_domain_and_its_addresses_only(
    catalogue: dict[str, Suppression],
) -> None:
    c = {name: e.id for name, e in catalogue.items()}

    assert await live_ids(domain="@example.com") == [c["domain"], c["bob_news"], c["ada"]]
    assert await live_ids(domain="@mail.example.com") == [c["sub"]]
    assert await live_ids(domain="@ample.com") == []


async def test_lists_filter_by_creation_time(catalogue: dict[str, Suppression]) -> None:
    c = {name: e.id for name, e in catalogue.items()}

    window = await live_ids(created_from=T0 + 2, created_before=T0 + 4)
    assert window == [c["domain"], c["bob_news"]]


async def test_pages_walk_every_live_entry_once(catalogue: dict[str, Suppression]) -> None:
    seen: list[str] = []
    after: str | None = None
    while True:
        page, more = await suppressions.list_entries(WS, Filters(), limit=2, starting_after=after)
        seen += [e.id for e in page]
        if not more:
            break
        after = page[-1].id
    assert seen == await live_ids()
    assert len(seen) == 5


async def test_a_page_after_a_removed_entry_goes_on_from_it(
    catalogue: dict[str, Suppression],
) -> None:
    c = {name: e.id for name, e in catalogue.items()}
    await suppressions.apply_changes([remove(catalogue["domain"], T0 + 70)])

    page, more = await suppressions.list_entries(
        WS, Filters(), limit=10, starting_after=c["domain"]
    )
    assert [e.id for e in page] == [c["bob_news"], c["ada"]] and not more
    unknown, _ = await suppressions.list_entries(
        WS, Filters(), limit=10, starting_after=c["theirs"]
    )
    assert unknown == []


async def test_entries_for_an_address_come_address_first_then_domain(
    catalogue: dict[str, Suppression],
) -> None:
    c = {name: e.id for name, e in catalogue.items()}

    found = await suppressions.entries_for(WS, "Bob@EXAMPLE.com")
    assert [e.id for e in found] == [c["bob_news"], c["domain"]]
    assert [e.id for e in await suppressions.entries_for(WS, "eve@example.com")] == [c["domain"]]
    assert await suppressions.entries_for(WS, "zed@example.net") == []


async def test_stored_entries_include_removed_ones_of_the_workspace(
    catalogue: dict[str, Suppression],
) -> None:
    ids = [e.id for e in catalogue.values()]

    found = await suppressions.stored_entries(WS, ids)
    live = {id_ for id_, stored in found.items() if stored.live}
    assert live == {catalogue[n].id for n in ("ada", "bob_news", "domain", "cy_list", "sub")}
    gone = found[catalogue["gone"].id]
    assert not gone.live and gone.changed_at == T0 + 60
    assert catalogue["theirs"].id not in found
