"""``vestnik admin …``: accounts, users, keys, numbers, employees, blacklist, media, sessions.

Every command validates all of its input before it opens a transaction, so a refused command
changes nothing. Output is text by default and JSON with ``--json`` (see docs/admin.md).
What removal keeps and deletes is decided in ``store.accounts`` and ``store.media``.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from vestnik.auth import TokenKind
from vestnik.calls import CallState, FinishReason
from vestnik.cli.common import (
    CliError,
    SubParsers,
    command_parser,
    database,
    emit,
    format_fields,
    format_table,
    iso,
    non_negative_int,
    on_off,
    positive_int,
    record_id,
    with_iso_times,
)
from vestnik.config import Config
from vestnik.store import accounts as store
from vestnik.store import media as media_store
from vestnik.store import sessions as session_store
from vestnik.store.db import now
from vestnik.store.schema import accounts, employees, users, virtual_numbers
from vestnik.store.sessions import ReleaseOutcome

ACCOUNT_TIME_COLUMNS = ("created_at",)
SESSION_TIME_COLUMNS = (
    "created_at",
    "dial_at",
    "ring_at",
    "answer_at",
    "end_at",
    "lease_expires_at",
)
SESSION_LIST_DEFAULT_LIMIT = 50
KEY_SHOWN_ONCE = "Keep the access_token now: only its hash is stored, it cannot be shown again."
_METHOD_NAME = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*$")
# sip:user@host[:port][;params] — the user part is required: an employee is a person.
_SIP_USER = r"^sips?:[^@\s;]+@"
_SIP_TAIL = r"(:\d{1,5})?(;\S*)?$"
_SIP_URI = re.compile(
    f"{_SIP_USER}[A-Za-z0-9.\\-]+{_SIP_TAIL}"  # host name or IPv4 address
    f"|{_SIP_USER}\\[[0-9A-Fa-f:.]+\\]{_SIP_TAIL}"  # [IPv6 address]
)


def register_admin(objects: SubParsers) -> None:
    _register_account(objects)
    _register_user(objects)
    _register_key(objects)
    _register_number(objects)
    _register_employee(objects)
    _register_blacklist(objects)
    _register_media(objects)
    _register_numbering_plan(objects)
    _register_session(objects)
    _register_db(objects)


def _actions(objects: SubParsers, name: str, help: str) -> SubParsers:
    parser = objects.add_parser(name, help=help, description=help)
    return parser.add_subparsers(dest="action", metavar="ACTION", required=True)


def _account_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("account", metavar="ACCOUNT", help="account id or name")


def _already(was: bool) -> str:
    return " (it already was)" if was else ""


def _list_for_account(
    args: argparse.Namespace,
    fetch: Callable[[sa.Connection, int], Iterable[dict[str, Any]]],
    columns: list[str],
    time_columns: tuple[str, ...] = ("created_at",),
) -> None:
    """The ``list ACCOUNT`` commands: rows of one account, as a table or JSON."""
    with database(args) as (_config, engine), engine.connect() as conn:
        account_id = store.resolve_account(conn, args.account)
        rows = [with_iso_times(r, time_columns) for r in fetch(conn, account_id)]
    emit(args, rows, lambda: format_table(rows, columns))


# --- input checks (CliError: printed, exit 1, nothing changed) -----------------------------


def e164_number(text: str) -> str:
    """A phone number in E.164 (``+`` optional) → its digits, as stored and as the API sends."""
    # Imported here: phonenumbers' geocoder data takes a noticeable part of a second to load.
    from vestnik.calls.numbers import MAX_EXTENSION_DIGITS, normalize_e164, valid_e164

    digits = normalize_e164(text.strip())
    # Shorter digit strings are internal extensions, not E.164 numbers.
    if digits is None or len(digits) <= MAX_EXTENSION_DIGITS:
        raise CliError(f"{text!r} is not a phone number in E.164 form (e.g. 74993720692)")
    if not valid_e164(digits):
        raise CliError(f"{text!r} is not a valid phone number")
    return digits


def text_value(text: str, column: sa.Column[Any], what: str) -> str:
    """Stripped ``text`` that fits ``column``: not empty, no control characters, not too long."""
    value = text.strip()
    if not value:
        raise CliError(f"{what} must not be empty")
    if any(ch < " " or ch == "\x7f" for ch in value):
        raise CliError(f"{what} must not contain control characters")
    limit = getattr(column.type, "length", None)
    if limit is not None and len(value) > limit:
        raise CliError(f"{what} is longer than {limit} characters")
    return value


def account_name(text: str) -> str:
    name = text_value(text, accounts.c.name, "account name")
    if name.isdigit():
        # ACCOUNT arguments take an id or a name: an all-digit name would be ambiguous.
        raise CliError("account name must not be a number")
    return name


def sip_uri(text: str) -> str:
    uri = text.strip()
    if not uri.lower().startswith(("sip:", "sips:")):
        uri = "sip:" + uri
    if not _SIP_URI.match(uri):
        raise CliError(f"{text!r} is not a SIP URI of the form sip:user@host[:port]")
    return text_value(uri, employees.c.sip_uri, "SIP URI")


def cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        raise CliError(
            f"{text!r} is not an IP network (e.g. 192.0.2.0/24 or 2001:db8::/32)"
        ) from None


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


def method_weight(text: str) -> tuple[str, int | None]:
    method, sep, weight = text.partition("=")
    method = method.strip()
    if not sep or not _METHOD_NAME.match(method):
        raise CliError(f"--method-weight {text!r}: expected METHOD=N, e.g. start.informer_call=2")
    if not weight.strip():
        return method, None  # back to the default weight
    try:
        value = int(weight)
    except ValueError:
        raise CliError(f"--method-weight {text!r}: weight must be a whole number") from None
    if value < 0:
        raise CliError(f"--method-weight {text!r}: weight must not be negative")
    return method, value


# --- accounts ------------------------------------------------------------------------------


def _register_account(objects: SubParsers) -> None:
    actions = _actions(objects, "account", "create, change and inspect accounts")
    p = command_parser(
        actions,
        "create",
        help="create an account with the default settings",
        handler=account_create,
    )
    p.add_argument("name", metavar="NAME")

    p = command_parser(actions, "set", help="change an account's settings", handler=account_set)
    _account_argument(p)
    active = p.add_mutually_exclusive_group()
    active.add_argument(
        "--active",
        dest="is_active",
        action="store_const",
        const=True,
        help="allow the account to use the API",
    )
    active.add_argument(
        "--inactive",
        dest="is_active",
        action="store_const",
        const=False,
        help="refuse every request of the account",
    )
    p.add_argument("--name", dest="new_name", metavar="NAME", help="rename the account")
    p.add_argument(
        "--informer-call",
        type=on_off,
        metavar="on|off",
        help="the informer-call component (start.informer_call)",
    )
    p.add_argument(
        "--number-management",
        type=on_off,
        metavar="on|off",
        help="automatic number management (the non-fixed usage rules)",
    )
    p.add_argument("--minute-limit", type=non_negative_int, metavar="N", help="points per minute")
    p.add_argument("--day-limit", type=non_negative_int, metavar="N", help="points per day")
    p.add_argument(
        "--tts-max-length", type=positive_int, metavar="N", help="longest TTS text, characters"
    )
    p.add_argument(
        "--max-concurrent-calls",
        type=positive_int,
        metavar="N",
        help="calls of this account at the same time",
    )
    allow = p.add_mutually_exclusive_group()
    allow.add_argument(
        "--ip-allow",
        action="extend",
        nargs="+",
        metavar="CIDR",
        help="replace the IP allow-list with these networks (several after one --ip-allow, "
        "or repeat the option)",
    )
    allow.add_argument(
        "--ip-allowlist",
        metavar="'CIDR,CIDR'",
        help="replace the IP allow-list with a comma-separated list ('' = nobody)",
    )
    p.add_argument("--mobile", type=on_off, metavar="on|off", help="calls to mobile numbers")
    p.add_argument(
        "--long-distance", type=on_off, metavar="on|off", help="calls outside the home region"
    )
    p.add_argument(
        "--international", type=on_off, metavar="on|off", help="calls outside the home country"
    )
    p.add_argument("--home-region", metavar="TEXT", help="home region ('' = none)")
    p.add_argument("--home-country", metavar="CC", help="home country, ISO 3166 code (RU)")
    p.add_argument(
        "--method-weight",
        action="append",
        metavar="METHOD=N",
        help="points a method costs; repeatable; METHOD= restores the default",
    )

    p = command_parser(
        actions,
        "show",
        help="an account with its users, keys, numbers, employees",
        handler=account_show,
    )
    _account_argument(p)
    command_parser(actions, "list", help="all accounts", handler=account_list)
    p = command_parser(
        actions,
        "deactivate",
        help="refuse every request of the account (as account set --inactive)",
        handler=account_deactivate,
    )
    _account_argument(p)
    p.add_argument(
        "--release-calls",
        action="store_true",
        help="also end its calls: queued ones now, calls in progress by their dialer",
    )
    p = command_parser(
        actions, "activate", help="let the account use the API again", handler=account_activate
    )
    _account_argument(p)
    p = command_parser(
        actions,
        "remove",
        help="delete an account that has no call session, with everything it owns",
        handler=account_remove,
    )
    _account_argument(p)


def account_create(args: argparse.Namespace) -> None:
    name = account_name(args.name)
    with database(args) as (config, engine), engine.begin() as conn:
        account_id = store.create_account(conn, name, config.limits)
        account = store.get_account(conn, account_id)
    data = _account_json(account)
    emit(args, data, lambda: f"account {account_id} created\n{_account_text(data)}")


def account_set(args: argparse.Namespace) -> None:
    changes: dict[str, Any] = {}
    if args.is_active is not None:
        changes["is_active"] = args.is_active
    if args.new_name is not None:
        changes["name"] = account_name(args.new_name)
    simple = {
        "informer_call": "informer_call_enabled",
        "number_management": "number_management_enabled",
        "minute_limit": "minute_limit",
        "day_limit": "day_limit",
        "tts_max_length": "tts_max_length",
        "max_concurrent_calls": "max_concurrent_calls",
        "mobile": "allow_mobile",
        "long_distance": "allow_long_distance",
        "international": "allow_international",
    }
    for option, column in simple.items():
        value = getattr(args, option)
        if value is not None:
            changes[column] = value
    if args.ip_allow is not None:
        changes["ip_allowlist"] = _dedupe(cidr(item) for item in args.ip_allow)
    if args.ip_allowlist is not None:
        items = [item for item in args.ip_allowlist.split(",") if item.strip()]
        changes["ip_allowlist"] = _dedupe(cidr(item) for item in items)
    if args.home_region is not None:
        changes["home_region"] = (
            text_value(args.home_region, accounts.c.home_region, "--home-region")
            if args.home_region.strip()
            else None
        )
    if args.home_country is not None:
        country = args.home_country.strip().upper()
        import phonenumbers

        if country not in phonenumbers.SUPPORTED_REGIONS:
            raise CliError(f"--home-country {args.home_country!r} is not a known country code")
        changes["home_country"] = country
    weights = [method_weight(item) for item in args.method_weight or ()]
    if not changes and not weights:
        raise CliError("nothing to change: give at least one option (see --help)")
    with database(args) as (_config, engine), engine.begin() as conn:
        account_id = store.resolve_account(conn, args.account)
        if "name" in changes and store.name_taken(conn, changes["name"], account_id):
            raise CliError(f"account {changes['name']!r} already exists")
        if weights:
            merged = dict(store.get_account(conn, account_id)["method_weights"])
            for method, weight in weights:
                if weight is None:
                    merged.pop(method, None)
                else:
                    merged[method] = weight
            changes["method_weights"] = merged
        store.update_account(conn, account_id, **changes)
        account = store.get_account(conn, account_id)
    data = _account_json(account)
    if changes.get("ip_allowlist") == [] and not args.json:
        sys.stderr.write("note: the IP allow-list is empty: no address may use the API\n")
    emit(args, data, lambda: f"account {account_id} updated\n{_account_text(data)}")


def account_show(args: argparse.Namespace) -> None:
    with database(args) as (_config, engine), engine.connect() as conn:
        account_id = store.resolve_account(conn, args.account)
        data = _account_json(store.get_account(conn, account_id))
        data["users"] = [
            with_iso_times(u, ["created_at"]) for u in store.list_users(conn, account_id)
        ]
        data["keys"] = [
            with_iso_times(k, ["expires_at", "created_at"])
            for k in store.list_keys(conn, account_id, TokenKind.PERMANENT)
        ]
        data["numbers"] = [
            with_iso_times(n, ["created_at"]) for n in store.list_numbers(conn, account_id)
        ]
        data["employees"] = [
            with_iso_times(e, ["created_at"]) for e in store.list_employees(conn, account_id)
        ]
        data["blacklist_size"] = len(store.blacklist_list(conn, account_id))

    def text() -> str:
        parts = [_account_text(data)]
        parts.append("\nusers:\n" + format_table(data["users"], ["id", "login", "is_active"]))
        parts.append(
            "\nkeys:\n"
            + format_table(data["keys"], ["id", "is_blocked", "expires_at_iso", "created_at_iso"])
        )
        parts.append(
            "\nnumbers:\n" + format_table(data["numbers"], ["id", "number", "region", "status"])
        )
        parts.append("\nemployees:\n" + format_table(data["employees"], ["id", "sip_uri"]))
        return "\n".join(parts)

    emit(args, data, text)


def account_list(args: argparse.Namespace) -> None:
    with database(args) as (_config, engine), engine.connect() as conn:
        rows = [_account_json(a) for a in store.list_accounts(conn)]
    emit(
        args,
        rows,
        lambda: format_table(
            rows,
            [
                "id",
                "name",
                "is_active",
                "informer_call_enabled",
                "minute_limit",
                "day_limit",
                "created_at_iso",
            ],
        ),
    )


def account_activate(args: argparse.Namespace) -> None:
    with database(args) as (_config, engine), engine.begin() as conn:
        account_id = store.resolve_account(conn, args.account)
        was_active = _set_active(conn, account_id, True)
    data = {"account_id": account_id, "is_active": True, "was_active": was_active}
    emit(args, data, f"account {account_id} is active{_already(was_active)}")


def account_deactivate(args: argparse.Namespace) -> None:
    with database(args) as (_config, engine), engine.begin() as conn:
        account_id = store.resolve_account(conn, args.account)
        was_active = _set_active(conn, account_id, False)
        unfinished = session_store.unfinished_session_ids(conn, account_id)
        releases = (
            [session_store.release_session(conn, sid, now()) for sid in unfinished]
            if args.release_calls
            else []
        )
    ended = {
        outcome: [int(r.session["id"]) for r in releases if r.outcome is outcome and r.session]
        for outcome in (ReleaseOutcome.RELEASED, ReleaseOutcome.REQUESTED)
    }
    data = {
        "account_id": account_id,
        "is_active": False,
        "was_active": was_active,
        "released": ended[ReleaseOutcome.RELEASED],
        "release_requested": ended[ReleaseOutcome.REQUESTED],
        "unfinished_sessions": [] if args.release_calls else unfinished,
    }
    emit(args, data, lambda: _deactivate_text(data))


def _deactivate_text(data: dict[str, Any]) -> str:
    lines = [
        f"account {data['account_id']} is inactive{_already(not data['was_active'])}: "
        "every request is refused"
    ]
    if data["released"]:
        lines.append(
            f"released {len(data['released'])} queued sessions: "
            + ", ".join(map(str, data["released"]))
        )
    if data["release_requested"]:
        lines.append(
            f"asked the dialer to hang up {len(data['release_requested'])} calls: "
            + ", ".join(map(str, data["release_requested"]))
        )
    if data["unfinished_sessions"]:
        lines.append(
            f"note: {len(data['unfinished_sessions'])} queued or in-progress sessions "
            "go on (--release-calls ends them)"
        )
    return "\n".join(lines)


def _set_active(conn: sa.Connection, account_id: int, active: bool) -> bool:
    """Switch the account on or off; returns whether it was active."""
    was_active = bool(store.get_account(conn, account_id)["is_active"])
    store.update_account(conn, account_id, is_active=active)
    return was_active


def account_remove(args: argparse.Namespace) -> None:
    with database(args) as (config, engine):
        with engine.begin() as conn:
            account_id = store.resolve_account(conn, args.account)
            name = store.get_account(conn, account_id)["name"]
            media = store.remove_account(conn, account_id)
        _delete_audio(config, media)
    data = {
        "account_id": account_id,
        "name": name,
        "removed": True,
        "media_files_deleted": len(media),
    }
    emit(
        args,
        data,
        f"account {account_id} ({name}) removed, with its users, keys, numbers, "
        "employees, blacklist, audio files and webhooks",
    )


def _account_json(account: dict[str, Any]) -> dict[str, Any]:
    return with_iso_times(account, ACCOUNT_TIME_COLUMNS)


def _account_text(data: dict[str, Any]) -> str:
    base = {k: v for k, v in data.items() if not isinstance(v, list) or k == "ip_allowlist"}
    return format_fields(base, skip=("created_at", "blacklist_size"))


def _dedupe(items: Any) -> list[str]:
    return list(dict.fromkeys(items))


# --- users and keys ------------------------------------------------------------------------


def _register_user(objects: SubParsers) -> None:
    actions = _actions(objects, "user", "API users (login.user)")
    p = command_parser(
        actions, "create", help="create a user who can log in with login.user", handler=user_create
    )
    _account_argument(p)
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
    _account_argument(p)
    p = command_parser(
        actions,
        "remove",
        help="delete a user; whoever logged in as the user is logged out at once",
        handler=user_remove,
    )
    p.add_argument("login", metavar="LOGIN")


def _password(text: str) -> str:
    password = sys.stdin.readline().rstrip("\r\n") if text == "-" else text
    if not password.strip():
        raise CliError("password must not be empty")
    return password


def user_create(args: argparse.Namespace) -> None:
    login = text_value(args.login, users.c.login, "login")
    if login != args.login:
        raise CliError("login must not have surrounding spaces")
    password = _password(args.password)
    with database(args) as (_config, engine), engine.begin() as conn:
        account_id = store.resolve_account(conn, args.account)
        user_id = store.create_user(conn, account_id, login, password)
    data = {"user_id": user_id, "account_id": account_id, "login": login}
    emit(args, data, f"user {user_id} ({login}) created in account {account_id}")


def user_set(args: argparse.Namespace) -> None:
    password = _password(args.password) if args.password is not None else None
    if password is None and args.is_active is None:
        raise CliError("nothing to change: give --password, --active or --inactive")
    with database(args) as (_config, engine), engine.begin() as conn:
        user = store.update_user(conn, args.login, password=password, is_active=args.is_active)
    data = {"user_id": user["id"], **{k: v for k, v in user.items() if k != "id"}}
    data["password_changed"] = password is not None
    state = "active" if user["is_active"] else "inactive"
    emit(args, data, f"user {user['id']} ({args.login}) updated: {state}"
         + (", new password" if password is not None else "")
         + "; its sessions are logged out")  # fmt: skip


def user_list(args: argparse.Namespace) -> None:
    _list_for_account(args, store.list_users, ["id", "login", "is_active", "created_at_iso"])


def user_remove(args: argparse.Namespace) -> None:
    with database(args) as (_config, engine), engine.begin() as conn:
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


def _register_key(objects: SubParsers) -> None:
    actions = _actions(objects, "key", "permanent API keys")
    p = command_parser(
        actions, "create", help="issue a permanent API key (shown once)", handler=key_create
    )
    _account_argument(p)
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
    _account_argument(p)


def key_create(args: argparse.Namespace) -> None:
    expires_at = expiry(args.expires) if args.expires is not None else None
    with database(args) as (_config, engine), engine.begin() as conn:
        account_id = store.resolve_account(conn, args.account)
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
    with database(args) as (_config, engine), engine.begin() as conn:
        key = store.get_key(conn, args.key_id)
        store.block_key(conn, args.key_id)
    data = {
        "key_id": args.key_id,
        "account_id": key["account_id"],
        "is_blocked": True,
        "was_blocked": bool(key["is_blocked"]),
    }
    emit(args, data, f"key {args.key_id} is blocked{_already(bool(key['is_blocked']))}")


def key_remove(args: argparse.Namespace) -> None:
    with database(args) as (_config, engine), engine.begin() as conn:
        key = store.remove_key(conn, args.key_id)
    data = {
        "key_id": args.key_id,
        "account_id": key["account_id"],
        "kind": key["kind"],
        "removed": True,
    }
    emit(args, data, f"key {args.key_id} removed from account {key['account_id']}")


def key_list(args: argparse.Namespace) -> None:
    _list_for_account(
        args,
        partial(store.list_keys, kind=TokenKind.PERMANENT),
        ["id", "is_blocked", "expires_at_iso", "created_at_iso"],
        ("expires_at", "created_at"),
    )


# --- numbers, employees, blacklist ---------------------------------------------------------


def _register_number(objects: SubParsers) -> None:
    actions = _actions(objects, "number", "the account's virtual (caller) numbers")
    p = command_parser(actions, "add", help="add a virtual number", handler=number_add)
    _account_argument(p)
    p.add_argument("number", metavar="NUMBER", help="E.164, e.g. 74993720692 or +74993720692")
    p.add_argument("--region", metavar="TEXT", help="region, for the regional usage rules")
    p = command_parser(actions, "list", help="an account's virtual numbers", handler=number_list)
    _account_argument(p)
    for action, help, handler in (
        ("disable", "stop calling from a number (status manual_lock)", number_disable),
        ("enable", "call from a disabled number again (status active)", number_enable),
        ("remove", "delete a number (past sessions keep it)", number_remove),
    ):
        p = command_parser(actions, action, help=help, handler=handler)
        _account_argument(p)
        p.add_argument("number", metavar="NUMBER", help="E.164, e.g. 74993720692")


def number_add(args: argparse.Namespace) -> None:
    number = e164_number(args.number)
    region = None
    if args.region is not None and args.region.strip():
        region = text_value(args.region, virtual_numbers.c.region, "--region")
    with database(args) as (_config, engine), engine.begin() as conn:
        account_id = store.resolve_account(conn, args.account)
        number_id = store.add_number(conn, account_id, number, region)
    data = {"number_id": number_id, "account_id": account_id, "number": number, "region": region}
    emit(
        args,
        data,
        f"number {number} added to account {account_id} (id {number_id}, region {region or '-'})",
    )


def number_list(args: argparse.Namespace) -> None:
    _list_for_account(args, store.list_numbers, ["id", "number", "region", "status"])


def number_disable(args: argparse.Namespace) -> None:
    _number_status(args, store.NUMBER_DISABLED)


def number_enable(args: argparse.Namespace) -> None:
    _number_status(args, store.NUMBER_ACTIVE)


def _number_status(args: argparse.Namespace, status: str) -> None:
    number = e164_number(args.number)
    with database(args) as (_config, engine), engine.begin() as conn:
        account_id = store.resolve_account(conn, args.account)
        before = store.set_number_status(conn, account_id, number, status)
    data = {"account_id": account_id, "number": number, "status": status, "previous_status": before}
    state = "enabled" if status == store.NUMBER_ACTIVE else "disabled"
    emit(
        args,
        data,
        f"number {number} of account {account_id} is {state} ({status})"
        + _already(before == status),
    )


def number_remove(args: argparse.Namespace) -> None:
    number = e164_number(args.number)
    with database(args) as (_config, engine), engine.begin() as conn:
        account_id = store.resolve_account(conn, args.account)
        row = store.remove_number(conn, account_id, number)
    data = {"number_id": row["id"], "account_id": account_id, "number": number, "removed": True}
    emit(args, data, f"number {number} removed from account {account_id}")


def _register_employee(objects: SubParsers) -> None:
    actions = _actions(objects, "employee", "employees' SIP URIs (callable as a contact)")
    p = command_parser(actions, "add", help="register an employee's SIP URI", handler=employee_add)
    _account_argument(p)
    p.add_argument("sip_uri", metavar="SIP_URI", help="sip:user@host[:port]")
    p = command_parser(actions, "list", help="an account's employees", handler=employee_list)
    _account_argument(p)
    p = command_parser(
        actions, "remove", help="delete an employee's SIP URI", handler=employee_remove
    )
    _account_argument(p)
    p.add_argument("sip_uri", metavar="SIP_URI", help="sip:user@host[:port]")


def _employee(conn: sa.Connection, account_id: int, uri: str) -> dict[str, Any] | None:
    """The account's employee whose URI the API would match to ``uri``."""
    from vestnik.calls.numbers import sip_key

    for known in store.list_employees(conn, account_id):
        # The API matches contacts by this key (host case and URI parameters ignored).
        if sip_key(known["sip_uri"]) == sip_key(uri):
            return known
    return None


def employee_add(args: argparse.Namespace) -> None:
    uri = sip_uri(args.sip_uri)
    with database(args) as (_config, engine), engine.begin() as conn:
        account_id = store.resolve_account(conn, args.account)
        known = _employee(conn, account_id, uri)
        if known is not None:
            raise CliError(f"employee {known['sip_uri']} is already registered")
        employee_id = store.add_employee(conn, account_id, uri)
    data = {"employee_id": employee_id, "account_id": account_id, "sip_uri": uri}
    emit(args, data, f"employee {uri} added to account {account_id} (id {employee_id})")


def employee_list(args: argparse.Namespace) -> None:
    _list_for_account(args, store.list_employees, ["id", "sip_uri"])


def employee_remove(args: argparse.Namespace) -> None:
    uri = sip_uri(args.sip_uri)
    with database(args) as (_config, engine), engine.begin() as conn:
        account_id = store.resolve_account(conn, args.account)
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


def _register_blacklist(objects: SubParsers) -> None:
    actions = _actions(objects, "blacklist", "numbers the account must never call")
    p = command_parser(actions, "add", help="add a number", handler=blacklist_add)
    _account_argument(p)
    p.add_argument("number", metavar="NUMBER", help="E.164 number or an employee's SIP URI")
    p.add_argument("--comment", metavar="TEXT")
    p = command_parser(actions, "remove", help="remove a number", handler=blacklist_remove)
    _account_argument(p)
    p.add_argument("number", metavar="NUMBER")
    p = command_parser(actions, "list", help="the account's blacklist", handler=blacklist_list)
    _account_argument(p)


def _blacklist_entry(text: str) -> str:
    if text.strip().lower().startswith(("sip:", "sips:")):
        return sip_uri(text)
    return e164_number(text)


def blacklist_add(args: argparse.Namespace) -> None:
    number = _blacklist_entry(args.number)
    with database(args) as (_config, engine), engine.begin() as conn:
        account_id = store.resolve_account(conn, args.account)
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
    number = _blacklist_entry(args.number)
    with database(args) as (_config, engine), engine.begin() as conn:
        account_id = store.resolve_account(conn, args.account)
        if not store.blacklist_remove(conn, account_id, number):
            raise CliError(f"{number} is not in the blacklist of account {account_id}")
    data = {"account_id": account_id, "number": number, "removed": True}
    emit(args, data, f"{number} removed from the blacklist of account {account_id}")


def blacklist_list(args: argparse.Namespace) -> None:
    _list_for_account(args, store.blacklist_list, ["id", "number", "comment", "created_at_iso"])


# --- media and the numbering plan (implemented in other modules) ---------------------------


def _register_media(objects: SubParsers) -> None:
    actions = _actions(objects, "media", "audio files for message type 'media'")
    p = command_parser(
        actions, "add", help="upload an audio file (WAV, MP3, OGG, FLAC)", handler=media_add
    )
    _account_argument(p)
    p.add_argument("file", metavar="FILE")
    p.add_argument("--name", metavar="NAME", help="display name (default: the file name)")
    p = command_parser(
        actions, "list", help="an account's audio files and the system ones", handler=media_list
    )
    _account_argument(p)
    p.add_argument("--all", dest="include_removed", action="store_true", help="removed files too")
    p = command_parser(
        actions,
        "remove",
        help="remove a file of the account: new calls cannot use it, past sessions keep its id",
        handler=media_remove,
    )
    _account_argument(p)
    p.add_argument("media_id", metavar="ID", type=record_id, help="media_file_id")


def media_list(args: argparse.Namespace) -> None:
    def fetch(conn: sa.Connection, account_id: int) -> list[dict[str, Any]]:
        rows = media_store.list_media_files(conn, account_id, include_removed=args.include_removed)
        return [{"media_file_id": r["id"], **r} for r in rows]

    columns = ["id", "type", "name", "format", "duration_ms", "original_filename"]
    if args.include_removed:
        columns.append("removed_at_iso")
    _list_for_account(args, fetch, columns, ("created_at", "removed_at"))


def media_remove(args: argparse.Namespace) -> None:
    with database(args) as (config, engine):
        with engine.begin() as conn:
            account_id = store.resolve_account(conn, args.account)
            removal = media_store.remove_media_file(conn, account_id, args.media_id)
        # Sessions accepted before the removal still play the file: its audio stays for them.
        files_deleted = removal.unfinished_sessions == 0
        if files_deleted:
            _delete_audio(config, [removal.file])
    row = removal.file
    data = {
        "media_file_id": row["id"],
        "account_id": account_id,
        "name": row["name"],
        **with_iso_times({"removed_at": row["removed_at"]}, ["removed_at"]),
        "was_removed": removal.was_removed,
        "unfinished_sessions": removal.unfinished_sessions,
        "files_deleted": files_deleted,
    }
    emit(args, data, lambda: _media_removed_text(data, args.account))


def _media_removed_text(data: dict[str, Any], account: str) -> str:
    head = (
        f"media file {data['media_file_id']} ({data['name']}) removed from account "
        f"{data['account_id']}{_already(data['was_removed'])}"
    )
    if data["files_deleted"]:
        return f"{head}; its audio files are deleted"
    return (
        f"{head}; its audio files are kept for {data['unfinished_sessions']} queued or "
        "in-progress sessions that will still play it: run "
        f"'vestnik admin media remove {account} {data['media_file_id']}' again once they "
        "have finished to delete them"
    )


def _delete_audio(config: Config, rows: Iterable[dict[str, Any]]) -> None:
    """Delete the audio files of removed media rows (after their transaction committed)."""
    from vestnik.media.audiofile import delete_media_files

    for row in rows:
        delete_media_files(config.data_path, row)


def media_add(args: argparse.Namespace) -> None:
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{args.file}: no such file")
    try:
        from vestnik.media.audiofile import MediaError, MediaLimits, import_media_file
    except ModuleNotFoundError as exc:
        if exc.name != "vestnik.media.audiofile":
            raise
        raise CliError(
            "audio conversion is not available in this build (vestnik.media.audiofile is missing)"
        ) from None
    with database(args) as (config, engine), engine.begin() as conn:
        account_id = store.resolve_account(conn, args.account)
        try:
            media_id = import_media_file(
                conn,
                account_id,
                path,
                args.name,
                config.data_path,
                limits=MediaLimits.from_config(config.media),
            )
        except MediaError as exc:
            raise CliError(f"{args.file}: {exc}") from None
        row = media_store.get_media_file(conn, media_id)
        data = {"media_file_id": media_id, **with_iso_times(row, ["created_at"])}
    del data["id"]
    emit(args, data, lambda: format_fields(data, skip=("created_at", "removed_at")))


def _register_numbering_plan(objects: SubParsers) -> None:
    actions = _actions(objects, "numbering-plan", "the national numbering-plan registry")
    p = command_parser(
        actions, "import", help="load ranges from a CSV file", handler=numbering_plan_import
    )
    p.add_argument("file", metavar="FILE")


def numbering_plan_import(args: argparse.Namespace) -> None:
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{args.file}: no such file")
    try:
        from vestnik.store.numbering import import_csv
    except ModuleNotFoundError as exc:
        if exc.name != "vestnik.store.numbering":
            raise
        raise CliError(
            "numbering-plan import is not available in this build "
            "(vestnik.store.numbering is missing)"
        ) from None
    from vestnik.store.numbering import NumberingPlanError

    with database(args) as (_config, engine), engine.begin() as conn:
        try:
            count = import_csv(conn, path)
        except NumberingPlanError as exc:
            raise CliError(f"{args.file}: {exc}") from None
    emit(args, {"imported": count, "file": str(path)}, f"{count} ranges imported from {path}")


# --- call sessions -------------------------------------------------------------------------


def _register_session(objects: SubParsers) -> None:
    actions = _actions(objects, "session", "call sessions: state, outcome, SIP code, timings")
    p = command_parser(
        actions, "show", help="every stored field of one session", handler=session_show
    )
    p.add_argument("session_id", metavar="ID", type=record_id)
    p = command_parser(
        actions,
        "release",
        help="end a session as release.call does: a queued one now, a call by its dialer",
        handler=session_release,
    )
    p.add_argument("session_id", metavar="ID", type=record_id)
    p = command_parser(actions, "list", help="recent sessions, newest first", handler=session_list)
    p.add_argument("--account", metavar="ACCOUNT", help="account id or name")
    p.add_argument("--state", choices=[s.value for s in CallState])
    p.add_argument(
        "--finish-reason", choices=[r.value for r in FinishReason], metavar="REASON",
        help="only sessions that ended so (success_finish, subscriber_busy, ...)",
    )  # fmt: skip
    p.add_argument("--external-id", metavar="TEXT", help="the client's external_id")
    p.add_argument("--contact", metavar="NUMBER", help="the contact as stored (digits or URI)")
    p.add_argument(
        "--limit",
        type=positive_int,
        default=SESSION_LIST_DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N sessions (default {SESSION_LIST_DEFAULT_LIMIT})",
    )


def session_json(row: Any) -> dict[str, Any]:
    return {"call_session_id": row["id"], **with_iso_times(dict(row), SESSION_TIME_COLUMNS)}


def session_show(args: argparse.Namespace) -> None:
    with database(args) as (_config, engine), engine.connect() as conn:
        row = session_store.get_session(conn, args.session_id)
    if row is None:
        raise CliError(f"call session {args.session_id} not found")
    data = session_json(row)
    human = {k: v for k, v in data.items() if k not in SESSION_TIME_COLUMNS and k != "id"}
    emit(args, data, lambda: format_fields(human))


def session_release(args: argparse.Namespace) -> None:
    with database(args) as (_config, engine), engine.begin() as conn:
        release = session_store.release_session(conn, args.session_id, now())
    if release.session is None:
        raise CliError(f"call session {args.session_id} not found")
    row = release.session
    if release.outcome is ReleaseOutcome.FINISHED:
        raise CliError(
            f"call session {args.session_id} is already finished ({row['finish_reason']})"
        )
    data = {
        "call_session_id": args.session_id,
        "account_id": row["account_id"],
        "outcome": release.outcome.value,
        "state": row["state"],
        "finish_reason": row["finish_reason"],
    }
    if release.outcome is ReleaseOutcome.RELEASED:
        text = f"call session {args.session_id} was queued: finished now (released)"
    else:
        text = (
            f"call session {args.session_id} is {row['state']}: release requested, its "
            "dialer hangs up and finishes it (released)"
        )
    emit(args, data, text)


def session_list(args: argparse.Namespace) -> None:
    filters = {
        "state": args.state,
        "finish_reason": args.finish_reason,
        "external_id": args.external_id,
        "contact": args.contact.strip().removeprefix("+") if args.contact else None,
    }
    with database(args) as (_config, engine), engine.connect() as conn:
        if args.account is not None:
            filters["account_id"] = store.resolve_account(conn, args.account)
        found = session_store.list_sessions(conn, filters, args.limit)
    rows = [session_json(r) for r in found]
    columns = [
        "id",
        "account_id",
        "state",
        "finish_reason",
        "sip_code",
        "caller_number",
        "contact",
        "created_at_iso",
    ]
    emit(args, rows, lambda: format_table(rows, columns))


# --- database ------------------------------------------------------------------------------


def _register_db(objects: SubParsers) -> None:
    actions = _actions(objects, "db", "the database itself")
    command_parser(
        actions, "migrate", help="bring the schema to the newest version", handler=db_migrate
    )


def db_migrate(args: argparse.Namespace) -> None:
    from alembic.runtime.migration import MigrationContext

    with database(args) as (_config, engine), engine.connect() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
        url = engine.url.render_as_string(hide_password=True)
    data = {"database": url, "revision": revision}
    emit(args, data, f"{url} is at schema revision {revision}")
