"""Declarative method parameters: unknown keys, required keys and JSON types.

A method lists its parameters as ``Param`` rows; ``check_params`` walks them in order and raises
the first ``ApiError``: ``unexpected_parameters`` (keys not declared, at any depth), then for each
declared parameter in declaration order ``required_parameter_missed`` and ``data_type_error``,
recursing into nested objects. Value rules (ranges, formats) belong to the method.

An optional parameter sent as ``null`` counts as absent; a required one sent as ``null`` is
missing. Every string anywhere in the params must be free of NUL characters (PostgreSQL cannot
store them): ``invalid_parameter_value``. An id of a row is checked by ``db_id``, the one range
rule for ids in every method.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import chain
from typing import Any

from vestnik.api.errors import ApiError

# The largest id an INTEGER column holds (both databases): larger ids cannot exist.
MAX_DB_INTEGER = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")


class Kind(StrEnum):
    STRING = "string"
    NUMBER = "number"  # integer or fraction (never a boolean)
    INTEGER = "integer"  # a whole number; 5.0 is accepted as 5
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY = "array"
    ANY = "any"


@dataclass(frozen=True)
class Param:
    name: str
    kind: Kind
    required: bool = False
    # For OBJECT: the nested parameters (None = any object).
    fields: Sequence[Param] | None = None


def _type_ok(kind: Kind, value: Any) -> bool:
    if kind is Kind.ANY:
        return True
    if kind is Kind.STRING:
        return isinstance(value, str)
    if kind is Kind.BOOLEAN:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is Kind.NUMBER:
        return isinstance(value, int | float)
    if kind is Kind.INTEGER:
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind is Kind.OBJECT:
        return isinstance(value, dict)
    return isinstance(value, list)  # ARRAY


def _path(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def check_params(schema: Sequence[Param], params: Mapping[str, Any], prefix: str = "") -> None:
    declared = {p.name for p in schema}
    for key in params:
        if key not in declared:
            raise ApiError(
                "unexpected_parameters", field=_path(prefix, key), value=params[key],
                params={"parameters": [k for k in params if k not in declared]},
            )  # fmt: skip
    for param in schema:
        value = params.get(param.name)
        if value is None:
            if param.required:
                raise ApiError(
                    "required_parameter_missed", field=_path(prefix, param.name), value=None
                )
            continue
        if not _type_ok(param.kind, value):
            raise ApiError(
                "data_type_error", field=_path(prefix, param.name), value=value,
                params={"expected_type": param.kind.value},
            )  # fmt: skip
        if param.kind is Kind.OBJECT and param.fields is not None:
            check_params(param.fields, value, _path(prefix, param.name))
        else:
            check_text(value, _path(prefix, param.name))


_END = object()


def check_text(value: Any, field: str) -> None:
    """Refuse NUL characters in any string inside ``value`` (walked without recursion)."""
    if isinstance(value, str):  # most values: no walk
        if "\x00" in value:
            raise ApiError("invalid_parameter_value", field=field, value=value)
        return
    if not isinstance(value, list | dict):
        return
    pending: list[Iterator[Any]] = [iter((value,))]
    while pending:
        item = next(pending[-1], _END)
        if item is _END:
            pending.pop()
        elif isinstance(item, str):
            if "\x00" in item:
                raise ApiError("invalid_parameter_value", field=field, value=item)
        elif isinstance(item, list):
            pending.append(iter(item))
        elif isinstance(item, dict):
            pending.append(chain.from_iterable(item.items()))


def id_in_range(number: int) -> bool:
    """Whether a row with this id can exist (1 … ``MAX_DB_INTEGER``)."""
    return 0 < number <= MAX_DB_INTEGER


def db_id(value: Any, field: str) -> int:
    """``value`` as the id of a row: an integer (``5.0`` counts as 5) or decimal digits in a
    string, 1 … ``MAX_DB_INTEGER``; else ``invalid_parameter_value``. Anything larger cannot
    exist and would overflow the database driver."""
    number: int | None = None
    if isinstance(value, str):
        text = value.strip()
        number = int(text) if _DIGITS.fullmatch(text) else None
    elif _type_ok(Kind.INTEGER, value):
        number = int(value)
    if number is None or not id_in_range(number):
        raise ApiError("invalid_parameter_value", field=field, value=value)
    return number
