"""Pure number logic (calls/numbers.py) and the numbering-plan registry (store/numbering.py)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from vestnik.calls import UsageRule
from vestnik.calls.numbers import (
    CallClass,
    ContactForm,
    PoolNumber,
    choose_caller_number,
    classify_call,
    number_facts,
    parse_contact,
    region_key,
)
from vestnik.store.numbering import NumberingPlanError, import_csv, lookup
from vestnik.store.schema import numbering_plan

DATA = Path(__file__).resolve().parents[1] / "support" / "data" / "numbering_plan.csv"


@pytest.mark.parametrize(
    ("text", "form", "value"),
    [
        ("79260000000", ContactForm.PHONE, "79260000000"),
        ("+79260000000", ContactForm.PHONE, "79260000000"),
        ("4930123456", ContactForm.PHONE, "4930123456"),
        ("101", ContactForm.EXTENSION, "101"),
        ("123456", ContactForm.EXTENSION, "123456"),
        ("sip:ivanov@pbx.example.com", ContactForm.SIP, "sip:ivanov@pbx.example.com"),
        ("ivanov@pbx.example.com", ContactForm.SIP, "sip:ivanov@pbx.example.com"),
        ("sip:@pbx", ContactForm.INVALID, "sip:@pbx"),
        ("89260000000", ContactForm.INVALID, "89260000000"),
        ("7926000000x", ContactForm.INVALID, "7926000000x"),
        ("", ContactForm.INVALID, ""),
    ],
)
def test_parse_contact(text: str, form: ContactForm, value: str) -> None:
    contact = parse_contact(text)
    assert (contact.form, contact.value) == (form, value)


def test_classify_call() -> None:
    moscow, kazan, mobile, berlin = (
        number_facts(n) for n in ("74991234567", "78432123456", "79260000000", "4930123456")
    )
    assert classify_call(moscow, "г. Москва", "RU", "Москва") == []
    assert classify_call(kazan, "Республика Татарстан", "RU", "Москва") == [CallClass.LONG_DISTANCE]
    assert classify_call(kazan, "Республика Татарстан", "RU", None) == []
    assert classify_call(mobile, None, "RU", "Москва") == [CallClass.MOBILE]
    assert classify_call(mobile, "Республика Татарстан", "RU", "Москва") == [
        CallClass.MOBILE, CallClass.LONG_DISTANCE,
    ]  # fmt: skip
    assert classify_call(berlin, "Berlin", "RU", "Москва") == [CallClass.INTERNATIONAL]
    assert classify_call(berlin, None, "DE", None) == []


def test_region_key() -> None:
    assert region_key("г. Москва") == region_key("москва") == region_key(" Москва ")
    assert region_key("Республика  Татарстан") == region_key("республика татарстан")
    assert region_key("Орёл") == region_key("Орел")
    assert region_key(None) is None and region_key("  ") is None


POOL = [
    PoolNumber("74990000001", "г. Москва"),
    PoolNumber("74990000002", "Москва"),
    PoolNumber("78430000001", "Республика Татарстан"),
    PoolNumber("78120000001", None),
]


def test_choose_fixed_and_random() -> None:
    rng = random.Random(1)
    fixed = choose_caller_number(UsageRule.FIXED, "7000", POOL, "г. Москва", None, rng)
    assert (fixed.number, fixed.remember) == ("7000", False)
    picks = {
        choose_caller_number(UsageRule.RANDOM, "7000", POOL, None, None, rng).number
        for _ in range(200)
    }
    assert picks == {p.number for p in POOL}
    assert choose_caller_number(UsageRule.RANDOM, "7000", [], None, None, rng).number == "7000"


def test_choose_regional() -> None:
    rng = random.Random(2)
    picks = {
        choose_caller_number(UsageRule.REGIONAL_RANDOM, "7000", POOL, "Москва", None, rng).number
        for _ in range(100)
    }
    assert picks == {"74990000001", "74990000002"}
    kazan = choose_caller_number(
        UsageRule.REGIONAL_RANDOM, "7000", POOL, "Республика Татарстан", None, rng
    )
    assert kazan.number == "78430000001"
    for region in ("Тверская обл.", None):
        fallback = choose_caller_number(UsageRule.REGIONAL_RANDOM, "7000", POOL, region, None, rng)
        assert (fallback.number, fallback.remember) == ("7000", False)


def test_choose_sticky() -> None:
    rng = random.Random(3)
    first = choose_caller_number(UsageRule.FIXED_FOR_NUMA, "7000", POOL, None, None, rng)
    assert first.remember and first.number in {p.number for p in POOL}
    again = choose_caller_number(UsageRule.FIXED_FOR_NUMA, "7000", POOL, None, first.number, rng)
    assert (again.number, again.remember) == (first.number, False)
    # The remembered number left the pool: a new one is chosen and remembered.
    gone = choose_caller_number(UsageRule.FIXED_FOR_NUMA, "7000", POOL, None, "79999999999", rng)
    assert gone.remember and gone.number != "79999999999"
    # Regional sticky: a remembered number outside the contact's region does not qualify.
    regional = choose_caller_number(
        UsageRule.REGIONAL_FIXED_FOR_NUMA, "7000", POOL, "Республика Татарстан",
        "74990000001", rng,
    )  # fmt: skip
    assert (regional.number, regional.remember) == ("78430000001", True)
    none = choose_caller_number(
        UsageRule.REGIONAL_FIXED_FOR_NUMA, "7000", POOL, "Тверская обл.", None, rng
    )
    assert (none.number, none.remember) == ("7000", False)


def test_import_and_lookup(engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        assert import_csv(conn, DATA) == 5
        assert lookup(conn, "79260000000") == ('ПАО "Тестовый оператор"', "г. Москва")
        assert lookup(conn, "+79261999999") == ('ООО "Другой оператор"', "Московская обл.")
        assert lookup(conn, "79872500000") == ('ООО "Казанская связь"', "Республика Татарстан")
        assert lookup(conn, "79873000999")[1] == "Республика Татарстан"  # type: ignore[index]
        assert lookup(conn, "79873001000") is None  # a gap between ranges
        assert lookup(conn, "79990000000") is None
        assert lookup(conn, "abc") is None and lookup(conn, "") is None
    # Re-importing replaces the codes of the file instead of duplicating them; the same data
    # in Windows-1251 reads the same.
    legacy = tmp_path / "def.csv"
    legacy.write_bytes(DATA.read_text(encoding="utf-8").encode("cp1251"))
    with engine.begin() as conn:
        assert import_csv(conn, legacy) == 5
        count = conn.execute(sa.select(sa.func.count()).select_from(numbering_plan)).scalar()
        assert count == 5
        assert lookup(conn, "79260000000") == ('ПАО "Тестовый оператор"', "г. Москва")


@pytest.mark.parametrize(
    "content",
    [
        "926;0000000\n",
        "926;abc;0999999;1;op;region;1\n",
        "926;0999999;0000000;1;op;region;1\n",
        "926;12345678;12345679;1;op;region;1\n",
    ],
)
def test_import_rejects_malformed_files(engine: Engine, tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("АВС/ DEF;От;До;Емкость;Оператор;Регион;ИНН\n" + content, encoding="utf-8")
    with pytest.raises(NumberingPlanError), engine.begin() as conn:
        import_csv(conn, path)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(numbering_plan)).scalar() == 0
