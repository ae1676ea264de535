"""The peers themselves: Kamailio challenges and relays, baresip answers, records and logs DTMF.

Driven by SIPp (with SIPp's own recorded audio and digit), so a failure here is in the test rig,
not in vestnik. The vestnik interop tests build on these launchers.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.support.audio_match import match_audio, read_wav_8k
from tests.support.pcap import read_rtp, rtp_audio
from tests.support.peers import Baresip, Kamailio
from tests.support.processes import free_port
from tests.support.sipp import run_sipp, sipp_scenario

pytestmark = pytest.mark.sip

SIPP_DATA = Path("/usr/share/sip-tester")
CALLEE = "79161234567"
TRUNK_USER = "vestnik"
TRUNK_PASSWORD = "s3cret"


def _sipp_through_trunk(trunk: Kamailio, tmp_path: Path, password: str) -> int:
    scenario = sipp_scenario(
        "uac_auth_pcap.xml",
        tmp_path,
        pcap=SIPP_DATA / "g711a.pcap",
        audio_ms=7500,
        dtmf_pcap=SIPP_DATA / "dtmf_2833_1.pcap",
    )
    host, port = trunk.address
    result = run_sipp(
        ["-sf", str(scenario), "-s", CALLEE, f"{host}:{port}", "-i", "127.0.0.1",
         "-p", str(free_port()), "-mp", str(free_port()), "-m", "1", "-nostdin",
         "-au", TRUNK_USER, "-ap", password, "-timeout", "20", "-timeout_error",
         "-trace_msg", "-message_file", str(tmp_path / "sipp-messages.log")],
        timeout=25, workdir=tmp_path,
    )  # fmt: skip
    return result.returncode


def test_kamailio_demands_auth_and_baresip_records_what_it_got(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("SIPp plays pcap audio through a raw socket: needs root")
    with (
        Baresip(users=[CALLEE], workdir=tmp_path / "baresip") as callee,
        Kamailio(callee.address, {TRUNK_USER: TRUNK_PASSWORD}, workdir=tmp_path / "kam") as trunk,
    ):
        started = time.time()
        assert _sipp_through_trunk(trunk, tmp_path, TRUNK_PASSWORD) == 0
        messages = (tmp_path / "sipp-messages.log").read_text()
        assert "SIP/2.0 407" in messages and 'qop="auth"' in messages
        assert "Record-Route:" in messages

        established = callee.wait_event("CALL_ESTABLISHED", after=started)
        callee.wait_event("CALL_CLOSED", after=started)
        assert callee.dtmf_digits(after=started) == "1"
        recorded = read_wav_8k(callee.recording_for(established))
        sent = rtp_audio(read_rtp(SIPP_DATA / "g711a.pcap"))
        result = match_audio(sent, recorded)
        assert result.passed, result.summary()


def test_wrong_password_is_refused(tmp_path: Path) -> None:
    with (
        Baresip(users=[CALLEE], workdir=tmp_path / "baresip") as callee,
        Kamailio(callee.address, {TRUNK_USER: TRUNK_PASSWORD}, workdir=tmp_path / "kam") as trunk,
    ):
        assert _sipp_through_trunk(trunk, tmp_path, "wrong") == 1
        messages = (tmp_path / "sipp-messages.log").read_text()
        assert messages.count("SIP/2.0 407") >= 2  # the retry with credentials is challenged
        assert callee.events_of("CALL_INCOMING") == []
