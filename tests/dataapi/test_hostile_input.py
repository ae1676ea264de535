"""Hostile input at the Data API, on SQLite and PostgreSQL: a clean error in the documented
shape, never internal_error, and nothing changed."""

from __future__ import annotations

from tests.dataapi.conftest import DataApi

from vestnik.api.dataapi import DATA_API_PATH
from vestnik.api.jsonrpc import MAX_JSON_DEPTH


def test_deeply_nested_fields_are_invalid_request(api: DataApi) -> None:
    # Just decodable by msgspec, deeper than any walker may recurse (was internal_error).
    fields = b"[" * 970 + b'"id"' + b"]" * 970
    body = b'{"jsonrpc":"2.0","id":1,"method":"get.virtual_numbers",'
    body += b'"params":{"access_token":"%s","fields":%s}}' % (api.token.encode(), fields)
    response = api.http.post(DATA_API_PATH, content=body)
    error = response.json()["error"]
    assert error["data"]["mnemonic"] == "invalid_request"
    assert error["data"]["params"] == {"max_depth": MAX_JSON_DEPTH}
