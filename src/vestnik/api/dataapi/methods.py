"""Data API v2.0 methods: the calls report and the account's lookups.

* ``get.calls_report``: informer-call sessions of the account (the vendor's report fields).
* ``get.media_files``, ``get.virtual_numbers``, ``get.blacklist_phone_numbers``: lists.
* ``create.blacklist_phone_numbers`` / ``delete.blacklist_phone_numbers``: edit the blacklist.

All list methods take ``limit``/``offset``/``filter``/``fields``/``sort`` (see ``query.py``) and
answer ``result.data`` = list of rows, ``result.metadata.total_items`` = rows matching.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.sql.elements import ColumnElement

from vestnik.api.dataapi.query import (
    LIST_PARAMS,
    Dataset,
    FieldSpec,
    Page,
    ValueKind,
    format_datetime,
    parse_datetime,
    run_page,
)
from vestnik.api.errors import ApiError
from vestnik.api.jsonrpc import MethodCall, MethodSpec
from vestnik.api.params import Kind, Param, db_id
from vestnik.calls import CallState
from vestnik.calls.numbers import normalize_e164
from vestnik.store.accounts import blacklist_add, blacklist_remove
from vestnik.store.blacklist import remove_entry
from vestnik.store.media import usable_by
from vestnik.store.schema import blacklist, call_sessions, media_files, virtual_numbers

# date_till may be at most this many calendar months after date_from (the vendor's rule).
MAX_INTERVAL_MONTHS = 3
MAX_BLACKLIST_NUMBER_LENGTH = 255
MAX_COMMENT_LENGTH = 1000


def _int_or_zero(value: Any) -> int:
    return 0 if value is None else max(0, int(value))


def _request_id(value: Any) -> Any:
    """call_sessions.request_id holds the JSON-RPC id JSON-encoded: give it back as sent."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def _duration(end: Any, start: Any) -> Any:
    """Whole seconds from ``start`` to ``end``, 0 while either is unknown."""
    return sa.case(
        (sa.or_(end.is_(None), start.is_(None)), 0),
        else_=sa.func.round(end - start),
    )


_cs = call_sessions.c
# Durations are measured from the start of dialling, like the notification variables.
_dial_start = sa.func.coalesce(_cs.dial_at, _cs.created_at)

CALLS_REPORT = Dataset(
    fields={
        "id": FieldSpec(_cs.id, ValueKind.NUMBER, row_id=True),
        "start_time": FieldSpec(_cs.created_at, ValueKind.DATETIME, format_datetime),
        "finish_time": FieldSpec(_cs.end_at, ValueKind.DATETIME, format_datetime),
        "finish_reason": FieldSpec(_cs.finish_reason, ValueKind.STRING),
        "direction": FieldSpec(_cs.direction, ValueKind.STRING),
        "source": FieldSpec(_cs.source, ValueKind.STRING),
        "is_lost": FieldSpec(
            sa.case((_cs.answer_at.is_(None), sa.true()), else_=sa.false()),
            ValueKind.BOOLEAN,
            lambda v: bool(v),
        ),
        "contact_phone_number": FieldSpec(_cs.contact, ValueKind.STRING),
        "virtual_phone_number": FieldSpec(_cs.caller_number, ValueKind.STRING),
        "cpn_region_name": FieldSpec(_cs.contact_region, ValueKind.STRING),
        "wait_duration": FieldSpec(
            _duration(sa.func.coalesce(_cs.answer_at, _cs.end_at), _dial_start),
            ValueKind.NUMBER,
            _int_or_zero,
        ),
        "talk_duration": FieldSpec(
            _duration(_cs.end_at, _cs.answer_at), ValueKind.NUMBER, _int_or_zero
        ),
        "total_duration": FieldSpec(
            _duration(_cs.end_at, _dial_start), ValueKind.NUMBER, _int_or_zero
        ),
        "call_api_request_id": FieldSpec(
            _cs.request_id, ValueKind.STRING, _request_id, filterable=False, sortable=False
        ),
        "call_api_external_id": FieldSpec(_cs.external_id, ValueKind.STRING),
    },
    source=call_sessions,
    default_sort=(("start_time", "asc"),),
    tiebreaker=_cs.id,
)


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
    where = [
        _cs.account_id == call.principal.account_id,
        _cs.created_at >= start,
        _cs.created_at <= end,
    ]
    if not call.params.get("include_ongoing_calls"):
        where.append(_cs.state == CallState.FINISHED.value)
    return run_page(conn, CALLS_REPORT, call.params, where)


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

_mf = media_files.c
MEDIA_FILES = Dataset(
    fields={
        "id": FieldSpec(_mf.id, ValueKind.NUMBER, row_id=True),
        "name": FieldSpec(_mf.name, ValueKind.STRING),
        # Whole seconds, rounded up: a 0.4 s clip lasts 1 s, never 0.
        "duration": FieldSpec(
            sa.cast((_mf.duration_ms + 999) / 1000, sa.Integer), ValueKind.NUMBER, _int_or_zero
        ),
        "size": FieldSpec(_mf.size, ValueKind.NUMBER),
        "type": FieldSpec(_mf.type, ValueKind.STRING),
    },
    source=media_files,
    tiebreaker=_mf.id,
)


def get_media_files(call: MethodCall, conn: Connection) -> Page:
    # What is listed here is what a new call may play (the rule start.informer_call applies).
    return run_page(conn, MEDIA_FILES, call.params, [usable_by(call.principal.account_id)])


_vn = virtual_numbers.c
VIRTUAL_NUMBERS = Dataset(
    fields={
        "id": FieldSpec(_vn.id, ValueKind.NUMBER, row_id=True),
        "virtual_phone_number": FieldSpec(_vn.number, ValueKind.STRING),
        "status": FieldSpec(_vn.status, ValueKind.STRING),
        "region_name": FieldSpec(_vn.region, ValueKind.STRING),
    },
    source=virtual_numbers,
    tiebreaker=_vn.id,
)


_bl = blacklist.c
BLACKLIST = Dataset(
    fields={
        "id": FieldSpec(_bl.id, ValueKind.NUMBER, row_id=True),
        "phone_number": FieldSpec(_bl.number, ValueKind.STRING),
        "comment": FieldSpec(_bl.comment, ValueKind.STRING),
        "create_date": FieldSpec(_bl.created_at, ValueKind.DATETIME, format_datetime),
    },
    source=blacklist,
    tiebreaker=_bl.id,
)


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
    if entry_id is not None:
        deleted = remove_entry(conn, account_id, db_id(entry_id, "id"))
    else:
        deleted = blacklist_remove(conn, account_id, _blacklist_number(raw_number))
    if not deleted:
        field, value = ("id", entry_id) if entry_id is not None else ("phone_number", raw_number)
        raise ApiError("invalid_parameter_value", field=field, value=value)
    return {"success": True}


_TOKEN = Param("access_token", Kind.STRING, True)


def _account_list(dataset: Dataset, account_id: ColumnElement[Any]) -> MethodSpec:
    """A list method over ``dataset`` rows whose ``account_id`` is the caller's account."""

    def handler(call: MethodCall, conn: Connection) -> Page:
        return run_page(conn, dataset, call.params, [account_id == call.principal.account_id])

    return MethodSpec(params=(_TOKEN, *LIST_PARAMS), handler=handler)


DATA_API_METHODS: dict[str, MethodSpec] = {
    "get.calls_report": GET_CALLS_REPORT,
    "get.media_files": MethodSpec(params=(_TOKEN, *LIST_PARAMS), handler=get_media_files),
    "get.virtual_numbers": _account_list(VIRTUAL_NUMBERS, _vn.account_id),
    "get.blacklist_phone_numbers": _account_list(BLACKLIST, _bl.account_id),
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
