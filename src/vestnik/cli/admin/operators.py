"""``vestnik admin operator …``: the console's operators, who see and manage every account."""

from __future__ import annotations

import argparse

from vestnik.cli.admin.shared import already, object_actions, text_value
from vestnik.cli.admin.users import password
from vestnik.cli.common import (
    CliError,
    SubParsers,
    command_parser,
    emit,
    format_table,
    reading,
    transaction,
    with_iso_times,
)
from vestnik.store import operators as store


def register(objects: SubParsers) -> None:
    actions = object_actions(objects, "operator", "console operators (see every account)")
    p = command_parser(
        actions, "create", help="create an operator (password from stdin)", handler=create
    )
    p.add_argument("login", metavar="LOGIN")
    p.add_argument(
        "--password-stdin", action="store_true", required=True,
        help="read the password from the first line of standard input",
    )  # fmt: skip
    p = command_parser(
        actions, "password", help="set a new password (from stdin); logs the operator out",
        handler=set_password,
    )  # fmt: skip
    p.add_argument("login", metavar="LOGIN")
    p.add_argument("--password-stdin", action="store_true", required=True)
    command_parser(actions, "list", help="every operator", handler=list_all)
    p = command_parser(
        actions, "block", help="block an operator: logged out at once", handler=block
    )
    p.add_argument("login", metavar="LOGIN")
    p = command_parser(actions, "unblock", help="let a blocked operator log in", handler=unblock)
    p.add_argument("login", metavar="LOGIN")
    p = command_parser(actions, "remove", help="delete an operator", handler=remove)
    p.add_argument("login", metavar="LOGIN")


def _login(text: str) -> str:
    login = text_value(text, store.OPERATOR_LOGIN_LENGTH, "login")
    if login != text:
        raise CliError("login must not have surrounding spaces")
    return login


def create(args: argparse.Namespace) -> None:
    login = _login(args.login)
    secret = password("-", args)
    with transaction(args) as conn:
        operator_id = store.create_operator(conn, login, secret)
    data = {"operator_id": operator_id, "login": login}
    emit(args, data, f"operator {operator_id} ({login}) created")


def set_password(args: argparse.Namespace) -> None:
    secret = password("-", args)
    with transaction(args) as conn:
        result = store.set_operator_password(conn, args.login, secret)
    emit(args, result, f"operator {result['id']} ({args.login}): new password; "
         f"{result['sessions_ended']} console sessions ended")  # fmt: skip


def list_all(args: argparse.Namespace) -> None:
    with reading(args) as conn:
        rows = [with_iso_times(r, ("created_at",)) for r in store.list_operators(conn)]
    emit(args, rows, lambda: format_table(rows, ["id", "login", "is_blocked", "created_at_iso"]))


def _set_blocked(args: argparse.Namespace, blocked: bool) -> None:
    with transaction(args) as conn:
        result = store.set_operator_blocked(conn, args.login, blocked)
    word = "blocked" if blocked else "unblocked"
    text = f"operator {result['id']} ({args.login}) {word}"
    text += already(result["was_blocked"] == blocked)
    if blocked:
        text += f"; {result['sessions_ended']} console sessions ended"
    emit(args, result, text)


def block(args: argparse.Namespace) -> None:
    _set_blocked(args, True)


def unblock(args: argparse.Namespace) -> None:
    _set_blocked(args, False)


def remove(args: argparse.Namespace) -> None:
    with transaction(args) as conn:
        result = store.remove_operator(conn, args.login)
    emit(args, result, f"operator {result['id']} ({args.login}) removed; "
         f"{result['sessions_ended']} console sessions ended")  # fmt: skip
