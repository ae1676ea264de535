"""The contact's time zone: its region's, else libphonenumber's one zone, else the home
region's, else Moscow."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from phonenumbers import geocoder

from vestnik.calls.timezones import MOSCOW, REGION_ZONES, contact_zone, region_zone

# Every federal subject, as the registry (Россвязь) names it, with its zone.
SUBJECTS = {
    "Республика Адыгея": MOSCOW, "Республика Алтай": "Asia/Barnaul",
    "Республика Башкортостан": "Asia/Yekaterinburg", "Республика Бурятия": "Asia/Irkutsk",
    "Республика Дагестан": MOSCOW, "Республика Ингушетия": MOSCOW,
    "Кабардино-Балкарская Республика": MOSCOW, "Республика Калмыкия": MOSCOW,
    "Карачаево-Черкесская Республика": MOSCOW, "Республика Карелия": MOSCOW,
    "Республика Коми": MOSCOW, "Республика Крым": "Europe/Simferopol",
    "Республика Марий Эл": MOSCOW, "Республика Мордовия": MOSCOW,
    "Республика Саха (Якутия)": "Asia/Yakutsk", "Республика Северная Осетия - Алания": MOSCOW,
    "Республика Татарстан": MOSCOW, "Республика Тыва": "Asia/Krasnoyarsk",
    "Удмуртская Республика": "Europe/Samara", "Республика Хакасия": "Asia/Krasnoyarsk",
    "Чеченская Республика": MOSCOW, "Чувашская Республика - Чувашия": MOSCOW,
    "Донецкая Народная Республика": MOSCOW, "Луганская Народная Республика": MOSCOW,
    "Алтайский край": "Asia/Barnaul", "Забайкальский край": "Asia/Chita",
    "Камчатский край": "Asia/Kamchatka", "Краснодарский край": MOSCOW,
    "Красноярский край": "Asia/Krasnoyarsk", "Пермский край": "Asia/Yekaterinburg",
    "Приморский край": "Asia/Vladivostok", "Ставропольский край": MOSCOW,
    "Хабаровский край": "Asia/Vladivostok", "Амурская обл.": "Asia/Yakutsk",
    "Архангельская обл.": MOSCOW, "Астраханская обл.": "Europe/Astrakhan",
    "Белгородская обл.": MOSCOW, "Брянская обл.": MOSCOW, "Владимирская обл.": MOSCOW,
    "Волгоградская обл.": "Europe/Volgograd", "Вологодская обл.": MOSCOW,
    "Воронежская обл.": MOSCOW, "Запорожская обл.": MOSCOW, "Ивановская обл.": MOSCOW,
    "Иркутская обл.": "Asia/Irkutsk", "Калининградская обл.": "Europe/Kaliningrad",
    "Калужская обл.": MOSCOW, "Кемеровская область - Кузбасс": "Asia/Novokuznetsk",
    "Кировская обл.": "Europe/Kirov", "Костромская обл.": MOSCOW,
    "Курганская обл.": "Asia/Yekaterinburg", "Курская обл.": MOSCOW,
    "Ленинградская обл.": MOSCOW, "Липецкая обл.": MOSCOW, "Магаданская обл.": "Asia/Magadan",
    "Московская обл.": MOSCOW, "Мурманская обл.": MOSCOW, "Нижегородская обл.": MOSCOW,
    "Новгородская обл.": MOSCOW, "Новосибирская обл.": "Asia/Novosibirsk",
    "Омская обл.": "Asia/Omsk", "Оренбургская обл.": "Asia/Yekaterinburg",
    "Орловская обл.": MOSCOW, "Пензенская обл.": MOSCOW, "Псковская обл.": MOSCOW,
    "Ростовская обл.": MOSCOW, "Рязанская обл.": MOSCOW, "Самарская обл.": "Europe/Samara",
    "Саратовская обл.": "Europe/Saratov", "Сахалинская обл.": "Asia/Sakhalin",
    "Свердловская обл.": "Asia/Yekaterinburg", "Смоленская обл.": MOSCOW,
    "Тамбовская обл.": MOSCOW, "Тверская обл.": MOSCOW, "Томская обл.": "Asia/Tomsk",
    "Тульская обл.": MOSCOW, "Тюменская обл.": "Asia/Yekaterinburg",
    "Ульяновская обл.": "Europe/Ulyanovsk", "Херсонская обл.": MOSCOW,
    "Челябинская обл.": "Asia/Yekaterinburg", "Ярославская обл.": MOSCOW,
    "г. Москва": MOSCOW, "г. Санкт-Петербург": MOSCOW, "г. Севастополь": "Europe/Simferopol",
    "Еврейская автономная обл.": "Asia/Vladivostok", "Ненецкий АО": MOSCOW,
    "Ханты-Мансийский автономный округ - Югра": "Asia/Yekaterinburg",
    "Чукотский АО": "Asia/Anadyr", "Ямало-Ненецкий АО": "Asia/Yekaterinburg",
}  # fmt: skip


def test_every_federal_subject_has_its_zone() -> None:
    assert len(SUBJECTS) == 89
    for name, zone in SUBJECTS.items():
        assert region_zone(name) == zone, name
    for _stems, zone in REGION_ZONES:
        ZoneInfo(zone)  # every zone of the table is known to zoneinfo


@pytest.mark.parametrize(
    ("name", "zone"),
    [
        ("г. Москва и Московская обл.", MOSCOW),
        ("г. Санкт-Петербург и Ленинградская обл.", MOSCOW),
        ("Республика Саха /Якутия/", "Asia/Yakutsk"),  # the geocoder's spelling
        ("Ханты - Мансийский - Югра АО", "Asia/Yekaterinburg"),
        ("Луга́нская Наро́дная Респу́блика", MOSCOW),  # stress marks
        ("Свердловская обл", "Asia/Yekaterinburg"),
        ("Архангельская обл. и Ненецкий АО", MOSCOW),
        ("  НОВОСИБИРСКАЯ   ОБЛ. ", "Asia/Novosibirsk"),
        ("Орёл", MOSCOW),
        ("Москва", MOSCOW),
        ("Атлантида", None),
        ("", None),
    ],
)
def test_region_spellings(name: str, zone: str | None) -> None:
    assert region_zone(name) == zone


def test_every_russian_geocoder_region_has_a_zone() -> None:
    """Every name libphonenumber's Russian geocoder gives a Russian landline is in the table."""
    unknown = set()
    for code in range(300, 1000):
        for subscriber in ("2123456", "5123456", "3123456", "7123456"):
            number = phonenumbers.parse(f"+7{code}{subscriber}")
            if not phonenumbers.is_valid_number(number):
                continue
            if phonenumbers.region_code_for_number(number) != "RU":
                continue
            name = geocoder.description_for_number(number, "ru")
            if name and name != "Россия" and region_zone(name) is None:
                unknown.add(name)
    assert unknown == set()


def test_the_order_of_the_rule() -> None:
    novosibirsk, vladivostok = "73832123456", "74232123456"
    mobile, kaliningrad = "79131234567", "74012123456"
    # 1. the region (the registry's, or the geocoder's), for a Russian number;
    assert contact_zone(novosibirsk, "Новосибирская обл.", None) == "Asia/Novosibirsk"
    assert contact_zone(mobile, "Приморский край", "г. Москва") == "Asia/Vladivostok"
    # libphonenumber says Europe/Bucharest for 4012: the region is right.
    assert contact_zone(kaliningrad, "Калининградская обл.", None) == "Europe/Kaliningrad"
    # 2. libphonenumber's zone when it names exactly one;
    assert contact_zone(vladivostok, None, "г. Москва") == "Asia/Vladivostok"
    assert contact_zone("442079460000", None, None, russian=False) == "Europe/London"
    # 3. a mobile number without a registry region: sixteen zones → the home region's;
    assert contact_zone(mobile, None, "Новосибирская обл.") == "Asia/Novosibirsk"
    # 4. else Moscow.
    assert contact_zone(mobile, None, None) == MOSCOW
    assert contact_zone(mobile, "Атлантида", "Атлантида") == MOSCOW
    # A SIP contact: the home region, else Moscow.
    assert contact_zone(None, None, "Хабаровский край") == "Asia/Vladivostok"
    assert contact_zone(None, None, None) == MOSCOW
    # The region table is Russia's: a foreign number's region name is not looked up in it.
    assert contact_zone("442079460000", "Москва", None, russian=False) == "Europe/London"
