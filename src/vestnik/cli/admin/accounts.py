"""``vestnik admin account …``: create, change, inspect, switch off and remove accounts."""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

from vestnik.auth import TokenKind
from vestnik.cli.admin.policy import (
    add_policy_options,
    policy_change,
    policy_requested,
    policy_text,
    shown_policy,
)
from vestnik.cli.admin.shared import (
    account_argument,
    already,
    delete_audio,
    object_actions,
    text_value,
)
from vestnik.cli.common import (
    CliError,
    SubParsers,
    command_parser,
    database,
    emit,
    format_fields,
    format_table,
    non_negative_int,
    on_off,
    positive_int,
    reading,
    transaction,
    with_iso_times,
)
from vestnik.store import accounts as store
from vestnik.store import sessions as session_store
from vestnik.store.admin_blacklist import blacklist_list
from vestnik.store.admin_numbers import list_employees, list_numbers
from vestnik.store.admin_users import list_keys, list_users
from vestnik.store.db import Connection, now
from vestnik.store.db import transaction as engine_transaction
from vestnik.store.sessions import ReleaseOutcome

ACCOUNT_TIME_COLUMNS = ("created_at",)
_METHOD_NAME = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*$")

# ``account set`` options whose value goes into one column unchanged:
# (option, column, type, metavar, help), in --help order.
_Setting = tuple[str, str, Callable[[str], Any], str, str]
_LIMIT_SETTINGS: tuple[_Setting, ...] = (
    ("--informer-call", "informer_call_enabled", on_off, "on|off",
     "the informer-call component (start.informer_call)"),
    ("--number-management", "number_management_enabled", on_off, "on|off",
     "automatic number management (the non-fixed usage rules)"),
    ("--minute-limit", "minute_limit", non_negative_int, "N", "points per minute"),
    ("--day-limit", "day_limit", non_negative_int, "N", "points per day"),
    ("--tts-max-length", "tts_max_length", positive_int, "N", "longest TTS text, characters"),
    ("--max-concurrent-calls", "max_concurrent_calls", positive_int, "N",
     "calls of this account at the same time"),
)  # fmt: skip
_DIRECTION_SETTINGS: tuple[_Setting, ...] = (
    ("--mobile", "allow_mobile", on_off, "on|off", "calls to mobile numbers"),
    ("--long-distance", "allow_long_distance", on_off, "on|off", "calls outside the home region"),
    ("--international", "allow_international", on_off, "on|off",
     "calls outside the home country"),
)  # fmt: skip


def register(objects: SubParsers) -> None:
    actions = object_actions(objects, "account", "create, change and inspect accounts")
    p = command_parser(
        actions,
        "create",
        help="create an account with the default settings",
        handler=account_create,
    )
    p.add_argument("name", metavar="NAME")
    _register_set(actions)
    p = command_parser(
        actions,
        "show",
        help="an account with its users, keys, numbers, employees",
        handler=account_show,
    )
    account_argument(p)
    command_parser(actions, "list", help="all accounts", handler=account_list)
    p = command_parser(
        actions,
        "deactivate",
        help="refuse every request of the account (as account set --inactive)",
        handler=account_deactivate,
    )
    account_argument(p)
    p.add_argument(
        "--release-calls",
        action="store_true",
        help="also end its calls: queued ones now, calls in progress by their dialer",
    )
    p = command_parser(
        actions, "activate", help="let the account use the API again", handler=account_activate
    )
    account_argument(p)
    p = command_parser(
        actions,
        "remove",
        help="delete an account that has no call session, with everything it owns",
        handler=account_remove,
    )
    account_argument(p)


def _register_set(actions: SubParsers) -> None:
    p = command_parser(actions, "set", help="change an account's settings", handler=account_set)
    account_argument(p)
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
    _add_settings(p, _LIMIT_SETTINGS)
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
    _add_settings(p, _DIRECTION_SETTINGS)
    p.add_argument("--home-region", metavar="TEXT", help="home region ('' = none)")
    p.add_argument("--home-country", metavar="CC", help="home country, ISO 3166 code (RU)")
    p.add_argument(
        "--method-weight",
        action="append",
        metavar="METHOD=N",
        help="points a method costs; repeatable; METHOD= restores the default",
    )
    add_policy_options(p)


def _add_settings(parser: argparse.ArgumentParser, settings: Iterable[_Setting]) -> None:
    for option, column, kind, metavar, help in settings:
        parser.add_argument(option, dest=column, type=kind, metavar=metavar, help=help)


# --- input checks --------------------------------------------------------------------------


def account_name(text: str) -> str:
    name = text_value(text, store.NAME_LENGTH, "account name")
    if name.isdigit():
        # ACCOUNT arguments take an id or a name: an all-digit name would be ambiguous.
        raise CliError("account name must not be a number")
    return name


def cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        raise CliError(
            f"{text!r} is not an IP network (e.g. 192.0.2.0/24 or 2001:db8::/32)"
        ) from None


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


def home_country(text: str) -> str:
    import phonenumbers

    country = text.strip().upper()
    if country not in phonenumbers.SUPPORTED_REGIONS:
        raise CliError(f"--home-country {text!r} is not a known country code")
    return country


# --- commands ------------------------------------------------------------------------------


def account_create(args: argparse.Namespace) -> None:
    name = account_name(args.name)
    with database(args) as (config, engine), engine_transaction(engine) as conn:
        account_id = store.create_account(conn, name, config.limits)
        account = store.get_account(conn, account_id)
    data = _account_json(account)
    emit(args, data, lambda: f"account {account_id} created\n{_account_text(data)}")


def account_set(args: argparse.Namespace) -> None:
    changes = _setting_changes(args)
    weights = [method_weight(item) for item in args.method_weight or ()]
    if not changes and not weights and not policy_requested(args):
        raise CliError("nothing to change: give at least one option (see --help)")
    with transaction(args) as conn:
        account_id = store.resolve_account(conn, args.account)
        if policy_requested(args):
            policy_change(conn, account_id, args)
        if "name" in changes and store.name_taken(conn, changes["name"], account_id):
            raise CliError(f"account {changes['name']!r} already exists")
        if weights:
            changes["method_weights"] = _merged_weights(conn, account_id, weights)
        if changes:
            store.update_account(conn, account_id, **changes)
        account = store.get_account(conn, account_id)
    data = _account_json(account)
    if changes.get("ip_allowlist") == [] and not args.json:
        sys.stderr.write("note: the IP allow-list is empty: no address may use the API\n")
    emit(args, data, lambda: f"account {account_id} updated\n{_account_text(data)}")


def _setting_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The columns ``account set`` changes, every value checked."""
    changes: dict[str, Any] = {}
    if args.is_active is not None:
        changes["is_active"] = args.is_active
    if args.new_name is not None:
        changes["name"] = account_name(args.new_name)
    for _option, column, *_rest in (*_LIMIT_SETTINGS, *_DIRECTION_SETTINGS):
        value = getattr(args, column)
        if value is not None:
            changes[column] = value
    if args.ip_allow is not None:
        changes["ip_allowlist"] = _dedupe(cidr(item) for item in args.ip_allow)
    if args.ip_allowlist is not None:
        items = [item for item in args.ip_allowlist.split(",") if item.strip()]
        changes["ip_allowlist"] = _dedupe(cidr(item) for item in items)
    if args.home_region is not None:
        changes["home_region"] = (
            text_value(args.home_region, store.HOME_REGION_LENGTH, "--home-region")
            if args.home_region.strip()
            else None
        )
    if args.home_country is not None:
        changes["home_country"] = home_country(args.home_country)
    return changes


def _merged_weights(
    conn: Connection, account_id: int, weights: list[tuple[str, int | None]]
) -> dict[str, int]:
    """The account's method weights with ``weights`` applied (None: back to the default)."""
    merged = dict(store.get_account(conn, account_id)["method_weights"])
    for method, weight in weights:
        if weight is None:
            merged.pop(method, None)
        else:
            merged[method] = weight
    return merged


def account_show(args: argparse.Namespace) -> None:
    with reading(args) as conn:
        account_id = store.resolve_account(conn, args.account)
        data = _account_json(store.get_account(conn, account_id))
        data["users"] = [with_iso_times(u, ["created_at"]) for u in list_users(conn, account_id)]
        data["keys"] = [
            with_iso_times(k, ["expires_at", "created_at"])
            for k in list_keys(conn, account_id, TokenKind.PERMANENT)
        ]
        data["numbers"] = [
            with_iso_times(n, ["created_at"]) for n in list_numbers(conn, account_id)
        ]
        data["employees"] = [
            with_iso_times(e, ["created_at"]) for e in list_employees(conn, account_id)
        ]
        data["blacklist_size"] = len(blacklist_list(conn, account_id))
    emit(args, data, lambda: _account_show_text(data))


def _account_show_text(data: dict[str, Any]) -> str:
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


def account_list(args: argparse.Namespace) -> None:
    with reading(args) as conn:
        rows = [_account_json(a) for a in store.list_accounts(conn)]
    columns = [
        "id",
        "name",
        "is_active",
        "informer_call_enabled",
        "minute_limit",
        "day_limit",
        "created_at_iso",
    ]
    emit(args, rows, lambda: format_table(rows, columns))


def account_activate(args: argparse.Namespace) -> None:
    with transaction(args) as conn:
        account_id = store.resolve_account(conn, args.account)
        was_active = _set_active(conn, account_id, True)
    data = {"account_id": account_id, "is_active": True, "was_active": was_active}
    emit(args, data, f"account {account_id} is active{already(was_active)}")


def account_deactivate(args: argparse.Namespace) -> None:
    with transaction(args) as conn:
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
        f"account {data['account_id']} is inactive{already(not data['was_active'])}: "
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


def _set_active(conn: Connection, account_id: int, active: bool) -> bool:
    """Switch the account on or off; returns whether it was active."""
    was_active = bool(store.get_account(conn, account_id)["is_active"])
    store.update_account(conn, account_id, is_active=active)
    return was_active


def account_remove(args: argparse.Namespace) -> None:
    with database(args) as (config, engine):
        with engine_transaction(engine) as conn:
            account_id = store.resolve_account(conn, args.account)
            name = store.get_account(conn, account_id)["name"]
            media = store.remove_account(conn, account_id)
        delete_audio(config, media)
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
    return {**with_iso_times(account, ACCOUNT_TIME_COLUMNS), **shown_policy(account)}


def _account_text(data: dict[str, Any]) -> str:
    base = {k: v for k, v in data.items() if not isinstance(v, list) or k == "ip_allowlist"}
    if "call_policy" in base:
        base["call_policy"] = policy_text(base["call_policy"])
    return format_fields(base, skip=("created_at", "blacklist_size"))


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
