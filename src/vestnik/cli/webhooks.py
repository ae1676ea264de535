"""``vestnik admin webhook …``: endpoints and their deliveries (see docs/events.md).

vestnik admin webhook add ACCOUNT URL --events call_started,call_finished --secret S
vestnik admin webhook list ACCOUNT
vestnik admin webhook remove ID
vestnik admin webhook deliveries [--state parked] [--account A] [--limit N]
vestnik admin webhook replay DELIVERY_ID... | --all-parked
vestnik admin webhook prune --older-than-days N
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vestnik.cli.admin.shared import account_argument, object_actions
from vestnik.cli.common import (
    CliError,
    SubParsers,
    command_parser,
    emit,
    format_fields,
    format_table,
    positive_int,
    reading,
    transaction,
    with_iso_times,
)
from vestnik.events.webhooks import WebhookError, add_webhook, remove_webhook, replay_deliveries
from vestnik.store.accounts import resolve_account
from vestnik.store.db import now
from vestnik.store.deliveries import DeliveryState, list_deliveries, prune
from vestnik.store.webhooks import list_webhooks

# A template larger than this is surely a mistake (it is sent with every event).
MAX_TEMPLATE_BYTES = 65_536


def register_admin(objects: SubParsers) -> None:
    actions = object_actions(
        objects,
        "webhook",
        "webhook endpoints and deliveries",
        "Webhook endpoints (signed event notifications) and their deliveries.",
    )

    add = command_parser(actions, "add", help="register an endpoint", handler=_add)
    account_argument(add)
    add.add_argument("url", metavar="URL", help="http(s) URL that receives POSTs")
    add.add_argument(
        "--events",
        required=True,
        help="comma-separated: call_started, call_answered, call_finished, attempt_failed",
    )
    add.add_argument("--secret", required=True, help="HMAC secret (at least 16 characters)")
    add.add_argument(
        "--template", metavar="FILE", help="body template with {{variable}} placeholders"
    )

    lst = command_parser(actions, "list", help="an account's endpoints", handler=_list)
    account_argument(lst)
    lst.add_argument("--show-secrets", action="store_true", help="print the secrets too")

    rm = command_parser(
        actions, "remove", help="deactivate an endpoint (its pending deliveries are parked)",
        handler=_remove,
    )  # fmt: skip
    rm.add_argument("id", metavar="ID", type=positive_int)

    dl = command_parser(actions, "deliveries", help="list deliveries", handler=_deliveries)
    dl.add_argument("--state", choices=[s.value for s in DeliveryState])
    dl.add_argument("--account", metavar="ACCOUNT", help="account id or name")
    dl.add_argument("--webhook", metavar="ID", type=positive_int)
    dl.add_argument("--limit", type=positive_int, default=50)

    rp = command_parser(
        actions, "replay", help="send parked deliveries again (fresh retry horizon)",
        handler=_replay,
    )  # fmt: skip
    rp.add_argument("ids", metavar="DELIVERY_ID", type=positive_int, nargs="*")
    rp.add_argument("--all-parked", action="store_true", help="every parked delivery")

    pr = command_parser(
        actions, "prune",
        help="delete delivered deliveries and their events older than N days "
        "(pending and parked ones are kept)",
        handler=_prune,
    )  # fmt: skip
    pr.add_argument("--older-than-days", type=positive_int, required=True, metavar="N")


def _read_template(path: str | None) -> str | None:
    if path is None:
        return None
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read template {path}: {exc.strerror}") from exc
    if len(data) > MAX_TEMPLATE_BYTES:
        raise CliError(f"template {path} is larger than {MAX_TEMPLATE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(f"template {path} is not UTF-8") from exc


def _public(row: dict[str, Any], show_secret: bool) -> dict[str, Any]:
    out = with_iso_times(row, ("created_at",))
    if not show_secret:
        out["secret"] = "****"
    return out


def _add(args: argparse.Namespace) -> None:
    template = _read_template(args.template)
    with transaction(args) as conn:
        account_id = resolve_account(conn, args.account)
        try:
            hook_id = add_webhook(conn, account_id, args.url, args.events, args.secret, template)
        except WebhookError as exc:
            raise CliError(str(exc)) from exc
        row = next(h for h in list_webhooks(conn, account_id) if h["id"] == hook_id)
    data = _public(row, show_secret=False)
    emit(args, data, lambda: f"webhook {hook_id} added\n" + format_fields(data))


def _list(args: argparse.Namespace) -> None:
    with reading(args) as conn:
        account_id = resolve_account(conn, args.account)
        rows = [_public(h, args.show_secrets) for h in list_webhooks(conn, account_id)]
    columns = ["id", "url", "events", "is_active", "created_at_iso"]
    if args.show_secrets:
        columns.append("secret")
    emit(args, rows, lambda: format_table(rows, columns))


def _remove(args: argparse.Namespace) -> None:
    with transaction(args) as conn:
        try:
            remove_webhook(conn, args.id)
        except WebhookError as exc:
            raise CliError(str(exc)) from exc
    emit(args, {"id": args.id, "is_active": False}, f"webhook {args.id} removed")


def _deliveries(args: argparse.Namespace) -> None:
    with reading(args) as conn:
        account_id = resolve_account(conn, args.account) if args.account else None
        rows = [
            with_iso_times(r, ("next_attempt_at", "delivered_at", "created_at"))
            for r in list_deliveries(
                conn,
                state=args.state,
                account_id=account_id,
                webhook_id=args.webhook,
                limit=args.limit,
            )
        ]
    columns = [
        "id", "event_id", "event_type", "call_session_id", "webhook_id", "state", "attempts",
        "last_status", "last_error", "url",
    ]  # fmt: skip
    emit(args, rows, lambda: format_table(rows, columns))


def _replay(args: argparse.Namespace) -> None:
    if bool(args.ids) == bool(args.all_parked):
        raise CliError("give DELIVERY_ID(s) or --all-parked (not both)")
    with transaction(args) as conn:
        try:
            count = replay_deliveries(conn, args.ids or None, all_parked=args.all_parked)
        except WebhookError as exc:
            raise CliError(str(exc)) from exc
    emit(
        args,
        {"replayed": count},
        f"{count} deliver{'y' if count == 1 else 'ies'} queued again"
        + ("" if count or args.all_parked else " (only parked deliveries can be replayed)"),
    )


def _prune(args: argparse.Namespace) -> None:
    cutoff = now() - args.older_than_days * 86_400
    with transaction(args) as conn:
        deliveries, events = prune(conn, cutoff)
    emit(
        args,
        {"deliveries_deleted": deliveries, "events_deleted": events},
        f"deleted {deliveries} delivered deliveries and {events} events",
    )
