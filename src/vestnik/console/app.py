"""The console's sub-application: its pages, the session gate, static files, error pages and
the headers every answer carries."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from vestnik.calls.ports import MessageRenderer
from vestnik.config import Config
from vestnik.console import calls, login, manage, overview
from vestnik.console.commands import AdminRunner
from vestnik.console.context import Console
from vestnik.console.gate import ASGIApp, Receive, Scope, Send, SessionGate
from vestnik.console.render import STATIC, render, set_zone
from vestnik.store.db import Engine

MOUNT = "/console"
_TITLES = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed"}
# No inline script or style, nothing from elsewhere, never inside a frame.
_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; "
     b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]  # fmt: skip


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += _HEADERS
                if not scope.get("path", "").startswith(f"{MOUNT}/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


async def _error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = {
        404: "There is no such page here, or it is not yours to see.",
        403: "You may not do this.",
    }.get(status, str(getattr(exc, "detail", "")))
    return render(request, "error.html", status=status, code=status,
                  title=_TITLES.get(status, "Error"), detail=detail)  # fmt: skip


async def _to_slash(request: Request) -> Response:
    return RedirectResponse(f"{MOUNT}/", 308)


def console_app(
    config: Config,
    engine: Engine,
    admin: AdminRunner | None = None,
    renderer: MessageRenderer | None = None,
) -> Starlette:
    console = Console(config, engine, admin, renderer)
    set_zone(config.console.timezone)
    routes: list[BaseRoute] = [
        *login.ROUTES,
        *overview.ROUTES,
        *calls.ROUTES,
        *manage.ROUTES,
        Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders), Middleware(SessionGate, console=console)],
        exception_handlers={HTTPException: _error},
    )
    app.state.console = console
    return app


def console_routes(
    config: Config,
    engine: Engine,
    admin: AdminRunner | None = None,
    renderer: MessageRenderer | None = None,
) -> list[BaseRoute]:
    """The routes the service adds to its HTTP app (none when ``[console] enabled = false``);
    ``admin`` runs the admin commands for the console's changes (None: read-only);
    ``renderer`` (the dialer's) renders a call's message for its player."""
    if not config.console.enabled:
        return []
    app = console_app(config, engine, admin, renderer)
    return [Route(MOUNT, _to_slash), Mount(MOUNT, app=app)]
