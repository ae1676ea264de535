"""The session table as a work queue: claims, leases, guarded transitions, recovery.

Runs on SQLite and PostgreSQL (``engine`` fixture).
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from tests.dialer.sessions import events, new_account, queue_session, session

from vestnik.calls import FinishReason
from vestnik.store import sessions as store
from vestnik.store.accounts import blacklist_add
from vestnik.store.db import now
from vestnik.store.schema import call_sessions

LEASE = 30.0


def _queue(engine: Engine, count: int, **fields: object) -> tuple[int, list[int]]:
    with engine.begin() as conn:
        account_id = new_account(conn)
        ids = [queue_session(conn, account_id, **fields) for _ in range(count)]
    return account_id, ids


def _claim(engine: Engine, owner: str, limit: int, at: float | None = None) -> list[int]:
    with engine.begin() as conn:
        rows = store.claim_sessions(conn, owner, limit, LEASE, now() if at is None else at)
    return [int(r["id"]) for r in rows]


def _begin(engine: Engine, session_id: int, owner: str) -> store.BeginDialing:
    with engine.begin() as conn:
        return store.begin_dialing(conn, session_id, owner, LEASE, now())


def test_claims_oldest_first_and_never_twice(engine: Engine) -> None:
    _, ids = _queue(engine, 5)
    first = _claim(engine, "a/1", 3)
    second = _claim(engine, "b/1", 3)
    assert first == ids[:3]
    assert second == ids[3:]
    assert _claim(engine, "c/1", 3) == []
    row = session(engine, ids[0])
    assert row["lease_owner"] == "a/1" and row["state"] == "queued"
    assert row["lease_expires_at"] > now() + LEASE - 5


def test_concurrent_claimers_never_share_a_session(engine: Engine) -> None:
    _, ids = _queue(engine, 120)
    taken: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def claimer(owner: str) -> None:
        mine: list[int] = []
        try:
            while True:
                got = _claim(engine, owner, 7)
                if not got:
                    break
                mine.extend(got)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        taken[owner] = mine

    threads = [threading.Thread(target=claimer, args=(f"d{i}/x",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    everything = [i for got in taken.values() for i in got]
    assert sorted(everything) == ids  # each claimed exactly once
    with engine.connect() as conn:
        owners = dict(
            conn.execute(sa.select(call_sessions.c.id, call_sessions.c.lease_owner)).all()
        )
    for owner, got in taken.items():
        assert all(owners[i] == owner for i in got)


def test_lapsed_lease_before_dialing_is_claimable_again(engine: Engine) -> None:
    _, ids = _queue(engine, 1)
    assert _claim(engine, "dead/1", 1) == ids
    assert _claim(engine, "live/1", 1) == []  # lease still valid
    later = now() + LEASE + 1
    assert _claim(engine, "live/1", 1, at=later) == ids
    assert session(engine, ids[0])["lease_owner"] == "live/1"
    # The dead dialer's stale write is refused.
    assert _begin(engine, ids[0], "dead/1").outcome is store.DialStart.GONE
    assert _begin(engine, ids[0], "live/1").outcome is store.DialStart.STARTED


def test_dialled_session_is_never_redialled_after_lease_lapse(engine: Engine) -> None:
    _, ids = _queue(engine, 1)
    _claim(engine, "dead/1", 1)
    assert _begin(engine, ids[0], "dead/1").outcome is store.DialStart.STARTED
    later = now() + LEASE + 1
    assert _claim(engine, "live/1", 1, at=later) == []  # dialing: not claimable
    with engine.begin() as conn:
        assert store.recover_expired(conn, now()).finished == []  # not lapsed yet
    with engine.begin() as conn:
        recovery = store.recover_expired(conn, later)
    assert recovery.finished == ids and recovery.requeued == []
    row = session(engine, ids[0])
    assert row["state"] == "finished"
    assert row["finish_reason"] == "internal_error"
    assert "lease expired" in row["finish_detail"] and "dead/1" in row["finish_detail"]
    assert row["dial_attempts"] == 1
    assert events(engine, ids[0]) == ["call_started", "call_finished"]
    # A second sweep and the dead dialer's late writes change nothing.
    with engine.begin() as conn:
        assert store.recover_expired(conn, later + 100).finished == []
        assert (
            store.finish_session(conn, ids[0], "dead/1", now(), FinishReason.SUCCESS_FINISH) is None
        )
        assert store.mark_answered(conn, ids[0], "dead/1", now()) is None
    assert session(engine, ids[0])["finish_reason"] == "internal_error"
    assert events(engine, ids[0]) == ["call_started", "call_finished"]


def test_previous_run_of_same_dialer_is_settled_at_once(engine: Engine) -> None:
    _, ids = _queue(engine, 4)
    old = store.lease_owner_for("host:5060", "run1")
    new = store.lease_owner_for("host:5060", "run2")
    other = store.lease_owner_for("host:50600", "run1")  # a prefix-alike, different dialer
    assert _claim(engine, old, 3) == ids[:3]
    assert _claim(engine, other, 1) == ids[3:]
    _begin(engine, ids[0], old)  # dialing
    _begin(engine, ids[1], old)
    with engine.begin() as conn:
        store.mark_answered(conn, ids[1], old, now(), "call-1@x")
    with engine.begin() as conn:
        recovery = store.recover_previous_run(conn, "host:5060", new, now())
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
    assert _claim(engine, new, 5) == [ids[2]]


def test_transitions_are_guarded_by_the_lease_owner(engine: Engine) -> None:
    _, ids = _queue(engine, 1)
    sid = ids[0]
    _claim(engine, "me/1", 1)
    assert _begin(engine, sid, "thief/1").outcome is store.DialStart.GONE
    started = _begin(engine, sid, "me/1")
    assert started.outcome is store.DialStart.STARTED
    assert started.session is not None and started.session["state"] == "dialing"
    with engine.begin() as conn:
        assert not store.mark_ringing(conn, sid, "thief/1", now())
        assert store.mark_ringing(conn, sid, "me/1", now(), "abc@host")
        assert store.mark_answered(conn, sid, "thief/1", now()) is None
        assert store.mark_answered(conn, sid, "me/1", now()) is not None
        assert store.finish_session(conn, sid, "thief/1", now(), FinishReason.RELEASED) is None
    with engine.begin() as conn:
        done = store.finish_session(
            conn, sid, "me/1", now(), FinishReason.SUCCESS_FINISH, sip_code=200, sip_reason="OK"
        )
    assert done is not None
    with engine.begin() as conn:  # exactly once
        again = store.finish_session(conn, sid, "me/1", now(), FinishReason.INTERNAL_ERROR)
        assert again is None
    row = session(engine, sid)
    assert row["finish_reason"] == "success_finish" and row["sip_code"] == 200
    assert row["dial_at"] <= row["ring_at"] <= row["answer_at"] <= row["end_at"]
    assert row["sip_call_id"] == "abc@host"
    assert row["lease_expires_at"] is None
    assert events(engine, sid) == ["call_started", "call_answered", "call_finished"]


def test_account_cap_is_checked_with_the_dialing_transition(engine: Engine) -> None:
    with engine.begin() as conn:
        account_id = new_account(conn, max_concurrent_calls=1)
        a = queue_session(conn, account_id)
        b = queue_session(conn, account_id)
    _claim(engine, "me/1", 2)
    assert _begin(engine, a, "me/1").outcome is store.DialStart.STARTED
    assert _begin(engine, b, "me/1").outcome is store.DialStart.ACCOUNT_FULL
    assert session(engine, b)["state"] == "queued"
    with engine.begin() as conn:
        assert store.count_active_calls(conn, account_id) == 1
        store.finish_session(conn, a, "me/1", now(), FinishReason.SUBSCRIBER_BUSY, sip_code=486)
    assert _begin(engine, b, "me/1").outcome is store.DialStart.STARTED


def test_account_cap_holds_under_concurrent_dialers(engine: Engine) -> None:
    cap = 3
    with engine.begin() as conn:
        account_id = new_account(conn, max_concurrent_calls=cap)
        ids = [queue_session(conn, account_id) for _ in range(12)]
    owners = [f"d{i}/x" for i in range(4)]
    claimed = {owner: _claim(engine, owner, 3) for owner in owners}
    outcomes: list[store.DialStart] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(ids))

    def dial(owner: str, sid: int) -> None:
        barrier.wait(10)
        result = _begin(engine, sid, owner).outcome
        with lock:
            outcomes.append(result)

    threads = [
        threading.Thread(target=dial, args=(owner, sid))
        for owner, got in claimed.items()
        for sid in got
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed_id for got in claimed.values() for claimed_id in got) == ids
    assert outcomes.count(store.DialStart.STARTED) == cap
    assert outcomes.count(store.DialStart.ACCOUNT_FULL) == len(ids) - cap


def test_blacklisted_while_queued_is_finished_without_dialing(engine: Engine) -> None:
    account_id, ids = _queue(engine, 1, contact="79260000777")
    _claim(engine, "me/1", 1)
    with engine.begin() as conn:
        blacklist_add(conn, account_id, "79260000777")
        assert store.is_blacklisted(conn, account_id, "79260000777")
    begin = _begin(engine, ids[0], "me/1")
    assert begin.outcome is store.DialStart.BLACKLISTED
    row = session(engine, ids[0])
    assert row["finish_reason"] == "numa_in_black_list"
    assert row["dial_at"] is None and row["dial_attempts"] == 0
    assert events(engine, ids[0]) == ["call_finished"]


def test_release_requests_and_lease_renewal(engine: Engine) -> None:
    _, ids = _queue(engine, 4)
    _claim(engine, "me/1", 4)
    assert _begin(engine, ids[3], "me/1").outcome is store.DialStart.STARTED
    with engine.begin() as conn:
        conn.execute(
            call_sessions.update()
            .where(call_sessions.c.id.in_([ids[1], ids[3]]))
            .values(release_requested=True)
        )
        # Calls in progress are polled; the flagged queued one is refused by begin_dialing.
        assert store.release_requested(conn, "me/1") == [ids[3]]
        assert store.release_requested(conn, "other/1") == []
    assert _begin(engine, ids[1], "me/1").outcome is store.DialStart.GONE
    ids = ids[:3]
    later = now() + 1000
    with engine.begin() as conn:
        held = store.renew_leases(conn, "me/1", ids, LEASE, later)
    assert held == set(ids)
    assert session(engine, ids[0])["lease_expires_at"] == pytest.approx(later + LEASE)
    # Someone else took one over after a lapse: renewal reports it lost.
    with engine.begin() as conn:
        conn.execute(
            call_sessions.update().where(call_sessions.c.id == ids[2]).values(lease_owner="x/1")
        )
        assert store.renew_leases(conn, "me/1", ids, LEASE, later) == {ids[0], ids[1]}
        assert store.unclaim(conn, ids[0], "me/1")
    assert session(engine, ids[0])["lease_owner"] is None


def test_blacklist_matches_every_spelling_of_the_contact(engine: Engine) -> None:
    with engine.begin() as conn:
        account_id = new_account(conn)
        plus = queue_session(conn, account_id, contact="79260000881")
        sip = queue_session(conn, account_id, contact="sip:anna@pbx.example", contact_kind="sip")
        clean = queue_session(conn, account_id, contact="79260000882")
        blacklist_add(conn, account_id, "+79260000881")
        blacklist_add(conn, account_id, "anna@pbx.example")
    with engine.begin() as conn:
        claim = store.claim_for_dialing(conn, "me/1", 10, LEASE, now())
    assert [r["id"] for r in claim.to_dial] == [clean]
    assert sorted(r["id"] for r in claim.settled) == [plus, sip]
    for sid in (plus, sip):
        assert session(engine, sid)["finish_reason"] == "numa_in_black_list"
        assert events(engine, sid) == ["call_finished"]
    with engine.begin() as conn:
        assert store.is_blacklisted(conn, account_id, "sip:anna@pbx.example", "sip")
        assert not store.is_blacklisted(conn, account_id, "79260000882")
