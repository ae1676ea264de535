"""Russian text normalisation before synthesis: numbers, money, dates, times → words.

The heavy lifting is ``russian-tts-normalization`` (module ``russian``): numbers, dates, ordinals,
phone numbers written with separators, ``№``, units, abbreviations. It misses a few things an
informer call says all the time, so a small pre-pass turns them into words first (with
``num2words``, which knows case and gender):

* money in roubles with kopecks (``1 500,50 руб.``, ``1234.56 ₽``) and rouble abbreviations
  (``руб.``, ``р.``, ``₽``, ``RUB``): the library reads comma decimals as fractions and leaves
  ``руб.`` unexpanded after prepositions;
* kopecks agree in gender (``1 копейка``, ``22 копейки``, not ``один копейка``);
* money and times after a preposition take its case (``до 9:05`` → ``до девяти часов пяти
  минут``, ``к 18:00`` → ``к восемнадцати часам``, ``до 350 руб.`` → ``до трёхсот пятидесяти
  рублей``);
* Russian phone numbers written as one run of digits (``89991234567``) are read in groups like
  a phone number, not as billions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

import russian
from num2words import num2words

log = logging.getLogger(__name__)

# Prepositions that govern the case of a following amount or time.
GENITIVE_PREPOSITIONS = frozenset(
    {"до", "от", "с", "со", "после", "около", "более", "менее", "свыше", "без", "из", "для",
     "позже", "позднее", "раньше", "ранее"}
)  # fmt: skip
DATIVE_PREPOSITIONS = frozenset({"к", "ко"})

_CASE_CODE = {"nom": "n", "gen": "g", "dat": "d"}

# (one, few, many) noun forms per case; "few" is used for 2–4, "many" for 5–20 and 0.
_RUBLE = {
    "nom": ("рубль", "рубля", "рублей"),
    "gen": ("рубля", "рублей", "рублей"),
    "dat": ("рублю", "рублям", "рублям"),
}
_KOPECK = {
    "nom": ("копейка", "копейки", "копеек"),
    "gen": ("копейки", "копеек", "копеек"),
    "dat": ("копейке", "копейкам", "копейкам"),
}
_HOUR = {
    "nom": ("час", "часа", "часов"),
    "gen": ("часа", "часов", "часов"),
    "dat": ("часу", "часам", "часам"),
}
_MINUTE = {
    "nom": ("минута", "минуты", "минут"),
    "gen": ("минуты", "минут", "минут"),
    "dat": ("минуте", "минутам", "минутам"),
}

_SPACE = "[ \u00a0\u202f]"
# An amount: digits grouped by spaces in thousands, or a plain run; optional decimals.
_AMOUNT = rf"(?<![\d.,])(?P<int>\d{{1,3}}(?:{_SPACE}\d{{3}})+|\d+)(?:[.,](?P<frac>\d{{1,2}}))?"
_RUBLE_ABBR = r"(?:₽|руб\.?|р\.|RUB|rub)"
_RUBLE_WORD = r"(?:рубл(?:ей|я|ь|ю|ям|ями|ях|е|ём))"
_KOPECKS_TAIL = r"(?:\s*(?P<kop>\d{1,2})\s*(?:коп\.?|копе(?:йка|йки|ек|йку))(?![а-яё]))?"
_PREPOSITION = r"(?:(?<![а-яё])(?P<prep>[а-яё]+)\s+)?"

_MONEY = re.compile(
    _PREPOSITION
    + _AMOUNT
    + rf"\s*(?:(?P<abbr>{_RUBLE_ABBR})|(?P<word>{_RUBLE_WORD}))(?![а-яёa-z])"
    + _KOPECKS_TAIL,
    re.IGNORECASE,
)
_KOPECKS = re.compile(
    _PREPOSITION + r"(?<![\d.,])(?P<n>\d+)\s*(?P<unit>коп\.?|копе(?:йка|йки|ек|йку))(?![а-яё])",
    re.IGNORECASE,
)
_TIME_AFTER_PREPOSITION = re.compile(
    r"(?<![а-яё])(?P<prep>[а-яё]+)\s+(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?![:\d])", re.IGNORECASE
)
# 8 999 123-45-67 written without separators (7/8 + ten digits), or a bare mobile 9XX…
_LONG_DIGIT_RUN = re.compile(r"\d{19,}")
_PHONE_RUN = re.compile(r"(?<![\d+])(?P<prefix>\+?[78])?(?P<rest>9\d{9}|[3-8]\d{9})(?!\d)")


def plural_form(n: int, forms: tuple[str, str, str]) -> str:
    """The noun form that agrees with ``n`` (Russian: 1, 2–4, 5–20 by the last two digits)."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return forms[0]
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return forms[1]
    return forms[2]


def number_words(n: int, case: str = "nom", feminine: bool = False) -> str:
    return str(num2words(n, lang="ru", case=_CASE_CODE[case], gender="f" if feminine else "m"))


def _case_of(preposition: str | None) -> str:
    if not preposition:
        return "nom"
    word = preposition.lower()
    if word in GENITIVE_PREPOSITIONS:
        return "gen"
    if word in DATIVE_PREPOSITIONS:
        return "dat"
    return "nom"


def _with_preposition(preposition: str | None, words: str) -> str:
    return f"{preposition} {words}" if preposition else words


def money_words(amount: Decimal, case: str = "nom") -> str:
    """``Decimal('1500.50')`` → ``тысяча пятьсот рублей пятьдесят копеек``."""
    kopecks_total = int((amount * 100).quantize(Decimal(1)))
    rubles, kopecks = divmod(kopecks_total, 100)
    parts: list[str] = []
    if rubles or not kopecks:
        parts.append(f"{number_words(rubles, case)} {plural_form(rubles, _RUBLE[case])}")
    if kopecks:
        parts.append(
            f"{number_words(kopecks, case, feminine=True)} {plural_form(kopecks, _KOPECK[case])}"
        )
    return " ".join(parts)


def _sentence_end_follows(text: str, pos: int) -> bool:
    """After an abbreviation's dot: does a new sentence (or the text's end) follow?"""
    rest = text[pos:].lstrip()
    return not rest or rest[0].isupper()


def _replace_money(match: re.Match[str]) -> str:
    integer = re.sub(_SPACE, "", match["int"])
    frac = match["frac"]
    if match["word"] and not frac and not match["kop"]:
        # "1000 рублей" without kopecks: the library reads it, with case context.
        return match[0]
    try:
        amount = Decimal(f"{integer}.{(frac or '0').ljust(2, '0')}")
    except InvalidOperation:
        return match[0]
    if match["kop"] and not frac:
        amount += Decimal(int(match["kop"])) / 100
    words = _with_preposition(match["prep"], money_words(amount, _case_of(match["prep"])))
    abbr = match["abbr"] or ""
    consumed_dot = abbr.endswith(".") and not match["kop"]
    if consumed_dot and _sentence_end_follows(match.string, match.end()):
        words += "."
    return words


def _replace_kopecks(match: re.Match[str]) -> str:
    n = int(match["n"])
    case = _case_of(match["prep"])
    words = f"{number_words(n, case, feminine=True)} {plural_form(n, _KOPECK[case])}"
    words = _with_preposition(match["prep"], words)
    if match["unit"].endswith(".") and _sentence_end_follows(match.string, match.end()):
        words += "."
    return words


def time_words(hours: int, minutes: int, case: str = "nom") -> str:
    """``9, 5, 'gen'`` → ``девяти часов пяти минут``."""
    words = f"{number_words(hours, case)} {plural_form(hours, _HOUR[case])}"
    if minutes:
        words += (
            f" {number_words(minutes, case, feminine=True)} {plural_form(minutes, _MINUTE[case])}"
        )
    return words


def _replace_time(match: re.Match[str]) -> str:
    case = _case_of(match["prep"])
    if case == "nom":
        return match[0]  # "в 14:30": the library's nominative reading is right
    return f"{match['prep']} {time_words(int(match['h']), int(match['m']), case)}"


def _replace_phone(match: re.Match[str]) -> str:
    rest = match["rest"]
    grouped = f"{rest[:3]} {rest[3:6]} {rest[6:8]} {rest[8:]}"
    prefix = match["prefix"] or ""
    if prefix == "7":
        prefix = "+7"
    return f"{prefix} {grouped}".strip()


def _spell_long_digit_run(match: re.Match[str]) -> str:
    return " ".join(match[0])


def _guarded(
    replace: Callable[[re.Match[str]], str],
) -> Callable[[re.Match[str]], str]:
    """A replacement that can never fail the message: on any error the text stays as written."""

    def safe(match: re.Match[str]) -> str:
        try:
            return replace(match)
        except (ArithmeticError, ValueError, OverflowError, NotImplementedError):
            log.debug("normalisation left %r as is", match[0], exc_info=True)
            return match[0]

    return safe


def prepass(text: str) -> str:
    """Our fixes, applied before the library (see the module docstring)."""
    # Runs too long to be a number anyone says (and slow for the library): digit by digit.
    text = _LONG_DIGIT_RUN.sub(_spell_long_digit_run, text)
    text = _PHONE_RUN.sub(_replace_phone, text)
    text = _MONEY.sub(_guarded(_replace_money), text)
    text = _KOPECKS.sub(_guarded(_replace_kopecks), text)
    text = _TIME_AFTER_PREPOSITION.sub(_guarded(_replace_time), text)
    return text


def normalize_russian(text: str) -> str:
    """Text as it should be spoken: every number, amount, date and time in words."""
    prepared = prepass(text)
    try:
        spoken = russian.normalize_russian(prepared)
    except Exception:  # a library bug must not cost the call: speak what we have
        log.warning("russian-tts-normalization failed; using the pre-pass text", exc_info=True)
        spoken = prepared
    return re.sub(r"\s+", " ", spoken).strip()


def normalize_text(text: str, language: str) -> str:
    """Text as the engine should read it: Russian rules for Russian voices; other languages
    are left to the engine (espeak-ng reads numbers in its own language), spacing tidied."""
    if language == "ru":
        return normalize_russian(text)
    return re.sub(r"\s+", " ", text).strip()
