"""The service's HTTP app with the Data API, served by uvicorn on loopback (in a thread)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.api import VPN, serve
from tests.support.dataapi import DataApi
from vestnik.api.dataapi import dataapi_routes
from vestnik.api.metrics import metrics_routes
from vestnik.auth import TokenKind
from vestnik.config import Config, LimitsConfig
from vestnik.store import create_db_engine
from vestnik.store.accounts import create_account
from vestnik.store.admin_numbers import add_number
from vestnik.store.admin_users import issue_token


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
