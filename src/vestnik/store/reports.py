"""What the APIs list: the Data API's datasets and their pages, and ``list.calls``' sessions.

A list method's rows are a :class:`Dataset`: named fields, each a SQL expression with a kind
(the API checks filter values against it) and a function turning the stored value into a
plain Python value. The API checks the client's ``fields``/``filter``/``sort``/paging and
hands over a :class:`PageQuery` of field names, operators and checked values;
:func:`run_page` compiles it into ONE parameterised SELECT (plus a COUNT for
``total_items``): field names come from the dataset, never from the client, and every value
is a bound parameter, so no client input reaches the SQL text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from vestnik.calls import ACTIVE_STATES, CallState
from vestnik.store.media import usable_by
from vestnik.store.schema import blacklist, call_sessions, media_files, virtual_numbers


class ValueKind(StrEnum):
    NUMBER = "number"
    STRING = "string"
    BOOLEAN = "boolean"
    DATETIME = "datetime"  # UNIX seconds here; the API speaks its own date-time format


def _identity(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class FieldSpec:
    expr: ColumnElement[Any]
    kind: ValueKind
    read: Callable[[Any], Any] = _identity  # stored value → reply value
    filterable: bool = True
    sortable: bool = True
    row_id: bool = False  # an id column: filter values follow the ids' range rule


@dataclass(frozen=True)
class Dataset:
    """What a list method returns: its fields (in default reply order) and base query."""

    fields: Mapping[str, FieldSpec]
    source: Any  # a FROM clause (table or join)
    default_sort: Sequence[tuple[str, str]] = (("id", "asc"),)
    tiebreaker: ColumnElement[Any] | None = None  # makes paging stable (unique column)


@dataclass(frozen=True)
class Condition:
    """``field OPERATOR value``; operators: = != > >= < <= in, not in, like, not like. A None
    value (only with = and !=) is SQL NULL; ``in`` takes a list."""

    field: str
    operator: str
    value: Any


@dataclass(frozen=True)
class Group:
    filters: Sequence[Filter]
    any_of: bool  # "or"; else "and"


Filter = Condition | Group


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class PageQuery:
    fields: Sequence[str]
    sort: Sequence[SortKey]
    limit: int
    offset: int
    filter: Filter | None = None


@dataclass(frozen=True)
class Page:
    """A list method's answer: the endpoint puts ``total_items`` into ``result.metadata``."""

    items: list[dict[str, Any]]
    total_items: int


_COMPARISONS: Mapping[str, Callable[[Any, Any], Any]] = {
    "=": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
}


def _clause(dataset: Dataset, node: Filter) -> Any:
    if isinstance(node, Group):
        parts = [_clause(dataset, item) for item in node.filters]
        return sa.or_(*parts) if node.any_of else sa.and_(*parts)
    expr, op, value = dataset.fields[node.field].expr, node.operator, node.value
    if op in ("in", "not in"):
        clause = expr.in_(value)
        return sa.not_(clause) if op == "not in" else clause
    if op in ("like", "not like"):
        clause = expr.like(value)
        return sa.not_(clause) if op == "not like" else clause
    if value is None:
        return expr.is_(None) if op == "=" else expr.is_not(None)
    return _COMPARISONS[op](expr, value)


def run_page(
    conn: Connection, dataset: Dataset, query: PageQuery, where: Sequence[Any] = ()
) -> Page:
    """One page of ``dataset`` rows matching ``where`` (the method's own conditions, e.g. the
    account and date range) and the client's filter, in the client's order and fields."""
    conditions = list(where)
    if query.filter is not None:
        conditions.append(_clause(dataset, query.filter))
    order = [
        dataset.fields[key.field].expr.desc()
        if key.descending
        else dataset.fields[key.field].expr.asc()
        for key in query.sort
    ]
    if dataset.tiebreaker is not None:
        order.append(dataset.tiebreaker.asc())
    names = list(query.fields)
    select = (
        sa.select(*(dataset.fields[n].expr.label(n) for n in names))
        .select_from(dataset.source)
        .where(*conditions)
        .order_by(*order)
        .limit(query.limit)
        .offset(query.offset)
    )
    items = [
        {n: dataset.fields[n].read(row[i]) for i, n in enumerate(names)}
        for row in conn.execute(select)
    ]
    if query.offset == 0 and len(items) < query.limit:
        return Page(items, len(items))  # the page holds everything: no second query
    count = sa.select(sa.func.count()).select_from(dataset.source).where(*conditions)
    return Page(items, int(conn.execute(count).scalar_one()))


# -- datasets ---------------------------------------------------------------------------


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
        "start_time": FieldSpec(_cs.created_at, ValueKind.DATETIME),
        "finish_time": FieldSpec(_cs.end_at, ValueKind.DATETIME),
        "finish_reason": FieldSpec(_cs.finish_reason, ValueKind.STRING),
        "direction": FieldSpec(_cs.direction, ValueKind.STRING),
        "source": FieldSpec(_cs.source, ValueKind.STRING),
        "is_lost": FieldSpec(
            sa.case((_cs.answer_at.is_(None), sa.true()), else_=sa.false()),
            ValueKind.BOOLEAN,
            bool,
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
        "create_date": FieldSpec(_bl.created_at, ValueKind.DATETIME),
    },
    source=blacklist,
    tiebreaker=_bl.id,
)


def calls_report(
    conn: Connection,
    account_id: int,
    start: float,
    end: float,
    query: PageQuery,
    *,
    ongoing: bool = False,
) -> Page:
    """The account's sessions created from ``start`` to ``end``; finished ones only unless
    ``ongoing``."""
    where = [_cs.account_id == account_id, _cs.created_at >= start, _cs.created_at <= end]
    if not ongoing:
        where.append(_cs.state == CallState.FINISHED.value)
    return run_page(conn, CALLS_REPORT, query, where)


def media_files_page(conn: Connection, account_id: int, query: PageQuery) -> Page:
    # What is listed is what a new call may play (the rule start.informer_call applies).
    return run_page(conn, MEDIA_FILES, query, [usable_by(account_id)])


def virtual_numbers_page(conn: Connection, account_id: int, query: PageQuery) -> Page:
    return run_page(conn, VIRTUAL_NUMBERS, query, [_vn.account_id == account_id])


def blacklist_page(conn: Connection, account_id: int, query: PageQuery) -> Page:
    return run_page(conn, BLACKLIST, query, [_bl.account_id == account_id])


# -- list.calls ------------------------------------------------------------------------

_ACTIVE = sorted(s.value for s in ACTIVE_STATES)
_LISTED_COLUMNS = (
    _cs.id, _cs.direction, _cs.created_at, _cs.dial_at, _cs.answer_at, _cs.caller_number,
    _cs.contact, _cs.external_id, _cs.state,
)  # fmt: skip


def active_sessions(
    conn: Connection, account_id: int, direction: str | None, caller_number: str | None
) -> list[dict[str, Any]]:
    """The account's sessions not finished yet, oldest first; optionally only those of one
    direction and one caller number."""
    query = sa.select(*_LISTED_COLUMNS).where(_cs.account_id == account_id, _cs.state.in_(_ACTIVE))
    if direction is not None:
        query = query.where(_cs.direction == direction)
    if caller_number is not None:
        query = query.where(_cs.caller_number == caller_number)
    return [dict(row) for row in conn.execute(query.order_by(_cs.id)).mappings()]
