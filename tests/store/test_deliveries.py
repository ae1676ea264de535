"""Webhook deliveries in the database: fan-out, claims, fenced attempts, replay (both backends)."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy import Engine

from tests.support.events import SECRET, make_account, make_call_session
from vestnik.calls.events import EventType
from vestnik.store.deliveries import (
    Attempt,
    Delivery,
    DeliveryState,
    claim_due,
    dispatch_batch,
    missing_deliveries,
    record_attempts,
    replay_parked,
)
from vestnik.store.outbox import record_event
from vestnik.store.schema import webhook_deliveries
from vestnik.store.webhooks import deactivate_webhook, insert_webhook

ALL_EVENTS = [e.value for e in EventType]
LEASE = 30.0


def _hook(engine: Engine, account_id: int, events: list[str] = ALL_EVENTS) -> int:
    with engine.begin() as conn:
        hook_id = insert_webhook(conn, account_id, "http://127.0.0.1:9/hook", events, SECRET, None)
    assert hook_id is not None
    return hook_id


def _events(engine: Engine, account_id: int, kinds: list[EventType]) -> None:
    """One session with ``kinds`` recorded in order, fanned out."""
    with engine.begin() as conn:
        session = make_call_session(conn, account_id)
        for kind in kinds:
            record_event(conn, session, kind, session.created_at + 1)
        dispatch_batch(conn, time.time())


def _claim(engine: Engine, at: float) -> list[Delivery]:
    with engine.begin() as conn:
        return claim_due(conn, at, 100, LEASE, {}, 8)


def _states(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(webhook_deliveries.c.id, webhook_deliveries.c.state))
        return {int(i): str(state) for i, state in rows}


def _attempt(delivery_id: int, attempt: int, state: DeliveryState, at: float) -> Attempt:
    delivered_at = at if state is DeliveryState.DELIVERED else None
    return Attempt(delivery_id, attempt, state, at, 200, None, delivered_at)


def test_fan_out_once_to_the_subscribed_active_endpoints(engine: Engine) -> None:
    with engine.begin() as conn:
        account = make_account(conn)
    everything = _hook(engine, account)
    finishes = _hook(engine, account, ["call_finished"])
    removed = _hook(engine, account)
    with engine.begin() as conn:
        assert deactivate_webhook(conn, removed)
        session = make_call_session(conn, account)
        for kind in EventType:
            record_event(conn, session, kind, 1.0)
    with engine.begin() as conn:
        assert dispatch_batch(conn, 2.0) == len(EventType)  # attempt_failed among them
    with engine.begin() as conn:
        assert dispatch_batch(conn, 3.0) == 0  # each event once
    with engine.connect() as conn:
        hooks = [r[0] for r in conn.execute(sa.select(webhook_deliveries.c.webhook_id))]
    assert sorted(hooks) == sorted([everything] * len(EventType) + [finishes])


def test_claim_keeps_each_sessions_order_and_leases_what_it_took(engine: Engine) -> None:
    with engine.begin() as conn:
        account = make_account(conn)
    _hook(engine, account)
    _events(engine, account, [EventType.CALL_STARTED, EventType.CALL_FINISHED])
    at = time.time()
    [first] = _claim(engine, at)  # the second event waits for the first
    assert (first.event_type, first.attempt, first.created_at) == ("call_started", 1, at)
    assert _claim(engine, at) == []  # leased
    with engine.begin() as conn:
        record_attempts(conn, [_attempt(first.id, 1, DeliveryState.DELIVERED, at)])
    [second] = _claim(engine, at)
    assert second.event_type == "call_finished" and second.event_id > first.event_id


def test_a_stale_attempt_is_fenced_off(engine: Engine) -> None:
    with engine.begin() as conn:
        account = make_account(conn)
    _hook(engine, account)
    _events(engine, account, [EventType.CALL_FINISHED])
    at = time.time()
    assert [d.attempt for d in _claim(engine, at)] == [1]
    assert [d.attempt for d in _claim(engine, at + LEASE + 1)] == [2]  # the lease lapsed
    [delivery_id] = _states(engine)
    with engine.begin() as conn:  # the first attempt answers late: nothing changes
        record_attempts(conn, [_attempt(delivery_id, 1, DeliveryState.DELIVERED, at)])
    assert _states(engine) == {delivery_id: "pending"}
    with engine.begin() as conn:
        record_attempts(conn, [_attempt(delivery_id, 2, DeliveryState.PARKED, at)])
    assert _states(engine) == {delivery_id: "parked"}


def test_endpoints_without_free_slots_are_left_out(engine: Engine) -> None:
    with engine.begin() as conn:
        account = make_account(conn)
    busy = _hook(engine, account)
    idle = _hook(engine, account)
    for _ in range(3):
        _events(engine, account, [EventType.CALL_FINISHED])
    at = time.time()
    with engine.begin() as conn:
        claimed = claim_due(conn, at, 100, LEASE, {busy: 0}, 2)
    assert [d.webhook_id for d in claimed] == [idle, idle]  # per_endpoint = 2


def test_replay_names_parked_deliveries_of_active_endpoints(engine: Engine) -> None:
    with engine.begin() as conn:
        account = make_account(conn)
    kept = _hook(engine, account)
    gone = _hook(engine, account)
    _events(engine, account, [EventType.CALL_FINISHED])
    ids = sorted(_states(engine))
    with engine.begin() as conn:
        conn.execute(webhook_deliveries.update().values(state="parked", attempts=5))
        assert deactivate_webhook(conn, gone)
        assert missing_deliveries(conn, [ids[0], 999_999]) == [999_999]
        assert replay_parked(conn, None) == 1  # the removed endpoint's stays parked
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                webhook_deliveries.c.webhook_id,
                webhook_deliveries.c.state,
                webhook_deliveries.c.attempts,
            )
        ).all()
    assert sorted((hook, state, n) for hook, state, n in rows) == sorted(
        [(kept, "pending", 0), (gone, "parked", 5)]
    )
