"""Which address a request came from, and whether an allowlist admits it."""

from __future__ import annotations

import re
from ipaddress import ip_address

import pytest

from api.client_ip import allowed, client_ip, normalise, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "fd00::/8"])


def ip(text: str):
    return ip_address(text)


# --- parsing ---------------------------------------------------------------------------------


def test_networks_allow_host_bits_and_single_addresses():
    assert [str(n) for n in parse_networks(["10.1.2.3/8", "192.0.2.7", "2001:db8::1/32"])] == [
        "10.0.0.0/8",
        "192.0.2.7/32",
        "2001:db8::/32",
    ]


def test_a_bad_network_is_named():
    with pytest.raises(ValueError, match=re.escape("'10.0.0.0/33'")):
        parse_networks(["10.0.0.0/8", "10.0.0.0/33"])


def test_mapped_ipv6_becomes_ipv4():
    assert normalise("::ffff:192.0.2.1") == ip("192.0.2.1")
    assert normalise(ip("::ffff:192.0.2.1")) == ip("192.0.2.1")
    assert normalise("2001:db8::1") == ip("2001:db8::1")


# --- client address --------------------------------------------------------------------------


def test_without_trusted_proxies_the_peer_is_the_client():
    assert client_ip("192.0.2.1", ["198.51.100.9"], ()) == ip("192.0.2.1")


def test_no_peer_or_a_non_ip_peer_is_unknown():
    assert client_ip(None, ["198.51.100.9"], PROXIES) is None
    assert client_ip("testclient", [], PROXIES) is None


def test_a_forwarded_for_sent_by_an_untrusted_peer_is_ignored():
    assert client_ip("203.0.113.5", ["10.0.0.1, 198.51.100.9"], PROXIES) == ip("203.0.113.5")


def test_behind_a_trusted_proxy_the_forwarded_client_is_used():
    assert client_ip("10.0.0.2", ["198.51.100.9"], PROXIES) == ip("198.51.100.9")


def test_a_trusted_proxy_without_forwarded_for_is_the_client():
    assert client_ip("10.0.0.2", [], PROXIES) == ip("10.0.0.2")


def test_the_chain_is_read_from_the_right_through_two_proxies():
    # The client forged "1.1.1.1"; the first proxy appended the real address, the second
    # proxy appended the first one, and the second proxy is the socket peer.
    chain = ["1.1.1.1, 198.51.100.9", "10.0.0.1"]
    assert client_ip("10.0.0.2", chain, PROXIES) == ip("198.51.100.9")


def test_when_every_hop_is_a_trusted_proxy_the_leftmost_is_used():
    assert client_ip("10.0.0.2", ["10.0.0.7, 10.0.0.1"], PROXIES) == ip("10.0.0.7")


def test_ipv6_chain_and_mapped_peer():
    assert client_ip("fd00::2", ["2001:db8::9, fd00::1"], PROXIES) == ip("2001:db8::9")
    assert client_ip("::ffff:10.0.0.2", ["::ffff:198.51.100.9"], PROXIES) == ip("198.51.100.9")


def test_hops_with_ports_are_understood():
    assert client_ip("10.0.0.2", ["198.51.100.9:4711"], PROXIES) == ip("198.51.100.9")
    assert client_ip("10.0.0.2", ["[2001:db8::9]:443"], PROXIES) == ip("2001:db8::9")


@pytest.mark.parametrize(
    ("chain", "client"),
    [
        (["198.51.100.9, garbage, 10.0.0.1"], "10.0.0.1"),
        (["198.51.100.9, , 10.0.0.1"], "10.0.0.1"),
        (["198.51.100.9, [2001:db8::9, 10.0.0.1"], "10.0.0.1"),
        (["198.51.100.9, 10.0.0.1:99999"], "10.0.0.2"),
        (["198.51.100.9, nonsense"], "10.0.0.2"),
    ],
)
def test_a_malformed_hop_stops_at_the_last_good_one(chain, client):
    # The malformed entry and everything left of it are not believed: the last address a
    # trusted proxy wrote (or the peer itself) is the client.
    assert client_ip("10.0.0.2", chain, PROXIES) == ip(client)


# --- allowlists ------------------------------------------------------------------------------


def test_no_allowlist_admits_everyone_even_unknown():
    assert allowed(None, ())
    assert allowed(ip("203.0.113.5"), ())


def test_an_unknown_address_is_refused_by_any_allowlist():
    assert not allowed(None, parse_networks(["0.0.0.0/0"]))


def test_allowlist_matches_by_version():
    nets = parse_networks(["192.0.2.0/24", "2001:db8::/32"])
    assert allowed(ip("192.0.2.200"), nets)
    assert allowed(ip("2001:db8:1::5"), nets)
    assert not allowed(ip("198.51.100.1"), nets)
    assert not allowed(ip("2001:db9::1"), nets)


def test_mapped_forms_match_on_either_side():
    assert allowed(ip("::ffff:192.0.2.9"), parse_networks(["192.0.2.0/24"]))
    assert allowed(ip("192.0.2.9"), parse_networks(["::ffff:192.0.2.0/120"]))
    assert not allowed(ip("192.0.3.9"), parse_networks(["::ffff:192.0.2.0/120"]))
