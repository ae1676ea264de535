"""Webhook endpoints in the database (both backends)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Engine

from tests.support.events import SECRET, make_account, make_call_session
from vestnik.calls.events import EventType
from vestnik.store.deliveries import dispatch_batch
from vestnik.store.outbox import record_event
from vestnik.store.schema import webhook_deliveries, webhooks
from vestnik.store.webhooks import deactivate_webhook, insert_webhook, list_webhooks

URL = "http://127.0.0.1:9/hook"


def test_an_endpoint_needs_an_existing_account(engine: Engine) -> None:
    with engine.begin() as conn:
        account = make_account(conn)
        assert insert_webhook(conn, account + 1, URL, ["call_finished"], SECRET, None) is None
        hook_id = insert_webhook(conn, account, URL, ["call_finished"], SECRET, "{{event_id}}")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(webhooks)).scalar() == 1
        [hook] = list_webhooks(conn, account)
    assert hook["id"] == hook_id and hook["events"] == ["call_finished"]
    assert hook["is_active"] and hook["body_template"] == "{{event_id}}"


def test_deactivating_parks_the_pending_deliveries(engine: Engine) -> None:
    with engine.begin() as conn:
        account = make_account(conn)
        hook_id = insert_webhook(conn, account, URL, ["call_finished"], SECRET, None)
        assert hook_id is not None
        record_event(conn, make_call_session(conn, account), EventType.CALL_FINISHED, 1.0)
        dispatch_batch(conn, 1.0)
    with engine.begin() as conn:
        assert deactivate_webhook(conn, hook_id)
        assert not deactivate_webhook(conn, hook_id + 1)
        [hook] = list_webhooks(conn, account)
        delivery = conn.execute(sa.select(webhook_deliveries)).mappings().one()
    assert not hook["is_active"]
    assert (delivery["state"], delivery["last_error"]) == ("parked", "webhook removed")
