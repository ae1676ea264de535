"""Data API list parameters: ``fields``, ``filter``, ``sort``, ``limit``/``offset``.

:func:`page_query` checks what the client sent against a method's field table
(:mod:`vestnik.store.reports.pages`) and turns it into a
:class:`~vestnik.store.reports.pages.PageQuery` (field names, operators and checked values) or
raises the vendor's error; the store runs it. Checked in this order: paging, fields, sort,
filter. A name the table does not have is ``unexpected_parameters``; a field the vendor does
not let clients sort or filter by is ``sort_prohibited`` / ``filter_prohibited``.

Filter shape (the vendor's): a condition ``{"field": F, "operator": OP, "value": V}`` (no
``value``: null) or a group ``{"filters": [...], "condition": "and" | "or"}``, nested at most
:data:`MAX_FILTER_DEPTH` deep. Operators: :data:`OPERATORS`. Date-times are
``"YYYY-MM-DD hh:mm:ss"`` (UTC) both ways; filters also take ISO 8601 with an offset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from vestnik.api.errors import ApiError
from vestnik.api.params import MAX_DB_INTEGER, Kind, Param, db_id
from vestnik.store.reports.pages import (
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

# Every Data API method's (the vendor's): the client user an agent acts for. vestnik has no
# agents: accepted and unused.
USER_ID = Param("user_id", Kind.INTEGER)
# The parameters every list method accepts (besides its own).
LIST_PARAMS: tuple[Param, ...] = (
    USER_ID,
    Param("limit", Kind.INTEGER),
    Param("offset", Kind.INTEGER),
    Param("filter", Kind.OBJECT),
    Param("fields", Kind.ARRAY),
    Param("sort", Kind.ARRAY),
)

_COMPARISONS = ("=", "!=", ">", ">=", "<", "<=")
# Client spelling → the store's operator.
_LIST_OPERATORS = {"in": "in", "not in": "not in", "not_in": "not in"}
_LIKE_OPERATORS = {
    "like": "like", "not like": "not like", "not_like": "not like",
    "ilike": "ilike", "not ilike": "not ilike", "not_ilike": "not ilike",
}  # fmt: skip
_NULL_TESTS = {"is_null": "=", "is_not_null": "!="}
_OVERLAP_OPERATORS = {"overlap": "overlap", "not_overlap": "not overlap"}
# The vendor's, which vestnik refuses with invalid_parameter_value (docs/data-api.md).
UNSUPPORTED_OPERATORS = ("regexp", "jsquery")
OPERATORS = (
    *_COMPARISONS, *_LIST_OPERATORS, *_LIKE_OPERATORS, *_NULL_TESTS, *_OVERLAP_OPERATORS,
)  # fmt: skip
# Operators that make sense on each kind besides = and != (null tests work on every kind).
_ORDERED = (ValueKind.NUMBER, ValueKind.STRING, ValueKind.DATETIME)


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
    number = isinstance(value, int | float) and not isinstance(value, bool)
    ok = {
        ValueKind.NUMBER: number,
        ValueKind.STRING: isinstance(value, str),
        ValueKind.BOOLEAN: isinstance(value, bool),
        ValueKind.REQUEST_ID: number or isinstance(value, str),
        ValueKind.ARRAY: number or isinstance(value, str),  # an element
    }[spec.kind]
    if not ok:
        expected = "string" if spec.kind is ValueKind.REQUEST_ID else spec.kind.value
        raise ApiError(
            "data_type_error", field=where, value=value, params={"expected_type": expected}
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


def _field(dataset: Dataset, name: Any, where: str) -> tuple[str, FieldSpec]:
    """``name`` and its spec, if the method has such a field."""
    spec = dataset.fields.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ApiError("unexpected_parameters", field=where, value=name)
    return name, spec


def _values(spec: FieldSpec, value: Any) -> list[Any]:
    """The list of an ``in`` / ``overlap`` condition (``overlap`` also takes one value)."""
    values = value if isinstance(value, list) else None
    if values is None and spec.kind is ValueKind.ARRAY and value is not None:
        values = [value]
    if not values or len(values) > MAX_IN_VALUES:
        raise ApiError("invalid_parameter_value", field="filter.value", value=value)
    return [_coerce(spec, v, "filter.value") for v in values]


def _operator(spec: FieldSpec, raw: Any) -> str:
    """The store's operator for ``raw`` on ``spec``'s kind, or the documented error."""
    op = raw.lower() if isinstance(raw, str) else None
    if op in _NULL_TESTS:
        return op
    allowed: tuple[str, ...] = ("=", "!=")
    if spec.kind is ValueKind.ARRAY:
        allowed = tuple(_OVERLAP_OPERATORS)
    elif spec.kind in _ORDERED:
        allowed = (*_COMPARISONS, *_LIST_OPERATORS)
        if spec.kind is ValueKind.STRING:
            allowed += tuple(_LIKE_OPERATORS)
    elif spec.kind is ValueKind.REQUEST_ID:
        allowed = ("=", "!=", *_LIST_OPERATORS)
    if op not in allowed:
        reason = "not supported by vestnik" if op in UNSUPPORTED_OPERATORS else None
        params = {"reason": reason} if reason else None
        raise ApiError("invalid_parameter_value", field="filter.operator", value=raw,
                       params=params)  # fmt: skip
    assert op is not None
    return op


def _condition(dataset: Dataset, node: Mapping[str, Any]) -> Condition:
    if set(node) - {"field", "operator", "value"}:
        raise ApiError("unexpected_parameters", field="filter", value=dict(node))
    name, spec = _field(dataset, node.get("field"), "filter.field")
    if not spec.filterable:
        raise ApiError("filter_prohibited", field="filter.field", value=name)
    op = _operator(spec, node.get("operator"))
    value = node.get("value")  # absent: empty (null)
    if op in _NULL_TESTS:
        if value is not None:
            raise ApiError("invalid_parameter_value", field="filter.value", value=value)
        return Condition(name, _NULL_TESTS[op], None)
    if op in _LIST_OPERATORS:
        return Condition(name, _LIST_OPERATORS[op], _values(spec, value))
    if op in _OVERLAP_OPERATORS:
        return Condition(name, _OVERLAP_OPERATORS[op], _values(spec, value))
    if op in _LIKE_OPERATORS:
        if not isinstance(value, str):
            raise ApiError("invalid_parameter_value", field="filter.value", value=value)
        return Condition(name, _LIKE_OPERATORS[op], _coerce(spec, value, "filter.value"))
    coerced = _coerce(spec, value, "filter.value")
    if coerced is None and op not in ("=", "!="):
        raise ApiError("invalid_parameter_value", field="filter.value", value=value)
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
        name, spec = _field(dataset, name, "sort.field")
        if not spec.sortable:
            raise ApiError("sort_prohibited", field="sort.field", value=name)
        if order not in ("asc", "desc"):
            raise ApiError("invalid_parameter_value", field="sort.order", value=order)
        sort.append(SortKey(name, descending=order == "desc"))
    return sort


def selected_fields(dataset: Dataset, raw: Sequence[Any] | None) -> list[str]:
    """The client's ``fields`` in its order, once each; none named: the default set."""
    if raw is None:
        return dataset.default_fields
    names: list[str] = []
    for name in raw:
        _field(dataset, name, "fields")
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
