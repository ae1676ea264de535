"""Signing in and out: the login form (operators and account users alike), the lockout after
repeated failures, logout."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from vestnik.auth import hash_token, verify_login
from vestnik.console.context import console_of, viewer_of
from vestnik.console.gate import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    account_refusal,
    client_ip,
    new_secret,
    secure_cookie,
    session_expiry,
)
from vestnik.console.render import render
from vestnik.store import console as store
from vestnik.store.db import Connection
from vestnik.threads import run_in_thread

FAILED = "Wrong login or password."


def _next_url(request: Request, raw: str | None) -> str:
    """Where to go after signing in: a path inside the console only (no open redirect)."""
    root = str(request.scope.get("root_path", ""))
    if raw and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return root + raw
    return root + "/"


async def login_form(request: Request, error: str = "", status: int = 200) -> Response:
    token = request.cookies.get(LOGIN_COOKIE) or new_secret()
    response = render(
        request, "login.html", status=status, login_csrf=token, error=error,
        why=request.query_params.get("why", ""), next=request.query_params.get("next", ""),
    )  # fmt: skip
    root = request.scope.get("root_path", "") or "/"
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="lax", path=root,
        secure=secure_cookie(console_of(request).config, request),
    )  # fmt: skip
    return response


async def login(request: Request) -> Response:
    if request.method == "GET":
        return await login_form(request)
    console = console_of(request)
    form = await request.form()
    name = str(form.get("login", "")).strip()
    password = str(form.get("password", ""))
    at = time.time()
    if not name or not password or len(name) > 200:
        return await login_form(request, FAILED, 401)
    person = await console.read(lambda conn: store.find_person(conn, name))
    locked = await console.read(lambda conn: store.locked_until(conn, name))
    if locked is not None and locked > at:
        wait = int(locked - at) + 1
        return await login_form(request, f"Too many failed logins: try again in {wait} s.", 429)
    ok = await run_in_thread(verify_login, person.password_hash if person else None, password)
    c = console.config.console
    if not ok or person is None or not person.enabled:
        await console.write(lambda conn: store.record_failure(
            conn, name, at, free=c.lockout_after, base=c.lockout_seconds,
            cap=c.lockout_max_seconds,
        ))  # fmt: skip
        return await login_form(request, FAILED, 401)
    why = account_refusal(person, client_ip(console.config, request.scope))
    if why is not None:
        return await login_form(request, f"Refused: {why}.", 403)
    token, csrf = new_secret(), new_secret()
    expires = session_expiry(console.config, at, at)

    def begin(conn: Connection) -> None:
        store.clear_failures(conn, name)
        store.delete_expired_sessions(conn, at)
        store.create_session(conn, hash_token(token), person, csrf, at, expires)

    await console.write(begin)
    response = RedirectResponse(_next_url(request, str(form.get("next", "")) or None), 303)
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="lax",
        path=request.scope.get("root_path", "") or "/",
        secure=secure_cookie(console.config, request),
    )  # fmt: skip
    return response


async def logout(request: Request) -> Response:
    viewer_of(request)  # the gate let only a signed-in viewer with the right token through
    token = request.cookies.get(SESSION_COOKIE, "")
    await console_of(request).write(lambda conn: store.delete_session(conn, hash_token(token)))
    root = request.scope.get("root_path", "")
    response = RedirectResponse(f"{root}/login", 303)
    response.delete_cookie(SESSION_COOKIE, path=root or "/")
    return response


ROUTES = [
    Route("/login", login, methods=["GET", "POST"], name="login"),
    Route("/logout", logout, methods=["POST"], name="logout"),
]
