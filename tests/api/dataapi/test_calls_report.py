"""get.calls_report over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.api import VPN
from tests.support.dataapi import DAY, T0, DataApi, seed_many
from tests.support.events import make_account, make_session


def seed_basic(api: DataApi) -> dict[str, dict[str, Any]]:
    with api.engine.begin() as conn:
        other = make_account(conn, "other")
        t1, t2 = T0 + 3600, T0 + 7200
        return {
            "answered": make_session(
                conn, api.account_id, created_at=t1, dial_at=t1, answer_at=t1 + 5.4,
                end_at=t1 + 20.6, request_id='"req-77"', external_id="order-1",
                contact="79261112233", contact_region="Москва",
            ),
            "busy": make_session(
                conn, api.account_id, created_at=t2, dial_at=t2 + 0.2, answer_at=None,
                end_at=t2 + 3.2, finish_reason="subscriber_busy", request_id="15",
                external_id=None, sip_code=486,
            ),
            "later": make_session(conn, api.account_id, created_at=T0 + 2 * 86400),
            "ongoing": make_session(
                conn, api.account_id, created_at=T0 + 5000, state="answered",
                finish_reason=None, end_at=None,
            ),
            "foreign": make_session(conn, other, created_at=t1 + 1),
        }  # fmt: skip


# The vendor's "Ответ по умолчанию" set (uis-data-api-facts.md, get.calls_report).
VENDOR_DEFAULT_FIELDS = [
    "id",
    "start_time",
    "finish_time",
    "finish_reason",
    "direction",
    "cpn_region_id",
    "cpn_region_name",
    "cpn_country_name",
    "cpn_country_id",
    "source",
    "is_lost",
    "contact_phone_number",
    "communication_id",
    "communication_type",
    "wait_duration",
    "total_wait_duration",
    "talk_duration",
    "clean_talk_duration",
    "total_duration",
    "call_records",
    "wav_call_records",
    "full_record_file_link",
    "virtual_phone_number",
]
OUR_FIELDS = ["call_api_request_id", "call_api_external_id"]


def test_report_rows_have_vendor_fields(api: DataApi) -> None:
    s = seed_basic(api)
    result = api.call("get.calls_report", **DAY)
    rows = result["data"]
    assert result["metadata"]["total_items"] == 2
    assert set(result["metadata"]["limits"]) >= {"day_limit", "minute_remaining"}
    assert [r["id"] for r in rows] == [s["answered"]["id"], s["busy"]["id"]]
    # No `fields`: the vendor's default set, in the vendor's order.
    assert list(rows[0]) == VENDOR_DEFAULT_FIELDS
    assert rows[0] == {
        "id": s["answered"]["id"],
        "start_time": "2026-11-01 01:00:00",
        "finish_time": "2026-11-01 01:00:20",
        "finish_reason": "success_finish",
        "direction": "out",
        "cpn_region_id": None,
        "cpn_region_name": "Москва",
        "cpn_country_name": None,  # make_session stores no country (intake does)
        "cpn_country_id": None,
        "source": "callapi_informer_call",
        "is_lost": False,
        "contact_phone_number": "79261112233",
        "communication_id": s["answered"]["id"],
        "communication_type": "call",
        "wait_duration": 5,
        "total_wait_duration": 5,
        "talk_duration": 15,
        "clean_talk_duration": 15,
        "total_duration": 21,
        "call_records": [],
        "wav_call_records": [],
        "full_record_file_link": None,
        "virtual_phone_number": VPN,
    }
    ours = api.call("get.calls_report", fields=OUR_FIELDS, **DAY)["data"]
    assert ours[0] == {"call_api_request_id": "req-77", "call_api_external_id": "order-1"}
    busy = ours[1]
    assert busy["call_api_request_id"] == 15  # a numeric JSON-RPC id comes back as a number
    assert busy["call_api_external_id"] is None
    busy = rows[1]
    assert busy["is_lost"] is True
    assert (busy["wait_duration"], busy["talk_duration"], busy["total_duration"]) == (3, 0, 3)
    # Ongoing sessions only on request.
    ongoing = api.call("get.calls_report", include_ongoing_calls=True, **DAY)
    assert ongoing["metadata"]["total_items"] == 3
    assert s["ongoing"]["id"] in {r["id"] for r in ongoing["data"]}


def test_fields_selection(api: DataApi) -> None:
    seed_basic(api)
    rows = api.call("get.calls_report", fields=["finish_reason", "id"], **DAY)["data"]
    assert [list(r) for r in rows] == [["finish_reason", "id"]] * 2
    error = api.error("get.calls_report", fields=["id", "password"], **DAY)
    assert error["data"]["mnemonic"] == "unexpected_parameters"  # the vendor's, for a name
    assert (error["data"]["field"], error["data"]["value"]) == ("fields", "password")


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"field": "finish_reason", "operator": "=", "value": "subscriber_busy"}, {1}),
        ({"field": "finish_reason", "operator": "!=", "value": "success_finish"}, {1, 2}),
        ({"field": "is_lost", "operator": "=", "value": True}, {1}),
        ({"field": "talk_duration", "operator": ">=", "value": 10}, {2}),
        ({"field": "contact_phone_number", "operator": "like", "value": "%0002"}, {2}),
        ({"field": "call_api_external_id", "operator": "in", "value": ["ext-0", "ext-4"]}, {0}),
        (
            {
                "filters": [
                    {"field": "finish_reason", "operator": "=", "value": "success_finish"},
                    {
                        "filters": [
                            {"field": "total_duration", "operator": "<", "value": 4},
                            {"field": "finish_reason", "operator": "=", "value": "x"},
                        ],
                        "condition": "or",
                    },
                ],
                "condition": "and",
            },
            {0},
        ),
        ({"field": "start_time", "operator": ">", "value": "2026-11-01 00:01:30"}, {2}),
    ],
)
def test_filters(api: DataApi, flt: dict[str, Any], expected: set[int]) -> None:
    # 0: success, talk 0 s; 1: busy, lost; 2: not responsible, talk 20 s.
    sessions = seed_many(api, 3)
    for i, s in enumerate(sessions):
        assert s["contact"].endswith(f"{i:04d}")
    result = api.call("get.calls_report", filter=flt, **DAY)
    ids = {r["id"] for r in result["data"]}
    assert ids == {sessions[i]["id"] for i in expected}
    assert result["metadata"]["total_items"] == len(expected)


@pytest.mark.parametrize(
    ("flt", "mnemonic", "field"),
    [
        ({"field": "password", "operator": "=", "value": 1}, "unexpected_parameters",
         "filter.field"),
        ({"field": "properties", "operator": "=", "value": "x"}, "filter_prohibited",
         "filter.field"),
        ({"field": "id", "operator": "~", "value": 1}, "invalid_parameter_value",
         "filter.operator"),
        ({"field": "id", "operator": "regexp", "value": "1"}, "invalid_parameter_value",
         "filter.operator"),
        ({"field": "id", "operator": "in", "value": []}, "invalid_parameter_value",
         "filter.value"),
        ({"field": "id", "operator": "like", "value": "1%"}, "invalid_parameter_value",
         "filter.operator"),
        ({"field": "tags", "operator": "=", "value": "x"}, "invalid_parameter_value",
         "filter.operator"),
        ({"field": "id", "operator": "is_null", "value": 1}, "invalid_parameter_value",
         "filter.value"),
        ({"filters": [], "condition": "and"}, "invalid_parameter_value", "filter.filters"),
        ({"filters": [{"field": "id", "operator": "=", "value": 1}], "condition": "xor"},
         "invalid_parameter_value", "filter.condition"),
    ],
)  # fmt: skip
def test_bad_filters_are_refused(
    api: DataApi, flt: dict[str, Any], mnemonic: str, field: str
) -> None:
    error = api.error("get.calls_report", filter=flt, **DAY)
    assert (error["code"], error["data"]["mnemonic"]) == (-32602, mnemonic)
    assert error["data"]["field"] == field


def test_filter_value_of_wrong_type(api: DataApi) -> None:
    error = api.error(
        "get.calls_report", filter={"field": "id", "operator": "=", "value": "1"}, **DAY
    )
    assert error["data"]["mnemonic"] == "data_type_error"


def test_sort_and_paging(api: DataApi) -> None:
    sessions = seed_many(api, 30)
    by_talk = sorted(
        sessions, key=lambda s: (-(s["end_at"] - s["answer_at"]) if s["answer_at"] else 0, s["id"])
    )
    page = api.call(
        "get.calls_report",
        sort=[{"field": "talk_duration", "order": "desc"}],
        fields=["id", "talk_duration"],
        limit=7,
        offset=0,
        **DAY,
    )
    assert page["metadata"]["total_items"] == 30
    assert [r["id"] for r in page["data"]] == [s["id"] for s in by_talk[:7]]
    seen: list[int] = []
    for offset in range(0, 30, 7):
        chunk = api.call("get.calls_report", limit=7, offset=offset, fields=["id"], **DAY)
        assert chunk["metadata"]["total_items"] == 30
        seen += [r["id"] for r in chunk["data"]]
    assert seen == [s["id"] for s in sessions]  # default order: start_time, then id
    desc = api.call("get.calls_report", sort=[{"field": "id", "order": "desc"}], **DAY)["data"]
    assert [r["id"] for r in desc] == sorted((s["id"] for s in sessions), reverse=True)
    for bad in ({"limit": 0}, {"limit": 10_001}, {"offset": -1}):
        error = api.error("get.calls_report", **bad, **DAY)
        assert error["data"]["mnemonic"] == "invalid_parameter_value"
        assert error["data"]["field"] == next(iter(bad))
    error = api.error("get.calls_report", sort=[{"field": "id", "order": "up"}], **DAY)
    assert error["data"]["field"] == "sort.order"


def test_date_interval(api: DataApi) -> None:
    ok = api.call("get.calls_report", date_from="2026-01-31 00:00:00", date_till="2026-04-30")
    assert ok["data"] == []
    error = api.error(
        "get.calls_report", date_from="2026-01-01 00:00:00", date_till="2026-04-01 00:00:01"
    )
    assert (error["code"], error["data"]["mnemonic"]) == (-32602, "date_interval_limit_reached")
    assert error["data"]["field"] == "date_till"
    assert "metadata" in error["data"]
    error = api.error("get.calls_report", date_from="2026-02-01", date_till="2026-01-01")
    assert (error["data"]["mnemonic"], error["data"]["field"]) == (
        "invalid_parameter_value",
        "date_till",
    )
    error = api.error("get.calls_report", date_from="yesterday", date_till="2026-01-01")
    assert (error["data"]["mnemonic"], error["data"]["field"]) == (
        "invalid_parameter_value",
        "date_from",
    )
    error = api.error("get.calls_report", date_till="2026-01-01")
    assert (error["data"]["mnemonic"], error["data"]["field"]) == (
        "required_parameter_missed",
        "date_from",
    )


def test_auth_errors(api: DataApi) -> None:
    reply = api.rpc("get.calls_report", {"access_token": "nope", **DAY})
    assert reply["error"]["code"] == -32001
    assert reply["error"]["data"]["mnemonic"] == "access_token_invalid"
    assert "metadata" not in reply["error"]["data"] or not reply["error"]["data"]["metadata"]
    reply = api.rpc("get.calls_report", DAY)
    assert reply["error"]["data"]["mnemonic"] == "required_parameter_missed"
    reply = api.rpc("get.no_such_report", {"access_token": api.token})
    assert reply["error"]["data"]["mnemonic"] == "method_not_found"
    reply = api.rpc("get.calls_report", {"access_token": api.token, "bogus": 1, **DAY})
    assert reply["error"]["data"]["mnemonic"] == "unexpected_parameters"
    # Data API methods are not on the Call API path and vice versa.
    reply = api.rpc("get.calls_report", {"access_token": api.token, **DAY}, path="/v4.0")
    assert reply["error"]["data"]["mnemonic"] == "method_not_found"


def test_session_started_through_call_api_appears(api: DataApi) -> None:
    body = {
        "jsonrpc": "2.0",
        "id": "abc-1",
        "method": "start.informer_call",
        "params": {
            "access_token": api.token,
            "virtual_phone_number": VPN,
            "contact": "79260000123",
            "external_id": "crm-9",
            "contact_message": {"type": "tts", "value": "Привет"},
        },
    }
    reply = api.http.post("/v4.0", json=body).json()
    session_id = reply["result"]["data"]["call_session_id"]
    now = datetime.now(UTC)
    window = {
        "date_from": (now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S"),
        "date_till": (now + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S"),
    }
    fields = [*OUR_FIELDS, "id", "contact_phone_number", "cpn_country_id", "cpn_country_name"]
    rows = api.call("get.calls_report", include_ongoing_calls=True, fields=fields, **window)
    row = next(r for r in rows["data"] if r["id"] == session_id)
    assert row["call_api_request_id"] == "abc-1"
    assert row["call_api_external_id"] == "crm-9"
    assert row["contact_phone_number"] == "79260000123"
    # The intake keeps the contact's country (libphonenumber).
    assert (row["cpn_country_id"], row["cpn_country_name"]) == ("RU", "Россия")
    by_country = {"field": "cpn_country_name", "operator": "=", "value": "Россия"}
    found = api.call("get.calls_report", include_ongoing_calls=True, filter=by_country,
                     fields=["id"], **window)  # fmt: skip
    assert {"id": session_id} in found["data"]
    by_request = {"field": "call_api_request_id", "operator": "in", "value": ["abc-1", 99]}
    found = api.call("get.calls_report", include_ongoing_calls=True, filter=by_request,
                     fields=["id"], **window)  # fmt: skip
    assert found["data"] == [{"id": session_id}]


def test_our_fields_of_one_session_several_attempts(api: DataApi) -> None:
    with api.engine.begin() as conn:
        confirmed = make_session(
            conn, api.account_id, created_at=T0 + 60, attempt_count=2, dtmf_reply="1",
            answered_by="human",
        )  # fmt: skip
        plain = make_session(conn, api.account_id, created_at=T0 + 120, attempt_count=1)
        never = make_session(
            conn, api.account_id, created_at=T0 + 180, attempt_count=0, dial_at=None,
            answer_at=None, finish_reason="released",
        )  # fmt: skip
    fields = ["id", "dtmf_reply", "attempts", "answered_by"]
    rows = api.call("get.calls_report", fields=fields, **DAY)["data"]
    assert rows == [
        {"id": confirmed["id"], "dtmf_reply": "1", "attempts": 2, "answered_by": "human"},
        {"id": plain["id"], "dtmf_reply": None, "attempts": 1, "answered_by": None},
        {"id": never["id"], "dtmf_reply": None, "attempts": 0, "answered_by": None},
    ]
    retried = api.call(
        "get.calls_report", fields=["id"], filter={"field": "attempts", "operator": ">",
        "value": 1}, sort=[{"field": "attempts", "order": "desc"}], **DAY,
    )["data"]  # fmt: skip
    assert retried == [{"id": confirmed["id"]}]
    # Not in the vendor's default set: a UIS client that asks for nothing sees nothing new.
    default = api.call("get.calls_report", **DAY)["data"][0]
    assert not {"dtmf_reply", "attempts", "answered_by"} & set(default)


def test_the_spoken_reply_and_its_intent(api: DataApi) -> None:
    with api.engine.begin() as conn:
        said = make_session(conn, api.account_id, created_at=T0 + 60,
                            speech_reply="Да, подтверждаю.", speech_intent="yes")  # fmt: skip
        silent = make_session(conn, api.account_id, created_at=T0 + 120, speech_reply="")
        plain = make_session(conn, api.account_id, created_at=T0 + 180)
    fields = ["id", "speech_reply", "speech_intent"]
    rows = api.call("get.calls_report", fields=fields, **DAY)["data"]
    assert rows == [
        {"id": said["id"], "speech_reply": "Да, подтверждаю.", "speech_intent": "yes"},
        {"id": silent["id"], "speech_reply": "", "speech_intent": None},
        {"id": plain["id"], "speech_reply": None, "speech_intent": None},
    ]
    yes = {"field": "speech_intent", "operator": "=", "value": "yes"}
    assert api.call("get.calls_report", fields=["id"], filter=yes, **DAY)["data"] == [
        {"id": said["id"]}
    ]
    nothing = {"field": "speech_reply", "operator": "=", "value": ""}
    assert api.call("get.calls_report", fields=["id"], filter=nothing, **DAY)["data"] == [
        {"id": silent["id"]}
    ]
    default = api.call("get.calls_report", **DAY)["data"][0]
    assert not {"speech_reply", "speech_intent"} & set(default)
