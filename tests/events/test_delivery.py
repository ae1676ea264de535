"""Webhook delivery against real HTTP receivers on loopback (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from tests.support.events import (
    ALL_EVENTS,
    SECRET,
    Receiver,
    delivery_states,
    down_url,
    make_account,
    make_call_session,
    record_call,
    running,
    worker_config,
)
from tests.support.processes import async_wait_until
from tests.support.tcp_proxy import TcpProxy
from vestnik.calls.events import EventType, notification_payload
from vestnik.config import Config
from vestnik.events.delivery import WebhookWorker
from vestnik.events.webhooks import add_webhook, remove_webhook, replay_deliveries
from vestnik.store import create_db_engine
from vestnik.store.deliveries import DeliveryState, list_deliveries
from vestnik.store.outbox import record_event
from vestnik.store.schema import call_events, webhook_deliveries


@contextlib.asynccontextmanager
async def worker(config: Config, engine: Engine) -> AsyncIterator[WebhookWorker]:
    w = WebhookWorker(config, engine)
    task = asyncio.create_task(w.run())
    try:
        yield w
    finally:
        await w.stop()
        await task


async def test_signed_payload_with_event_id_delivered_once(engine: Engine) -> None:
    receiver = Receiver()
    async with running(receiver):
        with engine.begin() as conn:
            account = make_account(conn)
            add_webhook(conn, account, receiver.url, ALL_EVENTS, SECRET)
            session = make_call_session(conn, account, external_id="order-42")
            event_id = record_event(conn, session, EventType.CALL_FINISHED, 1000.0)
        async with worker(worker_config(), engine):
            await async_wait_until(lambda: len(receiver.requests) >= 1, 10, "the delivery")
            await asyncio.sleep(0.3)  # nothing else should arrive
    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    assert got.signature_ok
    assert got.headers["x-vestnik-event-id"] == str(event_id)
    assert got.headers["x-vestnik-event"] == "call_finished"
    assert got.headers["content-type"] == "application/json"
    expected = notification_payload(session, EventType.CALL_FINISHED, 1000.0)
    assert got.body == {**expected, "event_id": event_id}
    assert got.body["external_id"] == "order-42"
    assert delivery_states(engine) == {"delivered": 1}


async def test_subscriptions_and_inactive_endpoints(engine: Engine) -> None:
    finished_only, removed = Receiver(), Receiver()
    async with running(finished_only, removed):
        with engine.begin() as conn:
            account = make_account(conn)
            other = make_account(conn, "other")
            add_webhook(conn, account, finished_only.url, "call_finished", SECRET)
            gone = add_webhook(conn, account, removed.url, ALL_EVENTS, SECRET)
            remove_webhook(conn, gone)
        ids = record_call(engine, account, 2)
        record_call(engine, other, 1)  # another account's events go to nobody here
        async with worker(worker_config(), engine):
            await async_wait_until(lambda: len(finished_only.requests) >= 2, 10, "2 finishes")
            await asyncio.sleep(0.3)
    assert {r.body["notification_mnemonic"] for r in finished_only.requests} == {"call_finished"}
    assert finished_only.delivered_ids() == set(ids[-2:])
    assert removed.requests == []
    with engine.connect() as conn:
        undispatched = conn.execute(
            sa.select(sa.func.count()).where(call_events.c.dispatched.is_(False))
        ).scalar()
    assert undispatched == 0


async def test_flaky_endpoint_retried_in_order_per_session(engine: Engine) -> None:
    # The first 7 requests fail with 503, whatever they are: retries must keep each session's
    # events in order (N+1 never reaches the endpoint before N was accepted).
    flaky = Receiver(behaviour=lambda n: 503 if n < 7 else 200)
    async with running(flaky):
        with engine.begin() as conn:
            account = make_account(conn)
            add_webhook(conn, account, flaky.url, ALL_EVENTS, SECRET)
        ids = record_call(engine, account, 5)
        async with worker(worker_config(), engine):
            await async_wait_until(lambda: flaky.delivered_ids() == set(ids), 20, "every event")
    assert all(r.signature_ok for r in flaky.requests)
    assert sum(r.status == 503 for r in flaky.requests) == 7
    order = ["call_started", "call_answered", "call_finished"]
    by_session: dict[int, list[Any]] = {}
    for r in flaky.requests:
        by_session.setdefault(r.body["call_session_id"], []).append(r)
    assert len(by_session) == 5
    for requests in by_session.values():
        accepted: list[str] = []
        for r in requests:
            # Anything sent must be the first event not yet accepted for this session.
            assert r.body["notification_mnemonic"] == order[len(accepted)]
            if r.status == 200:
                accepted.append(r.body["notification_mnemonic"])
        assert accepted == order
    with engine.connect() as conn:
        attempts = conn.execute(sa.select(sa.func.sum(webhook_deliveries.c.attempts))).scalar()
    assert attempts == 15 + 7
    assert delivery_states(engine) == {"delivered": 15}


async def test_hung_and_dead_endpoints_do_not_delay_others_then_park_and_replay(
    engine: Engine,
) -> None:
    healthy = Receiver()
    hanging_mode = {"hang": True}
    hanging = Receiver(behaviour=lambda _n: None if hanging_mode["hang"] else 200)
    dead = down_url()
    async with running(healthy, hanging):
        with engine.begin() as conn:
            account = make_account(conn)
            add_webhook(conn, account, hanging.url, ALL_EVENTS, SECRET)
            add_webhook(conn, account, dead, ALL_EVENTS, SECRET)
            add_webhook(conn, account, healthy.url, ALL_EVENTS, SECRET)
        config = worker_config(timeout_seconds=0.5, retry_horizon_seconds=2.0)
        async with worker(config, engine):
            loop = asyncio.get_running_loop()
            started = loop.time()
            ids = record_call(engine, account, 4)
            await async_wait_until(lambda: healthy.delivered_ids() == set(ids), 5, "healthy")
            # The healthy endpoint is not held up by the hanging one's 0.5 s timeouts.
            assert loop.time() - started < 1.5
            await async_wait_until(
                lambda: delivery_states(engine).get("parked", 0) == 24, 15, "24 parked"
            )
            with engine.connect() as conn:
                parked = list_deliveries(conn, state=DeliveryState.PARKED)
            assert {p["url"] for p in parked} == {hanging.url, dead}
            assert all(p["last_error"] for p in parked)
            assert any("timed out" in p["last_error"] for p in parked if p["url"] == hanging.url)
            assert all(p["attempts"] >= 2 for p in parked)
            # Heal the hanging endpoint and replay every parked delivery.
            hanging_mode["hang"] = False
            with engine.begin() as conn:
                assert replay_deliveries(conn, all_parked=True) == 24
            await async_wait_until(lambda: hanging.delivered_ids() == set(ids), 10, "replayed")
    assert len(healthy.requests) == len(ids)
    assert all(r.signature_ok for r in healthy.requests + hanging.requests)
    states = delivery_states(engine)
    assert states["delivered"] == 24  # healthy 12 + replayed 12
    # The dead endpoint's replayed deliveries are retrying again (or parked again).
    assert states.get("pending", 0) + states.get("parked", 0) == 12


async def test_body_template(engine: Engine) -> None:
    receiver = Receiver()
    template = '{"id": "{{call_session_id}}", "ev": {{event_id}}, "why": "{{finish_reason}}"}'
    async with running(receiver):
        with engine.begin() as conn:
            account = make_account(conn)
            add_webhook(conn, account, receiver.url, "call_finished", SECRET, template)
            session = make_call_session(conn, account, finish_reason="subscriber_busy")
            event_id = record_event(conn, session, EventType.CALL_FINISHED, 1.0)
        async with worker(worker_config(), engine):
            await async_wait_until(lambda: len(receiver.requests) == 1, 10, "the delivery")
    got = receiver.requests[0]
    assert got.signature_ok
    assert got.body == {"id": str(session.id), "ev": event_id, "why": "subscriber_busy"}


async def test_one_finished_event_per_session(engine: Engine) -> None:
    receiver = Receiver()
    async with running(receiver):
        with engine.begin() as conn:
            account = make_account(conn)
            add_webhook(conn, account, receiver.url, "call_finished", SECRET)
            sessions = [make_call_session(conn, account) for _ in range(3)]
        for s in sessions:
            # A final transition retried (e.g. after a crash) records the finish once.
            first = second = 0
            with engine.begin() as conn:
                first = record_event(conn, s, EventType.CALL_FINISHED, 5.0)
            with engine.begin() as conn:
                second = record_event(conn, s, EventType.CALL_FINISHED, 6.0)
            assert first == second
        async with worker(worker_config(), engine):
            await async_wait_until(lambda: len(receiver.requests) >= 3, 10, "3 finishes")
            await asyncio.sleep(0.3)
    per_session = {r.body["call_session_id"]: r.event_id for r in receiver.requests}
    assert len(receiver.requests) == 3
    assert set(per_session) == {s.id for s in sessions}


@pytest.mark.parametrize("n", [1])
def test_unknown_event_or_bad_url_rejected(engine: Engine, n: int) -> None:
    from vestnik.events.webhooks import WebhookError

    with engine.begin() as conn:
        account = make_account(conn)
    bad = [
        ("ftp://x/hook", ALL_EVENTS, SECRET, None),
        ("http://127.0.0.1/h", "call_started,call_exploded", SECRET, None),
        ("http://127.0.0.1/h", ALL_EVENTS, "short", None),
        ("http://127.0.0.1/h", ALL_EVENTS, SECRET, "{{no_such_variable}}"),
    ]
    for url, events, secret, template in bad:
        with pytest.raises(WebhookError), engine.begin() as conn:
            add_webhook(conn, account, url, events, secret, template)
    with engine.connect() as conn:
        from vestnik.store.webhooks import list_webhooks

        assert list_webhooks(conn, account) == []
    assert n == 1


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_outcome_that_arrives_during_an_outage_is_recorded_after_it(db_url: str) -> None:
    direct = create_db_engine(db_url)
    receiver = Receiver(delay=1.0)  # answers while the database link is cut
    async with running(receiver):
        with direct.begin() as conn:
            account = make_account(conn)
            add_webhook(conn, account, receiver.url, "call_finished", SECRET)
            record_event(conn, make_call_session(conn, account), EventType.CALL_FINISHED, 1000.0)
        with TcpProxy.in_front_of(db_url) as proxy:
            engine = create_db_engine(proxy.route(db_url), timeout=1.0)
            # The lease (5 timeouts + 5 s) outlasts the test: a second attempt would be a loss.
            async with worker(worker_config(timeout_seconds=3.0), engine):
                await async_wait_until(lambda: len(receiver.requests) == 1, 10, "the request")
                proxy.cut()
                await asyncio.sleep(2.0)
                proxy.forward()
                await async_wait_until(
                    lambda: delivery_states(direct) == {"delivered": 1}, 5, "the outcome"
                )
            engine.dispose()
    direct.dispose()
    assert len(receiver.requests) == 1
