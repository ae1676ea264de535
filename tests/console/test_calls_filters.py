"""The calls list's filter form read into the store's filter: dates in the console's zone,
numbers in any format, a user's account filter ignored, bad input named."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from starlette.datastructures import QueryParams

from vestnik.console.calls_filters import BadFilter, read_filters
from vestnik.console.render import set_zone, zone_name


@pytest.fixture
def moscow() -> Iterator[None]:
    before = zone_name()
    set_zone("Europe/Moscow")
    try:
        yield
    finally:
        set_zone(before)


def _utc(year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def test_dates_are_read_in_the_console_zone(moscow: None) -> None:
    listed = read_filters(QueryParams("from=2026-12-07 14:05&till=2026-12-07"), operator=True)
    assert listed.wanted.created_from == _utc(2026, 12, 7, 11, 5)  # Moscow is UTC+3
    assert listed.wanted.created_till == _utc(2026, 12, 7, 21, 0)  # the whole day, Moscow's
    exact = read_filters(QueryParams("till=2026-12-07T14:05"), operator=True)
    assert exact.wanted.created_till == _utc(2026, 12, 7, 11, 5)


def test_numbers_in_any_format_the_page_and_the_links() -> None:
    listed = read_filters(
        QueryParams("contact=%2B7 (916) 123-45-67&q=order-1&page=3&account=acme"), operator=True
    )
    assert listed.wanted.contact == "79161234567" and listed.wanted.search == "order-1"
    assert listed.wanted.account == "acme" and listed.page == 3
    assert "page=4" in listed.query(4) and "contact=%2B7" in listed.query(4)
    assert "page" not in listed.query(1)
    assert read_filters(QueryParams("contact=sip:desk"), operator=True).wanted.contact == "sip:desk"


def test_an_account_user_cannot_widen_the_list_by_account() -> None:
    listed = read_filters(QueryParams("account=other"), operator=False)
    assert listed.wanted.account is None and "account" not in listed.query()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("id=12x", "call_session_id: '12x' is not a number"),
        ("from=yesterday", "from: 'yesterday' is not a date"),
        ("till=2026-13-01", "till: '2026-13-01' is not a date"),
        ("state=bogus", "state: 'bogus' is not one of"),
        ("finish_reason=ok", "finish_reason: 'ok' is not a finish reason"),
        ("page=0", "page: '0' is not a page number"),
        ("page=201", "page: '201' is not a page number"),
    ],
)
def test_bad_input_is_named(query: str, message: str) -> None:
    with pytest.raises(BadFilter, match=message.replace("(", r"\(")):
        read_filters(QueryParams(query), operator=True)
