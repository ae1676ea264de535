"""The overview's numbers over HTTP (httpx on the console app as the service mounts it, both
databases): outcomes per bucket, the answer rate, live and queued calls, the webhook backlog,
scoping to an account user's own account, the window parameter, the search box."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, Engine
from starlette.applications import Starlette

from tests.support.sessions import new_account, queue_session
from vestnik.cli.admin.inprocess import run_admin
from vestnik.config import Config
from vestnik.console.app import console_routes
from vestnik.store.schema import call_events, webhook_deliveries, webhooks

CLIENT = ("127.0.0.1", 50000)  # inside the accounts' default allow-list


@asynccontextmanager
async def sign_in(
    config: Config, engine: Engine, login: str, password: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the console as the service mounts it, signed in through the login form."""
    app = Starlette(routes=console_routes(config, engine, run_admin))
    transport = httpx.ASGITransport(app=app, client=CLIENT)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/console") as client:
        form = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        fields = {"login": login, "password": password, "csrf_token": token.group(1)}
        reply = await client.post("/login", data=fields)
        assert reply.status_code == 303, reply.text
        yield client


def finished(conn: Connection, account: int, reason: str, created: float, **more: Any) -> int:
    return queue_session(conn, account, state="finished", finish_reason=reason,
                         created_at=created, end_at=created + 5, **more)  # fmt: skip


def card(page: str, name: str) -> str:
    found = re.search(rf'id="card-{name}">\s*<div class="value">([^<]*)</div>', page)
    assert found is not None, f"no card {name}"
    return found.group(1).strip()


def outcome_total(page: str, key: str) -> int:
    found = re.search(rf'<tr data-outcome="{key}">\s*<td>.*?</td>\s*<td class="num">(\d+)</td>',
                      page, re.S)  # fmt: skip
    assert found is not None, key
    return int(found.group(1))


@pytest.fixture
def config() -> Config:
    return Config()


@pytest.fixture
async def operator(config: Config, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    run_admin(["operator", "create", "op", "--password-stdin"], config, engine, stdin="s3cret\n")
    async with sign_in(config, engine, "op", "s3cret") as client:
        yield client


def seed(engine: Engine) -> tuple[int, int]:
    """acme: 3 success_finish, 1 subscriber_busy two minutes ago, one dialing and one queued
    (due later) this minute; other: 2 internal_error a minute ago, one ringing this minute;
    one pending and one parked delivery of acme's."""
    at = time.time()
    minute = at // 60 * 60  # the current minute's start: the seeds' minutes are known
    with engine.begin() as conn:
        acme, other = new_account(conn, "acme"), new_account(conn, "other")
        for _ in range(3):
            sid = finished(conn, acme, "success_finish", minute - 110, answer_at=minute - 108)
        finished(conn, acme, "subscriber_busy", minute - 110)
        queue_session(conn, acme, state="dialing", created_at=minute)
        queue_session(conn, acme, created_at=minute, scheduled_at=at + 3600)
        for _ in range(2):
            finished(conn, other, "internal_error", minute - 50)
        queue_session(conn, other, state="ringing", created_at=minute)
        finished(conn, acme, "success_finish", at - 5 * 3600)  # outside the 3 h window
        hook = conn.execute(webhooks.insert().values(
            account_id=acme, url="http://127.0.0.1:9/", events=["call_finished"], secret="s",
            is_active=True, created_at=at)).inserted_primary_key[0]  # fmt: skip
        for state, age in (("pending", 42.0), ("parked", 900.0)):
            event = conn.execute(call_events.insert().values(
                account_id=acme, call_session_id=sid, event_type=f"call_{state}", payload={},
                created_at=at - age, dispatched=True)).inserted_primary_key[0]  # fmt: skip
            conn.execute(webhook_deliveries.insert().values(
                event_id=event, webhook_id=hook, call_session_id=sid, state=state,
                attempts=1, next_attempt_at=at, created_at=at - age))  # fmt: skip
    return acme, other


async def test_an_operator_sees_every_accounts_numbers(
    operator: httpx.AsyncClient, engine: Engine
) -> None:
    seed(engine)
    page = (await operator.get("/")).text
    assert card(page, "answer-rate") == "50 %"  # 3 answered of 6 finished in the window
    assert "3 answered of 6 finished" in page
    assert card(page, "placed") == "9"
    assert card(page, "live") == "2"  # acme dialing, other ringing
    assert card(page, "queued") == "1"
    assert "1 scheduled for later" in page
    assert card(page, "webhooks") == "1"
    assert re.search(r"parked 1 · oldest pending 4[2-9] s", page)
    assert re.fullmatch(r"\d+\.\d ms", card(page, "database"))
    assert re.search(r'schema <code class="raw">0011\w*</code>', page)
    assert outcome_total(page, "answered") == 3
    assert outcome_total(page, "no-answer") == 1
    assert outcome_total(page, "failed") == 2
    assert outcome_total(page, "in-progress") == 3
    assert '<code class="raw">success_finish</code> 3' in page
    assert '<code class="raw">internal_error</code> 2' in page
    bars = re.findall(r'<rect class="bar o-([\w-]+)".*?<title>[^<]* (\d+)</title>', page)
    drawn: dict[str, int] = {}
    for outcome, count in bars:
        drawn[outcome] = drawn.get(outcome, 0) + int(count)
    assert drawn == {"answered": 3, "no-answer": 1, "failed": 2, "in-progress": 3}
    # The per-minute table: the minute two minutes ago has 3 answered and 1 not answered.
    rows = re.findall(r"<tr><td>[\d: -]+</td>((?:<td class=\"num\">\d+</td>)+)</tr>", page)
    numbers = [[int(n) for n in re.findall(r">(\d+)<", row)] for row in rows]
    assert numbers == [  # newest first: this minute, a minute ago, two minutes ago
        [0, 0, 0, 0, 0, 0, 3, 3],
        [0, 0, 2, 0, 0, 0, 0, 2],
        [3, 1, 0, 0, 0, 0, 0, 4],
    ]


async def test_the_window_parameter_widens_and_the_live_part_has_the_same_numbers(
    operator: httpx.AsyncClient, engine: Engine
) -> None:
    seed(engine)
    wide = (await operator.get("/overview/live?hours=24")).text
    assert card(wide, "placed") == "10"  # the session 5 h ago is inside 24 h
    assert card(wide, "answer-rate") == "57 %"  # 4 of 7
    assert "per 10 min" in wide
    assert "<html" not in wide  # a fragment
    assert (
        card((await operator.get("/?hours=7")).text, "placed") == "9"
    )  # not offered: the default 3 h
    page = (await operator.get("/?hours=1")).text
    assert 'data-live="/console/overview/live?hours=1"' in page


async def test_an_account_user_sees_only_their_account(
    config: Config, engine: Engine, operator: httpx.AsyncClient
) -> None:
    seed(engine)
    run_admin(["user", "create", "acme", "ann", "pw-ann-1"], config, engine)
    async with sign_in(config, engine, "ann", "pw-ann-1") as ann:
        page = (await ann.get("/")).text
    assert card(page, "answer-rate") == "75 %"  # 3 success_finish + 1 subscriber_busy
    assert card(page, "placed") == "6"
    assert card(page, "live") == "1"  # other's ringing call is not counted
    assert outcome_total(page, "failed") == 0  # other's internal_error neither
    assert card(page, "webhooks") == "1"
    assert "schema <code" not in page  # the schema revision is for operators
    assert "<th>host</th>" not in page  # trunks: state only
    run_admin(["user", "create", "other", "bob", "pw-bob-1"], config, engine)
    async with sign_in(config, engine, "bob", "pw-bob-1") as bob:
        page = (await bob.get("/")).text
    assert card(page, "placed") == "3"
    assert card(page, "webhooks") == "0"
    assert "parked 0" in page


async def test_an_empty_database_shows_no_rate_and_no_bars(operator: httpx.AsyncClient) -> None:
    page = (await operator.get("/")).text
    assert card(page, "answer-rate") == "—"
    assert "<rect" not in page
    assert "No calls placed in the last 3 h." in page
    assert "style=" not in page and "<script>" not in page
