"""Data API v2.0 methods: the calls report and the account's lookups.

* ``get.calls_report``: informer-call sessions of the account (the vendor's report fields).
* ``get.media_files``, ``get.virtual_numbers``, ``get.blacklist_phone_numbers``: lists.
* ``create.blacklist_phone_numbers`` / ``delete.blacklist_phone_numbers``: edit the blacklist.

All list methods take ``limit``/``offset``/``filter``/``fields``/``sort`` (see ``query.py``) and
answer ``result.data`` = list of rows, ``result.metadata.total_items`` = rows matching.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from vestnik.api.dataapi.query import LIST_PARAMS, in_reply_format, page_query, parse_datetime
from vestnik.api.errors import ApiError
from vestnik.api.jsonrpc import MethodCall, MethodSpec
from vestnik.api.params import Kind, Param, db_id
from vestnik.calls.numbers import normalize_e164
from vestnik.store import reports
from vestnik.store.admin_blacklist import blacklist_add, blacklist_remove
from vestnik.store.blacklist import remove_entry
from vestnik.store.db import Connection
from vestnik.store.reports import Dataset, Page, PageQuery

# date_till may be at most this many calendar months after date_from (the vendor's rule).
MAX_INTERVAL_MONTHS = 3
MAX_BLACKLIST_NUMBER_LENGTH = 255
MAX_COMMENT_LENGTH = 1000


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
    query = page_query(reports.CALLS_REPORT, call.params)
    ongoing = bool(call.params.get("include_ongoing_calls"))
    page = reports.calls_report(conn, call.principal.account_id, start, end, query, ongoing=ongoing)
    return in_reply_format(reports.CALLS_REPORT, page)


GET_CALLS_REPORT = MethodSpec(
    params=(
        Param("access_token", Kind.STRING, True),
        Param("date_from", Kind.STRING, True),
        Param("date_till", Kind.STRING, True),
        Param("include_ongoing_calls", Kind.BOOLEAN),
        *LIST_PARAMS,
    ),
    handler=get_calls_report,
)


# -- lookups ---------------------------------------------------------------------------

_TOKEN = Param("access_token", Kind.STRING, True)
# A lookup's rows: (account id, checked query) → page.
Lookup = Callable[[Connection, int, PageQuery], Page]


def _account_list(dataset: Dataset, lookup: Lookup) -> MethodSpec:
    """A list method over ``dataset`` rows of the caller's account."""

    def handler(call: MethodCall, conn: Connection) -> Page:
        page = lookup(conn, call.principal.account_id, page_query(dataset, call.params))
        return in_reply_format(dataset, page)

    return MethodSpec(params=(_TOKEN, *LIST_PARAMS), handler=handler)


def _blacklist_number(raw: str) -> str:
    """E.164 numbers are stored as digits (as the Call API compares them); SIP URIs as given."""
    text = raw.strip()
    digits = normalize_e164(text)
    if digits is not None and 0 < len(digits) <= 15:
        return digits
    if text.startswith("sip:") and len(text) > 4 and len(text) <= MAX_BLACKLIST_NUMBER_LENGTH:
        return text
    raise ApiError("invalid_parameter_value", field="phone_number", value=raw)


def create_blacklist_phone_number(call: MethodCall, conn: Connection) -> dict[str, Any]:
    number = _blacklist_number(call.params["phone_number"])
    comment = call.params.get("comment")
    if comment is not None and len(comment) > MAX_COMMENT_LENGTH:
        raise ApiError("invalid_parameter_value", field="comment", value=comment)
    # Idempotent: adding a listed number changes nothing and gives back its id.
    return {"id": blacklist_add(conn, call.principal.account_id, number, comment)}


def delete_blacklist_phone_number(call: MethodCall, conn: Connection) -> dict[str, Any]:
    entry_id, raw_number = call.params.get("id"), call.params.get("phone_number")
    if (entry_id is None) == (raw_number is None):
        raise ApiError("invalid_parameters_combination", field="id", value=entry_id)
    account_id = call.principal.account_id
    if raw_number is None:
        deleted = remove_entry(conn, account_id, db_id(entry_id, "id"))
    else:
        deleted = blacklist_remove(conn, account_id, _blacklist_number(raw_number))
    if not deleted:
        field, value = ("id", entry_id) if entry_id is not None else ("phone_number", raw_number)
        raise ApiError("invalid_parameter_value", field=field, value=value)
    return {"success": True}


DATA_API_METHODS: dict[str, MethodSpec] = {
    "get.calls_report": GET_CALLS_REPORT,
    "get.media_files": _account_list(reports.MEDIA_FILES, reports.media_files_page),
    "get.virtual_numbers": _account_list(reports.VIRTUAL_NUMBERS, reports.virtual_numbers_page),
    "get.blacklist_phone_numbers": _account_list(reports.BLACKLIST, reports.blacklist_page),
    "create.blacklist_phone_numbers": MethodSpec(
        params=(
            _TOKEN,
            Param("phone_number", Kind.STRING, True),
            Param("comment", Kind.STRING),
        ),
        handler=create_blacklist_phone_number,
    ),
    "delete.blacklist_phone_numbers": MethodSpec(
        params=(_TOKEN, Param("id", Kind.INTEGER), Param("phone_number", Kind.STRING)),
        handler=delete_blacklist_phone_number,
    ),
}
