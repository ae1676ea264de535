"""Webhook endpoints: registration, listing, deactivation.

What an endpoint may be (URL, event types, secret, body template) is checked by
``vestnik.events.webhooks`` before anything is written here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.store.db import inserted_id, now
from vestnik.store.deliveries import DeliveryState
from vestnik.store.schema import accounts, webhook_deliveries, webhooks


def insert_webhook(
    conn: Connection,
    account_id: int,
    url: str,
    events: list[str],
    secret: str,
    body_template: str | None,
) -> int | None:
    """Register an active endpoint; its id, or None when the account does not exist."""
    if conn.execute(sa.select(accounts.c.id).where(accounts.c.id == account_id)).first() is None:
        return None
    return inserted_id(
        conn.execute(
            webhooks.insert().values(
                account_id=account_id,
                url=url,
                events=events,
                secret=secret,
                body_template=body_template,
                is_active=True,
                created_at=now(),
            )
        )
    )


def list_webhooks(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """The account's endpoints (secrets included: this is an administrator's view)."""
    rows = conn.execute(
        sa.select(webhooks).where(webhooks.c.account_id == account_id).order_by(webhooks.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def deactivate_webhook(conn: Connection, webhook_id: int) -> bool:
    """No new deliveries; pending ones are parked (kept for audit). False: no such endpoint."""
    result = conn.execute(
        webhooks.update().where(webhooks.c.id == webhook_id).values(is_active=False)
    )
    if result.rowcount == 0:
        return False
    conn.execute(
        webhook_deliveries.update()
        .where(
            webhook_deliveries.c.webhook_id == webhook_id,
            webhook_deliveries.c.state == DeliveryState.PENDING.value,
        )
        .values(state=DeliveryState.PARKED.value, last_error="webhook removed")
    )
    return True
