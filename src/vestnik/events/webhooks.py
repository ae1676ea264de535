"""Webhook administration rules: what an endpoint may be, what a replay may name.

The rows are written by ``vestnik.store.webhooks`` and ``vestnik.store.deliveries``; here is
what is checked first, with user-facing errors (``WebhookError``), and nothing is written
when a check fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from vestnik.calls.events import EventType
from vestnik.events.templates import TemplateError, check_template
from vestnik.store import deliveries
from vestnik.store import webhooks as store
from vestnik.store.db import Connection

# A secret shorter than this is refused: the signature is only as strong as the secret.
MIN_SECRET_LENGTH = 16


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
    hook_id = store.insert_webhook(conn, account_id, url, names, secret, body_template)
    if hook_id is None:
        raise WebhookError(f"account {account_id} not found")
    return hook_id


def remove_webhook(conn: Connection, webhook_id: int) -> None:
    """Deactivate an endpoint: no new deliveries; pending ones are parked (kept for audit)."""
    if not store.deactivate_webhook(conn, webhook_id):
        raise WebhookError(f"webhook {webhook_id} not found")


def replay_deliveries(
    conn: Connection, delivery_ids: Sequence[int] | None = None, *, all_parked: bool = False
) -> int:
    """Put parked deliveries back in the queue with a fresh retry horizon; returns how many.

    A replayed delivery is sent as soon as a worker is free, regardless of later events of the
    same session that were delivered meanwhile (documented: replay breaks per-session order).
    """
    if all_parked:
        return deliveries.replay_parked(conn, None)
    if not delivery_ids:
        raise WebhookError("give delivery ids or --all-parked")
    ids = list(delivery_ids)
    missing = deliveries.missing_deliveries(conn, ids)
    if missing:
        raise WebhookError(f"delivery not found: {', '.join(map(str, missing))}")
    return deliveries.replay_parked(conn, ids)
