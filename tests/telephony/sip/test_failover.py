"""Several trunks: the route tried in order, failover, what a call records, caller ID.

Every trunk is a SIPp process on loopback (or a port nobody listens on); the answering one
points its SDP at an ``RtpReceiver`` the test owns.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import free_port, free_port_range
from tests.support.rtp_receiver import RtpReceiver
from tests.support.sipp import SippUas, requires_sipp
from tests.support.telephony import RecordingObserver, ready, tone
from vestnik import metrics
from vestnik.calls import ContactKind, FinishReason
from vestnik.calls.ports import CallResult, DialSpec, TrunkAttempt
from vestnik.calls.routing import route_for
from vestnik.config import Config, TrunkConfig
from vestnik.telephony.rtp.packets import PT_PCMA
from vestnik.telephony.sip.adapter import SipTelephony
from vestnik.telephony.trunks import TrunkState

pytestmark = [requires_sipp, pytest.mark.sip]

CALLER = "74993720692"
CALLEE = "79161234567"


class Gate:
    """A ``TrunkGate`` that refuses the trunks named in ``closed`` and counts the rest."""

    def __init__(self, *closed: str) -> None:
        self.closed = set(closed)
        self.entered: list[str] = []
        self.left: list[str] = []

    async def enter(self, trunk: str, deadline: float) -> bool:
        if trunk in self.closed:
            return False
        self.entered.append(trunk)
        return True

    def leave(self, trunk: str) -> None:
        self.left.append(trunk)


def dial(route: tuple[str, ...] = (), contact: str = CALLEE, timeout: float = 10.0) -> DialSpec:
    return DialSpec(1, CALLER, contact, ContactKind.PHONE, timeout, "", route)


def trunk(name: str, port: int, **keys: Any) -> TrunkConfig:
    return TrunkConfig(name=name, host="127.0.0.1", port=port, **keys)


TelephonyFactory = Callable[..., "asyncio.Future[SipTelephony]"]


@pytest.fixture
async def telephony_for() -> AsyncIterator[Callable[..., object]]:
    """``await telephony_for([trunk, ...], gate=None)`` -> a started SipTelephony."""
    started: list[SipTelephony] = []

    async def make(trunks: list[TrunkConfig], gate: Gate | None = None) -> SipTelephony:
        config = Config()
        config.rtp.pacer_process = False
        config.sip.bind_host = "127.0.0.1"
        config.sip.port = 0
        config.trunks = trunks
        config.rtp.port_min, config.rtp.port_max = free_port_range(40)
        t = SipTelephony(config, gate=gate)
        await t.start()
        started.append(t)
        return t

    yield make
    for t in started:
        await t.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[RtpReceiver]:
    r = RtpReceiver()
    yield r
    r.close()


def refusing(tmp_path: Path, code: int, reason: str, calls: int = 1) -> SippUas:
    template = {"CODE": code, "REASON": reason}
    return SippUas.launch("uas_refuse.xml", tmp_path, calls=calls, template=template)


def answering(tmp_path: Path, receiver: RtpReceiver) -> SippUas:
    variables = {"media_ip": receiver.host, "media_port": receiver.port, "pt": PT_PCMA,
                 "codec": "PCMA"}  # fmt: skip
    return SippUas.launch("uas_answer_set_media.xml", tmp_path, variables=variables)


async def wait(sipp: SippUas) -> int:
    return await asyncio.to_thread(sipp.wait, 15.0)


def counted(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_503_fails_over_to_the_next_trunk_which_answers(
    tmp_path: Path, receiver: RtpReceiver, telephony_for: TelephonyFactory
) -> None:
    first = refusing(tmp_path, 503, "Service Unavailable")
    second = answering(tmp_path, receiver)
    gate = Gate()
    telephony = await telephony_for(
        [trunk("first", first.port), trunk("second", second.port)], gate
    )
    invites = counted("vestnik_sip_invites_total", trunk="first")
    refused = counted("vestnik_sip_final_responses_total", trunk="first", code="503")
    answered = counted("vestnik_sip_final_responses_total", trunk="second", code="200")
    observer = RecordingObserver()
    handle = telephony.place_call(dial(("first", "second")), ready(tone(0.4)), observer)
    result: CallResult = await asyncio.wait_for(handle.result(), 15)
    assert await wait(first) == 0, first.log()
    assert await wait(second) == 0, second.log()

    assert result.finish_reason is FinishReason.SUCCESS_FINISH, result
    assert (result.sip_code, result.sip_reason) == (200, "OK")
    assert result.trunk == "second"
    assert result.attempts == (
        TrunkAttempt("first", 503, "Service Unavailable"),
        TrunkAttempt("second", 200, "OK"),
    )
    assert result.detail == "first: 503 Service Unavailable; second: 200 OK"
    # One INVITE, one dialog per trunk: the result carries the Call-ID of the one that carried.
    assert observer.names == ["dialing", "dialing", "ringing", "answered"]
    assert len(set(observer.call_ids)) == 2 and result.sip_call_id == observer.call_ids[1]
    assert first.received("INVITE") == 1 and second.received("INVITE") == 1
    assert gate.entered == ["first", "second"] and gate.left == ["first", "second"]
    assert counted("vestnik_sip_invites_total", trunk="first") == invites + 1
    assert counted("vestnik_sip_final_responses_total", trunk="first", code="503") == refused + 1
    assert counted("vestnik_sip_final_responses_total", trunk="second", code="200") == answered + 1
    receiver.wait_quiet(0.2, 2)
    assert len(receiver.packets) >= 15  # the message went to the trunk that answered


async def test_486_ends_the_session_without_trying_the_next_trunk(
    tmp_path: Path, telephony_for: TelephonyFactory
) -> None:
    first = refusing(tmp_path, 486, "Busy Here")
    second = refusing(tmp_path, 503, "Service Unavailable")
    telephony = await telephony_for([trunk("first", first.port), trunk("second", second.port)])
    handle = telephony.place_call(dial(("first", "second")), ready(tone(0.4)), RecordingObserver())
    result = await asyncio.wait_for(handle.result(), 15)
    assert await wait(first) == 0, first.log()
    second.stop()
    assert result.finish_reason is FinishReason.SUBSCRIBER_BUSY
    assert (result.sip_code, result.sip_reason, result.trunk) == (486, "Busy Here", "first")
    assert result.attempts == (TrunkAttempt("first", 486, "Busy Here"),)
    assert result.detail == "trunk answered 486 Busy Here"  # one trunk tried: as ever
    assert second.received("INVITE") == 0


async def test_ringing_ends_the_failover(tmp_path: Path, telephony_for: TelephonyFactory) -> None:
    template = {"CODE": 503, "REASON": "Service Unavailable"}
    first = SippUas.launch("uas_reject.xml", tmp_path, template=template)  # 180, then 503
    second = refusing(tmp_path, 486, "Busy Here")
    telephony = await telephony_for([trunk("first", first.port), trunk("second", second.port)])
    handle = telephony.place_call(dial(("first", "second")), ready(tone(0.4)), RecordingObserver())
    result = await asyncio.wait_for(handle.result(), 15)
    assert await wait(first) == 0, first.log()
    second.stop()
    assert result.finish_reason is FinishReason.NO_SUCCESS_SUBSCRIBER_CALL
    assert (result.sip_code, result.trunk) == (503, "first")
    assert second.received("INVITE") == 0


async def test_every_trunk_failing_records_each_and_ends_with_the_last(
    tmp_path: Path, telephony_for: TelephonyFactory
) -> None:
    first = refusing(tmp_path, 502, "Bad Gateway")
    second = refusing(tmp_path, 504, "Server Time-out")
    telephony = await telephony_for([trunk("first", first.port), trunk("second", second.port)])
    handle = telephony.place_call(dial(("first", "second")), ready(tone(0.4)), RecordingObserver())
    result = await asyncio.wait_for(handle.result(), 15)
    assert await wait(first) == 0, first.log()
    assert await wait(second) == 0, second.log()
    assert result.finish_reason is FinishReason.NO_SUCCESS_SUBSCRIBER_CALL
    assert (result.sip_code, result.sip_reason, result.trunk) == (504, "Server Time-out", "second")
    assert result.detail == "first: 502 Bad Gateway; second: 504 Server Time-out"
    assert [a.sip_code for a in result.attempts] == [502, 504]


async def test_empty_route_tries_every_trunk_by_priority(
    tmp_path: Path, receiver: RtpReceiver, telephony_for: TelephonyFactory
) -> None:
    low = answering(tmp_path, receiver)
    high = refusing(tmp_path, 500, "Server Internal Error")
    telephony = await telephony_for(
        [trunk("backup", low.port, priority=5), trunk("main", high.port, priority=1)]
    )
    handle = telephony.place_call(dial(), ready(tone(0.3)), RecordingObserver())
    result = await asyncio.wait_for(handle.result(), 15)
    assert await wait(high) == 0, high.log()
    assert await wait(low) == 0, low.log()
    assert result.finish_reason is FinishReason.SUCCESS_FINISH, result
    assert [a.trunk for a in result.attempts] == ["main", "backup"]


async def test_calls_follow_their_prefix_route(
    tmp_path: Path, telephony_for: TelephonyFactory
) -> None:
    moscow = refusing(tmp_path, 486, "Busy Here")
    mobile = refusing(tmp_path, 486, "Busy Here")
    trunks = [
        trunk("moscow", moscow.port, prefixes=["7495", "7499"]),
        trunk("mobile", mobile.port, prefixes=["79"]),
    ]
    telephony = await telephony_for(trunks)
    results = []
    for number in ("74951234567", "79161234567"):
        route = route_for(trunks, "acme", number, ContactKind.PHONE)
        handle = telephony.place_call(dial(route, number), ready(tone(0.3)), RecordingObserver())
        results.append(await asyncio.wait_for(handle.result(), 15))
    assert await wait(moscow) == 0, moscow.log()
    assert await wait(mobile) == 0, mobile.log()
    assert [r.trunk for r in results] == ["moscow", "mobile"]
    assert "INVITE sip:74951234567@127.0.0.1" in moscow.log()
    assert "INVITE sip:79161234567@127.0.0.1" in mobile.log()


async def test_a_trunk_that_never_answers_fails_over_within_eight_seconds(
    tmp_path: Path, telephony_for: TelephonyFactory
) -> None:
    silent = free_port(tcp_too=False)  # nobody listens there
    second = refusing(tmp_path, 486, "Busy Here")
    telephony = await telephony_for([trunk("silent", silent), trunk("second", second.port)])
    started = time.monotonic()
    handle = telephony.place_call(dial(timeout=30), ready(tone(0.3)), RecordingObserver())
    result = await asyncio.wait_for(handle.result(), 20)
    elapsed = time.monotonic() - started
    assert await wait(second) == 0, second.log()
    assert 7.5 <= elapsed <= 9.5, elapsed
    assert result.finish_reason is FinishReason.SUBSCRIBER_BUSY
    assert result.attempts == (
        TrunkAttempt("silent", None, None),
        TrunkAttempt("second", 486, "Busy Here"),
    )
    assert result.detail == (
        f"silent: no response from the trunk 127.0.0.1:{silent} within 8 s; second: 486 Busy Here"
    )


async def test_unusable_trunks_and_closed_gates_are_passed_over(
    tmp_path: Path, telephony_for: TelephonyFactory
) -> None:
    down = refusing(tmp_path, 486, "Busy Here")
    full = refusing(tmp_path, 486, "Busy Here")
    last = refusing(tmp_path, 486, "Busy Here")
    gate = Gate("full")
    telephony = await telephony_for(
        [trunk("down", down.port), trunk("full", full.port), trunk("last", last.port)], gate
    )
    telephony.trunks.set_state("down", TrunkState.DOWN, "no answer to OPTIONS")
    handle = telephony.place_call(dial(), ready(tone(0.3)), RecordingObserver())
    result = await asyncio.wait_for(handle.result(), 15)
    assert await wait(last) == 0, last.log()
    down.stop()
    full.stop()
    assert down.received("INVITE") == 0 and full.received("INVITE") == 0
    assert result.attempts == (TrunkAttempt("last", 486, "Busy Here"),)
    assert result.detail == (
        "down: skipped (down: no answer to OPTIONS); full: skipped (at its call limits); "
        "last: 486 Busy Here"
    )
    assert gate.entered == ["last"] and gate.left == ["last"]


async def test_no_usable_trunk_sends_nothing(telephony_for: TelephonyFactory) -> None:
    telephony = await telephony_for([trunk("a", free_port()), trunk("b", free_port())], Gate("b"))
    telephony.trunks.set_state("a", TrunkState.DOWN)
    handle = telephony.place_call(dial(), ready(tone(0.3)), RecordingObserver())
    result = await asyncio.wait_for(handle.result(), 5)
    assert result.finish_reason is FinishReason.NO_SUCCESS_SUBSCRIBER_CALL
    assert result.detail == (
        "no trunk could take the call (a: skipped (down); b: skipped (at its call limits))"
    )
    assert (result.trunk, result.attempts, result.sip_code) == (None, (), None)


async def test_caller_id_pai_and_from_domain_reach_the_callee(
    tmp_path: Path, telephony_for: TelephonyFactory
) -> None:
    template = {
        "FROM": rf"sip:\+{CALLER}@carrier\.example",
        "PAI": rf"sip:\+{CALLER}@carrier\.example",
    }
    sipp = SippUas.launch("uas_check_caller_id.xml", tmp_path, template=template)
    carrier = trunk(
        "carrier", sipp.port, caller_id="pai", from_domain="carrier.example", caller_format="plus"
    )
    telephony = await telephony_for([carrier])
    handle = telephony.place_call(dial(), ready(tone(0.3)), RecordingObserver())
    result = await asyncio.wait_for(handle.result(), 10)
    assert await wait(sipp) == 0, sipp.log()  # SIPp's own check of both headers
    assert result.sip_code == 486
    assert f"P-Asserted-Identity: <sip:+{CALLER}@carrier.example>" in sipp.log()


async def test_caller_id_from_sends_no_pai(tmp_path: Path, telephony_for: TelephonyFactory) -> None:
    sipp = refusing(tmp_path, 486, "Busy Here")
    telephony = await telephony_for([trunk("plain", sipp.port, from_domain="carrier.example")])
    handle = telephony.place_call(dial(), ready(tone(0.3)), RecordingObserver())
    await asyncio.wait_for(handle.result(), 10)
    assert await wait(sipp) == 0, sipp.log()
    assert f"From: <sip:{CALLER}@carrier.example>" in sipp.log()
    assert "P-Asserted-Identity" not in sipp.log()


async def test_100_trying_stops_the_silence_timer(
    tmp_path: Path, telephony_for: TelephonyFactory
) -> None:
    slow = SippUas.launch("uas_trying.xml", tmp_path)  # 100 Trying, then nothing
    second = refusing(tmp_path, 486, "Busy Here")
    telephony = await telephony_for([trunk("slow", slow.port), trunk("second", second.port)])
    started = time.monotonic()
    handle = telephony.place_call(dial(timeout=9.0), ready(tone(0.3)), RecordingObserver())
    result = await asyncio.wait_for(handle.result(), 20)
    elapsed = time.monotonic() - started
    assert await wait(slow) == 0, slow.log()
    second.stop()
    assert 8.9 <= elapsed <= 10.5, elapsed  # past the 8 s: a trunk that answered is waited on
    assert result.finish_reason is FinishReason.SUBSCRIBER_NOT_RESPONSIBLE
    assert result.detail == "CANCEL after dialing_timeout 9 s"
    assert result.attempts == (TrunkAttempt("slow", None, None),)
    assert slow.received("CANCEL") == 1 and second.received("INVITE") == 0


async def test_a_trunk_marked_down_by_options_is_passed_over_without_waiting(
    tmp_path: Path, telephony_for: TelephonyFactory
) -> None:
    """The dead trunk is found by the OPTIONS probes (nothing listens on its port), not by a
    call: the next call goes straight to the live trunk, without the 8 s silence bound."""
    dead = free_port(tcp_too=False)
    live = refusing(tmp_path, 486, "Busy Here")
    telephony = await telephony_for(
        [trunk("dead", dead, options_interval=1.0), trunk("live", live.port, options_interval=0)]
    )
    deadline = time.monotonic() + 6
    while telephony.trunks.usable("dead") and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert telephony.trunks.by_name["dead"].state is TrunkState.DOWN
    started = time.monotonic()
    handle = telephony.place_call(dial(timeout=30), ready(tone(0.3)), RecordingObserver())
    result = await asyncio.wait_for(handle.result(), 10)
    assert time.monotonic() - started < 2.0
    assert await wait(live) == 0, live.log()
    assert result.attempts == (TrunkAttempt("live", 486, "Busy Here"),)
    assert result.detail == (
        "dead: skipped (down: no answer to OPTIONS within 1 s); live: 486 Busy Here"
    )
