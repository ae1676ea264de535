"""Call sessions for the tests: accounts and queued sessions written straight to the tables, a
session's row and events read back, and a provisioned account's informer-call request."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from vestnik.config import LimitsConfig
from vestnik.store.accounts import create_account, update_account
from vestnik.store.db import now
from vestnik.store.schema import call_events, call_sessions


def new_account(conn: Connection, name: str = "acme", max_concurrent_calls: int = 200) -> int:
    account_id = create_account(conn, name, LimitsConfig())
    update_account(conn, account_id, max_concurrent_calls=max_concurrent_calls)
    return account_id


def queue_session(conn: Connection, account_id: int, **fields: Any) -> int:
    """A queued session as the API writes it (start.informer_call accepted)."""
    values: dict[str, Any] = {
        "account_id": account_id,
        "virtual_phone_number": "74993720692",
        "usage_rule": "fixed",
        "caller_number": "74993720692",
        "contact": "79260000001",
        "contact_kind": "phone",
        "direction": "out",
        "dtmf_string": "",
        "dialing_timeout": 30.0,
        "message_type": "tts",
        "message_value": "Здравствуйте",
        "state": "queued",
        "created_at": now(),
        "release_requested": False,
        "dial_attempts": 0,
    }
    values.update(fields)
    return int(conn.execute(call_sessions.insert().values(**values)).inserted_primary_key[0])


def session(engine: Engine, session_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = (
            conn.execute(sa.select(call_sessions).where(call_sessions.c.id == session_id))
            .mappings()
            .one()
        )
        return dict(row)


def events(engine: Engine, session_id: int) -> list[str]:
    """The session's event types, in order."""
    return [str(p["notification_mnemonic"]) for p in event_payloads(engine, session_id)]


VPN = "74993720692"


def provision(engine: Engine, name: str = "acme", max_concurrent_calls: int = 200) -> str:
    """An account with a virtual number and a permanent API key; returns the key."""
    from vestnik.auth import TokenKind
    from vestnik.store.admin_numbers import add_number
    from vestnik.store.admin_users import issue_token

    with engine.begin() as conn:
        account_id = new_account(conn, name, max_concurrent_calls)
        add_number(conn, account_id, VPN, None)
        return issue_token(conn, account_id, TokenKind.PERMANENT).access_token


def informer_call(
    token: str, contact: str, text: str = "Тестовое сообщение", **extra: Any
) -> dict[str, Any]:
    """A start.informer_call JSON-RPC body."""
    params: dict[str, Any] = {
        "access_token": token,
        "virtual_phone_number": VPN,
        "contact": contact,
        "contact_message": {"type": "tts", "value": text},
    }
    params.update(extra)
    return {"jsonrpc": "2.0", "id": 1, "method": "start.informer_call", "params": params}


def event_payloads(engine: Engine, session_id: int) -> list[dict[str, Any]]:
    """The session's events' payloads, in order."""
    with engine.connect() as conn:
        return [
            dict(r[0])
            for r in conn.execute(
                sa.select(call_events.c.payload)
                .where(call_events.c.call_session_id == session_id)
                .order_by(call_events.c.id)
            )
        ]


def queue_with_options(conn: Connection, account_id: int, options: Any, **fields: Any) -> int:
    """A queued session that runs with ``options`` (a ``CallOptions``), as the intake stores
    the effective options it resolved."""
    return queue_session(conn, account_id, options=options.to_json(), **fields)
