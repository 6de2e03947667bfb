"""Two real ``herald api`` processes on one database, as behind a load balancer: a key revoked
or rotated through one is refused by the other within a second, the per-key rate limit holds
for both together, and IP allowlists see the real client address."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.stack import Stack, free_port
from tests.support.smtp_server import SmtpTestServer

pytestmark = pytest.mark.integration

MISSING_MESSAGE = "/v1/messages/msg_00000000000000000000000000"


@dataclass
class Pair:
    a: Stack
    b: Stack
    client: httpx.AsyncClient

    async def status(self, stack: Stack, key: str, **headers: str) -> int:
        response = await self.client.get(
            stack.url + MISSING_MESSAGE, headers={"Authorization": f"Bearer {key}", **headers}
        )
        return response.status_code

    async def create_key(self, **body: object) -> dict[str, str]:
        response = await self.client.post(
            self.a.url + "/v1/api-keys", json=body, headers=self.a.headers()
        )
        assert response.status_code == 201, response.text
        created: dict[str, str] = response.json()
        return created


@pytest.fixture
async def pair(smtp: SmtpTestServer, tmp_path: Path) -> AsyncIterator[Pair]:
    """API ``a`` and API ``b`` sharing one SQLite database (Kafka is not needed: the API starts
    without it). ``b`` believes X-Forwarded-For from 127.0.0.1, ``a`` believes no proxy."""
    database = {"HERALD_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}"}
    kafka = f"127.0.0.1:{free_port()}"  # nobody listens there
    a = Stack(bootstrap=kafka, smtp=smtp, workdir=tmp_path / "a", extra_env=database)
    b = Stack(
        bootstrap=kafka,
        smtp=smtp,
        workdir=tmp_path / "b",
        extra_env={**database, "HERALD_TRUSTED_PROXIES": json.dumps(["127.0.0.1/32"])},
    )
    for stack in (a, b):
        stack.workdir.mkdir()
    a.cli("db", "migrate")
    a.cli("plans", "set", "tight", *("--key-rate", "2", "--key-burst", "10"),
          *("--send-rate", "100", "--send-burst", "100"))  # fmt: skip
    a.key = b.key = a.cli("keys", "create", "--workspace", "acme").stdout.strip()
    a.start("api")
    b.start("api")
    try:
        await asyncio.gather(a.wait_api(), b.wait_api())
        async with httpx.AsyncClient(timeout=10) as client:
            yield Pair(a, b, client)
    finally:
        a.stop_all()
        b.stop_all()


async def refused_within(pair: Pair, stack: Stack, key: str, seconds: float) -> float:
    """Poll ``stack`` with ``key`` until it answers 401; return how long that took."""
    started = time.monotonic()
    while await pair.status(stack, key) != 401:
        elapsed = time.monotonic() - started
        assert elapsed < seconds, f"{stack.url} still accepts the key after {elapsed:.2f}s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_a_key_revoked_on_one_process_is_refused_by_the_other_within_a_second(
    pair: Pair,
) -> None:
    doomed = await pair.create_key(name="doomed")
    assert await pair.status(pair.a, doomed["key"]) == 404
    assert await pair.status(pair.b, doomed["key"]) == 404  # b has it in its cache now

    revoked = await pair.client.delete(
        f"{pair.a.url}/v1/api-keys/{doomed['id']}", headers=pair.a.headers()
    )
    assert revoked.status_code == 200

    took = await refused_within(pair, pair.b, doomed["key"], seconds=1.0)
    print(f"revoked on a, refused by b after {took:.3f}s")
    assert await pair.status(pair.a, doomed["key"]) == 401


async def test_a_rotated_key_works_on_both_processes_until_its_expiry(pair: Pair) -> None:
    old = await pair.create_key(name="ci")
    assert await pair.status(pair.b, old["key"]) == 404
    rotated = await pair.client.post(
        f"{pair.a.url}/v1/api-keys/{old['id']}/rotate",
        json={"expires_in": 2},
        headers=pair.a.headers(),
    )
    new_key = rotated.json()["key"]["key"]
    rotated_at = time.monotonic()

    assert await pair.status(pair.b, old["key"]) == 404
    assert await pair.status(pair.b, new_key) == 404
    await refused_within(pair, pair.b, old["key"], seconds=3.5)
    assert time.monotonic() - rotated_at > 1.5  # it kept working through the overlap
    assert await pair.status(pair.a, new_key) == 404


async def test_the_rate_limit_holds_across_two_processes(pair: Pair) -> None:
    pair.a.cli("workspaces", "set-plan", "acme", "tight")  # 2 requests/s, bursts of 10
    await asyncio.sleep(1.2)  # both processes drop their cached copy of the old plan
    key = (await pair.create_key(name="limited"))["key"]

    started = time.monotonic()
    admitted, refused, stacks = 0, 0, (pair.a, pair.b)
    for i in range(60):  # as fast as the two APIs answer, alternating between them
        code = await pair.status(stacks[i % 2], key)
        admitted += code == 404
        refused += code == 429
    elapsed = time.monotonic() - started

    # burst + rate x time, plus at most one leased token per process.
    ceiling = 10 + 2 * elapsed + 2
    print(f"admitted {admitted} of 60 in {elapsed:.2f}s (ceiling {ceiling:.1f})")
    assert 10 <= admitted <= ceiling
    assert admitted + refused == 60
    # A token comes back every 0.5 s, so one request may find one; of two in a row, at most
    # one can.
    answers = [
        await pair.client.get(
            pair.b.url + MISSING_MESSAGE, headers={"Authorization": f"Bearer {key}"}
        )
        for _ in range(2)
    ]
    refused_now = [answer for answer in answers if answer.status_code == 429]
    assert refused_now, [answer.status_code for answer in answers]
    response = refused_now[-1]
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["x-ratelimit-remaining"] == "0"


async def test_allowlists_see_the_socket_address_or_a_trusted_proxys_client(pair: Pair) -> None:
    local = (await pair.create_key(allowed_ips=["127.0.0.1/32"]))["key"]
    office = (await pair.create_key(allowed_ips=["10.0.0.0/8"]))["key"]

    assert await pair.status(pair.a, local) == 404
    assert await pair.status(pair.a, office) == 403
    # a does not trust any proxy: a forged X-Forwarded-For changes nothing.
    assert await pair.status(pair.a, office, **{"X-Forwarded-For": "10.1.2.3"}) == 403
    # b trusts 127.0.0.1 as a proxy: the client behind it is 10.1.2.3.
    assert await pair.status(pair.b, office, **{"X-Forwarded-For": "10.1.2.3"}) == 404
    assert await pair.status(pair.b, local, **{"X-Forwarded-For": "10.1.2.3"}) == 403
