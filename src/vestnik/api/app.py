"""The ASGI application: ``POST /v4.0`` (Call API) and ``GET /health``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vestnik.api.jsonrpc import JsonRpcEndpoint, MethodSpec
from vestnik.api.methods.calls import LIST_CALLS, RELEASE_CALL
from vestnik.api.methods.informer_fast import START_INFORMER_CALL, informer_spec
from vestnik.api.methods.sessions import LOGIN_USER, LOGOUT_USER
from vestnik.calls.numbers import number_facts
from vestnik.config import Config
from vestnik.store.db import Engine

CALL_API_PATH = "/v4.0"
CALL_API_METHODS: Mapping[str, MethodSpec] = {
    "login.user": LOGIN_USER,
    "logout.user": LOGOUT_USER,
    "start.informer_call": START_INFORMER_CALL,
    "release.call": RELEASE_CALL,
    "list.calls": LIST_CALLS,
}
_HEALTH_BODY = b'{"status":"ok"}'


async def health(_request: Request) -> Response:
    """Liveness only (no database): also the trivial endpoint of the benchmark."""
    return Response(_HEALTH_BODY, media_type="application/json")


def create_app(
    config: Config,
    engine: Engine,
    extra_routes: Sequence[BaseRoute] = (),
    *,
    on_session_queued: Callable[[], None] | None = None,
    speech_unavailable: str | None = None,
) -> Starlette:
    """The HTTP app on ``engine`` (already migrated). The dialer is not started here:
    ``on_session_queued`` is called after each ``start.informer_call`` that queued a session
    (the service passes the dialer's ``wake``, so the session is claimed at once).
    ``speech_unavailable``: why ``collect_speech`` is refused here (the service passes
    ``vestnik.speech.unavailable_reason``; None: it is taken)."""
    on_commit = {} if on_session_queued is None else {"start.informer_call": on_session_queued}
    methods = dict(CALL_API_METHODS)
    if speech_unavailable is not None:
        methods["start.informer_call"] = informer_spec(speech_unavailable)
    call_api = JsonRpcEndpoint(methods, config, engine, on_commit=on_commit)
    number_facts("74993720692")  # load the geocoder's data now, not in the first request
    routes: list[BaseRoute] = [
        Route(CALL_API_PATH, call_api, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        *extra_routes,
    ]

    # Every JSON-RPC endpoint (the Call API and any among extra_routes, e.g. the Data API)
    # holds a connection and, on SQLite, its engine's WAL checkpointer: released at shutdown.
    endpoints: list[JsonRpcEndpoint] = [
        r.endpoint
        for r in routes
        if isinstance(r, Route) and isinstance(r.endpoint, JsonRpcEndpoint)
    ]

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        for endpoint in endpoints:
            endpoint.close()

    return Starlette(routes=routes, lifespan=lifespan)
