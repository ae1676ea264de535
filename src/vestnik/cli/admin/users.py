"""``vestnik admin user …`` (API logins) and ``vestnik admin key …`` (permanent API keys)."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

from vestnik.auth import KEY_SHOWN_ONCE, TokenKind
from vestnik.calls.events import iso
from vestnik.cli.admin.shared import (
    account_argument,
    already,
    list_for_account,
    object_actions,
    text_value,
)
from vestnik.cli.common import (
    CliError,
    SubParsers,
    command_parser,
    emit,
    format_fields,
    record_id,
    transaction,
)
from vestnik.store import admin_users as store
from vestnik.store.accounts import resolve_account


def register(objects: SubParsers) -> None:
    _register_users(objects)
    _register_keys(objects)


def _register_users(objects: SubParsers) -> None:
    actions = object_actions(objects, "user", "API users (login.user)")
    p = command_parser(
        actions, "create", help="create a user who can log in with login.user", handler=user_create
    )
    account_argument(p)
    p.add_argument("login", metavar="LOGIN")
    p.add_argument("password", metavar="PASSWORD", help="the password; '-' reads it from stdin")
    p = command_parser(
        actions,
        "set",
        help="change a user's password or switch the user off (logs the user out)",
        handler=user_set,
    )
    p.add_argument("login", metavar="LOGIN")
    p.add_argument("--password", metavar="PASSWORD", help="new password; '-' reads it from stdin")
    active = p.add_mutually_exclusive_group()
    active.add_argument("--active", dest="is_active", action="store_const", const=True)
    active.add_argument("--inactive", dest="is_active", action="store_const", const=False)
    p = command_parser(actions, "list", help="an account's users", handler=user_list)
    account_argument(p)
    p = command_parser(
        actions,
        "remove",
        help="delete a user; whoever logged in as the user is logged out at once",
        handler=user_remove,
    )
    p.add_argument("login", metavar="LOGIN")


def _register_keys(objects: SubParsers) -> None:
    actions = object_actions(objects, "key", "permanent API keys")
    p = command_parser(
        actions, "create", help="issue a permanent API key (shown once)", handler=key_create
    )
    account_argument(p)
    p.add_argument(
        "--expires",
        metavar="DATE",
        help="YYYY-MM-DD (valid through that day, UTC) or an ISO 8601 date-time",
    )
    p = command_parser(actions, "block", help="block a key at once", handler=key_block)
    p.add_argument("key_id", metavar="KEY_ID", type=record_id)
    p = command_parser(
        actions, "remove", help="delete a key: it stops working at once", handler=key_remove
    )
    p.add_argument("key_id", metavar="KEY_ID", type=record_id)
    p = command_parser(
        actions, "list", help="an account's keys (never the tokens)", handler=key_list
    )
    account_argument(p)


# --- input checks --------------------------------------------------------------------------


def password(text: str, args: argparse.Namespace | None = None) -> str:
    """The password given, or the line on stdin for ``-`` (in-process: ``args.stdin_text``)."""
    value = stdin_line(args) if text == "-" else text
    if not value.strip():
        raise CliError("password must not be empty")
    return value


def stdin_line(args: argparse.Namespace | None) -> str:
    """One line of standard input; in-process (``run_admin(..., stdin=)``), the text given."""
    given: str | None = getattr(args, "stdin_text", None)
    line = given if given is not None else sys.stdin.readline()
    return line.rstrip("\r\n")


def expiry(text: str, *, now: datetime | None = None) -> float:
    """``--expires``: a date (valid through that day, UTC) or an ISO 8601 date-time."""
    current = now or datetime.now(UTC)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            day = date.fromisoformat(text.strip())
            moment = datetime.combine(day + timedelta(days=1), time(), UTC)
        else:
            moment = datetime.fromisoformat(text.strip())
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise CliError(
            f"--expires {text!r}: expected YYYY-MM-DD or an ISO 8601 date-time"
        ) from None
    if moment <= current:
        raise CliError(f"--expires {text!r} is in the past")
    return moment.timestamp()


# --- users ---------------------------------------------------------------------------------


def user_create(args: argparse.Namespace) -> None:
    login = text_value(args.login, store.LOGIN_LENGTH, "login")
    if login != args.login:
        raise CliError("login must not have surrounding spaces")
    secret = password(args.password, args)
    with transaction(args) as conn:
        account_id = resolve_account(conn, args.account)
        user_id = store.create_user(conn, account_id, login, secret)
    data = {"user_id": user_id, "account_id": account_id, "login": login}
    emit(args, data, f"user {user_id} ({login}) created in account {account_id}")


def user_set(args: argparse.Namespace) -> None:
    secret = password(args.password, args) if args.password is not None else None
    if secret is None and args.is_active is None:
        raise CliError("nothing to change: give --password, --active or --inactive")
    with transaction(args) as conn:
        user = store.update_user(conn, args.login, password=secret, is_active=args.is_active)
    data = {"user_id": user["id"], **{k: v for k, v in user.items() if k != "id"}}
    data["password_changed"] = secret is not None
    state = "active" if user["is_active"] else "inactive"
    emit(args, data, f"user {user['id']} ({args.login}) updated: {state}"
         + (", new password" if secret is not None else "")
         + "; its sessions are logged out")  # fmt: skip


def user_list(args: argparse.Namespace) -> None:
    list_for_account(args, store.list_users, ["id", "login", "is_active", "created_at_iso"])


def user_remove(args: argparse.Namespace) -> None:
    with transaction(args) as conn:
        user = store.remove_user(conn, args.login)
    data = {
        "user_id": user["id"],
        "account_id": user["account_id"],
        "login": user["login"],
        "removed": True,
        "session_tokens_deleted": user["tokens_deleted"],
    }
    emit(
        args,
        data,
        f"user {user['id']} ({user['login']}) removed from account "
        f"{user['account_id']}; {user['tokens_deleted']} session tokens deleted",
    )


# --- keys ----------------------------------------------------------------------------------


def key_create(args: argparse.Namespace) -> None:
    expires_at = expiry(args.expires) if args.expires is not None else None
    with transaction(args) as conn:
        account_id = resolve_account(conn, args.account)
        key = store.issue_token(conn, account_id, TokenKind.PERMANENT, expires_at=expires_at)
    data = {
        "key_id": key.id,
        "account_id": key.account_id,
        "access_token": key.access_token,
        "expires_at": key.expires_at,
        "expires_at_iso": iso(key.expires_at),
    }

    def text() -> str:
        fields = format_fields(
            {
                "key_id": key.id,
                "account_id": key.account_id,
                "access_token": key.access_token,
                "expires_at": iso(key.expires_at) or "never",
            }
        )
        return f"{fields}\n{KEY_SHOWN_ONCE}"

    emit(args, data, text)


def key_block(args: argparse.Namespace) -> None:
    with transaction(args) as conn:
        key = store.get_key(conn, args.key_id)
        store.block_key(conn, args.key_id)
    data = {
        "key_id": args.key_id,
        "account_id": key["account_id"],
        "is_blocked": True,
        "was_blocked": bool(key["is_blocked"]),
    }
    emit(args, data, f"key {args.key_id} is blocked{already(bool(key['is_blocked']))}")


def key_remove(args: argparse.Namespace) -> None:
    with transaction(args) as conn:
        key = store.remove_key(conn, args.key_id)
    data = {
        "key_id": args.key_id,
        "account_id": key["account_id"],
        "kind": key["kind"],
        "removed": True,
    }
    emit(args, data, f"key {args.key_id} removed from account {key['account_id']}")


def key_list(args: argparse.Namespace) -> None:
    list_for_account(
        args,
        partial(store.list_keys, kind=TokenKind.PERMANENT),
        ["id", "is_blocked", "expires_at_iso", "created_at_iso"],
        ("expires_at", "created_at"),
    )
