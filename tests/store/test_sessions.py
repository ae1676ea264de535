"""The session table as a work queue: claims, the dialing transition, guarded transitions.

Runs on SQLite and PostgreSQL (``engine`` fixture).
"""

from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy import Engine

from tests.support.sessions import events, new_account, queue_session, session
from tests.support.work_queue import LEASE, begin, claim_ids, queue_sessions
from vestnik.calls import CallState, ContactKind, FinishReason
from vestnik.calls.session import CallSession
from vestnik.store import sessions as store
from vestnik.store.account_calls import count_active_calls
from vestnik.store.admin_blacklist import blacklist_add
from vestnik.store.blacklist import is_blacklisted
from vestnik.store.db import now
from vestnik.store.schema import call_sessions


def test_claims_oldest_first_and_never_twice(engine: Engine) -> None:
    _, ids = queue_sessions(engine, 5)
    first = claim_ids(engine, "a/1", 3)
    second = claim_ids(engine, "b/1", 3)
    assert first == ids[:3]
    assert second == ids[3:]
    assert claim_ids(engine, "c/1", 3) == []
    row = session(engine, ids[0])
    assert row["lease_owner"] == "a/1" and row["state"] == "queued"
    assert row["lease_expires_at"] > now() + LEASE - 5


def test_concurrent_claimers_never_share_a_session(engine: Engine) -> None:
    _, ids = queue_sessions(engine, 120)
    taken: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def claimer(owner: str) -> None:
        mine: list[int] = []
        try:
            while True:
                got = claim_ids(engine, owner, 7)
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
    _, ids = queue_sessions(engine, 1)
    assert claim_ids(engine, "dead/1", 1) == ids
    assert claim_ids(engine, "live/1", 1) == []  # lease still valid
    later = now() + LEASE + 1
    assert claim_ids(engine, "live/1", 1, at=later) == ids
    assert session(engine, ids[0])["lease_owner"] == "live/1"
    # The dead dialer's stale write is refused.
    assert begin(engine, ids[0], "dead/1").outcome is store.DialStart.GONE
    assert begin(engine, ids[0], "live/1").outcome is store.DialStart.STARTED


def test_transitions_are_guarded_by_the_lease_owner(engine: Engine) -> None:
    _, ids = queue_sessions(engine, 1)
    sid = ids[0]
    claim_ids(engine, "me/1", 1)
    assert begin(engine, sid, "thief/1").outcome is store.DialStart.GONE
    started = begin(engine, sid, "me/1")
    assert started.outcome is store.DialStart.STARTED
    assert started.session is not None and started.session.state == "dialing"
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
    claim_ids(engine, "me/1", 2)
    assert begin(engine, a, "me/1").outcome is store.DialStart.STARTED
    assert begin(engine, b, "me/1").outcome is store.DialStart.ACCOUNT_FULL
    assert session(engine, b)["state"] == "queued"
    with engine.begin() as conn:
        assert count_active_calls(conn, account_id) == 1
        store.finish_session(conn, a, "me/1", now(), FinishReason.SUBSCRIBER_BUSY, sip_code=486)
    assert begin(engine, b, "me/1").outcome is store.DialStart.STARTED


def test_one_transaction_counts_the_account_once_and_stays_exact(engine: Engine) -> None:
    """A group commit runs many ``begin_dialing`` of an account in one transaction: the
    count is taken once and counted on, a call finished in the same transaction frees its
    slot at once, and the next transaction counts again (a call ended in between)."""
    with engine.begin() as conn:
        account_id = new_account(conn, max_concurrent_calls=2)
        ids = [queue_session(conn, account_id) for _ in range(5)]
    claim_ids(engine, "me/1", 5)
    with engine.begin() as conn:
        outcomes = [store.begin_dialing(conn, sid, "me/1", LEASE).outcome for sid in ids[:3]]
        assert outcomes == [store.DialStart.STARTED] * 2 + [store.DialStart.ACCOUNT_FULL]
        store.finish_session(conn, ids[0], "me/1", now(), FinishReason.SUBSCRIBER_BUSY)
        assert store.begin_dialing(conn, ids[2], "me/1", LEASE).outcome is store.DialStart.STARTED
        assert store.begin_dialing(conn, ids[3], "me/1", LEASE).outcome is (
            store.DialStart.ACCOUNT_FULL
        )
    with engine.begin() as conn:  # ended outside the next transaction's count
        store.finish_session(conn, ids[1], "me/1", now(), FinishReason.SUBSCRIBER_BUSY)
    with engine.begin() as conn:
        assert store.begin_dialing(conn, ids[3], "me/1", LEASE).outcome is store.DialStart.STARTED
        assert store.begin_dialing(conn, ids[4], "me/1", LEASE).outcome is (
            store.DialStart.ACCOUNT_FULL
        )
        assert count_active_calls(conn, account_id) == 2


def test_account_cap_holds_under_concurrent_dialers(engine: Engine) -> None:
    cap = 3
    with engine.begin() as conn:
        account_id = new_account(conn, max_concurrent_calls=cap)
        ids = [queue_session(conn, account_id) for _ in range(12)]
    owners = [f"d{i}/x" for i in range(4)]
    claimed = {owner: claim_ids(engine, owner, 3) for owner in owners}
    outcomes: list[store.DialStart] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(ids))

    def dial(owner: str, sid: int) -> None:
        barrier.wait(10)
        result = begin(engine, sid, owner).outcome
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
    account_id, ids = queue_sessions(engine, 1, contact="79260000777")
    claim_ids(engine, "me/1", 1)
    with engine.begin() as conn:
        blacklist_add(conn, account_id, "79260000777")
        assert is_blacklisted(conn, account_id, "79260000777")
    result = begin(engine, ids[0], "me/1")
    assert result.outcome is store.DialStart.BLACKLISTED
    row = session(engine, ids[0])
    assert row["finish_reason"] == "numa_in_black_list"
    assert row["dial_at"] is None and row["dial_attempts"] == 0
    assert events(engine, ids[0]) == ["call_finished"]


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
    assert [s.id for s in claim.to_dial] == [clean]
    assert sorted(s.id for s in claim.settled) == [plus, sip]
    for sid in (plus, sip):
        assert session(engine, sid)["finish_reason"] == "numa_in_black_list"
        assert events(engine, sid) == ["call_finished"]
    with engine.begin() as conn:
        assert is_blacklisted(conn, account_id, "sip:anna@pbx.example", "sip")
        assert not is_blacklisted(conn, account_id, "79260000882")


def test_the_dialer_gets_typed_sessions_from_each_transition(engine: Engine) -> None:
    with engine.begin() as conn:
        account_id = new_account(conn)
        sid = queue_session(conn, account_id, contact="sip:anna@pbx.example", contact_kind="sip")
    with engine.begin() as conn:
        claim = store.claim_for_dialing(conn, "me/1", 10, LEASE, now())
    [claimed] = claim.to_dial
    assert isinstance(claimed, CallSession)
    assert (claimed.id, claimed.account_id, claimed.lease_owner) == (sid, account_id, "me/1")
    assert claimed.state is CallState.QUEUED and claimed.contact_kind is ContactKind.SIP
    started = begin(engine, sid, "me/1").session
    assert started is not None and started.state is CallState.DIALING
    assert started.dial_at is not None and started.dial_attempts == 1
    with engine.begin() as conn:
        answered = store.mark_answered(conn, sid, "me/1", now(), "abc@host")
    assert answered is not None and answered.state is CallState.ANSWERED
    assert answered.sip_call_id == "abc@host"
    with engine.begin() as conn:
        done = store.finish_session(conn, sid, "me/1", now(), FinishReason.SUCCESS_FINISH)
    assert done is not None and done.state is CallState.FINISHED
    assert done.finish_reason is FinishReason.SUCCESS_FINISH
    assert done.end_at is not None and done.lease_expires_at is None
