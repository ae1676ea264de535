"""Real Data API client libraries from PyPI against vestnik, over real HTTP.

``comagic-wrapper`` 0.0.4.2 (module ``comagic.comagic``) and ``comagic-data-api-sdk`` 0.0.3.4
(``comagic.client``, ``comagic.models``) run their own code here: their login, their request
bodies (built by ``requests``: ``Content-Type: application/json`` without a charset, non-ASCII
escaped as ``\\uXXXX``, string ids), their default field lists and their parsing of the replies.
Both packages install a ``comagic/__init__.py`` (the one that wins imports its own half only), so
the submodules are imported by name.

Only the base URL changes, as a user pointing the library at vestnik would change it. Both
classes hard-code ``https://dataapi.comagic.ru/v2.0`` in their ``__init__``, which logs in at
once, so the URL cannot be set afterwards:

* the wrapper's ``_Session`` takes ``api_url``: ``VestnikWrapper.__init__`` is
  ``comagic.comagic.Comagic.__init__`` with that argument passed on;
* the SDK has no such argument: ``VestnikSdk.__init__`` does what
  ``comagic.client.Comagic.__init__`` does, step for step, with ``API_URL`` set to vestnik's URL
  instead of the vendor's.

Every other method is the libraries' own. To check what went over the wire (the SDK turns rows
into objects whose missing fields read as None), a ``requests`` response hook, the library's
public extension point, records each request body and reply.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import comagic.client as sdk
import comagic.comagic as wrapper
import comagic.errors as sdk_errors
import comagic.exceptions as wrapper_errors
import comagic.models as sdk_models
import pytest
import requests

from tests.support.api import PASSWORD, VPN, serve
from tests.support.dataapi import DAY, T0, DataApi, seed_many
from tests.support.events import make_session
from vestnik.api.dataapi import DATA_API_PATH, dataapi_routes
from vestnik.auth import TokenKind
from vestnik.config import Config, LimitsConfig
from vestnik.store import create_db_engine
from vestnik.store.accounts import create_account
from vestnik.store.admin_numbers import add_number
from vestnik.store.admin_users import create_user, issue_token
from vestnik.store.schema import media_files

ACCOUNT = "acme"
LOGIN = "alice"
DAY_START = datetime(2026, 11, 1)  # naive, as the SDK takes and returns date-times
DAY_END = datetime(2026, 11, 1, 23, 59, 59)


@dataclass
class Server:
    url: str  # the Data API's URL, what a user gives the library
    api: DataApi  # the same server for seeding and checking


@pytest.fixture
def server(db_url: str) -> Iterator[Server]:
    config = Config()
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        account_id = create_account(conn, ACCOUNT, LimitsConfig())
        token = issue_token(conn, account_id, TokenKind.PERMANENT).access_token
        add_number(conn, account_id, VPN, "Москва")
        create_user(conn, account_id, LOGIN, PASSWORD)
    with serve(engine, config, dataapi_routes(config, engine)) as (base, http):
        yield Server(base + DATA_API_PATH, DataApi(http, engine, account_id, token))
    engine.dispose()


class VestnikWrapper(wrapper.Comagic):
    """``comagic.comagic.Comagic`` whose ``_Session`` gets vestnik's URL."""

    def __init__(self, api_url: str, login: str = "", password: str = "", token: str = "") -> None:
        self.login = login
        self.password = password
        self._session = wrapper._Session(login, password, token, api_url)
        self.access_token = self._session.access_token


class VestnikSdk(sdk.Comagic):
    """``comagic.client.Comagic`` with ``API_URL`` = vestnik's URL (the rest is the original)."""

    def __init__(self, api_url: str, login: str = "", password: str = "", token: str = "") -> None:
        if (login and password) or token:
            self.login = login
            self.password = password
            self.API_URL = api_url
            self._session = requests.Session()
            self._session.headers.update({"Content-Type": "application/json"})
            self.access_token = token if token else self._create_access_token()
        else:
            raise ValueError("miss auth params login and password or token")


@dataclass
class Wire:
    """The (request body, reply) pairs a ``requests.Session`` exchanged, in order."""

    exchanges: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)  # the request bodies as sent

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        body = response.request.body
        assert isinstance(body, bytes)
        self.bodies.append(body)
        self.exchanges.append((json.loads(body), response.json()))

    @property
    def last_request(self) -> dict[str, Any]:
        return self.exchanges[-1][0]

    @property
    def last_result(self) -> dict[str, Any]:
        reply = self.exchanges[-1][1]
        assert "result" in reply, reply
        return dict(reply["result"])


def tap(session: requests.Session) -> Wire:
    wire = Wire()
    session.hooks["response"].append(wire.hook)
    return wire


def wrapper_client(v: Server) -> tuple[VestnikWrapper, Wire]:
    client = VestnikWrapper(v.url, LOGIN, PASSWORD)
    return client, tap(client._session._session)


def sdk_client(v: Server) -> tuple[VestnikSdk, Wire]:
    client = VestnikSdk(v.url, LOGIN, PASSWORD)
    return client, tap(client._session)


def at(seconds: float) -> datetime:
    """Seconds after T0 as the naive date-time the SDK parses (vestnik answers in UTC)."""
    return DAY_START + timedelta(seconds=seconds)


# -- login and the account ------------------------------------------------------------------


def test_wrapper_logs_in_and_reads_the_account(server: Server) -> None:
    client, wire = wrapper_client(server)
    assert client.comagic_app_id == server.api.account_id  # login.user's app_id
    assert client.access_token and client.access_token != server.api.token
    assert client.account.get() == [
        {"app_id": server.api.account_id, "name": ACCOUNT, "timezone": "UTC"}
    ]
    assert wire.last_request["params"] == {"access_token": client.access_token}
    # The session token works for the Call API too.
    body = {"jsonrpc": "2.0", "id": 1, "method": "list.calls",
            "params": {"access_token": client.access_token}}  # fmt: skip
    assert "result" in server.api.http.post("/v4.0", json=body).json()


def test_sdk_logs_in_and_reads_the_account(server: Server) -> None:
    client, _ = sdk_client(server)
    account = client.get_account()
    assert isinstance(account, sdk_models.Account)
    assert (account.app_id, account.name, account.timezone) == (
        server.api.account_id,
        ACCOUNT,
        "UTC",
    )


def test_both_libraries_work_with_a_token_given(server: Server) -> None:
    by_key = VestnikWrapper(server.url, token=server.api.token)
    assert by_key.comagic_app_id is None  # no login: the wrapper does not know it
    assert by_key.account.get()[0]["app_id"] == server.api.account_id
    sdk_by_key = VestnikSdk(server.url, token=server.api.token)
    assert sdk_by_key.get_account().app_id == server.api.account_id
    # A session token from the Call API's login.user serves the Data API too.
    login = {"jsonrpc": "2.0", "id": 1, "method": "login.user",
             "params": {"login": LOGIN, "password": PASSWORD}}  # fmt: skip
    session = server.api.http.post("/v4.0", json=login).json()["result"]["data"]
    by_session = VestnikSdk(server.url, token=session["access_token"])
    assert by_session.get_account().app_id == server.api.account_id


def test_wrong_password_through_both_libraries(server: Server) -> None:
    # The wrapper retries on -32001, then raises an error of its own with that code.
    with pytest.raises(wrapper_errors.ComagicException) as raised:
        VestnikWrapper(server.url, LOGIN, "not the password")
    assert raised.value.error_data["code"] == -32001
    # The SDK retries too, then raises vestnik's error object.
    with pytest.raises(sdk_errors.ComagicException) as sdk_raised:
        VestnikSdk(server.url, LOGIN, "not the password")
    assert sdk_raised.value.error_data["code"] == -32001
    assert sdk_raised.value.error_data["data"]["mnemonic"] == "auth_error"


# -- get.calls_report -----------------------------------------------------------------------


def test_wrapper_calls_report_default_fields(server: Server) -> None:
    seeded = seed_many(server.api)
    client, wire = wrapper_client(server)
    rows = client.calls_report.get(**DAY)
    assert "fields" not in wire.last_request["params"]  # the wrapper leaves them to the server
    assert wire.last_result["metadata"]["total_items"] == 30
    assert [r["id"] for r in rows] == [s["id"] for s in seeded]
    known = ("id", "start_time", "finish_time", "finish_reason", "is_lost", "wait_duration",
             "talk_duration", "total_duration", "contact_phone_number")  # fmt: skip
    assert [tuple(r[k] for k in known) for r in rows[:3]] == [
        (seeded[0]["id"], "2026-11-01 00:00:00", "2026-11-01 00:00:02", "success_finish",
         False, 2, 0, 2, "79260000000"),
        (seeded[1]["id"], "2026-11-01 00:01:00", "2026-11-01 00:01:12", "subscriber_busy",
         True, 12, 0, 12, "79260000001"),
        (seeded[2]["id"], "2026-11-01 00:02:00", "2026-11-01 00:02:22",
         "subscriber_not_responsible", False, 2, 20, 22, "79260000002"),
    ]  # fmt: skip
    first = rows[0]
    assert (first["direction"], first["source"], first["virtual_phone_number"]) == (
        "out",
        "callapi_informer_call",
        VPN,
    )


def test_sdk_calls_report_with_its_full_field_list(server: Server) -> None:
    seeded = seed_many(server.api)
    client, wire = sdk_client(server)
    calls = list(client.get_calls_report(DAY_START, DAY_END))
    sent = wire.last_request["params"]
    assert sent["fields"] == sdk_models.Call.fields()
    assert (sent["date_from"], sent["date_till"]) == (DAY["date_from"], DAY["date_till"])
    rows = wire.last_result["data"]
    assert [list(r) for r in rows] == [sdk_models.Call.fields()] * 30  # every key, in order
    assert [c.id for c in calls] == [s["id"] for s in seeded]
    busy, answered = calls[1], calls[2]
    assert (busy.start_time, busy.finish_time) == (at(60), at(72))
    assert (busy.finish_reason, busy.is_lost, busy.talk_duration) == ("subscriber_busy", True, 0)
    assert (answered.start_time, answered.finish_time) == (at(120), at(142))
    assert (answered.wait_duration, answered.talk_duration, answered.total_duration) == (2, 20, 22)
    assert answered.is_lost is False
    assert (answered.direction, answered.source) == ("out", "callapi_informer_call")
    assert (answered.contact_phone_number, answered.virtual_phone_number) == ("79260000002", VPN)
    assert answered.cpn_region_name == "Москва"
    # What vestnik cannot know: null, and [] for arrays (the vendor's rule).
    row = rows[2]
    for name in ("sale_date", "sale_cost", "campaign_name", "site_id", "utm_source",
                 "utm_referrer", "visitor_id", "communication_page_url", "scenario_name",
                 "last_answered_employee_id", "eq_utm_expid"):  # fmt: skip
        assert row[name] is None, name
    for name in ("scenario_operations", "call_records", "tags", "employees",
                 "visitor_custom_properties", "segments", "attributes"):  # fmt: skip
        assert row[name] == [], name
    assert answered.sale_date is None  # the SDK's date parsing copes with null


FEW = ("id", "start_time", "finish_reason")


def test_filter_sort_limit_with_escaped_cyrillic(server: Server) -> None:
    seeded = seed_many(server.api)
    with server.api.engine.begin() as conn:  # busy too, but elsewhere: the filter drops it
        make_session(conn, server.api.account_id, created_at=T0 + 3000, dial_at=T0 + 3000,
                     answer_at=None, end_at=T0 + 3005, finish_reason="subscriber_busy",
                     contact_region="Казань")  # fmt: skip
    client, wire = sdk_client(server)
    condition = {
        "filters": [
            {"field": "finish_reason", "operator": "=", "value": "subscriber_busy"},
            {"field": "cpn_region_name", "operator": "=", "value": "Москва"},
        ],
        "condition": "and",
    }
    calls = list(
        client.get_calls_report(
            DAY_START, DAY_END, limit=3, offset=1, filter=condition,
            sort=[{"field": "start_time", "order": "desc"}],
            fields=list(FEW),
        )
    )  # fmt: skip
    busy = [s["id"] for s in seeded if s["finish_reason"] == "subscriber_busy"]
    assert [c.id for c in calls] == busy[::-1][1:4]  # newest first, second to fourth
    assert calls[0].start_time == at(60 * 25)
    assert {c.finish_reason for c in calls} == {"subscriber_busy"}
    assert [tuple(r) for r in wire.last_result["data"]] == [FEW] * 3
    assert wire.last_result["metadata"]["total_items"] == len(busy) == 10
    # requests sent the city as \u escapes: the server decoded them to the same text.
    assert b'"\\u041c\\u043e\\u0441\\u043a\\u0432\\u0430"' in wire.bodies[-1]


def test_wrapper_filter_limit_offset(server: Server) -> None:
    seeded = seed_many(server.api)
    client, wire = wrapper_client(server)
    condition = {
        "filters": [
            {"field": "is_lost", "operator": "=", "value": False},
            {"field": "talk_duration", "operator": ">=", "value": 100},
        ],
        "condition": "and",
    }
    rows = client.calls_report.get(
        **DAY, filter=condition, fields=["id", "is_lost", "talk_duration"], limit=2, offset=1
    )
    answered = [s for s in seeded if s["answer_at"] is not None]
    long_talks = [s["id"] for s in answered if s["end_at"] - s["answer_at"] >= 100]
    assert rows == [
        {"id": long_talks[1], "is_lost": False, "talk_duration": 120},
        {"id": long_talks[2], "is_lost": False, "talk_duration": 140},
    ]
    assert wire.last_result["metadata"]["total_items"] == len(long_talks)
    assert (wire.last_request["params"]["limit"], wire.last_request["params"]["offset"]) == (2, 1)


def test_unknown_field_raises_the_vendor_mnemonic(server: Server) -> None:
    seed_many(server.api, 3)
    client, _ = wrapper_client(server)
    with pytest.raises(wrapper_errors.ComagicException) as raised:
        client.calls_report.get(**DAY, fields=["id", "no_such_field"])
    error = raised.value.error_data
    assert (error["code"], error["data"]["mnemonic"]) == (-32602, "unexpected_parameters")
    assert "Code: -32602" in str(raised.value)
    sdk_client_, _ = sdk_client(server)
    with pytest.raises(sdk_errors.ComagicException) as sdk_raised:
        list(sdk_client_.get_calls_report(DAY_START, DAY_START + timedelta(days=200)))
    assert sdk_raised.value.error_data["data"]["mnemonic"] == "date_interval_limit_reached"


# -- get.call_legs_report -------------------------------------------------------------------


def test_sdk_call_legs_report(server: Server) -> None:
    seeded = seed_many(server.api, 6)
    client, wire = sdk_client(server)
    legs = list(client.get_call_legs_report(DAY_START, DAY_END))
    assert wire.last_request["params"]["fields"] == sdk_models.CallLegs.fields()
    rows = wire.last_result["data"]
    assert rows and all(set(r) == set(sdk_models.CallLegs.fields()) for r in rows)
    by_session = {leg.call_session_id: leg for leg in legs}
    assert set(by_session) == {s["id"] for s in seeded}  # one dialled leg per session
    for i, session in enumerate(seeded):
        leg = by_session[session["id"]]
        assert leg.start_time == at(60 * i)
        assert leg.connect_time == (None if i % 3 == 1 else at(60 * i + 2))
        assert leg.called_phone_number == session["contact"]
        assert (leg.virtual_phone_number, leg.direction) == (VPN, "out")
        assert isinstance(leg.id, int)
    answered = by_session[seeded[2]["id"]]
    assert (answered.duration, answered.total_duration) == (20, 22)
    for name in ("employee_id", "employee_full_name", "scenario_id", "group_id", "action_id"):
        assert rows[0][name] is None, name
    assert rows[0]["call_records"] == []


def test_wrapper_call_legs_report(server: Server) -> None:
    seeded = seed_many(server.api, 3)
    client, _ = wrapper_client(server)
    legs = client.call_legs_report.get(**DAY, fields=["call_session_id", "called_phone_number"])
    assert sorted((r["call_session_id"], r["called_phone_number"]) for r in legs) == sorted(
        (s["id"], s["contact"]) for s in seeded
    )


# -- lookups --------------------------------------------------------------------------------


def _insert_media(v: Server) -> None:
    def row(account_id: int | None, name: str, kind: str, ms: int, size: int) -> dict[str, Any]:
        return {"account_id": account_id, "type": kind, "name": name, "size": size,
                "duration_ms": ms, "pcm_path": f"/nonexistent/{name}.pcm",
                "created_at": time.time()}  # fmt: skip

    with v.api.engine.begin() as conn:
        conn.execute(
            media_files.insert(),
            [row(None, "beep", "system", 400, 6400),
             row(v.api.account_id, "приветствие", "user", 4200, 90_000)],
        )  # fmt: skip


def test_sdk_media_files(server: Server) -> None:
    _insert_media(server)
    client, wire = sdk_client(server)
    files = {f.name: f for f in client.get_media_files()}
    assert wire.last_request["params"]["fields"] == sdk_models.MediaField.fields()
    assert [set(r) for r in wire.last_result["data"]] == [set(sdk_models.MediaField.fields())] * 2
    assert set(files) == {"beep", "приветствие"}
    greeting = files["приветствие"]
    assert (greeting.type, greeting.duration, greeting.size) == ("user", 5, 90_000)
    assert (files["beep"].type, files["beep"].duration) == ("system", 1)
    assert isinstance(greeting.id, int)
    # The wrapper, with the server's default fields.
    rows = VestnikWrapper(server.url, LOGIN, PASSWORD).media_files.get()
    assert {r["name"]: r["id"] for r in rows} == {name: f.id for name, f in files.items()}


def test_virtual_numbers_default_fields(server: Server) -> None:
    with server.api.engine.begin() as conn:
        add_number(conn, server.api.account_id, "78122000001", "Санкт-Петербург")
    client, wire = sdk_client(server)
    numbers = {n.virtual_phone_number: n for n in client.get_virtual_numbers()}
    assert wire.last_request["params"]["fields"] == sdk_models.VirtualNumber.fields()
    rows = wire.last_result["data"]
    assert [set(r) for r in rows] == [set(sdk_models.VirtualNumber.fields())] * 2
    assert set(numbers) == {VPN, "78122000001"}
    moscow = numbers[VPN]
    assert moscow.status == "active" and isinstance(moscow.id, int)
    assert (moscow.campaigns, moscow.scenarios) == ([], [])
    assert moscow.redirection_phone_number is None
    assert all(r["site_blocks"] in ([], None) for r in rows)
    # The wrapper, with the server's default fields.
    listed = VestnikWrapper(server.url, LOGIN, PASSWORD).virtual_numbers.get()
    assert sorted(r["virtual_phone_number"] for r in listed) == sorted(numbers)
