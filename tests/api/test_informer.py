"""start.informer_call: every parameter rule and method error, and the stored session."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.api import CONTACT, DROP, VPN, Api, error_of
from vestnik.config import LimitsConfig
from vestnik.store.accounts import create_account
from vestnik.store.admin_blacklist import blacklist_add
from vestnik.store.admin_numbers import add_employee, add_number
from vestnik.store.db import now
from vestnik.store.schema import media_files

TTS = {"type": "tts", "value": "Тестовое сообщение"}


def _rejected(api: Api, reply: dict[str, Any], code: int, mnemonic: str, field: str | None) -> None:
    assert error_of(reply) == (code, mnemonic), reply
    assert reply["error"]["data"]["field"] == field
    assert "limits" in reply["error"]["data"]["metadata"]
    assert api.sessions() == []
    assert api.charged() == 0


def test_vendor_example_request(api: Api) -> None:
    reply = api.start(
        external_id="34rty567", dtmf_string="..1.2.3", direction="in", dialing_timeout=25,
        contact="79260000000",
    )  # fmt: skip
    session_id = reply["result"]["data"]["call_session_id"]
    assert isinstance(session_id, int)
    [row] = api.sessions()
    assert row["id"] == session_id
    assert row["account_id"] == api.account_id
    assert row["request_id"] == '"req1"'
    assert row["external_id"] == "34rty567"
    assert row["virtual_phone_number"] == VPN and row["caller_number"] == VPN
    assert row["usage_rule"] == "fixed"
    assert row["contact"] == "79260000000" and row["contact_kind"] == "phone"
    assert row["direction"] == "in"
    assert row["dtmf_string"] == "..1.2.3"
    assert row["dialing_timeout"] == 25
    assert row["message_type"] == "tts" and row["message_value"] == "Тестовое сообщение"
    assert row["state"] == "queued" and row["finish_reason"] is None
    assert abs(row["created_at"] - now()) < 30
    assert row["release_requested"] is False


def test_defaults_and_numeric_id(api: Api) -> None:
    reply = api.rpc(
        "start.informer_call",
        {"access_token": api.token, "virtual_phone_number": "+" + VPN, "contact": CONTACT,
         "contact_message": TTS},
        id=42,
    )  # fmt: skip
    assert reply["id"] == 42
    [row] = api.sessions()
    assert row["request_id"] == "42"
    assert row["direction"] == "in" and row["usage_rule"] == "fixed"
    assert row["dialing_timeout"] == 30 and row["dtmf_string"] is None
    assert row["virtual_phone_number"] == VPN


def test_session_ids_increase(api: Api) -> None:
    ids = [api.start()["result"]["data"]["call_session_id"] for _ in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5


def test_fractional_timeout_and_null_optionals(api: Api) -> None:
    api.start(dialing_timeout=12.5, external_id=None, dtmf_string=None, direction=None)
    [row] = api.sessions()
    assert row["dialing_timeout"] == 12.5 and row["direction"] == "in"


@pytest.mark.parametrize("field", ["access_token", "virtual_phone_number", "contact",
                                   "contact_message"])  # fmt: skip
def test_required(api: Api, field: str) -> None:
    reply = api.start(**{field: DROP})
    if field == "access_token":
        assert error_of(reply) == (-32602, "required_parameter_missed")
        return
    _rejected(api, reply, -32602, "required_parameter_missed", field)
    assert reply["error"]["message"] == "The required parameter has been missed"


@pytest.mark.parametrize("field", ["type", "value"])
def test_required_nested(api: Api, field: str) -> None:
    message = {k: v for k, v in TTS.items() if k != field}
    reply = api.start(contact_message=message)
    _rejected(api, reply, -32602, "required_parameter_missed", f"contact_message.{field}")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("virtual_phone_number", 74993720692),
        ("virtual_phone_usage_rule", 1),
        ("external_id", 5),
        ("dtmf_string", 123),
        ("direction", True),
        ("contact", 79260000000),
        ("dialing_timeout", "25"),
        ("dialing_timeout", True),
        ("contact_message", "tts"),
        ("contact_message", [TTS]),
    ],
)
def test_data_type_error(api: Api, field: str, value: Any) -> None:
    reply = api.start(**{field: value})
    _rejected(api, reply, -32602, "data_type_error", field)
    assert reply["error"]["data"]["value"] == value
    assert reply["error"]["message"] == "Data supplied is of wrong type"


@pytest.mark.parametrize(("field", "value"), [("type", 1), ("value", {"text": "x"})])
def test_data_type_error_nested(api: Api, field: str, value: Any) -> None:
    reply = api.start(contact_message={**TTS, field: value})
    _rejected(api, reply, -32602, "data_type_error", f"contact_message.{field}")


def test_unexpected_parameters(api: Api) -> None:
    reply = api.start(contakt="79260000000")
    _rejected(api, reply, -32602, "unexpected_parameters", "contakt")
    assert reply["error"]["message"] == "Unexpected method parameter(s)"
    reply = api.start(contact_message={**TTS, "voice": "alyss"})
    _rejected(api, reply, -32602, "unexpected_parameters", "contact_message.voice")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("virtual_phone_number", "abc"),
        ("virtual_phone_number", "7499-372-06-92"),
        ("virtual_phone_number", "1"),
        ("virtual_phone_usage_rule", "sticky"),
        ("external_id", "x" * 256),
        ("dtmf_string", "12a"),
        ("dtmf_string", "1 2"),
        ("direction", "sideways"),
        ("contact", "abc"),
        ("contact", "89260000000"),  # not E.164
        ("contact", "79260000"),  # too short for Russia
        ("contact", "sip:@"),
        ("contact", "x" * 300),
        ("dialing_timeout", 0),
        ("dialing_timeout", 0.5),
        ("dialing_timeout", 121),
        ("dialing_timeout", -5),
        ("dialing_timeout", 10**30),
        ("external_id", "a\x00b"),
    ],
)
def test_invalid_parameter_value(api: Api, field: str, value: Any) -> None:
    reply = api.start(**{field: value})
    _rejected(api, reply, -32602, "invalid_parameter_value", field)
    assert reply["error"]["data"]["value"] == value


@pytest.mark.parametrize(
    "message",
    [
        {"type": "video", "value": "x"},
        {"type": "tts", "value": ""},
        {"type": "tts", "value": "   "},
        {"type": "media", "value": "abc"},
        {"type": "media", "value": "99999999999"},
        {"type": "media", "value": "²"},
        # Media file ids follow the ids' range rule: 1 … 2**31 - 1.
        {"type": "media", "value": "0"},
        {"type": "media", "value": "2147483648"},
    ],
)
def test_invalid_message(api: Api, message: dict[str, str]) -> None:
    reply = api.start(contact_message=message)
    field = "contact_message.type" if message["type"] == "video" else "contact_message.value"
    _rejected(api, reply, -32602, "invalid_parameter_value", field)


def test_dtmf_and_timeout_bounds_accepted(api: Api) -> None:
    accepted: list[dict[str, Any]] = [
        {"dtmf_string": "0123456789*#."}, {"dtmf_string": ""}, {"dialing_timeout": 1},
        {"dialing_timeout": 120}, {"direction": "out"},
    ]  # fmt: skip
    for kwargs in accepted:
        assert "result" in api.start(**kwargs), kwargs
    assert len(api.sessions()) == 5


def test_tts_text_exceeded(api: Api) -> None:
    api.update_account(tts_max_length=10)
    assert "result" in api.start(contact_message={"type": "tts", "value": "x" * 10})
    reply = api.start(contact_message={"type": "tts", "value": "я" * 11})
    assert error_of(reply) == (-32602, "tts_text_exceeded")
    assert reply["error"]["message"] == (
        "The maximum length of Text-to-Speech message is 10. The length of your message is 11"
    )
    assert reply["error"]["data"]["params"] == {
        "tts_message_max_length": 10, "sent_tts_message_length": 11,
    }  # fmt: skip
    assert reply["error"]["data"]["field"] == "contact_message.value"
    assert len(api.sessions()) == 1


def _media(api: Api, account_id: int | None, kind: str) -> int:
    with api.engine.begin() as conn:
        return int(
            conn.execute(
                media_files.insert().values(
                    account_id=account_id, type=kind, name="hello", size=100, duration_ms=1000,
                    pcm_path="/tmp/hello.pcm", created_at=now(),
                )
            ).inserted_primary_key[0]
        )  # fmt: skip


def test_media_files(api: Api) -> None:
    own = _media(api, api.account_id, "user")
    system = _media(api, None, "system")
    with api.engine.begin() as conn:
        other_account = create_account(conn, f"other-{api.account_id}", LimitsConfig())
    foreign = _media(api, other_account, "user")
    for media_id in (own, system):
        assert "result" in api.start(contact_message={"type": "media", "value": str(media_id)})
    for media_id in (foreign, 987654):
        reply = api.start(contact_message={"type": "media", "value": str(media_id)})
        assert error_of(reply) == (-32602, "media_file_not_found")
        assert reply["error"]["message"] == f"The media file with id {media_id} not found"
        assert reply["error"]["data"]["params"] == {"media_file_id": str(media_id)}
    rows = api.sessions()
    assert [r["media_file_id"] for r in rows] == [own, system]
    assert rows[0]["message_type"] == "media" and rows[0]["message_value"] == str(own)


def test_virtual_phone_number_not_found(api: Api) -> None:
    with api.engine.begin() as conn:
        other = create_account(conn, f"other-{api.account_id}", LimitsConfig())
        add_number(conn, other, "74993720600", None)
    for number in ("74993720600", "74993720601"):
        reply = api.start(virtual_phone_number=number)
        assert error_of(reply) == (-32007, "virtual_phone_number_not_found")
        assert reply["error"]["message"] == (
            f"Virtual phone number {number} not found. It is not your virtual phone number."
        )
        assert reply["error"]["data"]["field"] == "virtual_phone_number"
    assert api.sessions() == []


def test_own_virtual_number_as_contact(api: Api) -> None:
    reply = api.start(contact=VPN)
    assert error_of(reply) == (-32602, "own_virtual_phone_number_not_allowed")
    assert reply["error"]["message"] == "Parameter contact can not contain own virtual phone number"
    assert api.sessions() == []


def test_contact_in_blacklist(api: Api) -> None:
    with api.engine.begin() as conn:
        blacklist_add(conn, api.account_id, CONTACT)
    reply = api.start(contact=CONTACT)
    assert error_of(reply) == (-32602, "contact_in_blacklist")
    assert reply["error"]["message"] == f"The contact {CONTACT} has been found in the blacklist"
    assert reply["error"]["data"]["params"] == {"contact": CONTACT}
    assert error_of(api.start(contact="+" + CONTACT))[1] == "contact_in_blacklist"
    assert "result" in api.start(contact="79260000001")


def test_employee_sip_contact(api: Api) -> None:
    with api.engine.begin() as conn:
        add_employee(conn, api.account_id, "sip:ivanov@PBX.example.com")
    for contact in ("sip:ivanov@pbx.example.com", "ivanov@pbx.example.com"):
        assert "result" in api.start(contact=contact), contact
    rows = api.sessions()
    assert {r["contact"] for r in rows} == {"sip:ivanov@PBX.example.com"}
    assert {r["contact_kind"] for r in rows} == {"sip"}
    # The vendor has no mnemonic of its own for either: invalid_parameter_value, and why.
    reply = api.start(contact="sip:petrov@pbx.example.com")
    assert error_of(reply) == (-32602, "invalid_parameter_value")
    assert reply["error"]["data"]["field"] == "contact"
    assert reply["error"]["message"] == "Invalid parameter value"
    assert (
        "not the SIP number of one of your employees" in reply["error"]["data"]["params"]["reason"]
    )
    for extension in ("101", "5555"):
        reply = api.start(contact=extension)
        assert error_of(reply) == (-32602, "invalid_parameter_value")
        assert "internal employee numbers" in reply["error"]["data"]["params"]["reason"]
    assert len(api.sessions()) == 2


def test_character_encoding_row_is_reachable_per_method(api: Api) -> None:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "start.informer_call",
         "params": {"access_token": api.token}}
    ).encode().replace(b"}}", b', "x": "\xe9"}}')  # fmt: skip
    reply = api.post(body).json()
    assert error_of(reply) == (-32602, "character_encoding_not_allowed")
