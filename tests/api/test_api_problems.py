"""Every refusal is an RFC 9457 problem with a request id, and nothing reaches the queue."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.producer import MemorySendProducer
from config.settings import Settings
from streams.records import SendRequested
from tests.api.support import MAX_BODY_BYTES, Tenant
from tests.support.seed import SEED


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["type"] == f"https://herald.dev/problems/{kind}"
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
    assert problem["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return problem


def fields(problem: dict[str, Any]) -> set[str]:
    return {error["field"] for error in problem["errors"]}


@pytest.mark.parametrize(
    ("payload", "expected_fields"),
    [
        pytest.param({}, {"from", "to", "subject", "html"}, id="missing-fields"),
        pytest.param({**SEED, "bogus": 1}, {"bogus"}, id="unknown-field"),
        pytest.param({**SEED, "to": ["not-an-address"]}, {"to[0]"}, id="invalid-address"),
        pytest.param({**SEED, "to": [42]}, {"to[0]"}, id="address-not-a-string"),
        pytest.param(
            {**SEED, "subject": "Hi\r\nBcc: victim@example.com"}, {"subject"}, id="crlf-subject"
        ),
        pytest.param(
            {**SEED, "headers": {"X-Campaign": "spring\r\nBcc: victim@example.com"}},
            {"headers.X-Campaign"},
            id="crlf-header-value",
        ),
        pytest.param({**SEED, "headers": {"Bcc": "x@example.com"}}, {"headers.Bcc"}, id="bcc"),
        pytest.param({**SEED, "headers": {"X Bad": "1"}}, {"headers.X Bad"}, id="bad-name"),
        pytest.param(
            {**SEED, "from": "Evil\n <a@example.com>", "tags": ["ok", "no spaces"]},
            {"from", "tags[1]"},
            id="all-errors-at-once",
        ),
        pytest.param(
            {**SEED, "to": [f"r{i}@example.com" for i in range(6)]}, {"to"}, id="too-many"
        ),
    ],
)
async def test_invalid_send_is_422_listing_the_fields(
    client: AsyncTestClient[Any],
    tenant: Tenant,
    producer: MemorySendProducer,
    payload: dict[str, Any],
    expected_fields: set[str],
) -> None:
    response = await client.post("/v1/emails", json=payload, headers=tenant.auth)

    problem = assert_problem(response, 422, "validation")
    assert fields(problem) == expected_fields
    assert producer.records == []


@pytest.mark.parametrize(
    "body",
    [b'{"from": "hello@yourdomain.com",', b"", b"[1, 2]", b'"just a string"'],
    ids=["truncated", "empty", "array", "string"],
)
async def test_body_that_is_not_a_json_object_is_400(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer, body: bytes
) -> None:
    headers = {**tenant.auth, "Content-Type": "application/json"}
    response = await client.post("/v1/emails", content=body, headers=headers)

    assert_problem(response, 400, "malformed-body")
    assert producer.records == []


async def test_oversized_body_is_413(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    payload = {**SEED, "html": "x" * (MAX_BODY_BYTES + 1)}
    response = await client.post("/v1/emails", json=payload, headers=tenant.auth)

    assert_problem(response, 413, "too-large")
    assert producer.records == []


async def test_oversized_body_without_a_length_is_413(
    client: AsyncTestClient[Any], tenant: Tenant, producer: MemorySendProducer
) -> None:
    """Streamed without Content-Length (the test client cannot), so the size is known only
    as the body arrives: the app is called as the server calls it."""
    payload = msgspec.json.encode({**SEED, "html": "x" * (2 * MAX_BODY_BYTES)})
    chunks = [payload[i : i + 8192] for i in range(0, len(payload), 8192)]
    headers = [(name.lower().encode(), value.encode()) for name, value in tenant.auth.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/emails",
        "raw_path": b"/v1/emails",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await client.app(scope, receive, send)

    assert sent[0]["status"] == 413
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert msgspec.json.decode(body)["type"].endswith("/too-large")
    assert chunks, "the whole body was read before it was refused"
    assert producer.records == []


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer hk_live_" + "A" * 43,
        "Bearer not-even-a-key",
    ],
    ids=["missing", "empty-bearer", "basic", "unknown-key", "malformed-key"],
)
async def test_missing_or_wrong_key_is_401(
    client: AsyncTestClient[Any], producer: MemorySendProducer, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.post("/v1/emails", json=SEED, headers=headers)

    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert producer.records == []


async def test_key_is_checked_before_the_body_is_read(
    client: AsyncTestClient[Any], producer: MemorySendProducer
) -> None:
    response = await client.post("/v1/emails", content=b"{not json")

    assert_problem(response, 401, "unauthorized")


async def test_unknown_route_is_404_problem(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/v2/nothing", headers={"X-Request-Id": "abc-123"})

    problem = assert_problem(response, 404, "not-found")
    assert problem["request_id"] == "abc-123"


async def test_wrong_method_is_405_problem(client: AsyncTestClient[Any], tenant: Tenant) -> None:
    response = await client.get("/v1/emails", headers=tenant.auth)

    assert_problem(response, 405, "method-not-allowed")
    assert "POST" in response.headers["allow"]


class ExplodingProducer(MemorySendProducer):
    async def send_requested(self, record: SendRequested) -> None:
        raise RuntimeError("secret internals")


async def test_unexpected_error_is_a_generic_500(
    settings: Settings, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    async with AsyncTestClient(app=create_app(settings, ExplodingProducer())) as client:
        response = await client.post("/v1/emails", json=SEED, headers=tenant.auth)

    problem = assert_problem(response, 500, "internal")
    assert "secret internals" not in response.text
    assert problem["request_id"] in problem["detail"]
    assert "secret internals" in caplog.text


@pytest.mark.parametrize("path", ["/v1/emails", "/v1/emails/batch", "/v1/api-keys"])
@pytest.mark.parametrize(
    "body",
    [b"[" * 10_000 + b"]" * 10_000, b'{"name": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"],
    ids=["nested-array", "nested-field"],
)
async def test_json_nested_absurdly_deep_is_a_400_problem(
    client: AsyncTestClient[Any],
    tenant: Tenant,
    producer: MemorySendProducer,
    path: str,
    body: bytes,
) -> None:
    response = await client.post(
        path, content=body, headers={**tenant.auth, "Content-Type": "application/json"}
    )

    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert producer.records == []
