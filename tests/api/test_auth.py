"""Authentication, account gates, components and call-direction rules."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.support.api import CONTACT, CONTACT_MOSCOW, PASSWORD, Api, error_of
from vestnik.auth import TokenKind
from vestnik.store.admin_users import block_key, issue_token
from vestnik.store.db import now
from vestnik.store.schema import access_tokens


def _token(api: Api, kind: TokenKind, expires_at: float | None) -> tuple[int, str]:
    with api.engine.begin() as conn:
        key = issue_token(conn, api.account_id, kind, expires_at=expires_at)
    return key.id, key.access_token


def test_access_token_required_and_typed(api: Api) -> None:
    reply = api.rpc("list.calls", {})
    assert error_of(reply) == (-32602, "required_parameter_missed")
    assert reply["error"]["data"]["field"] == "access_token"
    assert reply["error"]["data"]["metadata"] == {}  # no account known yet
    reply = api.rpc("list.calls", {"access_token": 12345})
    assert error_of(reply) == (-32602, "data_type_error")
    assert reply["error"]["data"]["value"] == 12345


@pytest.mark.parametrize("token", ["", "x" * 48, "not-a-token"])
def test_unknown_token_is_invalid(api: Api, token: str) -> None:
    reply = api.start(access_token=token)
    assert error_of(reply) == (-32001, "access_token_invalid")
    assert reply["error"]["message"] == "Access token is invalid"
    assert reply["error"]["data"]["metadata"] == {}
    assert api.sessions() == []


def test_expired_session_token_is_invalid(api: Api) -> None:
    _, token = _token(api, TokenKind.SESSION, now() - 1)
    assert error_of(api.start(access_token=token)) == (-32001, "access_token_invalid")
    _, fresh = _token(api, TokenKind.SESSION, now() + 3600)
    assert "result" in api.start(access_token=fresh)


def test_permanent_key_past_end_date_is_expired(api: Api) -> None:
    _, token = _token(api, TokenKind.PERMANENT, now() - 1)
    reply = api.start(access_token=token)
    assert error_of(reply) == (-32001, "access_token_expired")
    assert reply["error"]["message"] == "Access token has been expired"
    _, later = _token(api, TokenKind.PERMANENT, now() + 86_400)
    assert "result" in api.start(access_token=later)


def test_blocked_key(api: Api) -> None:
    key_id, token = _token(api, TokenKind.PERMANENT, None)
    assert "result" in api.start(access_token=token)
    with api.engine.begin() as conn:
        block_key(conn, key_id)
    reply = api.start(access_token=token)
    assert error_of(reply) == (-32001, "access_token_blocked")
    assert len(api.sessions()) == 1


def test_login_logout_cycle(api: Api) -> None:
    login = api.create_user()
    reply = api.rpc("login.user", {"login": login, "password": PASSWORD})
    data = reply["result"]["data"]
    assert set(data) == {"access_token", "expire_at"}
    assert len(data["access_token"]) >= 40
    assert abs(data["expire_at"] - (now() + 3600)) < 10
    assert reply["result"]["metadata"]["limits"]["minute_remaining"] < 3000  # login is charged
    token = data["access_token"]
    assert "result" in api.start(access_token=token)
    with api.engine.connect() as conn:
        kind = conn.execute(
            sa.select(access_tokens.c.kind).where(access_tokens.c.user_id.is_not(None))
        ).scalar()
    assert kind == "session"
    out = api.rpc("logout.user", {"access_token": token})
    assert out["result"]["data"] == {"success": True}
    assert error_of(api.start(access_token=token)) == (-32001, "access_token_invalid")
    assert error_of(api.rpc("logout.user", {"access_token": token}))[1] == "access_token_invalid"


def test_login_errors(api: Api) -> None:
    login = api.create_user()
    for params in ({"login": login, "password": "wrong"}, {"login": "nobody", "password": "x"}):
        reply = api.rpc("login.user", params)
        assert error_of(reply) == (-32001, "auth_error")
        assert reply["error"]["message"] == "Login or password is wrong"
    assert error_of(api.rpc("login.user", {"login": login}))[1] == "required_parameter_missed"
    reply = api.rpc("login.user", {"login": login, "password": 5})
    assert error_of(reply)[1] == "data_type_error"
    reply = api.rpc("login.user", {"login": login, "password": PASSWORD, "x": 1})
    assert error_of(reply)[1] == "unexpected_parameters"
    with api.engine.connect() as conn:
        issued = conn.execute(
            sa.select(sa.func.count()).where(access_tokens.c.account_id == api.account_id)
        ).scalar()
    assert issued == 1  # only the fixture's API key
    assert api.charged() == 0


def test_logout_of_a_permanent_key_is_forbidden(api: Api) -> None:
    reply = api.rpc("logout.user", {"access_token": api.token})
    assert error_of(reply) == (-32003, "forbidden")
    assert "result" in api.start()


def test_inactive_account(api: Api) -> None:
    api.update_account(is_active=False)
    reply = api.start()
    assert error_of(reply) == (-32009, "account_inactive")
    assert "limits" in reply["error"]["data"]["metadata"]
    login = api.create_user()
    reply = api.rpc("login.user", {"login": login, "password": PASSWORD})
    assert error_of(reply) == (-32009, "account_inactive")
    assert api.sessions() == []


def test_ip_not_whitelisted(api: Api) -> None:
    api.update_account(ip_allowlist=["10.0.0.0/8", "192.168.1.0/24"])
    reply = api.start()
    assert error_of(reply) == (-32003, "ip_not_whitelisted")
    assert reply["error"]["message"] == "Your IP 127.0.0.1 is not whitelisted"
    assert reply["error"]["data"]["params"] == {"ip": "127.0.0.1"}
    assert reply["error"]["data"]["metadata"] == {}
    api.update_account(ip_allowlist=[])
    assert error_of(api.start())[1] == "ip_not_whitelisted"
    api.update_account(ip_allowlist=["10.0.0.0/8", "127.0.0.1/32"])
    assert "result" in api.start()


def test_informer_component_disabled(api: Api) -> None:
    api.update_account(informer_call_enabled=False)
    reply = api.start()
    assert error_of(reply) == (-32008, "component_disabled")
    assert reply["error"]["message"] == "Component Call API Информационный вызов has been disabled"
    assert reply["error"]["data"]["params"] == {"component_name": "Call API Информационный вызов"}
    assert "limits" in reply["error"]["data"]["metadata"]
    # Other methods are not gated by it.
    assert "result" in api.rpc("list.calls", {"access_token": api.token})


@pytest.mark.parametrize("rule", ["fixed_for_numa", "random", "regional_random",
                                  "regional_fixed_for_numa"])  # fmt: skip
def test_number_management_component(api: Api, rule: str) -> None:
    reply = api.start(virtual_phone_usage_rule=rule)
    assert error_of(reply) == (-32008, "component_disabled")
    assert reply["error"]["data"]["params"] == {
        "component_name": "Автоматическое управление номерами"
    }
    assert "result" in api.start(virtual_phone_usage_rule="fixed")
    api.update_account(number_management_enabled=True)
    assert "result" in api.start(virtual_phone_usage_rule=rule)


def test_international_refused_by_default(api: Api) -> None:
    reply = api.start(contact="4930123456")
    assert error_of(reply) == (-32002, "call_direction_not_allowed")
    assert reply["error"]["data"]["params"] == {"call_direction": "international"}
    assert "international" in reply["error"]["message"]
    api.update_account(allow_international=True)
    assert "result" in api.start(contact="4930123456")


def test_mobile_rule(api: Api) -> None:
    api.update_account(allow_mobile=False)
    reply = api.start(contact=CONTACT)
    assert error_of(reply) == (-32002, "call_direction_not_allowed")
    assert reply["error"]["data"]["params"] == {"call_direction": "mobile"}
    assert "result" in api.start(contact=CONTACT_MOSCOW)


def test_long_distance_rule(api: Api) -> None:
    api.update_account(allow_long_distance=False, home_region="Москва")
    assert "result" in api.start(contact=CONTACT_MOSCOW)  # geocoder: "г. Москва"
    reply = api.start(contact="78432123456")  # Республика Татарстан
    assert error_of(reply) == (-32002, "call_direction_not_allowed")
    assert reply["error"]["data"]["params"] == {"call_direction": "long_distance"}
    api.update_account(allow_long_distance=True)
    assert "result" in api.start(contact="78432123456")
    assert [s["contact_region"] for s in api.sessions()] == ["г. Москва", "Республика Татарстан"]
