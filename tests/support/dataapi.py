"""A client of the Data API under test (``DataApi``), and the data its report tests seed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Engine

from tests.support.events import make_session
from vestnik.api.dataapi import DATA_API_PATH


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


T0 = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
DAY = {"date_from": "2026-11-01 00:00:00", "date_till": "2026-11-01 23:59:59"}
REASONS = ["success_finish", "subscriber_busy", "subscriber_not_responsible"]


def seed_many(api: DataApi, n: int = 30) -> list[dict[str, Any]]:
    with api.engine.begin() as conn:
        return [
            make_session(
                conn,
                api.account_id,
                created_at=T0 + 60 * i,
                dial_at=T0 + 60 * i,
                answer_at=None if i % 3 == 1 else T0 + 60 * i + 2,
                end_at=T0 + 60 * i + 2 + 10 * i,
                finish_reason=REASONS[i % 3],
                contact=f"7926000{i:04d}",
                external_id=f"ext-{i}",
            )
            for i in range(n)
        ]
