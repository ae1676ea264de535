"""``vestnik admin blacklist …``: the numbers and SIP URIs an account must never call."""

from __future__ import annotations

import argparse

from vestnik.calls.numbers import has_sip_scheme
from vestnik.cli.admin.shared import (
    account_argument,
    e164_number,
    list_for_account,
    object_actions,
    sip_uri,
)
from vestnik.cli.common import CliError, SubParsers, command_parser, emit, transaction
from vestnik.store import admin_blacklist as store
from vestnik.store.accounts import resolve_account


def register(objects: SubParsers) -> None:
    actions = object_actions(objects, "blacklist", "numbers the account must never call")
    p = command_parser(actions, "add", help="add a number", handler=blacklist_add)
    account_argument(p)
    p.add_argument("number", metavar="NUMBER", help="E.164 number or an employee's SIP URI")
    p.add_argument("--comment", metavar="TEXT")
    p = command_parser(actions, "remove", help="remove a number", handler=blacklist_remove)
    account_argument(p)
    p.add_argument("number", metavar="NUMBER")
    p = command_parser(actions, "list", help="the account's blacklist", handler=blacklist_list)
    account_argument(p)


def blacklist_entry(text: str) -> str:
    """A blacklist entry: an employee's SIP URI or a phone number, as stored."""
    if has_sip_scheme(text.strip()):
        return sip_uri(text)
    return e164_number(text)


def blacklist_add(args: argparse.Namespace) -> None:
    number = blacklist_entry(args.number)
    with transaction(args) as conn:
        account_id = resolve_account(conn, args.account)
        before = {r["number"] for r in store.blacklist_list(conn, account_id)}
        entry_id = store.blacklist_add(conn, account_id, number, args.comment)
    added = number not in before
    data = {"blacklist_id": entry_id, "account_id": account_id, "number": number, "added": added}
    emit(
        args,
        data,
        f"{number} {'added to' if added else 'is already in'} the blacklist of "
        f"account {account_id}",
    )


def blacklist_remove(args: argparse.Namespace) -> None:
    number = blacklist_entry(args.number)
    with transaction(args) as conn:
        account_id = resolve_account(conn, args.account)
        if not store.blacklist_remove(conn, account_id, number):
            raise CliError(f"{number} is not in the blacklist of account {account_id}")
    data = {"account_id": account_id, "number": number, "removed": True}
    emit(args, data, f"{number} removed from the blacklist of account {account_id}")


def blacklist_list(args: argparse.Namespace) -> None:
    list_for_account(args, store.blacklist_list, ["id", "number", "comment", "created_at_iso"])
