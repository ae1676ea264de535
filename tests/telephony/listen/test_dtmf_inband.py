"""The streaming in-band DTMF detector on 20 ms frames: keys, debounce, twist, noise, speech-like
audio, and G.711 round trips."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.telephony import tone
from vestnik.calls.audio import Pcm
from vestnik.telephony.listen.dtmf import FRAME_SAMPLES, InbandDtmf, frame_key
from vestnik.telephony.rtp.dtmf import DTMF_FREQUENCIES, dtmf_tone
from vestnik.telephony.rtp.g711 import PCMA, PCMU


def frames(pcm: Pcm) -> list[Pcm]:
    n = len(pcm) // FRAME_SAMPLES
    return [pcm[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES] for i in range(n)]


def detect(pcm: Pcm) -> list[str]:
    detector = InbandDtmf()
    return [k for f in frames(pcm) if (k := detector.feed(f)) is not None]


def silence(ms: int) -> Pcm:
    return np.zeros(8 * ms, dtype=np.int16)


def presses(keys: str, tone_ms: int = 100, gap_ms: int = 100, offset: int = 0) -> Pcm:
    parts = [silence(0) if not offset else np.zeros(offset, dtype=np.int16)]
    for key in keys:
        parts += [dtmf_tone(key, tone_ms), silence(gap_ms)]
    return np.concatenate(parts)


def test_every_key_is_found_once() -> None:
    keys = "0123456789*#ABCD"
    assert detect(presses(keys)) == list(keys)


@pytest.mark.parametrize("codec", [PCMA, PCMU])
def test_keys_survive_g711_and_frame_misalignment(codec: object) -> None:
    pcm = presses("159#", offset=77)  # tones start mid-frame
    decoded = codec.decode(codec.encode(pcm))  # type: ignore[attr-defined]
    assert detect(decoded) == list("159#")


def test_one_long_press_is_one_key_even_with_a_dropout() -> None:
    long = dtmf_tone("5", 1500)
    long[8 * 700 : 8 * 720] = 0  # a 20 ms drop-out inside the press
    assert detect(np.concatenate([long, silence(100)])) == ["5"]


def test_the_same_key_twice_with_a_short_gap_is_two_presses() -> None:
    assert detect(presses("77", tone_ms=60, gap_ms=60)) == ["7", "7"]


def test_a_press_shorter_than_two_frames_is_not_a_key() -> None:
    assert detect(presses("3", tone_ms=20)) == []


def test_quiet_tones_noise_speechlike_audio_and_one_tone_are_not_keys() -> None:
    rng = np.random.default_rng(7)
    quiet = (dtmf_tone("1", 500) * 0.005).astype(np.int16)  # about -55 dBFS
    noise = (rng.standard_normal(8000) * 4000).astype(np.int16)
    single = tone(0.5, 697, 10000)  # a row tone alone
    chord = (tone(0.5, 300, 6000) + tone(0.5, 600, 4000) + tone(0.5, 900, 3000)).astype(np.int16)
    for pcm in (quiet, noise, single, chord):
        assert detect(pcm) == []


def test_twist_limits() -> None:
    low, high = DTMF_FREQUENCIES["8"]

    def pair(row_level: float, col_level: float) -> Pcm:
        return (tone(0.2, low, row_level) + tone(0.2, high, col_level)).astype(np.int16)

    assert frame_key(pair(8000, 4000)[:160]) == "8"  # column 6 dB weaker: within 8 dB
    assert frame_key(pair(8000, 2000)[:160]) is None  # 12 dB weaker
    assert frame_key(pair(5000, 7000)[:160]) == "8"  # column 3 dB stronger: within 4 dB
    assert frame_key(pair(3000, 9000)[:160]) is None  # 9.5 dB stronger


def test_keys_in_noise_at_20_db_snr() -> None:
    rng = np.random.default_rng(11)
    pcm = presses("42", tone_ms=80, gap_ms=80).astype(np.float64)
    pcm += rng.standard_normal(len(pcm)) * 800  # tones ~ -9 dBFS each, noise ~ -32 dBFS
    assert detect(np.clip(pcm, -32768, 32767).astype(np.int16)) == ["4", "2"]
