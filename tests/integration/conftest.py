"""Integration fixtures: a real broker per test (fresh topics, offsets and consumer groups), a
real SMTP server, and the stack's processes around them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from config.broker import EmbeddedBroker
from streams.admin import ensure_topics
from streams.topics import all_topics
from tests.integration.stack import Stack, broker_settings
from tests.support.smtp_server import SmtpTestServer


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed integration test reports the stack's process stacks and logs with it."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    stack = getattr(item, "funcargs", {}).get("stack")
    if report.when == "call" and report.failed and isinstance(stack, Stack):
        report.sections.append(("herald processes", stack.post_mortem()))


@pytest.fixture
async def kafka(tmp_path: Path) -> AsyncIterator[str]:
    settings = broker_settings(tmp_path / "broker")
    broker = EmbeddedBroker(settings)
    await broker.start()
    try:
        # The stack uses a three-step retry schedule: three retry topics.
        await ensure_topics(settings, all_topics(3))
        yield settings.bootstrap
    finally:
        await broker.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


@pytest.fixture
async def stack(kafka: str, smtp: SmtpTestServer, tmp_path: Path) -> AsyncIterator[Stack]:
    """Database migrated and a key created through the CLI, API up; the worker is started by
    each test (some kill and restart it)."""
    s = Stack(bootstrap=kafka, smtp=smtp, workdir=tmp_path)
    s.cli("db", "migrate")
    s.key = s.cli("keys", "create", "--workspace", "acme").stdout.strip()
    s.start("api")
    try:
        await s.wait_api()
        yield s
    finally:
        s.stop_all()
