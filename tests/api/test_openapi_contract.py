"""The OpenAPI document is served, valid, and true: schemathesis sends generated requests to
the real app over a socket and checks every answer against the document."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import msgspec
import pytest
import schemathesis
import uvicorn
from litestar.testing import AsyncTestClient
from schemathesis.config import SchemathesisConfig

from api.app import create_app
from api.producer import MemorySendProducer
from config.settings import Settings, load_settings
from tables import database
from tables.messages import project_events
from tests.api.support import MAX_BODY_BYTES, Tenant
from tests.api.test_events_routes import story
from tests.api.test_message_status import MESSAGE_ID, deliver

PROBLEM = "application/problem+json"
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture
async def settings(tmp_path: Path) -> Settings:
    """The API tests' settings with a request budget schemathesis cannot spend, so its cases
    reach the routes instead of the rate limiter."""
    found = load_settings(
        data_dir=tmp_path,
        database_url=None,
        max_body_bytes=MAX_BODY_BYTES,
        max_recipients=5,
        key_request_rate=100_000.0,
        key_request_burst=100_000,
    )
    await database.migrate(found)
    return found


@pytest.fixture
def live_api(settings: Settings, tenant: Tenant) -> Iterator[str]:
    """The real app served by uvicorn on a free local port, in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    config = uvicorn.Config(
        create_app(settings, MemorySendProducer()), log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def built_document() -> dict[str, Any]:
    """The document as the app serves it. Building it needs no server or database, so the
    operations to test are known when pytest collects them."""
    app = create_app(load_settings(database_url=None), MemorySendProducer(), manage_db=False)
    return msgspec.json.decode(msgspec.json.encode(app.openapi_schema.to_schema()))


# Every check runs. Where one expects what Herald rightly does not do, it says why.
CHECKS = SchemathesisConfig.from_dict(
    {
        "operations": [
            {
                # A batch answers 200 with a problem per invalid email, by design, so a batch of
                # schema-violating emails is not refused as a whole. Its items are the single
                # send's schema, whose edge cases POST /v1/emails walks; walking them again
                # inside an array (the coverage phase) would cost about 500 requests.
                "include-path": "/v1/emails/batch",
                "checks": {"negative_data_rejection": {"enabled": False}},
                "phases": {"coverage": {"enabled": False}},
            },
            {
                # Unknown query parameters are ignored, as most HTTP APIs do (unknown body
                # fields are refused); the check would count each ignored one as a failure.
                "include-path": "/v1/api-keys",
                "include-method": "GET",
                "checks": {"negative_data_rejection": {"enabled": False}},
            },
        ],
        "checks": {
            # Litestar 2 answers OPTIONS on a path with several handlers with the methods of one
            # of them in Allow (litestar-org/litestar#4169, fixed in Litestar 3).
            "allow_header_conformance": {"enabled": False},
            # 422 enforces what the schema does not state: a deliverable address, at least one
            # recipient, html or text. 413: the body size limit is a setting, not in the schema.
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "413", "422", "429"]
            },
            # A body over the size limit is refused with 413 before its content is looked at.
            "negative_data_rejection": {
                "expected-statuses": [
                    *("400", "401", "403", "404", "405", "406", "409", "413", "415", "422"),
                    *("428", "429", "5xx"),
                ]
            },
        },
    }
)
# schemathesis.pytest.from_fixture would load it from the live server instead, but fails on
# pytest 9.2 (it sets Function._nodeid, which pytest no longer has).
schema = schemathesis.openapi.from_dict(built_document(), config=CHECKS)


@schema.parametrize()
@hypothesis.settings(
    max_examples=15,
    deadline=None,
    database=None,
    # One server and database per operation is the point: examples of an operation share them.
    # Building a batch of a thousand emails can take hypothesis a while.
    suppress_health_check=[
        hypothesis.HealthCheck.function_scoped_fixture,
        hypothesis.HealthCheck.too_slow,
    ],
)
def test_every_answer_matches_the_document(case: Any, live_api: str, tenant: Tenant) -> None:
    case.call_and_validate(base_url=live_api, headers=tenant.auth)


async def test_a_stored_message_matches_the_document(live_api: str, tenant: Tenant) -> None:
    """Generated ids never name a stored message, so the 200 answer is checked here."""
    await deliver(tenant.workspace_id)
    operation = schema["/v1/messages/{message_id}"]["GET"]
    case = operation.Case(path_parameters={"message_id": MESSAGE_ID})
    response = case.call_and_validate(base_url=live_api, headers=tenant.auth)
    assert response.status_code == 200


async def test_stored_events_match_the_document(live_api: str, tenant: Tenant) -> None:
    """Generated requests meet a workspace without events: events of every kind (optional
    fields and all) are checked here."""
    await project_events(list(story(tenant.workspace_id).values()))
    cases = [
        schema["/v1/events"]["GET"].Case(query={"order": "oldest"}),
        schema["/v1/messages/{message_id}/events"]["GET"].Case(
            path_parameters={"message_id": "msg_b"}
        ),
    ]
    for case in cases:
        response = case.call_and_validate(base_url=live_api, headers=tenant.auth)
        assert response.status_code == 200
        assert response.json()["data"]


# --- the document itself ---------------------------------------------------------------------


@pytest.fixture
async def document(client: AsyncTestClient[Any]) -> dict[str, Any]:
    response = await client.get("/openapi.json")  # no key: the document is public
    assert response.status_code == 200
    found: dict[str, Any] = response.json()
    return found


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


async def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "Herald"
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI 3.1 meta-schema


async def test_the_tested_document_is_the_served_one(
    client: AsyncTestClient[Any], document: dict[str, Any]
) -> None:
    assert document == built_document()
    response = await client.get("/docs/openapi.json")
    assert response.json() == document


async def test_every_v1_operation_needs_the_bearer_key(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["security"] == [{"bearer": []}]
    found = dict(operations(document))
    v1 = {name: op for name, op in found.items() if name.split(" ")[1].startswith("/v1/")}
    assert v1
    for name, operation in v1.items():
        assert operation.get("security", document["security"]) == [{"bearer": []}], name
    assert found["GET /health"]["security"] == []


async def test_every_error_is_a_documented_problem(document: dict[str, Any]) -> None:
    wrong = []
    for name, operation in operations(document):
        responses = operation["responses"]
        if operation.get("security", document["security"]) and "401" not in responses:
            wrong.append(f"{name}: no 401")
        for status, response in responses.items():
            if "X-Request-Id" not in response["headers"]:
                wrong.append(f"{name} {status}: no X-Request-Id")
            problem = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
            content = {
                media: {"schema": c["schema"]} for media, c in response.get("content", {}).items()
            }
            if int(status) >= 400 and content != problem:
                wrong.append(f"{name} {status}: not a problem")
    assert not wrong, "\n".join(wrong)


async def test_docs_page_is_html_and_needs_no_key(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/docs/openapi.json" in response.text


async def test_the_validator_rejects_a_broken_document(document: dict[str, Any]) -> None:
    broken = {key: value for key, value in document.items() if key != "info"}
    with pytest.raises(ValueError, match='"info" is a required property'):
        schemathesis.openapi.from_dict(broken).validate()
