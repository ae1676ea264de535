"""Data API v2.0 (``POST /dataapi/v2.0``): reports and lookups on the Call API's machinery.

Same envelope, authentication, IP allow-list and points limits as ``/v4.0``; list methods add
``result.metadata.total_items``. Give :func:`dataapi_routes` to ``create_app(extra_routes=...)``.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from vestnik.api.access import Exchange
from vestnik.api.dataapi.methods import DATA_API_METHODS
from vestnik.api.jsonrpc import JsonRpcEndpoint
from vestnik.config import Config
from vestnik.store.db import Engine
from vestnik.store.reports.pages import Page

DATA_API_PATH = "/dataapi/v2.0"


class DataApiEndpoint(JsonRpcEndpoint):
    """The JSON-RPC endpoint, plus ``metadata.total_items`` for handlers that return a Page."""

    async def dispatch(self, request: Any, exchange: Exchange) -> dict[str, Any]:
        reply = await super().dispatch(request, exchange)
        result = reply.get("result")
        if isinstance(result, dict) and isinstance(result.get("data"), Page):
            page: Page = result["data"]
            result["data"] = page.items
            result["metadata"] = {"total_items": page.total_items, **result["metadata"]}
        return reply


def dataapi_routes(config: Config, engine: Engine) -> list[BaseRoute]:
    endpoint = DataApiEndpoint(DATA_API_METHODS, config, engine)
    return [Route(DATA_API_PATH, endpoint, methods=["POST"])]


__all__ = ["DATA_API_METHODS", "DATA_API_PATH", "DataApiEndpoint", "dataapi_routes"]
