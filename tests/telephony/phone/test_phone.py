"""The test phone against SIPp as the caller (software nobody here wrote).

SIPp plays the G.711 recording and the RFC 4733 digit that ship with it (pcap files): the
phone's WAV must match that audio frame by frame and its log must show the digit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.audio_match import match_audio, read_wav_8k
from tests.support.pcap import read_rtp, rtp_audio
from tests.support.processes import free_port, wait_until
from tests.support.sipp import run_sipp, sipp_scenario
from vestnik.telephony.phone import (
    PhoneCall,
    PhoneMode,
    PhoneSettings,
    TestPhone,
)

pytestmark = pytest.mark.sip

SIPP_DATA = Path("/usr/share/sip-tester")
AUDIO_PCAP = SIPP_DATA / "g711a.pcap"
DIGIT_PCAP = SIPP_DATA / "dtmf_2833_1.pcap"
AUDIO_MS = 7500  # g711a.pcap holds 7.08 s


def _need_pcaps() -> None:
    if not AUDIO_PCAP.exists():
        pytest.skip("SIPp's pcap files are missing (Debian package sip-tester)")
    if os.geteuid() != 0:
        pytest.skip("SIPp plays pcap audio through a raw socket: needs root")


@pytest.fixture
def make_phone(tmp_path: Path) -> Iterator[type[TestPhone]]:
    phones: list[TestPhone] = []

    def make(**kwargs: object) -> TestPhone:
        settings = PhoneSettings(record_dir=tmp_path / "rec", **kwargs)  # type: ignore[arg-type]
        phone = TestPhone(settings)
        phone.start()
        phones.append(phone)
        return phone

    yield make  # type: ignore[misc]
    for phone in phones:
        phone.stop()


def _sipp(scenario: Path | str, phone: TestPhone, tmp_path: Path, timeout: float = 30.0) -> int:
    host, port = phone.address
    args = [
        "-s", "79161234567", f"{host}:{port}", "-i", "127.0.0.1",
        "-p", str(free_port()), "-mp", str(free_port()), "-m", "1", "-nostdin",
        "-timeout", str(int(timeout - 2)), "-timeout_error",
    ]  # fmt: skip
    source = ["-sf", str(scenario)] if isinstance(scenario, Path) else ["-sn", scenario]
    trace = tmp_path / "sipp-messages.log"
    args = [*source, *args, "-trace_msg", "-message_file", str(trace)]
    result = run_sipp(args, timeout=timeout, workdir=tmp_path)
    if result.returncode not in (0, 1) or os.environ.get("VESTNIK_TEST_SHOW_SIPP"):
        print(result.stdout[-2000:], result.stderr[-2000:], trace.read_text()[-4000:])
    return result.returncode


def test_answers_records_what_it_hears_and_logs_the_digit(make_phone, tmp_path: Path) -> None:
    _need_pcaps()
    phone = make_phone()
    scenario = sipp_scenario(
        "uac_pcap.xml", tmp_path, pcap=AUDIO_PCAP, audio_ms=AUDIO_MS, dtmf_pcap=DIGIT_PCAP
    )
    assert _sipp(scenario, phone, tmp_path) == 0
    call = phone.wait_call(5)

    assert call.final_code == 200
    assert call.hung_up_by == "caller"
    assert call.to_user == "79161234567"
    assert call.from_user == "74993720692"
    assert call.codec == "PCMA" and call.telephone_event == 101
    assert call.rtp_packets == 236 and call.rtp_lost == 0
    assert [d.digit for d in call.digits] == ["1"]
    digit = call.digits[0]
    assert digit.method == "rfc4733"
    assert AUDIO_MS / 1000 - 0.3 < digit.at < AUDIO_MS / 1000 + 0.6
    assert digit.duration > 0
    assert 8.0 < call.duration < 10.5

    assert call.wav is not None and Path(call.wav).parent == tmp_path / "rec"
    recorded = read_wav_8k(call.wav)
    sent = rtp_audio(read_rtp(AUDIO_PCAP))
    result = match_audio(sent, recorded)
    assert result.passed, result.summary()
    assert abs(result.initial_delay) < 160  # placed by timestamp from the first packet


def test_busy_answers_486(make_phone, tmp_path: Path) -> None:
    phone = make_phone(mode=PhoneMode.BUSY)
    assert _sipp("uac", phone, tmp_path, timeout=15) == 1  # SIPp wanted a 200
    call = phone.wait_call(5)
    assert call.final_code == 486
    assert call.answered_at is None and call.wav is None and call.duration == 0


def test_noanswer_rings_until_cancelled(make_phone, tmp_path: Path) -> None:
    phone = make_phone(mode=PhoneMode.NOANSWER)
    scenario = sipp_scenario("uac_cancel.xml", tmp_path, ring_ms=1500)
    started = time.monotonic()
    code = _sipp(scenario, phone, tmp_path, timeout=15)
    assert code == 0, (tmp_path / "sipp-messages.log").read_text()[-4000:]
    call = phone.wait_call(5)
    assert time.monotonic() - started >= 1.5
    assert call.final_code == 487
    assert call.hung_up_by == "caller"
    assert call.answered_at is None


def test_answer_delay_rings_first(make_phone, tmp_path: Path) -> None:
    phone = make_phone(answer_delay=1.0, hangup_after=0.5)
    scenario = sipp_scenario("uac_wait_bye.xml", tmp_path, pcap=AUDIO_PCAP)
    if os.geteuid() != 0:
        pytest.skip("SIPp plays pcap audio through a raw socket: needs root")
    assert _sipp(scenario, phone, tmp_path, timeout=15) == 0
    call = phone.wait_call(5)
    assert call.answered_at is not None
    assert 0.95 <= call.answered_at - call.started_at < 1.6


def test_hangup_after_sends_bye_mid_message(make_phone, tmp_path: Path) -> None:
    _need_pcaps()
    phone = make_phone(hangup_after=2.0)
    scenario = sipp_scenario("uac_wait_bye.xml", tmp_path, pcap=AUDIO_PCAP)
    assert _sipp(scenario, phone, tmp_path, timeout=15) == 0  # SIPp got our BYE
    call = phone.wait_call(5)
    assert call.hung_up_by == "phone"
    assert 1.9 < call.duration < 2.6
    assert 1.5 < call.audio_seconds < 2.3
    # What it heard is the start of the message.
    sent = rtp_audio(read_rtp(AUDIO_PCAP))
    assert call.wav is not None
    recorded = read_wav_8k(call.wav)
    result = match_audio(sent[: len(recorded) - 160], recorded)
    assert result.passed, result.summary()


def test_offer_without_our_codec_gets_488(make_phone, tmp_path: Path) -> None:
    phone = make_phone(codecs=("PCMU",))  # the scenario offers PCMA only
    scenario = sipp_scenario(
        "uac_pcap.xml", tmp_path, pcap=AUDIO_PCAP, audio_ms=100, dtmf_pcap=DIGIT_PCAP
    )
    assert _sipp(scenario, phone, tmp_path, timeout=15) == 1
    call = phone.wait_call(5)
    assert call.final_code == 488
    assert call.hung_up_by == "phone"


def test_two_calls_in_one_second_get_two_files(make_phone, tmp_path: Path) -> None:
    phone = make_phone(hangup_after=0.3)
    host, port = phone.address
    # SIPp's built-in uac sends BYE itself; two calls back to back, no audio needed.
    result = run_sipp(
        ["-sn", "uac", "-s", "79161234567", f"{host}:{port}", "-i", "127.0.0.1",
         "-p", str(free_port()), "-m", "2", "-r", "10", "-d", "2000", "-nostdin",
         "-timeout", "10", "-timeout_error"],
        timeout=15, workdir=tmp_path,
    )  # fmt: skip
    del result  # our BYE comes first; SIPp may count that as a failure
    calls = [phone.wait_call(5), phone.wait_call(5)]
    assert {c.hung_up_by for c in calls} == {"phone"}
    assert calls[0].call_id != calls[1].call_id
    # Without incoming audio the phone writes an empty recording, one per call.
    wavs = {c.wav for c in calls}
    assert len(wavs) == 2 and all(w and Path(w).exists() for w in wavs)


def test_cli_prints_one_json_line_per_call(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vestnik.cli.main", "phone", "--port", str(port),
         "--record-dir", str(tmp_path / "rec"), "--mode", "busy", "--calls", "1",
         "--results", str(tmp_path / "calls.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: proc.poll() is not None or _listening(port), 10, "vestnik phone")
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        run_sipp(
            ["-sn", "uac", "-s", "100", f"127.0.0.1:{port}", "-i", "127.0.0.1",
             "-p", str(free_port()), "-m", "1", "-nostdin", "-timeout", "8"],
            timeout=12, workdir=tmp_path,
        )  # fmt: skip
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 1
    assert lines[0]["final_code"] == 486 and lines[0]["to_user"] == "100"
    assert "listening on sip:127.0.0.1:" in err
    saved = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert saved == lines


def _listening(port: int) -> bool:
    from tests.support.peers import sip_options_ok

    return sip_options_ok(("127.0.0.1", port))


def test_cli_refuses_bad_options(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vestnik.cli.main", "phone", "--hangup-after", "soon"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "expected seconds" in result.stderr


def test_phone_call_json_round_trips() -> None:
    call = PhoneCall(
        call_id="x", from_uri="sip:a@b", from_user="a", to_user="b", mode="answer",
        final_code=200, hung_up_by="caller", started_at=1.0, answered_at=2.0, ended_at=3.0,
        duration=1.0, codec="PCMA", telephone_event=101,
    )  # fmt: skip
    assert json.loads(call.to_json())["final_code"] == 200


def test_reinvite_mid_call_is_answered(make_phone, tmp_path: Path) -> None:
    phone = make_phone()
    scenario = sipp_scenario("uac_reinvite.xml", tmp_path)
    code = _sipp(scenario, phone, tmp_path, timeout=15)
    assert code == 0, (tmp_path / "sipp-messages.log").read_text()[-4000:]
    call = phone.wait_call(5)
    assert call.final_code == 200 and call.hung_up_by == "caller"
    # Both 200s carried the same media port: the call stayed on its socket.
    messages = (tmp_path / "sipp-messages.log").read_text()
    ports = {line.split()[1] for line in messages.splitlines() if line.startswith("m=audio")}
    assert len(ports) == 2  # SIPp's own port and the phone's one
