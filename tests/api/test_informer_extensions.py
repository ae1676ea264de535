"""start.informer_call's vestnik-only parameters (collect_dtmf, retry, calling_window,
detect_machine, record) and the account's call policy: every check with its field, what the
session stores (``options``, ``scheduled_at``), the policy for a plain request, the request
replacing it, and a window closed at intake scheduling the session in the contact's zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support.api import Api, error_of
from vestnik.calls.model import FinishReason
from vestnik.calls.options import CallingWindow, CallOptions, RetryPolicy
from vestnik.store.accounts import get_call_policy, set_call_policy

NOVOSIBIRSK = "73832123456"  # a landline: Новосибирская обл. (geocoder)
VLADIVOSTOK = "74232123456"  # Приморский край
MOSCOW = "74991234567"
WINDOW = {"from": "09:00", "till": "21:00"}
RETRY = {"attempts": 3, "interval": 600}


def _rejected(api: Api, reply: dict[str, Any], mnemonic: str, field: str) -> dict[str, Any]:
    assert error_of(reply) == (-32602, mnemonic), reply
    data: dict[str, Any] = reply["error"]["data"]
    assert data["field"] == field, data
    assert api.sessions() == [] and api.charged() == 0
    return data


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"collect_dtmf": 1}, "collect_dtmf"),
        ({"collect_dtmf": {"max_digits": "4"}}, "collect_dtmf.max_digits"),
        ({"collect_dtmf": {"max_digits": 1.5}}, "collect_dtmf.max_digits"),
        ({"collect_dtmf": {"timeout": "5"}}, "collect_dtmf.timeout"),
        ({"collect_dtmf": {"finish_on": 1}}, "collect_dtmf.finish_on"),
        ({"retry": [RETRY]}, "retry"),
        ({"retry": {**RETRY, "attempts": True}}, "retry.attempts"),
        ({"retry": {**RETRY, "interval": "600"}}, "retry.interval"),
        ({"retry": {**RETRY, "on": "subscriber_busy"}}, "retry.on"),
        ({"calling_window": "09:00-21:00"}, "calling_window"),
        ({"calling_window": {**WINDOW, "from": 9}}, "calling_window.from"),
        ({"calling_window": {**WINDOW, "timezone": 3}}, "calling_window.timezone"),
        ({"detect_machine": "yes"}, "detect_machine"),
        ({"record": 1}, "record"),
    ],
)
def test_data_type_errors(api: Api, params: dict[str, Any], field: str) -> None:
    _rejected(api, api.start(**params), "data_type_error", field)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"collect_dtmf": {"digits": 4}}, "collect_dtmf.digits"),
        ({"retry": {**RETRY, "backoff": 2}}, "retry.backoff"),
        ({"calling_window": {**WINDOW, "days": [1]}}, "calling_window.days"),
    ],
)
def test_unknown_nested_keys(api: Api, params: dict[str, Any], field: str) -> None:
    data = _rejected(api, api.start(**params), "unexpected_parameters", field)
    assert data["params"]["parameters"] == [field.rpartition(".")[2]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"retry": {"interval": 600}}, "retry.attempts"),
        ({"retry": {"attempts": 3}}, "retry.interval"),
        ({"calling_window": {"till": "21:00"}}, "calling_window.from"),
        ({"calling_window": {"from": "09:00"}}, "calling_window.till"),
    ],
)
def test_required_nested(api: Api, params: dict[str, Any], field: str) -> None:
    _rejected(api, api.start(**params), "required_parameter_missed", field)


@pytest.mark.parametrize(
    ("params", "field", "value"),
    [
        ({"collect_dtmf": {"max_digits": 0}}, "collect_dtmf.max_digits", 0),
        ({"collect_dtmf": {"max_digits": 33}}, "collect_dtmf.max_digits", 33),
        ({"collect_dtmf": {"timeout": 0.5}}, "collect_dtmf.timeout", 0.5),
        ({"collect_dtmf": {"timeout": 61}}, "collect_dtmf.timeout", 61),
        ({"collect_dtmf": {"finish_on": "##"}}, "collect_dtmf.finish_on", "##"),
        ({"collect_dtmf": {"finish_on": "A"}}, "collect_dtmf.finish_on", "A"),
        ({"retry": {**RETRY, "attempts": 0}}, "retry.attempts", 0),
        ({"retry": {**RETRY, "attempts": 11}}, "retry.attempts", 11),
        ({"retry": {**RETRY, "interval": 9}}, "retry.interval", 9),
        ({"retry": {**RETRY, "interval": 86401}}, "retry.interval", 86401),
        ({"retry": {**RETRY, "on": []}}, "retry.on", []),
        ({"retry": {**RETRY, "on": ["success_finish"]}}, "retry.on", ["success_finish"]),
        ({"retry": {**RETRY, "on": ["subscriber_busy", 5]}}, "retry.on",
         ["subscriber_busy", 5]),
        ({"calling_window": {**WINDOW, "from": "9:00"}}, "calling_window.from", "9:00"),
        ({"calling_window": {**WINDOW, "from": "24:00"}}, "calling_window.from", "24:00"),
        ({"calling_window": {**WINDOW, "till": "21:60"}}, "calling_window.till", "21:60"),
        ({"calling_window": {**WINDOW, "till": "25:00"}}, "calling_window.till", "25:00"),
        ({"calling_window": {"from": "10:00", "till": "10:00"}}, "calling_window.till",
         "10:00"),
        ({"calling_window": {**WINDOW, "timezone": "Mars/Olympus"}}, "calling_window.timezone",
         "Mars/Olympus"),
        ({"calling_window": {**WINDOW, "timezone": "../etc/passwd"}},
         "calling_window.timezone", "../etc/passwd"),
    ],
)  # fmt: skip
def test_invalid_values(api: Api, params: dict[str, Any], field: str, value: Any) -> None:
    data = _rejected(api, api.start(**params), "invalid_parameter_value", field)
    assert data["value"] == value
    assert data["params"]["reason"]


def test_vendor_errors_come_first(api: Api) -> None:
    reply = api.start(contact="abc", retry={**RETRY, "interval": 1})
    _rejected(api, reply, "invalid_parameter_value", "contact")
    # Our parameters in their order: collect_dtmf before retry before calling_window.
    reply = api.start(
        collect_dtmf={"max_digits": 0}, retry={**RETRY, "interval": 1},
        calling_window={"from": "x", "till": "y"},
    )  # fmt: skip
    _rejected(api, reply, "invalid_parameter_value", "collect_dtmf.max_digits")
    reply = api.start(retry={**RETRY, "interval": 1}, calling_window={"from": "x", "till": "y"})
    _rejected(api, reply, "invalid_parameter_value", "retry.interval")


def test_plain_request_stores_no_options(api: Api) -> None:
    reply = api.start()
    assert list(reply["result"]["data"]) == ["call_session_id"]
    [row] = api.sessions()
    assert row["options"] is None and row["scheduled_at"] is None
    assert row["attempt_count"] == 0 and row["dtmf_reply"] is None


def test_extensions_are_stored_with_their_defaults(api: Api) -> None:
    reply = api.start(
        collect_dtmf={}, retry={**RETRY, "on": ["timeout", "subscriber_busy", "timeout"]},
        calling_window={"from": "00:00", "till": "24:00", "timezone": "Asia/Vladivostok"},
        detect_machine=True, record=False,
    )  # fmt: skip
    assert "result" in reply, reply
    [row] = api.sessions()
    assert row["options"] == {
        "source": "request",
        "collect_dtmf": {"max_digits": 1, "timeout": 5.0, "finish_on": "#"},
        "retry": {"attempts": 3, "interval": 600, "on": ["timeout", "subscriber_busy"]},
        "calling_window": {"from": "00:00", "till": "24:00", "timezone": "Asia/Vladivostok",
                           "zone": "Asia/Vladivostok"},
        "detect_machine": True,
    }  # fmt: skip
    assert row["scheduled_at"] is None  # a window open all day


POLICY = CallOptions(
    retry=RetryPolicy(2, 300, (FinishReason.SUBSCRIBER_BUSY,)),
    calling_window=CallingWindow(0, 1440, "contact"),
    record=True,
    source="account",
)


def _set_policy(api: Api, policy: CallOptions | None) -> None:
    with api.engine.begin() as conn:
        set_call_policy(conn, api.account_id, policy)
        assert get_call_policy(conn, api.account_id) == policy


def test_policy_applies_to_a_plain_request(api: Api) -> None:
    _set_policy(api, POLICY)
    api.start(contact=NOVOSIBIRSK)
    api.start(collect_dtmf={"max_digits": 4})  # collect_dtmf does not replace the policy
    first, second = (row["options"] for row in api.sessions())
    assert first == {
        "source": "account",
        "retry": {"attempts": 2, "interval": 300, "on": ["subscriber_busy"]},
        "calling_window": {"from": "00:00", "till": "24:00", "timezone": "contact",
                           "zone": "Asia/Novosibirsk"},
        "record": True,
    }  # fmt: skip
    assert second["source"] == "account" and second["record"] is True
    assert second["collect_dtmf"] == {"max_digits": 4, "timeout": 5.0, "finish_on": "#"}
    assert second["calling_window"]["zone"] == "Europe/Moscow"  # a mobile, no registry range


def test_request_replaces_the_policy_as_a_whole(api: Api) -> None:
    _set_policy(api, POLICY)
    api.start(detect_machine=True)
    api.start(record=False)  # even false: the client chose, the policy is ignored
    first, second = (row["options"] for row in api.sessions())
    assert first == {"source": "request", "detect_machine": True}
    assert second is None
    _set_policy(api, None)
    api.start()
    assert api.sessions()[-1]["options"] is None


def _local_hhmm(zone: str, shift: timedelta) -> tuple[str, datetime]:
    local = (datetime.now(ZoneInfo(zone)) + shift).replace(second=0, microsecond=0)
    return local.strftime("%H:%M"), local


def test_closed_window_schedules_the_next_opening_in_the_contacts_zone(api: Api) -> None:
    """The same window, a Novosibirsk and a Moscow number: each waits for 09:00 … of its own
    zone (Novosibirsk is four hours ahead of Moscow)."""
    opens, local_open = _local_hhmm("Asia/Novosibirsk", timedelta(hours=2))
    closes, _ = _local_hhmm("Asia/Novosibirsk", timedelta(hours=3))
    window = {"from": opens, "till": closes}
    before = datetime.now().timestamp()
    api.start(contact=NOVOSIBIRSK, calling_window=window)
    api.start(contact=VLADIVOSTOK, calling_window={**window, "timezone": "Asia/Novosibirsk"})
    api.start(contact=MOSCOW, calling_window=window)
    novosibirsk, fixed_zone, moscow = api.sessions()
    assert novosibirsk["state"] == "queued"
    assert novosibirsk["scheduled_at"] == local_open.timestamp()
    assert novosibirsk["options"]["calling_window"]["zone"] == "Asia/Novosibirsk"
    assert fixed_zone["scheduled_at"] == local_open.timestamp()
    assert moscow["options"]["calling_window"]["zone"] == "Europe/Moscow"
    # 2 hours ahead in Novosibirsk is 22:00 … in Moscow's clock terms 4 hours later there.
    expected = _next_local(window["from"], "Europe/Moscow", before)
    assert moscow["scheduled_at"] == expected
    assert moscow["scheduled_at"] - novosibirsk["scheduled_at"] in (4 * 3600, 4 * 3600 - 86400)


def _next_local(hhmm: str, zone: str, after: float) -> float:
    tz = ZoneInfo(zone)
    now = datetime.fromtimestamp(after, tz)
    candidate = now.replace(hour=int(hhmm[:2]), minute=int(hhmm[3:]), second=0, microsecond=0)
    if candidate.timestamp() <= after:
        candidate += timedelta(days=1)
    return candidate.timestamp()


def test_open_window_is_dialled_at_once(api: Api) -> None:
    opened, _ = _local_hhmm("Asia/Vladivostok", timedelta(hours=-1))
    closes, _ = _local_hhmm("Asia/Vladivostok", timedelta(hours=1))
    api.start(contact=VLADIVOSTOK, calling_window={"from": opened, "till": closes})
    [row] = api.sessions()
    assert row["scheduled_at"] is None
    assert row["options"]["calling_window"]["zone"] == "Asia/Vladivostok"
