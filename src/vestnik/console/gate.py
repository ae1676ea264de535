"""The console's door: who is signed in, and that every POST carries its CSRF token.

A pure ASGI middleware in front of every console page. It resolves the session cookie to a
viewer (a lapsed session, a blocked operator, a switched-off user or account, an address off
the account's allow-list: no viewer), sends those without one to the login form, and refuses
any POST whose ``csrf_token`` field (or ``X-CSRF-Token`` header) is not the session's with 403
before the page runs, so no handler can forget the check. The login form, before any session,
is protected the same way by a double-submit cookie.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from vestnik.api.auth import ip_allowed
from vestnik.api.client import client_address, trusted_networks
from vestnik.auth import hash_token
from vestnik.config import Config
from vestnik.console.context import Console, Viewer
from vestnik.store import console as store

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SESSION_COOKIE = "vestnik_console"
LOGIN_COOKIE = "vestnik_console_login"  # the login form's double-submit CSRF token
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
TOUCH_EVERY = 60.0  # seconds between writes of a session's last-seen time
_PUBLIC = ("/login", "/static/")


def relative_path(scope: Scope) -> str:
    """The path below the console's mount point (``/calls/5``)."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    return path[len(root) :] or "/" if root and path.startswith(root) else path


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def secure_cookie(config: Config, request: Request) -> bool:
    mode = config.console.secure_cookie
    if mode != "auto":
        return mode == "always"
    if request.url.scheme == "https":
        return True
    trusted = trusted_networks(config.server.trusted_proxies)
    peer = request.client.host if request.client else None
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return bool(trusted and peer and client_address(request.scope, trusted) != peer
                and proto == "https")  # fmt: skip


def client_ip(config: Config, scope: Scope) -> str | None:
    return client_address(scope, trusted_networks(config.server.trusted_proxies))


def account_refusal(person: store.Person, ip: str | None) -> str | None:
    """Why an account user may not use the console now (None: they may)."""
    account = person.account
    if account is None:
        return None
    if not account["is_active"]:
        return "the account is deactivated"
    if not ip_allowed(account["ip_allowlist"], ip):
        return f"the address {ip} is not on the account's allow-list"
    return None


class SessionGate:
    def __init__(self, app: ASGIApp, console: Console) -> None:
        self.app = app
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = relative_path(scope)
        request = Request(scope, receive)
        if scope["method"] == "POST":
            # Read once (bounded), then handed again to the page: the gate reads the form too.
            body = await _read_body(receive, self.console.config.server.max_upload_bytes)
            if body is None:
                await PlainTextResponse("request too large", 413)(scope, receive, send)
                return
            request, receive = Request(scope, _replay(body)), _replay(body)
        if path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        if path == "/login":
            if scope["method"] == "POST":
                form = await request.form()
                if not same(str(form.get(CSRF_FIELD, "")), request.cookies.get(LOGIN_COOKIE)):
                    await _forbidden()(scope, receive, send)
                    return
            await self.app(scope, receive, send)
            return
        viewer, why = await self._viewer(request)
        if viewer is None:
            await _to_login(request, why)(scope, receive, send)
            return
        if scope["method"] == "POST" and not await _csrf_ok(request, viewer):
            await _forbidden()(scope, receive, send)
            return
        scope["vestnik.viewer"] = viewer
        await self.app(scope, receive, send)

    async def _viewer(self, request: Request) -> tuple[Viewer | None, str]:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None, ""
        token_hash, at = hash_token(token), time.time()
        session = await self.console.read(lambda conn: store.load_session(conn, token_hash, at))
        if session is None:
            return None, "Your session has ended: sign in again."
        why = account_refusal(session.person, client_ip(self.console.config, request.scope))
        if why is not None:
            return None, f"Refused: {why}."
        if at - session.seen_at >= TOUCH_EVERY:
            expires = session_expiry(self.console.config, session.created_at, at)
            await self.console.write(
                lambda conn: store.touch_session(conn, token_hash, at, expires)
            )
        return Viewer(session.person, session.csrf_token), ""


def session_expiry(config: Config, created_at: float, at: float) -> float:
    """Idle lapse from ``at``, never past the absolute lapse from ``created_at``."""
    c = config.console
    return min(at + c.idle_minutes * 60, created_at + c.max_hours * 3600)


async def _csrf_ok(request: Request, viewer: Viewer) -> bool:
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        return same(header, viewer.csrf_token)
    try:
        form: FormData = await request.form()
    except Exception:  # a malformed body carries no token
        return False
    value = form.get(CSRF_FIELD)
    return same(value if isinstance(value, str) else None, viewer.csrf_token)


def _forbidden() -> Response:
    return PlainTextResponse(
        "403 Forbidden: the form's csrf_token is missing or wrong (reload the page and try "
        "again). Nothing was changed.",
        403,
    )


def _to_login(request: Request, why: str) -> Response:
    root = request.scope.get("root_path", "")
    if request.method != "GET":
        return PlainTextResponse(why or "401 Unauthorized: sign in first.", 401)
    target = relative_path(request.scope)
    if request.url.query:
        target += "?" + request.url.query
    url = f"{root}/login?next={quote(target)}"
    if why:
        url += "&why=" + quote(why)
    response = RedirectResponse(url, 303)
    if why:
        response.delete_cookie(SESSION_COOKIE, path=root or "/")
    return response


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit + 65536:  # the upload limit plus room for the form's other fields
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
