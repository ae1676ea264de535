"""``vestnik admin user …`` and ``… key …`` in-process on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from tests.support.admin_cli import assert_refused, make_account, rows
from tests.support.cli import CliRunner
from vestnik.auth import TokenKind, hash_token, verify_password
from vestnik.store.admin_users import issue_token
from vestnik.store.schema import access_tokens, users


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
