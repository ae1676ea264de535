"""Holding claimed sessions: lease renewal, release requests, recovery of lapsed leases.

Runs on SQLite and PostgreSQL (``engine`` fixture).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.support.sessions import events, session
from tests.support.work_queue import LEASE, begin, claim_ids, queue_sessions
from vestnik.calls import FinishReason
from vestnik.store import leases, sessions
from vestnik.store.db import now
from vestnik.store.schema import call_sessions


def test_dialled_session_is_never_redialled_after_lease_lapse(engine: Engine) -> None:
    _, ids = queue_sessions(engine, 1)
    claim_ids(engine, "dead/1", 1)
    assert begin(engine, ids[0], "dead/1").outcome is sessions.DialStart.STARTED
    later = now() + LEASE + 1
    assert claim_ids(engine, "live/1", 1, at=later) == []  # dialing: not claimable
    with engine.begin() as conn:
        assert leases.recover_expired(conn, now()).finished == []  # not lapsed yet
    with engine.begin() as conn:
        recovery = leases.recover_expired(conn, later)
    assert recovery.finished == ids and recovery.requeued == []
    row = session(engine, ids[0])
    assert row["state"] == "finished"
    assert row["finish_reason"] == "internal_error"
    assert "lease expired" in row["finish_detail"] and "dead/1" in row["finish_detail"]
    assert row["dial_attempts"] == 1
    assert events(engine, ids[0]) == ["call_started", "call_finished"]
    # A second sweep and the dead dialer's late writes change nothing.
    with engine.begin() as conn:
        assert leases.recover_expired(conn, later + 100).finished == []
        assert (
            sessions.finish_session(conn, ids[0], "dead/1", now(), FinishReason.SUCCESS_FINISH)
            is None
        )
        assert sessions.mark_answered(conn, ids[0], "dead/1", now()) is None
    assert session(engine, ids[0])["finish_reason"] == "internal_error"
    assert events(engine, ids[0]) == ["call_started", "call_finished"]


def test_previous_run_of_same_dialer_is_settled_at_once(engine: Engine) -> None:
    _, ids = queue_sessions(engine, 4)
    old = leases.lease_owner_for("host:5060", "run1")
    new = leases.lease_owner_for("host:5060", "run2")
    other = leases.lease_owner_for("host:50600", "run1")  # a prefix-alike, different dialer
    assert claim_ids(engine, old, 3) == ids[:3]
    assert claim_ids(engine, other, 1) == ids[3:]
    begin(engine, ids[0], old)  # dialing
    begin(engine, ids[1], old)
    with engine.begin() as conn:
        sessions.mark_answered(conn, ids[1], old, now(), "call-1@x")
    with engine.begin() as conn:
        recovery = leases.recover_previous_run(conn, "host:5060", new, now())
    assert recovery.finished == ids[:2]
    assert recovery.requeued == [ids[2]]
    for sid in ids[:2]:
        row = session(engine, sid)
        assert row["state"] == "finished" and row["finish_reason"] == "internal_error"
        assert "previous run" in row["finish_detail"]
    assert events(engine, ids[1]) == ["call_started", "call_answered", "call_finished"]
    assert session(engine, ids[1])["sip_call_id"] == "call-1@x"
    assert session(engine, ids[2])["lease_owner"] is None  # claimable again
    assert session(engine, ids[3])["lease_owner"] == other  # untouched
    assert claim_ids(engine, new, 5) == [ids[2]]


def test_release_requests_and_lease_renewal(engine: Engine) -> None:
    _, ids = queue_sessions(engine, 4)
    claim_ids(engine, "me/1", 4)
    assert begin(engine, ids[3], "me/1").outcome is sessions.DialStart.STARTED
    with engine.begin() as conn:
        conn.execute(
            call_sessions.update()
            .where(call_sessions.c.id.in_([ids[1], ids[3]]))
            .values(release_requested=True)
        )
        # Calls in progress are polled; the flagged queued one is refused by begin_dialing.
        assert leases.release_requested(conn, "me/1") == [ids[3]]
        assert leases.release_requested(conn, "other/1") == []
    assert begin(engine, ids[1], "me/1").outcome is sessions.DialStart.GONE
    ids = ids[:3]
    later = now() + 1000
    with engine.begin() as conn:
        held = leases.renew_leases(conn, "me/1", ids, LEASE, later)
    assert held == set(ids)
    assert session(engine, ids[0])["lease_expires_at"] == pytest.approx(later + LEASE)
    # Someone else took one over after a lapse: renewal reports it lost.
    with engine.begin() as conn:
        conn.execute(
            call_sessions.update().where(call_sessions.c.id == ids[2]).values(lease_owner="x/1")
        )
        assert leases.renew_leases(conn, "me/1", ids, LEASE, later) == {ids[0], ids[1]}
        assert leases.unclaim(conn, ids[0], "me/1")
    assert session(engine, ids[0])["lease_owner"] is None


def test_held_by_means_leased_to_that_owner_and_not_finished(engine: Engine) -> None:
    _, ids = queue_sessions(engine, 2)
    claim_ids(engine, "me/1", 2)
    begin(engine, ids[1], "me/1")
    with engine.begin() as conn:
        assert leases.held_by(conn, ids[0], "me/1")  # queued, ours
        assert leases.held_by(conn, ids[1], "me/1")  # dialing, ours
        assert not leases.held_by(conn, ids[0], "other/1")
        assert not leases.held_by(conn, ids[0] + 1000, "me/1")  # no such session
        sessions.finish_session(conn, ids[1], "me/1", now(), FinishReason.SUBSCRIBER_BUSY)
        assert not leases.held_by(conn, ids[1], "me/1")  # finished
