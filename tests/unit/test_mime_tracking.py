"""What tracking, List-Unsubscribe and VERP do to the message a recipient gets, checked on
the wire and against the API's side of the link contract (:func:`streams.links.verify`)."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
from collections.abc import AsyncIterator
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from agents.mailer import MemoryMailer, parse_smtp_url
from agents.mime import build_message, dsn_options, envelope_sender, rewrite_hrefs, xtext
from agents.smtp import SmtpPoolMailer
from streams import verp
from streams.links import LinkData, Links, verify
from streams.records import Content, Delivery

KEY = b"s" * 32
BASE = "https://mail.example.com"
LINKS = Links(BASE, KEY, "bounces.example.com")
MSG = "msg_01jqz8m4t6v2k9c3x5b7n1p0rd"
HTML = """<html><body>
<p>Hi! <a href="https://acme.example/offer?a=1&amp;b=2" class="cta">Offer</a>
<A HREF='http://acme.example/caps'>caps</A> <a href=https://acme.example/bare>bare</a>
<a href="mailto:help@acme.example">mail</a> <a href="tel:+15551234">call</a>
<a href="#top">top</a> <a href="/relative">rel</a> <a href="javascript:alert(1)">js</a>
<!-- <a href="https://acme.example/commented">hidden</a> -->
<map><area href="https://acme.example/area" alt="x"></map></p>
</body></html>"""


def make_delivery(**content: Any) -> Delivery:
    fields: dict[str, Any] = {
        "sender": "Acme News <news@acme.example>",
        "subject": "Hello",
        "to": ("ann@example.com",),
        "text": "Visit https://acme.example/offer",
        "html": HTML,
    }
    fields.update(content)
    return Delivery(
        message_id=MSG,
        request_id="req_01",
        workspace_id="ws_01",
        recipient="ann@example.com",
        content=Content(**fields),
        accepted_at=1_700_000_000.0,
    )


def on_the_wire(delivery: Delivery, links: Links | None = LINKS) -> EmailMessage:
    raw = build_message(delivery, links)
    raw.decode("ascii")  # still 7-bit clean
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


class Tags(HTMLParser):
    """Every tag's attributes, as a mail client reads them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def hrefs(self) -> list[str]:
        return [a["href"] or "" for t, a in self.tags if t in ("a", "area") and "href" in a]


def followed(url: str) -> tuple[str, str]:
    """What the API would do with a click link: (kind of link, destination it verified)."""
    parts = urlsplit(url)
    assert parts.path.startswith("/t/c/"), url
    [destination] = parse_qs(parts.query)["u"]
    data = verify("click", parts.path.removeprefix("/t/c/"), key=KEY, destination=destination)
    assert data == LinkData.of(make_delivery()), url
    return "click", destination


def test_every_web_link_in_the_html_goes_through_a_signed_click_link() -> None:
    msg = on_the_wire(make_delivery(track_clicks=True))
    hrefs = Tags(html_of(msg)).hrefs()

    wrapped = [followed(h)[1] for h in hrefs if h.startswith(BASE)]
    assert wrapped == [
        "https://acme.example/offer?a=1&b=2",
        "http://acme.example/caps",
        "https://acme.example/bare",
        "https://acme.example/area",
    ]
    untouched = [h for h in hrefs if not h.startswith(BASE)]
    assert untouched == [
        "mailto:help@acme.example",
        "tel:+15551234",
        "#top",
        "/relative",
        "javascript:alert(1)",
    ]
    assert "https://acme.example/commented" in html_of(msg)  # comments are left as they are
    assert 'class="cta"' in html_of(msg) and 'alt="x"' in html_of(msg)


def test_the_text_part_is_left_alone() -> None:
    msg = on_the_wire(make_delivery(track_clicks=True, track_opens=True))
    assert text_of(msg).strip() == "Visit https://acme.example/offer"


def test_herald_s_own_links_are_not_wrapped_again() -> None:
    own = LINKS.unsubscribe_url(LinkData.of(make_delivery()))
    msg = on_the_wire(make_delivery(track_clicks=True, html=f'<a href="{own}">stop</a>'))
    assert Tags(html_of(msg)).hrefs() == [own]


def test_the_open_pixel_sits_before_the_end_of_the_body_and_verifies() -> None:
    html = html_of(on_the_wire(make_delivery(track_opens=True)))
    [attrs] = [a for t, a in Tags(html).tags if t == "img"]
    src = attrs["src"] or ""

    assert (attrs["width"], attrs["height"], attrs["alt"]) == ("1", "1", "")
    assert src.startswith(f"{BASE}/t/o/")
    assert verify("open", src.removeprefix(f"{BASE}/t/o/"), key=KEY) == LinkData.of(make_delivery())
    assert html.index(src) < html.index("</body>")
    assert Tags(html).hrefs()[0] == "https://acme.example/offer?a=1&b=2"  # clicks not asked


def test_html_without_a_body_tag_gets_the_pixel_at_the_end() -> None:
    html = html_of(on_the_wire(make_delivery(track_opens=True, html="<p>Hi</p>")))
    assert html.rstrip().endswith("/>")
    assert html.startswith("<p>Hi</p><img ")


def test_no_pixel_when_not_asked_or_without_html() -> None:
    assert "/t/o/" not in html_of(on_the_wire(make_delivery()))
    text_only = on_the_wire(make_delivery(track_opens=True, track_clicks=True, html=None))
    assert "/t/" not in text_of(text_only)


@pytest.mark.parametrize(
    ("program", "list_id", "expected"),
    [
        ("transactional", None, False),
        ("transactional", "weekly", True),
        ("newsletter", None, True),
    ],
)
def test_list_unsubscribe_is_on_every_mail_but_plain_transactional(
    program: str, list_id: str | None, expected: bool
) -> None:
    msg = on_the_wire(make_delivery(program=program, list_id=list_id))
    assert (msg["List-Unsubscribe"] is not None) is expected
    assert (msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click") is expected


def test_list_unsubscribe_offers_the_signed_https_link_and_the_mailto() -> None:
    msg = on_the_wire(make_delivery(program="newsletter", list_id="weekly"))
    https, mailto = (part.strip().strip("<>") for part in msg["List-Unsubscribe"].split(","))

    assert https.startswith(f"{BASE}/t/u/")
    data = verify("unsubscribe", https.removeprefix(f"{BASE}/t/u/"), key=KEY)
    assert data is not None and (data.program, data.list_id) == ("newsletter", "weekly")
    address = mailto.removeprefix("mailto:")
    assert verp.parse(address, domain="bounces.example.com", key=KEY) == verp.Verp(
        "unsubscribe", MSG
    )


def test_without_a_bounce_domain_list_unsubscribe_has_only_the_link() -> None:
    msg = on_the_wire(make_delivery(program="newsletter"), Links(BASE, KEY))
    assert msg["List-Unsubscribe"].startswith(f"<{BASE}/t/u/")
    assert "mailto:" not in msg["List-Unsubscribe"]


def test_list_unsubscribe_is_never_an_encoded_word() -> None:
    raw = build_message(make_delivery(program="newsletter", list_id="weekly"), LINKS)
    [line] = [x for x in raw.split(b"\r\n") if x.startswith(b"List-Unsubscribe:")]
    assert b"=?" not in line and line.startswith(b"List-Unsubscribe: <https://")


def test_herald_s_list_unsubscribe_replaces_a_custom_one_only_when_it_sets_its_own() -> None:
    custom = {"List-Unsubscribe": "<https://acme.example/u>"}
    newsletter = on_the_wire(make_delivery(program="newsletter", headers=custom))
    transactional = on_the_wire(make_delivery(headers=custom))
    assert newsletter.get_all("List-Unsubscribe") == [newsletter["List-Unsubscribe"]]
    assert "acme.example/u" not in newsletter["List-Unsubscribe"]
    assert transactional["List-Unsubscribe"] == "<https://acme.example/u>"


def test_without_links_nothing_is_added() -> None:
    delivery = make_delivery(program="newsletter", track_opens=True, track_clicks=True)
    msg = on_the_wire(delivery, None)
    assert msg["List-Unsubscribe"] is None
    assert "/t/" not in html_of(msg)
    assert envelope_sender(delivery) == "news@acme.example"


def test_the_return_path_is_the_message_s_verp_address_with_a_bounce_domain() -> None:
    delivery = make_delivery()
    sender = envelope_sender(delivery, LINKS)
    assert verp.parse(sender, domain="bounces.example.com", key=KEY) == verp.Verp("bounce", MSG)
    assert envelope_sender(delivery, Links(BASE, KEY)) == "news@acme.example"


def test_the_same_delivery_gives_the_same_bytes_on_every_attempt() -> None:
    first = make_delivery(program="newsletter", track_opens=True, track_clicks=True)
    retry = first.next_attempt(due_at=1_700_000_600.0)
    assert build_message(retry, LINKS) == build_message(first, LINKS)


def test_dsn_is_asked_for_only_when_reports_come_back_to_herald() -> None:
    delivery = make_delivery()
    assert dsn_options(delivery, LINKS) == (
        ["RET=HDRS", f"ENVID={MSG}"],
        ["NOTIFY=SUCCESS,FAILURE,DELAY"],
    )
    assert dsn_options(delivery, Links(BASE, KEY)) == ([], [])
    assert dsn_options(delivery, None) == ([], [])
    assert xtext("a+b=c d\u00e9") == "a+2Bb+3Dc+20d+C3+A9"


def test_rewriting_keeps_everything_else_byte_for_byte() -> None:
    html = '<p class="x">caf&eacute;</p>\r\n<a title="a &quot;b&quot;" href="https://x/">y</a>'
    out = rewrite_hrefs(html, lambda href: href + "?t=1")
    assert (
        out
        == '<p class="x">caf&eacute;</p>\r\n<a title="a &quot;b&quot;" href="https://x/?t=1">y</a>'
    )
    assert rewrite_hrefs(html, lambda href: None) == html


async def test_the_memory_mailer_builds_messages_as_the_real_one() -> None:
    mailer = MemoryMailer(links=LINKS)
    await mailer.send(make_delivery(program="newsletter", track_opens=True))
    [sent] = mailer.sent
    assert sent.sender.startswith(f"b-{MSG}-") and sent.sender.endswith("@bounces.example.com")
    assert sent.message["List-Unsubscribe"] is not None


# --- on a real SMTP session --------------------------------------------------------------------


@contextlib.asynccontextmanager
async def relay(extensions: list[str], commands: list[str]) -> AsyncIterator[str]:
    """A minimal relay on a loopback port offering ``extensions``; records each command."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 relay ESMTP\r\n")
        while line := await reader.readline():
            command = line.decode().rstrip("\r\n")
            commands.append(command)
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                lines = ["relay", *extensions]
                reply = "".join(
                    f"250{'-' if i < len(lines) - 1 else ' '}{x}\r\n" for i, x in enumerate(lines)
                )
                writer.write(reply.encode())
            elif verb == "DATA":
                writer.write(b"354 go on\r\n")
                while await reader.readline() not in (b".\r\n", b""):
                    pass
                writer.write(b"250 2.0.0 queued\r\n")
            elif verb == "QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 2.0.0 ok\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"smtp://127.0.0.1:{port}?starttls=never"


async def transaction(extensions: list[str], links: Links) -> tuple[str, str]:
    """The MAIL and RCPT commands the pool sends for one delivery."""
    commands: list[str] = []
    async with relay(extensions, commands) as url:
        target = parse_smtp_url(url, timeout=5)
        async with SmtpPoolMailer(target, size=1, local_hostname="t", links=links) as mailer:
            result = await mailer.send(make_delivery(program="newsletter"))
        assert result.outcome == "sent", result
    [mail] = [c for c in commands if c.upper().startswith("MAIL")]
    [rcpt] = [c for c in commands if c.upper().startswith("RCPT")]
    return mail, rcpt


async def test_a_relay_offering_dsn_is_asked_for_reports_to_the_verp_address() -> None:
    mail, rcpt = await transaction(["DSN"], LINKS)
    assert mail.startswith(f"MAIL FROM:<b-{MSG}-") and "@bounces.example.com>" in mail
    assert f" RET=HDRS ENVID={MSG}" in mail
    assert rcpt == "RCPT TO:<ann@example.com> NOTIFY=SUCCESS,FAILURE,DELAY"


@pytest.mark.parametrize(
    ("extensions", "links"),
    [([], LINKS), (["DSN"], Links(BASE, KEY))],
    ids=["relay-without-dsn", "no-bounce-domain"],
)
async def test_no_dsn_options_unless_offered_and_reports_come_back_to_herald(
    extensions: list[str], links: Links
) -> None:
    mail, rcpt = await transaction(extensions, links)
    assert "RET=" not in mail and "ENVID=" not in mail
    assert rcpt == "RCPT TO:<ann@example.com>"
