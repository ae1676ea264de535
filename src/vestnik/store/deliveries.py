"""Webhook deliveries: fan-out of call events, claims with leases, attempts, replay, pruning.

* **Fan-out.** One transaction reads a batch of undispatched events in id order, inserts one
  delivery per subscribed endpoint and marks the events dispatched, so an event is fanned out
  exactly once (the unique (event_id, webhook_id) pair guards it too). Only one dispatcher
  works at a time: on SQLite ``BEGIN IMMEDIATE`` already serialises writers, on PostgreSQL a
  transaction-level advisory lock does; this keeps event N of a session from reaching the
  queue after event N+1 when several processes run.
* **Claim.** A delivery is due when it is ``pending``, its ``next_attempt_at`` has come, and no
  earlier event of the same session is still ``pending`` for the same endpoint (event N+1 of a
  session never overtakes event N; a parked event no longer blocks). Claiming bumps
  ``attempts`` and pushes ``next_attempt_at`` past the lease, so a process that dies
  mid-request leaves the delivery to be claimed again when the lease runs out. PostgreSQL
  claims with ``FOR UPDATE SKIP LOCKED``; SQLite has one writer at a time anyway.
* **Attempts** are written fenced on ``attempts``, so a stale worker cannot overwrite a newer
  attempt. What an attempt leads to (delivered, retried later, parked) is decided by the
  worker (``vestnik.events.delivery``).

Functions take a ``Connection`` inside a transaction and commit nothing themselves, except
``dispatch_pending``, which runs one transaction of its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from vestnik.store.db import now
from vestnik.store.schema import call_events, webhook_deliveries, webhooks

DISPATCH_BATCH = 1000
# pg_advisory_xact_lock key: "vestnik dispatch" (any constant unique to this lock).
_PG_DISPATCH_LOCK = 0x7665_7374_6469_7370 & 0x7FFF_FFFF_FFFF_FFFF

_d = webhook_deliveries


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt, or in flight under a lease
    DELIVERED = "delivered"  # the endpoint answered 2xx
    PARKED = "parked"  # retries exhausted (horizon passed); visible, can be replayed


def dispatch_pending(engine: Engine, at: float, limit: int = DISPATCH_BATCH) -> int:
    """Run one dispatch transaction; returns how many events were fanned out."""
    with engine.begin() as conn:
        return dispatch_batch(conn, at, limit)


def dispatch_batch(conn: Connection, at: float, limit: int = DISPATCH_BATCH) -> int:
    """Fan out up to ``limit`` events inside ``conn``'s transaction; returns events handled."""
    if conn.dialect.name == "postgresql":
        got = conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(_PG_DISPATCH_LOCK)))
        if not got.scalar():
            return 0  # another process is dispatching; it will take these events
    events = conn.execute(
        sa.select(
            call_events.c.id,
            call_events.c.account_id,
            call_events.c.call_session_id,
            call_events.c.event_type,
        )
        .where(call_events.c.dispatched.is_(False))
        .order_by(call_events.c.id)
        .limit(limit)
    ).all()
    if not events:
        return 0
    account_ids = {e.account_id for e in events}
    hooks_by_account: dict[int, list[Any]] = defaultdict(list)
    for hook in conn.execute(
        sa.select(webhooks.c.id, webhooks.c.account_id, webhooks.c.events).where(
            webhooks.c.account_id.in_(account_ids), webhooks.c.is_active.is_(True)
        )
    ):
        hooks_by_account[hook.account_id].append(hook)
    rows = [
        {
            "event_id": e.id,
            "webhook_id": hook.id,
            "call_session_id": e.call_session_id,
            "state": DeliveryState.PENDING.value,
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
        }
        for e in events
        for hook in hooks_by_account.get(e.account_id, ())
        if e.event_type in (hook.events or ())
    ]
    if rows:
        conn.execute(webhook_deliveries.insert(), rows)
    ids = [e.id for e in events]
    conn.execute(call_events.update().where(call_events.c.id.in_(ids)).values(dispatched=True))
    return len(events)


@dataclass(frozen=True)
class Delivery:
    """One claimed delivery with everything needed to send it."""

    id: int
    event_id: int
    webhook_id: int
    attempt: int  # the value of ``attempts`` after this claim (the fence)
    created_at: float  # start of the retry horizon
    event_created_at: float
    event_type: str
    payload: Mapping[str, Any]
    url: str
    secret: str
    body_template: str | None


def claim_due(
    conn: Connection,
    at: float,
    limit: int,
    lease_seconds: float,
    free_slots: Mapping[int, int],
    per_endpoint: int,
) -> list[Delivery]:
    """Claim up to ``limit`` due deliveries, at most ``free_slots[hook]`` (default
    ``per_endpoint``) per endpoint; endpoints with no free slot are not even read."""
    chosen = _choose_due(conn, at, limit, free_slots, per_endpoint)
    if not chosen:
        return []
    ids = [delivery_id for delivery_id, _ in chosen]
    conn.execute(
        _d.update()
        .where(_d.c.id.in_(ids))
        .values(
            attempts=_d.c.attempts + 1,
            next_attempt_at=at + lease_seconds,
            # The retry horizon starts at the first attempt: time spent waiting behind an
            # earlier event of the same session does not count against it.
            created_at=sa.case((_d.c.attempts == 0, at), else_=_d.c.created_at),
        )
    )
    return _claimed(conn, dict(chosen), at)


def _choose_due(
    conn: Connection,
    at: float,
    limit: int,
    free_slots: Mapping[int, int],
    per_endpoint: int,
) -> list[tuple[int, int]]:
    """(delivery id, its attempt number after the claim) of the due deliveries to claim."""
    earlier = _d.alias("earlier")
    earlier_pending = (
        sa.select(earlier.c.id)
        .where(
            earlier.c.webhook_id == _d.c.webhook_id,
            earlier.c.call_session_id == _d.c.call_session_id,
            earlier.c.state == DeliveryState.PENDING.value,
            earlier.c.event_id < _d.c.event_id,
        )
        .exists()
    )
    query = (
        sa.select(_d.c.id, _d.c.webhook_id, _d.c.attempts)
        .where(
            _d.c.state == DeliveryState.PENDING.value,
            _d.c.next_attempt_at <= at,
            ~earlier_pending,
        )
        .order_by(_d.c.next_attempt_at, _d.c.id)
        .limit(limit)
    )
    saturated = [hook for hook, free in free_slots.items() if free <= 0]
    if saturated:
        query = query.where(_d.c.webhook_id.not_in(saturated))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=_d)
    taken: dict[int, int] = defaultdict(int)
    chosen: list[tuple[int, int]] = []
    for row in conn.execute(query):
        if taken[row.webhook_id] >= free_slots.get(row.webhook_id, per_endpoint):
            continue
        taken[row.webhook_id] += 1
        chosen.append((row.id, row.attempts + 1))
    return chosen


def _claimed(conn: Connection, attempt_of: dict[int, int], at: float) -> list[Delivery]:
    rows = conn.execute(
        sa.select(
            _d.c.id,
            _d.c.event_id,
            _d.c.webhook_id,
            _d.c.created_at,
            call_events.c.created_at.label("event_created_at"),
            call_events.c.event_type,
            call_events.c.payload,
            webhooks.c.url,
            webhooks.c.secret,
            webhooks.c.body_template,
        )
        .join(call_events, call_events.c.id == _d.c.event_id)
        .join(webhooks, webhooks.c.id == _d.c.webhook_id)
        .where(_d.c.id.in_(list(attempt_of)))
        .order_by(_d.c.id)
    )
    return [
        Delivery(
            id=r.id,
            event_id=r.event_id,
            webhook_id=r.webhook_id,
            attempt=attempt_of[r.id],
            created_at=at if attempt_of[r.id] == 1 else r.created_at,
            event_created_at=r.event_created_at,
            event_type=r.event_type,
            payload=r.payload,
            url=r.url,
            secret=r.secret,
            body_template=r.body_template,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Attempt:
    """What one attempt of a delivery led to, as it is to be stored."""

    delivery_id: int
    attempt: int  # the fence: written only if ``attempts`` still has this value
    state: DeliveryState
    next_attempt_at: float
    status: int | None
    error: str | None
    delivered_at: float | None


_RECORD_ATTEMPT = (
    _d.update()
    .where(
        _d.c.id == sa.bindparam("b_id"),
        _d.c.attempts == sa.bindparam("b_attempt"),
        _d.c.state == DeliveryState.PENDING.value,
    )
    .values(
        state=sa.bindparam("b_state"),
        next_attempt_at=sa.bindparam("b_next"),
        last_status=sa.bindparam("b_status"),
        last_error=sa.bindparam("b_error"),
        delivered_at=sa.bindparam("b_delivered_at"),
    )
)


def record_attempts(conn: Connection, attempts: Sequence[Attempt]) -> None:
    """Write attempts in one statement; a stale one (its delivery claimed again since, or no
    longer pending) changes nothing."""
    params = [
        {
            "b_id": a.delivery_id,
            "b_attempt": a.attempt,
            "b_state": a.state.value,
            "b_next": a.next_attempt_at,
            "b_status": a.status,
            "b_error": a.error,
            "b_delivered_at": a.delivered_at,
        }
        for a in attempts
    ]
    if params:
        conn.execute(_RECORD_ATTEMPT, params)


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
        sa.select(_d, call_events.c.event_type, webhooks.c.url, webhooks.c.account_id)
        .join(call_events, call_events.c.id == _d.c.event_id)
        .join(webhooks, webhooks.c.id == _d.c.webhook_id)
        .order_by(_d.c.id.desc())
        .limit(limit)
    )
    if state is not None:
        query = query.where(_d.c.state == DeliveryState(state).value)
    if account_id is not None:
        query = query.where(webhooks.c.account_id == account_id)
    if webhook_id is not None:
        query = query.where(_d.c.webhook_id == webhook_id)
    return [dict(r) for r in conn.execute(query).mappings()]


def missing_deliveries(conn: Connection, ids: Sequence[int]) -> list[int]:
    """Those of ``ids`` that name no delivery, in order."""
    found = {int(r[0]) for r in conn.execute(sa.select(_d.c.id).where(_d.c.id.in_(list(ids))))}
    return sorted(set(ids) - found)


def replay_parked(conn: Connection, ids: Sequence[int] | None) -> int:
    """Parked deliveries (of ``ids``, or all: None) back to pending with a fresh retry
    horizon; returns how many. Deliveries of removed endpoints stay parked."""
    where = [_d.c.state == DeliveryState.PARKED.value]
    if ids is not None:
        where.append(_d.c.id.in_(list(ids)))
    active_hooks = sa.select(webhooks.c.id).where(webhooks.c.is_active.is_(True))
    where.append(_d.c.webhook_id.in_(active_hooks))
    t = now()
    result = conn.execute(
        _d.update()
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
    e = call_events
    deliveries = conn.execute(
        _d.delete().where(_d.c.state == DeliveryState.DELIVERED.value, _d.c.created_at < before)
    ).rowcount
    still_referenced = sa.select(_d.c.event_id).where(_d.c.event_id == e.c.id).exists()
    events = conn.execute(
        e.delete().where(e.c.created_at < before, e.c.dispatched.is_(True), ~still_referenced)
    ).rowcount
    return int(deliveries), int(events)
