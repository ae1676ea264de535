"""``vestnik demo`` as a user runs it: a subprocess, a real call, a real recording.

The recording the test phone made must match the TTS audio vestnik rendered (frame by frame,
design.md's check): the reference is rendered again here by ``AudioRenderer`` on the demo's
data directory, so it is the very PCM the demo played (the TTS disk cache holds it).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.audio_match import match_audio, read_wav_8k
from vestnik.calls import MessageType
from vestnik.calls.ports import MessageSpec
from vestnik.cli.demo import DEMO_TEXT
from vestnik.config import Config
from vestnik.media.render import AudioRenderer
from vestnik.store import create_db_engine

pytestmark = pytest.mark.sip

DEMO = [sys.executable, "-m", "vestnik.cli.main", "demo"]


def _run_demo(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEMO, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _rendered(data_dir: Path, text: str) -> Any:
    engine = create_db_engine(f"sqlite:///{data_dir / 'vestnik.db'}")
    try:
        renderer = AudioRenderer(Config(data_dir=str(data_dir)), engine)
        return asyncio.run(renderer.render(MessageSpec(MessageType.TTS, text, 1)))
    finally:
        engine.dispose()


def test_demo_places_a_real_call_and_the_phone_hears_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    result = _run_demo("--json", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)

    session = report["session"]
    assert session["state"] == "finished"
    assert session["finish_reason"] == "success_finish"
    assert session["sip_code"] == 200
    assert session["dtmf_string"] == "1.2#"
    assert report["text"] == DEMO_TEXT

    call = report["phone_call"]
    assert call["call_id"] == session["sip_call_id"]
    assert call["to_user"] == session["contact"] and call["from_user"] == session["caller_number"]
    assert call["hung_up_by"] == "caller"  # vestnik sent the BYE after the message
    digits = call["digits"]
    assert [d["digit"] for d in digits] == ["1", "2", "#"]
    assert all(d["method"] == "rfc4733" for d in digits)
    assert digits[1]["at"] - digits[0]["at"] >= 0.95  # "." is a one-second pause
    assert digits[2]["at"] - digits[1]["at"] < 0.9

    wav = Path(call["wav"])
    assert wav.parent == data_dir / "phone"
    match = match_audio(_rendered(data_dir, DEMO_TEXT), read_wav_8k(wav))
    assert match.passed, match.summary()
    # The message follows the digits: about 1.4 s of DTMF first.
    assert 1.2 < match.initial_delay / 8000 < 2.5


def test_demo_exits_non_zero_when_the_call_fails(tmp_path: Path) -> None:
    result = _run_demo("--phone-mode", "busy", "--data-dir", str(tmp_path / "demo"))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "finish_reason         subscriber_busy" in result.stdout
    assert "SIP 486" in result.stdout
    assert "FAILED: finish_reason subscriber_busy" in result.stdout


def test_demo_reports_a_hang_up_mid_message(tmp_path: Path) -> None:
    result = _run_demo("--json", "--phone-hangup-after", "2", "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 3, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["session"]["finish_reason"] == "subscriber_disconnects"
    assert report["phone_call"]["hung_up_by"] == "phone"
    assert 1.9 < report["phone_call"]["duration"] < 2.6


def test_demo_refuses_a_used_data_dir(tmp_path: Path) -> None:
    (tmp_path / "vestnik.db").write_bytes(b"")
    result = _run_demo("--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "already holds a vestnik database" in result.stderr


def test_keep_running_serves_more_calls_from_the_printed_request(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*DEMO, "--keep-running", "--data-dir", str(tmp_path / "demo"), "--text", "Проверка."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # readline() blocks: a watchdog kills a hung demo so the test fails instead of hanging.
    watchdog = threading.Timer(90, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        curl = ""
        while time.monotonic() < deadline and not curl:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("curl "):
                curl = line
        assert curl, "".join(lines)
        assert "SUCCESS: finish_reason success_finish" in "".join(lines)
        # The printed request is a working one: send it as curl would.
        found = re.match(r"curl -s (\S+) -H '[^']*' -d '(.*)'$", curl.strip())
        assert found, curl
        reply = httpx.post(found.group(1), json=json.loads(found.group(2)), timeout=10).json()
        assert "call_session_id" in reply["result"]["data"], reply
        # The phone reports the second call as it ends, and the demo the session's outcome
        # (in either order).
        phone_line = session_line = ""
        while time.monotonic() < deadline and not (phone_line and session_line):
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("phone: call from"):
                phone_line = line
            elif line.startswith("session "):
                session_line = line
        assert "digits: 1 at" in phone_line, "".join(lines)
        assert re.match(r"session 2: success_finish \(SIP 200", session_line), "".join(lines)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
