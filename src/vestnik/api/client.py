"""Who the client of an HTTP request is: the one rule every API surface uses.

The TCP peer is the client, unless the peer is one of ``[server] trusted_proxies``: then the
client is the right-most address of ``X-Forwarded-For`` that is not itself a trusted proxy
(each proxy appends the address it received the request from, so entries left of the first
untrusted one were written by whoever sent the request and prove nothing). An entry that is
not an IP address ends the walk: the last good candidate (or the peer) is the client.
uvicorn's own proxy-header handling is off (``vestnik.api.server``), so nothing else reads
the header.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

FORWARDED_FOR = b"x-forwarded-for"


def trusted_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """``[server] trusted_proxies`` parsed (``check_config`` has refused malformed entries)."""
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


def client_address(scope: Any, trusted: Sequence[Network]) -> str | None:
    """The client's IP address for an ASGI ``scope``; None for a peer without one (a UNIX
    socket)."""
    peer = scope.get("client")
    if not peer:
        return None
    peer_host = str(peer[0])
    if not trusted:
        return peer_host
    peer_address = _parse(peer_host)
    if peer_address is None or not _is_trusted(peer_address, trusted):
        return peer_host
    client = peer_host
    for entry in _forwarded_for(scope.get("headers", ())):
        address = _parse(entry)
        if address is None:
            break
        client = str(address)
        if not _is_trusted(address, trusted):
            break
    return client


def _forwarded_for(headers: Iterable[tuple[bytes, bytes]]) -> Iterator[str]:
    """The X-Forwarded-For entries, right-most first; several headers are one list, in order
    (RFC 9110 5.3); empty list elements are skipped (RFC 9110 5.6.1)."""
    entries: list[str] = []
    for name, value in headers:
        if name == FORWARDED_FOR:
            entries.extend(value.decode("latin-1").split(","))
    for entry in reversed(entries):
        entry = entry.strip()
        if entry:
            yield entry


def _parse(entry: str) -> Address | None:
    """An address as proxies write it: ``192.0.2.1``, ``192.0.2.1:443``, ``2001:db8::1``,
    ``[2001:db8::1]:443``; None for anything else (``unknown``, garbage)."""
    host, port = entry, ""
    if entry.startswith("["):
        host, bracket, port = entry[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return None
    elif entry.count(":") == 1:
        host, port = entry.split(":")
        port = ":" + port
    if port and not (port[1:].isascii() and port[1:].isdigit()):
        return None
    return ip_address(host)


def ip_address(text: str) -> Address | None:
    """A bare IP address, None for anything else. An IPv4-mapped IPv6 address
    (``::ffff:192.0.2.1``, what a dual-stack socket reports for an IPv4 peer) is its IPv4
    address, so that IPv4 networks (trusted proxies, account allow-lists) match it."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address in network for network in trusted)
