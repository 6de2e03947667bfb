"""/v1/suppressions reads: listing with filters and pages, and the check endpoint, which
answers what the pipeline enforces (streams.suppressions.first_match)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.api.support import Tenant
from tests.api.test_suppression_routes import add, fields, listed

# --- listing ---------------------------------------------------------------------------------


@pytest.fixture
async def catalogue(client: AsyncTestClient[Any], tenant: Tenant) -> dict[str, str]:
    """Entries of each kind, made oldest first; their ids by name."""
    bodies = {
        "ada": {"email": "ada@example.com"},
        "bob_news": {"email": "bob@example.com", "program": "newsletter", "reason": "unsubscribe"},
        "domain": {"domain": "example.com", "reason": "complaint"},
        "cy_weekly": {"email": "cy@example.org", "list": "weekly"},
        "dee": {"email": "dee@mail.example.com", "reason": "hard_bounce"},
    }
    return {name: (await add(client, tenant, **body))["id"] for name, body in bodies.items()}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["dee", "cy_weekly", "domain", "bob_news", "ada"]),
        ("?scope=program", ["bob_news"]),
        ("?program=newsletter", ["bob_news"]),
        ("?program=other", []),
        ("?list=weekly", ["cy_weekly"]),
        ("?scope=list&list=weekly", ["cy_weekly"]),
        ("?scope=global", ["dee", "domain", "ada"]),
        ("?reason=hard_bounce", ["dee"]),
        ("?email=ADA@example.com", ["ada"]),
        ("?domain=example.com", ["domain", "bob_news", "ada"]),
        ("?domain=@example.com&scope=global", ["domain", "ada"]),
        ("?created_after=2000-01-01T00:00:00Z", ["dee", "cy_weekly", "domain", "bob_news", "ada"]),
        ("?created_before=2000-01-01T00:00:00", []),
    ],
)
async def test_lists_filter_newest_first(
    client: AsyncTestClient[Any],
    tenant: Tenant,
    catalogue: dict[str, str],
    query: str,
    expected: list[str],
) -> None:
    assert await listed(client, tenant, query) == [catalogue[name] for name in expected]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?email=nope", "email"),
        ("?domain=not a domain", "domain"),
        ("?scope=world", "scope"),
        ("?reason=bored", "reason"),
        ("?program=Bad Name", "program"),
        ("?scope=global&program=newsletter", "scope"),
        ("?program=a&list=b", "list"),
        ("?created_after=yesterday", "created_after"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?starting_after=key_123", "starting_after"),
        ("?emial=ada@example.com", "emial"),
    ],
)
async def test_a_bad_filter_is_a_422_naming_it(
    client: AsyncTestClient[Any], tenant: Tenant, query: str, field: str
) -> None:
    response = await client.get(f"/v1/suppressions{query}", headers=tenant.auth)

    assert fields(response) == [field]


async def test_pages_walk_every_entry_once(
    client: AsyncTestClient[Any], tenant: Tenant, catalogue: dict[str, str]
) -> None:
    seen: list[str] = []
    query = "?limit=2"
    while True:
        page = (await client.get(f"/v1/suppressions{query}", headers=tenant.auth)).json()
        seen += [e["id"] for e in page["data"]]
        if not page["has_more"]:
            break
        query = f"?limit=2&starting_after={page['data'][-1]['id']}"

    assert seen == await listed(client, tenant)
    assert len(seen) == len(catalogue)


# --- check -----------------------------------------------------------------------------------


async def check(client: AsyncTestClient[Any], tenant: Tenant, query: str) -> dict[str, Any]:
    response = await client.get(f"/v1/suppressions/check?{query}", headers=tenant.auth)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def verdict(answer: dict[str, Any]) -> str | None:
    return None if answer["entry"] is None else answer["entry"]["id"]


async def test_check_answers_what_the_pipeline_enforces(
    client: AsyncTestClient[Any], tenant: Tenant, catalogue: dict[str, str]
) -> None:
    c = catalogue

    clear = await check(client, tenant, "email=eve@example.net")
    assert (clear["suppressed"], clear["entry"], clear["entries"]) == (False, None, [])
    assert (clear["program"], clear["list"]) == ("transactional", None)
    # bob: his program entry only for that program; his domain's global entry everywhere
    bob = await check(client, tenant, "email=Bob@Example.com")
    assert bob["email"] == "bob@example.com" and bob["suppressed"]
    assert verdict(bob) == c["domain"]
    assert [e["id"] for e in bob["entries"]] == [c["bob_news"], c["domain"]]
    # the address before its domain at the same scope
    assert verdict(await check(client, tenant, "email=ada@example.com")) == c["ada"]
    # list entries only for sends to that list
    assert verdict(await check(client, tenant, "email=cy@example.org")) is None
    weekly = await check(client, tenant, "email=cy@example.org&list=weekly")
    assert weekly["list"] == "weekly" and verdict(weekly) == c["cy_weekly"]
    # subdomains are other domains
    assert verdict(await check(client, tenant, "email=dee@mail.example.com")) == c["dee"]
    assert verdict(await check(client, tenant, "email=eve@mail.example.com")) is None


async def test_a_program_entry_stops_that_program_only(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    entry = await add(client, tenant, email="ada@example.com", program="newsletter")

    assert not (await check(client, tenant, "email=ada@example.com"))["suppressed"]
    news = await check(client, tenant, "email=ada@example.com&program=newsletter")
    assert news["suppressed"] and verdict(news) == entry["id"]
    assert not (await check(client, tenant, "email=ada@example.com&program=billing"))["suppressed"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?email=nope", "email"),
        ("?email=ada@example.com&program=Bad Name", "program"),
        ("?email=ada@example.com&colour=red", "colour"),
    ],
)
async def test_a_bad_check_is_a_422_naming_it(
    client: AsyncTestClient[Any], tenant: Tenant, query: str, field: str
) -> None:
    response = await client.get(f"/v1/suppressions/check{query}", headers=tenant.auth)

    assert fields(response) == [field]


async def test_a_check_without_an_address_is_a_400_saying_so(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    response = await client.get("/v1/suppressions/check", headers=tenant.auth)

    assert response.status_code == 400
    assert "'email'" in response.json()["detail"]
