"""Machine opens and clicks: privacy proxies, link scanners and bursts are flagged; people,
including people behind Gmail's and Yahoo's image proxies, are not."""

from __future__ import annotations

import pytest

from agents.machine import judge_click, judge_open

SENT = 1_000.0
LATER = SENT + 3_600
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Safari/605.1.15"
)
APPLE_MAIL = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro) ms-office"


def opened(
    ip: str | None = "203.0.113.7", agent: str | None = CHROME, at: float = LATER
) -> str | None:
    return judge_open(at=at, sent_at=SENT, ip=ip, user_agent=agent)


def clicked(
    agent: str | None = CHROME,
    at: float = LATER,
    url: str = "https://acme.example/a",
    recent: list[tuple[float, str]] | None = None,
    sent_at: float | None = SENT,
) -> str | None:
    return judge_click(
        at=at,
        sent_at=sent_at,
        ip="203.0.113.7",
        user_agent=agent,
        url=url,
        recent_clicks=recent or [],
    )


@pytest.mark.parametrize("agent", [CHROME, SAFARI, APPLE_MAIL, OUTLOOK, GMAIL_PROXY, YAHOO_PROXY])
def test_a_person_opening_later_is_not_a_machine(agent: str) -> None:
    assert opened(agent=agent) is None


@pytest.mark.parametrize("ip", ["17.58.63.1", "203.0.113.7", "::ffff:17.1.2.3", None])
def test_apple_privacy_protection_loads_are_machines_from_anywhere(ip: str | None) -> None:
    assert opened(ip=ip, agent="Mozilla/5.0") == "apple-mail-privacy-proxy"


def test_no_agent_from_apples_network_is_its_proxy_and_elsewhere_proves_nothing() -> None:
    assert opened(ip="17.58.63.1", agent=None) == "apple-mail-privacy-proxy"
    assert opened(ip="203.0.113.7", agent=None) is None
    assert opened(ip="not an address", agent="") is None


def test_a_person_on_apples_own_network_with_a_real_browser_is_a_person() -> None:
    assert opened(ip="17.58.63.1", agent=SAFARI) is None


def test_an_open_right_after_sending_is_a_prefetch_even_through_gmail() -> None:
    assert opened(agent=GMAIL_PROXY, at=SENT + 0.4) == "opened-within-1s-of-sending"
    assert opened(agent=GMAIL_PROXY, at=SENT + 30) is None
    assert judge_open(at=SENT + 0.1, sent_at=None, ip=None, user_agent=CHROME) is None


@pytest.mark.parametrize(
    ("agent", "reason"),
    [
        ("Mozilla/5.0 (compatible; Mimecast URL Protect)", "mimecast-scanner"),
        ("Barracuda Sentinel (EE)", "barracuda-scanner"),
        ("Mozilla/5.0 Proofpoint URL Defense", "proofpoint-scanner"),
        ("Mozilla/5.0 (Windows NT 10.0) BingPreview/1.0b", "microsoft-link-preview"),
        ("Mozilla/5.0 HeadlessChrome/120.0.0.0", "headless-browser"),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "bot-user-agent"),
    ],
)
def test_named_scanners_are_machines_for_opens_and_clicks(agent: str, reason: str) -> None:
    assert opened(agent=agent) == reason
    assert clicked(agent=agent) == reason


@pytest.mark.parametrize("agent", ["python-requests/2.32", "curl/8.5.0", "okhttp/4.12.0"])
def test_http_libraries_are_machines_when_they_click_but_may_be_mail_apps_loading_images(
    agent: str,
) -> None:
    assert clicked(agent=agent) == "bot-user-agent"
    assert opened(agent=agent) is None


def test_office_checks_a_link_before_the_browser_opens_it() -> None:
    assert clicked(agent=OUTLOOK) == "microsoft-office-link-check"
    assert clicked(agent="Microsoft Office Existence Discovery") == "microsoft-office-link-check"


def test_a_click_seconds_after_sending_is_a_scanner_but_a_quick_reader_is_not() -> None:
    assert clicked(at=SENT + 1.5) == "clicked-within-3s-of-sending"
    assert clicked(at=SENT + 8) is None
    assert clicked(at=SENT + 1.5, sent_at=None) is None


def test_many_different_links_at_once_is_a_scanner() -> None:
    recent = [(LATER - 0.5, "https://acme.example/b"), (LATER - 1.0, "https://acme.example/c")]
    assert clicked(recent=recent) == "many-links-at-once"
    assert clicked(recent=recent[:1]) is None  # two links: a person can do that


def test_the_same_link_again_or_clicks_long_ago_are_not_a_burst() -> None:
    same = [(LATER - 0.2, "https://acme.example/a"), (LATER - 0.4, "https://acme.example/a")]
    old = [(LATER - 60, "https://acme.example/b"), (LATER - 61, "https://acme.example/c")]
    assert clicked(recent=same) is None
    assert clicked(recent=old) is None


def test_a_person_clicking_is_not_a_machine() -> None:
    assert clicked(agent=SAFARI) is None
    assert clicked(agent=None) is None  # no evidence either way: counted as a person
