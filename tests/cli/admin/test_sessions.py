"""``vestnik admin session …`` in-process on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from tests.support.admin_cli import assert_refused, insert_session, make_account, rows
from tests.support.cli import CliRunner
from vestnik.store.schema import call_events, call_sessions


def test_session_show_has_every_stored_field(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    t0 = 1_790_000_000.25
    session_id = insert_session(
        db,
        account_id,
        state="finished",
        finish_reason="subscriber_busy",
        finish_detail="486 from trunk",
        sip_code=486,
        sip_reason="Busy Here",
        sip_call_id="abc@127.0.0.1",
        created_at=t0,
        dial_at=t0 + 0.5,
        ring_at=t0 + 1.0,
        end_at=t0 + 3.0,
        trunk="carrier-b",
        attempts=[
            {"trunk": "carrier-a", "sip_code": 503, "sip_reason": "Service Unavailable"},
            {"trunk": "carrier-b", "sip_code": 486, "sip_reason": "Busy Here"},
        ],
    )
    run = cli("admin", "session", "show", str(session_id), "--json")
    assert run.status == 0, run.err
    data = run.json
    renamed = {"attempts": "trunk_attempts", "attempt_count": "attempts"}
    for column in [c.name for c in call_sessions.columns]:
        assert renamed.get(column, column) in data, column
    assert data["call_session_id"] == session_id
    assert (data["state"], data["finish_reason"], data["sip_code"], data["sip_reason"]) == (
        "finished",
        "subscriber_busy",
        486,
        "Busy Here",
    )
    assert data["finish_detail"] == "486 from trunk"
    assert data["trunk"] == "carrier-b"
    assert [(a["trunk"], a["sip_code"]) for a in data["trunk_attempts"]] == [
        ("carrier-a", 503),
        ("carrier-b", 486),
    ]
    assert data["dial_at_iso"] == "2026-09-21T14:13:20.750+00:00"
    assert data["end_at_iso"] == datetime.fromtimestamp(t0 + 3.0, UTC).isoformat(
        timespec="milliseconds"
    )
    assert data["answer_at"] is None and data["answer_at_iso"] is None
    text = cli("admin", "session", "show", str(session_id)).out
    for expected in ("subscriber_busy", "486", "Busy Here", "2026-09-21T14:13:20.750+00:00"):
        assert expected in text
    assert "carrier-a 503 Service Unavailable; carrier-b 486 Busy Here" in text
    assert_refused(cli("admin", "session", "show", "999"), "not found")


def test_session_show_has_the_attempts_and_their_outcomes(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    t0 = 1_790_000_000.0
    log = [
        {"attempt": 1, "dial_at": t0, "end_at": t0 + 2, "trunk": "main", "sip_code": 486,
         "sip_reason": "Busy Here", "finish_reason": "subscriber_busy", "answered_by": None,
         "dtmf_reply": None},
    ]  # fmt: skip
    session_id = insert_session(
        db, account_id, attempt_count=1, attempt_log=log, scheduled_at=t0 + 12,
        options={"source": "request", "retry": {"attempts": 3, "interval": 10,
                 "on": ["subscriber_busy"]}},
    )  # fmt: skip
    data = cli("admin", "session", "show", str(session_id), "--json").json
    assert (data["attempts"], data["dtmf_reply"], data["answered_by"]) == (1, None, None)
    assert data["scheduled_at"] == t0 + 12
    assert data["scheduled_at_iso"] == "2026-09-21T14:13:32.000+00:00"
    (entry,) = data["attempt_log"]
    assert (entry["attempt"], entry["trunk"], entry["sip_code"], entry["finish_reason"]) == (
        1, "main", 486, "subscriber_busy",
    )  # fmt: skip
    assert entry["dial_at_iso"] == "2026-09-21T14:13:20.000+00:00"
    assert "attempt_count" not in data and data["trunk_attempts"] is None
    text = cli("admin", "session", "show", str(session_id)).out
    assert "1 at 2026-09-21T14:13:20.000+00:00: main 486 Busy Here → subscriber_busy" in text


def test_session_list_filters(cli: CliRunner, db: Engine) -> None:
    acme = make_account(cli)
    beta = make_account(cli, "beta")
    first = insert_session(db, acme)
    second = insert_session(db, acme, state="finished", finish_reason="success_finish")
    third = insert_session(db, beta)
    ids = [r["id"] for r in cli("admin", "session", "list", "--json").json]
    assert ids == [third, second, first]
    by_account = cli("admin", "session", "list", "--account", "acme", "--json").json
    assert [r["id"] for r in by_account] == [second, first]
    queued = cli("admin", "session", "list", "--state", "queued", "--json").json
    assert [r["id"] for r in queued] == [third, first]
    assert [r["id"] for r in cli("admin", "session", "list", "--limit", "1", "--json").json] == [
        third
    ]
    done = cli("admin", "session", "list", "--finish-reason", "success_finish", "--json").json
    assert [r["id"] for r in done] == [second]
    other = insert_session(db, acme, external_id="order-9", contact="79160000001")
    found = cli("admin", "session", "list", "--external-id", "order-9", "--json").json
    assert [r["id"] for r in found] == [other]
    found = cli("admin", "session", "list", "--contact", "+79160000001", "--json").json
    assert [r["id"] for r in found] == [other]
    text = cli("admin", "session", "list").out
    assert "success_finish" in text and "79161234567" in text
    assert_refused(cli("admin", "session", "list", "--account", "nobody"), "not found")
    assert cli("admin", "session", "list", "--state", "lost").status == 2


def test_session_release_finishes_a_queued_session(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    # Claimed by a dialer that has not begun dialing: released all the same.
    session_id = insert_session(db, account_id, lease_owner="dialer/1", lease_expires_at=1e10)
    run = cli("admin", "session", "release", str(session_id), "--json")
    assert run.status == 0, run.err
    assert run.json == {"call_session_id": session_id, "account_id": account_id,
                        "outcome": "released", "state": "finished",
                        "finish_reason": "released"}  # fmt: skip
    [row] = rows(db, call_sessions)
    assert (row["state"], row["finish_reason"]) == ("finished", "released")
    assert row["end_at"] is not None and row["lease_expires_at"] is None
    with db.connect() as conn:
        events = conn.execute(sa.select(call_events)).mappings().all()
    assert [(e["call_session_id"], e["event_type"]) for e in events] == [
        (session_id, "call_finished")
    ]
    assert events[0]["payload"]["finish_reason"] == "released"
    assert_refused(cli("admin", "session", "release", str(session_id)), "already finished")
    assert_refused(cli("admin", "session", "release", "999"), "not found")
    assert rows(db, call_sessions) == [row]
    assert cli("admin", "session", "release", str(2**31)).status == 2


@pytest.mark.parametrize("state", ["dialing", "ringing", "answered"])
def test_session_release_flags_a_call_for_its_dialer(
    cli: CliRunner, db: Engine, state: str
) -> None:
    account_id = make_account(cli)
    session_id = insert_session(db, account_id, state=state, lease_owner="dialer/1")
    run = cli("admin", "session", "release", str(session_id))
    assert run.status == 0, run.err
    assert f"is {state}: release requested" in run.out
    [row] = rows(db, call_sessions)
    assert row["state"] == state and row["release_requested"] is True
    assert row["finish_reason"] is None
    with db.connect() as conn:
        assert conn.execute(sa.select(call_events)).first() is None


def test_session_show_has_the_spoken_reply(cli: CliRunner, db: Engine) -> None:
    account_id = make_account(cli)
    t0 = 1_790_000_000.0
    log = [
        {"attempt": 1, "dial_at": t0, "end_at": t0 + 9, "trunk": "main", "sip_code": 200,
         "sip_reason": "OK", "finish_reason": "success_finish", "answered_by": None,
         "dtmf_reply": None, "speech_reply": "Да, подтверждаю", "speech_intent": "yes"},
    ]  # fmt: skip
    session_id = insert_session(
        db, account_id, attempt_count=1, attempt_log=log, speech_reply="Да, подтверждаю",
        speech_intent="yes", options={"source": "request", "collect_speech": {
            "timeout": 5.0, "language": "ru", "intents": {"yes": ["да"]}}},
    )  # fmt: skip
    data = cli("admin", "session", "show", str(session_id), "--json").json
    assert (data["speech_reply"], data["speech_intent"]) == ("Да, подтверждаю", "yes")
    assert data["attempt_log"][0]["speech_intent"] == "yes"
    text = cli("admin", "session", "show", str(session_id)).out
    assert re.search(r"^speech_reply +Да, подтверждаю$", text, re.M)
    assert re.search(r"^speech_intent +yes$", text, re.M)
    assert "main 200 OK → success_finish, said 'Да, подтверждаю' (intent yes)" in text
    plain = insert_session(db, account_id)
    text = cli("admin", "session", "show", str(plain)).out
    assert re.search(r"^speech_reply +-$", text, re.M) and "said" not in text
