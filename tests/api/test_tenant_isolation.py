"""Tenant isolation, walked over every route the app serves: with its own key, workspace A
asks for each of workspace B's resources by id, and gets exactly what it gets for an id that
never existed. Nothing in A's lists names B's resources.

The walk reads the routes from the app itself, so a new route with a path parameter fails
here until this file knows how to make a resource of that kind in workspace B.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from streams.records import (
    Event,
    Suppression,
    SuppressionChange,
    WebhookEndpoint,
    WebhookSecret,
    event_id,
)
from streams.suppressions import entry_id
from tables import keys, webhooks
from tables.messages import project_events
from tables.suppressions import apply_changes
from tests.api.support import Tenant

NEVER_EXISTED = {
    "key_id": "key_AAAAAAAAAAAAAAAA",
    "message_id": "msg_00000000000000000000000000",
    "suppression_id": "sup_00000000000000000000000000",
    "webhook_id": "wh_00000000000000000000000000",
}
# Reads that need a query to mean anything. B suppressed all of example.com: A must not see it.
QUERIES = {"/v1/suppressions/check": "?email=ada@example.com"}
PARAMETER = re.compile(r"\{(?P<name>\w+)(?::\w+)?\}")


async def foreign_resources(other: Tenant) -> dict[str, str]:
    """One resource of each kind in workspace B, by path parameter name."""
    record, _ = await keys.create_key(other.workspace_id, name="theirs")
    message_id = "msg_01jf0000000000000000000001"
    await project_events(
        [
            Event(
                event_id=event_id(message_id, "queued", 0),
                type="queued",
                message_id=message_id,
                workspace_id=other.workspace_id,
                recipient="secret-customer@example.com",
                at=1_700_000_000.0,
                sender="b@globex.example",
                subject="Their mail",
            )
        ]
    )
    domain = Suppression(
        id=entry_id(other.workspace_id, "global", "", "@example.com"),
        workspace_id=other.workspace_id,
        value="@example.com",
        scope="global",
        scope_value="",
        reason="complaint",
        source="complaint",
        created_at=1_700_000_000.0,
    )
    await apply_changes([SuppressionChange("add", domain, domain.created_at)])
    hook = WebhookEndpoint(
        id="wh_01jf0000000000000000000001",
        workspace_id=other.workspace_id,
        url="https://hooks.globex.example/secret-customer",
        secrets=(WebhookSecret("sealed"),),
        created_at=1_700_000_000.0,
        changed_at=1_700_000_000.0,
    )
    await webhooks.apply_endpoints([hook])
    return {
        "key_id": record.id,
        "message_id": message_id,
        "suppression_id": domain.id,
        "webhook_id": hook.id,
    }


def routes(app: Litestar) -> list[tuple[str, str]]:
    """(method, path template) of every route under /v1."""
    found = []
    for route in app.routes:
        if not route.path.startswith("/v1"):
            continue
        for method in sorted(getattr(route, "methods", ())):
            if method not in ("HEAD", "OPTIONS"):
                found.append((method, route.path))
    return found


def fill(template: str, ids: dict[str, str]) -> str:
    return PARAMETER.sub(lambda m: ids[m.group("name")], template)


def comparable(response: Any, *ids: str) -> tuple[int, str]:
    """Status and body with the request id and the asked-for id blanked out."""
    text = re.sub(r"req_[0-9a-z]{26}", "REQ", response.text)
    for id_ in ids:
        text = text.replace(id_, "ID")
    return response.status_code, text


async def test_a_foreign_id_looks_exactly_like_one_that_never_existed(
    client: AsyncTestClient[Any],
    tenant: Tenant,
    make_tenant: Callable[[str], Awaitable[Tenant]],
) -> None:
    theirs = await foreign_resources(await make_tenant("globex"))
    walked = []
    for method, template in routes(client.app):
        names = PARAMETER.findall(template)
        if not names:
            continue
        unknown = [n for n in names if n not in theirs]
        assert not unknown, f"{method} {template}: teach this test to make a {unknown}"
        foreign = await client.request(method, fill(template, theirs), headers=tenant.auth)
        missing = await client.request(method, fill(template, NEVER_EXISTED), headers=tenant.auth)

        assert foreign.status_code == 404, (method, template, foreign.text)
        assert comparable(foreign, *theirs.values()) == comparable(
            missing, *NEVER_EXISTED.values()
        ), (method, template)
        walked.append((method, template))
    assert len(walked) >= 4  # the message, and reading, rotating and revoking keys


async def test_lists_never_name_another_workspaces_resources(
    client: AsyncTestClient[Any],
    tenant: Tenant,
    make_tenant: Callable[[str], Awaitable[Tenant]],
) -> None:
    theirs = await foreign_resources(await make_tenant("globex"))
    listed = 0
    for method, template in routes(client.app):
        if method != "GET" or PARAMETER.search(template):
            continue
        response = await client.get(template + QUERIES.get(template, ""), headers=tenant.auth)
        assert response.status_code == 200, (template, response.text)
        for id_ in theirs.values():
            assert id_ not in response.text, template
        assert "globex" not in response.text and "secret-customer" not in response.text
        listed += 1
    assert listed >= 2  # the key list and the workspace


async def test_every_v1_route_refuses_a_request_without_a_key(
    client: AsyncTestClient[Any],
) -> None:
    """The key check is the /v1 router's guard: every route under it, whatever it does."""
    walked = routes(client.app)
    assert len(walked) > 10
    for method, template in walked:
        response = await client.request(method, fill(template, NEVER_EXISTED))
        assert response.status_code == 401, (method, template, response.text)
