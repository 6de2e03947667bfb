"""Which address a request really came from, and whether it may use a key.

Behind a reverse proxy the socket peer is the proxy, and the client's own address is in
``X-Forwarded-For``. That header is written by whoever sent the request, so it is believed
only as far as it was appended by proxies the operator listed (``HERALD_TRUSTED_PROXIES``):
the chain is read from the right, and the first address that is not a trusted proxy is the
client. Anything to the left of it may be forged and is ignored.

Pure: no web framework here, so the rules get fast unit tests.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv4 addresses as a dual-stack socket reports them: ::ffff:a.b.c.d
_MAPPED_PREFIX = int(ipaddress.IPv6Address("::ffff:0:0"))


class Proxies:
    """The reverse proxies whose ``X-Forwarded-For`` is believed (``HERALD_TRUSTED_PROXIES``),
    parsed once per process and handed to the routes that need a client's address."""

    __slots__ = ("networks",)

    def __init__(self, networks: tuple[Network, ...]) -> None:
        self.networks = networks


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """The networks named by ``cidrs`` (``"10.0.0.0/8"``, ``"2001:db8::/32"``, or a single
    address). Host bits are allowed (``10.1.2.3/8`` means ``10.0.0.0/8``), as operators
    write them that way; a bad entry raises ValueError naming it."""
    networks: list[Network] = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"{cidr!r} is not an IP network (CIDR)") from exc
    return tuple(networks)


def normalise(ip: Address | str) -> Address:
    """``ip`` as an address, with IPv4-mapped IPv6 (``::ffff:1.2.3.4``) turned into the IPv4
    address it stands for, so one client has one address whatever socket it came through.
    Raises ValueError for text that is not an address."""
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_ip(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> Address | None:
    """The client's address: the socket ``peer``, unless the peer is a trusted proxy; then
    the rightmost ``X-Forwarded-For`` hop that is not itself a trusted proxy (the leftmost
    when all are). ``forwarded_for`` holds every value of the header, in order.

    A malformed hop stops the walk at the last good address: what a proxy cannot have
    written is never trusted. None when there is no peer or it is not an IP address (a Unix
    socket, a test client)."""
    if peer is None:
        return None
    try:
        current = normalise(peer)
    except ValueError:
        return None
    if not _contains(trusted, current):
        return current
    hops = ",".join(forwarded_for).split(",") if forwarded_for else []
    for text in reversed(hops):
        hop = _parse_hop(text)
        if hop is None:
            break
        current = hop
        if not _contains(trusted, hop):
            break
    return current


def allowed(ip: Address | None, networks: Sequence[Network]) -> bool:
    """Whether ``ip`` is inside one of ``networks``. No networks means no restriction; an
    unknown address is refused by any restriction. IPv4 and IPv4-mapped IPv6 forms match
    each other, on either side."""
    if not networks:
        return True
    if ip is None:
        return False
    return _contains(networks, normalise(ip))


def _contains(networks: Sequence[Network], ip: Address) -> bool:
    """``ip`` (already normalised) is in one of ``networks``. An IPv4 address is also tried
    in its mapped form, so a network written as ``::ffff:10.0.0.0/104`` matches it."""
    mapped = (
        ipaddress.IPv6Address(_MAPPED_PREFIX | int(ip))
        if isinstance(ip, ipaddress.IPv4Address)
        else None
    )
    # ``in`` is False across IP versions, so each network is simply tried with both forms.
    return any(ip in network or (mapped is not None and mapped in network) for network in networks)


def _parse_hop(text: str) -> Address | None:
    """One ``X-Forwarded-For`` entry: ``1.2.3.4``, ``2001:db8::1``, or with a port as some
    proxies write it (``1.2.3.4:5678``, ``[2001:db8::1]:443``). None when malformed."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end == -1 or (end + 1 < len(text) and not _is_port(text[end + 1 :])):
            return None
        text = text[1:end]
    elif text.count(":") == 1:
        text, port = text.split(":")
        if not _is_port(":" + port):
            return None
    try:
        return normalise(text)
    except ValueError:
        return None


def _is_port(suffix: str) -> bool:
    digits = suffix[1:]
    return suffix.startswith(":") and digits.isascii() and digits.isdigit() and int(digits) < 65536
