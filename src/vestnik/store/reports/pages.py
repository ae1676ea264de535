"""A list method's field table and the one query that reads a page of it.

A list method's rows are a :class:`Dataset`: every field the vendor documents for the method
(and a few of ours), each a :class:`FieldSpec` saying its type, the vendor's filter / sort /
default flags, and where its value comes from: a SQL expression, or nothing (``expr`` None)
when vestnik has no such data, and the field is then always the vendor's empty value (``null``,
``[]`` for arrays). The API checks the client's ``fields``/``filter``/``sort``/paging against
the table and hands over a :class:`PageQuery` of field names, operators and checked values;
:func:`run_page` compiles it into ONE parameterised SELECT (plus a COUNT for
``total_items``): field names come from the table, never from the client, and every value is
a bound parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection
from sqlalchemy.sql.elements import BindParameter, False_, True_


class ValueKind(StrEnum):
    """What a filter value must be (the API checks it) and how a reply renders it."""

    NUMBER = "number"
    STRING = "string"
    BOOLEAN = "boolean"
    DATETIME = "datetime"  # UNIX seconds here; the API speaks its own date-time format
    ARRAY = "array"
    REQUEST_ID = "request_id"  # a JSON-RPC id: a number or a string


def _identity(value: Any) -> Any:
    return value


def int_or_zero(value: Any) -> int:
    """A count or a duration as a whole non-negative number (0 while unknown)."""
    return 0 if value is None else max(0, int(value))


@dataclass(frozen=True)
class FieldSpec:
    kind: ValueKind
    vendor_type: str  # the vendor's type column ("number", "iso8601", "enum", "array" ...)
    flags: str  # the vendor's: F filterable, S sortable, D in the default set
    source: str  # where the value comes from, in words (docs/data-api.md renders it)
    expr: ColumnElement[Any] | None = None  # None: no data, always the empty value
    read: Callable[[Any], Any] = _identity  # stored value → reply value
    more_flags: str = ""  # F/S vestnik allows beyond the vendor (ours, documented)
    row_id: bool = False  # an id column: filter values follow the ids' range rule
    encode: Callable[[Any], Any] = _identity  # checked filter value → stored form
    ours: bool = False  # not a vendor field: our addition, or a name a client sends

    @property
    def filterable(self) -> bool:
        return "F" in self.flags + self.more_flags

    @property
    def sortable(self) -> bool:
        return "S" in self.flags + self.more_flags

    @property
    def default(self) -> bool:
        return "D" in self.flags

    @property
    def empty(self) -> Any:
        """The vendor's empty value of this field's type."""
        return [] if self.kind is ValueKind.ARRAY else None


def no_data(kind: ValueKind, vendor_type: str, flags: str, **more: Any) -> FieldSpec:
    return FieldSpec(kind, vendor_type, flags, "—", **more)


@dataclass(frozen=True)
class Dataset:
    """What a list method returns: its fields (in the vendor's order) and base query."""

    fields: Mapping[str, FieldSpec]
    source: Any  # a FROM clause (table or join)
    default_sort: Sequence[tuple[str, str]] = (("id", "asc"),)
    tiebreaker: ColumnElement[Any] | None = None  # makes paging stable (unique column)

    @property
    def default_fields(self) -> list[str]:
        return [name for name, spec in self.fields.items() if spec.default]


@dataclass(frozen=True)
class Condition:
    """``field OPERATOR value``; operators: = != > >= < <= in, not in, like, not like, ilike,
    not ilike, overlap, not overlap. A None value (only with = and !=) is SQL NULL; ``in``
    and ``overlap`` take a list."""

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


_CONSTANTS = (BindParameter, True_, False_)


def _on_empty(op: str, value: Any) -> bool:
    """A condition on a field that is always empty, decided as SQL decides it on NULL (an
    array without data holds nothing: it overlaps nothing)."""
    if op == "not overlap":
        return True
    return value is None and op == "="


def _clause(dataset: Dataset, node: Filter) -> Any:
    if isinstance(node, Group):
        parts = [_clause(dataset, item) for item in node.filters]
        return sa.or_(*parts) if node.any_of else sa.and_(*parts)
    spec, op, value = dataset.fields[node.field], node.operator, node.value
    expr = spec.expr
    if expr is None:
        return sa.true() if _on_empty(op, value) else sa.false()
    if op in ("in", "not in"):
        clause = expr.in_([spec.encode(v) for v in value])
        return sa.not_(clause) if op == "not in" else clause
    if op in ("like", "not like", "ilike", "not ilike"):
        clause = expr.ilike(value) if "ilike" in op else expr.like(value)
        return sa.not_(clause) if op.startswith("not") else clause
    if value is None:
        return expr.is_(None) if op == "=" else expr.is_not(None)
    return _COMPARISONS[op](expr, spec.encode(value))


def run_page(
    conn: Connection, dataset: Dataset, query: PageQuery, where: Sequence[Any] = ()
) -> Page:
    """One page of ``dataset`` rows matching ``where`` (the method's own conditions, e.g. the
    account and date range) and the client's filter, in the client's order and fields."""
    conditions = list(where)
    if query.filter is not None:
        conditions.append(_clause(dataset, query.filter))
    order = []
    for key in query.sort:
        expr = dataset.fields[key.field].expr
        # Ordering by a field that is always empty or always the same changes nothing (and
        # SQLite would read ORDER BY 0 as a column number).
        if expr is not None and not isinstance(expr, _CONSTANTS):
            order.append(expr.desc() if key.descending else expr.asc())
    if dataset.tiebreaker is not None:
        order.append(dataset.tiebreaker.asc())
    names = list(query.fields)
    selected = [n for n in names if dataset.fields[n].expr is not None]
    columns = [dataset.fields[n].expr.label(n) for n in selected]  # type: ignore[union-attr]
    select = (
        sa.select(*columns or [sa.literal(1)])
        .select_from(dataset.source)
        .where(*conditions)
        .order_by(*order)
        .limit(query.limit)
        .offset(query.offset)
    )
    # Per field: its column in the row, or None and the empty value (one shared, unchanged
    # object: a 1000-row page of 106 fields is 106,000 of these).
    column = {name: i for i, name in enumerate(selected)}
    plan = [(n, column.get(n), dataset.fields[n].read, dataset.fields[n].empty) for n in names]
    items = [
        {name: empty if i is None else read(row[i]) for name, i, read, empty in plan}
        for row in conn.execute(select)
    ]
    if query.offset == 0 and len(items) < query.limit:
        return Page(items, len(items))  # the page holds everything: no second query
    count = sa.select(sa.func.count()).select_from(dataset.source).where(*conditions)
    return Page(items, int(conn.execute(count).scalar_one()))
