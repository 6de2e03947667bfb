"""Signed tracking and unsubscribe links: what the worker writes, the API can check, and
nothing changed along the way passes."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import orjson
import pytest

from config.settings import load_settings
from streams import verp
from streams.links import MAX_LINK, Kind, LinkData, Links, encode_token, sign, verify

KEY = b"k" * 32
BASE = "https://mail.example.com"
DATA = LinkData(
    message_id="msg_01jqz8m4t6v2k9c3x5b7n1p0rd",
    workspace_id="ws_5f1c0d9e8a7b6c5d4e3f2a1b",
    recipient="ann@example.com",
    program="newsletter",
    list_id="weekly",
    accepted_at=1_700_000_000,
)
LINKS = Links(BASE, KEY, "bounces.example.com")


def segment(url: str, kind: str) -> str:
    """The ``<token>.<signature>`` part of a link, checking the path shape on the way."""
    path = urlsplit(url).path
    prefix = f"/t/{kind}/"
    assert url.startswith(BASE + prefix), url
    return path.removeprefix(prefix)


def test_each_link_verifies_as_its_own_kind_only() -> None:
    opened = segment(LINKS.open_url(DATA), "o")
    unsubscribe = segment(LINKS.unsubscribe_url(DATA), "u")

    assert verify("open", opened, key=KEY) == DATA
    assert verify("unsubscribe", unsubscribe, key=KEY) == DATA
    assert verify("unsubscribe", opened, key=KEY) is None
    assert verify("open", unsubscribe, key=KEY) is None


def test_a_click_link_verifies_only_with_its_own_destination() -> None:
    destination = "https://acme.example/offer?a=1&b=ü #top"
    url = LINKS.click_url(DATA, destination)
    link = segment(url, "c")
    [carried] = parse_qs(urlsplit(url).query)["u"]

    assert carried == destination
    assert verify("click", link, key=KEY, destination=destination) == DATA
    assert verify("click", link, key=KEY, destination="https://evil.example/") is None
    assert verify("click", link, key=KEY) is None  # a click is never valid without one


def test_a_changed_character_anywhere_fails() -> None:
    link = segment(LINKS.open_url(DATA), "o")
    for i, char in enumerate(link):
        if char == ".":
            continue
        changed = link[:i] + ("A" if char != "A" else "B") + link[i + 1 :]
        assert verify("open", changed, key=KEY) is None, i


def test_another_key_fails() -> None:
    link = segment(LINKS.open_url(DATA), "o")
    assert verify("open", link, key=b"x" * 32) is None


def test_a_token_edited_to_name_another_recipient_fails() -> None:
    link = segment(LINKS.unsubscribe_url(DATA), "u")
    _, signature = link.split(".")
    other = encode_token(replace(DATA, recipient="bob@example.com"))
    assert verify("unsubscribe", f"{other}.{signature}", key=KEY) is None


@pytest.mark.parametrize(
    "link",
    ["", "nodot", ".", "abc.", ".abc", "a+b.c", "abc.d/e", "a" * (MAX_LINK + 1) + ".x"],
)
def test_malformed_links_are_refused(link: str) -> None:
    assert verify("open", link, key=KEY) is None


def test_a_well_signed_token_of_an_unknown_shape_is_refused() -> None:
    token = base64.urlsafe_b64encode(orjson.dumps([99, "x"])).rstrip(b"=").decode()
    kind: Kind = "open"
    assert verify(kind, f"{token}.{sign(kind, token, key=KEY)}", key=KEY) is None


def test_links_are_deterministic_url_safe_and_reasonably_short() -> None:
    url = LINKS.open_url(DATA)
    assert url == LINKS.open_url(DATA)
    assert unquote(url) == url  # nothing that needs escaping
    assert len(url) < 250


def test_the_mailto_and_return_path_are_signed_verp_addresses() -> None:
    mailto = LINKS.unsubscribe_mailto(DATA.message_id)
    bounce = LINKS.return_path(DATA.message_id)
    assert mailto is not None and bounce is not None
    assert verp.parse(
        mailto.removeprefix("mailto:"), domain="bounces.example.com", key=KEY
    ) == verp.Verp("unsubscribe", DATA.message_id)
    assert verp.parse(bounce, domain="bounces.example.com", key=KEY) == verp.Verp(
        "bounce", DATA.message_id
    )
    no_domain = Links(BASE, KEY)
    assert no_domain.unsubscribe_mailto(DATA.message_id) is None
    assert no_domain.return_path(DATA.message_id) is None


def test_our_own_links_are_recognised() -> None:
    assert LINKS.is_ours(LINKS.unsubscribe_url(DATA))
    assert not LINKS.is_ours("https://mail.example.com/pricing")
    assert not LINKS.is_ours("https://acme.example/t/u/x")


def test_from_settings_uses_the_public_url_and_the_shared_key(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path, public_url="https://mail.example.com/", bounce_domain="b.example"
    )
    first, again = Links.from_settings(settings), Links.from_settings(settings)
    assert first.base_url == "https://mail.example.com"
    assert first.bounce_domain == "b.example"
    assert first.key == again.key and len(first.key) == 32
    assert repr(first.key) not in repr(first)
