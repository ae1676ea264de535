"""The time zone of a contact, for a calling window with ``"timezone": "contact"``.

Russia spans 11 zones and libphonenumber knows only some of it: a mobile number (DEF 9xx) is
"Russia" with sixteen zones, and a few geographic codes carry an odd zone (Kaliningrad's 4012
is Europe/Bucharest there). The region of a number is better known: the numbering-plan
registry names it (``store.numbering``, the session's ``contact_region``), and libphonenumber's
Russian geocoder names it for landlines. So, in order:

1. the zone of the contact's region (a Russian number), by :data:`REGION_ZONES`;
2. libphonenumber's zones of the number, when it gives exactly one;
3. the zone of the account's home region (``home_region``), by the same table;
4. Europe/Moscow.

A SIP contact has no number: steps 3 and 4. A region name is matched by its words, not as
a whole: the registry writes "г. Москва и Московская обл.", "Республика Саха (Якутия)",
"Кемеровская область - Кузбасс", the geocoder "Республика Саха /Якутия/", "Свердловская обл"
(no dot), "Луга́нская Наро́дная Респу́блика" (stress marks); a word of the name must begin with
one of the table's stems (case, ё/е and accents aside). The first stem of the table that
matches wins, so the table lists the names that contain another's stem first (Сахалинская
before Саха, Ямало-Ненецкий before Ненецкий).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException
from phonenumbers import timezone as phone_zones

MOSCOW = "Europe/Moscow"

# (stems, IANA zone): every federal subject of Russia, in the words the registry and the
# geocoder use (the stem of the subject's name, and of its main city where that differs).
REGION_ZONES: tuple[tuple[tuple[str, ...], str], ...] = (
    # Names holding another name's stem come first.
    (("сахалин",), "Asia/Sakhalin"),
    (("ямал",), "Asia/Yekaterinburg"),  # Ямало-Ненецкий АО (before Ненецкий)
    (("пермяц",), "Asia/Yekaterinburg"),  # Коми-Пермяцкий округ, of Пермский край
    (("калининград",), "Europe/Kaliningrad"),
    (("москв", "московск", "санкт", "петербург", "ленинградск", "белгородск", "брянск",
      "владимирск", "воронежск", "ивановск", "калужск", "костромск", "курск", "липецк",
      "орловск", "орел", "рязанск", "смоленск", "тамбовск", "тверск", "тульск", "ярославск",
      "архангельск", "вологодск", "мурманск", "новгородск", "псковск", "карел", "коми",
      "ненецк", "нижегородск", "мордов", "марий", "чуваш", "пензенск", "краснодарск",
      "адыге", "калмык", "ростовск", "ставропольск", "дагестан", "ингуш", "кабардин",
      "карачаев", "осет", "алания", "чечен", "татарстан", "донецк", "луганск",
      "запорожск", "херсонск"), MOSCOW),
    (("крым", "севастопол"), "Europe/Simferopol"),
    (("кировск",), "Europe/Kirov"),
    (("волгоградск",), "Europe/Volgograd"),
    (("самарск", "удмурт"), "Europe/Samara"),
    (("ульяновск",), "Europe/Ulyanovsk"),
    (("саратовск",), "Europe/Saratov"),
    (("астраханск",), "Europe/Astrakhan"),
    (("свердловск", "екатеринбург", "челябинск", "курганск", "тюменск", "ханты", "югра",
      "пермск", "башк", "оренбургск"), "Asia/Yekaterinburg"),
    (("омск",), "Asia/Omsk"),
    (("новосибирск",), "Asia/Novosibirsk"),
    (("томск",), "Asia/Tomsk"),
    (("алтай", "барнаул"), "Asia/Barnaul"),
    (("кемеровск", "кузбасс"), "Asia/Novokuznetsk"),
    (("красноярск", "хакас", "тыва", "тува"), "Asia/Krasnoyarsk"),
    (("иркутск", "бурят"), "Asia/Irkutsk"),
    (("забайкальск", "читинск"), "Asia/Chita"),
    (("саха", "якут", "амурск"), "Asia/Yakutsk"),
    (("приморск", "владивосток", "хабаровск", "еврейск"), "Asia/Vladivostok"),
    (("магаданск",), "Asia/Magadan"),
    (("камчатск",), "Asia/Kamchatka"),
    (("чукотск",), "Asia/Anadyr"),
    # Not a federal subject: the city Russia leases, with Russian numbers (+7 336 22).
    (("байконыр", "байконур"), "Asia/Qyzylorda"),
)  # fmt: skip
_WORD = re.compile(r"[a-zа-я]+")


def _words(name: str) -> list[str]:
    decomposed = unicodedata.normalize("NFD", name.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # NFD splits й and ё into и, е and a mark: dropping the mark gives и, е (ё = е wanted).
    return _WORD.findall(plain)


@lru_cache(maxsize=4096)
def region_zone(region: str | None) -> str | None:
    """The IANA zone of a Russian region's name (registry or geocoder spelling), or None."""
    if not region:
        return None
    words = _words(region)
    for stems, zone in REGION_ZONES:
        if any(word.startswith(_plain(stem)) for stem in stems for word in words):
            return zone
    return None


@lru_cache(maxsize=256)
def _plain(stem: str) -> str:
    return "".join(_words(stem))


@lru_cache(maxsize=65_536)
def number_zones(digits: str) -> tuple[str, ...]:
    """libphonenumber's zones of an E.164 number (digits); () when it knows none."""
    try:
        parsed = phonenumbers.parse("+" + digits)
    except NumberParseException:
        return ()
    zones = phone_zones.time_zones_for_number(parsed)
    return tuple(z for z in zones if z != phone_zones.UNKNOWN_TIMEZONE)


def contact_zone(
    digits: str | None,
    contact_region: str | None,
    home_region: str | None,
    *,
    russian: bool = True,
) -> str:
    """The zone of a contact: ``digits`` its E.164 number (None: a SIP contact),
    ``contact_region`` the number's region, ``home_region`` the account's. ``russian``:
    whether the number is Russian (the region table is Russia's)."""
    if digits is not None:
        if russian:
            zone = region_zone(contact_region)
            if zone is not None:
                return zone
        zones = number_zones(digits)
        if len(zones) == 1:
            return zones[0]
    return region_zone(home_region) or MOSCOW
