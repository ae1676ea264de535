"""``vestnik admin blacklist …`` in-process on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Engine

from tests.support.admin_cli import assert_refused, make_account, rows
from tests.support.cli import CliRunner
from vestnik.store.schema import blacklist


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
