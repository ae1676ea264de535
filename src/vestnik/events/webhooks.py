"""Webhook endpoints and their deliveries: administration (add, list, remove, replay)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.calls.events import EventType
from vestnik.events.templates import TemplateError, check_template
from vestnik.store.db import now
from vestnik.store.schema import accounts, call_events, webhook_deliveries, webhooks

# A secret shorter than this is refused: the signature is only as strong as the secret.
MIN_SECRET_LENGTH = 16


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt, or in flight under a lease
    DELIVERED = "delivered"  # the endpoint answered 2xx
    PARKED = "parked"  # retries exhausted (horizon passed); visible, can be replayed


class WebhookError(ValueError):
    """A webhook request that cannot be carried out (message is user-facing)."""


def parse_events(events: str | Iterable[str]) -> list[str]:
    """``"call_started,call_finished"`` or a list → validated event type names, in order."""
    items = events.split(",") if isinstance(events, str) else list(events)
    names = [item.strip() for item in items if item.strip()]
    if not names:
        raise WebhookError("at least one event type is required")
    known = {e.value for e in EventType}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise WebhookError(
            f"unknown event type(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return list(dict.fromkeys(names))


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"webhook URL must be http(s)://host/..., got {url!r}")


def add_webhook(
    conn: Connection,
    account_id: int,
    url: str,
    events: str | Iterable[str],
    secret: str,
    body_template: str | None = None,
) -> int:
    """Register an endpoint for ``account_id``; returns its id. Nothing is written on error."""
    _check_url(url)
    names = parse_events(events)
    if len(secret) < MIN_SECRET_LENGTH:
        raise WebhookError(f"secret must be at least {MIN_SECRET_LENGTH} characters")
    if body_template is not None:
        try:
            check_template(body_template)
        except TemplateError as exc:
            raise WebhookError(str(exc)) from exc
    if conn.execute(sa.select(accounts.c.id).where(accounts.c.id == account_id)).first() is None:
        raise WebhookError(f"account {account_id} not found")
    return int(
        conn.execute(
            webhooks.insert().values(
                account_id=account_id,
                url=url,
                events=names,
                secret=secret,
                body_template=body_template,
                is_active=True,
                created_at=now(),
            )
        ).inserted_primary_key[0]
    )


def list_webhooks(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """The account's endpoints (secrets included: this is an administrator's view)."""
    rows = conn.execute(
        sa.select(webhooks).where(webhooks.c.account_id == account_id).order_by(webhooks.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def remove_webhook(conn: Connection, webhook_id: int) -> None:
    """Deactivate an endpoint: no new deliveries; pending ones are parked (kept for audit)."""
    result = conn.execute(
        webhooks.update().where(webhooks.c.id == webhook_id).values(is_active=False)
    )
    if result.rowcount == 0:
        raise WebhookError(f"webhook {webhook_id} not found")
    conn.execute(
        webhook_deliveries.update()
        .where(
            webhook_deliveries.c.webhook_id == webhook_id,
            webhook_deliveries.c.state == DeliveryState.PENDING.value,
        )
        .values(state=DeliveryState.PARKED.value, last_error="webhook removed")
    )


def list_deliveries(
    conn: Connection,
    *,
    state: DeliveryState | str | None = None,
    account_id: int | None = None,
    webhook_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Deliveries, newest first, with their event type and endpoint URL."""
    query = (
        sa.select(
            webhook_deliveries,
            call_events.c.event_type,
            webhooks.c.url,
            webhooks.c.account_id,
        )
        .join(call_events, call_events.c.id == webhook_deliveries.c.event_id)
        .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
        .order_by(webhook_deliveries.c.id.desc())
        .limit(limit)
    )
    if state is not None:
        query = query.where(webhook_deliveries.c.state == DeliveryState(state).value)
    if account_id is not None:
        query = query.where(webhooks.c.account_id == account_id)
    if webhook_id is not None:
        query = query.where(webhook_deliveries.c.webhook_id == webhook_id)
    return [dict(r) for r in conn.execute(query).mappings()]


def replay_deliveries(
    conn: Connection, delivery_ids: Sequence[int] | None = None, *, all_parked: bool = False
) -> int:
    """Put parked deliveries back in the queue with a fresh retry horizon; returns how many.

    A replayed delivery is sent as soon as a worker is free, regardless of later events of the
    same session that were delivered meanwhile (documented: replay breaks per-session order).
    """
    if not all_parked and not delivery_ids:
        raise WebhookError("give delivery ids or --all-parked")
    where = [webhook_deliveries.c.state == DeliveryState.PARKED.value]
    if not all_parked:
        ids = list(delivery_ids or ())
        found = {
            int(r[0])
            for r in conn.execute(
                sa.select(webhook_deliveries.c.id).where(webhook_deliveries.c.id.in_(ids))
            )
        }
        missing = sorted(set(ids) - found)
        if missing:
            raise WebhookError(f"delivery not found: {', '.join(map(str, missing))}")
        where.append(webhook_deliveries.c.id.in_(ids))
    # Deliveries of removed endpoints stay parked: replaying them would go nowhere.
    active_hooks = sa.select(webhooks.c.id).where(webhooks.c.is_active.is_(True))
    where.append(webhook_deliveries.c.webhook_id.in_(active_hooks))
    t = now()
    result = conn.execute(
        webhook_deliveries.update()
        .where(*where)
        .values(
            state=DeliveryState.PENDING.value,
            attempts=0,
            next_attempt_at=t,
            created_at=t,
            last_error=None,
        )
    )
    return int(result.rowcount)


def prune(conn: Connection, before: float) -> tuple[int, int]:
    """Delete delivered deliveries and fully delivered events older than ``before``.

    Pending and parked deliveries, and the events they belong to, are kept whatever their age.
    Returns (deliveries deleted, events deleted). Sessions and reports are not touched.
    """
    d, e = webhook_deliveries, call_events
    deliveries = conn.execute(
        d.delete().where(d.c.state == DeliveryState.DELIVERED.value, d.c.created_at < before)
    ).rowcount
    still_referenced = sa.select(d.c.event_id).where(d.c.event_id == e.c.id).exists()
    events = conn.execute(
        e.delete().where(e.c.created_at < before, e.c.dispatched.is_(True), ~still_referenced)
    ).rowcount
    return int(deliveries), int(events)
