"""``vestnik admin number …`` (virtual caller numbers) and ``… employee …`` (SIP URIs)."""

from __future__ import annotations

import argparse
from typing import Any

from vestnik.cli.admin.shared import (
    account_argument,
    already,
    e164_number,
    list_for_account,
    object_actions,
    sip_uri,
    text_value,
)
from vestnik.cli.common import CliError, SubParsers, command_parser, emit, transaction
from vestnik.store import admin_numbers as store
from vestnik.store.accounts import resolve_account
from vestnik.store.db import Connection


def register(objects: SubParsers) -> None:
    _register_numbers(objects)
    _register_employees(objects)


def _register_numbers(objects: SubParsers) -> None:
    actions = object_actions(objects, "number", "the account's virtual (caller) numbers")
    p = command_parser(actions, "add", help="add a virtual number", handler=number_add)
    account_argument(p)
    p.add_argument("number", metavar="NUMBER", help="E.164, e.g. 74993720692 or +74993720692")
    p.add_argument("--region", metavar="TEXT", help="region, for the regional usage rules")
    p = command_parser(actions, "list", help="an account's virtual numbers", handler=number_list)
    account_argument(p)
    for action, help, handler in (
        ("disable", "stop calling from a number (status manual_lock)", number_disable),
        ("enable", "call from a disabled number again (status active)", number_enable),
        ("remove", "delete a number (past sessions keep it)", number_remove),
    ):
        p = command_parser(actions, action, help=help, handler=handler)
        account_argument(p)
        p.add_argument("number", metavar="NUMBER", help="E.164, e.g. 74993720692")


def _register_employees(objects: SubParsers) -> None:
    actions = object_actions(objects, "employee", "employees' SIP URIs (callable as a contact)")
    p = command_parser(actions, "add", help="register an employee's SIP URI", handler=employee_add)
    account_argument(p)
    p.add_argument("sip_uri", metavar="SIP_URI", help="sip:user@host[:port]")
    p = command_parser(actions, "list", help="an account's employees", handler=employee_list)
    account_argument(p)
    p = command_parser(
        actions, "remove", help="delete an employee's SIP URI", handler=employee_remove
    )
    account_argument(p)
    p.add_argument("sip_uri", metavar="SIP_URI", help="sip:user@host[:port]")


# --- numbers -------------------------------------------------------------------------------


def number_add(args: argparse.Namespace) -> None:
    number = e164_number(args.number)
    region = None
    if args.region is not None and args.region.strip():
        region = text_value(args.region, store.REGION_LENGTH, "--region")
    with transaction(args) as conn:
        account_id = resolve_account(conn, args.account)
        number_id = store.add_number(conn, account_id, number, region)
    data = {"number_id": number_id, "account_id": account_id, "number": number, "region": region}
    emit(
        args,
        data,
        f"number {number} added to account {account_id} (id {number_id}, region {region or '-'})",
    )


def number_list(args: argparse.Namespace) -> None:
    list_for_account(args, store.list_numbers, ["id", "number", "region", "status"])


def number_disable(args: argparse.Namespace) -> None:
    _number_status(args, store.NUMBER_DISABLED)


def number_enable(args: argparse.Namespace) -> None:
    _number_status(args, store.NUMBER_ACTIVE)


def _number_status(args: argparse.Namespace, status: str) -> None:
    number = e164_number(args.number)
    with transaction(args) as conn:
        account_id = resolve_account(conn, args.account)
        before = store.set_number_status(conn, account_id, number, status)
    data = {"account_id": account_id, "number": number, "status": status, "previous_status": before}
    state = "enabled" if status == store.NUMBER_ACTIVE else "disabled"
    emit(
        args,
        data,
        f"number {number} of account {account_id} is {state} ({status})"
        + already(before == status),
    )


def number_remove(args: argparse.Namespace) -> None:
    number = e164_number(args.number)
    with transaction(args) as conn:
        account_id = resolve_account(conn, args.account)
        row = store.remove_number(conn, account_id, number)
    data = {"number_id": row["id"], "account_id": account_id, "number": number, "removed": True}
    emit(args, data, f"number {number} removed from account {account_id}")


# --- employees -----------------------------------------------------------------------------


def _employee(conn: Connection, account_id: int, uri: str) -> dict[str, Any] | None:
    """The account's employee whose URI the API would match to ``uri``."""
    from vestnik.calls.numbers import sip_key

    for known in store.list_employees(conn, account_id):
        # The API matches contacts by this key (host case and URI parameters ignored).
        if sip_key(known["sip_uri"]) == sip_key(uri):
            return known
    return None


def employee_add(args: argparse.Namespace) -> None:
    uri = sip_uri(args.sip_uri)
    with transaction(args) as conn:
        account_id = resolve_account(conn, args.account)
        known = _employee(conn, account_id, uri)
        if known is not None:
            raise CliError(f"employee {known['sip_uri']} is already registered")
        employee_id = store.add_employee(conn, account_id, uri)
    data = {"employee_id": employee_id, "account_id": account_id, "sip_uri": uri}
    emit(args, data, f"employee {uri} added to account {account_id} (id {employee_id})")


def employee_list(args: argparse.Namespace) -> None:
    list_for_account(args, store.list_employees, ["id", "sip_uri"])


def employee_remove(args: argparse.Namespace) -> None:
    uri = sip_uri(args.sip_uri)
    with transaction(args) as conn:
        account_id = resolve_account(conn, args.account)
        known = _employee(conn, account_id, uri)
        if known is None:
            raise CliError(f"employee {uri} is not registered in account {account_id}")
        store.remove_employee(conn, account_id, known["id"])
    data = {
        "employee_id": known["id"],
        "account_id": account_id,
        "sip_uri": known["sip_uri"],
        "removed": True,
    }
    emit(args, data, f"employee {known['sip_uri']} removed from account {account_id}")
