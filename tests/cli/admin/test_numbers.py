"""``vestnik admin number …`` and ``… employee …`` in-process on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Engine

from tests.support.admin_cli import assert_refused, make_account, rows
from tests.support.cli import CliRunner
from vestnik.store.schema import employees, numa_caller_numbers, virtual_numbers


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
