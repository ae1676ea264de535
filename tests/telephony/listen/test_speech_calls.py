"""Spoken replies (``collect_speech``) end to end: SipTelephony dials a SIPp callee that
answers and plays RTP we built (``tests.support.callee_rtp``) with festival's Russian voice in
it (``tests.support.voice``), heard by the real Whisper recogniser (the ``speech`` extra; its
model is joined once per test session into a shared data directory).

Times are from the answer (SIPp starts its pcap when our ACK arrives). Our message is a tone
of ``message`` seconds from the answer; the callee says its reply ``at`` seconds in."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from tests.support.listen_calls import CALLEE, CALLER, Outcome, call, callee, telephony
from tests.support.pcap import LoopbackCapture, read_rtp
from tests.support.rtp_capture import rtp_stats
from tests.support.sipp import requires_sipp
from tests.support.telephony import RecordingObserver, ready, tone
from tests.support.voice import noise, said, speech_bounds
from vestnik.calls import ContactKind, FinishReason
from vestnik.calls.options import CollectSpeech
from vestnik.calls.ports import DialSpec, Listen
from vestnik.telephony.rtp.g711 import PCMA
from vestnik.telephony.rtp.packets import PT_PCMA

pytestmark = [requires_sipp, pytest.mark.sip]

INTENTS = (("yes", ("да", "подтверждаю")), ("no", ("нет", "отмена")))
SILENCE = bytes([PCMA.silence]) * 160
# From the end of the callee's speech to the result: the 700 ms hangover, then one
# recognition of Whisper base on one thread (about 1.2 s on the 2-core test machine, alone).
HANGOVER = 0.7
# The VAD may end a word up to 0.1 s before ``speech_bounds`` does (a consonant's quiet
# release, e.g. the "т" of "нет", is not voice against the floor its vowel left).
TAIL = 0.15
RECOGNITION_MAX = 3.0  # a shared CI machine: generous, the bench measures it


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory every recogniser of the session shares: the model joins once."""
    return tmp_path_factory.mktemp("speech-data")


def reply_at(text: str, at: float) -> tuple[tuple[float, npt.NDArray[np.int16]], float]:
    """``text`` said ``at`` seconds in, and where its speech ends (seconds from the answer)."""
    pcm = said(text)
    return (at, pcm), at + speech_bounds(pcm)[1]


def listen(timeout: float = 3.0) -> Listen:
    return Listen(collect_speech=CollectSpeech(timeout, "ru", INTENTS))


async def speech_call(
    workdir: Path,
    speech_dir: Path,
    say: Sequence[tuple[float, npt.NDArray[np.int16]]],
    *,
    message: float = 1.0,
    timeout: float = 3.0,
    seconds: float = 8.0,
    **options: object,
) -> Outcome:
    sipp = callee(workdir, [], seconds=seconds, say=say, **options)  # type: ignore[arg-type]
    t = await telephony(sipp.port, speech_dir=speech_dir)
    try:
        outcome = await call(t, tone(message), listen(timeout))
        assert await asyncio.to_thread(sipp.wait, 15.0) == 0, sipp.log()
    finally:
        sipp.stop()
        await t.stop()
    return outcome


@pytest.mark.parametrize(("text", "intent"), [("да", "yes"), ("нет", "no")])
async def test_a_reply_after_the_message_is_recognised_and_ends_the_call(
    tmp_path: Path, speech_dir: Path, text: str, intent: str
) -> None:
    reply, end = reply_at(text, 1.5)
    outcome = await speech_call(tmp_path, speech_dir, [reply])
    result = outcome.result
    assert result.finish_reason == FinishReason.SUCCESS_FINISH, result
    assert (result.speech_intent, result.dtmf_reply) == (intent, None)
    assert result.speech_reply is not None and text in result.speech_reply.lower()
    # Not before the hangover is over; then as long as one recognition takes.
    assert end + HANGOVER - TAIL <= outcome.seconds <= end + HANGOVER + RECOGNITION_MAX, (
        outcome.seconds
    )


async def test_silence_is_no_reply_after_the_timeout(tmp_path: Path, speech_dir: Path) -> None:
    outcome = await speech_call(tmp_path, speech_dir, [], message=1.0, timeout=2.0)
    result = outcome.result
    assert result.finish_reason == FinishReason.SUCCESS_FINISH, result
    assert (result.speech_reply, result.speech_intent) == ("", None)
    assert 2.9 <= outcome.seconds <= 3.5  # the message, then the 2 s timeout


async def test_noise_is_no_intent_and_the_call_still_ends(tmp_path: Path, speech_dir: Path) -> None:
    # A hiss that starts abruptly after the message and goes on: under a second of it passes
    # the noise floor (until the floor catches up), but it sounds like noise, not speech: no
    # reply, nothing sent to the recogniser, and the call ends after the hangover.
    outcome = await speech_call(tmp_path, speech_dir, [(1.5, noise(8.5, 1000.0))], seconds=10.0)
    result = outcome.result
    assert result.finish_reason == FinishReason.SUCCESS_FINISH, result
    assert (result.speech_reply, result.speech_intent) == ("", None), result
    assert outcome.seconds <= 1.5 + 0.9 + HANGOVER + 0.3, outcome.seconds


async def test_a_line_noisy_from_the_answer_is_no_reply_after_the_timeout(
    tmp_path: Path, speech_dir: Path
) -> None:
    outcome = await speech_call(tmp_path, speech_dir, [], timeout=2.0, level=1000.0)
    assert (outcome.result.speech_reply, outcome.result.speech_intent) == ("", None)
    assert 2.9 <= outcome.seconds <= 3.5


async def test_speech_over_the_message_cuts_it_and_is_the_reply(
    tmp_path: Path, speech_dir: Path
) -> None:
    # A 6 s message; the callee starts "да, подтверждаю" 2.5 s in: 300 ms of it stop the
    # message (what we sent, captured on loopback, ends there), and it is the reply.
    reply, end = reply_at("да подтверждаю", 2.5)
    onset = 2.5 + speech_bounds(reply[1])[0]
    sipp = callee(tmp_path, [], seconds=8.0, say=[reply])
    t = await telephony(sipp.port, speech_dir=speech_dir)
    try:
        with LoopbackCapture(tmp_path / "ours.pcap", f"udp dst port {sipp.media_port}") as cap:
            outcome = await call(t, tone(6.0), listen())
            await asyncio.sleep(0.2)
            cap.stop()
        assert await asyncio.to_thread(sipp.wait, 15.0) == 0, sipp.log()
    finally:
        sipp.stop()
        await t.stop()
    result = outcome.result
    assert (result.finish_reason, result.speech_intent) == (FinishReason.SUCCESS_FINISH, "yes")
    assert end + HANGOVER - TAIL <= outcome.seconds <= end + HANGOVER + RECOGNITION_MAX
    heard = [p for p in read_rtp(tmp_path / "ours.pcap") if p.payload_type == PT_PCMA]
    heard = [p for p in heard if p.payload != SILENCE]
    played = len(heard) * 0.02
    assert onset + 0.3 - 0.1 <= played <= onset + 0.3 + 0.25, (played, onset)


async def test_a_greeting_over_the_start_of_the_message_does_not_cut_it(
    tmp_path: Path, speech_dir: Path
) -> None:
    # "Алло?" 0.2 s in (within barge_in_after_ms of the message's start): the 3 s message
    # plays whole; the reply after it is "нет".
    reply, end = reply_at("нет", 3.5)
    sipp = callee(tmp_path, [], seconds=8.0, say=[(0.2, said("алло")), reply])
    t = await telephony(sipp.port, speech_dir=speech_dir)
    try:
        with LoopbackCapture(tmp_path / "ours.pcap", f"udp dst port {sipp.media_port}") as cap:
            outcome = await call(t, tone(3.0), listen())
            await asyncio.sleep(0.2)
            cap.stop()
        assert await asyncio.to_thread(sipp.wait, 15.0) == 0, sipp.log()
    finally:
        sipp.stop()
        await t.stop()
    assert outcome.result.speech_intent == "no", outcome.result
    heard = [p for p in read_rtp(tmp_path / "ours.pcap") if p.payload_type == PT_PCMA]
    assert len([p for p in heard if p.payload != SILENCE]) == 150  # 3 s: all of it
    assert end + HANGOVER - TAIL <= outcome.seconds <= end + HANGOVER + RECOGNITION_MAX


async def test_a_callee_who_hangs_up_right_after_the_reply_is_still_heard(
    tmp_path: Path, speech_dir: Path
) -> None:
    # "да" ends about 1.9 s in; the callee's BYE at 2.2 s, before the hangover is over.
    reply, end = reply_at("да", 1.4)
    outcome = await speech_call(tmp_path, speech_dir, [reply], hangup_ms=round((end + 0.3) * 1000))
    result = outcome.result
    assert result.finish_reason == FinishReason.SUBSCRIBER_DISCONNECTS, result
    assert (result.speech_intent, "да" in (result.speech_reply or "").lower()) == ("yes", True)


async def test_a_release_while_the_reply_is_recognised_does_not_wait_for_it(
    tmp_path: Path, speech_dir: Path
) -> None:
    reply, end = reply_at("да", 1.5)
    sipp = callee(tmp_path, [], seconds=8.0, say=[reply])
    t = await telephony(sipp.port, speech_dir=speech_dir)
    try:
        dial = DialSpec(1, CALLER, CALLEE, ContactKind.PHONE, 5.0, "", listen=listen())
        observer = RecordingObserver()
        handle = t.place_call(dial, ready(tone(1.0)), observer)
        while "answered" not in observer.names:
            await asyncio.sleep(0.01)
        loop = asyncio.get_running_loop()
        answered = loop.time()
        await asyncio.sleep(end + HANGOVER + 0.2)  # the recognition has started
        released = loop.time()
        handle.release()
        result = await asyncio.wait_for(handle.result(), 5)
        assert loop.time() - released < 0.3  # not the recognition's second or so
        assert loop.time() - answered < end + HANGOVER + 0.6
        assert await asyncio.to_thread(sipp.wait, 15.0) == 0, sipp.log()
    finally:
        sipp.stop()
        await t.stop()
    assert result.finish_reason == FinishReason.RELEASED
    assert (result.speech_reply, result.speech_intent) == ("", None)


async def test_a_saturated_recogniser_reports_no_reply_without_delaying_the_hang_up(
    tmp_path: Path, speech_dir: Path
) -> None:
    # One worker, no queue, two calls whose "да" ends at the same moment: one is recognised,
    # the other is refused at once ("" and no intent) and hangs up after the hangover alone.
    reply, end = reply_at("да", 1.5)
    sipp = callee(tmp_path, [], seconds=8.0, say=[reply], calls=2)
    t = await telephony(sipp.port, speech_dir=speech_dir, workers=1, queue=0)
    try:
        t.load_recognizer()
        await asyncio.sleep(1.0)  # the model is loaded (in the background)
        outcomes = await asyncio.gather(*(call(t, tone(1.0), listen()) for _ in range(2)))
        assert await asyncio.to_thread(sipp.wait, 15.0) == 0, sipp.log()
    finally:
        sipp.stop()
        await t.stop()
    by_intent = {o.result.speech_intent: o for o in outcomes}
    assert set(by_intent) == {"yes", None}, [o.result for o in outcomes]
    refused, heard = by_intent[None], by_intent["yes"]
    assert refused.result.speech_reply == ""
    assert refused.result.finish_reason == FinishReason.SUCCESS_FINISH
    assert end + HANGOVER - TAIL <= refused.seconds <= end + HANGOVER + 0.3, refused.seconds
    assert heard.ended_at - refused.ended_at >= 0.3  # the recognition took that long at least


async def test_the_media_path_keeps_its_timing_while_a_reply_is_recognised(
    tmp_path: Path, speech_dir: Path
) -> None:
    # Two calls at once: one hears "да" and recognises it (from about 2.7 s in), the other
    # plays a 9 s message meanwhile; our RTP to the callee (both streams) keeps its 20 ms pace.
    reply, _end = reply_at("да", 1.5)
    sipp = callee(tmp_path, [], seconds=11.0, say=[reply], calls=2)
    t = await telephony(sipp.port, speech_dir=speech_dir)
    try:
        t.load_recognizer()
        await asyncio.sleep(1.0)  # the model is loaded (in the background)
        with LoopbackCapture(tmp_path / "ours.pcap", f"udp dst port {sipp.media_port}") as cap:
            listening, plain = await asyncio.gather(
                call(t, tone(1.0), listen()), call(t, tone(9.0), None)
            )
            cap.stop()
        assert await asyncio.to_thread(sipp.wait, 15.0) == 0, sipp.log()
    finally:
        sipp.stop()
        await t.stop()
    assert listening.result.speech_intent == "yes", listening.result
    assert plain.result.finish_reason == FinishReason.SUCCESS_FINISH, plain.result
    assert plain.ended_at > listening.ended_at  # the recognition ran during the message
    stats = rtp_stats(tmp_path / "ours.pcap")
    assert stats.streams == 2 and stats.lost == 0, stats
    assert 19.0 < stats.gap_p50_ms < 21.0, stats
    assert stats.gap_p99_ms < 25.0 and stats.gap_max_ms < 40.0, stats  # as test_pacer's
