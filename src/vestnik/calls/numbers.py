"""Phone numbers of a call: contact forms, number classes, regions, caller-number choice.

Pure logic (phonenumbers only, no SQL): the API layer looks regions up in the numbering-plan
registry and passes them in.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType, geocoder

from vestnik.calls.model import UsageRule

# Digit strings this short are internal extensions (E.164 numbers have at least 7 digits).
MAX_EXTENSION_DIGITS = 6
_DIGITS = re.compile(r"\+?[0-9]{1,20}")
_SIP_SCHEMES = ("sip:", "sips:")


class ContactForm(StrEnum):
    PHONE = "phone"  # a valid E.164 number
    SIP = "sip"  # a SIP URI (must be an employee's)
    EXTENSION = "extension"  # a short internal number: not supported
    INVALID = "invalid"


@dataclass(frozen=True)
class Contact:
    form: ContactForm
    value: str  # E.164 digits without "+", or the SIP URI with its scheme


def parse_contact(text: str) -> Contact:
    text = text.strip()
    if has_sip_scheme(text) or "@" in text:
        uri = with_sip_scheme(text)
        user_host = sip_key(uri)
        if "@" not in user_host or user_host.startswith("@") or user_host.endswith("@"):
            return Contact(ContactForm.INVALID, text)
        return Contact(ContactForm.SIP, uri)
    if _DIGITS.fullmatch(text):
        digits = text.lstrip("+")
        if not text.startswith("+") and len(digits) <= MAX_EXTENSION_DIGITS:
            return Contact(ContactForm.EXTENSION, digits)
        if valid_e164(digits):
            return Contact(ContactForm.PHONE, digits)
    return Contact(ContactForm.INVALID, text)


def has_sip_scheme(text: str) -> bool:
    """Whether ``text`` begins with a SIP URI scheme, ``sip:`` or ``sips:`` (in any case)."""
    return text.lower().startswith(_SIP_SCHEMES)


def with_sip_scheme(uri: str) -> str:
    """``uri`` with its scheme: ``sip:`` is put in front of a URI written without one."""
    return uri if has_sip_scheme(uri) else "sip:" + uri


def without_sip_scheme(uri: str) -> str:
    """``uri`` without its ``sip:``/``sips:`` scheme (unchanged when it has none)."""
    return uri.partition(":")[2] if has_sip_scheme(uri) else uri


def sip_key(uri: str) -> str:
    """Comparable form of a SIP URI: no scheme, parameters or headers; host in lower case."""
    text = without_sip_scheme(uri.strip())
    text = re.split(r"[;?]", text, maxsplit=1)[0]
    user, at, host = text.rpartition("@")
    return f"{user}{at}{host.lower()}" if at else text.lower()


@lru_cache(maxsize=65_536)
def _parse(digits: str) -> phonenumbers.PhoneNumber | None:
    if not digits.isdigit() or len(digits) > 15:
        return None
    try:
        return phonenumbers.parse("+" + digits)
    except NumberParseException:
        return None


def normalize_e164(text: str) -> str | None:
    """Digits of ``text`` if it is written as E.164 (optional "+", digits only)."""
    if not _DIGITS.fullmatch(text):
        return None
    return text.lstrip("+")


@lru_cache(maxsize=65_536)
def valid_e164(digits: str) -> bool:
    """A number libphonenumber knows to be assigned-range valid."""
    parsed = _parse(digits)
    return parsed is not None and phonenumbers.is_valid_number(parsed)


@lru_cache(maxsize=65_536)
def possible_e164(digits: str) -> bool:
    """A number of a plausible length for its country (virtual numbers: the account's own list
    decides the rest)."""
    parsed = _parse(digits)
    return parsed is not None and phonenumbers.is_possible_number(parsed)


@dataclass(frozen=True)
class NumberFacts:
    country: str | None  # ISO 3166 alpha-2 ("RU"), None if unknown
    is_mobile: bool
    geo_region: str | None  # geocoder description for geographic numbers, in Russian


@lru_cache(maxsize=65_536)
def number_facts(digits: str) -> NumberFacts:
    parsed = _parse(digits)
    if parsed is None:
        return NumberFacts(None, False, None)
    country = phonenumbers.region_code_for_number(parsed)
    is_mobile = phonenumbers.number_type(parsed) == PhoneNumberType.MOBILE
    region = None
    if phonenumbers.is_number_geographical(parsed) and not is_mobile:
        region = geocoder.description_for_number(parsed, "ru") or None
    return NumberFacts(country, is_mobile, region)


@lru_cache(maxsize=1)
def country_names() -> dict[str, str]:
    """ISO 3166 alpha-2 → the country's name in Russian (libphonenumber's), for every region
    libphonenumber knows."""
    names = {}
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number(region)
        name = geocoder.country_name_for_number(example, "ru") if example else ""
        if name:
            names[region] = name
    return names


def region_key(region: str | None) -> str | None:
    """Regions compare case-insensitively, ignoring "г." and extra spaces, with ё = е."""
    if not region:
        return None
    text = region.casefold().replace("ё", "е")
    text = re.sub(r"^\s*г\.\s*", "", text)
    text = " ".join(text.split())
    return text or None


class CallClass(StrEnum):
    """Security-rule classes of a call (a call may be several at once)."""

    MOBILE = "mobile"
    LONG_DISTANCE = "long_distance"
    INTERNATIONAL = "international"


def classify_call(
    facts: NumberFacts, contact_region: str | None, home_country: str, home_region: str | None
) -> list[CallClass]:
    """International: the contact's country differs from the account's home country.
    Mobile: libphonenumber says MOBILE. Long distance: same country, both regions known and
    different (no home region = never long distance). Checked in this order."""
    classes: list[CallClass] = []
    if facts.country is None or facts.country != home_country.upper():
        classes.append(CallClass.INTERNATIONAL)
    if facts.is_mobile:
        classes.append(CallClass.MOBILE)
    if CallClass.INTERNATIONAL not in classes:
        a, b = region_key(contact_region), region_key(home_region)
        if a is not None and b is not None and a != b:
            classes.append(CallClass.LONG_DISTANCE)
    return classes


@dataclass(frozen=True)
class PoolNumber:
    number: str
    region: str | None


@dataclass(frozen=True)
class CallerChoice:
    number: str
    # fixed_for_numa rules: store this number as the contact's from now on.
    remember: bool


STICKY_RULES = frozenset({UsageRule.FIXED_FOR_NUMA, UsageRule.REGIONAL_FIXED_FOR_NUMA})
REGIONAL_RULES = frozenset({UsageRule.REGIONAL_RANDOM, UsageRule.REGIONAL_FIXED_FOR_NUMA})


def choose_caller_number(
    rule: UsageRule,
    requested: str,
    pool: Sequence[PoolNumber],
    contact_region: str | None,
    sticky: str | None,
    rng: random.Random,
) -> CallerChoice:
    """The caller number under ``rule``.

    fixed: ``requested``. random: any pool number. regional_*: only pool numbers whose region
    equals the contact's. *_fixed_for_numa: the contact's remembered number while it still
    qualifies, else a fresh random pick that is remembered. Nothing qualifies: ``requested``.
    """
    if rule is UsageRule.FIXED:
        return CallerChoice(requested, False)
    candidates = sorted({p.number for p in pool if _qualifies(rule, p, contact_region)})
    if rule in STICKY_RULES and sticky is not None and sticky in candidates:
        return CallerChoice(sticky, False)
    if not candidates:
        return CallerChoice(requested, False)
    return CallerChoice(rng.choice(candidates), rule in STICKY_RULES)


def _qualifies(rule: UsageRule, number: PoolNumber, contact_region: str | None) -> bool:
    if rule not in REGIONAL_RULES:
        return True
    want = region_key(contact_region)
    return want is not None and region_key(number.region) == want
