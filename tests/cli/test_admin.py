"""``vestnik admin …`` in-process on SQLite and PostgreSQL: output, database effects, refusals."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from tests.cli.conftest import CliRunner

from vestnik.auth import TokenKind, hash_token, verify_password
from vestnik.cli.main import build_parser
from vestnik.store.accounts import issue_token
from vestnik.store.db import alembic_config
from vestnik.store.schema import (
    access_tokens,
    accounts,
    blacklist,
    call_events,
    call_sessions,
    employees,
    media_files,
    numa_caller_numbers,
    numbering_plan,
    users,
    virtual_numbers,
    webhooks,
)


def rows(db: Engine, table: sa.Table) -> list[dict[str, Any]]:
    with db.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table).order_by(table.c.id)).mappings()]


def make_account(cli: CliRunner, name: str = "acme") -> int:
    run = cli("admin", "account", "create", name, "--json")
    assert run.status == 0, run.err
    return int(run.json["id"])


def assert_refused(run: Any, *fragments: str) -> None:
    assert run.status != 0
    assert run.out == ""
    assert "Traceback" not in run.err
    for fragment in fragments:
        assert fragment in run.err, run.err


# --- accounts ------------------------------------------------------------------------------


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


# --- users and keys ------------------------------------------------------------------------


def test_user_create(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    run = cli("admin", "user", "create", "acme", "alice", "s3cret pass", "--json")
    assert run.status == 0, run.err
    assert run.json == {"user_id": run.json["user_id"], "account_id": account_id, "login": "alice"}
    [user] = rows(db, users)
    assert user["login"] == "alice" and user["account_id"] == account_id
    assert "s3cret" not in user["password_hash"]
    assert verify_password(user["password_hash"], "s3cret pass")
    # The password from stdin keeps it out of the shell history.
    assert cli("admin", "user", "create", "acme", "bob", "-", stdin="from-stdin\n").status == 0
    bob = rows(db, users)[1]
    assert verify_password(bob["password_hash"], "from-stdin")


def test_user_create_refusals(cli: CliRunner, db: Engine) -> None:
    make_account(cli)
    assert cli("admin", "user", "create", "acme", "alice", "pw").status == 0
    before = rows(db, users)
    assert_refused(cli("admin", "user", "create", "acme", "alice", "pw2"), "taken")
    assert_refused(cli("admin", "user", "create", "nobody", "carol", "pw"), "not found")
    assert_refused(cli("admin", "user", "create", "acme", "carol", ""), "password")
    assert_refused(cli("admin", "user", "create", "acme", " carol", "pw"), "login")
    assert_refused(cli("admin", "user", "create", "acme", "c" * 201, "pw"), "longer than")
    assert rows(db, users) == before


def test_user_set_changes_password_or_switches_off_and_logs_out(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    user_id = cli("admin", "user", "create", "acme", "alice", "old-pass", "--json").json["user_id"]
    with db.begin() as conn:
        session = issue_token(conn, account_id, TokenKind.SESSION, user_id=user_id)
        permanent = issue_token(conn, account_id, TokenKind.PERMANENT)
    run = cli("admin", "user", "set", "alice", "--password", "-", "--json", stdin="new-pass\n")
    assert run.status == 0, run.err
    assert run.json["password_changed"] is True and run.json["is_active"] is True
    [user] = rows(db, users)
    assert verify_password(user["password_hash"], "new-pass")
    assert not verify_password(user["password_hash"], "old-pass")
    blocked = {r["id"]: r["is_blocked"] for r in rows(db, access_tokens)}
    assert blocked == {session.id: True, permanent.id: False}
    run = cli("admin", "user", "set", "alice", "--inactive")
    assert run.status == 0 and "inactive" in run.out
    assert rows(db, users)[0]["is_active"] is False
    listed = cli("admin", "user", "list", "acme", "--json").json
    assert [(u["login"], u["is_active"]) for u in listed] == [("alice", False)]
    before = rows(db, users)
    assert_refused(cli("admin", "user", "set", "bob", "--active"), "not found")
    assert_refused(cli("admin", "user", "set", "alice"), "nothing to change")
    assert_refused(cli("admin", "user", "set", "alice", "--password", ""), "must not be empty")
    assert rows(db, users) == before


def test_key_create_shows_token_once_and_stores_its_hash(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    run = cli("admin", "key", "create", "acme", "--json")
    assert run.status == 0, run.err
    token = run.json["access_token"]
    assert len(token) >= 40 and token.isalnum()
    [stored] = rows(db, access_tokens)
    assert stored["id"] == run.json["key_id"] and stored["account_id"] == account_id
    assert stored["token_hash"] == hash_token(token)
    assert stored["kind"] == "permanent" and stored["expires_at"] is None
    assert token not in str(stored)
    text = cli("admin", "key", "create", "acme").out
    assert "access_token" in text and "cannot be shown again" in text


def test_key_expiry_forms(cli: CliRunner, db: Engine) -> None:
    make_account(cli)
    by_date = cli("admin", "key", "create", "acme", "--expires", "2099-03-04", "--json").json
    # A date means "valid through that day": the key expires at the next midnight UTC.
    assert by_date["expires_at"] == datetime(2099, 3, 5, tzinfo=UTC).timestamp()
    assert by_date["expires_at_iso"] == "2099-03-05T00:00:00.000+00:00"
    with_zone = cli(
        "admin", "key", "create", "acme", "--expires", "2099-03-04T10:00:00+03:00", "--json"
    ).json
    assert with_zone["expires_at"] == datetime(2099, 3, 4, 7, tzinfo=UTC).timestamp()
    stored = {r["id"]: r["expires_at"] for r in rows(db, access_tokens)}
    assert stored[by_date["key_id"]] == by_date["expires_at"]
    before = rows(db, access_tokens)
    assert_refused(cli("admin", "key", "create", "acme", "--expires", "2001-01-01"), "past")
    assert_refused(cli("admin", "key", "create", "acme", "--expires", "soon"), "YYYY-MM-DD")
    assert_refused(cli("admin", "key", "create", "acme", "--expires", "9999-12-31"), "YYYY-MM-DD")
    assert_refused(cli("admin", "key", "create", "nobody"), "not found")
    assert rows(db, access_tokens) == before


def test_key_block_and_list(cli: CliRunner, db: Engine) -> None:
    make_account(cli)
    key_id = cli("admin", "key", "create", "acme", "--json").json["key_id"]
    run = cli("admin", "key", "block", str(key_id), "--json")
    assert run.status == 0 and run.json["is_blocked"] is True and run.json["was_blocked"] is False
    assert rows(db, access_tokens)[0]["is_blocked"] is True
    again = cli("admin", "key", "block", str(key_id))
    assert again.status == 0 and "already" in again.out
    listed = cli("admin", "key", "list", "acme", "--json").json
    assert [(k["id"], k["is_blocked"]) for k in listed] == [(key_id, True)]
    assert_refused(cli("admin", "key", "block", "999"), "not found")
    assert cli("admin", "key", "block", "x").status == 2


# --- numbers, employees, blacklist ---------------------------------------------------------


def test_number_add_normalises_and_validates(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    run = cli("admin", "number", "add", "acme", "+74993720692", "--region", "Москва", "--json")
    assert run.status == 0, run.err
    assert run.json["number"] == "74993720692" and run.json["region"] == "Москва"
    [stored] = rows(db, virtual_numbers)
    assert (stored["account_id"], stored["number"], stored["region"], stored["status"]) == (
        account_id,
        "74993720692",
        "Москва",
        "active",
    )
    assert [n["number"] for n in cli("admin", "number", "list", "acme", "--json").json] == [
        "74993720692"
    ]
    before = rows(db, virtual_numbers)
    assert_refused(cli("admin", "number", "add", "acme", "74993720692"), "already registered")
    assert_refused(cli("admin", "number", "add", "acme", "7499"), "E.164")
    assert_refused(cli("admin", "number", "add", "acme", "8 (499) 372-06-92"), "E.164")
    assert_refused(cli("admin", "number", "add", "acme", "70000000000"), "not a valid")
    assert_refused(cli("admin", "number", "add", "nobody", "74993720693"), "not found")
    assert_refused(
        cli("admin", "number", "add", "acme", "74993720693", "--region", "r" * 201), "longer"
    )
    assert rows(db, virtual_numbers) == before


def test_employee_add(cli: CliRunner, db: Engine) -> None:
    make_account(cli)
    run = cli("admin", "employee", "add", "acme", "alice@pbx.example.com:5070", "--json")
    assert run.status == 0, run.err
    assert run.json["sip_uri"] == "sip:alice@pbx.example.com:5070"
    assert cli("admin", "employee", "add", "acme", "sip:bob@[2001:db8::1]").status == 0
    assert [e["sip_uri"] for e in rows(db, employees)] == [
        "sip:alice@pbx.example.com:5070",
        "sip:bob@[2001:db8::1]",
    ]
    before = rows(db, employees)
    assert_refused(cli("admin", "employee", "add", "acme", "101"), "SIP URI")
    assert_refused(cli("admin", "employee", "add", "acme", "sip:@host"), "SIP URI")
    assert_refused(
        cli("admin", "employee", "add", "acme", "sip:alice@pbx.example.com:5070"), "already"
    )
    # The API matches contacts with the host's case and URI parameters ignored; so does this.
    assert_refused(
        cli("admin", "employee", "add", "acme", "sip:alice@PBX.example.com:5070;transport=udp"),
        "already",
    )
    assert rows(db, employees) == before
    listed = cli("admin", "employee", "list", "acme", "--json").json
    assert [e["sip_uri"] for e in listed] == [e["sip_uri"] for e in before]


def test_blacklist_add_list_remove(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    run = cli("admin", "blacklist", "add", "acme", "+79161234567", "--comment", "asked", "--json")
    assert run.status == 0, run.err
    assert run.json["added"] is True and run.json["number"] == "79161234567"
    again = cli("admin", "blacklist", "add", "acme", "79161234567", "--json").json
    assert again["added"] is False and again["blacklist_id"] == run.json["blacklist_id"]
    assert cli("admin", "blacklist", "add", "acme", "sip:eve@pbx.example").status == 0
    stored = rows(db, blacklist)
    assert [(r["account_id"], r["number"], r["comment"]) for r in stored] == [
        (account_id, "79161234567", "asked"),
        (account_id, "sip:eve@pbx.example", None),
    ]
    listed = cli("admin", "blacklist", "list", "acme", "--json").json
    assert [r["number"] for r in listed] == ["79161234567", "sip:eve@pbx.example"]
    assert_refused(cli("admin", "blacklist", "add", "acme", "123"), "E.164")
    assert_refused(cli("admin", "blacklist", "remove", "acme", "79160000000"), "not in")
    assert rows(db, blacklist) == stored
    removed = cli("admin", "blacklist", "remove", "acme", "79161234567", "--json")
    assert removed.status == 0 and removed.json["removed"] is True
    assert [r["number"] for r in rows(db, blacklist)] == ["sip:eve@pbx.example"]


# --- sessions ------------------------------------------------------------------------------


def insert_session(db: Engine, account_id: int, **values: Any) -> int:
    base: dict[str, Any] = {
        "account_id": account_id,
        "source": "callapi_informer_call",
        "request_id": '"req-1"',
        "external_id": "ext-1",
        "virtual_phone_number": "74993720692",
        "usage_rule": "fixed",
        "caller_number": "74993720692",
        "contact": "79161234567",
        "contact_kind": "phone",
        "direction": "out",
        "dtmf_string": "1.2",
        "dialing_timeout": 30.0,
        "message_type": "tts",
        "message_value": "Здравствуйте",
        "state": "queued",
        "created_at": time.time(),
        "release_requested": False,
        "dial_attempts": 0,
    }
    base.update(values)
    with db.begin() as conn:
        return int(conn.execute(call_sessions.insert().values(**base)).inserted_primary_key[0])


def test_session_show_has_every_stored_field(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    t0 = 1_790_000_000.25
    session_id = insert_session(
        db,
        account_id,
        state="finished",
        finish_reason="subscriber_busy",
        finish_detail="486 from trunk",
        sip_code=486,
        sip_reason="Busy Here",
        sip_call_id="abc@127.0.0.1",
        created_at=t0,
        dial_at=t0 + 0.5,
        ring_at=t0 + 1.0,
        end_at=t0 + 3.0,
    )
    run = cli("admin", "session", "show", str(session_id), "--json")
    assert run.status == 0, run.err
    data = run.json
    for column in [c.name for c in call_sessions.columns]:
        assert column in data, column
    assert data["call_session_id"] == session_id
    assert (data["state"], data["finish_reason"], data["sip_code"], data["sip_reason"]) == (
        "finished",
        "subscriber_busy",
        486,
        "Busy Here",
    )
    assert data["finish_detail"] == "486 from trunk"
    assert data["dial_at_iso"] == "2026-09-21T14:13:20.750+00:00"
    assert data["end_at_iso"] == datetime.fromtimestamp(t0 + 3.0, UTC).isoformat(
        timespec="milliseconds"
    )
    assert data["answer_at"] is None and data["answer_at_iso"] is None
    text = cli("admin", "session", "show", str(session_id)).out
    for expected in ("subscriber_busy", "486", "Busy Here", "2026-09-21T14:13:20.750+00:00"):
        assert expected in text
    assert_refused(cli("admin", "session", "show", "999"), "not found")


def test_session_list_filters(cli: CliRunner, db: Engine) -> None:
    acme = make_account(cli)
    beta = make_account(cli, "beta")
    first = insert_session(db, acme)
    second = insert_session(db, acme, state="finished", finish_reason="success_finish")
    third = insert_session(db, beta)
    ids = [r["id"] for r in cli("admin", "session", "list", "--json").json]
    assert ids == [third, second, first]
    by_account = cli("admin", "session", "list", "--account", "acme", "--json").json
    assert [r["id"] for r in by_account] == [second, first]
    queued = cli("admin", "session", "list", "--state", "queued", "--json").json
    assert [r["id"] for r in queued] == [third, first]
    assert [r["id"] for r in cli("admin", "session", "list", "--limit", "1", "--json").json] == [
        third
    ]
    done = cli("admin", "session", "list", "--finish-reason", "success_finish", "--json").json
    assert [r["id"] for r in done] == [second]
    other = insert_session(db, acme, external_id="order-9", contact="79160000001")
    found = cli("admin", "session", "list", "--external-id", "order-9", "--json").json
    assert [r["id"] for r in found] == [other]
    found = cli("admin", "session", "list", "--contact", "+79160000001", "--json").json
    assert [r["id"] for r in found] == [other]
    text = cli("admin", "session", "list").out
    assert "success_finish" in text and "79161234567" in text
    assert_refused(cli("admin", "session", "list", "--account", "nobody"), "not found")
    assert cli("admin", "session", "list", "--state", "lost").status == 2


# --- the rest ------------------------------------------------------------------------------


def test_db_migrate_reports_revision(cli: CliRunner, db_url: str) -> None:
    run = cli("admin", "db", "migrate", "--json")
    assert run.status == 0, run.err
    assert (
        run.json["revision"]
        == ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
    )
    assert run.json["database"].split("/")[-1] == db_url.split("/")[-1]


def test_missing_files_are_refused(cli: CliRunner, tmp_path: Any) -> None:
    make_account(cli)
    assert_refused(cli("admin", "media", "add", "acme", str(tmp_path / "nope.wav")), "no such file")
    assert_refused(
        cli("admin", "numbering-plan", "import", str(tmp_path / "nope.csv")), "no such file"
    )


def test_unreachable_database_is_a_clean_error(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VESTNIK_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    run = cli("admin", "account", "list")
    assert_refused(run, "database error")


# --- media and the numbering plan ----------------------------------------------------------


def test_media_add_converts_and_stores(cli: CliRunner, db: Engine, tmp_path: Path) -> None:
    import numpy as np
    import soundfile

    account_id = make_account(cli)
    wav = tmp_path / "greeting.wav"
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000)
    soundfile.write(wav, tone, 16_000, subtype="PCM_16")
    run = cli("admin", "media", "add", "acme", str(wav), "--name", "Greeting", "--json")
    assert run.status == 0, run.err
    data = run.json
    [stored] = rows(db, media_files)
    assert data["media_file_id"] == stored["id"]
    assert (stored["account_id"], stored["name"], stored["type"]) == (
        account_id,
        "Greeting",
        "user",
    )
    assert stored["original_filename"] == "greeting.wav"
    assert abs(stored["duration_ms"] - 1000) <= 20
    pcm = tmp_path / "data" / stored["pcm_path"]
    assert pcm.stat().st_size == 2 * 8000 * stored["duration_ms"] // 1000
    assert (tmp_path / "data" / stored["original_path"]).read_bytes() == wav.read_bytes()
    # Without --name the file name gives the name.
    assert cli("admin", "media", "add", "acme", str(wav), "--json").json["name"] == "greeting"
    make_account(cli, "beta")
    assert cli("admin", "media", "add", "beta", str(wav)).status == 0
    listed = cli("admin", "media", "list", "acme", "--json").json
    assert [(m["name"], m["account_id"]) for m in listed] == [
        ("Greeting", account_id),
        ("greeting", account_id),
    ]
    assert "Greeting" in cli("admin", "media", "list", "acme").out


def test_media_add_refuses_non_audio(cli: CliRunner, db: Engine, tmp_path: Path) -> None:
    make_account(cli)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n")
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    assert_refused(cli("admin", "media", "add", "acme", str(text)), "notes.wav")
    assert_refused(cli("admin", "media", "add", "acme", str(empty)), "empty.mp3")
    assert_refused(cli("admin", "media", "add", "nobody", str(text)), "not found")
    assert rows(db, media_files) == []
    media_folder = tmp_path / "data" / "media"
    assert not media_folder.exists() or list(media_folder.iterdir()) == []


PLAN_CSV = """АВС/ DEF;От;До;Емкость;Оператор;Регион;ИНН
916;0000000;0999999;1000000;ПАО "МТС";г. Москва и Московская область;7740000076
916;1000000;1999999;1000000;ПАО "МТС";г. Москва и Московская область;7740000076
"""


def test_numbering_plan_import(cli: CliRunner, db: Engine, tmp_path: Path) -> None:
    plan = tmp_path / "DEF-9xx.csv"
    plan.write_text(PLAN_CSV, encoding="utf-8")
    run = cli("admin", "numbering-plan", "import", str(plan), "--json")
    assert run.status == 0, run.err
    assert run.json["imported"] == 2
    stored = rows(db, numbering_plan)
    assert [(r["number_from"], r["number_to"]) for r in stored] == [
        (79160000000, 79160999999),
        (79161000000, 79161999999),
    ]
    assert stored[0]["region"] == "г. Москва и Московская область"
    bad = tmp_path / "bad.csv"
    bad.write_text("916;abc;def;1;x;y\n", encoding="utf-8")
    assert_refused(cli("admin", "numbering-plan", "import", str(bad)), "bad.csv", "line 1")
    assert len(rows(db, numbering_plan)) == 2


# --- disabling and removing ----------------------------------------------------------------


def write_tone(path: Path, seconds: float = 1.0) -> Path:
    import numpy as np
    import soundfile

    samples = np.arange(int(16_000 * seconds)) / 16_000
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * 440 * samples), 16_000, subtype="PCM_16")
    return path


def add_media(cli: CliRunner, account: str, wav: Path) -> int:
    run = cli("admin", "media", "add", account, str(wav), "--json")
    assert run.status == 0, run.err
    return int(run.json["media_file_id"])


def test_number_disable_enable(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    assert cli("admin", "number", "add", "acme", "74993720692").status == 0
    run = cli("admin", "number", "disable", "acme", "+74993720692", "--json")
    assert run.status == 0, run.err
    assert run.json == {"account_id": account_id, "number": "74993720692",
                        "status": "manual_lock", "previous_status": "active"}  # fmt: skip
    assert rows(db, virtual_numbers)[0]["status"] == "manual_lock"
    again = cli("admin", "number", "disable", "acme", "74993720692")
    assert again.status == 0 and "disabled" in again.out and "already" in again.out
    listed = cli("admin", "number", "list", "acme", "--json").json
    assert [(n["number"], n["status"]) for n in listed] == [("74993720692", "manual_lock")]
    run = cli("admin", "number", "enable", "acme", "74993720692")
    assert run.status == 0 and "enabled" in run.out and "already" not in run.out
    assert rows(db, virtual_numbers)[0]["status"] == "active"
    make_account(cli, "beta")
    before = rows(db, virtual_numbers)
    assert_refused(cli("admin", "number", "disable", "beta", "74993720692"), "not a number of")
    assert_refused(cli("admin", "number", "enable", "acme", "74993720693"), "not a number of")
    assert_refused(cli("admin", "number", "disable", "acme", "12"), "E.164")
    assert rows(db, virtual_numbers) == before


def test_number_remove_forgets_it_and_its_sticky_contacts(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    for number in ("74993720692", "74993720693"):
        assert cli("admin", "number", "add", "acme", number).status == 0
    with db.begin() as conn:
        conn.execute(
            numa_caller_numbers.insert(),
            [{"account_id": account_id, "contact": contact, "rule": "fixed_for_numa",
              "number": number, "created_at": 1.0}
             for contact, number in (("79160000001", "74993720692"),
                                     ("79160000002", "74993720693"))],
        )  # fmt: skip
    run = cli("admin", "number", "remove", "acme", "74993720692", "--json")
    assert run.status == 0, run.err
    assert run.json["removed"] is True and run.json["number"] == "74993720692"
    assert [n["number"] for n in rows(db, virtual_numbers)] == ["74993720693"]
    with db.connect() as conn:
        sticky = conn.execute(sa.select(numa_caller_numbers.c.number)).scalars().all()
    assert sticky == ["74993720693"]
    before = rows(db, virtual_numbers)
    assert_refused(cli("admin", "number", "remove", "acme", "74993720692"), "not a number of")
    assert_refused(cli("admin", "number", "remove", "nobody", "74993720693"), "not found")
    assert rows(db, virtual_numbers) == before
    # A removed number is free again: it may be added back (to any account).
    assert cli("admin", "number", "add", "acme", "74993720692").status == 0


def test_employee_remove(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    make_account(cli, "beta")
    for uri in ("sip:alice@pbx.example", "sip:bob@pbx.example"):
        assert cli("admin", "employee", "add", "acme", uri).status == 0
    assert cli("admin", "employee", "add", "beta", "sip:alice@pbx.example").status == 0
    # Matched as the API matches a contact: host case and URI parameters do not matter.
    run = cli("admin", "employee", "remove", "acme", "alice@PBX.example;transport=udp", "--json")
    assert run.status == 0, run.err
    assert run.json["sip_uri"] == "sip:alice@pbx.example" and run.json["removed"] is True
    remaining = [(e["account_id"], e["sip_uri"]) for e in rows(db, employees)]
    assert remaining == [(account_id, "sip:bob@pbx.example"), (2, "sip:alice@pbx.example")]
    before = rows(db, employees)
    assert_refused(cli("admin", "employee", "remove", "acme", "sip:alice@pbx.example"), "not reg")
    assert_refused(cli("admin", "employee", "remove", "acme", "101"), "SIP URI")
    assert rows(db, employees) == before


def test_user_remove_deletes_it_and_its_session_tokens(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    user_id = cli("admin", "user", "create", "acme", "alice", "pw-1", "--json").json["user_id"]
    assert cli("admin", "user", "create", "acme", "bob", "pw-2").status == 0
    with db.begin() as conn:
        issue_token(conn, account_id, TokenKind.SESSION, user_id=user_id)
        issue_token(conn, account_id, TokenKind.SESSION, user_id=user_id)
        permanent = issue_token(conn, account_id, TokenKind.PERMANENT)
    run = cli("admin", "user", "remove", "alice", "--json")
    assert run.status == 0, run.err
    assert run.json == {"user_id": user_id, "account_id": account_id, "login": "alice",
                        "removed": True, "session_tokens_deleted": 2}  # fmt: skip
    assert [u["login"] for u in rows(db, users)] == ["bob"]
    assert [t["id"] for t in rows(db, access_tokens)] == [permanent.id]
    assert_refused(cli("admin", "user", "remove", "alice"), "not found")
    # The login is free again.
    assert cli("admin", "user", "create", "acme", "alice", "pw-3").status == 0


def test_key_remove(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    first = cli("admin", "key", "create", "acme", "--json").json["key_id"]
    second = cli("admin", "key", "create", "acme", "--json").json["key_id"]
    run = cli("admin", "key", "remove", str(first), "--json")
    assert run.status == 0, run.err
    assert run.json == {"key_id": first, "account_id": account_id, "kind": "permanent",
                        "removed": True}  # fmt: skip
    assert [k["id"] for k in rows(db, access_tokens)] == [second]
    assert [k["id"] for k in cli("admin", "key", "list", "acme", "--json").json] == [second]
    assert_refused(cli("admin", "key", "remove", str(first)), "not found")
    for bad in ("0", "x", str(2**31)):
        assert cli("admin", "key", "remove", bad).status == 2
    assert [k["id"] for k in rows(db, access_tokens)] == [second]


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


def test_media_remove_keeps_the_row_and_deletes_the_audio(
    cli: CliRunner, db: Engine, tmp_path: Path
) -> None:
    account_id = make_account(cli)
    make_account(cli, "beta")
    wav = write_tone(tmp_path / "greeting.wav")
    media_id = add_media(cli, "acme", wav)
    kept_id = add_media(cli, "acme", wav)
    foreign_id = add_media(cli, "beta", wav)
    data = tmp_path / "data"
    stored = {m["id"]: m for m in rows(db, media_files)}
    run = cli("admin", "media", "remove", "acme", str(media_id), "--json")
    assert run.status == 0, run.err
    assert run.json["media_file_id"] == media_id and run.json["account_id"] == account_id
    assert run.json["was_removed"] is False and run.json["files_deleted"] is True
    assert run.json["unfinished_sessions"] == 0 and run.json["removed_at_iso"] is not None
    after = {m["id"]: m for m in rows(db, media_files)}
    assert after[media_id]["removed_at"] == run.json["removed_at"]
    assert {k: v for k, v in after[media_id].items() if k != "removed_at"} == {
        k: v for k, v in stored[media_id].items() if k != "removed_at"
    }
    assert not (data / stored[media_id]["pcm_path"]).exists()
    assert not (data / stored[media_id]["original_path"]).exists()
    assert (data / stored[kept_id]["pcm_path"]).exists()
    listed = cli("admin", "media", "list", "acme", "--json").json
    assert [m["media_file_id"] for m in listed] == [kept_id]
    everything = cli("admin", "media", "list", "acme", "--all", "--json").json
    assert [(m["media_file_id"], m["removed_at"] is None) for m in everything] == [
        (media_id, False),
        (kept_id, True),
    ]
    assert "removed_at_iso" in cli("admin", "media", "list", "acme", "--all").out
    again = cli("admin", "media", "remove", "acme", str(media_id))
    assert again.status == 0 and "already" in again.out
    before = rows(db, media_files)
    assert_refused(cli("admin", "media", "remove", "acme", str(foreign_id)), "not a file of")
    assert_refused(cli("admin", "media", "remove", "acme", "999"), "not found")
    assert rows(db, media_files) == before
    assert (data / stored[foreign_id]["pcm_path"]).exists()


def test_system_media_file_cannot_be_removed(cli: CliRunner, db: Engine) -> None:
    make_account(cli)
    with db.begin() as conn:
        system_id = conn.execute(
            media_files.insert().values(type="system", name="beep", size=1, duration_ms=1,
                                        pcm_path="system/beep.pcm", created_at=1.0)
        ).inserted_primary_key[0]  # fmt: skip
    before = rows(db, media_files)
    assert_refused(cli("admin", "media", "remove", "acme", str(system_id)), "system file")
    assert rows(db, media_files) == before


def test_media_of_a_queued_session_keeps_its_audio_until_it_finishes(
    cli: CliRunner, db: Engine, tmp_path: Path
) -> None:
    account_id = make_account(cli)
    media_id = add_media(cli, "acme", write_tone(tmp_path / "greeting.wav"))
    [stored] = rows(db, media_files)
    pcm = tmp_path / "data" / stored["pcm_path"]
    session_id = insert_session(
        db, account_id, message_type="media", message_value=str(media_id), media_file_id=media_id
    )
    run = cli("admin", "media", "remove", "acme", str(media_id), "--json")
    assert run.status == 0, run.err
    assert run.json["unfinished_sessions"] == 1 and run.json["files_deleted"] is False
    assert pcm.exists()
    text = cli("admin", "media", "remove", "acme", str(media_id)).out
    assert "kept for 1 queued or in-progress" in text and "again once" in text
    with db.begin() as conn:
        conn.execute(
            call_sessions.update()
            .where(call_sessions.c.id == session_id)
            .values(state="finished", finish_reason="success_finish")
        )
    run = cli("admin", "media", "remove", "acme", str(media_id), "--json")
    assert run.json["was_removed"] is True and run.json["files_deleted"] is True
    assert not pcm.exists()
    shown = cli("admin", "session", "show", str(session_id), "--json").json
    assert shown["media_file_id"] == media_id and shown["message_value"] == str(media_id)


# --- session release -----------------------------------------------------------------------


def test_session_release_finishes_a_queued_session(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    # Claimed by a dialer that has not begun dialing: released all the same.
    session_id = insert_session(db, account_id, lease_owner="dialer/1", lease_expires_at=1e10)
    run = cli("admin", "session", "release", str(session_id), "--json")
    assert run.status == 0, run.err
    assert run.json == {"call_session_id": session_id, "account_id": account_id,
                        "outcome": "released", "state": "finished",
                        "finish_reason": "released"}  # fmt: skip
    [row] = rows(db, call_sessions)
    assert (row["state"], row["finish_reason"]) == ("finished", "released")
    assert row["end_at"] is not None and row["lease_expires_at"] is None
    with db.connect() as conn:
        events = conn.execute(sa.select(call_events)).mappings().all()
    assert [(e["call_session_id"], e["event_type"]) for e in events] == [
        (session_id, "call_finished")
    ]
    assert events[0]["payload"]["finish_reason"] == "released"
    assert_refused(cli("admin", "session", "release", str(session_id)), "already finished")
    assert_refused(cli("admin", "session", "release", "999"), "not found")
    assert rows(db, call_sessions) == [row]
    assert cli("admin", "session", "release", str(2**31)).status == 2


@pytest.mark.parametrize("state", ["dialing", "ringing", "answered"])
def test_session_release_flags_a_call_for_its_dialer(
    cli: CliRunner, db: Engine, state: str
) -> None:
    account_id = make_account(cli)
    session_id = insert_session(db, account_id, state=state, lease_owner="dialer/1")
    run = cli("admin", "session", "release", str(session_id))
    assert run.status == 0, run.err
    assert f"is {state}: release requested" in run.out
    [row] = rows(db, call_sessions)
    assert row["state"] == state and row["release_requested"] is True
    assert row["finish_reason"] is None
    with db.connect() as conn:
        assert conn.execute(sa.select(call_events)).first() is None


def test_docs_name_every_admin_verb() -> None:
    """docs/admin.md mentions ``vestnik admin OBJECT ACTION`` for every command there is."""
    docs = (Path(__file__).parents[2] / "docs" / "admin.md").read_text(encoding="utf-8")

    def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return dict(sub.choices)

    admin = commands(build_parser())["admin"]
    verbs = [
        f"{name} {action}" for name, obj in commands(admin).items() for action in commands(obj)
    ]
    assert "session release" in verbs and "media remove" in verbs
    assert [v for v in verbs if f"vestnik admin {v}" not in docs] == []
