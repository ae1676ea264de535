"""Listening calls end to end: SipTelephony dials a SIPp callee that answers and plays RTP we
built (``tests.support.callee_rtp``): key presses as RFC 4733 events or as in-band tones.

Times are from the answer: SIPp starts its pcap when our ACK arrives, so a press "at 2 s" is
about 2 s after the answer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest

from tests.support.callee_rtp import Press, callee_stream
from tests.support.listen_calls import Outcome, call, callee, telephony
from tests.support.pcap import LoopbackCapture, read_rtp
from tests.support.sipp import SippUas, requires_sipp
from tests.support.telephony import tone
from vestnik.calls import FinishReason
from vestnik.calls.options import CollectDtmf
from vestnik.calls.ports import Listen
from vestnik.telephony.listen.receiver import RECEIVE_BUFFER_BYTES
from vestnik.telephony.rtp.dtmf import detect_dtmf
from vestnik.telephony.rtp.g711 import PCMA
from vestnik.telephony.rtp.packets import PT_PCMA, RtpPacket
from vestnik.telephony.rtp.ports import RECEIVE_BUFFER_BYTES as UNREAD_BUFFER_BYTES
from vestnik.telephony.sip.adapter import SipTelephony

pytestmark = [requires_sipp, pytest.mark.sip]

Dial = Callable[..., "asyncio.Future[tuple[Outcome, SippUas]]"]


@pytest.fixture
async def dial(tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    """``await dial(presses, collect, message=..., **callee options)`` → (outcome, sipp)."""
    started: list[tuple[SipTelephony, SippUas]] = []

    async def run(
        presses: list[Press],
        collect: CollectDtmf | None,
        message: float = 1.0,
        pacer_process: bool = True,
        **options: object,
    ) -> tuple[Outcome, SippUas]:
        sipp = callee(tmp_path / f"call{len(started)}", presses, **options)  # type: ignore[arg-type]
        t = await telephony(sipp.port, pacer_process)
        started.append((t, sipp))
        listen = Listen(collect_dtmf=collect) if collect is not None else None
        outcome = await call(t, tone(message), listen)
        code = await asyncio.to_thread(sipp.wait, 15.0)
        assert code == 0, sipp.log()
        return outcome, sipp

    yield run
    for t, sipp in started:
        sipp.stop()
        await t.stop()


@pytest.mark.parametrize("pacer_process", [True, False])
async def test_rfc4733_one_two_seconds_in(dial: Dial, pacer_process: bool) -> None:
    collect = CollectDtmf(max_digits=1, timeout=5, finish_on="#")
    outcome, sipp = await dial([Press(2.0, "1")], collect, pacer_process=pacer_process)
    result = outcome.result
    assert result.finish_reason == FinishReason.SUCCESS_FINISH, result
    assert result.dtmf_reply == "1"
    assert (result.answered_by, result.recording) == (None, None)
    assert 1.9 <= outcome.seconds <= 2.6  # max_digits: at the press, not the timeout
    assert sipp.received("BYE") == 1


async def test_inband_one_from_a_callee_without_telephone_event(dial: Dial) -> None:
    collect = CollectDtmf(max_digits=1, timeout=5, finish_on="#")
    outcome, _ = await dial([Press(2.0, "1")], collect, inband=True, events=False)
    assert outcome.result.finish_reason == FinishReason.SUCCESS_FINISH, outcome.result
    assert outcome.result.dtmf_reply == "1"
    assert 1.9 <= outcome.seconds <= 2.6


async def test_inband_in_noise_from_a_callee_that_offers_events_but_sends_tones(
    dial: Dial,
) -> None:
    collect = CollectDtmf(max_digits=2, timeout=5, finish_on="#")
    presses = [Press(1.5, "4"), Press(2.0, "2", ms=300)]  # one long press: one key
    outcome, _ = await dial(presses, collect, inband=True, level=300.0)
    assert outcome.result.dtmf_reply == "42"
    assert 2.0 <= outcome.seconds <= 2.6


async def test_finish_on_ends_the_reply_and_is_not_part_of_it(dial: Dial) -> None:
    collect = CollectDtmf(max_digits=5, timeout=5, finish_on="#")
    presses = [Press(1.5, "1"), Press(1.8, "2"), Press(2.1, "#"), Press(2.4, "3")]
    outcome, _ = await dial(presses, collect)
    assert outcome.result.finish_reason == FinishReason.SUCCESS_FINISH
    assert outcome.result.dtmf_reply == "12"
    assert 2.0 <= outcome.seconds <= 2.7


async def test_max_digits(dial: Dial) -> None:
    collect = CollectDtmf(max_digits=2, timeout=5, finish_on="#")
    presses = [Press(1.5, "7"), Press(1.8, "*"), Press(2.1, "9")]
    outcome, _ = await dial(presses, collect)
    assert outcome.result.dtmf_reply == "7*"
    assert 1.7 <= outcome.seconds <= 2.4


async def test_timeout_runs_from_the_end_of_the_message(dial: Dial) -> None:
    # Message 1.5 s, timeout 1 s: the call ends about 2.5 s in, before the press at 3 s.
    collect = CollectDtmf(max_digits=3, timeout=1, finish_on="#")
    outcome, _ = await dial([Press(3.0, "5")], collect, message=1.5)
    assert outcome.result.finish_reason == FinishReason.SUCCESS_FINISH
    assert outcome.result.dtmf_reply == ""
    assert 2.4 <= outcome.seconds <= 3.0
    # A press within the timeout counts; then the timeout ends the call.
    outcome, _ = await dial([Press(2.0, "5")], collect, message=1.5)
    assert outcome.result.dtmf_reply == "5"
    assert 2.4 <= outcome.seconds <= 3.0


async def test_barge_in_stops_the_message(tmp_path: Path) -> None:
    # A 6 s message; "1" at 1.5 s stops it: the 1 s timeout runs from the press, and what we
    # sent (captured on loopback) is the message's first 1.5 s or so, then silence.
    collect = CollectDtmf(max_digits=2, timeout=1, finish_on="#")
    sipp = callee(tmp_path, [Press(1.5, "1")], seconds=8.0)
    t = await telephony(sipp.port)
    message = tone(6.0)
    try:
        with LoopbackCapture(tmp_path / "ours.pcap", f"udp dst port {sipp.media_port}") as cap:
            outcome = await call(t, message, Listen(collect_dtmf=collect))
            await asyncio.sleep(0.2)
            cap.stop()
        assert await asyncio.to_thread(sipp.wait, 15.0) == 0, sipp.log()
    finally:
        sipp.stop()
        await t.stop()
    assert outcome.result.finish_reason == FinishReason.SUCCESS_FINISH
    assert outcome.result.dtmf_reply == "1"
    assert 2.4 <= outcome.seconds <= 3.0
    sent = [p for p in read_rtp(tmp_path / "ours.pcap") if p.payload_type == PT_PCMA]
    heard = [p for p in sent if p.payload != bytes([PCMA.silence]) * 160]
    assert 1.3 <= len(heard) * 0.02 <= 1.8, len(heard)  # the message until the press
    assert heard[-1].time - heard[0].time < 1.9
    played = np.concatenate([PCMA.decode(p.payload) for p in heard])
    expected = PCMA.decode(PCMA.encode(message))[: len(played)]
    assert np.array_equal(played, expected)  # its beginning, in order
    assert len(sent) * 0.02 >= 2.3  # silence went on after the cut until the hang-up


async def test_callee_bye_during_collection_keeps_what_was_pressed(dial: Dial) -> None:
    collect = CollectDtmf(max_digits=3, timeout=5, finish_on="#")
    outcome, _ = await dial([Press(1.5, "8")], collect, hangup_ms=2500)
    assert outcome.result.finish_reason == FinishReason.SUBSCRIBER_DISCONNECTS
    assert outcome.result.dtmf_reply == "8"


async def test_a_call_without_listen_reads_nothing(tmp_path: Path) -> None:
    sipp = callee(tmp_path, [Press(0.2, "1"), Press(0.5, "2")], seconds=2.0)
    t = await telephony(sipp.port)
    try:
        task = asyncio.ensure_future(call(t, tone(1.5), None))
        while not t._calls:
            await asyncio.sleep(0.01)
        (sip_call,) = t._calls
        await asyncio.sleep(1.0)  # answered, the callee's RTP arriving
        sock = sip_call._sock
        assert sip_call._flow is None
        rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        assert rcvbuf <= 2 * UNREAD_BUFFER_BYTES < RECEIVE_BUFFER_BYTES
        loop = asyncio.get_running_loop()
        assert not loop.remove_reader(sock.fileno())  # nothing was reading it
        outcome = await task
        assert outcome.result.finish_reason == FinishReason.SUCCESS_FINISH
        r = outcome.result
        assert (r.dtmf_reply, r.answered_by, r.recording) == (None, None, None)
        assert await asyncio.to_thread(sipp.wait, 15.0) == 0
    finally:
        sipp.stop()
        await t.stop()


def test_pcap_presses_are_what_the_test_says() -> None:
    """The pcap builder itself: the event and tone presses sit where they are asked."""

    events = [RtpPacket.parse(d) for _, d in callee_stream(3.0, [Press(2.0, "1")])]
    first = next(i for i, p in enumerate(events) if p.payload_type == 101)
    assert first == 100 and events[first].marker
    audio = [RtpPacket.parse(d) for _, d in callee_stream(3.0, [Press(2.0, "1")], inband=True)]
    pcm = np.concatenate([PCMA.decode(p.payload) for p in audio])
    (key,) = detect_dtmf(pcm)
    assert key.key == "1" and abs(key.start - 2.0) < 0.03
