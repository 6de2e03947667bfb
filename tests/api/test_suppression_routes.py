"""/v1/suppressions: what a client adding, removing, listing and checking entries notices, and
what the pipeline is handed (the records on ``herald.suppressions``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from api.producer import MemorySendProducer
from streams.records import SuppressionChange, decode
from tables import keys, suppressions
from tables.db import Suppression as Row
from tests.api.support import Tenant, bearer

TOPIC = "herald.suppressions"
PROBLEMS = "https://herald.dev/problems/"


async def add(client: AsyncTestClient[Any], tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/suppressions", json=body, headers=tenant.auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def changes(producer: MemorySendProducer) -> list[SuppressionChange]:
    return [decode(p.value, SuppressionChange) for p in producer.on(TOPIC)]


def fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in response.json()["errors"]]


async def listed(client: AsyncTestClient[Any], tenant: Tenant, query: str = "") -> list[str]:
    response = await client.get(f"/v1/suppressions{query}", headers=tenant.auth)
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()["data"]]


async def test_an_added_address_is_handed_to_the_pipeline_then_listed(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    created = await add(client, tenant, email="Ada@Example.COM", note="asked by phone")

    assert created["id"].startswith("sup_")
    assert created["email"] == "ada@example.com" and created["domain"] is None
    assert (created["scope"], created["program"], created["list"]) == ("global", None, None)
    assert (created["reason"], created["source"], created["detail"]) == (
        "manual",
        "api",
        "asked by phone",
    )
    [published] = producer.on(TOPIC)
    assert (published.key, published.partition) == (b"ada@example.com", None)
    [change] = changes(producer)
    assert change.op == "add" and change.entry.id == created["id"]
    assert change.entry.workspace_id == tenant.workspace_id

    one = await client.get(f"/v1/suppressions/{created['id']}", headers=tenant.auth)
    assert one.json() == created
    assert await listed(client, tenant) == [created["id"]]


async def test_adding_an_entry_again_answers_200_with_it_unchanged(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    first = await add(client, tenant, email="ada@example.com", program="newsletter")
    again = await client.post(
        "/v1/suppressions",
        json={
            "email": "ADA@example.com",
            "scope": "program",
            "program": "newsletter",
            "reason": "complaint",
        },
        headers=tenant.auth,
    )

    assert again.status_code == 200, again.text
    assert again.json() == first
    assert await listed(client, tenant) == [first["id"]]


async def test_a_domain_entry_goes_to_every_partition(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    created = await add(client, tenant, domain="@Bücher.Example")
    same = await client.post(
        "/v1/suppressions", json={"domain": "xn--bcher-kva.example"}, headers=tenant.auth
    )

    assert (created["domain"], created["email"]) == ("bücher.example", None)
    assert same.status_code == 200 and same.json()["id"] == created["id"]
    first = producer.on(TOPIC)[: producer.partition_count]
    assert sorted(p.partition for p in first) == list(range(producer.partition_count))
    assert {p.key for p in first} == {"@bücher.example".encode()}


async def test_nothing_is_written_while_kafka_refuses(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    kept = await add(client, tenant, email="kept@example.com")
    producer.fail = True

    for body in ({"email": "ada@example.com"}, {"domain": "example.org"}):
        response = await client.post("/v1/suppressions", json=body, headers=tenant.auth)
        assert response.status_code == 503, response.text
        assert response.json()["type"] == PROBLEMS + "queue-unavailable"
    removal = await client.delete(f"/v1/suppressions/{kept['id']}", headers=tenant.auth)

    assert removal.status_code == 503
    assert await Row.count() == 1
    producer.fail = False
    assert await listed(client, tenant) == [kept["id"]]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, ["email"]),
        ({"email": "ada@example.com", "domain": "example.com"}, ["domain"]),
        ({"email": "not an address"}, ["email"]),
        ({"domain": "no spaces.example"}, ["domain"]),
        ({"domain": "ada@example.com"}, ["domain"]),
        ({"email": "ada@example.com", "colour": "red"}, ["colour"]),
        ({"email": "ada@example.com", "scope": "program"}, ["program"]),
        ({"email": "ada@example.com", "scope": "list"}, ["list"]),
        ({"email": "ada@example.com", "scope": "global", "program": "news"}, ["program"]),
        ({"email": "ada@example.com", "program": "news", "list": "weekly"}, ["list"]),
        ({"email": "ada@example.com", "program": "Not A Name"}, ["program"]),
        ({"email": "ada@example.com", "scope": "world"}, ["scope"]),
        ({"email": "ada@example.com", "reason": "bored"}, ["reason"]),
        ({"email": "ada@example.com", "note": "x" * 501}, ["note"]),
        ({"email": 7}, ["email"]),
    ],
)
async def test_bad_input_names_its_field_and_changes_nothing(
    client: AsyncTestClient[Any],
    tenant: Tenant,
    producer: MemorySendProducer,
    body: dict[str, Any],
    expected: list[str],
) -> None:
    response = await client.post("/v1/suppressions", json=body, headers=tenant.auth)

    assert fields(response) == expected
    assert producer.on(TOPIC) == []
    assert await Row.count() == 0


async def test_a_body_that_is_not_an_object_is_a_400(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    for content in (b"[1]", b"{nope"):
        response = await client.post("/v1/suppressions", content=content, headers=tenant.auth)
        assert response.status_code == 400, response.text


async def test_removing_hands_the_pipeline_a_removal_then_answers_404(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    created = await add(client, tenant, email="ada@example.com")
    url = f"/v1/suppressions/{created['id']}"

    assert (await client.delete(url, headers=tenant.auth)).status_code == 204
    assert [c.op for c in changes(producer)] == ["add", "remove"]
    assert changes(producer)[1].at > changes(producer)[0].at
    assert (await client.get(url, headers=tenant.auth)).status_code == 404
    again = await client.delete(url, headers=tenant.auth)
    assert again.status_code == 404 and again.json()["type"] == PROBLEMS + "not-found"
    assert len(producer.on(TOPIC)) == 2
    assert await listed(client, tenant) == []
    readded = await add(client, tenant, email="ada@example.com")
    assert readded["id"] == created["id"] and readded["created_at"] >= created["created_at"]


async def test_another_workspaces_entry_is_not_found(
    client: AsyncTestClient[Any],
    tenant: Tenant,
    make_tenant: Callable[[str], Awaitable[Tenant]],
    producer: MemorySendProducer,
) -> None:
    other = await make_tenant("globex")
    theirs = await add(client, other, email="ada@example.com")
    ours = await add(client, tenant, email="ada@example.com")
    url = f"/v1/suppressions/{theirs['id']}"

    assert ours["id"] != theirs["id"]
    assert (await client.get(url, headers=tenant.auth)).status_code == 404
    assert (await client.delete(url, headers=tenant.auth)).status_code == 404
    assert await listed(client, other) == [theirs["id"]]
    assert await listed(client, tenant) == [ours["id"]]
    assert len(producer.on(TOPIC)) == 2


async def test_reading_needs_read_and_changing_needs_full(
    client: AsyncTestClient[Any], tenant: Tenant
) -> None:
    created = await add(client, tenant, email="ada@example.com")
    _, read = await keys.create_key(tenant.workspace_id, scopes=["read"])
    _, send = await keys.create_key(tenant.workspace_id, scopes=["send"])

    assert (await client.get("/v1/suppressions", headers=bearer(read))).status_code == 200
    check = "/v1/suppressions/check?email=ada@example.com"
    assert (await client.get(check, headers=bearer(read))).status_code == 200
    body = {"email": "bob@example.com"}
    assert (
        await client.post("/v1/suppressions", json=body, headers=bearer(read))
    ).status_code == 403
    url = f"/v1/suppressions/{created['id']}"
    assert (await client.delete(url, headers=bearer(read))).status_code == 403
    assert (await client.get("/v1/suppressions", headers=bearer(send))).status_code == 403


async def test_an_idempotency_key_replays_the_first_answer(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    headers = {**tenant.auth, "Idempotency-Key": "add-ada-1"}
    body = {"email": "ada@example.com"}
    first = await client.post("/v1/suppressions", json=body, headers=headers)
    second = await client.post("/v1/suppressions", json=body, headers=headers)

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert len(producer.on(TOPIC)) == 1


# --- bulk ------------------------------------------------------------------------------------


async def test_bulk_judges_each_item_alone(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    existing = await add(client, tenant, email="old@example.com")
    doomed = await add(client, tenant, email="doomed@example.com", list="weekly")
    gone = await add(client, tenant, domain="gone.example")
    producer.published.clear()
    body = {
        "add": [
            {"email": "new@example.com"},
            {"email": "OLD@example.com"},
            {"email": "not an address"},
            {"domain": "example.org"},
            {"email": "new@example.com", "reason": "complaint"},
        ],
        "remove": [
            {"email": "doomed@example.com", "list": "weekly"},
            "sup_00000000000000000000000000",
            "nonsense",
            gone["id"],
            {"email": "new@example.com"},
        ],
    }

    response = await client.post("/v1/suppressions/bulk", json=body, headers=tenant.auth)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert [i["status"] for i in answer["add"]] == [201, 200, 422, 201, 422]
    assert [i["status"] for i in answer["remove"]] == [204, 404, 404, 204, 422]
    assert [i["index"] for i in answer["remove"]] == [0, 1, 2, 3, 4]
    assert answer["add"][1]["entry"] == existing
    assert answer["remove"][0]["entry"]["id"] == doomed["id"]
    assert [e["field"] for e in answer["add"][2]["error"]["errors"]] == ["add[2].email"]
    assert [e["field"] for e in answer["add"][4]["error"]["errors"]] == ["add[4]"]
    assert [e["field"] for e in answer["remove"][4]["error"]["errors"]] == ["remove[4]"]
    assert answer["add"][2]["error"]["request_id"] == response.headers["x-request-id"]

    ops = sorted((c.op, c.entry.value) for c in changes(producer))
    assert ops == sorted(
        [("add", "new@example.com"), ("add", "old@example.com"), ("remove", "doomed@example.com")]
        + [("add", "@example.org")] * producer.partition_count
        + [("remove", "@gone.example")] * producer.partition_count
    )
    now = set(await listed(client, tenant))
    assert now == {answer["add"][i]["entry"]["id"] for i in (0, 1, 3)}


async def test_a_bulk_of_the_wrong_shape_is_refused_whole(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    cases: list[tuple[Any, str]] = [
        (
            {"add": [{"email": "a@example.com"}, {"email": "b@example.com", "colour": "red"}]},
            "add[1].colour",
        ),
        ({"add": [], "remove": []}, "add"),
        ({"add": [{"email": f"u{i}@example.com"} for i in range(1001)]}, "add"),
        ({"add": [{"email": "a@example.com"}], "remove": [5]}, "remove[0]"),
        ({"erase": []}, "erase"),
    ]
    for body, field in cases:
        response = await client.post("/v1/suppressions/bulk", json=body, headers=tenant.auth)
        assert fields(response) == [field], body

    assert producer.on(TOPIC) == []
    assert await Row.count() == 0


async def test_a_bulk_kafka_refuses_is_answered_per_item_and_not_remembered(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    headers = {**tenant.auth, "Idempotency-Key": "bulk-1"}
    body = {"add": [{"email": "ada@example.com"}, {"domain": "example.org"}]}
    producer.fail = True

    refused = await client.post("/v1/suppressions/bulk", json=body, headers=headers)
    assert refused.status_code == 200
    assert [i["status"] for i in refused.json()["add"]] == [503, 503]
    assert await Row.count() == 0

    producer.fail = False
    accepted = await client.post("/v1/suppressions/bulk", json=body, headers=headers)
    assert [i["status"] for i in accepted.json()["add"]] == [201, 201]
    replay = await client.post("/v1/suppressions/bulk", json=body, headers=headers)
    assert replay.content == accepted.content
    assert replay.headers["idempotent-replayed"] == "true"
    assert len(await listed(client, tenant)) == 2


# --- ordering against the database ----------------------------------------------------------


async def test_an_acknowledged_change_is_answered_even_if_the_database_write_fails(
    client: AsyncTestClient[Any],
    tenant: Tenant,
    producer: MemorySendProducer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pipeline has it, and the worker's projection of the topic writes the row."""

    async def broken(changes: Any) -> None:
        raise ConnectionError("database gone")

    monkeypatch.setattr(suppressions, "apply_changes", broken)
    response = await client.post(
        "/v1/suppressions", json={"email": "ada@example.com"}, headers=tenant.auth
    )
    monkeypatch.undo()

    assert response.status_code == 201, response.text
    assert await Row.count() == 0
    await suppressions.apply_changes(changes(producer))  # what the projection does
    assert await listed(client, tenant) == [response.json()["id"]]


async def test_a_change_is_later_than_the_stored_one_even_across_clock_skew(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    """Another API host with its clock ahead added the entry; removing it here still wins."""
    created = await add(client, tenant, email="ada@example.com")
    [added] = changes(producer)
    ahead = SuppressionChange("add", added.entry, added.at + 3600)
    await suppressions.apply_changes([ahead])

    url = f"/v1/suppressions/{created['id']}"
    assert (await client.delete(url, headers=tenant.auth)).status_code == 204
    assert changes(producer)[-1].at > ahead.at
    assert (await client.get(url, headers=tenant.auth)).status_code == 404
