"""The service's HTTP app with the Data API, served by uvicorn on loopback (in a thread)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from tests.api.conftest import VPN, serve

from vestnik.api.dataapi import DATA_API_PATH, dataapi_routes
from vestnik.api.metrics import metrics_routes
from vestnik.auth import TokenKind
from vestnik.config import Config, LimitsConfig
from vestnik.store import create_db_engine
from vestnik.store.accounts import create_account
from vestnik.store.admin_numbers import add_number
from vestnik.store.admin_users import issue_token


@dataclass
class DataApi:
    http: httpx.Client
    engine: Engine
    account_id: int
    token: str

    def rpc(self, method: str, params: dict[str, Any], path: str = DATA_API_PATH) -> Any:
        body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
        response = self.http.post(path, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def call(self, method: str, **params: Any) -> Any:
        """``result`` of a successful call (fails the test on an error reply)."""
        reply = self.rpc(method, {"access_token": self.token, **params})
        assert "result" in reply, reply
        return reply["result"]

    def error(self, method: str, **params: Any) -> dict[str, Any]:
        reply = self.rpc(method, {"access_token": self.token, **params})
        assert "error" in reply, reply
        return dict(reply["error"])


@pytest.fixture
def api(db_url: str) -> Iterator[DataApi]:
    config = Config()
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        account_id = create_account(conn, "acme", LimitsConfig())
        token = issue_token(conn, account_id, TokenKind.PERMANENT).access_token
        add_number(conn, account_id, VPN, "Москва")
    routes = [*dataapi_routes(config, engine), *metrics_routes(engine)]
    with serve(engine, config, routes) as (_url, http):
        yield DataApi(http, engine, account_id, token)
    engine.dispose()
