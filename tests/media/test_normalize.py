"""Russian normalisation: concrete spoken forms for what informer calls say."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vestnik.media.tts.normalize import (
    money_words,
    normalize_russian,
    normalize_text,
    plural_form,
    time_words,
)


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        # numbers
        ("Ваш заказ 12345 готов", "Ваш заказ двенадцать тысяч триста сорок пять готов"),
        ("Осталось 25 дней", "Осталось двадцать пять дней"),
        ("Ваш код 0042", "Ваш код ноль ноль четыре два"),
        # money: comma and dot decimals, abbreviations, gender of kopecks
        ("Сумма 1 500,50 руб.", "Сумма одна тысяча пятьсот рублей пятьдесят копеек."),
        ("Сумма 1500.50 руб.", "Сумма одна тысяча пятьсот рублей пятьдесят копеек."),
        ("Долг 1234,56 ₽", "Долг одна тысяча двести тридцать четыре рубля пятьдесят шесть копеек"),
        ("К оплате 1 рубль 1 копейка", "К оплате один рубль одна копейка"),
        ("Долг 21 руб. 2 коп.", "Долг двадцать один рубль две копейки"),
        ("Остаток 0,99 ₽", "Остаток девяносто девять копеек"),
        ("Скидка 22 копейки", "Скидка двадцать две копейки"),
        ("Оплата 1 500,00 рублей.", "Оплата одна тысяча пятьсот рублей."),
        ("Платёж 1000000 рублей", "Платёж один миллион рублей"),
        ("Итого 5 р. Спасибо", "Итого пять рублей. Спасибо"),
        # money after a preposition takes its case
        (
            "Оплатите до 350 руб. до 25 марта",
            "Оплатите до трёхсот пятидесяти рублей до двадцать пятого марта",
        ),
        # dates
        ("Доставка 12.03.2025", "Доставка двенадцатое марта две тысячи двадцать пятого года"),
        ("Встреча 5 мая", "Встреча пятого мая"),
        # times: nominative after "в", the preposition's case otherwise
        ("Приходите в 14:30", "Приходите в четырнадцать часов тридцать минут"),
        ("Ждём до 9:05", "Ждём до девяти часов пяти минут"),
        ("Работаем с 10:00 до 18:00", "Работаем с десяти часов до восемнадцати часов"),
        ("Подойдите к 18:00", "Подойдите к восемнадцати часам"),
        ("Откроемся после 1:01", "Откроемся после одного часа одной минуты"),
        ("Начало в 21:00", "Начало в двадцать один час"),
        # phone-like digit strings
        (
            "Позвоните 89991234567",
            "Позвоните восемь девятьсот девяносто девять"
            " сто двадцать три сорок пять шестьдесят семь",
        ),
        (
            "Номер 79991234567.",
            "Номер плюс семь девятьсот девяносто девять"
            " сто двадцать три сорок пять шестьдесят семь.",
        ),
        (
            "Звоните 8 800 555-35-35",
            "Звоните восемь восемьсот пятьсот пятьдесят пять тридцать пять тридцать пять",
        ),
        # №
        ("Заказ № 15", "Заказ номер пятнадцать"),
        ("Заказ №15 готов", "Заказ номер пятнадцать готов"),
    ],
)
def test_spoken_forms(text: str, spoken: str) -> None:
    assert normalize_russian(text) == spoken


def test_output_has_no_digits_for_typical_message() -> None:
    text = (
        "Заказ №4521 на сумму 2 499,90 руб. доставят 03.12.2025 с 9:00 до 13:30. Тел. 88005553535"
    )
    spoken = normalize_russian(text)
    assert not any(ch.isdigit() for ch in spoken), spoken


@pytest.mark.parametrize(
    ("n", "form"),
    [(1, "рубль"), (2, "рубля"), (4, "рубля"), (5, "рублей"), (11, "рублей"), (12, "рублей"),
     (21, "рубль"), (22, "рубля"), (111, "рублей"), (0, "рублей")],
)  # fmt: skip
def test_plural_form(n: int, form: str) -> None:
    assert plural_form(n, ("рубль", "рубля", "рублей")) == form


def test_money_words_uses_decimal_exactly() -> None:
    # 0.1 + 0.2 style float errors would give 29/31 kopecks.
    assert money_words(Decimal("0.30")) == "тридцать копеек"
    assert money_words(Decimal("2.01"), "gen") == "двух рублей одной копейки"
    assert money_words(Decimal("0")) == "ноль рублей"


def test_time_words_cases() -> None:
    assert time_words(2, 0) == "два часа"
    assert time_words(2, 0, "gen") == "двух часов"
    assert time_words(1, 21, "dat") == "одному часу двадцати одной минуте"


def test_other_languages_are_left_to_the_engine() -> None:
    assert normalize_text("Order  15 at 14:30.\n", "en") == "Order 15 at 14:30."
    assert normalize_text("Заказ №15", "ru") == "Заказ номер пятнадцать"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_any_text_normalises_without_error(text: str) -> None:
    assert isinstance(normalize_russian(text), str)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["до", "с", "к", "в", " ", "руб.", "₽", "коп.", "рублей", ",", ".", ":", "№", "-"]
        )
        | st.integers(0, 10**30).map(str),
        max_size=12,
    )
)
def test_number_heavy_text_normalises_without_error(parts: list[str]) -> None:
    spoken = normalize_russian(" ".join(parts))
    assert isinstance(spoken, str)


def test_huge_numbers_are_read_digit_by_digit_quickly() -> None:
    started = time.perf_counter()
    spoken = normalize_russian("9" * 4000)
    assert time.perf_counter() - started < 2.0
    assert spoken.split() == ["девять"] * 4000
    assert normalize_russian("9" * 40 + " руб.").startswith("девять девять")
