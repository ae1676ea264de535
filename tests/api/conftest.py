"""Fixtures of the API tests: one uvicorn server per backend, a fresh account per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import Engine

from tests.support.api import Api, seed_account, serve
from tests.support.db import pg_database_url
from vestnik.config import Config
from vestnik.store import create_db_engine, migrate


@dataclass
class Served:
    url: str
    http: httpx.Client
    engine: Engine
    config: Config


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One server per backend for the whole run; each test gets a fresh account on it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'vestnik.db'}"
        engine = create_db_engine(url)
        migrate(engine)
    else:
        engine = create_db_engine(pg_database_url())
    config = Config()
    with serve(engine, config) as (base, http):
        yield Served(base, http, engine, config)
    engine.dispose()


@pytest.fixture
def api(served: Served) -> Api:
    account_id, token = seed_account(served.engine)
    return Api(served.url, served.http, served.engine, served.config, account_id, token)
