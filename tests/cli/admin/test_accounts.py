"""``vestnik admin account …`` in-process on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.admin_cli import (
    add_media,
    assert_refused,
    insert_session,
    make_account,
    rows,
    write_tone,
)
from tests.support.cli import CliRunner
from vestnik.store.schema import (
    access_tokens,
    accounts,
    blacklist,
    call_sessions,
    employees,
    media_files,
    users,
    virtual_numbers,
    webhooks,
)


def test_account_create_has_documented_defaults(cli: CliRunner, db: Engine) -> None:
    run = cli("admin", "account", "create", "acme", "--json")
    assert run.status == 0, run.err
    data = run.json
    assert data["name"] == "acme"
    assert data["is_active"] is True
    assert data["informer_call_enabled"] is True
    assert data["number_management_enabled"] is False
    assert data["ip_allowlist"] == ["127.0.0.0/8", "::1/128"]
    assert (data["allow_mobile"], data["allow_long_distance"], data["allow_international"]) == (
        True,
        True,
        False,
    )
    assert data["created_at_iso"] == datetime.fromtimestamp(data["created_at"], UTC).isoformat(
        timespec="milliseconds"
    )
    [stored] = rows(db, accounts)
    assert stored["id"] == data["id"] and stored["minute_limit"] == data["minute_limit"]


def test_account_create_text_output_and_duplicate(cli: CliRunner, db: Engine) -> None:
    run = cli("admin", "account", "create", "acme")
    assert run.status == 0
    assert run.out.startswith("account 1 created") or "created" in run.out.splitlines()[0]
    assert "ip_allowlist" in run.out and "127.0.0.0/8" in run.out
    assert_refused(cli("admin", "account", "create", "acme"), "already exists")
    assert_refused(cli("admin", "account", "create", "  "), "must not be empty")
    assert_refused(cli("admin", "account", "create", "x" * 201), "longer than 200")
    assert_refused(cli("admin", "account", "create", "a\tb"), "control characters")
    # ACCOUNT arguments take an id or a name, so a name must not look like an id.
    assert_refused(cli("admin", "account", "create", "42"), "must not be a number")
    assert len(rows(db, accounts)) == 1


def test_account_set_every_option(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    run = cli(
        "admin", "account", "set", "acme", "--json",
        "--inactive", "--informer-call", "off", "--number-management", "on",
        "--minute-limit", "7", "--day-limit", "70", "--tts-max-length", "300",
        "--max-concurrent-calls", "3", "--ip-allow", "10.1.2.3/8", "--ip-allow", "::1",
        "--mobile", "off", "--long-distance", "off", "--international", "on",
        "--home-region", "Москва", "--home-country", "kz",
        "--method-weight", "start.informer_call=5", "--method-weight", "list.calls=0",
        "--method-weight", "login.user=",
    )  # fmt: skip
    assert run.status == 0, run.err
    [stored] = rows(db, accounts)
    expected = {
        "id": account_id,
        "is_active": False,
        "informer_call_enabled": False,
        "number_management_enabled": True,
        "minute_limit": 7,
        "day_limit": 70,
        "tts_max_length": 300,
        "max_concurrent_calls": 3,
        "ip_allowlist": ["10.0.0.0/8", "::1/128"],
        "allow_mobile": False,
        "allow_long_distance": False,
        "allow_international": True,
        "home_region": "Москва",
        "home_country": "KZ",
        "method_weights": {"start.informer_call": 5, "list.calls": 0},
    }
    assert {k: stored[k] for k in expected} == expected
    assert {k: run.json[k] for k in expected} == expected


def test_account_set_by_id_and_allowlist_forms(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    run = cli("admin", "account", "set", str(account_id), "--ip-allowlist", "192.0.2.0/24, ::1")
    assert run.status == 0, run.err
    assert rows(db, accounts)[0]["ip_allowlist"] == ["192.0.2.0/24", "::1/128"]
    run = cli("admin", "account", "set", "acme", "--ip-allow", "198.51.100.7", "2001:db8::/32")
    assert run.status == 0, run.err
    assert rows(db, accounts)[0]["ip_allowlist"] == ["198.51.100.7/32", "2001:db8::/32"]
    run = cli("admin", "account", "set", "acme", "--ip-allowlist", "", "--active")
    assert run.status == 0 and "empty" in run.err
    assert rows(db, accounts)[0]["ip_allowlist"] == []
    run = cli("admin", "account", "set", "acme", "--name", "acme2")
    assert run.status == 0 and rows(db, accounts)[0]["name"] == "acme2"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nobody", "--active"], "not found"),
        (["acme"], "nothing to change"),
        (["acme", "--minute-limit", "5", "--ip-allow", "300.0.0.1"], "not an IP network"),
        (["acme", "--minute-limit", "5", "--method-weight", "bogus"], "METHOD=N"),
        (["acme", "--minute-limit", "5", "--method-weight", "login.user=-1"], "negative"),
        (["acme", "--minute-limit", "5", "--home-country", "XX"], "country"),
        (["acme", "--name", "other"], "already exists"),
    ],
)
def test_account_set_refusals_change_nothing(
    cli: CliRunner, db: Engine, argv: list[str], message: str
) -> None:
    make_account(cli)
    make_account(cli, "other")
    before = rows(db, accounts)
    assert_refused(cli("admin", "account", "set", *argv), message)
    assert rows(db, accounts) == before


@pytest.mark.parametrize(
    "argv",
    [
        ["--minute-limit", "-1"],
        ["--minute-limit", "lots"],
        ["--tts-max-length", "0"],
        ["--mobile", "maybe"],
        ["--active", "--inactive"],
        ["--ip-allow", "10.0.0.0/8", "--ip-allowlist", "10.0.0.0/8"],
    ],
)
def test_account_set_bad_arguments_are_usage_errors(
    cli: CliRunner, db: Engine, argv: list[str]
) -> None:
    make_account(cli)
    before = rows(db, accounts)
    run = cli("admin", "account", "set", "acme", *argv)
    assert run.status == 2
    assert "usage:" in run.err and "Traceback" not in run.err
    assert rows(db, accounts) == before


def test_account_show_and_list(cli: CliRunner) -> None:
    account_id = make_account(cli)
    make_account(cli, "beta")
    assert cli("admin", "user", "create", "acme", "alice", "pw-1").status == 0
    assert cli("admin", "number", "add", "acme", "74993720692").status == 0
    assert cli("admin", "employee", "add", "acme", "sip:bob@pbx.example").status == 0
    key = cli("admin", "key", "create", "acme", "--json").json
    shown = cli("admin", "account", "show", "acme", "--json").json
    assert shown["id"] == account_id
    assert [u["login"] for u in shown["users"]] == ["alice"]
    assert [k["id"] for k in shown["keys"]] == [key["key_id"]]
    assert "access_token" not in shown["keys"][0] and "token_hash" not in shown["keys"][0]
    assert [n["number"] for n in shown["numbers"]] == ["74993720692"]
    assert [e["sip_uri"] for e in shown["employees"]] == ["sip:bob@pbx.example"]
    assert cli("admin", "account", "show", str(account_id), "--json").json["name"] == "acme"
    text = cli("admin", "account", "show", "acme").out
    assert "alice" in text and "74993720692" in text and "sip:bob@pbx.example" in text
    listed = cli("admin", "account", "list", "--json").json
    assert [a["name"] for a in listed] == ["acme", "beta"]
    assert "beta" in cli("admin", "account", "list").out
    assert_refused(cli("admin", "account", "show", "nobody"), "not found")


def test_account_deactivate_and_activate(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    queued = insert_session(db, account_id)
    ringing = insert_session(db, account_id, state="ringing", lease_owner="dialer/1")
    done = insert_session(db, account_id, state="finished", finish_reason="success_finish")
    run = cli("admin", "account", "deactivate", "acme", "--json")
    assert run.status == 0, run.err
    assert run.json == {"account_id": account_id, "is_active": False, "was_active": True,
                        "released": [], "release_requested": [],
                        "unfinished_sessions": [queued, ringing]}  # fmt: skip
    assert rows(db, accounts)[0]["is_active"] is False
    assert [s["state"] for s in rows(db, call_sessions)] == ["queued", "ringing", "finished"]
    text = cli("admin", "account", "deactivate", "acme", "--release-calls").out
    assert "already" in text and "released 1 queued" in text and "hang up 1" in text
    sessions = {s["id"]: s for s in rows(db, call_sessions)}
    assert (sessions[queued]["state"], sessions[queued]["finish_reason"]) == (
        "finished",
        "released",
    )
    assert sessions[ringing]["state"] == "ringing" and sessions[ringing]["release_requested"]
    assert sessions[done]["finish_reason"] == "success_finish"
    run = cli("admin", "account", "activate", str(account_id), "--json")
    assert run.json == {"account_id": account_id, "is_active": True, "was_active": False}
    assert rows(db, accounts)[0]["is_active"] is True
    assert_refused(cli("admin", "account", "activate", "nobody"), "not found")


def test_account_remove_deletes_what_it_owns(cli: CliRunner, db: Engine, tmp_path: Path) -> None:
    account_id = make_account(cli)
    keep = make_account(cli, "beta")
    for account in ("acme", "beta"):
        assert cli("admin", "user", "create", account, f"user-{account}", "pw").status == 0
        assert cli("admin", "key", "create", account).status == 0
        assert cli("admin", "employee", "add", account, "sip:alice@pbx.example").status == 0
        assert cli("admin", "blacklist", "add", account, "79161234567").status == 0
        add_media(cli, account, write_tone(tmp_path / "tone.wav"))
        assert cli("admin", "webhook", "add", account, "http://127.0.0.1:9/hook",
                   "--events", "call_finished", "--secret", "s" * 16).status == 0  # fmt: skip
    assert cli("admin", "number", "add", "acme", "74993720692").status == 0
    assert cli("admin", "number", "add", "beta", "74993720693").status == 0
    [own_media] = [m for m in rows(db, media_files) if m["account_id"] == account_id]
    run = cli("admin", "account", "remove", "acme", "--json")
    assert run.status == 0, run.err
    assert run.json == {"account_id": account_id, "name": "acme", "removed": True,
                        "media_files_deleted": 1}  # fmt: skip
    for table in (accounts, users, access_tokens, virtual_numbers, employees, blacklist,
                  media_files, webhooks):  # fmt: skip
        owners = {r["id"] if table is accounts else r["account_id"] for r in rows(db, table)}
        assert owners == {keep}, table.name
    data = tmp_path / "data"
    assert not (data / own_media["pcm_path"]).exists()
    assert not (data / own_media["original_path"]).exists()
    assert all((data / m["pcm_path"]).exists() for m in rows(db, media_files))
    assert_refused(cli("admin", "account", "remove", "acme"), "not found")


def test_account_with_sessions_is_not_removed(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    assert cli("admin", "number", "add", "acme", "74993720692").status == 0
    insert_session(db, account_id, state="finished", finish_reason="success_finish")
    before = {t.name: rows(db, t) for t in (accounts, virtual_numbers, call_sessions)}
    assert_refused(cli("admin", "account", "remove", "acme"), "1 call sessions", "deactivate")
    assert {t.name: rows(db, t) for t in (accounts, virtual_numbers, call_sessions)} == before
