"""Where Herald may send webhooks: the address policy (pure, no I/O).

A webhook URL is chosen by a customer, so without a policy Herald would POST wherever it is
told: to its own database, a cloud metadata service, a router's admin page (server-side
request forgery). Only globally routable addresses are allowed. The policy is applied twice:
:func:`url_problem` when an endpoint is saved (early feedback, no DNS), and :func:`refusal` on
every address a name resolves to, each time Herald opens a connection (the check that
matters: DNS answers change).

The ranges are listed here rather than taken from ``ipaddress``'s ``is_global``, whose answers
differ between Python patch releases (multicast, for one, counts as global in 3.11).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Checked in order: the first match names the kind (with its article, for the message).
# Everything else in IPv4 is global.
_V4_REFUSED: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("127.0.0.0/8"), "a loopback"),
    (_V4("0.0.0.0/32"), "an unspecified"),
    (_V4("0.0.0.0/8"), "a reserved (this network)"),
    (_V4("10.0.0.0/8"), "a private"),
    (_V4("172.16.0.0/12"), "a private"),
    (_V4("192.168.0.0/16"), "a private"),
    (_V4("100.64.0.0/10"), "a shared (carrier-grade NAT)"),
    (_V4("169.254.169.254/32"), "a link-local (cloud metadata)"),
    (_V4("169.254.0.0/16"), "a link-local"),
    (_V4("192.0.0.0/24"), "a reserved (IETF protocol assignments)"),
    (_V4("192.0.2.0/24"), "a documentation"),
    (_V4("198.51.100.0/24"), "a documentation"),
    (_V4("203.0.113.0/24"), "a documentation"),
    (_V4("192.88.99.0/24"), "a reserved (6to4 relay)"),
    (_V4("198.18.0.0/15"), "a benchmarking"),
    (_V4("224.0.0.0/4"), "a multicast"),
    (_V4("255.255.255.255/32"), "a broadcast"),
    (_V4("240.0.0.0/4"), "a reserved"),
)

# Only 2000::/3 is global unicast; inside it these are not. Addresses that carry an IPv4
# address (mapped, NAT64, 6to4, Teredo) are judged by that address, before this table.
_V6_REFUSED: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::1/128"), "a loopback"),
    (_V6("::/128"), "an unspecified"),
    (_V6("::/96"), "an IPv4-compatible (deprecated)"),
    (_V6("fd00:ec2::254/128"), "a unique local (cloud metadata)"),
    (_V6("fc00::/7"), "a unique local"),
    (_V6("fe80::/10"), "a link-local"),
    (_V6("fec0::/10"), "a site-local (deprecated)"),
    (_V6("ff00::/8"), "a multicast"),
    (_V6("2001:db8::/32"), "a documentation"),
    (_V6("3fff::/20"), "a documentation"),
    # Includes Teredo (2001::/32), whose public relays are gone: refused whatever it carries.
    (_V6("2001::/23"), "a reserved (IETF protocol assignments)"),
    (_V6("64:ff9b:1::/48"), "a local-use NAT64"),
)
_V6_GLOBAL_UNICAST = _V6("2000::/3")
_NAT64 = _V6("64:ff9b::/96")

_LOOPBACK_V4 = _V4("127.0.0.0/8")
_LOOPBACK_V6 = ipaddress.IPv6Address("::1")


def refusal(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why Herald must not connect to ``address``, or None when it may.

    ``allow_loopback`` (development) allows 127.0.0.0/8 and ::1, as such or IPv4-mapped;
    nothing else, not even loopback reached through NAT64 or 6to4.
    """
    if isinstance(address, ipaddress.IPv4Address):
        if allow_loopback and address in _LOOPBACK_V4:
            return None
        kind = _kind_v4(address)
        return f"{address} is {kind} address" if kind else None
    if address.ipv4_mapped is not None:
        return refusal(address.ipv4_mapped, allow_loopback=allow_loopback)
    if allow_loopback and address == _LOOPBACK_V6:
        return None
    for inner in _embedded_v4(address):
        kind = _kind_v4(inner)
        if kind:
            return f"{address} carries {inner}, {kind} address"
    for network, kind in _V6_REFUSED:
        if address in network:
            return f"{address} is {kind} address"
    if address not in _V6_GLOBAL_UNICAST and address not in _NAT64:
        return f"{address} is a reserved address"
    return None


def is_loopback(address: IPAddress) -> bool:
    """127.0.0.0/8 or ::1, as such or IPv4-mapped: what ``allow_loopback`` lets through."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address in _LOOPBACK_V4 if address.version == 4 else address == _LOOPBACK_V6


def ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any form a resolver accepts (``[::1]``, ``127.1``,
    ``0x7f.1``, ``2130706433``), or None for a name."""
    host = host.removeprefix("[").removesuffix("]").replace("%25", "%")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        # inet_aton accepts the shorthand forms, and ignores anything after whitespace.
        if host and not any(c.isspace() for c in host):
            return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        pass
    return None


def url_problem(url: str, *, allow_loopback: bool) -> str | None:
    """What is wrong with ``url`` as a webhook endpoint, or None when it is acceptable.

    Names are not resolved here: they are judged each time Herald connects.
    """
    if len(url) > MAX_URL_LENGTH:
        return f"the URL is longer than {MAX_URL_LENGTH} characters"
    if any(c.isspace() or not c.isprintable() for c in url):
        return "the URL must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced or invalid [...] host
        return "the URL is not valid"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        return "the URL must be absolute, starting with https://"
    if scheme == "http" and not allow_loopback:
        return "the URL must use https"
    if "@" in parts.netloc:
        return "the URL must not carry credentials (user:password@): put secrets in headers"
    if "#" in url:
        return "the URL must not have a fragment (#...)"
    try:
        port = parts.port
    except ValueError:
        return "the URL's port is not a number from 1 to 65535"
    if port == 0:
        return "the URL's port is not a number from 1 to 65535"
    host = parts.hostname or ""
    if not host:
        return "the URL must name a host"
    return _host_problem(
        host, bracketed=parts.netloc.startswith("["), allow_loopback=allow_loopback
    )


def _host_problem(host: str, *, bracketed: bool, allow_loopback: bool) -> str | None:
    address = ip_literal(host.removesuffix("."))
    if address is None and bracketed:
        return f"{host} is not a valid IPv6 address"
    if address is None and host.removesuffix(".").rsplit(".", 1)[-1] == "localhost":
        # RFC 6761: localhost and its subdomains are loopback, whatever DNS would say.
        return None if allow_loopback else f"the URL's host is not public: {host} is loopback"
    if address is None:
        return _name_problem(host)
    reason = refusal(address, allow_loopback=allow_loopback)
    return None if reason is None else f"the URL's host is not public: {reason}"


_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_NUMERIC = re.compile(r"(0x[0-9a-f]*|[0-9]+)")


def _name_problem(host: str) -> str | None:
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return f"{host} is not a valid host name"
    labels = ascii_host.removesuffix(".").split(".")
    if len(ascii_host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return f"{host} is not a valid host name"
    if _NUMERIC.fullmatch(labels[-1]):
        # A name ending in a number is read as an IPv4 address by browsers and resolvers.
        return f"{host} is not a valid IP address"
    return None


def _kind_v4(address: ipaddress.IPv4Address) -> str:
    for network, kind in _V4_REFUSED:
        if address in network:
            return kind
    return ""


def _embedded_v4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    if address in _NAT64:
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address.teredo is not None:
        return address.teredo  # (server, client)
    return ()
