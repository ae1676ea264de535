"""Data API list queries: ``fields``, ``filter``, ``sort``, ``limit``/``offset``, ``total_items``.

A method describes its rows as a :class:`Dataset`: named fields, each a SQL expression with a
kind (how filter values are checked) and a function turning the stored value into the reply
value. :func:`run_page` compiles the client's parameters into ONE parameterised SELECT (plus a
COUNT for ``metadata.total_items``): field names come from the dataset, never from the client,
and every value is a bound parameter, so no client input reaches the SQL text.

Filter shape (the vendor's): a condition ``{"field": F, "operator": OP, "value": V}`` or a group
``{"filters": [...], "condition": "and" | "or"}``, nested at most :data:`MAX_FILTER_DEPTH` deep.
Operators: ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``in``, ``not in``, ``like``,
``not like`` (``like`` uses ``%`` and ``_`` wildcards, case-sensitive on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.sql.elements import ColumnElement

from vestnik.api.errors import ApiError
from vestnik.api.params import Kind, Param, db_id

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
MAX_FILTER_DEPTH = 3
MAX_FILTER_CONDITIONS = 50
MAX_IN_VALUES = 1000
MAX_SORT_KEYS = 5
# Integers beyond what both databases store (BIGINT) are refused, not passed to SQL.
MAX_ABS_INTEGER = 2**63 - 1
MAX_OFFSET = 2**31 - 1
# Data API date-time format (the vendor's), always UTC here.
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# The paging parameters every list method accepts (besides its own).
LIST_PARAMS: tuple[Param, ...] = (
    Param("limit", Kind.INTEGER),
    Param("offset", Kind.INTEGER),
    Param("filter", Kind.OBJECT),
    Param("fields", Kind.ARRAY),
    Param("sort", Kind.ARRAY),
)


class ValueKind(StrEnum):
    NUMBER = "number"
    STRING = "string"
    BOOLEAN = "boolean"
    DATETIME = "datetime"  # "YYYY-MM-DD hh:mm:ss" (UTC) in filters and replies


def format_datetime(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime(DATETIME_FORMAT)


def parse_datetime(value: Any, field_name: str) -> float:
    """``"YYYY-MM-DD hh:mm:ss"`` (UTC) or ISO 8601 with an offset → UNIX seconds."""
    if not isinstance(value, str):
        raise ApiError(
            "data_type_error", field=field_name, value=value, params={"expected_type": "string"}
        )
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    except (ValueError, OverflowError):  # not a date, or outside datetime's range
        raise ApiError("invalid_parameter_value", field=field_name, value=value) from None


def _identity(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class FieldSpec:
    expr: ColumnElement[Any]
    kind: ValueKind
    render: Callable[[Any], Any] = _identity
    filterable: bool = True
    sortable: bool = True
    row_id: bool = False  # an id column: filter values follow the ids' range rule (db_id)


@dataclass(frozen=True)
class Dataset:
    """What a list method returns: its fields (in default reply order) and base query."""

    fields: Mapping[str, FieldSpec]
    source: Any  # a FROM clause (table or join)
    default_sort: Sequence[tuple[str, str]] = (("id", "asc"),)
    tiebreaker: ColumnElement[Any] | None = None  # makes paging stable (unique column)
    extra: Mapping[str, ColumnElement[Any]] = field(default_factory=dict)  # hidden columns


@dataclass(frozen=True)
class Page:
    """A handler's answer: the endpoint puts ``total_items`` into ``result.metadata``."""

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
_LIST_OPERATORS = {"in": False, "not in": True, "not_in": True}
_LIKE_OPERATORS = {"like": False, "not like": True, "not_like": True}
OPERATORS: tuple[str, ...] = (*_COMPARISONS, "in", "not in", "like", "not like")


def _coerce(spec: FieldSpec, value: Any, where: str) -> Any:
    """A filter value checked against the field's kind (None = SQL NULL for = and !=)."""
    if value is None:
        return None
    if spec.kind is ValueKind.DATETIME:
        return parse_datetime(value, where)
    ok = {
        ValueKind.NUMBER: isinstance(value, int | float) and not isinstance(value, bool),
        ValueKind.STRING: isinstance(value, str),
        ValueKind.BOOLEAN: isinstance(value, bool),
    }[spec.kind]
    if not ok:
        raise ApiError(
            "data_type_error", field=where, value=value, params={"expected_type": spec.kind.value}
        )
    if isinstance(value, str) and "\x00" in value:
        raise ApiError("invalid_parameter_value", field=where, value=value)
    if spec.row_id:
        return db_id(value, where)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ABS_INTEGER:
        raise ApiError("invalid_parameter_value", field=where, value=value)
    return value


def _condition(dataset: Dataset, node: Mapping[str, Any], depth: int, count: list[int]) -> Any:
    count[0] += 1
    if count[0] > MAX_FILTER_CONDITIONS:
        raise ApiError("invalid_parameter_value", field="filter", value=None)
    if "filters" in node:
        if set(node) - {"filters", "condition"}:
            raise ApiError("unexpected_parameters", field="filter", value=dict(node))
        if depth >= MAX_FILTER_DEPTH:
            raise ApiError("invalid_parameter_value", field="filter.filters", value=None)
        items = node["filters"]
        condition = node.get("condition", "and")
        if not isinstance(items, list) or not items:
            raise ApiError("invalid_parameter_value", field="filter.filters", value=items)
        if condition not in ("and", "or"):
            raise ApiError("invalid_parameter_value", field="filter.condition", value=condition)
        parts = []
        for item in items:
            if not isinstance(item, dict):
                raise ApiError(
                    "data_type_error", field="filter.filters", value=item,
                    params={"expected_type": "object"},
                )  # fmt: skip
            parts.append(_condition(dataset, item, depth + 1, count))
        return sa.and_(*parts) if condition == "and" else sa.or_(*parts)
    if set(node) - {"field", "operator", "value"}:
        raise ApiError("unexpected_parameters", field="filter", value=dict(node))
    name, operator = node.get("field"), node.get("operator")
    spec = dataset.fields.get(name) if isinstance(name, str) else None
    if spec is None or not spec.filterable:
        raise ApiError("invalid_parameter_value", field="filter.field", value=name)
    if not isinstance(operator, str) or operator.lower() not in (
        *_COMPARISONS,
        *_LIST_OPERATORS,
        *_LIKE_OPERATORS,
    ):
        raise ApiError("invalid_parameter_value", field="filter.operator", value=operator)
    op = operator.lower()
    if "value" not in node:
        raise ApiError("required_parameter_missed", field="filter.value")
    value = node["value"]
    if op in _LIST_OPERATORS:
        if not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES:
            raise ApiError("invalid_parameter_value", field="filter.value", value=value)
        values = [_coerce(spec, v, "filter.value") for v in value]
        clause = spec.expr.in_(values)
        return sa.not_(clause) if _LIST_OPERATORS[op] else clause
    if op in _LIKE_OPERATORS:
        if spec.kind is not ValueKind.STRING or not isinstance(value, str):
            raise ApiError("invalid_parameter_value", field="filter.value", value=value)
        clause = spec.expr.like(_coerce(spec, value, "filter.value"))
        return sa.not_(clause) if _LIKE_OPERATORS[op] else clause
    coerced = _coerce(spec, value, "filter.value")
    if coerced is None:
        if op == "=":
            return spec.expr.is_(None)
        if op == "!=":
            return spec.expr.is_not(None)
        raise ApiError("invalid_parameter_value", field="filter.value", value=value)
    if spec.kind is ValueKind.BOOLEAN and op not in ("=", "!="):
        raise ApiError("invalid_parameter_value", field="filter.operator", value=operator)
    return _COMPARISONS[op](spec.expr, coerced)


def compile_filter(dataset: Dataset, raw: Mapping[str, Any] | None) -> Any:
    """The WHERE clause of a vendor filter object (None when no filter)."""
    if not raw:
        return None
    return _condition(dataset, raw, 0, [0])


def compile_sort(dataset: Dataset, raw: Sequence[Any] | None) -> list[Any]:
    keys = raw if raw else [{"field": f, "order": o} for f, o in dataset.default_sort]
    if len(keys) > MAX_SORT_KEYS:
        raise ApiError("invalid_parameter_value", field="sort", value=list(keys))
    clauses = []
    for key in keys:
        if not isinstance(key, dict) or set(key) - {"field", "order"}:
            raise ApiError("invalid_parameter_value", field="sort", value=key)
        name, order = key.get("field"), key.get("order", "asc")
        spec = dataset.fields.get(name) if isinstance(name, str) else None
        if spec is None or not spec.sortable:
            raise ApiError("invalid_parameter_value", field="sort.field", value=name)
        if order not in ("asc", "desc"):
            raise ApiError("invalid_parameter_value", field="sort.order", value=order)
        clauses.append(spec.expr.asc() if order == "asc" else spec.expr.desc())
    if dataset.tiebreaker is not None:
        clauses.append(dataset.tiebreaker.asc())
    return clauses


def selected_fields(dataset: Dataset, raw: Sequence[Any] | None) -> list[str]:
    if raw is None:
        return list(dataset.fields)
    names: list[str] = []
    for name in raw:
        if not isinstance(name, str) or name not in dataset.fields:
            raise ApiError("invalid_parameter_value", field="fields", value=name)
        if name not in names:
            names.append(name)
    if not names:
        raise ApiError("invalid_parameter_value", field="fields", value=list(raw))
    return names


def paging(params: Mapping[str, Any]) -> tuple[int, int]:
    limit = params.get("limit")
    offset = params.get("offset")
    limit = DEFAULT_LIMIT if limit is None else int(limit)
    offset = 0 if offset is None else int(offset)
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError("invalid_parameter_value", field="limit", value=params.get("limit"))
    if not 0 <= offset <= MAX_OFFSET:
        raise ApiError("invalid_parameter_value", field="offset", value=params.get("offset"))
    return limit, offset


def run_page(
    conn: Connection,
    dataset: Dataset,
    params: Mapping[str, Any],
    where: Sequence[Any],
) -> Page:
    """One page of ``dataset`` rows matching ``where`` (the method's own conditions, e.g. the
    account and date range) and the client's filter, in the client's order and fields."""
    limit, offset = paging(params)
    names = selected_fields(dataset, params.get("fields"))
    order = compile_sort(dataset, params.get("sort"))
    conditions = list(where)
    client_filter = compile_filter(dataset, params.get("filter"))
    if client_filter is not None:
        conditions.append(client_filter)
    columns = [dataset.fields[n].expr.label(n) for n in names]
    query = (
        sa.select(*columns)
        .select_from(dataset.source)
        .where(*conditions)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )
    items = [
        {n: dataset.fields[n].render(row[i]) for i, n in enumerate(names)}
        for row in conn.execute(query)
    ]
    if offset == 0 and len(items) < limit:
        total = len(items)  # the page holds everything: no second query
    else:
        total = int(
            conn.execute(
                sa.select(sa.func.count()).select_from(dataset.source).where(*conditions)
            ).scalar_one()
        )
    return Page(items, total)
