"""SipTelephony against SIPp callees on loopback: real SIP, real RTP.

SIPp never reads RTP, so each answering scenario points its SDP (``c=``/``m=``) at a UDP
socket this test owns (``RtpReceiver``) and the test reads the media there.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest

from tests.support.processes import free_port
from tests.support.rtp_receiver import RtpReceiver
from tests.support.sipp import SippUas, requires_sipp
from tests.support.telephony import ready, tone
from vestnik import metrics
from vestnik.calls import ContactKind, FinishReason
from vestnik.calls.audio import Pcm
from vestnik.calls.ports import CallResult, DialSpec
from vestnik.config import Config
from vestnik.telephony.rtp import g711
from vestnik.telephony.rtp.dtmf import detect_dtmf
from vestnik.telephony.rtp.packets import PT_PCMA, PT_PCMU
from vestnik.telephony.sip.adapter import SipTelephony

pytestmark = [requires_sipp, pytest.mark.sip]

CALLER = "74993720692"
CALLEE = "79161234567"


class Observer:
    def __init__(self) -> None:
        self.events: list[tuple[str, float]] = []
        self.call_id: str | None = None
        self.ringing = asyncio.Event()
        self.answered = asyncio.Event()

    def on_dialing(self, sip_call_id: str) -> None:
        self.call_id = sip_call_id
        self.events.append(("dialing", time.monotonic()))

    def on_ringing(self) -> None:
        self.events.append(("ringing", time.monotonic()))
        self.ringing.set()

    def on_answered(self) -> None:
        self.events.append(("answered", time.monotonic()))
        self.answered.set()

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.events]


def dial(contact: str = CALLEE, timeout: float = 5.0, dtmf: str = "", **kw: object) -> DialSpec:
    kind = kw.pop("kind", ContactKind.PHONE)
    assert isinstance(kind, ContactKind)
    return DialSpec(1, CALLER, contact, kind, timeout, dtmf)


@pytest.fixture
async def receiver() -> AsyncIterator[RtpReceiver]:
    r = RtpReceiver()
    yield r
    r.close()


TelephonyFactory = Callable[..., "asyncio.Future[SipTelephony]"]


@pytest.fixture
async def telephony_for() -> AsyncIterator[Callable[..., object]]:
    """``await telephony_for(trunk_port, **trunk_overrides)`` -> a started SipTelephony."""
    started: list[SipTelephony] = []

    async def make(trunk_port: int, pacer_process: bool = True, **trunk: object) -> SipTelephony:
        config = Config()
        config.rtp.pacer_process = pacer_process
        config.sip.bind_host = "127.0.0.1"
        config.sip.port = 0
        config.trunk.host = "127.0.0.1"
        config.trunk.port = trunk_port
        for key, value in trunk.items():
            setattr(config.trunk, key, value)
        config.rtp.port_min, config.rtp.port_max = 43000, 43998
        config.dialer.dtmf_tone_ms = 100
        config.dialer.dtmf_gap_ms = 100
        t = SipTelephony(config)
        await t.start()
        started.append(t)
        return t

    yield make
    for t in started:
        await t.stop()


async def finish(sipp: SippUas) -> int:
    return await asyncio.to_thread(sipp.wait, 15.0)


def answer_vars(receiver: RtpReceiver, pt: int = PT_PCMA, codec: str = "PCMA") -> dict[str, object]:
    return {"media_ip": receiver.host, "media_port": receiver.port, "pt": pt, "codec": codec}


@pytest.mark.parametrize("pt,codec", [(PT_PCMA, "PCMA"), (PT_PCMU, "PCMU")])
async def test_answered_call_sends_dtmf_then_message_then_bye(
    tmp_path: Path, receiver: RtpReceiver, telephony_for: TelephonyFactory, pt: int, codec: str
) -> None:
    sipp = SippUas.launch(
        "uas_answer_set_media.xml", tmp_path, variables=answer_vars(receiver, pt, codec)
    )
    telephony = await telephony_for(sipp.port)
    message = tone(1.0)
    observer = Observer()
    handle = telephony.place_call(dial(dtmf="1.2#"), ready(message, 0.3), observer)
    result: CallResult = await asyncio.wait_for(handle.result(), 15)
    assert await finish(sipp) == 0, sipp.log()
    receiver.wait_quiet(0.2, 2)

    assert result.finish_reason == FinishReason.SUCCESS_FINISH, result
    assert (result.sip_code, result.sip_reason) == (200, "OK")
    assert result.sip_call_id == observer.call_id
    assert observer.names == ["dialing", "ringing", "answered"]
    assert result.first_audio_delay is not None and 0 <= result.first_audio_delay < 0.1
    assert sipp.received("BYE") == 1

    presses = receiver.key_presses(101)
    assert [key for key, _, _ in presses] == ["1", "2", "#"]
    assert all(duration == 800 for _, _, duration in presses)  # 100 ms tones
    # "." between 1 and 2: tone 100 ms + gap 100 ms + 1 s pause.
    # (Arrival times on a shared CI machine: bounds leave room for scheduling noise.)
    assert 1.1 < presses[1][1] - presses[0][1] < 1.4
    assert 0.15 < presses[2][1] - presses[1][1] < 0.35

    # The message arrives whole, after the DTMF, decoded exactly as G.711 encodes it.
    heard = receiver.audio(pt)
    decode, encode = (
        (g711.alaw_decode, g711.alaw_encode)
        if pt == PT_PCMA
        else (g711.ulaw_decode, g711.ulaw_encode)
    )
    expected = decode(encode(message))
    start = int(np.flatnonzero(np.abs(heard) > 1000)[0])
    assert np.array_equal(heard[start - 1 : start - 1 + len(expected)], expected)

    arrivals = np.array([r.at for r in receiver.packets])
    gaps = np.diff(arrivals) * 1000
    assert 19.0 < np.median(gaps) < 21.0
    assert np.percentile(gaps, 95) < 30
    assert len({r.packet.ssrc for r in receiver.packets}) == 1
    # The pacer's counters (reported by its process every 0.5 s) saw this call's packets.
    await asyncio.sleep(0.6)
    assert telephony.pacer_stats.packets_sent >= len(receiver.packets)


async def test_pacer_as_a_thread_of_the_main_process(
    tmp_path: Path, receiver: RtpReceiver, telephony_for: TelephonyFactory
) -> None:
    sipp = SippUas.launch("uas_answer_set_media.xml", tmp_path, variables=answer_vars(receiver))
    telephony = await telephony_for(sipp.port, pacer_process=False)
    message = tone(0.4)
    handle = telephony.place_call(dial(dtmf="3"), ready(message), Observer())
    result = await asyncio.wait_for(handle.result(), 10)
    assert await finish(sipp) == 0, sipp.log()
    receiver.wait_quiet(0.2, 2)
    assert result.finish_reason == FinishReason.SUCCESS_FINISH
    assert result.first_audio_delay is not None and result.first_audio_delay < 0.1
    assert [k for k, _, _ in receiver.key_presses(101)] == ["3"]
    heard = receiver.audio(PT_PCMA)
    expected = g711.alaw_decode(g711.alaw_encode(message))
    start = int(np.flatnonzero(np.abs(heard) > 1000)[0])
    assert np.array_equal(heard[start - 1 : start - 1 + len(expected)], expected)
    assert telephony.pacer_stats.packets_sent >= len(receiver.packets)


async def test_inband_dtmf_when_the_answer_has_no_telephone_event(
    tmp_path: Path, receiver: RtpReceiver, telephony_for: TelephonyFactory
) -> None:
    sipp = SippUas.launch(
        "uas_answer_no_events.xml", tmp_path, variables=answer_vars(receiver, PT_PCMU, "PCMU")
    )
    telephony = await telephony_for(sipp.port)
    handle = telephony.place_call(dial(dtmf="5*09"), ready(tone(0.3)), Observer())
    result = await asyncio.wait_for(handle.result(), 15)
    assert await finish(sipp) == 0, sipp.log()
    receiver.wait_quiet(0.2, 2)
    assert result.finish_reason == FinishReason.SUCCESS_FINISH
    assert not receiver.events(101)
    keys = detect_dtmf(receiver.audio(PT_PCMU))
    assert [k.key for k in keys] == ["5", "*", "0", "9"]


async def test_no_answer_is_cancelled_at_dialing_timeout(
    tmp_path: Path, telephony_for: TelephonyFactory
) -> None:
    sipp = SippUas.launch("uas_ring.xml", tmp_path)
    telephony = await telephony_for(sipp.port)
    observer = Observer()
    started = time.monotonic()
    handle = telephony.place_call(dial(timeout=1.5), ready(tone(1)), observer)
    result = await asyncio.wait_for(handle.result(), 10)
    elapsed = time.monotonic() - started
    assert await finish(sipp) == 0, sipp.log()
    assert result.finish_reason == FinishReason.SUBSCRIBER_NOT_RESPONSIBLE, result
    assert 1.0 <= elapsed <= 2.0
    assert observer.names == ["dialing", "ringing"]
    assert sipp.received("CANCEL") == 1


@pytest.mark.parametrize(
    "code,reason,expected",
    [
        (486, "Busy Here", FinishReason.SUBSCRIBER_BUSY),
        (404, "Not Found", FinishReason.SUBSCRIBER_NUMBER_PROBLEMS),
        (503, "Service Unavailable", FinishReason.NO_SUCCESS_SUBSCRIBER_CALL),
        (403, "Forbidden", FinishReason.NO_SUCCESS_SUBSCRIBER_CALL),
        (488, "Not Acceptable Here", FinishReason.NO_SUCCESS_SUBSCRIBER_CALL),
    ],
)
async def test_final_failure_maps_to_finish_reason(
    tmp_path: Path,
    telephony_for: TelephonyFactory,
    code: int,
    reason: str,
    expected: FinishReason,
) -> None:
    sipp = SippUas.launch("uas_reject.xml", tmp_path, template={"CODE": code, "REASON": reason})
    telephony = await telephony_for(sipp.port)
    counted = final_responses(str(code))
    handle = telephony.place_call(dial(), ready(tone(1)), Observer())
    result = await asyncio.wait_for(handle.result(), 10)
    assert await finish(sipp) == 0, sipp.log()
    assert result.finish_reason == expected
    assert (result.sip_code, result.sip_reason) == (code, reason)
    assert result.detail == f"trunk answered {code} {reason}"
    assert result.first_audio_delay is None
    assert final_responses(str(code)) == counted + 1  # /metrics counts final codes


def final_responses(code: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "vestnik_sip_final_responses_total", {"trunk": "trunk", "code": code}
    )
    return value or 0.0


async def test_callee_hangup_mid_message_stops_media_at_once(
    tmp_path: Path, receiver: RtpReceiver, telephony_for: TelephonyFactory
) -> None:
    sipp = SippUas.launch(
        "uas_answer_then_bye.xml", tmp_path, variables=answer_vars(receiver), extra=["-d", "700"]
    )
    telephony = await telephony_for(sipp.port)
    handle = telephony.place_call(dial(), ready(tone(5.0)), Observer())
    result = await asyncio.wait_for(handle.result(), 10)
    ended = time.monotonic()
    assert await finish(sipp) == 0, sipp.log()
    receiver.wait_quiet(0.2, 2)
    assert result.finish_reason == FinishReason.SUBSCRIBER_DISCONNECTS, result
    assert result.sip_code == 200
    # ~0.7 s of talk, nowhere near the 5 s message; at most one packet after we learnt of it.
    assert 20 <= len(receiver.packets) <= 60, (result, len(receiver.packets))
    assert sum(1 for r in receiver.packets if r.at > ended) <= 1


def digest_is_valid(header: str, method: str, username: str, password: str) -> bool:
    """Check an RFC 2617 digest (Authorization / Proxy-Authorization value) ourselves."""
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header))
    assert fields["username"] == username

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5(f"{username}:{fields['realm']}:{password}")
    ha2 = md5(f"{method}:{fields['uri']}")
    if fields.get("qop") == "auth":
        expected = md5(f"{ha1}:{fields['nonce']}:{fields['nc']}:{fields['cnonce']}:auth:{ha2}")
    else:
        expected = md5(f"{ha1}:{fields['nonce']}:{ha2}")
    return fields["response"] == expected


@pytest.mark.parametrize(
    "scenario,header",
    [("uas_auth_www.xml", "Authorization"), ("uas_auth_proxy.xml", "Proxy-Authorization")],
)
async def test_digest_auth_401_and_407(
    tmp_path: Path,
    receiver: RtpReceiver,
    telephony_for: TelephonyFactory,
    scenario: str,
    header: str,
) -> None:
    variables = {"media_ip": receiver.host, "media_port": receiver.port}
    sipp = SippUas.launch(scenario, tmp_path, variables=variables)
    telephony = await telephony_for(sipp.port, username="vestnik", password="s3cret")
    handle = telephony.place_call(dial(dtmf="7"), ready(tone(0.3)), Observer())
    result = await asyncio.wait_for(handle.result(), 10)
    assert await finish(sipp) == 0, sipp.log()
    assert result.finish_reason == FinishReason.SUCCESS_FINISH, result
    assert sipp.received("INVITE") == 2
    credentials = re.findall(rf"^{header}: (Digest .*)$", sipp.log(), re.MULTILINE)
    assert credentials and digest_is_valid(credentials[0], "INVITE", "vestnik", "s3cret")
    assert [k for k, _, _ in receiver.key_presses(101)] == ["7"]


async def test_wrong_password_is_refused(tmp_path: Path, telephony_for: TelephonyFactory) -> None:
    variables = {"media_ip": "127.0.0.1", "media_port": 9}
    sipp = SippUas.launch("uas_auth_www.xml", tmp_path, variables=variables)
    telephony = await telephony_for(sipp.port, username="vestnik", password="wrong")
    handle = telephony.place_call(dial(), ready(tone(0.3)), Observer())
    result = await asyncio.wait_for(handle.result(), 10)
    assert await finish(sipp) == 0, sipp.log()
    assert result.finish_reason == FinishReason.NO_SUCCESS_SUBSCRIBER_CALL
    assert (result.sip_code, result.sip_reason) == (403, "Forbidden")
    assert result.detail == "trunk answered 403 Forbidden after credentials were sent"


async def test_a_challenge_after_our_credentials_is_an_authentication_failure(
    tmp_path: Path, telephony_for: TelephonyFactory
) -> None:
    sipp = SippUas.launch("uas_auth_loop.xml", tmp_path)
    telephony = await telephony_for(sipp.port, username="vestnik", password="wrong")
    handle = telephony.place_call(dial(), ready(tone(0.3)), Observer())
    result = await asyncio.wait_for(handle.result(), 10)
    assert await finish(sipp) == 0, sipp.log()
    assert sipp.received("INVITE") == 2  # one answer to the challenge, no loop
    assert result.finish_reason == FinishReason.NO_SUCCESS_SUBSCRIBER_CALL
    assert (result.sip_code, result.sip_reason) == (407, "Proxy Authentication Required")
    assert result.detail == (
        "authentication failed after credentials were sent "
        "(trunk answered 407 Proxy Authentication Required)"
    )


async def test_a_challenge_without_credentials_says_which_setting_is_missing(
    tmp_path: Path, telephony_for: TelephonyFactory
) -> None:
    sipp = SippUas.launch("uas_auth_loop.xml", tmp_path, timeout=3)
    telephony = await telephony_for(sipp.port)  # no [trunk] username
    handle = telephony.place_call(dial(), ready(tone(0.3)), Observer())
    result = await asyncio.wait_for(handle.result(), 10)
    sipp.stop()  # it waits for an INVITE with credentials that never comes
    assert sipp.received("INVITE") == 1
    assert result.sip_code == 407
    assert result.detail == (
        "trunk answered 407 Proxy Authentication Required: it demands authentication and "
        "[trunk] username is not set"
    )


async def test_calls_complete_with_ten_percent_sip_loss(
    tmp_path: Path, receiver: RtpReceiver, telephony_for: TelephonyFactory
) -> None:
    calls = 8
    sipp = SippUas.launch(
        "uas_answer_set_media.xml",
        tmp_path,
        calls=calls,
        variables=answer_vars(receiver),
        extra=["-lost", "10"],
        timeout=60,
    )
    telephony = await telephony_for(sipp.port)
    handles = [
        telephony.place_call(dial(timeout=30), ready(tone(0.5)), Observer()) for _ in range(calls)
    ]
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
    assert [r.finish_reason for r in results] == [FinishReason.SUCCESS_FINISH] * calls
    sipp.stop()


async def test_release_while_ringing_sends_cancel(
    tmp_path: Path, telephony_for: TelephonyFactory
) -> None:
    sipp = SippUas.launch("uas_ring.xml", tmp_path)
    telephony = await telephony_for(sipp.port)
    observer = Observer()
    handle = telephony.place_call(dial(timeout=20), ready(tone(1)), observer)
    await asyncio.wait_for(observer.ringing.wait(), 5)
    handle.release()
    handle.release()  # idempotent
    result = await asyncio.wait_for(handle.result(), 5)
    assert await finish(sipp) == 0, sipp.log()
    assert result.finish_reason == FinishReason.RELEASED
    assert sipp.received("CANCEL") == 1


async def test_release_while_talking_sends_bye(
    tmp_path: Path, receiver: RtpReceiver, telephony_for: TelephonyFactory
) -> None:
    sipp = SippUas.launch("uas_answer_set_media.xml", tmp_path, variables=answer_vars(receiver))
    telephony = await telephony_for(sipp.port)
    observer = Observer()
    handle = telephony.place_call(dial(), ready(tone(10)), observer)
    await asyncio.wait_for(observer.answered.wait(), 5)
    await asyncio.sleep(0.3)
    handle.release()
    result = await asyncio.wait_for(handle.result(), 5)
    assert await finish(sipp) == 0, sipp.log()
    assert result.finish_reason == FinishReason.RELEASED
    assert result.sip_code == 200
    assert sipp.received("BYE") == 1
    receiver.wait_quiet(0.2, 2)
    assert len(receiver.packets) < 40


async def test_answer_racing_cancel_is_acked_then_byed(
    tmp_path: Path, receiver: RtpReceiver, telephony_for: TelephonyFactory
) -> None:
    variables = {"media_ip": receiver.host, "media_port": receiver.port}
    sipp = SippUas.launch("uas_cancel_race.xml", tmp_path, variables=variables)
    telephony = await telephony_for(sipp.port)
    handle = telephony.place_call(dial(timeout=1.0), ready(tone(1)), Observer())
    result = await asyncio.wait_for(handle.result(), 5)
    assert result.finish_reason == FinishReason.SUBSCRIBER_NOT_RESPONSIBLE
    assert await finish(sipp) == 0, sipp.log()
    assert sipp.received("ACK") == 1
    assert sipp.received("BYE") == 1
    assert not receiver.packets  # the call was given up: no media


async def test_sip_uri_contact_and_plus_formats_go_through_the_trunk(
    tmp_path: Path, telephony_for: TelephonyFactory
) -> None:
    template = {"CODE": 486, "REASON": "Busy Here"}
    sipp = SippUas.launch("uas_reject.xml", tmp_path, calls=2, template=template)
    telephony = await telephony_for(
        sipp.port, caller_format="plus", callee_format="plus", from_domain="trunk.example"
    )
    phone = telephony.place_call(dial(), ready(tone(1)), Observer())
    assert (await asyncio.wait_for(phone.result(), 10)).sip_code == 486
    employee = telephony.place_call(
        dial("sip:101@pbx.example:5070", kind=ContactKind.SIP), ready(tone(1)), Observer()
    )
    assert (await asyncio.wait_for(employee.result(), 10)).sip_code == 486
    assert await finish(sipp) == 0, sipp.log()
    log = sipp.log()
    assert f"INVITE sip:+{CALLEE}@trunk.example SIP/2.0" in log
    assert f"From: <sip:+{CALLER}@trunk.example>" in log
    assert "INVITE sip:101@pbx.example:5070 SIP/2.0" in log


async def test_unreachable_trunk_is_no_success(telephony_for: TelephonyFactory) -> None:
    telephony = await telephony_for(free_port(tcp_too=False))  # nobody listens there
    counted = final_responses("none")
    handle = telephony.place_call(dial(timeout=1.0), ready(tone(1)), Observer())
    result = await asyncio.wait_for(handle.result(), 5)
    assert result.finish_reason == FinishReason.NO_SUCCESS_SUBSCRIBER_CALL
    assert result.sip_code is None
    port = telephony.config.trunk.port
    assert (
        result.detail == f"no response from the trunk 127.0.0.1:{port} within dialing_timeout 1 s"
    )
    assert final_responses("none") == counted + 1


async def test_bad_contact_and_render_failure_end_cleanly(
    tmp_path: Path, receiver: RtpReceiver, telephony_for: TelephonyFactory
) -> None:
    sipp = SippUas.launch("uas_answer_set_media.xml", tmp_path, variables=answer_vars(receiver))
    telephony = await telephony_for(sipp.port)
    bad = telephony.place_call(dial("not a uri", kind=ContactKind.SIP), ready(tone(1)), Observer())
    assert (await bad.result()).finish_reason == FinishReason.SUBSCRIBER_NUMBER_PROBLEMS

    async def broken() -> Pcm:
        await asyncio.sleep(0.1)
        raise RuntimeError("engine crashed")

    handle = telephony.place_call(dial(), broken(), Observer())
    result = await asyncio.wait_for(handle.result(), 10)
    assert await finish(sipp) == 0, sipp.log()
    assert result.finish_reason == FinishReason.INTERNAL_ERROR
    assert "engine crashed" in (result.detail or "")
    assert sipp.received("BYE") == 1


async def test_stop_ends_calls_still_up(tmp_path: Path, telephony_for: TelephonyFactory) -> None:
    sipp = SippUas.launch("uas_ring.xml", tmp_path)
    telephony = await telephony_for(sipp.port)
    observer = Observer()
    handle = telephony.place_call(dial(timeout=30), ready(tone(1)), observer)
    await asyncio.wait_for(observer.ringing.wait(), 5)
    await asyncio.wait_for(telephony.stop(), 10)
    result = await handle.result()
    assert result.finish_reason == FinishReason.RELEASED
    assert telephony.active_calls == 0
    assert await finish(sipp) == 0, sipp.log()
    assert sipp.received("CANCEL") == 1


async def test_reinvite_from_the_callee_is_answered_and_the_call_goes_on(
    tmp_path: Path, receiver: RtpReceiver, telephony_for: TelephonyFactory
) -> None:
    sipp = SippUas.launch(
        "uas_answer_reinvite.xml", tmp_path, variables=answer_vars(receiver), extra=["-d", "300"]
    )
    telephony = await telephony_for(sipp.port)
    handle = telephony.place_call(dial(), ready(tone(1.0)), Observer())
    result = await asyncio.wait_for(handle.result(), 10)
    assert await finish(sipp) == 0, sipp.log()
    assert result.finish_reason == FinishReason.SUCCESS_FINISH, result
    log = sipp.log()
    answer = log[log.index("SIP/2.0 200 OK", log.index("CSeq: 2 INVITE")) :]
    assert re.search(r"m=audio 43\d{3} RTP/AVP 8 101", answer)  # our port, the codec in use
    receiver.wait_quiet(0.2, 2)
    assert len(receiver.packets) >= 50  # the whole 1 s message, not cut by the re-INVITE
