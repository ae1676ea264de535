"""POST /v4.0/media: multipart upload over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.support.api import serve, wav_bytes
from tests.support.dataapi import DataApi
from tests.support.tcp_proxy import TcpProxy
from vestnik.api.upload import upload_routes
from vestnik.auth import TokenKind
from vestnik.config import Config, LimitsConfig
from vestnik.media.audiofile import MediaImporter
from vestnik.store import create_db_engine
from vestnik.store.accounts import create_account, update_account
from vestnik.store.admin_users import issue_token
from vestnik.store.schema import media_files

MAX_UPLOAD = 200_000


@pytest.fixture
def uploads(db_url: str, tmp_path: Path) -> Iterator[DataApi]:
    config = Config()
    config.data_dir = str(tmp_path / "data")
    config.server.max_upload_bytes = MAX_UPLOAD
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        account_id = create_account(conn, "acme", LimitsConfig())
        token = issue_token(conn, account_id, TokenKind.PERMANENT).access_token
    routes = upload_routes(config, engine, MediaImporter(config))
    with serve(engine, config, routes) as (_url, http):
        yield DataApi(http, engine, account_id, token)
    engine.dispose()


def stored_files(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "data").rglob("*") if p.is_file())


def count_media(api: DataApi) -> int:
    with api.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(media_files)).scalar_one())


def test_upload_returns_media_file_id(uploads: DataApi, tmp_path: Path) -> None:
    response = uploads.http.post(
        "/v4.0/media",
        data={"access_token": uploads.token, "name": "Приветствие"},
        files={"file": ("hello.wav", wav_bytes(), "audio/wav")},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["name"] == "Приветствие"
    assert data["type"] == "user"
    assert data["duration"] == 2  # 1.5 s, rounded up
    with uploads.engine.connect() as conn:
        row = (
            conn.execute(sa.select(media_files).where(media_files.c.id == data["media_file_id"]))
            .mappings()
            .one()
        )
    assert row["account_id"] == uploads.account_id
    assert row["original_filename"] == "hello.wav"
    assert 1400 <= row["duration_ms"] <= 1600
    # Original and converted PCM are stored; the temporary upload file is gone.
    files = stored_files(tmp_path)
    assert len([f for f in files if f.suffix == ".pcm"]) == 1
    assert not [f for f in files if f.name.startswith("upload-")]
    # The token can also come in the query string.
    response = uploads.http.post(
        f"/v4.0/media?access_token={uploads.token}",
        files={"file": ("again.wav", wav_bytes(0.5), "audio/wav")},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["name"] == "again"


@pytest.mark.parametrize(
    ("kind", "status", "mnemonic"),
    [
        ("no_token", 400, "required_parameter_missed"),
        ("bad_token", 401, "access_token_invalid"),
        ("not_audio", 422, "invalid_parameter_value"),
        ("too_large", 413, "request_too_large"),
        ("no_file", 400, "required_parameter_missed"),
        ("json", 415, "unsupported_content_type"),
        ("extra_field", 400, "unexpected_parameters"),
        ("ip", 403, "ip_not_whitelisted"),
        # PostgreSQL cannot store NUL: refused like the Call API refuses it, not a 500.
        ("nul_in_name", 400, "invalid_parameter_value"),
        ("nul_in_filename", 400, "invalid_parameter_value"),
    ],
)
def test_refused_uploads_leave_nothing(
    uploads: DataApi, tmp_path: Path, kind: str, status: int, mnemonic: str
) -> None:
    token = uploads.token
    fields: dict[str, str] = {"access_token": token}
    files: dict[str, Any] = {"file": ("a.wav", wav_bytes(), "audio/wav")}
    if kind == "no_token":
        fields = {}
    elif kind == "bad_token":
        fields = {"access_token": "x" * 48}
    elif kind == "not_audio":
        files = {"file": ("a.wav", b"this is not audio at all" * 100, "audio/wav")}
    elif kind == "too_large":
        files = {"file": ("big.wav", wav_bytes(seconds=10), "audio/wav")}  # ~320 kB
    elif kind == "no_file":
        # multipart with the token as its only part (a file-less form would be urlencoded)
        fields, files = {}, {"access_token": (None, token)}
    elif kind == "extra_field":
        fields["colour"] = "blue"
    elif kind == "nul_in_name":
        fields["name"] = "greeting\x00"
    elif kind == "ip":
        with uploads.engine.begin() as conn:
            update_account(conn, uploads.account_id, ip_allowlist=["10.0.0.0/8"])
    if kind == "json":
        response = uploads.http.post("/v4.0/media", json={"access_token": token})
    elif kind == "nul_in_filename":
        # Written by hand: httpx would percent-encode the NUL.
        body = (
            b'--b0\r\nContent-Disposition: form-data; name="access_token"\r\n\r\n'
            + token.encode()
            + b'\r\n--b0\r\nContent-Disposition: form-data; name="file"; filename="a\x00.wav"'
            + b"\r\nContent-Type: audio/wav\r\n\r\n"
            + wav_bytes()
            + b"\r\n--b0--\r\n"
        )
        headers = {"content-type": "multipart/form-data; boundary=b0"}
        response = uploads.http.post("/v4.0/media", content=body, headers=headers)
    else:
        try:
            response = uploads.http.post("/v4.0/media", data=fields, files=files)
        except httpx.WriteError:
            # The server may answer 413 and close while the client is still sending.
            assert kind == "too_large"
            response = None
    if response is not None:
        assert response.status_code == status, response.text
        assert response.json()["error"]["data"]["mnemonic"] == mnemonic
    assert count_media(uploads) == 0
    assert stored_files(tmp_path) == []


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_upload_to_a_database_that_does_not_answer_is_internal_error_in_time(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    timeout = 1.0
    config = Config()
    config.data_dir = str(tmp_path / "data")
    config.database.timeout = timeout
    direct = create_db_engine(db_url)
    with direct.begin() as conn:
        token = issue_token(conn, create_account(conn, "acme", LimitsConfig()), TokenKind.PERMANENT)
    direct.dispose()
    with TcpProxy.in_front_of(db_url) as proxy:
        engine = create_db_engine(proxy.route(db_url), timeout=timeout)
        routes = upload_routes(config, engine, MediaImporter(config))
        with serve(engine, config, routes) as (_url, http):

            def upload() -> httpx.Response:
                return http.post(
                    "/v4.0/media",
                    data={"access_token": token.access_token},
                    files={"file": ("hello.wav", wav_bytes(), "audio/wav")},
                )

            proxy.black_hole()
            started = time.monotonic()
            response = upload()
            took = time.monotonic() - started
            assert stored_files(tmp_path) == []
            proxy.forward()
            assert upload().status_code == 200  # no restart needed
        engine.dispose()
    assert response.status_code == 500
    assert response.json()["error"]["data"]["mnemonic"] == "internal_error"
    assert took < timeout + 1.5
    assert not [r for r in caplog.records if r.exc_info], "an outage is no traceback"
