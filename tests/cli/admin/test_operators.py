"""``vestnik admin operator …`` in-process on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy import Engine

from tests.support.admin_cli import assert_refused, make_account, rows
from tests.support.cli import CliRunner
from vestnik.auth import verify_password
from vestnik.store import console as console_store
from vestnik.store.schema import console_sessions, operators


def _signed_in(db: Engine, login: str) -> str:
    """A console session for ``login`` as the login form makes one; its token hash."""
    with db.begin() as conn:
        person = console_store.find_person(conn, login)
        assert person is not None
        token_hash = f"{login:0<64}"[:64]
        at = time.time()
        console_store.create_session(conn, token_hash, person, "csrf", at, at + 3600)
    return token_hash


def _live(db: Engine, token_hash: str) -> bool:
    with db.connect() as conn:
        return console_store.load_session(conn, token_hash, time.time()) is not None


def test_operator_create_reads_the_password_from_stdin(cli: CliRunner, db: Engine) -> None:
    run = cli("admin", "operator", "create", "alice", "--password-stdin", "--json",
              stdin="s3cret pass\n")  # fmt: skip
    assert run.status == 0, run.err
    assert run.json == {"operator_id": run.json["operator_id"], "login": "alice"}
    [row] = rows(db, operators)
    assert row["login"] == "alice" and row["is_blocked"] is False
    assert verify_password(row["password_hash"], "s3cret pass")
    assert "s3cret" not in row["password_hash"]
    listed = cli("admin", "operator", "list", "--json").json
    assert [(o["login"], o["is_blocked"]) for o in listed] == [("alice", False)]
    assert "password_hash" not in listed[0]


def test_operator_create_refusals_change_nothing(cli: CliRunner, db: Engine) -> None:
    make_account(cli)
    assert cli("admin", "user", "create", "acme", "bob", "pw").status == 0
    assert cli("admin", "operator", "create", "alice", "--password-stdin", stdin="pw\n").status == 0
    before = rows(db, operators)
    assert_refused(cli("admin", "operator", "create", "alice", "--password-stdin", stdin="x\n"),
                   "taken")  # fmt: skip
    # One login form serves both kinds: an account user's login is taken too, both ways.
    assert_refused(cli("admin", "operator", "create", "bob", "--password-stdin", stdin="x\n"),
                   "taken")  # fmt: skip
    assert_refused(cli("admin", "user", "create", "acme", "alice", "pw"), "taken")
    assert_refused(cli("admin", "operator", "create", "carol", "--password-stdin", stdin="\n"),
                   "password")  # fmt: skip
    assert_refused(cli("admin", "operator", "create", " carol", "--password-stdin", stdin="x\n"),
                   "login")  # fmt: skip
    assert_refused(cli("admin", "operator", "create", "c" * 201, "--password-stdin",
                       stdin="x\n"), "longer than")  # fmt: skip
    assert cli("admin", "operator", "create", "dave").status == 2  # --password-stdin required
    assert rows(db, operators) == before


def test_block_and_remove_end_the_console_sessions(cli: CliRunner, db: Engine) -> None:
    cli("admin", "operator", "create", "alice", "--password-stdin", stdin="pw\n")
    session = _signed_in(db, "alice")
    assert _live(db, session)
    run = cli("admin", "operator", "block", "alice", "--json")
    assert run.status == 0, run.err
    assert run.json["is_blocked"] is True and run.json["sessions_ended"] == 1
    assert not _live(db, session)
    again = cli("admin", "operator", "block", "alice")
    assert "already" in again.out
    assert cli("admin", "operator", "unblock", "alice").status == 0
    session = _signed_in(db, "alice")
    run = cli("admin", "operator", "password", "alice", "--password-stdin", "--json",
              stdin="new pw\n")  # fmt: skip
    assert run.status == 0 and run.json["sessions_ended"] == 1
    assert verify_password(rows(db, operators)[0]["password_hash"], "new pw")
    session = _signed_in(db, "alice")
    assert cli("admin", "operator", "remove", "alice", "--json").json["sessions_ended"] == 1
    assert rows(db, operators) == []
    with db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(console_sessions)).scalar() == 0
    assert_refused(cli("admin", "operator", "remove", "alice"), "not found")
    assert_refused(cli("admin", "operator", "block", "nobody"), "not found")


def test_a_users_password_change_or_removal_ends_their_console_sessions(
    cli: CliRunner, db: Engine
) -> None:
    make_account(cli)
    cli("admin", "user", "create", "acme", "bob", "pw")
    session = _signed_in(db, "bob")
    assert _live(db, session)
    assert cli("admin", "user", "set", "bob", "--password", "-", stdin="new\n").status == 0
    assert not _live(db, session)
    session = _signed_in(db, "bob")
    assert cli("admin", "user", "set", "bob", "--inactive").status == 0
    assert not _live(db, session)
    cli("admin", "user", "set", "bob", "--active")
    session = _signed_in(db, "bob")
    assert cli("admin", "user", "remove", "bob").status == 0
    assert not _live(db, session)
