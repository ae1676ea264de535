"""login.user / logout.user on the Data API: the vendor's replies; one token for both APIs."""

from __future__ import annotations

from tests.support.dataapi import DataApi
from vestnik.store.admin_users import create_user

PASSWORD = "correct horse battery"


def _login(api: DataApi, path: str = "/dataapi/v2.0", password: str = PASSWORD) -> dict:
    reply: dict = api.rpc("login.user", {"login": "ivan", "password": password}, path=path)
    return reply


def test_login_gives_app_id_and_the_token_works_on_both_apis(api: DataApi) -> None:
    with api.engine.begin() as conn:
        create_user(conn, api.account_id, "ivan", PASSWORD)
    data = _login(api)["result"]["data"]
    assert set(data) == {"access_token", "expire_at", "app_id"}
    assert data["app_id"] == api.account_id  # the customer's id, as get.account gives it
    token = data["access_token"]
    account = api.rpc("get.account", {"access_token": token})["result"]["data"]
    assert account == [{"app_id": api.account_id, "name": "acme", "timezone": "UTC"}]
    assert "result" in api.rpc("list.calls", {"access_token": token}, path="/v4.0")
    # A user's blacklist entries carry its login.
    added = {"access_token": token, "phone_number": "79261112233"}
    api.rpc("create.phone_number_to_blacklist", added)
    rows = api.rpc("get.blacklist_phone_numbers", {"access_token": token})["result"]["data"]
    assert rows[0]["add_user_name"] == "ivan"
    # logout.user: the Data API's {} (the Call API's answer is {"success": true}).
    assert api.rpc("logout.user", {"access_token": token})["result"]["data"] == {}
    for path in ("/dataapi/v2.0", "/v4.0"):
        reply = api.rpc("logout.user", {"access_token": token}, path=path)
        assert reply["error"]["data"]["mnemonic"] == "access_token_invalid"


def test_call_api_token_works_on_the_data_api(api: DataApi) -> None:
    with api.engine.begin() as conn:
        create_user(conn, api.account_id, "ivan", PASSWORD)
    call_api = _login(api, path="/v4.0")["result"]["data"]
    assert "app_id" not in call_api  # the Call API's reply, as the vendor documents it
    token = call_api["access_token"]
    assert api.rpc("get.media_files", {"access_token": token})["result"]["data"] == []
    assert api.rpc("logout.user", {"access_token": token}, path="/v4.0")["result"]["data"] == {
        "success": True
    }


def test_wrong_password(api: DataApi) -> None:
    with api.engine.begin() as conn:
        create_user(conn, api.account_id, "ivan", PASSWORD)
    error = _login(api, password="wrong")["error"]
    assert (error["code"], error["data"]["mnemonic"]) == (-32001, "auth_error")
    assert error["message"] == "Login or password is wrong"
