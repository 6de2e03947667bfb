"""Which addresses and URLs a webhook may target: only public ones."""

from __future__ import annotations

import ipaddress

import pytest

from streams.webhook_targets import ip_literal, refusal, url_problem

ANY = "0.0.0.0"  # noqa: S104 (an address under judgement; nothing binds to it)

NOT_PUBLIC = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("fd12:3456::1", "unique local"),
    ("fc00::1", "unique local"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fd00:ec2::254", "cloud metadata"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    (ANY, "unspecified"),
    ("0.1.2.3", "this network"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.0.8", "reserved"),
    ("198.18.0.1", "benchmarking"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("::8.8.8.8", "IPv4-compatible"),
    ("2002:7f00:1::", "carries 127.0.0.1, a loopback"),
    ("2002:a00:1::1", "carries 10.0.0.1, a private"),
    ("64:ff9b::127.0.0.1", "carries 127.0.0.1, a loopback"),
    ("64:ff9b::a9fe:a9fe", "carries 169.254.169.254"),
    ("64:ff9b:1::1", "NAT64"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "carries 192.0.2.45"),
    ("2001:0:5db8:d822:8000:63bf:a247:27dd", "reserved"),  # Teredo, public parts
    ("100::1", "reserved"),
    ("4000::1", "reserved"),
]

PUBLIC = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:93.184.216.34",
    "64:ff9b::93.184.216.34",
    "2002:5db8:d822::1",
    "100.128.0.1",  # just past carrier-grade NAT
    "172.32.0.1",  # just past 172.16/12
]


@pytest.mark.parametrize(("address", "kind"), NOT_PUBLIC)
def test_an_address_that_is_not_public_is_refused_with_its_kind(address: str, kind: str):
    reason = refusal(ipaddress.ip_address(address), allow_loopback=False)
    assert reason is not None and kind in reason


@pytest.mark.parametrize("address", PUBLIC)
def test_a_public_address_is_allowed(address: str):
    assert refusal(ipaddress.ip_address(address), allow_loopback=False) is None
    assert refusal(ipaddress.ip_address(address), allow_loopback=True) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"])
def test_allow_loopback_allows_loopback(address: str):
    assert refusal(ipaddress.ip_address(address), allow_loopback=True) is None


@pytest.mark.parametrize(
    "address",
    ["10.0.0.1", ANY, "::", "169.254.169.254", "fd00:ec2::254", "2002:7f00:1::",
     "64:ff9b::127.0.0.1", "::127.0.0.1", "192.168.0.1"],
)  # fmt: skip
def test_allow_loopback_allows_nothing_else(address: str):
    assert refusal(ipaddress.ip_address(address), allow_loopback=True) is not None


@pytest.mark.parametrize(
    ("host", "address"),
    [("127.0.0.1", "127.0.0.1"), ("[::1]", "::1"), ("2130706433", "127.0.0.1"),
     ("0x7f.1", "127.0.0.1"), ("127.1", "127.0.0.1"), ("017700000001", "127.0.0.1"),
     ("0x7f000001", "127.0.0.1"), ("0", ANY), ("[fe80::1%25eth0]", "fe80::1%eth0"),
     ("example.com", None), ("127.0.0.1 example.com", None)],
)  # fmt: skip
def test_ip_literals_are_read_in_every_form_a_resolver_accepts(host: str, address: str | None):
    expected = None if address is None else ipaddress.ip_address(address)
    assert ip_literal(host) == expected


@pytest.mark.parametrize(
    "url",
    ["https://example.com/hooks", "https://hooks.example.com:8443/in?token=abc",
     "https://93.184.216.34/", "https://[2606:4700::1111]/x", "https://bücher.example/",
     "https://example.com./", "HTTPS://Example.COM/"],
)  # fmt: skip
def test_a_public_https_url_is_acceptable(url: str):
    assert url_problem(url, allow_loopback=False) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://example.com/", "https"),
        ("ftp://example.com/", "https://"),
        ("example.com/hooks", "absolute"),
        ("/hooks", "absolute"),
        ("https://user:secret@example.com/", "credentials"),
        ("https://token@example.com/", "credentials"),
        ("https://example.com/#top", "fragment"),
        ("https://example.com/" + "a" * 2048, "longer than 2048"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com/\n", "control"),
        ("https://example.com:0/", "port"),
        ("https://example.com:99999/", "port"),
        ("https:///hooks", "absolute"),
        ("https://[zz]/", "not valid"),
        ("https://-bad-.example/", "not a valid host name"),
        ("https://999.1.1.1/", "not a valid IP address"),
        ("https://127.0.0.1/", "loopback"),
        ("https://127.1/", "loopback"),
        ("https://0x7f.1/", "loopback"),
        ("https://2130706433/", "loopback"),
        ("https://[::1]/", "loopback"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://localhost/", "loopback"),
        ("https://api.localhost./", "loopback"),
        ("https://10.0.0.1/", "private"),
        ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("https://[fd00:ec2::254]/", "cloud metadata"),
        ("https://100.64.0.1/", "carrier-grade NAT"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://[fe80::1%25eth0]/", "link-local"),
    ],
)
def test_a_url_that_is_not_acceptable_says_why(url: str, problem: str):
    message = url_problem(url, allow_loopback=False)
    assert message is not None and problem in message


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/hooks", "http://localhost:8000/", "https://[::1]:8443/",
     "http://example.com/"],  # plain http to a name: its address is judged when connecting
)  # fmt: skip
def test_allow_loopback_accepts_loopback_urls_over_plain_http(url: str):
    assert url_problem(url, allow_loopback=True) is None


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/", "https://169.254.169.254/", "http://u:p@127.0.0.1/"]
)
def test_allow_loopback_still_refuses_other_private_urls_and_credentials(url: str):
    assert url_problem(url, allow_loopback=True) is not None
