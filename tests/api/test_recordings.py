"""Recordings over real HTTP: GET /system/media/talk/{session}/{recording}/ and the Data API's
call_records, wav_call_records and full_record_file_link, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from tests.support.api import serve
from tests.support.dataapi import DAY, T0, DataApi
from tests.support.events import make_account, make_session
from vestnik.api.dataapi import dataapi_routes
from vestnik.api.recordings import recording_routes
from vestnik.auth import TokenKind
from vestnik.calls.ports import Recording
from vestnik.config import Config, LimitsConfig
from vestnik.store import create_db_engine
from vestnik.store.accounts import create_account, update_account
from vestnik.store.admin_users import block_key, issue_token
from vestnik.store.db import now
from vestnik.store.recordings import save_recording
from vestnik.telephony.listen.recorder import CallRecorder

PUBLIC = "https://calls.example.ru/base/"


@dataclass
class Seeded:
    api: DataApi
    session_id: int  # two recordings (attempts 1 and 3)
    first: tuple[int, bytes]
    last: tuple[int, bytes]
    bare_session_id: int  # answered, not recorded
    foreign: tuple[int, int]  # another account's session and recording


def a_recording(seed: int, seconds: float = 0.5) -> Recording:
    """A real stereo WAV from the recorder: a tone per channel, different per ``seed``."""
    recorder = CallRecorder(10)
    t = np.arange(int(seconds * 8000)) / 8000
    recorder.add(0, 0, (6000 * np.sin(2 * np.pi * (300 + 50 * seed) * t)).astype(np.int16))
    recorder.add(1, 160, (3000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16))
    recording = recorder.recording()
    assert recording is not None
    return recording


def _store(
    api: DataApi, session_id: int, account_id: int, attempt: int, seed: int
) -> tuple[int, bytes]:
    recording = a_recording(seed)
    with api.engine.begin() as conn:
        rid = save_recording(
            conn, session_id=session_id, account_id=account_id, attempt=attempt,
            recording=recording, at=T0 + 100 + attempt,
        )  # fmt: skip
    return rid, recording.wav


def _seed(api: DataApi) -> Seeded:
    with api.engine.begin() as conn:
        session = make_session(conn, api.account_id, created_at=T0 + 60)
        bare = make_session(conn, api.account_id, created_at=T0 + 120)
        other = make_account(conn, "other")
        foreign = make_session(conn, other, created_at=T0 + 90)
    first = _store(api, session["id"], api.account_id, 1, 1)
    _, _ = _store(api, foreign["id"], other, 1, 2)
    foreign_id, _ = _store(api, foreign["id"], other, 2, 4)
    last = _store(api, session["id"], api.account_id, 3, 3)
    return Seeded(api, session["id"], first, last, bare["id"], (foreign["id"], foreign_id))


def _serve(db_url: str, config: Config) -> Iterator[Seeded]:
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        account_id = create_account(conn, "acme", LimitsConfig())
        token = issue_token(conn, account_id, TokenKind.PERMANENT).access_token
    routes = [*dataapi_routes(config, engine), *recording_routes(config, engine)]
    with serve(engine, config, routes) as (_url, http):
        yield _seed(DataApi(http, engine, account_id, token))
    engine.dispose()


@pytest.fixture
def seeded(db_url: str) -> Iterator[Seeded]:
    yield from _serve(db_url, Config())


@pytest.fixture
def seeded_public(db_url: str) -> Iterator[Seeded]:
    config = Config()
    config.server.public_url = PUBLIC
    yield from _serve(db_url, config)


def path(session_id: int, recording_id: int) -> str:
    return f"/system/media/talk/{session_id}/{recording_id}/"


def error(response: object) -> tuple[int, str, str | None]:
    body = response.json()  # type: ignore[attr-defined]
    data = body["error"]["data"]
    return response.status_code, data["mnemonic"], data["field"]  # type: ignore[attr-defined]


def test_download_with_bearer_or_query_token(seeded: Seeded) -> None:
    api = seeded.api
    rid, wav = seeded.last
    response = api.http.get(
        path(seeded.session_id, rid), headers={"Authorization": f"Bearer {api.token}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="call-{seeded.session_id}-3-{rid}.wav"'
    )
    assert response.content == wav
    with wave.open(io.BytesIO(response.content)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 8000)
    rid1, wav1 = seeded.first
    response = api.http.get(path(seeded.session_id, rid1), params={"access_token": api.token})
    assert response.status_code == 200 and response.content == wav1 != wav


def test_without_a_token_401(seeded: Seeded) -> None:
    rid, _ = seeded.last
    response = seeded.api.http.get(path(seeded.session_id, rid))
    assert error(response) == (401, "required_parameter_missed", "access_token")
    assert response.headers["www-authenticate"] == "Bearer"
    response = seeded.api.http.get(
        path(seeded.session_id, rid), headers={"Authorization": "Basic YTpi"}
    )
    assert error(response)[:2] == (401, "required_parameter_missed")


@pytest.mark.parametrize("kind", ["unknown", "expired", "blocked", "expired_session"])
def test_bad_tokens_refused(seeded: Seeded, kind: str) -> None:
    api = seeded.api
    rid, _ = seeded.last
    mnemonic = {
        "unknown": "access_token_invalid",
        "expired_session": "access_token_invalid",
        "expired": "access_token_expired",
        "blocked": "access_token_blocked",
    }[kind]
    token = "x" * 48
    if kind != "unknown":
        token_kind = TokenKind.SESSION if kind == "expired_session" else TokenKind.PERMANENT
        expires = now() - 1 if kind.startswith("expired") else None
        with api.engine.begin() as conn:
            key = issue_token(conn, api.account_id, token_kind, expires_at=expires)
            if kind == "blocked":
                block_key(conn, key.id)
        token = key.access_token
    response = api.http.get(path(seeded.session_id, rid), params={"access_token": token})
    assert error(response) == (401, mnemonic, "access_token")
    assert "RIFF" not in response.text


def test_account_gates_403(seeded: Seeded) -> None:
    api = seeded.api
    rid, _ = seeded.last
    with api.engine.begin() as conn:
        update_account(conn, api.account_id, ip_allowlist=["10.0.0.0/8"])
    response = api.http.get(path(seeded.session_id, rid), params={"access_token": api.token})
    assert error(response)[:2] == (403, "ip_not_whitelisted")
    with api.engine.begin() as conn:
        update_account(conn, api.account_id, ip_allowlist=["127.0.0.0/8"], is_active=False)
    response = api.http.get(path(seeded.session_id, rid), params={"access_token": api.token})
    assert error(response)[:2] == (403, "account_inactive")


def test_another_accounts_or_unknown_recording_404(seeded: Seeded) -> None:
    api = seeded.api
    foreign_session, foreign_rid = seeded.foreign
    rid, _ = seeded.last
    for session_id, recording_id in [
        (foreign_session, foreign_rid),  # another account's
        (seeded.session_id, foreign_rid),  # another account's, under our session
        (foreign_session, rid),  # ours, under another session
        (seeded.bare_session_id, rid),  # ours, under our session without recordings
        (seeded.session_id, rid + 1000),  # none
    ]:
        response = api.http.get(path(session_id, recording_id), params={"access_token": api.token})
        assert error(response) == (404, "entity_not_found", "recording_id"), (
            session_id,
            recording_id,
        )
    # Without the trailing slash: a redirect to the path with it.
    response = api.http.get(path(seeded.session_id, rid).rstrip("/"))
    assert response.status_code == 307
    assert response.headers["location"].endswith(path(seeded.session_id, rid))
    # A path that is no recording's shape at all is the app's plain 404.
    response = api.http.get("/system/media/talk/x/1/", params={"access_token": api.token})
    assert response.status_code == 404


def _report(api: DataApi) -> dict[int, dict[str, object]]:
    fields = ["id", "call_records", "wav_call_records", "full_record_file_link"]
    rows = api.call("get.calls_report", **DAY, fields=fields)["data"]
    return {row["id"]: row for row in rows}


def test_calls_report_lists_the_recordings(seeded: Seeded) -> None:
    api = seeded.api
    rows = _report(api)
    (rid1, _), (rid3, wav3) = seeded.first, seeded.last
    assert rows[seeded.session_id] == {
        "id": seeded.session_id,
        "call_records": [str(rid1), str(rid3)],
        "wav_call_records": [str(rid1), str(rid3)],
        "full_record_file_link": path(seeded.session_id, rid3),
    }
    assert rows[seeded.bare_session_id]["call_records"] == []
    assert rows[seeded.bare_session_id]["full_record_file_link"] is None
    assert set(rows) == {seeded.session_id, seeded.bare_session_id}  # not the other account's
    # The link is what downloads it (a path: joined to the address the client uses).
    link = rows[seeded.session_id]["full_record_file_link"]
    response = api.http.get(str(link), headers={"Authorization": f"Bearer {api.token}"})
    assert response.status_code == 200 and response.content == wav3
    # In the default field set too.
    default = api.call("get.calls_report", **DAY)["data"]
    assert {r["id"]: r["call_records"] for r in default}[seeded.session_id] == [
        str(rid1),
        str(rid3),
    ]


def test_calls_report_link_uses_public_url(seeded_public: Seeded) -> None:
    rows = _report(seeded_public.api)
    rid3, _ = seeded_public.last
    assert rows[seeded_public.session_id]["full_record_file_link"] == (
        f"https://calls.example.ru/base/system/media/talk/{seeded_public.session_id}/{rid3}/"
    )
    assert rows[seeded_public.bare_session_id]["full_record_file_link"] is None
