"""Every JSON-RPC reply is counted at /metrics by method and mnemonic."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from vestnik.api import create_app
from vestnik.api.metrics import metrics_routes
from vestnik.config import Config
from vestnik.store import create_db_engine

COUNTER = "vestnik_api_requests_total"


async def _count(client: httpx.AsyncClient, method: str, mnemonic: str) -> float:
    text = (await client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == COUNTER and sample.labels == {"method": method, "mnemonic": mnemonic}:
                return float(sample.value)
    return 0.0


async def test_replies_are_counted_by_method_and_mnemonic(sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url)
    config = Config()
    app = create_app(config, engine, extra_routes=metrics_routes(engine))
    body = {"jsonrpc": "2.0", "id": 1, "method": "list.calls", "params": {"access_token": "x"}}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        invalid_before = await _count(client, "list.calls", "access_token_invalid")
        parse_before = await _count(client, "none", "parse_error")
        unknown_before = await _count(client, "none", "method_not_found")
        await client.post("/v4.0", json=body)
        await client.post("/v4.0", json=body)
        await client.post(
            "/v4.0", content=b"{", headers={"content-type": "application/json; charset=UTF-8"}
        )
        await client.post("/v4.0", json={**body, "method": "no.such_method"})
        assert await _count(client, "list.calls", "access_token_invalid") == invalid_before + 2
        assert await _count(client, "none", "parse_error") == parse_before + 1
        assert await _count(client, "none", "method_not_found") == unknown_before + 1
    engine.dispose()


async def test_request_durations_are_a_histogram_by_method(sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url)
    app = create_app(Config(), engine, extra_routes=metrics_routes(engine))
    body = {"jsonrpc": "2.0", "id": 1, "method": "list.calls", "params": {"access_token": "x"}}
    name = "vestnik_api_request_duration_seconds"

    async def count(client: httpx.AsyncClient) -> tuple[float, float]:
        samples = {
            (sample.name, sample.labels.get("le")): sample.value
            for family in text_string_to_metric_families((await client.get("/metrics")).text)
            for sample in family.samples
            if sample.labels.get("method") == "list.calls"
        }
        return samples.get((f"{name}_count", None), 0.0), samples.get((f"{name}_bucket", "+Inf"), 0)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        before, inf_before = await count(client)
        await client.post("/v4.0", json=body)
        after, inf_after = await count(client)
    assert (after, inf_after) == (before + 1, inf_before + 1)
    engine.dispose()
