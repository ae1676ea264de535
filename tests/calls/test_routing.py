"""calls.routing: which trunks match a session, in which order."""

from __future__ import annotations

from vestnik.calls import ContactKind
from vestnik.calls.routing import needs_account_name, no_route_detail, route_for, trunk_matches
from vestnik.config import TrunkConfig

PHONE, SIP = ContactKind.PHONE, ContactKind.SIP


def trunk(name: str, **keys: object) -> TrunkConfig:
    return TrunkConfig(name=name, host=f"{name}.example", **keys)  # type: ignore[arg-type]


def test_empty_filters_match_everything() -> None:
    t = trunk("any")
    assert trunk_matches(t, "acme", "79161234567", PHONE)
    assert trunk_matches(t, None, "sip:101@pbx.example", SIP)


def test_accounts_filter_by_name() -> None:
    t = trunk("acme-only", accounts=["acme", "globex"])
    assert trunk_matches(t, "globex", "79161234567", PHONE)
    assert not trunk_matches(t, "initech", "79161234567", PHONE)
    assert not trunk_matches(t, None, "79161234567", PHONE)


def test_prefixes_filter_by_leading_digits_and_refuse_sip_uris() -> None:
    t = trunk("moscow", prefixes=["7495", "7499"])
    assert trunk_matches(t, "acme", "74993720692", PHONE)
    assert not trunk_matches(t, "acme", "79161234567", PHONE)
    assert not trunk_matches(t, "acme", "sip:7499@pbx.example", SIP)


def test_route_is_by_priority_and_stable_for_ties() -> None:
    trunks = [
        trunk("c", priority=2),
        trunk("a", priority=1),
        trunk("d", priority=2),
        trunk("b", priority=1),
        trunk("mobile", priority=0, prefixes=["79"]),
    ]
    assert route_for(trunks, "acme", "74993720692", PHONE) == ("a", "b", "c", "d")
    assert route_for(trunks, "acme", "79161234567", PHONE) == ("mobile", "a", "b", "c", "d")
    assert route_for(trunks, "acme", "sip:1@x", SIP) == ("a", "b", "c", "d")


def test_no_route_says_why_per_trunk() -> None:
    trunks = [trunk("big", accounts=["acme"]), trunk("local", prefixes=["7495"])]
    assert route_for(trunks, "globex", "79161234567", PHONE) == ()
    assert no_route_detail(trunks, "globex", "79161234567", PHONE) == (
        "no trunk routes this call (big: account 'globex' not in its accounts; "
        "local: no prefix of 79161234567)"
    )
    assert "local: has prefixes, the contact is a SIP URI" in no_route_detail(
        trunks, "acme2", "sip:1@x", SIP
    )
    assert (
        no_route_detail([], None, "1", PHONE) == "no trunk routes this call: no trunk is configured"
    )


def test_account_names_are_needed_only_when_a_trunk_filters_by_account() -> None:
    assert not needs_account_name([trunk("a"), trunk("b", prefixes=["7"])])
    assert needs_account_name([trunk("a"), trunk("b", accounts=["acme"])])
