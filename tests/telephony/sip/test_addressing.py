"""Trunk addressing: number formats, SIP URIs, next hop."""

from __future__ import annotations

import pytest

from vestnik.calls import ContactKind
from vestnik.config import TrunkConfig
from vestnik.telephony.sip.addressing import (
    AddressError,
    Target,
    format_number,
    next_hop,
    parse_host_port,
    target_for,
)


def test_number_formats() -> None:
    assert format_number("74993720692", "plain") == "74993720692"
    assert format_number("74993720692", "plus") == "+74993720692"
    for bad in ("+7499", "7 499", "", "x1"):
        with pytest.raises(AddressError):
            format_number(bad, "plain")
    with pytest.raises(AddressError, match="unknown number format"):
        format_number("7499", "e164")


def test_phone_target_uses_trunk_or_domain() -> None:
    trunk = TrunkConfig(host="10.0.0.1", port=5080)
    assert target_for(trunk, "79161234567", ContactKind.PHONE) == Target(
        "79161234567", "10.0.0.1", 5080, "10.0.0.1", ("10.0.0.1", 5080)
    )
    trunk = TrunkConfig(
        host="10.0.0.1", port=5080, from_domain="sip.carrier.ru", callee_format="plus"
    )
    assert target_for(trunk, "79161234567", ContactKind.PHONE) == Target(
        "+79161234567", "sip.carrier.ru", None, "sip.carrier.ru", ("10.0.0.1", 5080)
    )


def test_sip_uri_contact_keeps_its_uri_but_goes_via_the_proxy() -> None:
    trunk = TrunkConfig(host="10.0.0.1", port=5080, outbound_proxy="192.0.2.7:5070")
    target = target_for(trunk, "sip:101@pbx.example.com:5062;transport=udp", ContactKind.SIP)
    assert (target.user, target.host, target.port) == ("101", "pbx.example.com", 5062)
    assert target.next_hop == ("192.0.2.7", 5070)
    for bad in ("pbx.example.com", "sip:pbx.example.com", "tel:+7916", "sips:1@a.b"):
        with pytest.raises(AddressError):
            target_for(trunk, bad, ContactKind.SIP)


def test_host_port_parsing() -> None:
    assert parse_host_port("proxy.example") == ("proxy.example", 5060)
    assert parse_host_port("proxy.example:5070") == ("proxy.example", 5070)
    assert parse_host_port("[2001:db8::1]:5070") == ("[2001:db8::1]", 5070)
    for bad in ("", ":5060", "host:0", "host:x"):
        with pytest.raises(AddressError):
            parse_host_port(bad)
    assert next_hop(TrunkConfig(host="h", port=1)) == ("h", 1)
