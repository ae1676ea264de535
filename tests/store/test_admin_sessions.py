"""``store.admin_sessions``: the demo's watch for new and unfinished sessions, both backends."""

from __future__ import annotations

from sqlalchemy import Engine

from tests.support.admin_cli import insert_session
from vestnik.config import LimitsConfig
from vestnik.store.accounts import create_account
from vestnik.store.admin_sessions import sessions_after_or_in


def test_sessions_after_the_newest_seen_and_the_listed_ones_oldest_first(engine: Engine) -> None:
    with engine.begin() as conn:
        account_id = create_account(conn, "acme", LimitsConfig())
    ids = [insert_session(engine, account_id) for _ in range(5)]
    with engine.connect() as conn:
        newer = sessions_after_or_in(conn, ids[2], [])
        with_listed = sessions_after_or_in(conn, ids[3], {ids[0], ids[2]})
        nothing = sessions_after_or_in(conn, ids[-1], set())
    assert [r["id"] for r in newer] == ids[3:]
    assert [r["id"] for r in with_listed] == [ids[0], ids[2], ids[4]]
    assert with_listed[0]["state"] == "queued" and with_listed[0]["account_id"] == account_id
    assert nothing == []
