"""The dialer's side of ``collect_speech`` (the listening itself is the telephony's): the
session's options become ``DialSpec.listen.collect_speech``, and the call's ``speech_reply`` /
``speech_intent`` reach the session, each attempt and the events; a call that brought no text
is stored as "" (nothing recognised). The whole service over real HTTP on SQLite and
PostgreSQL, with a telephony that reports the results a listening call would."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import httpx

from tests.support.dialer import SHORT, dialer_config
from tests.support.processes import async_wait_until
from tests.support.sessions import event_payloads, informer_call, provision, session
from vestnik.calls import FinishReason
from vestnik.calls.audio import Pcm
from vestnik.calls.options import CallOptions, CollectDtmf, CollectSpeech
from vestnik.calls.ports import CallObserver, CallResult, DialSpec, Listen
from vestnik.dialer.session import listen_spec
from vestnik.service import Service
from vestnik.store import create_db_engine

YES_NO = {"yes": ["да", "подтверждаю"], "no": ["нет"]}
SPEECH = CollectSpeech(4.0, "ru", (("yes", ("да", "подтверждаю")), ("no", ("нет",))))


def test_listen_spec_asks_for_the_spoken_reply() -> None:
    assert listen_spec(CallOptions(collect_speech=SPEECH)) == Listen(collect_speech=SPEECH)
    both = CallOptions(collect_speech=SPEECH, detect_machine=True, record=True)
    assert listen_spec(both) == Listen(None, True, True, SPEECH)
    assert listen_spec(CallOptions(collect_dtmf=CollectDtmf())) == Listen(CollectDtmf())
    assert listen_spec(None) is None


class _Handle:
    def __init__(self, result: CallResult) -> None:
        self._result = result

    def release(self) -> None:
        return None

    async def _done(self) -> CallResult:
        await asyncio.sleep(0.05)
        return self._result

    def result(self) -> Awaitable[CallResult]:
        return self._done()


class ReplyingTelephony:
    """Answers every call and ends it with the next of ``results``; keeps each DialSpec."""

    max_calls: int | None = None

    def __init__(self, results: list[CallResult]) -> None:
        self.results = results
        self.dialled: list[DialSpec] = []

    def place_call(self, dial: DialSpec, audio: Awaitable[Pcm], observer: CallObserver) -> Any:
        self.dialled.append(dial)
        observer.on_dialing(f"{dial.session_id}-{len(self.dialled)}@test")
        observer.on_answered()
        if asyncio.iscoroutine(audio):
            audio.close()  # the message is not played here
        return _Handle(self.results.pop(0))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


async def _run(
    tmp_path: Path, url: str, results: list[CallResult], **extensions: Any
) -> tuple[ReplyingTelephony, dict[str, Any], list[dict[str, Any]]]:
    engine = create_db_engine(url)
    token = provision(engine)
    config = dialer_config(tmp_path, url)
    config.server.port = 0
    config.log.level = "warning"
    telephony = ReplyingTelephony(results)
    service = Service(config, telephony=telephony)
    await service.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}") as http:
            body = informer_call(token, "79260001041", SHORT, **extensions)
            reply = (await http.post("/v4.0", json=body)).json()
            sid = reply["result"]["data"]["call_session_id"]
            await async_wait_until(lambda: session(engine, sid)["state"] == "finished", 20)
    finally:
        await service.stop()
    row, payloads = session(engine, sid), event_payloads(engine, sid)
    engine.dispose()
    return telephony, row, payloads


async def test_the_reply_reaches_the_session_its_attempt_and_call_finished(
    tmp_path: Path, db_url: str
) -> None:
    said = CallResult(FinishReason.SUCCESS_FINISH, 200, "OK", trunk="main",
                      speech_reply="Да, подтверждаю.", speech_intent="yes")  # fmt: skip
    speech = {"timeout": 4, "intents": YES_NO}
    telephony, row, payloads = await _run(tmp_path, db_url, [said], collect_speech=speech)
    [dial] = telephony.dialled
    assert dial.listen == Listen(collect_speech=SPEECH)
    assert (row["finish_reason"], row["speech_reply"], row["speech_intent"]) == (
        "success_finish", "Да, подтверждаю.", "yes",
    )  # fmt: skip
    assert row["dtmf_reply"] is None
    assert [(a["speech_reply"], a["speech_intent"]) for a in row["attempt_log"]] == [
        ("Да, подтверждаю.", "yes")
    ]
    finished = payloads[-1]
    assert finished["notification_mnemonic"] == "call_finished"
    assert (finished["speech_reply"], finished["speech_intent"]) == ("Да, подтверждаю.", "yes")


async def test_a_call_that_brought_no_text_is_stored_as_nothing_recognised(
    tmp_path: Path, db_url: str
) -> None:
    """A busy callee: the telephony has no reply to give (None); the attempt and the session
    say "" (asked, nothing recognised), not null (not asked)."""
    busy = CallResult(FinishReason.SUBSCRIBER_BUSY, 486, "Busy Here", trunk="main")
    _telephony, row, payloads = await _run(tmp_path, db_url, [busy], collect_speech={})
    assert (row["finish_reason"], row["speech_reply"], row["speech_intent"]) == (
        "subscriber_busy", "", None,
    )  # fmt: skip
    assert [(a["speech_reply"], a["speech_intent"]) for a in row["attempt_log"]] == [("", None)]
    assert (payloads[-1]["speech_reply"], payloads[-1]["speech_intent"]) == ("", None)


async def test_without_collect_speech_the_fields_stay_null(tmp_path: Path, sqlite_url: str) -> None:
    plain = CallResult(FinishReason.SUCCESS_FINISH, 200, "OK", trunk="main")
    telephony, row, payloads = await _run(tmp_path, sqlite_url, [plain])
    assert telephony.dialled[0].listen is None
    assert (row["speech_reply"], row["speech_intent"]) == (None, None)
    assert row["attempt_log"][0]["speech_reply"] is None
    assert payloads[-1]["speech_reply"] is None
