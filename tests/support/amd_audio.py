"""Audio for answering-machine detection tests and the AMD bench (bench/amd_corpus.py): short
human answers, voicemail greetings with and without a beep, silence and noise, as a call
carries them (8 kHz, after a G.711 round trip).

Speech comes from the espeak-ng command line (Debian ``espeak-ng``), resampled to 8 kHz with
soxr. Every function takes its random state from the caller, so a seed gives the same audio.
"""

from __future__ import annotations

import random
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import soxr

from tests.support.pcap import write_udp
from vestnik.calls.audio import SAMPLE_RATE, Pcm
from vestnik.telephony.rtp.g711 import PCMA, PCMU
from vestnik.telephony.rtp.packets import PT_PCMA, RtpPacket

BEEP_HZ = (425, 800, 1000, 1400)


def db(level_dbfs: float) -> float:
    """A dBFS level as a linear amplitude (RMS) on the int16 scale."""
    return float(32767 * 10 ** (level_dbfs / 20))


def espeak(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """``text`` by the espeak-ng command line, as float samples at 8 kHz."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        argv = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav)]
        subprocess.run([*argv, text], check=True, timeout=60)
        data, rate = soundfile.read(str(wav), dtype="float64")
    speech = np.asarray(soxr.resample(data, rate, SAMPLE_RATE), dtype=np.float64)
    # Trim espeak's own leading and trailing silence: we place the speech ourselves.
    loud = np.flatnonzero(np.abs(speech) > 0.01)
    return speech[loud[0] : loud[-1] + 1] if loud.size else speech


def at_level(signal: np.ndarray, level_dbfs: float) -> np.ndarray:
    """``signal`` scaled so its active part has RMS ``level_dbfs`` (int16 scale)."""
    active = signal[np.abs(signal) > 0.01 * np.max(np.abs(signal))]
    rms = float(np.sqrt(np.mean(active**2))) if active.size else 1.0
    return signal * (db(level_dbfs) / rms)


def white(rng: np.random.Generator, n: int, level_dbfs: float) -> np.ndarray:
    return rng.standard_normal(n) * db(level_dbfs)


def pink(rng: np.random.Generator, n: int, level_dbfs: float) -> np.ndarray:
    """1/f noise in the telephone band (200-3600 Hz: what a line passes), at RMS
    ``level_dbfs``: white noise's spectrum shaped and cut."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    band = (freqs >= 200) & (freqs <= 3600)
    spectrum[band] /= np.sqrt(freqs[band])
    spectrum[~band] = 0
    noise = np.fft.irfft(spectrum, n)
    return noise * (db(level_dbfs) / float(np.sqrt(np.mean(noise**2))))


def beep(hz: int, ms: int, level_dbfs: float) -> np.ndarray:
    n = SAMPLE_RATE * ms // 1000
    t = np.arange(n) / SAMPLE_RATE
    ramp = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / 40.0)  # 5 ms
    return np.sin(2 * np.pi * hz * t) * ramp * db(level_dbfs) * np.sqrt(2)


def silence(ms: int) -> np.ndarray:
    return np.zeros(SAMPLE_RATE * ms // 1000)


def to_line(signal: np.ndarray, law: str) -> Pcm:
    """Clip to int16 and pass through G.711 (``law``: PCMA or PCMU) and back."""
    pcm = np.clip(np.round(signal), -32768, 32767).astype(np.int16)
    codec = PCMA if law == "PCMA" else PCMU
    return codec.decode(codec.encode(pcm))


def ms_of(signal: np.ndarray) -> int:
    return len(signal) * 1000 // SAMPLE_RATE


def human_answer(
    rnd: random.Random, rng: np.random.Generator, voice: str, text: str, noisy: bool
) -> tuple[np.ndarray, str]:
    """A person answering: 0.2-1.2 s, ``text``, then 3.5-5 s of waiting (a faint hiss, or
    background noise at -45…-30 dBFS when ``noisy``)."""
    speed, pitch = rnd.choice((130, 160, 190, 220)), rnd.choice((35, 50, 65, 80))
    speech = at_level(espeak(text, voice, speed, pitch), rnd.uniform(-24, -12))
    lead = silence(rnd.randint(200, 1200))
    signal = np.concatenate([lead, speech, silence(rnd.randint(3500, 5000))])
    hiss = rnd.uniform(-45, -30) if noisy else -70.0
    kind = rnd.choice(("white", "pink")) if noisy else "white"
    signal = signal + (pink if kind == "pink" else white)(rng, len(signal), hiss)
    noise = f", {kind} noise {hiss:.0f} dBFS" if noisy else ""
    return signal, f"{text!r} {voice} s{speed} p{pitch}{noise}"


def voicemail(
    rnd: random.Random, rng: np.random.Generator, voice: str, text: str, with_beep: bool
) -> tuple[np.ndarray, int, str]:
    """A mailbox: 0.1-0.8 s, the greeting ``text``, then (``with_beep``) 0.2-0.7 s and a beep
    (one of ``BEEP_HZ``, 0.2-1.0 s), then 4 s of recording silence. Also returns where the
    greeting is over (the end of the beep, else of the speech) in ms."""
    speed, pitch = rnd.choice((140, 160, 175, 200)), rnd.choice((35, 50, 65, 80))
    speech = at_level(espeak(text, voice, speed, pitch), rnd.uniform(-22, -12))
    parts = [silence(rnd.randint(100, 800)), speech]
    note = f"{voice} s{speed} p{pitch}"
    if with_beep:
        hz, ms = rnd.choice(BEEP_HZ), rnd.randint(200, 1000)
        parts += [silence(rnd.randint(200, 700)), beep(hz, ms, rnd.uniform(-20, -10))]
        note += f", beep {hz} Hz {ms} ms"
    else:
        note += ", no beep"
    end = ms_of(np.concatenate(parts))
    signal = np.concatenate([*parts, silence(4000)])
    signal = signal + white(rng, len(signal), rnd.uniform(-70, -55))
    return signal, end, note


def quiet_line(rnd: random.Random, rng: np.random.Generator, ms: int) -> tuple[np.ndarray, str]:
    """Nobody speaks: digital silence (30 %) or a hiss at -70…-60 dBFS."""
    n = SAMPLE_RATE * ms // 1000
    if rnd.random() < 0.3:
        return np.zeros(n), "digital silence"
    level = rnd.uniform(-70, -60)
    return white(rng, n, level), f"hiss {level:.0f} dBFS"


def noisy_line(rnd: random.Random, rng: np.random.Generator, ms: int) -> tuple[np.ndarray, str]:
    """White or pink noise at -50…-20 dBFS."""
    n = SAMPLE_RATE * ms // 1000
    level = rnd.uniform(-50, -20)
    kind = rnd.choice(("white", "pink"))
    signal = (pink if kind == "pink" else white)(rng, n, level)
    return signal, f"{kind} noise {level:.0f} dBFS"


CALLEE_SSRC = 0x5EED  # the SIPp callee's stream in ``callee_pcap`` (ours has another SSRC)
GREETING = "Здравствуйте, вы позвонили Ивану Петрову. Оставьте сообщение после сигнала."


def callee_answer(kind: str) -> tuple[np.ndarray, int | None]:
    """What a test callee says when it answers, at 8 kHz after G.711: ``human`` a short
    "Алло?" then silence, ``machine`` a voicemail greeting with a beep; and for the machine,
    where its beep ends (ms)."""
    rnd, rng = random.Random(12), np.random.default_rng(12)
    if kind == "human":
        signal, _ = human_answer(rnd, rng, "ru", "Алло?", noisy=False)
        return to_line(np.concatenate([signal, silence(4000)]), "PCMA"), None
    signal, end_ms, note = voicemail(rnd, rng, "ru", GREETING, with_beep=True)
    assert "beep" in note
    return to_line(np.concatenate([signal, silence(3000)]), "PCMA"), end_ms


def callee_pcap(path: Path, audio: np.ndarray) -> Path:
    """``audio`` as 20 ms PCMA packets for SIPp's ``play_pcap_audio``
    (``scenarios/uas_answer_play.xml``)."""
    datagrams = []
    for i in range(len(audio) // 160):
        payload = PCMA.encode(audio[i * 160 : (i + 1) * 160])
        packet = RtpPacket(PT_PCMA, 1000 + i, 5000 + i * 160, CALLEE_SSRC, payload, i == 0)
        datagrams.append((i * 0.02, packet.pack()))
    return write_udp(path, datagrams)
