"""Known callee audio for the recording tests, and the frame-by-frame checks of a recording.

The callee's audio is A-law encoded and decoded by sox, not by vestnik's G.711, and its RTP
header is packed here, so the reference does not come from the code under test. A recording
places the callee's frames by RTP timestamp from the first packet's arrival: one alignment
offset holds for every frame, and every frame the callee sent must be there, sample for sample
(:func:`assert_callee_frames` names the lost and the displaced ones). Our channel is compared
allowing G.711 quantisation (:func:`assert_our_message`).
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tests.support.pcap import read_rtp, write_udp
from tests.support.processes import require_binary
from tests.support.sipp import SippUas
from vestnik.calls.audio import SAMPLE_RATE

Int16 = npt.NDArray[np.int16]
FRAME_SAMPLES = 160  # 20 ms at 8 kHz
PCMA_PT, SSRC, FIRST_SEQ, FIRST_TS = 8, 0x5EED1234, 1000, 80_000


def sweep(seconds: float, f0: float, f1: float, level: float) -> Int16:
    """A linear chirp with a rising envelope: no two 20 ms frames alike."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
    envelope = 0.4 + 0.6 * t / seconds
    return np.round(level * envelope * np.sin(phase)).astype(np.int16)


def sox_alaw(pcm: Int16, workdir: Path) -> tuple[bytes, Int16]:
    """``pcm`` A-law encoded by sox, and what those bytes decode to (sox again)."""
    sox = require_binary("sox", "sox")
    raw, alaw = workdir / "callee.s16", workdir / "callee.al"
    raw.write_bytes(pcm.astype("<i2").tobytes())
    fmt = ["-r", str(SAMPLE_RATE), "-c", "1"]
    subprocess.run([sox, "-t", "s16", *fmt, str(raw), "-t", "al", str(alaw)], check=True,
                   timeout=30)  # fmt: skip
    decoded = subprocess.run(
        [sox, "-t", "al", *fmt, str(alaw), "-t", "s16", "-"],
        check=True, capture_output=True, timeout=30,
    ).stdout  # fmt: skip
    return alaw.read_bytes(), np.frombuffer(decoded, dtype="<i2").astype(np.int16)


def find_exact(haystack: Int16, needle: Int16) -> list[int]:
    """Every offset where ``needle`` occurs in ``haystack`` sample for sample."""
    if len(haystack) < len(needle):
        return []
    windows = np.lib.stride_tricks.sliding_window_view(haystack, len(needle))
    return [int(i) for i in np.flatnonzero((windows == needle).all(axis=1))]


def close(recorded: Int16, sent: Int16) -> bool:
    """Equal but for G.711 quantisation (ours may be recorded before or after encoding)."""
    diff = np.abs(recorded.astype(np.int32) - sent.astype(np.int32))
    return bool((diff <= 64 + np.abs(sent.astype(np.int32)) // 16).all())


def rtp_datagrams(encoded: bytes) -> list[tuple[float, bytes]]:
    """``encoded`` (one A-law byte per sample) as 20 ms RTP packets, 20 ms apart (the RTP
    header packed here, not by vestnik)."""
    datagrams = []
    for k in range(len(encoded) // FRAME_SAMPLES):
        header = struct.pack("!BBHII", 0x80, PCMA_PT | (0x80 if k == 0 else 0), FIRST_SEQ + k,
                             FIRST_TS + k * FRAME_SAMPLES, SSRC)  # fmt: skip
        datagrams.append((k * 0.02, header + encoded[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES]))
    return datagrams


def assert_callee_frames(theirs: Int16, sent: Int16) -> None:
    frames = [sent[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES] for k in range(len(sent) // 160)]
    starts = find_exact(theirs, frames[0])
    assert starts, "the callee's first frame is not in the recording"
    offset = starts[0]
    # SIPp starts playing at the ACK: its audio lands within a second of the answer.
    assert offset < SAMPLE_RATE, f"the callee's audio starts {offset / SAMPLE_RATE:.3f} s in"
    lost, displaced = [], []
    for k, frame in enumerate(frames):
        at = offset + k * FRAME_SAMPLES
        if np.array_equal(theirs[at : at + FRAME_SAMPLES], frame):
            continue
        (displaced if find_exact(theirs, frame) else lost).append(k)
    assert not lost and not displaced, (
        f"{len(frames)} frames sent; lost (not in the recording): {lost}; displaced: {displaced}"
    )
    # Nothing but the callee's audio on channel 1: silence before and after it.
    end = offset + len(frames) * FRAME_SAMPLES
    assert not theirs[:offset].any() and not theirs[end:].any()


def assert_our_message(ours: Int16, message: Int16) -> None:
    first = message[:FRAME_SAMPLES]
    windows = np.lib.stride_tricks.sliding_window_view(ours, FRAME_SAMPLES)
    candidates = [int(i) for i in range(len(windows)) if close(windows[i], first)]
    assert candidates, "our message's first frame is not on channel 2"
    start = candidates[0]
    recorded = ours[start : start + len(message)]
    assert len(recorded) == len(message), (
        f"channel 2 holds {len(recorded) / SAMPLE_RATE:.2f} s of the {len(message) / 8000} s "
        "message"
    )
    bad = [
        k
        for k in range(len(message) // FRAME_SAMPLES)
        if not close(recorded[k * 160 : (k + 1) * 160], message[k * 160 : (k + 1) * 160])
    ]
    assert not bad, f"message frames not on channel 2 as sent: {bad[:20]}"
    assert not ours[:start].any() and not ours[start + len(message) :].any()


def playing_callee(workdir: Path, encoded: bytes, **options: object) -> SippUas:
    """A started SIPp callee (``uas_answer_play.xml``, PCMA and telephone-event) that answers
    and plays ``encoded`` (A-law) as 20 ms RTP packets once the ACK is in."""
    workdir.mkdir(parents=True, exist_ok=True)
    pcap = write_udp(workdir / "callee.pcap", rtp_datagrams(encoded))
    packets = read_rtp(pcap)
    assert len(packets) == len(encoded) // FRAME_SAMPLES
    assert b"".join(p.payload for p in packets) == encoded[: len(packets) * FRAME_SAMPLES]
    template = {"pcap": pcap, "pts": "8 101", "events": "a=rtpmap:101 telephone-event/8000"}
    return SippUas.launch("uas_answer_play.xml", workdir, template=template, **options)
