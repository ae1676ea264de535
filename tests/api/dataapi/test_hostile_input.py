"""Ids out of range and deep nesting at the Data API, on SQLite and PostgreSQL: a clean error
in the documented shape, never internal_error, and nothing changed."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.dataapi import DataApi
from vestnik.api.dataapi import DATA_API_PATH
from vestnik.api.jsonrpc import MAX_JSON_DEPTH
from vestnik.store.schema import blacklist

# Integers that are no row's id: beyond INTEGER (2**31 and up; 2**63 overflows SQLite's
# driver), as a float too, zero, negative.
BAD_IDS = [2**31, 2**63, 10**30, 1e20, 0, -1]
LIST_METHODS = [
    ("get.calls_report", {"date_from": "2026-01-01 00:00:00", "date_till": "2026-02-01 00:00:00"}),
    ("get.media_files", {}),
    ("get.virtual_numbers", {}),
    ("get.blacklist_phone_numbers", {}),
]


def error_of(reply: dict[str, Any]) -> tuple[str, Any, Any]:
    data = reply["data"]
    return data["mnemonic"], data["field"], data["value"]


def blacklisted(api: DataApi) -> int:
    with api.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(blacklist)).scalar_one())


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_delete_blacklist_entry_by_an_impossible_id(api: DataApi, bad: Any) -> None:
    api.call("create.blacklist_phone_numbers", phone_number="79265550001")
    error = api.error("delete.blacklist_phone_numbers", id=bad)
    assert error_of(error) == ("invalid_parameter_value", "id", bad)
    assert blacklisted(api) == 1


@pytest.mark.parametrize(("method", "params"), LIST_METHODS, ids=lambda v: str(v)[:24])
@pytest.mark.parametrize("bad", [*BAD_IDS, 1.5], ids=repr)
def test_filter_on_an_impossible_id(
    api: DataApi, method: str, params: dict[str, Any], bad: Any
) -> None:
    for filter_ in (
        {"field": "id", "operator": "=", "value": bad},
        {"field": "id", "operator": "in", "value": [1, bad]},
    ):
        error = api.error(method, filter=filter_, **params)
        assert error_of(error) == ("invalid_parameter_value", "filter.value", bad)


@pytest.mark.parametrize(("method", "params"), LIST_METHODS, ids=lambda v: str(v)[:24])
def test_filter_on_ids_in_range(api: DataApi, method: str, params: dict[str, Any]) -> None:
    filter_ = {"field": "id", "operator": "<=", "value": 2**31 - 1}
    assert "data" in api.call(method, filter=filter_, **params)
    filter_ = {"field": "id", "operator": "in", "value": [1, 2.0]}
    assert "data" in api.call(method, filter=filter_, **params)


def test_deeply_nested_fields_are_invalid_request(api: DataApi) -> None:
    # Just decodable by msgspec, deeper than any walker may recurse (was internal_error).
    fields = b"[" * 970 + b'"id"' + b"]" * 970
    body = b'{"jsonrpc":"2.0","id":1,"method":"get.virtual_numbers",'
    body += b'"params":{"access_token":"%s","fields":%s}}' % (api.token.encode(), fields)
    response = api.http.post(DATA_API_PATH, content=body)
    error = response.json()["error"]
    assert error["data"]["mnemonic"] == "invalid_request"
    assert error["data"]["params"] == {"max_depth": MAX_JSON_DEPTH}
