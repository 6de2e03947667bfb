"""``herald api`` serving HTTPS itself, as a real process, with Kafka down: TLS verified
against a test CA, HSTS on every response, clear refusals of a bad TLS setup, and sends
refused with 503 while everything else keeps answering."""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme

from tests.integration.stack import Stack, eventually, free_port
from tests.support.seed import SEED
from tests.support.smtp_server import SmtpTestServer

pytestmark = pytest.mark.integration

HSTS = "max-age=31536000; includeSubDomains"


@dataclass
class TlsFiles:
    ca: trustme.CA
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(ca, tmp_path / "cert.pem", tmp_path / "key.pem")
    server.private_key_pem.write_to_path(str(files.key))
    files.cert.write_bytes(b"".join(pem.bytes() for pem in server.cert_chain_pems))
    return files


def offline_stack(smtp: SmtpTestServer, workdir: Path, env: dict[str, str]) -> Stack:
    """A stack whose Kafka is a local port nobody listens on."""
    return Stack(bootstrap=f"127.0.0.1:{free_port()}", smtp=smtp, workdir=workdir, extra_env=env)


@pytest.fixture
async def https_stack(
    smtp: SmtpTestServer, tls: TlsFiles, tmp_path: Path
) -> AsyncIterator[tuple[Stack, httpx.AsyncClient]]:
    """``herald api`` over HTTPS with Kafka down, and a client that trusts only the test CA."""
    stack = offline_stack(
        smtp, tmp_path, {"HERALD_TLS_CERT": str(tls.cert), "HERALD_TLS_KEY": str(tls.key)}
    )
    stack.cli("db", "migrate")
    stack.key = stack.cli("keys", "create", "--workspace", "acme").stdout.strip()
    stack.start("api")
    base = f"https://127.0.0.1:{stack.api_port}"
    try:
        async with httpx.AsyncClient(
            base_url=base, verify=tls.client_context(), timeout=30
        ) as client:

            async def healthy() -> bool:
                try:
                    return (await client.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(healthy, timeout=60, what="the API to answer /health over HTTPS")
            yield stack, client
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.stop_all()


async def test_health_answers_over_verified_tls_with_hsts(https_stack):
    _, client = https_stack
    r = await client.get("/health")
    assert r.status_code == 200
    assert r.headers["strict-transport-security"] == HSTS


async def test_an_authenticated_miss_is_a_problem_with_hsts(https_stack):
    stack, client = https_stack
    r = await client.get("/v1/messages/msg_00000000000000000000000000", headers=stack.headers())
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["strict-transport-security"] == HSTS


async def test_plain_http_to_the_tls_port_gets_no_answer(https_stack):
    stack, _ = https_stack
    async with httpx.AsyncClient(timeout=10) as plain:
        try:
            r = await plain.get(f"http://127.0.0.1:{stack.api_port}/health")
        except httpx.TransportError:
            return  # the TLS server dropped the connection: the expected outcome
    assert r.status_code != 200


async def test_with_kafka_down_sends_are_refused_and_health_stays_up(https_stack):
    stack, client = https_stack
    r = await client.post("/v1/emails", json=SEED, headers=stack.headers())
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"].endswith("/queue-unavailable")
    assert "messages" not in problem
    assert r.headers["strict-transport-security"] == HSTS
    assert (await client.get("/health")).status_code == 200


def run_api(stack: Stack) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "herald", "api"],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_certificate_without_a_key_stops_the_api_with_one_line(smtp, tls, tmp_path):
    stack = offline_stack(smtp, tmp_path, {"HERALD_TLS_CERT": str(tls.cert)})
    done = run_api(stack)
    assert done.returncode == 2
    assert done.stderr.startswith("herald: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "tls_cert and tls_key" in done.stderr


@pytest.mark.parametrize("broken", ["missing", "not-pem", "other-key"])
def test_an_unusable_certificate_or_key_stops_the_api_with_one_line(smtp, tls, tmp_path, broken):
    key = tls.key
    if broken == "missing":
        key = tmp_path / "missing.pem"
    elif broken == "not-pem":
        key = tmp_path / "junk.pem"
        key.write_text("not a key\n")
    else:
        key = tmp_path / "other.pem"
        tls.ca.issue_cert("other.example").private_key_pem.write_to_path(str(key))
    stack = offline_stack(
        smtp, tmp_path, {"HERALD_TLS_CERT": str(tls.cert), "HERALD_TLS_KEY": str(key)}
    )
    done = run_api(stack)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("herald: ")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert str(key) in done.stderr
