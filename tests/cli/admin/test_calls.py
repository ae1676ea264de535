"""Admin verbs against a running ``vestnik serve`` with SIPp as the trunk and callee.

``session release`` of an answered call: the service's dialer sees the flag and hangs up.
``media remove`` of a file a queued session is waiting to play: the session still plays it,
and the audio is deleted by a later ``media remove`` once nothing needs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from tests.support.admin_cli import add_media, write_tone
from tests.support.cli import CliRunner
from tests.support.processes import free_port, wait_until
from tests.support.serve import ServeProcess, serve_env
from tests.support.sessions import informer_call, provision, session
from tests.support.sipp import SippUas

pytestmark = [pytest.mark.sip, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]

LONG = "Проверка связи. Это тестовое сообщение сервиса Вестник. " * 2  # about 6 s
MEDIUM = "Проверка связи. Это тестовое сообщение."  # about 2 s


@contextmanager
def serving(tmp_path: Path, url: str) -> Iterator[tuple[ServeProcess, SippUas]]:
    """``vestnik serve`` on ``url`` with a SIPp trunk that answers and waits for our BYE."""
    http_port = free_port()
    with SippUas.trunk(tmp_path / "sipp") as sipp:
        env = serve_env(tmp_path, url, sipp, http_port, free_port())
        proc = ServeProcess(env, tmp_path / "serve.log", http_port)
        try:
            proc.wait_ready()
            yield proc, sipp
            assert proc.terminate() == 0
        finally:
            proc.cleanup()


def _start(proc: ServeProcess, token: str, contact: str, **message: Any) -> int:
    reply = httpx.post(proc.url + "/v4.0", json=informer_call(token, contact, **message))
    return int(reply.json()["result"]["data"]["call_session_id"])


def _state(db: Engine, session_id: int) -> str:
    return str(session(db, session_id)["state"])


def _byes_received(sipp: SippUas) -> int:
    """BYE requests in SIPp's message trace (what it received from the service)."""
    return sipp.trace.read_text(errors="replace").count("\nBYE sip:")


def test_session_release_hangs_up_an_answered_call(
    cli: CliRunner, db: Engine, db_url: str, tmp_path: Path
) -> None:
    token = provision(db)
    with serving(tmp_path, db_url) as (proc, sipp):
        sid = _start(proc, token, "79260000701", text=LONG)
        wait_until(lambda: _state(db, sid) == "answered", 15, "the call to be answered")
        run = cli("admin", "session", "release", str(sid), "--json")
        assert run.status == 0, run.err
        assert (run.json["outcome"], run.json["state"]) == ("release_requested", "answered")
        wait_until(lambda: _state(db, sid) == "finished", 5, "the dialer to hang up")
        wait_until(lambda: _byes_received(sipp) == 1, 5, "SIPp to receive the BYE")
    row = session(db, sid)
    assert row["finish_reason"] == "released", row
    assert row["sip_code"] == 200 and "release" in row["finish_detail"]
    assert row["end_at"] - row["answer_at"] < 4  # cut short: the message lasts about 6 s
    assert sipp.calls_by_contact() == {"79260000701": 1}


def test_queued_session_plays_its_media_file_after_the_file_is_removed(
    cli: CliRunner, db: Engine, db_url: str, tmp_path: Path
) -> None:
    # One call at a time: the media call waits in the queue while the first one plays.
    token = provision(db, max_concurrent_calls=1)
    media_id = add_media(cli, "acme", write_tone(tmp_path / "tone.wav", seconds=2.0))
    media = {"type": "media", "value": str(media_id)}
    pcm = tmp_path / "data" / cli("admin", "media", "list", "acme", "--json").json[0]["pcm_path"]
    with serving(tmp_path, db_url) as (proc, _sipp):
        first = _start(proc, token, "79260000702", text=MEDIUM)
        wait_until(lambda: _state(db, first) == "answered", 15, "the first call to be answered")
        waiting = _start(proc, token, "79260000703", contact_message=media)
        removed = cli("admin", "media", "remove", "acme", str(media_id), "--json")
        assert removed.status == 0, removed.err
        assert _state(db, waiting) == "queued"
        assert removed.json["unfinished_sessions"] == 1 and removed.json["files_deleted"] is False
        assert pcm.exists()
        wait_until(lambda: _state(db, waiting) == "finished", 20, "the media call to finish")
    row = session(db, waiting)
    assert row["finish_reason"] == "success_finish", row
    assert row["end_at"] - row["answer_at"] >= 1.8  # the whole 2 s file was played
    again = cli("admin", "media", "remove", "acme", str(media_id), "--json")
    assert again.json["was_removed"] is True and again.json["files_deleted"] is True
    assert not pcm.exists()
