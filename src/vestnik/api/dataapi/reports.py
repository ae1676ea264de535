"""``get.calls_report`` and ``get.call_legs_report``: the account's sessions and their legs
over an interval of at most 3 months (the vendor's rule)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vestnik.api.dataapi.query import LIST_PARAMS, in_reply_format, page_query, parse_datetime
from vestnik.api.errors import ApiError
from vestnik.api.jsonrpc import MethodCall, MethodSpec
from vestnik.api.params import Kind, Param
from vestnik.store.db import Connection
from vestnik.store.reports.calls import (
    CALL_LEGS_REPORT,
    CALLS_REPORT,
    call_legs_report,
    calls_report,
)
from vestnik.store.reports.pages import Page

# date_till may be at most this many calendar months after date_from (the vendor's rule).
MAX_INTERVAL_MONTHS = 3
MAX_BLACKLIST_NUMBER_LENGTH = 255
MAX_COMMENT_LENGTH = 1000
RECORD_LINK = "full_record_file_link"


def _add_months(moment: datetime, months: int) -> datetime:
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    for day in (moment.day, 30, 29, 28):  # clamp 31 Jan + 1 month to the month's last day
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            if year > 9999:
                raise
    raise AssertionError("unreachable")


def date_range(params: dict[str, Any]) -> tuple[float, float]:
    """``date_from``/``date_till`` as UNIX seconds; refuses reversed or too long intervals."""
    start = parse_datetime(params["date_from"], "date_from")
    end = parse_datetime(params["date_till"], "date_till")
    if end < start:
        raise ApiError("invalid_parameter_value", field="date_till", value=params["date_till"])
    try:
        limit = _add_months(datetime.fromtimestamp(start, UTC), MAX_INTERVAL_MONTHS).timestamp()
    except ValueError:  # date_from within 3 months of the year 9999: no limit to reach
        limit = float("inf")
    if end > limit:
        raise ApiError(
            "date_interval_limit_reached",
            field="date_till",
            value=params["date_till"],
            params={"max_interval": f"{MAX_INTERVAL_MONTHS} months"},
        )
    return start, end


def get_calls_report(call: MethodCall, conn: Connection) -> Page:
    start, end = date_range(call.params)
    query = page_query(CALLS_REPORT, call.params)
    ongoing = bool(call.params.get("include_ongoing_calls"))
    page = calls_report(conn, call.principal.account_id, start, end, query, ongoing=ongoing)
    return with_public_links(in_reply_format(CALLS_REPORT, page), call.config.server.public_url)


def with_public_links(page: Page, public_url: str) -> Page:
    """``full_record_file_link`` (a path as stored) prefixed with ``[server] public_url``; the
    path alone when that is empty (never the request's ``Host``: the client chooses it)."""
    base = public_url.rstrip("/")
    if base:
        for item in page.items:
            link = item.get(RECORD_LINK)
            if link:
                item[RECORD_LINK] = base + link
    return page


def get_call_legs_report(call: MethodCall, conn: Connection) -> Page:
    start, end = date_range(call.params)
    query = page_query(CALL_LEGS_REPORT, call.params)
    page = call_legs_report(conn, call.principal.account_id, start, end, query)
    return in_reply_format(CALL_LEGS_REPORT, page)


_PERIOD = (
    Param("access_token", Kind.STRING, True),
    Param("date_from", Kind.STRING, True),
    Param("date_till", Kind.STRING, True),
)
GET_CALLS_REPORT = MethodSpec(
    params=(*_PERIOD, Param("include_ongoing_calls", Kind.BOOLEAN), *LIST_PARAMS),
    handler=get_calls_report,
)
GET_CALL_LEGS_REPORT = MethodSpec(params=(*_PERIOD, *LIST_PARAMS), handler=get_call_legs_report)
