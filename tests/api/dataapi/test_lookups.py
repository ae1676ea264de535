"""get.media_files, get.virtual_numbers, blacklist methods; /metrics on the same app."""

from __future__ import annotations

import time

import sqlalchemy as sa

from tests.support.api import VPN
from tests.support.dataapi import DataApi
from tests.support.events import make_account, make_session
from vestnik.store.admin_numbers import add_number
from vestnik.store.schema import blacklist, media_files


def _media(account_id: int | None, name: str, kind: str, duration_ms: int, size: int) -> dict:
    return {
        "account_id": account_id,
        "type": kind,
        "name": name,
        "size": size,
        "duration_ms": duration_ms,
        "pcm_path": f"/nonexistent/{name}.pcm",
        "created_at": time.time(),
    }


def test_media_files(api: DataApi) -> None:
    with api.engine.begin() as conn:
        other = make_account(conn, "other")
        conn.execute(
            media_files.insert(),
            [
                _media(None, "beep", "system", 400, 6400),
                _media(api.account_id, "greeting", "user", 4200, 90_000),
                _media(other, "secret", "user", 1000, 100),
            ],
        )
    result = api.call("get.media_files")
    assert result["metadata"]["total_items"] == 2
    rows = {r["name"]: r for r in result["data"]}
    assert set(rows) == {"beep", "greeting"}
    assert rows["beep"]["type"] == "system"
    assert rows["beep"]["duration"] == 1  # rounded up, never 0
    assert rows["greeting"] == {
        "id": rows["greeting"]["id"],
        "name": "greeting",
        "duration": 5,
        "play_link": None,  # no download link: vestnik plays files, it does not serve them
        "normalization": True,
        "size": 90_000,
        "type": "user",
    }
    only_user = api.call(
        "get.media_files", filter={"field": "type", "operator": "=", "value": "user"}
    )
    assert [r["name"] for r in only_user["data"]] == ["greeting"]


def test_virtual_numbers(api: DataApi) -> None:
    with api.engine.begin() as conn:
        add_number(conn, api.account_id, "78122000001", "Санкт-Петербург")
        other = make_account(conn, "other")
        add_number(conn, other, "78432000001", None)
    result = api.call(
        "get.virtual_numbers", sort=[{"field": "virtual_phone_number", "order": "asc"}]
    )
    assert [r["virtual_phone_number"] for r in result["data"]] == [VPN, "78122000001"]
    assert result["data"][0]["status"] == "active"
    assert result["metadata"]["total_items"] == 2
    # Every vendor field by default; ours only when asked for.
    assert list(result["data"][0]) == [
        "id",
        "child_customer_id",
        "virtual_phone_number",
        "redirection_phone_number",
        "activation_date",
        "status",
        "category",
        "type",
        "comment",
        "name",
        "campaigns",
        "scenarios",
    ]
    assert result["data"][0]["campaigns"] == [] and result["data"][0]["category"] is None
    assert len(result["data"][0]["activation_date"]) == 19
    ours = api.call(
        "get.virtual_numbers",
        fields=["region_name", "site_blocks"],
        filter={"field": "region_name", "operator": "ilike", "value": "санкт%"},
    )
    assert ours["data"] == [{"region_name": "Санкт-Петербург", "site_blocks": []}]


def test_blacklist_create_list_delete_and_effect_on_calls(api: DataApi) -> None:
    created = api.call(
        "create.blacklist_phone_numbers", phone_number="+79265550001", comment="asked"
    )
    entry_id = created["data"]["id"]
    again = api.call("create.blacklist_phone_numbers", phone_number="79265550001")
    assert again["data"]["id"] == entry_id  # idempotent
    api.call("create.blacklist_phone_numbers", phone_number="79265550002")
    listed = api.call("get.blacklist_phone_numbers", fields=["id", "phone_number", "comment",
                                                              "create_date"])  # fmt: skip
    assert listed["metadata"]["total_items"] == 2
    first = listed["data"][0]
    assert (first["id"], first["phone_number"], first["comment"]) == (
        entry_id,
        "79265550001",
        "asked",
    )
    assert len(first["create_date"]) == 19
    # The Call API refuses the listed contact.
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "start.informer_call",
        "params": {
            "access_token": api.token,
            "virtual_phone_number": VPN,
            "contact": "79265550001",
            "contact_message": {"type": "tts", "value": "Привет"},
        },
    }
    reply = api.http.post("/v4.0", json=call).json()
    assert reply["error"]["data"]["mnemonic"] == "contact_in_blacklist"
    # Delete by id and by number.
    assert api.call("delete.blacklist_phone_numbers", id=entry_id)["data"] == {"success": True}
    api.call("delete.blacklist_phone_numbers", phone_number="+79265550002")
    assert api.call("get.blacklist_phone_numbers")["data"] == []
    reply = api.http.post("/v4.0", json=call).json()
    assert "result" in reply, reply
    # Errors change nothing.
    error = api.error("delete.blacklist_phone_numbers", id=entry_id)
    assert (error["data"]["mnemonic"], error["data"]["field"]) == ("invalid_parameter_value", "id")
    error = api.error("delete.blacklist_phone_numbers", id=1, phone_number="79265550001")
    assert error["data"]["mnemonic"] == "invalid_parameters_combination"
    error = api.error("create.blacklist_phone_numbers", phone_number="call me maybe")
    assert (error["data"]["mnemonic"], error["data"]["field"]) == (
        "invalid_parameter_value",
        "phone_number",
    )
    with api.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(blacklist)).scalar() == 0


def test_blacklist_is_per_account(api: DataApi) -> None:
    with api.engine.begin() as conn:
        other = make_account(conn, "other")
        conn.execute(
            blacklist.insert().values(account_id=other, number="79265550009", created_at=1.0)
        )
    assert api.call("get.blacklist_phone_numbers")["data"] == []
    error = api.error("delete.blacklist_phone_numbers", phone_number="79265550009")
    assert error["data"]["mnemonic"] == "invalid_parameter_value"


def test_metrics_endpoint_counts_sessions(api: DataApi) -> None:
    with api.engine.begin() as conn:
        for reason in ("success_finish", "success_finish", "subscriber_busy"):
            make_session(conn, api.account_id, finish_reason=reason)
        make_session(conn, api.account_id, state="answered", finish_reason=None, end_at=None)
    response = api.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'vestnik_call_sessions{finish_reason="success_finish",state="finished"} 2.0' in text
    assert 'vestnik_call_sessions{finish_reason="subscriber_busy",state="finished"} 1.0' in text
    assert "vestnik_active_calls 1.0" in text
    assert 'vestnik_webhook_deliveries_waiting{state="parked"} 0.0' in text
    assert "vestnik_rtp_packets_sent_total" in text
    assert api.http.get("/health").status_code == 200


def test_vendor_blacklist_methods(api: DataApi) -> None:
    """create.phone_number_to_blacklist / delete.phone_number_from_blacklist: the vendor's
    names, params, replies and errors; rows with the vendor's fields."""
    created = api.call("create.phone_number_to_blacklist", phone_number="+79265550001",
                       add_comment="просил не звонить")  # fmt: skip
    entry_id = created["data"]["id"]
    assert created["data"] == {"id": entry_id, "phone_number": "79265550001"}
    again = api.error("create.phone_number_to_blacklist", phone_number="79265550001")
    assert (again["code"], again["data"]["mnemonic"]) == (-32602, "duplicate_entity")
    assert again["message"] == "Duplicate entity"
    [row] = api.call("get.blacklist_phone_numbers")["data"]
    assert list(row) == ["id", "phone_number", "add_user_name", "add_comment", "add_date_time"]
    assert row["add_user_name"] is None  # added with an API key, not by a user's login
    assert (row["id"], row["add_comment"], len(row["add_date_time"])) == (
        entry_id, "просил не звонить", 19,
    )  # fmt: skip
    assert api.call("delete.phone_number_from_blacklist", id=entry_id)["data"] == {}
    for missing in (entry_id, 0, 2**63):
        error = api.error("delete.phone_number_from_blacklist", id=missing)
        assert (error["data"]["mnemonic"], error["message"]) == (
            "entity_not_found", "Entity not found",
        )  # fmt: skip
    assert api.call("get.blacklist_phone_numbers")["data"] == []
