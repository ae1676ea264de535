"""``vestnik admin session show``'s ``recording`` and ``vestnik admin session recording``,
in-process on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from tests.support.admin_cli import assert_refused, insert_session, make_account
from tests.support.cli import CliRunner
from vestnik.calls.ports import Recording
from vestnik.store.recordings import save_recording
from vestnik.telephony.listen.recorder import CallRecorder


def _recording(level: int) -> Recording:
    recorder = CallRecorder(5)
    recorder.add(0, 0, np.full(800, level, dtype=np.int16))
    recorder.add(1, 400, np.full(800, -level, dtype=np.int16))
    recording = recorder.recording()
    assert recording is not None
    return recording


def _seed(cli: CliRunner, db: Engine) -> tuple[int, int, list[tuple[int, bytes]]]:
    account_id = make_account(cli)
    session_id = insert_session(db, account_id, state="finished", finish_reason="success_finish")
    bare = insert_session(db, account_id, state="finished", finish_reason="success_finish")
    stored = []
    with db.begin() as conn:
        for attempt, level in ((1, 100), (3, 300)):
            recording = _recording(level)
            rid = save_recording(
                conn, session_id=session_id, account_id=account_id, attempt=attempt,
                recording=recording, at=1.0 + attempt,
            )  # fmt: skip
            stored.append((rid, recording.wav))
    return session_id, bare, stored


def test_session_show_lists_recordings(
    cli: CliRunner, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id, bare, [(rid1, wav1), (rid3, wav3)] = _seed(cli, db)
    data = cli("admin", "session", "show", str(session_id), "--json").json
    assert data["recording"] == [
        {"id": rid1, "attempt": 1, "duration_ms": 150, "size": len(wav1),
         "url": f"/system/media/talk/{session_id}/{rid1}/"},
        {"id": rid3, "attempt": 3, "duration_ms": 150, "size": len(wav3),
         "url": f"/system/media/talk/{session_id}/{rid3}/"},
    ]  # fmt: skip
    assert cli("admin", "session", "show", str(bare), "--json").json["recording"] == []
    monkeypatch.setenv("VESTNIK_SERVER_PUBLIC_URL", "https://calls.example.ru")
    data = cli("admin", "session", "show", str(session_id), "--json").json
    assert data["recording"][1]["url"] == (
        f"https://calls.example.ru/system/media/talk/{session_id}/{rid3}/"
    )
    text = cli("admin", "session", "show", str(session_id)).out
    assert f"/system/media/talk/{session_id}/{rid3}/" in text


def test_session_recording_writes_the_file(cli: CliRunner, db: Engine, tmp_path: Path) -> None:
    session_id, bare, [(rid1, wav1), (rid3, wav3)] = _seed(cli, db)
    out = tmp_path / "last.wav"
    run = cli("admin", "session", "recording", str(session_id), "--output", str(out), "--json")
    assert run.status == 0, run.err
    assert out.read_bytes() == wav3
    assert run.json == {"call_session_id": session_id, "recording_id": rid3, "attempt": 3,
                        "duration_ms": 150, "size": len(wav3), "output": str(out)}  # fmt: skip
    first = tmp_path / "first.wav"
    run = cli("admin", "session", "recording", str(session_id), "--attempt", "1", "-o", str(first))
    assert run.status == 0 and out.exists() and first.read_bytes() == wav1
    assert f"recording {rid1} of call session {session_id}" in run.out
    nothing = tmp_path / "nothing.wav"
    assert_refused(
        cli("admin", "session", "recording", str(session_id), "--attempt", "2", "-o", str(nothing)),
        "has no recording of attempt 2",
    )
    assert_refused(
        cli("admin", "session", "recording", str(bare), "-o", str(nothing)), "has no recording"
    )
    assert_refused(cli("admin", "session", "recording", "999999", "-o", str(nothing)), "not found")
    assert not nothing.exists()
    assert_refused(
        cli("admin", "session", "recording", str(session_id), "-o", str(tmp_path / "no" / "x")),
        "cannot write",
    )
