"""Data API list parameters: ``fields``, ``filter``, ``sort``, ``limit``/``offset``.

:func:`page_query` checks what the client sent against a dataset of
:mod:`vestnik.store.reports` and turns it into a :class:`~vestnik.store.reports.PageQuery`
(field names, operators and checked values) or raises the documented error; the store runs
it. Checked in this order: paging, fields, sort, filter.

Filter shape (the vendor's): a condition ``{"field": F, "operator": OP, "value": V}`` or a group
``{"filters": [...], "condition": "and" | "or"}``, nested at most :data:`MAX_FILTER_DEPTH` deep.
Operators: ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``in``, ``not in``, ``like``,
``not like`` (``like`` uses ``%`` and ``_`` wildcards, case-sensitive on PostgreSQL).
Date-times are ``"YYYY-MM-DD hh:mm:ss"`` (UTC) both ways; filters also take ISO 8601 with an
offset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from vestnik.api.errors import ApiError
from vestnik.api.params import MAX_DB_INTEGER, Kind, Param, db_id
from vestnik.store.reports import (
    Condition,
    Dataset,
    FieldSpec,
    Filter,
    Group,
    Page,
    PageQuery,
    SortKey,
    ValueKind,
)

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
MAX_FILTER_DEPTH = 3
MAX_FILTER_CONDITIONS = 50
MAX_IN_VALUES = 1000
MAX_SORT_KEYS = 5
# Integers beyond what both databases store (BIGINT) are refused, not passed to SQL.
MAX_ABS_INTEGER = 2**63 - 1
# No list holds more rows than there are ids.
MAX_OFFSET = MAX_DB_INTEGER
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

_COMPARISONS = ("=", "!=", ">", ">=", "<", "<=")
# Client spelling → the store's operator.
_LIST_OPERATORS = {"in": "in", "not in": "not in", "not_in": "not in"}
_LIKE_OPERATORS = {"like": "like", "not like": "not like", "not_like": "not like"}


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


def _group(dataset: Dataset, node: Mapping[str, Any], depth: int, count: list[int]) -> Group:
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
    parts: list[Filter] = []
    for item in items:
        if not isinstance(item, dict):
            raise ApiError(
                "data_type_error", field="filter.filters", value=item,
                params={"expected_type": "object"},
            )  # fmt: skip
        parts.append(_node(dataset, item, depth + 1, count))
    return Group(parts, any_of=condition == "or")


def _condition(dataset: Dataset, node: Mapping[str, Any]) -> Condition:
    if set(node) - {"field", "operator", "value"}:
        raise ApiError("unexpected_parameters", field="filter", value=dict(node))
    name, operator = node.get("field"), node.get("operator")
    spec = dataset.fields.get(name) if isinstance(name, str) else None
    if spec is None or not spec.filterable:
        raise ApiError("invalid_parameter_value", field="filter.field", value=name)
    op = operator.lower() if isinstance(operator, str) else None
    if op not in (*_COMPARISONS, *_LIST_OPERATORS, *_LIKE_OPERATORS):
        raise ApiError("invalid_parameter_value", field="filter.operator", value=operator)
    assert name is not None and op is not None
    if "value" not in node:
        raise ApiError("required_parameter_missed", field="filter.value")
    value = node["value"]
    if op in _LIST_OPERATORS:
        if not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES:
            raise ApiError("invalid_parameter_value", field="filter.value", value=value)
        values = [_coerce(spec, v, "filter.value") for v in value]
        return Condition(name, _LIST_OPERATORS[op], values)
    if op in _LIKE_OPERATORS:
        if spec.kind is not ValueKind.STRING or not isinstance(value, str):
            raise ApiError("invalid_parameter_value", field="filter.value", value=value)
        return Condition(name, _LIKE_OPERATORS[op], _coerce(spec, value, "filter.value"))
    coerced = _coerce(spec, value, "filter.value")
    if coerced is None and op not in ("=", "!="):
        raise ApiError("invalid_parameter_value", field="filter.value", value=value)
    if coerced is not None and spec.kind is ValueKind.BOOLEAN and op not in ("=", "!="):
        raise ApiError("invalid_parameter_value", field="filter.operator", value=operator)
    return Condition(name, op, coerced)


def _node(dataset: Dataset, node: Mapping[str, Any], depth: int, count: list[int]) -> Filter:
    count[0] += 1
    if count[0] > MAX_FILTER_CONDITIONS:
        raise ApiError("invalid_parameter_value", field="filter", value=None)
    if "filters" in node:
        return _group(dataset, node, depth, count)
    return _condition(dataset, node)


def checked_filter(dataset: Dataset, raw: Mapping[str, Any] | None) -> Filter | None:
    """The vendor filter object, checked (None when no filter)."""
    if not raw:
        return None
    return _node(dataset, raw, 0, [0])


def checked_sort(dataset: Dataset, raw: Sequence[Any] | None) -> list[SortKey]:
    keys = raw if raw else [{"field": f, "order": o} for f, o in dataset.default_sort]
    if len(keys) > MAX_SORT_KEYS:
        raise ApiError("invalid_parameter_value", field="sort", value=list(keys))
    sort = []
    for key in keys:
        if not isinstance(key, dict) or set(key) - {"field", "order"}:
            raise ApiError("invalid_parameter_value", field="sort", value=key)
        name, order = key.get("field"), key.get("order", "asc")
        spec = dataset.fields.get(name) if isinstance(name, str) else None
        if spec is None or not spec.sortable:
            raise ApiError("invalid_parameter_value", field="sort.field", value=name)
        if order not in ("asc", "desc"):
            raise ApiError("invalid_parameter_value", field="sort.order", value=order)
        assert name is not None
        sort.append(SortKey(name, descending=order == "desc"))
    return sort


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


def page_query(dataset: Dataset, params: Mapping[str, Any]) -> PageQuery:
    """The client's list parameters for ``dataset``, checked."""
    limit, offset = paging(params)
    names = selected_fields(dataset, params.get("fields"))
    sort = checked_sort(dataset, params.get("sort"))
    return PageQuery(names, sort, limit, offset, checked_filter(dataset, params.get("filter")))


def in_reply_format(dataset: Dataset, page: Page) -> Page:
    """``page`` with its date-times in the Data API's format."""
    stamps = [n for n, spec in dataset.fields.items() if spec.kind is ValueKind.DATETIME]
    for item in page.items:
        for name in stamps:
            if name in item:
                item[name] = format_datetime(item[name])
    return page
