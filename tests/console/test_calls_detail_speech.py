"""A call's page shows its spoken reply (``collect_speech``): the reply and its intent as cards
and per attempt, and nothing of it for a call that did not ask. httpx on the console app as
the service mounts it, both databases."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette

from tests.support.sessions import new_account, queue_session
from vestnik.cli.admin.inprocess import run_admin
from vestnik.config import Config
from vestnik.console.app import console_routes

CLIENT = ("127.0.0.1", 50000)
SPEECH = {"timeout": 5.0, "language": "ru", "intents": {"yes": ["да"]}}
SPEECH_OPTIONS = {"source": "request", "collect_speech": SPEECH}


@pytest.fixture
async def operator(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    config = Config()
    run_admin(["operator", "create", "op", "--password-stdin"], config, engine, stdin="s3cret\n")
    app = Starlette(routes=console_routes(config, engine, run_admin))
    transport = httpx.ASGITransport(app=app, client=CLIENT)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/console") as client:
        form = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        fields = {"login": "op", "password": "s3cret", "csrf_token": token.group(1)}
        assert (await client.post("/login", data=fields)).status_code == 303
        yield client


def _finished(engine: Engine, **more: object) -> int:
    at = time.time()
    log = [{"attempt": 1, "dial_at": at, "end_at": at + 5, "trunk": "main", "sip_code": 200,
            "sip_reason": "OK", "finish_reason": "success_finish", "answered_by": None,
            "dtmf_reply": None, "speech_reply": more.get("speech_reply"),
            "speech_intent": more.get("speech_intent")}]  # fmt: skip
    with engine.begin() as conn:
        account = new_account(conn, f"acme-{at}")
        return queue_session(conn, account, state="finished", finish_reason="success_finish",
                             created_at=at, end_at=at + 5, attempt_count=1, attempt_log=log,
                             **more)  # fmt: skip


async def test_the_reply_and_its_intent_are_shown(
    operator: httpx.AsyncClient, engine: Engine
) -> None:
    sid = _finished(engine, options=SPEECH_OPTIONS, speech_reply="Да, подтверждаю",
                    speech_intent="yes")  # fmt: skip
    page = (await operator.get(f"/calls/{sid}")).text
    assert re.search(r'class="value speech-reply">Да, подтверждаю<', page)
    assert re.search(r'class="value speech-intent"><code class="raw">yes</code><', page)
    assert '<td class="speech-reply">Да, подтверждаю</td><td class="speech-intent">yes</td>' in page
    assert "collect_speech" in page.split('class="request-params"')[1]  # as stored
    live = (await operator.get(f"/calls/{sid}/live")).text
    assert "speech-reply" in live


async def test_nothing_recognised_and_not_asked(
    operator: httpx.AsyncClient, engine: Engine
) -> None:
    silent = _finished(engine, options=SPEECH_OPTIONS, speech_reply="")
    page = (await operator.get(f"/calls/{silent}")).text
    assert re.search(r'class="value speech-reply">—<', page)
    assert re.search(r'class="value speech-intent">—<', page)
    plain = _finished(engine)
    page = (await operator.get(f"/calls/{plain}")).text
    assert 'class="value speech-reply"' not in page
    assert '<td class="speech-reply">—</td>' in page  # the attempts table has the column
