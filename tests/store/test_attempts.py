"""One session, several attempts, in the store: claims honour ``scheduled_at``, a closed calling
window defers the session at claim, the end of an attempt retries or finishes it (once).

Runs on SQLite and PostgreSQL (``engine`` fixture).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Engine

from tests.support.sessions import (
    event_payloads,
    events,
    new_account,
    queue_session,
    queue_with_options,
    session,
)
from tests.support.work_queue import LEASE, begin, claim_ids
from vestnik.calls import FinishReason
from vestnik.calls.options import (
    AnsweredBy,
    CallingWindow,
    CallOptions,
    CollectSpeech,
    RetryPolicy,
)
from vestnik.calls.ports import Recording
from vestnik.calls.retry import window_opening
from vestnik.calls.session import CallSession
from vestnik.store import attempts as store
from vestnik.store import sessions
from vestnik.store.db import now
from vestnik.store.schema import call_recordings, call_sessions

BUSY = FinishReason.SUBSCRIBER_BUSY
RETRY3 = CallOptions(retry=RetryPolicy(3, 60, (BUSY,)))


def _queue(engine: Engine, options: CallOptions | None = RETRY3, **fields: object) -> int:
    with engine.begin() as conn:
        account_id = new_account(conn, f"a{now()}")
        if options is None:
            return queue_session(conn, account_id, **fields)
        return queue_with_options(conn, account_id, options, **fields)


def _dial(engine: Engine, sid: int, owner: str) -> CallSession:
    assert claim_ids(engine, owner, 10) == [sid]
    started = begin(engine, sid, owner)
    assert started.outcome is sessions.DialStart.STARTED and started.session is not None
    return started.session


def _end(
    engine: Engine, began: CallSession, owner: str, result: store.AttemptResult
) -> store.EndedAttempt:
    with engine.begin() as conn:
        return store.end_attempt(conn, began, owner, now(), result)


def _busy(**more: object) -> store.AttemptResult:
    return store.AttemptResult(BUSY, "486 from trunk", 486, "Busy Here", "c@x", "main", **more)  # type: ignore[arg-type]


def test_claims_skip_sessions_scheduled_later(engine: Engine) -> None:
    later = _queue(engine, scheduled_at=now() + 3600)
    due = _queue(engine, scheduled_at=now() - 5)
    plain = _queue(engine)
    assert claim_ids(engine, "a/1", 10) == [due, plain]
    assert claim_ids(engine, "b/1", 10) == []
    # An hour later it is due (and a/1's leases have lapsed: those are claimable again too).
    assert claim_ids(engine, "b/1", 10, at=now() + 3601) == [later, due, plain]


def test_due_scheduled_sessions_come_before_new_ones(engine: Engine) -> None:
    plain = _queue(engine)
    due = _queue(engine, scheduled_at=now() - 5)
    assert claim_ids(engine, "a/1", 1) == [due]  # a retry waited already
    assert claim_ids(engine, "a/1", 1) == [plain]


def test_claim_defers_a_session_whose_window_is_closed(engine: Engine) -> None:
    at = now()
    # A one-minute window starting two hours from now (Moscow time): closed now.
    start = (int(at // 60) + 120 + 180) % 1440  # UTC minute + 3 h = Moscow
    window = CallingWindow(start, (start + 1) % 1440, "Europe/Moscow", "Europe/Moscow")
    sid = _queue(engine, CallOptions(calling_window=window))
    with engine.begin() as conn:
        claim = sessions.claim_for_dialing(conn, "a/1", 10, LEASE, at)
    assert claim.to_dial == [] and [s.id for s in claim.deferred] == [sid]
    row = session(engine, sid)
    assert row["state"] == "queued" and row["lease_owner"] is None
    assert row["scheduled_at"] == window_opening(window, at)
    assert 7000 < row["scheduled_at"] - at < 7260
    assert events(engine, sid) == []
    with engine.begin() as conn:  # the window is open at its opening: dialled then
        claim = sessions.claim_for_dialing(conn, "a/1", 10, LEASE, row["scheduled_at"] + 1)
    assert [s.id for s in claim.to_dial] == [sid]


def test_begin_dialing_counts_the_attempt_and_clears_the_schedule(engine: Engine) -> None:
    sid = _queue(engine, scheduled_at=now() - 1)
    began = _dial(engine, sid, "a/1")
    assert (began.attempt_count, began.scheduled_at) == (1, None)


def test_a_retried_attempt_goes_back_to_the_queue_with_attempt_failed(engine: Engine) -> None:
    sid = _queue(engine)
    began = _dial(engine, sid, "a/1")
    ended = _end(engine, began, "a/1", _busy())
    assert ended.outcome is store.AttemptEnd.RETRIED
    row = session(engine, sid)
    assert (row["state"], row["lease_owner"], row["finish_reason"]) == ("queued", None, None)
    assert row["scheduled_at"] - row["attempt_log"][0]["end_at"] == 60
    assert (row["sip_code"], row["trunk"], row["attempt_count"]) == (486, "main", 1)
    assert [(a["attempt"], a["finish_reason"], a["sip_code"]) for a in row["attempt_log"]] == [
        (1, "subscriber_busy", 486)
    ]
    (started, failed) = event_payloads(engine, sid)
    assert failed["notification_mnemonic"] == "attempt_failed"
    assert (failed["attempt"], failed["attempts"], failed["finish_reason"]) == (
        1,
        1,
        "subscriber_busy",
    )
    assert failed["sip_code"] == 486
    assert started["notification_mnemonic"] == "call_started"


def test_the_last_attempt_finishes_once_with_every_attempt(engine: Engine) -> None:
    sid = _queue(engine)
    for attempt in (1, 2, 3):
        began = _dial(engine, sid, f"a/{attempt}")
        assert began.attempt_count == attempt and began.sip_code is None  # its own outcome
        ended = _end(engine, began, f"a/{attempt}", _busy())
        if attempt < 3:
            assert ended.outcome is store.AttemptEnd.RETRIED
            with engine.begin() as conn:  # due now: the interval is not the subject here
                conn.execute(
                    call_sessions.update()
                    .where(call_sessions.c.id == sid)
                    .values(scheduled_at=now() - 1)
                )
    assert ended.outcome is store.AttemptEnd.FINISHED
    row = session(engine, sid)
    assert (row["state"], row["finish_reason"], row["attempt_count"]) == (
        "finished", "subscriber_busy", 3,
    )  # fmt: skip
    assert [a["attempt"] for a in row["attempt_log"]] == [1, 2, 3]
    assert events(engine, sid) == ["call_started", "attempt_failed"] * 2 + [
        "call_started", "call_finished",
    ]  # fmt: skip
    finished = event_payloads(engine, sid)[-1]
    assert (finished["attempts"], finished["finish_reason"]) == (3, "subscriber_busy")


def test_a_release_during_an_attempt_ends_the_session_released(engine: Engine) -> None:
    sid = _queue(engine)
    began = _dial(engine, sid, "a/1")
    with engine.begin() as conn:
        release = sessions.release_session(conn, sid, now())
    assert release.outcome is sessions.ReleaseOutcome.REQUESTED
    ended = _end(engine, began, "a/1", _busy())  # the attempt ended busy meanwhile
    assert ended.outcome is store.AttemptEnd.FINISHED
    row = session(engine, sid)
    assert row["finish_reason"] == "released" and row["scheduled_at"] is None
    assert row["attempt_log"][0]["finish_reason"] == "subscriber_busy"
    assert events(engine, sid) == ["call_started", "call_finished"]


def test_release_of_a_waiting_session_finishes_it(engine: Engine) -> None:
    sid = _queue(engine)
    _end(engine, _dial(engine, sid, "a/1"), "a/1", _busy())
    with engine.begin() as conn:
        release = sessions.release_session(conn, sid, now())
    assert release.outcome is sessions.ReleaseOutcome.RELEASED
    row = session(engine, sid)
    assert (row["finish_reason"], row["attempt_count"]) == ("released", 1)
    assert claim_ids(engine, "b/1", 10, at=now() + 3600) == []
    assert events(engine, sid)[-1] == "call_finished"


def test_the_result_of_the_call_and_its_recording_are_kept(engine: Engine) -> None:
    sid = _queue(engine, CallOptions(detect_machine=True, record=True))
    began = _dial(engine, sid, "a/1")
    recording = Recording(b"RIFF....WAVE", 1234)
    result = store.AttemptResult(
        FinishReason.SUCCESS_FINISH, None, 200, "OK", "c@x", "main", None, "12",
        AnsweredBy.HUMAN, recording,
    )  # fmt: skip
    assert _end(engine, began, "a/1", result).outcome is store.AttemptEnd.FINISHED
    row = session(engine, sid)
    assert (row["dtmf_reply"], row["answered_by"]) == ("12", "human")
    assert row["attempt_log"][0]["dtmf_reply"] == "12"
    with engine.connect() as conn:
        saved = conn.execute(sa.select(call_recordings)).mappings().all()
    assert [(r["call_session_id"], r["attempt"], r["duration_ms"]) for r in saved] == [
        (sid, 1, 1234)
    ]
    payload = event_payloads(engine, sid)[-1]
    assert (payload["dtmf_reply"], payload["answered_by"], payload["attempts"]) == (
        "12", "human", 1,
    )  # fmt: skip


def test_an_attempt_not_ours_any_more_changes_nothing(engine: Engine) -> None:
    sid = _queue(engine)
    began = _dial(engine, sid, "a/1")
    assert _end(engine, began, "b/1", _busy()).outcome is store.AttemptEnd.GONE
    assert session(engine, sid)["state"] == "dialing"


def test_a_spoken_reply_is_kept_per_attempt_and_for_the_session(engine: Engine) -> None:
    speech = CollectSpeech(intents=(("yes", ("да",)), ("no", ("нет",))))
    # As the intake stores it: "" until a reply is recognised.
    sid = _queue(engine, CallOptions(collect_speech=speech, retry=RetryPolicy(2, 60, (BUSY,))),
                 speech_reply="")  # fmt: skip
    ended = _end(engine, _dial(engine, sid, "a/1"), "a/1", _busy(speech_reply=""))
    assert ended.outcome is store.AttemptEnd.RETRIED
    with engine.begin() as conn:  # due now
        conn.execute(
            call_sessions.update().where(call_sessions.c.id == sid).values(scheduled_at=now() - 1)
        )
    answered = store.AttemptResult(
        FinishReason.SUCCESS_FINISH, None, 200, "OK", "c@x", "main",
        speech_reply="Да, подтверждаю", speech_intent="yes",
    )  # fmt: skip
    assert _end(engine, _dial(engine, sid, "a/2"), "a/2", answered).outcome is (
        store.AttemptEnd.FINISHED
    )
    row = session(engine, sid)
    assert (row["speech_reply"], row["speech_intent"]) == ("Да, подтверждаю", "yes")
    assert [(a["speech_reply"], a["speech_intent"]) for a in row["attempt_log"]] == [
        ("", None), ("Да, подтверждаю", "yes"),
    ]  # fmt: skip
    payloads = event_payloads(engine, sid)
    said = [(p["notification_mnemonic"], p["speech_reply"], p["speech_intent"]) for p in payloads]
    assert said == [
        ("call_started", "", None), ("attempt_failed", "", None), ("call_started", "", None),
        ("call_finished", "Да, подтверждаю", "yes"),
    ]  # fmt: skip


def test_a_session_never_dialled_keeps_its_empty_reply(engine: Engine) -> None:
    sid = _queue(engine, CallOptions(collect_speech=CollectSpeech()), speech_reply="")
    with engine.begin() as conn:
        release = sessions.release_session(conn, sid, now())
    assert release.outcome is sessions.ReleaseOutcome.RELEASED
    row = session(engine, sid)
    assert (row["finish_reason"], row["speech_reply"], row["speech_intent"]) == (
        "released", "", None,
    )  # fmt: skip
    assert event_payloads(engine, sid)[-1]["speech_reply"] == ""
