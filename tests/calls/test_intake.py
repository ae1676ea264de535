"""start.informer_call's rules as a pure decision: facts in, refusal or session out."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from vestnik.calls import ContactKind, Direction, MessageType, UsageRule
from vestnik.calls.intake import (
    Accepted,
    AccountRules,
    InformerRequest,
    IntakeFacts,
    Refusal,
    Refused,
    decide,
    employee_uri,
    stored_contact,
)
from vestnik.calls.numbers import CallClass, PoolNumber, parse_contact

VPN = "74993720692"
MOBILE = "79260000000"
MOSCOW = "74991234567"
KAZAN = "78432000002"  # Республика Татарстан
RULES = AccountRules(
    number_management=True,
    tts_max_length=20,
    home_country="RU",
    home_region="г. Москва",
    allowed=frozenset({CallClass.MOBILE, CallClass.LONG_DISTANCE}),
)
FACTS = IntakeFacts(owned=frozenset({VPN}))


def request(contact: str = MOBILE, **changes: object) -> InformerRequest:
    base = InformerRequest(
        virtual_number=VPN,
        rule=UsageRule.FIXED,
        contact=parse_contact(contact),
        message_type=MessageType.TTS,
        message_value="Ваш заказ готов",
        media_file_id=None,
        direction=Direction.IN,
        dialing_timeout=30.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def outcome(
    req: InformerRequest, facts: IntakeFacts = FACTS, rules: AccountRules = RULES
) -> Accepted | Refused:
    return decide(req, rules, facts, random.Random(7))


def test_accepted_phone_contact_keeps_its_digits_and_region() -> None:
    decision = outcome(request(MOSCOW), replace(FACTS, contact_region="г. Москва"))
    assert isinstance(decision, Accepted)
    assert (decision.contact, decision.contact_kind) == (MOSCOW, ContactKind.PHONE)
    assert decision.contact_region == "г. Москва"
    assert (decision.caller.number, decision.caller.remember) == (VPN, False)


def test_each_rule_refuses_alone() -> None:
    media = request(message_type=MessageType.MEDIA, message_value="5", media_file_id=5)
    cases = [
        (request(rule=UsageRule.RANDOM), FACTS, replace(RULES, number_management=False),
         Refusal.NUMBER_MANAGEMENT_DISABLED),
        (request(), IntakeFacts(owned=frozenset()), RULES, Refusal.VIRTUAL_NUMBER_NOT_OWNED),
        (request(), IntakeFacts(owned=frozenset({VPN, MOBILE})), RULES,
         Refusal.OWN_VIRTUAL_NUMBER),
        (request("sip:anna@pbx.example"), FACTS, RULES, Refusal.EMPLOYEE_NOT_FOUND),
        (media, FACTS, RULES, Refusal.MEDIA_FILE_NOT_FOUND),
        (request(message_value="x" * 21), FACTS, RULES, Refusal.TTS_TOO_LONG),
        (request(), replace(FACTS, blacklisted=True), RULES, Refusal.BLACKLISTED),
        (request("4915112345678"), FACTS, RULES, Refusal.DIRECTION_NOT_ALLOWED),
    ]  # fmt: skip
    for req, facts, rules, reason in cases:
        decision = outcome(req, facts, rules)
        assert isinstance(decision, Refused) and decision.reason is reason, (reason, decision)


def test_rules_apply_in_the_documented_order() -> None:
    """A phone contact with a TTS message and every fact against it: each rule in turn is
    the answer once the ones before it are satisfied (docs/api.md, check order 8-14)."""
    rules = replace(RULES, number_management=False, tts_max_length=3, allowed=frozenset())
    facts = IntakeFacts(owned=frozenset({MOBILE}), blacklisted=True)
    req = request(rule=UsageRule.RANDOM)
    order = []
    fixes = [
        lambda r, f, q: (replace(r, number_management=True), f, q),
        lambda r, f, q: (r, replace(f, owned=frozenset({VPN, MOBILE})), q),
        lambda r, f, q: (r, replace(f, owned=frozenset({VPN})), q),
        lambda r, f, q: (replace(r, tts_max_length=100), f, q),
        lambda r, f, q: (r, replace(f, blacklisted=False), q),
        lambda r, f, q: (replace(r, allowed=frozenset(CallClass)), f, q),
    ]
    for fix in [*fixes, None]:
        decision = outcome(req, facts, rules)
        order.append(decision.reason if isinstance(decision, Refused) else "accepted")
        if fix is not None:
            rules, facts, req = fix(rules, facts, req)
    assert order == [
        Refusal.NUMBER_MANAGEMENT_DISABLED,
        Refusal.VIRTUAL_NUMBER_NOT_OWNED,
        Refusal.OWN_VIRTUAL_NUMBER,
        Refusal.TTS_TOO_LONG,
        Refusal.BLACKLISTED,
        Refusal.DIRECTION_NOT_ALLOWED,
        "accepted",
    ]


@pytest.mark.parametrize(
    ("contact", "region", "allowed", "forbidden"),
    [
        ("4915112345678", None, {CallClass.MOBILE, CallClass.LONG_DISTANCE},
         CallClass.INTERNATIONAL),
        (MOBILE, None, {CallClass.LONG_DISTANCE}, CallClass.MOBILE),
        (KAZAN, "Республика Татарстан", {CallClass.MOBILE}, CallClass.LONG_DISTANCE),
    ],
)  # fmt: skip
def test_call_direction_names_the_forbidden_class(
    contact: str, region: str | None, allowed: set[CallClass], forbidden: CallClass
) -> None:
    rules = replace(RULES, allowed=frozenset(allowed))
    decision = outcome(request(contact), replace(FACTS, contact_region=region), rules)
    assert decision == Refused(Refusal.DIRECTION_NOT_ALLOWED, forbidden)


def test_same_region_and_no_home_region_are_not_long_distance() -> None:
    local = replace(RULES, allowed=frozenset())
    assert isinstance(
        outcome(request(MOSCOW), replace(FACTS, contact_region="Москва"), local), Accepted
    )
    anywhere = replace(local, home_region=None)
    decision = outcome(request(KAZAN), replace(FACTS, contact_region="Татарстан"), anywhere)
    assert isinstance(decision, Accepted)


def test_employee_contact_is_stored_as_the_employee_uri() -> None:
    uris = ["sip:petrov@pbx.example", "ivanov@PBX.example.com"]
    found = employee_uri(uris, "sip:ivanov@pbx.example.com")
    assert found == "sip:ivanov@PBX.example.com"
    assert employee_uri(uris, "sip:sidorov@pbx.example.com") is None
    req = request("ivanov@pbx.example.com")
    assert stored_contact(req, found) == found
    assert stored_contact(req, None) is None
    decision = outcome(req, replace(FACTS, employee_uri=found))
    assert isinstance(decision, Accepted)
    assert (decision.contact, decision.contact_kind) == (found, ContactKind.SIP)
    assert decision.contact_region is None  # direction rules do not apply to SIP contacts


def test_caller_number_follows_the_usage_rule() -> None:
    pool = (PoolNumber(VPN, "г. Москва"), PoolNumber("78432000001", "Республика Татарстан"))
    facts = replace(FACTS, pool=pool, contact_region="Республика Татарстан")
    regional = outcome(request(KAZAN, rule=UsageRule.REGIONAL_FIXED_FOR_NUMA), facts)
    assert isinstance(regional, Accepted)
    assert (regional.caller.number, regional.caller.remember) == ("78432000001", True)
    remembered = replace(facts, remembered="78432000001")
    again = outcome(request(KAZAN, rule=UsageRule.REGIONAL_FIXED_FOR_NUMA), remembered)
    assert isinstance(again, Accepted)
    assert (again.caller.number, again.caller.remember) == ("78432000001", False)
