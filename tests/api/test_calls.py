"""release.call and list.calls."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.api import CONTACT, VPN, Api, error_of
from vestnik.auth import TokenKind
from vestnik.config import LimitsConfig
from vestnik.store.accounts import create_account
from vestnik.store.admin_users import issue_token
from vestnik.store.db import now
from vestnik.store.schema import call_events, call_sessions


def _set_state(api: Api, session_id: int, state: str) -> None:
    with api.engine.begin() as conn:
        conn.execute(
            call_sessions.update().where(call_sessions.c.id == session_id).values(state=state)
        )


def _events(api: Api, session_id: int) -> list[dict[str, Any]]:
    with api.engine.connect() as conn:
        rows = conn.execute(
            sa.select(call_events).where(call_events.c.call_session_id == session_id)
        )
        return [dict(r._mapping) for r in rows]


def _release(api: Api, session_id: Any, token: str | None = None) -> dict[str, Any]:
    return api.rpc(
        "release.call", {"access_token": token or api.token, "call_session_id": session_id}
    )


def test_release_queued_session(api: Api) -> None:
    session_id = api.start(external_id="ext-1")["result"]["data"]["call_session_id"]
    reply = _release(api, session_id)
    assert reply["result"]["data"] == {"success": True}
    [row] = api.sessions()
    assert row["state"] == "finished" and row["finish_reason"] == "released"
    assert row["end_at"] is not None and abs(row["end_at"] - now()) < 30
    [event] = _events(api, session_id)
    assert event["event_type"] == "call_finished"
    assert event["payload"]["finish_reason"] == "released"
    assert event["payload"]["external_id"] == "ext-1"
    # A finished session cannot be released again.
    again = _release(api, session_id)
    assert error_of(again) == (-32004, "invalid_state")
    assert again["error"]["message"] == "This method can not be called in this state"
    assert len(_events(api, session_id)) == 1


@pytest.mark.parametrize("state", ["dialing", "ringing", "answered"])
def test_release_active_call_flags_the_dialer(api: Api, state: str) -> None:
    session_id = api.start()["result"]["data"]["call_session_id"]
    _set_state(api, session_id, state)
    assert _release(api, session_id)["result"]["data"] == {"success": True}
    [row] = api.sessions()
    assert row["state"] == state and row["release_requested"] is True
    assert row["finish_reason"] is None
    assert _events(api, session_id) == []


def test_release_unknown_or_foreign_session(api: Api) -> None:
    session_id = api.start()["result"]["data"]["call_session_id"]
    with api.engine.begin() as conn:
        other = create_account(conn, f"other-{api.account_id}", LimitsConfig())
        foreign_token = issue_token(conn, other, TokenKind.PERMANENT).access_token
    impossible = (10**9, 10**20, 2**63, 1e20, 0, -1)  # unknown, or outside 1 … 2**31 - 1
    for token, target in ((foreign_token, session_id), *((None, i) for i in impossible)):
        reply = _release(api, target, token)
        assert error_of(reply) == (-32602, "call_session_not_found")
        assert reply["error"]["data"]["field"] == "call_session_id"
        assert reply["error"]["message"] == "Call session not found"
    assert api.sessions()[0]["state"] == "queued"


@pytest.mark.parametrize("value", ["12", 1.5, True, None])
def test_release_param_types(api: Api, value: Any) -> None:
    reply = _release(api, value)
    mnemonic = "required_parameter_missed" if value is None else "data_type_error"
    assert error_of(reply) == (-32602, mnemonic)


def test_list_calls(api: Api) -> None:
    first = api.start(external_id="a", direction="out")["result"]["data"]["call_session_id"]
    second = api.start(contact="79260000002")["result"]["data"]["call_session_id"]
    third = api.start(contact="79260000003")["result"]["data"]["call_session_id"]
    _set_state(api, second, "ringing")
    _release(api, third)
    reply = api.rpc("list.calls", {"access_token": api.token})
    calls = reply["result"]["data"]
    assert [c["call_session_id"] for c in calls] == [first, second]
    call = calls[0]
    assert set(call) == {
        "call_session_id", "direction", "start_time", "virtual_phone_number",
        "contact_phone_number", "external_id", "tags", "legs", "scheduled_at", "attempts",
    }  # fmt: skip
    assert (call["scheduled_at"], call["attempts"]) == (None, 0)
    assert call["tags"] == []
    assert call["direction"] == "out" and call["external_id"] == "a"
    assert call["virtual_phone_number"] == VPN and call["contact_phone_number"] == CONTACT
    assert call["start_time"].endswith("+00:00")
    [leg] = call["legs"]
    # The vendor's leg fields, its Russian state words; ours (direction, times) after them.
    assert list(leg)[:8] == [
        "leg_id", "calling_phone_number", "called_phone_number", "is_operator", "employee_id",
        "employee_full_name", "record_call_enabled", "state",
    ]  # fmt: skip
    assert leg["leg_id"] == first and leg["state"] == "На очереди"
    assert (leg["is_operator"], leg["employee_id"], leg["record_call_enabled"]) == (
        False, None, False,
    )  # fmt: skip
    assert leg["calling_phone_number"] == VPN and leg["called_phone_number"] == CONTACT
    assert calls[1]["legs"][0]["state"] == "Дозвон"
    by_direction = api.rpc("list.calls", {"access_token": api.token, "direction": "in"})
    assert [c["call_session_id"] for c in by_direction["result"]["data"]] == [second]
    by_number = api.rpc("list.calls", {"access_token": api.token, "virtual_phone_number": VPN})
    assert len(by_number["result"]["data"]) == 2
    none = api.rpc("list.calls", {"access_token": api.token, "virtual_phone_number": "74990000000"})
    assert none["result"]["data"] == []
    bad = api.rpc("list.calls", {"access_token": api.token, "direction": "up"})
    assert error_of(bad) == (-32602, "invalid_parameter_value")
    bad = api.rpc("list.calls", {"access_token": api.token, "virtual_phone_number": "x"})
    assert error_of(bad) == (-32602, "invalid_parameter_value")


def test_list_calls_shows_waiting_sessions(api: Api) -> None:
    sid = api.start()["result"]["data"]["call_session_id"]
    at = 1_790_000_000.0
    with api.engine.begin() as conn:  # as after a failed first attempt: queued, scheduled
        conn.execute(
            call_sessions.update()
            .where(call_sessions.c.id == sid)
            .values(scheduled_at=at, attempt_count=1, dial_at=at - 12)
        )
    (call,) = api.rpc("list.calls", {"access_token": api.token})["result"]["data"]
    assert (call["scheduled_at"], call["attempts"]) == ("2026-09-21T14:13:20.000+00:00", 1)
    assert call["legs"][0]["state"] == "На очереди"
    assert call["legs"][0]["start_time"] == "2026-09-21T14:13:08.000+00:00"  # the last INVITE
    assert call["legs"][0]["record_call_enabled"] is False


def test_list_calls_shows_whether_a_session_records(api: Api) -> None:
    recorded = api.start(record=True)["result"]["data"]["call_session_id"]
    plain = api.start(contact="79161234568")["result"]["data"]["call_session_id"]
    calls = api.rpc("list.calls", {"access_token": api.token})["result"]["data"]
    enabled = {c["call_session_id"]: c["legs"][0]["record_call_enabled"] for c in calls}
    assert enabled == {recorded: True, plain: False}


def test_list_calls_shows_only_own_sessions(api: Api) -> None:
    api.start()
    with api.engine.begin() as conn:
        other = create_account(conn, f"other-{api.account_id}", LimitsConfig())
        token = issue_token(conn, other, TokenKind.PERMANENT).access_token
    assert api.rpc("list.calls", {"access_token": token})["result"]["data"] == []
