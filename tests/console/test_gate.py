"""The console's door over HTTP (Starlette's test client on the console app, SQLite and
PostgreSQL): sign-in, cookies, CSRF on every POST, lockout, roles, the allow-list."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette

from vestnik.auth import hash_token
from vestnik.cli.admin.inprocess import run_admin
from vestnik.config import Config, load_config
from vestnik.console import console_routes
from vestnik.console.gate import LOGIN_COOKIE, SESSION_COOKIE
from vestnik.store import console as store
from vestnik.store import create_db_engine

LOCAL = ("127.0.0.1", 50000)


def make_config(tmp_path: Path, db_url: str, **console: Any) -> Config:
    config = load_config(None, environ={"VESTNIK_DATA_DIR": str(tmp_path / "data"),
                                        "VESTNIK_DATABASE_URL": db_url})  # fmt: skip
    for key, value in console.items():
        setattr(config.console, key, value)
    return config


@pytest.fixture
def people(db_url: str, tmp_path: Path) -> Iterator[Config]:
    """An account ``acme`` with user ``bob`` (pw ``bob-pw``) and operator ``op`` (``op-pw``)."""
    config = make_config(tmp_path, db_url)
    engine = create_db_engine(db_url)
    try:
        run_admin(["account", "create", "acme"], config, engine)
        run_admin(["user", "create", "acme", "bob", "bob-pw"], config, engine)
        run_admin(["operator", "create", "op", "--password-stdin"], config, engine, stdin="op-pw")
    finally:
        engine.dispose()
    yield config


def client(config: Config, engine: Engine, peer: tuple[str, int] = LOCAL) -> httpx.AsyncClient:
    app = Starlette(routes=console_routes(config, engine, run_admin))
    transport = httpx.ASGITransport(app=app, client=peer)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def login_token(http: httpx.AsyncClient) -> str:
    page = await http.get("/console/login")
    assert page.status_code == 200
    return str(http.cookies.get(LOGIN_COOKIE))


async def sign_in(http: httpx.AsyncClient, login: str, password: str, **extra: str) -> Any:
    token = await login_token(http)
    return await http.post("/console/login", data={"csrf_token": token, "login": login,
                                              "password": password, **extra})  # fmt: skip


async def csrf_of(http: httpx.AsyncClient, path: str = "/console/") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', (await http.get(path)).text)
    assert match, "no csrf_token on the page"
    return match.group(1)


async def test_anonymous_pages_go_to_the_login_form(people: Config, engine: Engine) -> None:
    http = client(people, engine)
    reply = await http.get("/console/calls?state=answered")
    assert reply.status_code == 303
    assert reply.headers["location"] == "/console/login?next=/calls%3Fstate%3Danswered"
    assert (await http.post("/console/logout")).status_code == 401
    assert (await http.get("/console")).status_code == 308


async def test_sign_in_sets_a_session_cookie_with_the_flags(people: Config, engine: Engine) -> None:
    http = client(people, engine)
    reply = await sign_in(http, "op", "op-pw", next="/calls")
    assert reply.status_code == 303 and reply.headers["location"] == "/console/calls"
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP, no proxy: a Secure cookie would never return
    page = await http.get("/console/")
    assert page.status_code == 200 and "op (operator)" in page.text
    for header in ("content-security-policy", "x-frame-options", "x-content-type-options"):
        assert header in page.headers
    assert page.headers["cache-control"] == "no-store"


async def test_the_cookie_is_secure_over_https(people: Config, engine: Engine) -> None:
    people.server.trusted_proxies = ["10.0.0.0/8"]
    via_proxy = client(people, engine, ("10.1.1.1", 4000))
    token = await login_token(via_proxy)
    form = {"csrf_token": token, "login": "op", "password": "op-pw"}
    proxied = {"x-forwarded-proto": "https", "x-forwarded-for": "127.0.0.1"}
    reply = await via_proxy.post("/console/login", headers=proxied, data=form)
    assert reply.status_code == 303 and "Secure" in reply.headers["set-cookie"]
    # The same header from a peer that is no trusted proxy proves nothing.
    direct = client(people, engine)
    token = await login_token(direct)
    reply = await direct.post("/console/login", headers={"x-forwarded-proto": "https"},
                        data={"csrf_token": token, "login": "op", "password": "op-pw"})  # fmt: skip
    assert reply.status_code == 303 and "Secure" not in reply.headers["set-cookie"]
    people.console.secure_cookie = "always"  # the login form's cookie too, on plain HTTP
    assert "Secure" in (await client(people, engine).get("/console/login")).headers["set-cookie"]


async def test_the_login_form_needs_its_csrf_token(people: Config, engine: Engine) -> None:
    http = client(people, engine)
    await login_token(http)
    reply = await http.post("/console/login", data={"login": "op", "password": "op-pw"})
    assert reply.status_code == 403 and SESSION_COOKIE not in http.cookies
    forged = {"csrf_token": "forged", "login": "op", "password": "op-pw"}
    reply = await http.post("/console/login", data=forged)
    assert reply.status_code == 403


async def test_every_post_needs_the_sessions_csrf_token(people: Config, engine: Engine) -> None:
    http = client(people, engine)
    await sign_in(http, "op", "op-pw")
    token = await csrf_of(http)
    assert (await http.post("/console/logout")).status_code == 403
    assert (
        await http.post("/console/logout", data={"csrf_token": "x" * len(token)})
    ).status_code == 403
    assert (await http.get("/console/")).status_code == 200  # still signed in: nothing changed
    other = client(people, engine)
    await sign_in(other, "op", "op-pw")
    assert (await other.post("/console/logout", data={"csrf_token": token})).status_code == 403
    reply = await http.post("/console/logout", data={"csrf_token": token})
    assert reply.status_code == 303 and reply.headers["location"] == "/console/login"
    assert (await http.get("/console/")).status_code == 303
    # The header form (for scripts) works too.
    assert (
        await other.post("/console/logout", headers={"x-csrf-token": await csrf_of(other)})
    ).status_code == 303


async def test_wrong_passwords_and_unknown_logins_look_the_same(
    people: Config, engine: Engine
) -> None:
    http = client(people, engine)
    wrong, unknown = await sign_in(http, "op", "nope"), await sign_in(http, "nobody", "nope")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong login or password." in wrong.text and "Wrong login or password." in unknown.text
    assert SESSION_COOKIE not in http.cookies


async def test_repeated_failures_lock_the_login_then_it_opens_again(
    people: Config, engine: Engine
) -> None:
    people.console.lockout_after, people.console.lockout_seconds = 3, 1
    http = client(people, engine)
    for _ in range(3):
        assert (await sign_in(http, "op", "wrong")).status_code == 401
    locked = await sign_in(http, "op", "op-pw")  # the right password, but locked
    assert locked.status_code == 429 and "Too many failed logins" in locked.text
    assert (await sign_in(http, "bob", "bob-pw")).status_code == 303  # another login is not locked
    time.sleep(1.1)
    assert (await sign_in(http, "op", "op-pw")).status_code == 303
    with engine.connect() as conn:
        assert store.locked_until(conn, "op") is None  # a success clears the count


async def test_the_lockout_doubles_and_is_capped(engine: Engine) -> None:
    with engine.begin() as conn:
        ends = [store.record_failure(conn, "x", 1000.0, free=3, base=30, cap=100)
                for _ in range(6)]  # fmt: skip
    assert ends == [None, None, 1030.0, 1060.0, 1100.0, 1100.0]
    with engine.begin() as conn:  # long after: the old count is gone, a new one starts
        assert store.record_failure(conn, "y", 1201.0, free=3, base=30, cap=100) is None
        assert store.locked_until(conn, "x") is None


async def test_a_blocked_operator_or_switched_off_user_is_out_at_once(
    people: Config, engine: Engine
) -> None:
    op, bob = client(people, engine), client(people, engine)
    await sign_in(op, "op", "op-pw")
    await sign_in(bob, "bob", "bob-pw")
    assert (
        (await op.get("/console/")).status_code == (await bob.get("/console/")).status_code == 200
    )
    run_admin(["operator", "block", "op"], people, engine)
    run_admin(["user", "set", "bob", "--inactive"], people, engine)
    for http in (op, bob):
        assert (await http.get("/console/")).status_code == 303
    assert (await sign_in(client(people, engine), "op", "op-pw")).status_code == 401


async def test_the_accounts_allow_list_applies_to_its_users(people: Config, engine: Engine) -> None:
    run_admin(["account", "set", "acme", "--ip-allowlist", "10.0.0.0/8"], people, engine)
    refused = await sign_in(client(people, engine), "bob", "bob-pw")
    assert refused.status_code == 403 and "not on the account" in refused.text
    inside = client(people, engine, ("10.2.3.4", 5000))
    assert (await sign_in(inside, "bob", "bob-pw")).status_code == 303
    assert (await inside.get("/console/")).status_code == 200
    # Operators belong to no account: no allow-list of an account applies to them.
    assert (await sign_in(client(people, engine), "op", "op-pw")).status_code == 303
    # The list changes: the next request of a signed-in user is checked again.
    run_admin(["account", "set", "acme", "--ip-allowlist", "192.0.2.0/24"], people, engine)
    reply = await inside.get("/console/")
    assert reply.status_code == 303 and "allow-list" in reply.headers["location"]
    run_admin(["account", "set", "acme", "--ip-allowlist", "10.0.0.0/8"], people, engine)
    run_admin(["account", "deactivate", "acme"], people, engine)
    assert (await sign_in(inside, "bob", "bob-pw")).status_code == 403


async def test_next_never_leaves_the_console(people: Config, engine: Engine) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "\\\\evil", "calls"):
        reply = await sign_in(client(people, engine), "op", "op-pw", next=target)
        assert reply.headers["location"] == "/console/", target


async def test_sessions_lapse_when_idle_and_in_any_case(people: Config, engine: Engine) -> None:
    http = client(people, engine)
    await sign_in(http, "op", "op-pw")
    token_hash = hash_token(http.cookies[SESSION_COOKIE])
    with engine.connect() as conn:
        session = store.load_session(conn, token_hash, time.time())
        assert session is not None
        idle = people.console.idle_minutes * 60
        assert session.expires_at == pytest.approx(session.created_at + idle, abs=1)
        assert store.load_session(conn, token_hash, session.expires_at + 1) is None


async def test_a_huge_post_is_refused_before_it_is_read(people: Config, engine: Engine) -> None:
    people.server.max_upload_bytes = 1000
    http = client(people, engine)
    await sign_in(http, "op", "op-pw")
    reply = await http.post("/console/logout", content=b"x" * 200_000,
                      headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert reply.status_code == 413
    assert (await http.get("/console/")).status_code == 200


async def test_the_console_can_be_switched_off(people: Config, engine: Engine) -> None:
    people.console.enabled = False
    assert console_routes(people, engine, run_admin) == []
