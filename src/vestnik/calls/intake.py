"""``start.informer_call``'s rules once its parameters are valid: pure, no SQL, no HTTP.

The API checks the parameters and builds an :class:`InformerRequest`; the store gathers the
facts the rules need (:class:`IntakeFacts`: which numbers are the account's, the employee a
SIP contact names, whether the media file may be played, the blacklist, regions, the
caller-number pool); :func:`decide` applies the rules in the documented order (docs/api.md,
"Check order", steps 8-15). The first rule that fails is the :class:`Refused` answer;
otherwise :class:`Accepted` says how the session is stored and which number calls.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from vestnik.calls.model import ContactKind, Direction, MessageType, UsageRule
from vestnik.calls.numbers import (
    CallClass,
    CallerChoice,
    Contact,
    ContactForm,
    PoolNumber,
    choose_caller_number,
    classify_call,
    number_facts,
    sip_key,
    with_sip_scheme,
)


@dataclass(frozen=True)
class InformerRequest:
    """A ``start.informer_call`` whose parameters passed the API's checks."""

    virtual_number: str  # E.164 digits
    rule: UsageRule
    contact: Contact  # a phone number or a SIP URI (never an extension)
    message_type: MessageType
    message_value: str
    media_file_id: int | None  # message_type media: the file's id
    direction: Direction
    dialing_timeout: float  # seconds
    external_id: str | None = None
    dtmf_string: str | None = None  # None when empty

    @property
    def contact_kind(self) -> ContactKind:
        return ContactKind.SIP if self.contact.form is ContactForm.SIP else ContactKind.PHONE


# The account flag that allows each class of call.
_ALLOW_COLUMNS = tuple((c, f"allow_{c.value}") for c in CallClass)


@dataclass(frozen=True)
class AccountRules:
    """What an account allows a new call."""

    number_management: bool
    tts_max_length: int
    home_country: str
    home_region: str | None
    allowed: frozenset[CallClass]

    @classmethod
    def of(cls, account: Mapping[str, Any]) -> AccountRules:
        """From an account row (``accounts`` columns)."""
        return cls(
            number_management=bool(account["number_management_enabled"]),
            tts_max_length=int(account["tts_max_length"]),
            home_country=str(account["home_country"] or "RU"),
            home_region=account["home_region"],
            allowed=frozenset(c for c, column in _ALLOW_COLUMNS if account[column]),
        )


@dataclass(frozen=True)
class IntakeFacts:
    """What the store knows that the rules need (gathered in one transaction)."""

    # Of the requested virtual number and a phone contact, those that are active numbers of
    # the account.
    owned: frozenset[str]
    employee_uri: str | None = None  # a SIP contact: the employee's URI as stored
    media_usable: bool = False  # a media message: the account may play the file
    blacklisted: bool = False  # the contact, as it would be stored, is on the blacklist
    contact_region: str | None = None  # a phone contact's region
    pool: Sequence[PoolNumber] = ()  # non-fixed rules: the account's active numbers
    remembered: str | None = None  # *_fixed_for_numa: the contact's remembered number


class Refusal(StrEnum):
    NUMBER_MANAGEMENT_DISABLED = "number_management_disabled"
    VIRTUAL_NUMBER_NOT_OWNED = "virtual_number_not_owned"
    OWN_VIRTUAL_NUMBER = "own_virtual_number"
    EMPLOYEE_NOT_FOUND = "employee_not_found"
    MEDIA_FILE_NOT_FOUND = "media_file_not_found"
    TTS_TOO_LONG = "tts_too_long"
    BLACKLISTED = "blacklisted"
    DIRECTION_NOT_ALLOWED = "direction_not_allowed"


@dataclass(frozen=True)
class Refused:
    reason: Refusal
    call_class: CallClass | None = None  # DIRECTION_NOT_ALLOWED: the class forbidden


@dataclass(frozen=True)
class Accepted:
    contact: str  # as stored: E.164 digits or the employee's SIP URI
    contact_kind: ContactKind
    contact_region: str | None
    caller: CallerChoice


def employee_uri(stored_uris: Iterable[str], contact_uri: str) -> str | None:
    """The employee URI a SIP contact names (compared by :func:`sip_key`), with its scheme
    (``sip:`` added when stored without one); None when no employee has it."""
    key = sip_key(contact_uri)
    for stored in stored_uris:
        if sip_key(stored) == key:
            return with_sip_scheme(stored)
    return None


def stored_contact(request: InformerRequest, employee: str | None) -> str | None:
    """The contact as its session stores it; None for a SIP contact that names nobody."""
    return employee if request.contact.form is ContactForm.SIP else request.contact.value


def decide(
    request: InformerRequest, account: AccountRules, facts: IntakeFacts, rng: random.Random
) -> Accepted | Refused:
    """The rules in order: number management, own virtual number, contact not own number,
    employee, media file or TTS length, blacklist, call direction; then the caller number."""
    refusal = _first_refusal(request, account, facts)
    if refusal is not None:
        return refusal
    contact = stored_contact(request, facts.employee_uri)
    assert contact is not None  # a SIP contact without an employee was refused
    caller = choose_caller_number(
        request.rule, request.virtual_number, facts.pool, facts.contact_region, facts.remembered,
        rng,
    )  # fmt: skip
    return Accepted(contact, request.contact_kind, facts.contact_region, caller)


def _first_refusal(
    request: InformerRequest, account: AccountRules, facts: IntakeFacts
) -> Refused | None:
    contact = request.contact
    is_phone = contact.form is ContactForm.PHONE
    if request.rule is not UsageRule.FIXED and not account.number_management:
        return Refused(Refusal.NUMBER_MANAGEMENT_DISABLED)
    if request.virtual_number not in facts.owned:
        return Refused(Refusal.VIRTUAL_NUMBER_NOT_OWNED)
    if is_phone and contact.value in facts.owned:
        return Refused(Refusal.OWN_VIRTUAL_NUMBER)
    if not is_phone and facts.employee_uri is None:
        return Refused(Refusal.EMPLOYEE_NOT_FOUND)
    if request.media_file_id is not None:
        if not facts.media_usable:
            return Refused(Refusal.MEDIA_FILE_NOT_FOUND)
    elif len(request.message_value) > account.tts_max_length:
        return Refused(Refusal.TTS_TOO_LONG)
    if facts.blacklisted:
        return Refused(Refusal.BLACKLISTED)
    if is_phone:
        classes = classify_call(
            number_facts(contact.value), facts.contact_region, account.home_country,
            account.home_region,
        )  # fmt: skip
        for call_class in classes:
            if call_class not in account.allowed:
                return Refused(Refusal.DIRECTION_NOT_ALLOWED, call_class)
    return None
