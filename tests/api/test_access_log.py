"""The access log (``vestnik.access``): one line per request on every API surface, over real
HTTP, with the facts as record attributes for structured output."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.api import seed_account, serve, wav_bytes
from vestnik.api.dataapi import DATA_API_PATH, dataapi_routes
from vestnik.api.upload import UPLOAD_METHOD, UPLOAD_PATH, upload_routes
from vestnik.config import Config
from vestnik.media.audiofile import MediaImporter
from vestnik.store import create_db_engine


@dataclass
class Site:
    http: httpx.Client
    account_id: int
    token: str


@pytest.fixture
def site(tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture) -> Iterator[Site]:
    """Call API, Data API and upload on one server; the access log captured."""
    caplog.set_level(logging.INFO, logger="vestnik.access")
    config = Config(data_dir=str(tmp_path / "data"))
    engine = create_db_engine(sqlite_url)
    account_id, token = seed_account(engine)
    routes = [
        *dataapi_routes(config, engine),
        *upload_routes(config, engine, MediaImporter(config)),
    ]
    with serve(engine, config, routes) as (_url, http):
        yield Site(http, account_id, token)
    engine.dispose()


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    records = [r for r in caplog.records if r.name == "vestnik.access"]
    assert all(r.levelno == logging.INFO for r in records)
    return records


def facts(record: logging.LogRecord) -> tuple[object, ...]:
    fields = ("path", "method", "account_id", "client", "result", "status")
    return tuple(getattr(record, name) for name in fields)


def rpc(site: Site, path: str, method: str, token: str) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"access_token": token}}
    site.http.post(path, json=body)


def test_one_line_per_request_on_every_surface(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    rpc(site, "/v4.0", "list.calls", site.token)
    rpc(site, "/v4.0", "list.calls", "not a token")
    site.http.post("/v4.0", content=b"{", headers={"content-type": "application/json"})
    rpc(site, "/v4.0", "no.such_method", site.token)
    rpc(site, DATA_API_PATH, "get.virtual_numbers", site.token)
    site.http.post(
        UPLOAD_PATH,
        data={"access_token": site.token},
        files={"file": ("hello.wav", wav_bytes(0.5), "audio/wav")},
    )
    site.http.post(UPLOAD_PATH, data={"access_token": "not a token"}, files={"file": b"x"})
    me, local = site.account_id, "127.0.0.1"
    assert [facts(r) for r in access_lines(caplog)] == [
        ("/v4.0", "list.calls", me, local, "ok", 200),
        ("/v4.0", "list.calls", None, local, "access_token_invalid", 200),
        ("/v4.0", None, None, local, "parse_error", 200),
        ("/v4.0", None, None, local, "method_not_found", 200),
        (DATA_API_PATH, "get.virtual_numbers", me, local, "ok", 200),
        (UPLOAD_PATH, UPLOAD_METHOD, me, local, "ok", 200),
        (UPLOAD_PATH, UPLOAD_METHOD, None, local, "access_token_invalid", 401),
    ]


def test_a_line_reads_as_text_and_carries_the_duration(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    rpc(site, "/v4.0", "list.calls", site.token)
    rpc(site, "/v4.0", "list.calls", "not a token")
    ok, refused = access_lines(caplog)
    assert isinstance(ok.duration_ms, float) and 0 <= ok.duration_ms < 10_000
    text = ok.getMessage()
    assert text.startswith(f"POST /v4.0 list.calls account={site.account_id} client=127.0.0.1 ok ")
    assert text.endswith(" ms")
    assert " account=- " in refused.getMessage()
    assert " access_token_invalid " in refused.getMessage()
