"""The JSON-RPC envelope and the errors common to all methods, through real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection
from starlette.applications import Starlette
from starlette.routing import Route

from tests.support.api import Api, ThreadServer, error_of, make_api, serve
from vestnik.api import CALL_API_PATH, JsonRpcEndpoint, Kind, MethodCall, MethodSpec, Param
from vestnik.api.dataapi import DATA_API_PATH, dataapi_routes
from vestnik.api.errors import ERRORS
from vestnik.api.jsonrpc import MAX_JSON_DEPTH
from vestnik.config import Config
from vestnik.store import create_db_engine
from vestnik.store.admin_blacklist import blacklist_list
from vestnik.store.schema import blacklist

ERROR_DATA_KEYS = {"mnemonic", "field", "value", "params", "extended_helper", "metadata"}


def assert_error_shape(reply: dict[str, Any]) -> None:
    assert set(reply) == {"jsonrpc", "id", "error"}
    assert reply["jsonrpc"] == "2.0"
    error = reply["error"]
    assert set(error) == {"code", "message", "data"}
    assert set(error["data"]) == ERROR_DATA_KEYS
    spec = ERRORS[error["data"]["mnemonic"]]
    assert error["code"] == spec.code
    assert error["data"]["extended_helper"] is None
    assert "{" not in error["message"], "unsubstituted template"
    if not spec.with_limits:
        assert "limits" not in error["data"]["metadata"]


def test_parse_error(api: Api) -> None:
    response = api.post(b'{"jsonrpc": "2.0", "id": 1, ')
    assert response.status_code == 200
    reply = response.json()
    assert_error_shape(reply)
    assert error_of(reply) == (-32700, "parse_error")
    assert reply["id"] is None
    assert reply["error"]["message"] == "Invalid JSON was received by the server."
    assert reply["error"]["data"]["metadata"] == {}


@pytest.mark.parametrize(
    ("body", "field", "echo"),
    [
        (b"42", None, None),
        (b'"text"', None, None),
        (b"[]", None, None),
        (b'{"id": 1, "method": "list.calls", "params": {}}', "jsonrpc", 1),
        (b'{"jsonrpc": "1.0", "id": 1, "method": "list.calls", "params": {}}', "jsonrpc", 1),
        (b'{"jsonrpc": "2.0", "id": null, "method": "list.calls", "params": {}}', "id", None),
        (b'{"jsonrpc": "2.0", "id": true, "method": "list.calls", "params": {}}', "id", None),
        (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "list.calls", "params": {}}', "id", None),
        # Longer than 255 characters as JSON: not a valid id, so not echoed either.
        (b'{"jsonrpc": "2.0", "id": "' + b"x" * 300 + b'", "method": "list.calls", "params": {}}',
         "id", None),
        (b'{"jsonrpc": "2.0", "id": 7, "method": 5, "params": {}}', "method", 7),
        (b'{"jsonrpc": "2.0", "id": 7, "method": "list.calls"}', "params", 7),
        (b'{"jsonrpc": "2.0", "id": 7, "method": "list.calls", "params": [1]}', "params", 7),
    ],
)  # fmt: skip
def test_invalid_request(api: Api, body: bytes, field: str | None, echo: Any) -> None:
    reply = api.post(body).json()
    assert_error_shape(reply)
    assert error_of(reply) == (-32600, "invalid_request")
    assert reply["error"]["data"]["field"] == field
    assert reply["id"] == echo


def test_overlong_id_is_invalid_request(api: Api) -> None:
    reply = api.rpc("list.calls", {"access_token": api.token}, id="x" * 300)
    assert error_of(reply) == (-32600, "invalid_request")
    assert reply["error"]["data"]["field"] == "id"


def test_batch_not_supported(api: Api) -> None:
    one = {"jsonrpc": "2.0", "id": 1, "method": "list.calls", "params": {}}
    reply = api.http.post("/v4.0", json=[one, one]).json()
    assert_error_shape(reply)
    assert error_of(reply) == (-32099, "batch_opreations_not_supported")
    assert reply["error"]["message"] == "Batch operations not supported"


def test_notifications_not_supported(api: Api) -> None:
    body = {"jsonrpc": "2.0", "method": "start.informer_call", "params": {}}
    reply = api.http.post("/v4.0", json=body).json()
    assert_error_shape(reply)
    assert error_of(reply) == (-32099, "notifications_not_supported")
    assert api.sessions() == []


def test_method_not_found(api: Api) -> None:
    reply = api.rpc("start.simple_call", {"access_token": api.token}, id=99)
    assert_error_shape(reply)
    assert error_of(reply) == (-32601, "method_not_found")
    assert reply["id"] == 99
    assert reply["error"]["data"]["value"] == "start.simple_call"


@pytest.mark.parametrize("request_id", ["req1", 17, 2.5, "", 0])
def test_id_is_echoed(api: Api, request_id: Any) -> None:
    ok = api.rpc("list.calls", {"access_token": api.token}, id=request_id)
    assert ok["id"] == request_id and "result" in ok
    bad = api.rpc("list.calls", {"access_token": "nope"}, id=request_id)
    assert bad["id"] == request_id and "error" in bad


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=UTF-8", "Application/JSON;charset=utf8"],
)
def test_accepted_content_types(api: Api, content_type: str | None) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"list.calls","params":{"access_token":"%s"}}'
    reply = api.post(body % api.token.encode(), content_type).json()
    assert "result" in reply, reply


@pytest.mark.parametrize(
    ("content_type", "mnemonic"),
    [
        ("text/plain", "unsupported_content_type"),
        ("application/x-www-form-urlencoded", "unsupported_content_type"),
        ("application/json; charset=windows-1251", "character_encoding_not_allowed"),
        ("application/json; charset=latin1", "character_encoding_not_allowed"),
    ],
)
def test_refused_content_types(api: Api, content_type: str, mnemonic: str) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"list.calls","params":{"access_token":"%s"}}'
    reply = api.post(body % api.token.encode(), content_type).json()
    assert_error_shape(reply)
    assert reply["error"]["data"]["mnemonic"] == mnemonic
    assert api.charged() == 0


def test_non_utf8_body(api: Api) -> None:
    params = {
        "access_token": api.token,
        "virtual_phone_number": "74993720692",
        "contact": "79260000000",
        "contact_message": {"type": "tts", "value": "Тестовое сообщение"},
    }
    text = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "start.informer_call", "params": params},
        ensure_ascii=False,
    )
    reply = api.post(text.encode("cp1251")).json()
    assert_error_shape(reply)
    assert error_of(reply) == (-32602, "character_encoding_not_allowed")
    assert reply["error"]["message"] == "The character encoding must be UTF-8"
    assert api.sessions() == []
    # The same request in UTF-8 (with a BOM even) is fine.
    assert "result" in api.post(b"\xef\xbb\xbf" + text.encode()).json()


@pytest.fixture
def small_api(db_url: str) -> Iterator[Api]:
    config = Config()
    config.server.max_body_bytes = 2048
    yield from make_api(db_url, config)


def test_oversized_body_refused(small_api: Api) -> None:
    big = {"access_token": small_api.token, "pad": "x" * 5000}
    body = {"jsonrpc": "2.0", "id": 1, "method": "list.calls", "params": big}
    response = small_api.http.post("/v4.0", json=body)
    assert response.status_code == 413
    reply = response.json()
    assert_error_shape(reply)
    assert reply["error"]["data"]["mnemonic"] == "request_too_large"
    assert "2048" in reply["error"]["message"]

    # Streamed (chunked, no Content-Length) bodies are cut off at the limit too.
    def chunks() -> Iterator[bytes]:
        yield b'{"jsonrpc":"2.0","id":1,"method":"list.calls","params":{"pad":"'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}}'

    streamed = small_api.http.post(
        "/v4.0", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    # The server is still fine.
    assert "result" in small_api.rpc("list.calls", {"access_token": small_api.token})


def test_success_carries_limits(api: Api) -> None:
    reply = api.start()
    assert set(reply) == {"jsonrpc", "id", "result"}
    assert set(reply["result"]) == {"data", "metadata"}
    limits = reply["result"]["metadata"]["limits"]
    assert set(limits) == {
        "day_limit", "day_remaining", "day_reset", "minute_limit", "minute_remaining",
        "minute_reset",
    }  # fmt: skip
    assert limits["minute_remaining"] == limits["minute_limit"] - 1
    assert limits["day_remaining"] == limits["day_limit"] - 1
    assert 1 <= limits["minute_reset"] <= 60 and 1 <= limits["day_reset"] <= 86_400


def test_get_is_not_allowed_and_health_answers(api: Api) -> None:
    assert api.http.get("/v4.0").status_code == 405
    health = httpx.get(api.url + "/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}


def test_error_table_is_complete() -> None:
    vendor_common = {
        "parse_error", "invalid_request", "method_not_found", "data_type_error",
        "required_parameter_missed", "invalid_parameter_value", "unexpected_parameters",
        "call_session_not_found", "internal_error", "access_token_invalid",
        "access_token_expired", "access_token_blocked", "auth_error", "ip_not_whitelisted",
        "forbidden", "component_disabled", "account_inactive", "limit_exceeded",
        "batch_opreations_not_supported", "notifications_not_supported", "invalid_state",
        "invalid_parameters_combination", "tts_text_exceeded", "media_file_not_found",
        "virtual_phone_number_not_found", "own_virtual_phone_number_not_allowed",
        "contact_in_blacklist", "character_encoding_not_allowed",
    }  # fmt: skip
    assert vendor_common <= set(ERRORS)
    assert all(not ERRORS[m].ours for m in vendor_common)
    assert ERRORS["contact_in_blacklist"].code == -32602
    assert ERRORS["virtual_phone_number_not_found"].code == -32007


def test_unexpected_exception_is_internal_error_and_rolls_back(api: Api) -> None:
    """A handler that fails after writing (a deliberate fault: no real method can be made to
    crash): the reply is internal_error, HTTP 200, and its write is rolled back."""

    def crashing(call: MethodCall, conn: Connection) -> None:
        conn.execute(
            blacklist.insert().values(
                account_id=call.principal.account_id, number="70000000000", created_at=0.0
            )
        )
        raise RuntimeError("deliberate fault")

    methods = {"crash.now": MethodSpec(params=(Param("access_token", Kind.STRING, True),),
                                       handler=crashing)}  # fmt: skip
    endpoint = JsonRpcEndpoint(methods, api.config, api.engine)
    app = Starlette(routes=[Route("/rpc", endpoint, methods=["POST"])])
    with ThreadServer(app, api.config) as server:
        body = {"jsonrpc": "2.0", "id": 5, "method": "crash.now",
                "params": {"access_token": api.token}}  # fmt: skip
        response = httpx.post(server.url + "/rpc", json=body)
    assert response.status_code == 200
    reply = response.json()
    assert_error_shape(reply)
    assert error_of(reply) == (-32603, "internal_error")
    assert reply["id"] == 5
    # The account was known: metadata.limits is there (uis-call-api-facts.md), nothing charged.
    limits = reply["error"]["data"]["metadata"]["limits"]
    assert limits["day_remaining"] == limits["day_limit"]
    assert limits["minute_remaining"] == limits["minute_limit"]
    with api.engine.connect() as conn:
        assert blacklist_list(conn, api.account_id) == []
    assert api.charged() == 0


def _checkpointers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "wal-checkpoint"}


def test_server_exit_releases_every_endpoint(sqlite_url: str) -> None:
    """On SQLite each JSON-RPC endpoint (Call API, Data API) keeps a connection and holds its
    engine's WAL checkpointer, one thread for both; stopping the server ends it (the Data
    API's used to outlive it)."""
    engine = create_db_engine(sqlite_url)
    config = Config()
    before = _checkpointers()
    with serve(engine, config, dataapi_routes(config, engine)) as (_url, http):
        for path, method in ((CALL_API_PATH, "list.calls"), (DATA_API_PATH, "get.media_files")):
            body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"access_token": "x"}}
            assert error_of(http.post(path, json=body).json())[1] == "access_token_invalid"
        started = _checkpointers() - before
        assert len(started) == 1
    engine.dispose()
    assert not [t for t in started if t.is_alive()]


def nested_list(levels: int) -> Any:
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


def deep_arrays(levels: int) -> bytes:
    """``levels`` nested arrays as JSON text (json.dumps would recurse)."""
    return b"[" * levels + b"]" * levels


def deep_objects(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


def test_nesting_up_to_the_limit_reaches_the_method(api: Api) -> None:
    # The request object is level 1, params level 2: 30 more levels make 32.
    params = {"access_token": api.token, "extra": nested_list(30)}
    reply = api.rpc("list.calls", params)
    assert error_of(reply) == (-32602, "unexpected_parameters")


@pytest.mark.parametrize(
    "deep",
    [
        deep_arrays(31),  # levels 3 to 33
        deep_objects(31),
        deep_arrays(100_000),  # deeper than msgspec itself decodes
    ],
    ids=["arrays", "objects", "100000"],
)
def test_nesting_beyond_the_limit_is_invalid_request(api: Api, deep: bytes) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"list.calls","params":{"access_token":"%s","x":%s}}'
    reply = api.post(body % (api.token.encode(), deep)).json()
    assert_error_shape(reply)
    assert error_of(reply) == (-32600, "invalid_request")
    assert reply["id"] is None
    assert reply["error"]["data"]["params"] == {"max_depth": MAX_JSON_DEPTH}
    assert api.charged() == 0
