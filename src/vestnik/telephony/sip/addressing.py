"""Who we call and how the trunk wants it written: numbers, URIs, next hop."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vestnik.calls import ContactKind
from vestnik.config import TrunkConfig

NUMBER_FORMATS = ("plain", "plus")
_DIGITS = re.compile(r"^[0-9]{1,20}$")
# sip:user@host[:port][;params] — the user part is required: we call someone, not a server.
_SIP_URI = re.compile(
    r"^(?P<scheme>sips?):(?P<user>[^@;?\s]+)@(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-]+)"
    r"(?::(?P<port>[0-9]{1,5}))?(?P<params>;[^?\s]*)?$"
)
DEFAULT_SIP_PORT = 5060


class AddressError(ValueError):
    """A number or URI we cannot dial."""


@dataclass(frozen=True)
class Target:
    """Where an INVITE goes: Request-URI parts, the To URI parts, and the next hop."""

    user: str  # Request-URI / To user part
    host: str  # Request-URI host
    port: int | None  # Request-URI port (None: not written)
    to_host: str  # To URI host
    next_hop: tuple[str, int]  # where the UDP datagrams go (trunk or outbound proxy)


def format_number(digits: str, number_format: str) -> str:
    """E.164 digits (no "+") as the trunk wants them: "plain" or "plus"."""
    if not _DIGITS.match(digits):
        raise AddressError(f"not an E.164 number (digits only): {digits!r}")
    if number_format == "plus":
        return "+" + digits
    if number_format == "plain":
        return digits
    raise AddressError(f"unknown number format {number_format!r}; use one of {NUMBER_FORMATS}")


def parse_host_port(text: str, default_port: int = DEFAULT_SIP_PORT) -> tuple[str, int]:
    """ "host", "host:port", "[v6]:port" -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        host = f"[{host}]"
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not host:
        raise AddressError(f"no host in {text!r}")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError as exc:
        raise AddressError(f"bad port in {text!r}") from exc
    if not 0 < port < 65536:
        raise AddressError(f"port out of range in {text!r}")
    return host, port


def next_hop(trunk: TrunkConfig) -> tuple[str, int]:
    if trunk.outbound_proxy:
        return parse_host_port(trunk.outbound_proxy)
    return trunk.host, trunk.sip_port


def trunk_domain(trunk: TrunkConfig) -> str:
    return trunk.domain


def caller_user(trunk: TrunkConfig, caller: str) -> str:
    return format_number(caller, trunk.caller_format)


def target_for(trunk: TrunkConfig, contact: str, kind: ContactKind) -> Target:
    """The INVITE's addressing for a contact: an E.164 number goes to
    ``sip:<number>@<domain or trunk host:port>``; an employee's SIP URI is used as is, and
    either way the datagrams go to the trunk (or its outbound proxy)."""
    hop = next_hop(trunk)
    if kind == ContactKind.SIP:
        match = _SIP_URI.match(contact.strip())
        if match is None:
            raise AddressError(f"not a SIP URI with a user part: {contact!r}")
        if match["scheme"] != "sip":
            raise AddressError("sips: needs TLS, which this trunk client does not speak")
        port = int(match["port"]) if match["port"] else None
        return Target(match["user"], match["host"], port, match["host"], hop)
    user = format_number(contact, trunk.callee_format)
    if trunk.from_domain:
        return Target(user, trunk.from_domain, None, trunk.from_domain, hop)
    return Target(user, trunk.host, trunk.sip_port, trunk.host, hop)
