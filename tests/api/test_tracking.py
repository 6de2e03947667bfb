"""Tracking tests over real HTTP: pixel, click redirect, tampered link, one-click unsubscribe.

The links are taken from a message built the way the worker builds it, and followed with a
real HTTP client against the app served by uvicorn on a loopback port, redirects not
followed, so each answer is seen exactly as a mail client or browser would see it.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from agents.mime import build_message
from api.app import create_app
from api.producer import MemorySendProducer
from config.settings import Settings, load_settings
from streams.links import LinkData, Links
from streams.records import Content, Delivery, Event, decode
from streams.topics import OUTCOMES
from tables import database

MSG = "msg_01jqz8m4t6v2k9c3x5b7n1p0rd"
SCANNER = "Mozilla/5.0 (compatible; LinkChecker)"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture
async def settings(tmp_path: Path, listener: socket.socket) -> Settings:
    """The links in mail point at the live server below."""
    host, port = listener.getsockname()
    found = load_settings(
        data_dir=tmp_path,
        database_url=None,
        public_url=f"http://{host}:{port}",
        secret_key="tracking-test-secret",
        bounce_domain="bounces.example.com",
    )
    await database.migrate(found)
    return found


@pytest.fixture
async def http(
    settings: Settings, producer: MemorySendProducer, listener: socket.socket
) -> AsyncIterator[httpx.AsyncClient]:
    # As ``herald api`` runs it: Herald, not uvicorn, decides which proxies to believe.
    app = create_app(settings, producer)
    config = uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(follow_redirects=False, timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def mail(settings: Settings, **content: Any) -> EmailMessage:
    """The message the worker would send, parsed as the recipient's client parses it."""
    fields: dict[str, Any] = {
        "sender": "Acme <news@acme.example>",
        "subject": "Spring offers",
        "to": ("ann@example.com",),
        "html": '<html><body><a href="https://acme.example/offer?a=1&amp;b=2">Offer</a>'
        '<a href="https://acme.example/other">Other</a></body></html>',
        "program": "newsletter",
        "list_id": "weekly",
        "track_opens": True,
        "track_clicks": True,
    }
    fields.update(content)
    delivery = Delivery(MSG, "req_1", "ws_1", "ann@example.com", Content(**fields), time.time())
    raw = build_message(delivery, Links.from_settings(settings))
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


class Urls(HTMLParser):
    def __init__(self, message: EmailMessage) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.images: list[str] = []
        part = message.get_body(preferencelist=("html",))
        assert part is not None
        self.feed(str(part.get_content()))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("href"):
            self.hrefs.append(found["href"] or "")
        if tag == "img" and found.get("src"):
            self.images.append(found["src"] or "")


def unsubscribe_url(message: EmailMessage) -> str:
    first = message["List-Unsubscribe"].split(",")[0].strip()
    return first.removeprefix("<").removesuffix(">")


async def events(producer: MemorySendProducer, count: int, timeout: float = 5.0) -> list[Event]:
    """The raw events on herald.outcomes once there are ``count`` (opens and clicks are
    published just after the answer)."""
    deadline = time.monotonic() + timeout
    while len(producer.on(OUTCOMES.name)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} events published"
        await asyncio.sleep(0.01)
    found = producer.on(OUTCOMES.name)
    assert all(p.key == MSG.encode() for p in found)
    return [decode(p.value, Event) for p in found]


def tampered(url: str, at: str) -> str:
    """``url`` with one character of its token (or signature) changed."""
    index = url.index(at) + len(at) + 5
    return url[:index] + ("A" if url[index] != "A" else "B") + url[index + 1 :]


async def test_the_pixel_is_an_uncached_gif_and_records_an_open(
    settings: Settings, http: httpx.AsyncClient, producer: MemorySendProducer
) -> None:
    [pixel] = Urls(mail(settings)).images
    answer = await http.get(pixel, headers={"User-Agent": "Thunderbird/128"})

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/gif"
    assert answer.content.startswith(b"GIF89a") and len(answer.content) < 100
    assert "no-store" in answer.headers["cache-control"]
    [opened] = await events(producer, 1)
    assert (opened.type, opened.message_id, opened.recipient) == ("opened", MSG, "ann@example.com")
    assert (opened.workspace_id, opened.program, opened.list_id) == ("ws_1", "newsletter", "weekly")
    assert (opened.ip, opened.user_agent) == ("127.0.0.1", "Thunderbird/128")
    assert opened.machine is False  # judged downstream, by the timeline


async def test_every_open_is_a_new_event(
    settings: Settings, http: httpx.AsyncClient, producer: MemorySendProducer
) -> None:
    [pixel] = Urls(mail(settings)).images
    await http.get(pixel)
    await http.get(pixel)
    first, second = await events(producer, 2)
    assert first.event_id != second.event_id


async def test_a_click_redirects_to_the_destination_and_records_it(
    settings: Settings, http: httpx.AsyncClient, producer: MemorySendProducer
) -> None:
    offer, _ = Urls(mail(settings)).hrefs
    answer = await http.get(offer)

    assert answer.status_code == 302
    assert answer.headers["location"] == "https://acme.example/offer?a=1&b=2"
    [clicked] = await events(producer, 1)
    assert (clicked.type, clicked.url) == ("clicked", "https://acme.example/offer?a=1&b=2")


@pytest.mark.parametrize("part", ["/t/c/", "?u="])
async def test_a_tampered_click_link_is_refused_without_redirect_or_event(
    settings: Settings, http: httpx.AsyncClient, producer: MemorySendProducer, part: str
) -> None:
    offer, other = Urls(mail(settings)).hrefs
    answer = await http.get(tampered(offer, part))

    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"].endswith("/bad-link")
    assert "location" not in answer.headers
    # A good click after the bad one: once its event is there, the bad one would be too.
    assert (await http.get(other)).status_code == 302
    assert [e.url for e in await events(producer, 1)] == ["https://acme.example/other"]


async def test_a_destination_swapped_for_another_is_refused(
    settings: Settings, http: httpx.AsyncClient, producer: MemorySendProducer
) -> None:
    offer, _ = Urls(mail(settings)).hrefs
    swapped = offer.split("?u=")[0] + "?u=https%3A%2F%2Fevil.example%2F"
    answer = await http.get(swapped)
    assert answer.status_code == 400 and "location" not in answer.headers
    assert producer.on(OUTCOMES.name) == []


async def test_a_signed_link_to_something_other_than_the_web_is_refused(
    settings: Settings, http: httpx.AsyncClient
) -> None:
    data = LinkData(MSG, "ws_1", "ann@example.com")
    url = Links.from_settings(settings).click_url(data, "javascript:alert(1)")
    answer = await http.get(url)
    assert answer.status_code == 400 and "location" not in answer.headers


async def test_one_click_unsubscribe_records_the_list_and_answers_200(
    settings: Settings, http: httpx.AsyncClient, producer: MemorySendProducer
) -> None:
    message = mail(settings)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    answer = await http.post(unsubscribe_url(message), data=ONE_CLICK)

    assert answer.status_code == 200
    [unsubscribed] = producer.on(OUTCOMES.name)  # published before the answer
    event = decode(unsubscribed.value, Event)
    assert (event.type, event.unsubscribe_scope, event.list_id) == (
        "unsubscribed",
        "list",
        "weekly",
    )
    assert event.recipient == "ann@example.com"


async def test_one_click_without_a_list_stops_the_program(
    settings: Settings, http: httpx.AsyncClient, producer: MemorySendProducer
) -> None:
    answer = await http.post(unsubscribe_url(mail(settings, list_id=None)), data=ONE_CLICK)
    assert answer.status_code == 200
    [event] = await events(producer, 1)
    assert (event.unsubscribe_scope, event.program) == ("program", "newsletter")


async def test_the_unsubscribe_page_changes_nothing_until_its_form_is_sent(
    settings: Settings, http: httpx.AsyncClient, producer: MemorySendProducer
) -> None:
    url = unsubscribe_url(mail(settings))
    page = await http.get(url, headers={"User-Agent": SCANNER})

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<form method="post">' in page.text and 'value="global"' in page.text
    assert "weekly" in page.text and "ann@example.com" not in page.text  # address masked
    assert producer.on(OUTCOMES.name) == []

    done = await http.post(url, data={"scope": "global"})
    assert done.status_code == 200 and "unsubscribed" in done.text
    [event] = await events(producer, 1)
    assert event.unsubscribe_scope == "global"


async def test_a_tampered_unsubscribe_link_is_refused(
    settings: Settings, http: httpx.AsyncClient, producer: MemorySendProducer
) -> None:
    url = tampered(unsubscribe_url(mail(settings)), "/t/u/")
    assert (await http.get(url)).status_code == 400
    assert (await http.post(url, data=ONE_CLICK)).status_code == 400
    assert producer.on(OUTCOMES.name) == []


async def test_with_kafka_down_opens_and_clicks_still_work_but_unsubscribe_asks_to_retry(
    settings: Settings, http: httpx.AsyncClient, producer: MemorySendProducer
) -> None:
    message = mail(settings)
    producer.fail = True
    [pixel] = Urls(message).images
    offer, _ = Urls(message).hrefs

    assert (await http.get(pixel)).headers["content-type"] == "image/gif"
    assert (await http.get(offer)).status_code == 302
    refused = await http.post(unsubscribe_url(message), data=ONE_CLICK)
    assert refused.status_code == 503
    assert refused.headers["content-type"].startswith("application/problem+json")

    producer.fail = False
    assert (await http.post(unsubscribe_url(message), data=ONE_CLICK)).status_code == 200


async def test_a_forged_forwarded_for_is_not_believed(
    settings: Settings, http: httpx.AsyncClient, producer: MemorySendProducer
) -> None:
    [pixel] = Urls(mail(settings)).images
    await http.get(pixel, headers={"X-Forwarded-For": "198.51.100.9"})
    [opened] = await events(producer, 1)
    assert opened.ip == "127.0.0.1"
