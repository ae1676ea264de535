"""``login.user`` and ``logout.user``: 1-hour session tokens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vestnik.api.auth import Principal
from vestnik.api.errors import ApiError
from vestnik.api.jsonrpc import MethodCall, MethodSpec
from vestnik.api.params import Kind, Param
from vestnik.auth import SESSION_TOKEN_TTL_SECONDS, TokenKind, verify_login
from vestnik.store.admin_users import issue_token
from vestnik.store.db import Connection
from vestnik.store.runner import DbRunner
from vestnik.store.tokens import UserLogin, delete_token, find_login, load_account
from vestnik.threads import run_in_thread


async def _login_step(params: Mapping[str, Any], runner: DbRunner) -> Principal:
    login: str = params["login"]
    password: str = params["password"]

    def read() -> tuple[UserLogin | None, dict[str, Any] | None]:
        with runner.transaction() as conn:
            user = find_login(conn, login)
            account = load_account(conn, user.account_id) if user is not None else None
        return user, account

    user, account = await runner.run(read)
    stored = user.password_hash if user is not None else None
    # Argon2 costs ~40 ms: never on the event loop.
    ok = await run_in_thread(verify_login, stored, password)
    if user is None or account is None or not ok or not user.is_active:
        raise ApiError("auth_error")
    return Principal(None, None, user.user_id, account)


def login_user(call: MethodCall, conn: Connection) -> dict[str, Any]:
    expires = call.at + SESSION_TOKEN_TTL_SECONDS
    issued = issue_token(
        conn, call.principal.account_id, TokenKind.SESSION,
        user_id=call.principal.user_id, expires_at=expires,
    )  # fmt: skip
    return {"access_token": issued.access_token, "expire_at": int(expires)}


def logout_user(call: MethodCall, conn: Connection) -> dict[str, Any]:
    """Ends a session token. A permanent key cannot be logged out (block it instead)."""
    if call.principal.token_kind is not TokenKind.SESSION:
        raise ApiError("forbidden", field="access_token", value=call.params["access_token"])
    assert call.principal.token_id is not None  # a session token was used
    delete_token(conn, call.principal.token_id)
    return {"success": True}


LOGIN_USER = MethodSpec(
    params=(Param("login", Kind.STRING, True), Param("password", Kind.STRING, True)),
    handler=login_user,
    login=_login_step,
)
LOGOUT_USER = MethodSpec(
    params=(Param("access_token", Kind.STRING, True),),
    handler=logout_user,
)
