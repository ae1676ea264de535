"""Requests shaped as real clients send them, replayed byte for byte on a socket to both
JSON-RPC endpoints (``/v4.0`` and ``/dataapi/v2.0``, one server, one account).

The shapes (see /work/shared/spec/uis-data-api-facts.md, "What real clients do"):

* Python ``requests`` with ``json=`` (comagic-wrapper, comagic-data-api-sdk, uis):
  ``Content-Type: application/json`` with no charset, ``json.dumps`` text (``", "``
  separators, every non-ASCII character as ``\\uXXXX``, astral ones as surrogate pairs);
* ``requests`` with ``data=json.dumps(...)`` (ditexos): the same text and **no** Content-Type;
* PHP's ``json_encode`` through Guzzle (pashamesh): compact, ``/`` escaped as ``\\/``, non-ASCII
  as ``\\uXXXX``, the unix time as the id;
* ids up to 1e11, one id reused for several requests, ``access_token`` as the last key of the
  params, envelope keys in any order, and an extra top-level member (the wrapper's
  ``"limit"``), which is ignored: it is not a parameter.

``tests/api/test_envelope.py`` covers the envelope's errors and content types sent by httpx.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.api import CONTACT, VPN, Api, seed_account, serve
from tests.support.events import make_session
from tests.support.raw_http import RawReply, exchange, post_request
from vestnik.api.dataapi import DATA_API_PATH, dataapi_routes
from vestnik.config import Config
from vestnik.store import create_db_engine

CALL_API_PATH = "/v4.0"
PATHS = [CALL_API_PATH, DATA_API_PATH]


def around_now() -> dict[str, str]:
    """A calls report interval holding every session made by the test."""
    now = datetime.now(UTC)
    return {
        "date_from": (now - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S"),
        "date_till": (now + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S"),
    }


# Headers, in their order, of the clients whose bodies are JSON text.
REQUESTS_JSON = [
    ("User-Agent", "python-requests/2.34.2"),
    ("Accept-Encoding", "gzip, deflate"),
    ("Accept", "*/*"),
    ("Connection", "keep-alive"),
    ("Content-Type", "application/json"),
]
REQUESTS_DATA = REQUESTS_JSON[:-1]  # data=<str>: requests adds no Content-Type
GUZZLE = [("User-Agent", "GuzzleHttp/7"), ("Content-Type", "application/json")]


def python_json(value: Any) -> bytes:
    return json.dumps(value).encode("ascii")  # ensure_ascii: \uXXXX, surrogate pairs


def php_json(value: Any) -> bytes:
    """PHP ``json_encode`` with default flags: compact, ``\\/``, ``\\uXXXX``."""
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/").encode("ascii")


PROFILES: dict[str, tuple[list[tuple[str, str]], Callable[[Any], bytes]]] = {
    "requests-json": (REQUESTS_JSON, python_json),
    "requests-data": (REQUESTS_DATA, python_json),
    "guzzle": (GUZZLE, php_json),
}


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    """A server with the Call API and the Data API, and one account."""
    config = Config()
    engine = create_db_engine(db_url)
    account_id, token = seed_account(engine)
    with serve(engine, config, dataapi_routes(config, engine)) as (url, http):
        yield Api(url, http, engine, config, account_id, token)
    engine.dispose()


def send(
    api: Api, path: str, body: bytes, headers: list[tuple[str, str]] = REQUESTS_JSON
) -> RawReply:
    host = api.url.removeprefix("http://")
    reply = exchange(api.url, post_request(host, path, body, headers))
    assert reply.status == 200, reply
    assert reply.headers["content-type"].startswith("application/json")
    return reply


def envelope(method: str, params: dict[str, Any], id: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": params}


def a_list_method(api: Api, path: str) -> tuple[str, dict[str, Any]]:
    """A list method of ``path`` and its params (the access token last)."""
    if path == CALL_API_PATH:
        return "list.calls", {"access_token": api.token}
    return "get.calls_report", {
        **around_now(),
        "include_ongoing_calls": True,
        "access_token": api.token,
    }


def informer_params(api: Api, **extra: Any) -> dict[str, Any]:
    """start.informer_call params with the access token as the LAST key."""
    return {
        "virtual_phone_number": VPN,
        "contact": CONTACT,
        "contact_message": {"type": "tts", "value": "Тестовое сообщение"},
        **extra,
        "access_token": api.token,
    }


def start_call(api: Api, id: Any = 1, **extra: Any) -> int:
    body = python_json(envelope("start.informer_call", informer_params(api, **extra), id))
    reply = send(api, CALL_API_PATH, body).json()
    assert "result" in reply, reply
    return int(reply["result"]["data"]["call_session_id"])


def ids_listed(reply: dict[str, Any]) -> list[int]:
    assert "result" in reply, reply
    return [r.get("call_session_id", r.get("id")) for r in reply["result"]["data"]]


@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("path", PATHS)
def test_client_header_and_body_shapes(api: Api, path: str, profile: str) -> None:
    headers, encode = PROFILES[profile]
    session_id = start_call(api)
    method, params = a_list_method(api, path)
    reply = send(api, path, encode(envelope(method, params, "req_call1765000000")), headers)
    body = reply.json()
    assert body["id"] == "req_call1765000000"
    assert ids_listed(body) == [session_id]


@pytest.mark.parametrize("profile", ["requests-json", "guzzle"])
def test_escaped_text_is_decoded_on_both_endpoints(api: Api, profile: str) -> None:
    headers, encode = PROFILES[profile]
    external_id = "заказ/№1 😀"  # Cyrillic, a slash, a character outside the BMP
    text = "Привет/пока"
    params = informer_params(api, external_id=external_id)
    params["contact_message"] = {"type": "tts", "value": text}
    body = encode(envelope("start.informer_call", params))
    assert b"\\u0437\\u0430\\u043a" in body and b"\\ud83d\\ude00" in body
    assert (b"\\/" in body) == (profile == "guzzle")
    reply = send(api, CALL_API_PATH, body, headers).json()
    assert "result" in reply, reply
    stored = api.sessions()
    assert [(s["external_id"], s["message_value"]) for s in stored] == [(external_id, text)]
    # list.calls echoes the decoded text.
    listed = send(
        api, CALL_API_PATH, python_json(envelope("list.calls", {"access_token": api.token}))
    )
    assert [c["external_id"] for c in listed.json()["result"]["data"]] == [external_id]
    # The same text as an escaped filter value of the Data API finds the session.
    with api.engine.begin() as conn:
        make_session(conn, api.account_id, external_id="заказ/№2")
    condition = {"field": "call_api_external_id", "operator": "=", "value": external_id}
    report = envelope(
        "get.calls_report",
        {**around_now(), "include_ongoing_calls": True, "filter": condition,
         "fields": ["id", "call_api_external_id"], "access_token": api.token},
    )  # fmt: skip
    rows = send(api, DATA_API_PATH, encode(report), headers).json()["result"]["data"]
    assert rows == [{"id": stored[0]["id"], "call_api_external_id": external_id}]


def test_escaped_blacklist_comment(api: Api) -> None:
    comment = "просил/не звонить"
    params = {"phone_number": "+79265550001", "add_comment": comment, "access_token": api.token}
    body = php_json(envelope("create.phone_number_to_blacklist", params))
    created = send(api, DATA_API_PATH, body, GUZZLE).json()
    assert "result" in created, created
    assert created["result"]["data"]["phone_number"] == "79265550001"
    listed = send(
        api, DATA_API_PATH,
        php_json(envelope("get.blacklist_phone_numbers", {"access_token": api.token})), GUZZLE,
    ).json()  # fmt: skip
    row = listed["result"]["data"][0]
    assert (row["id"], row["add_comment"]) == (created["result"]["data"]["id"], comment)


@pytest.mark.parametrize("request_id", [1765000000, 2**31, 100000000000])
@pytest.mark.parametrize("path", PATHS)
def test_integer_ids_are_echoed_exactly(api: Api, path: str, request_id: int) -> None:
    method, params = a_list_method(api, path)
    reply = send(api, path, php_json(envelope(method, params, request_id)), GUZZLE)
    # As the same JSON number: not 1e+11, not 100000000000.0.
    assert f'"id":{request_id},'.encode() in reply.body.replace(b" ", b"")
    assert reply.json()["id"] == request_id and "result" in reply.json()


def test_large_id_is_the_reports_request_id(api: Api) -> None:
    session_id = start_call(api, id=100000000000)
    report = envelope(
        "get.calls_report",
        {**around_now(), "include_ongoing_calls": True, "fields": ["id", "call_api_request_id"],
         "access_token": api.token},
    )  # fmt: skip
    rows = send(api, DATA_API_PATH, python_json(report)).json()["result"]["data"]
    assert rows == [{"id": session_id, "call_api_request_id": 100000000000}]


def test_reused_id_is_answered_each_time(api: Api) -> None:
    first = start_call(api, id=1765000000)
    second = start_call(api, id=1765000000)  # same id, a second call: not a duplicate
    assert first != second
    assert sorted(s["id"] for s in api.sessions()) == sorted([first, second])
    for path in PATHS:
        method, params = a_list_method(api, path)
        body = python_json(envelope(method, params, 1765000000))
        replies = [send(api, path, body).json() for _ in range(2)]
        assert [r["id"] for r in replies] == [1765000000] * 2
        assert [sorted(ids_listed(r)) for r in replies] == [sorted([first, second])] * 2


@pytest.mark.parametrize("path", PATHS)
def test_envelope_keys_in_any_order_token_last(api: Api, path: str) -> None:
    session_id = start_call(api)
    method, params = a_list_method(api, path)
    assert list(params)[-1] == "access_token"
    # Alphabetical (Go maps, sort_keys=True), and params before the method.
    for order in (("id", "jsonrpc", "method", "params"), ("params", "method", "id", "jsonrpc")):
        full = envelope(method, params, 5)
        body = php_json({key: full[key] for key in order})
        reply = send(api, path, body, GUZZLE).json()
        assert reply["id"] == 5 and ids_listed(reply) == [session_id]


@pytest.mark.parametrize("path", PATHS)
def test_extra_envelope_member_is_ignored(api: Api, path: str) -> None:
    sessions = sorted(start_call(api, id=i) for i in range(3))
    method, params = a_list_method(api, path)
    plain = send(api, path, python_json(envelope(method, params, 9))).json()
    # The wrapper's shape: limit beside params. It is no parameter: nothing is cut to one row.
    body = python_json({**envelope(method, params, 9), "limit": 1})
    extra = send(api, path, body).json()
    assert set(extra) == set(plain) == {"jsonrpc", "id", "result"}
    assert extra["id"] == 9
    assert sorted(ids_listed(extra)) == sorted(ids_listed(plain)) == sessions
    assert set(extra["result"]) == set(plain["result"])
    assert set(extra["result"]["metadata"]) == set(plain["result"]["metadata"])
    if path == DATA_API_PATH:
        assert extra["result"]["metadata"]["total_items"] == 3
