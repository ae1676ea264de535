"""What removing or disabling does to the API: a real server on the database the CLI edits.

A removed (or disabled) number, a removed employee or audio file is refused to new
``start.informer_call`` requests exactly as an unknown one is, and leaves the Data API
lookups; sessions accepted before keep reporting what they used. A removed key or user stops
authenticating at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from tests.support.admin_cli import add_media, make_account, write_tone
from tests.support.api import error_of, serve
from tests.support.cli import CliRunner
from vestnik.api.dataapi import DATA_API_PATH, dataapi_routes
from vestnik.config import Config
from vestnik.store import create_db_engine

VPN, VPN_KEPT, VPN_DISABLED = "74993720692", "74993720693", "74993720694"
CONTACT = "79260000000"
EMPLOYEE = "sip:alice@pbx.example"


@dataclass
class Server:
    http: httpx.Client
    engine: Engine

    def rpc(self, method: str, params: dict[str, Any], path: str = "/v4.0") -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        response = self.http.post(path, json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def start(self, token: str, number: str, contact: str, message: dict[str, str]) -> Any:
        params = {"access_token": token, "virtual_phone_number": number, "contact": contact,
                  "contact_message": message}  # fmt: skip
        return self.rpc("start.informer_call", params)

    def data(self, method: str, token: str, **params: Any) -> list[dict[str, Any]]:
        reply = self.rpc(method, {"access_token": token, **params}, DATA_API_PATH)
        assert "result" in reply, reply
        return list(reply["result"]["data"])


@pytest.fixture
def server(db_url: str) -> Iterator[Server]:
    config = Config()
    engine = create_db_engine(db_url)
    with serve(engine, config, dataapi_routes(config, engine)) as (_url, http):
        yield Server(http, engine)
    engine.dispose()


def _tts(text: str = "Тестовое сообщение") -> dict[str, str]:
    return {"type": "tts", "value": text}


def _media(media_id: int) -> dict[str, str]:
    return {"type": "media", "value": str(media_id)}


def _accepted(reply: dict[str, Any]) -> int:
    assert "result" in reply, reply
    return int(reply["result"]["data"]["call_session_id"])


def _day_around_now() -> dict[str, str]:
    now = datetime.now(UTC)
    form = "%Y-%m-%d %H:%M:%S"
    return {"date_from": (now - timedelta(hours=1)).strftime(form),
            "date_till": (now + timedelta(hours=1)).strftime(form)}  # fmt: skip


def test_removed_things_are_refused_to_new_calls_and_leave_the_lookups(
    cli: CliRunner, server: Server, tmp_path: Path
) -> None:
    make_account(cli)
    token = cli("admin", "key", "create", "acme", "--json").json["access_token"]
    for number in (VPN, VPN_KEPT, VPN_DISABLED):
        assert cli("admin", "number", "add", "acme", number).status == 0
    assert cli("admin", "employee", "add", "acme", EMPLOYEE).status == 0
    wav = write_tone(tmp_path / "greeting.wav")
    removed_media, kept_media = add_media(cli, "acme", wav), add_media(cli, "acme", wav)
    # Accepted before the removals, still queued (no dialer runs here).
    by_number = _accepted(server.start(token, VPN, CONTACT, _tts()))
    to_employee = _accepted(server.start(token, VPN_KEPT, EMPLOYEE, _media(removed_media)))

    assert cli("admin", "number", "remove", "acme", VPN).status == 0
    assert cli("admin", "number", "disable", "acme", VPN_DISABLED).status == 0
    assert cli("admin", "employee", "remove", "acme", EMPLOYEE).status == 0
    assert cli("admin", "media", "remove", "acme", str(removed_media)).status == 0

    # New calls: the same error as for something that never existed.
    never = server.start(token, "74993720699", CONTACT, _tts())
    assert error_of(never) == (-32007, "virtual_phone_number_not_found")
    for number in (VPN, VPN_DISABLED):
        assert error_of(server.start(token, number, CONTACT, _tts())) == error_of(never)
    unknown = server.start(token, VPN_KEPT, "sip:nobody@pbx.example", _tts())
    assert error_of(unknown) == (-32602, "invalid_parameter_value")
    assert error_of(server.start(token, VPN_KEPT, EMPLOYEE, _tts())) == error_of(unknown)
    missing = server.start(token, VPN_KEPT, CONTACT, _media(999_999))
    assert error_of(missing) == (-32602, "media_file_not_found")
    assert error_of(server.start(token, VPN_KEPT, CONTACT, _media(removed_media))) == error_of(
        missing
    )
    _accepted(server.start(token, VPN_KEPT, CONTACT, _media(kept_media)))

    # Lookups: a removed number or file is gone; a disabled number shows its status.
    numbers = server.data("get.virtual_numbers", token)
    assert {(n["virtual_phone_number"], n["status"]) for n in numbers} == {
        (VPN_KEPT, "active"),
        (VPN_DISABLED, "manual_lock"),
    }
    assert [m["id"] for m in server.data("get.media_files", token)] == [kept_media]

    # Sessions accepted before keep reporting what they used.
    listed = server.rpc("list.calls", {"access_token": token})["result"]["data"]
    calls = {c["call_session_id"]: c for c in listed}
    assert calls[by_number]["virtual_phone_number"] == VPN
    assert calls[to_employee]["contact_phone_number"] == EMPLOYEE
    report = server.data(
        "get.calls_report", token, include_ongoing_calls=True, **_day_around_now(),
        fields=["id", "virtual_phone_number", "contact_phone_number"],
    )  # fmt: skip
    reported = {r["id"]: r for r in report}
    assert reported[by_number]["virtual_phone_number"] == VPN
    assert reported[to_employee]["contact_phone_number"] == EMPLOYEE
    shown = cli("admin", "session", "show", str(to_employee), "--json").json
    assert (shown["media_file_id"], shown["contact"], shown["caller_number"]) == (
        removed_media,
        EMPLOYEE,
        VPN_KEPT,
    )
    assert cli("admin", "session", "show", str(by_number), "--json").json["caller_number"] == VPN

    # A disabled number works again once enabled.
    assert cli("admin", "number", "enable", "acme", VPN_DISABLED).status == 0
    _accepted(server.start(token, VPN_DISABLED, CONTACT, _tts()))


def test_removed_key_and_user_stop_authenticating_at_once(cli: CliRunner, server: Server) -> None:
    make_account(cli)
    assert cli("admin", "number", "add", "acme", VPN).status == 0
    key = cli("admin", "key", "create", "acme", "--json").json
    assert cli("admin", "user", "create", "acme", "alice", "pw-alice").status == 0
    login = server.rpc("login.user", {"login": "alice", "password": "pw-alice"})
    session_token = login["result"]["data"]["access_token"]
    for token in (key["access_token"], session_token):
        assert "result" in server.rpc("list.calls", {"access_token": token})

    assert cli("admin", "key", "remove", str(key["key_id"])).status == 0
    assert cli("admin", "user", "remove", "alice").status == 0
    for token in (key["access_token"], session_token):
        refused = server.rpc("list.calls", {"access_token": token})
        assert error_of(refused) == (-32001, "access_token_invalid")
        assert error_of(server.start(token, VPN, CONTACT, _tts())) == error_of(refused)
    again = server.rpc("login.user", {"login": "alice", "password": "pw-alice"})
    assert error_of(again) == (-32001, "auth_error")


def test_deactivated_account_is_refused_and_activated_again(cli: CliRunner, server: Server) -> None:
    make_account(cli)
    assert cli("admin", "number", "add", "acme", VPN).status == 0
    token = cli("admin", "key", "create", "acme", "--json").json["access_token"]
    assert cli("admin", "account", "deactivate", "acme").status == 0
    assert error_of(server.start(token, VPN, CONTACT, _tts()))[1] == "account_inactive"
    assert cli("admin", "account", "activate", "acme").status == 0
    _accepted(server.start(token, VPN, CONTACT, _tts()))
