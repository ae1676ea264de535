"""G.711 tables against the ITU/Sun reference algorithm and against sox."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from vestnik.config.checks import CODECS as CONFIG_CODECS
from vestnik.telephony.rtp import g711

ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)

_SEG_AEND = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF]
_SEG_UEND = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]


def _search(value: int, table: list[int]) -> int:
    for i, end in enumerate(table):
        if value <= end:
            return i
    return len(table)


def ref_linear2alaw(pcm: int) -> int:
    """Sun Microsystems g711.c, linear2alaw, transcribed one statement at a time."""
    pcm >>= 3
    if pcm >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm = -pcm - 1
    seg = _search(pcm, _SEG_AEND)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= (pcm >> 1) & 0xF if seg < 2 else (pcm >> seg) & 0xF
    return aval ^ mask


def ref_alaw2linear(a: int) -> int:
    a ^= 0x55
    t = (a & 0xF) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t += 0x108
        t <<= seg - 1
    return t if a & 0x80 else -t


def ref_linear2ulaw(pcm: int) -> int:
    pcm >>= 2
    if pcm < 0:
        pcm = -pcm
        mask = 0x7F
    else:
        mask = 0xFF
    pcm = min(pcm, 8159) + (0x84 >> 2)
    seg = _search(pcm, _SEG_UEND)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((pcm >> (seg + 1)) & 0xF)) ^ mask


def ref_ulaw2linear(u: int) -> int:
    u = ~u & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t <<= (u & 0x70) >> 4
    return 0x84 - t if u & 0x80 else t - 0x84


def test_alaw_matches_reference_for_every_sample() -> None:
    expected = np.array([ref_linear2alaw(int(x)) for x in ALL_SAMPLES], dtype=np.uint8)
    assert np.array_equal(g711.alaw_encode(ALL_SAMPLES), expected)
    decoded = np.array([ref_alaw2linear(c) for c in range(256)], dtype=np.int16)
    assert np.array_equal(g711.ALAW_DECODE, decoded)


def test_ulaw_matches_reference_for_every_sample() -> None:
    expected = np.array([ref_linear2ulaw(int(x)) for x in ALL_SAMPLES], dtype=np.uint8)
    assert np.array_equal(g711.ulaw_encode(ALL_SAMPLES), expected)
    decoded = np.array([ref_ulaw2linear(c) for c in range(256)], dtype=np.int16)
    assert np.array_equal(g711.ULAW_DECODE, decoded)


def test_known_values() -> None:
    zero = np.zeros(1, dtype=np.int16)
    assert g711.alaw_encode(zero)[0] == g711.ALAW_SILENCE == 0xD5
    assert g711.ulaw_encode(zero)[0] == g711.ULAW_SILENCE == 0xFF
    assert g711.ulaw_decode(b"\x00\x80")[0] == -32124
    assert g711.ulaw_decode(b"\x00\x80")[1] == 32124
    assert g711.alaw_decode(b"\xaa\x2a").tolist() == [32256, -32256]


@pytest.mark.parametrize("encode,decode", [("alaw", "alaw"), ("ulaw", "ulaw")])
def test_round_trip_error_is_within_one_quantisation_step(encode: str, decode: str) -> None:
    enc = getattr(g711, f"{encode}_encode")
    dec = getattr(g711, f"{decode}_decode")
    restored = dec(enc(ALL_SAMPLES)).astype(np.int32)
    error = np.abs(restored - ALL_SAMPLES.astype(np.int32))
    # The largest G.711 step is 1024 (A-law) / 1024+ (µ-law top segment, clipped at 32124).
    magnitude = np.abs(ALL_SAMPLES.astype(np.int32))
    assert error[magnitude < 32000].max() <= 1024
    # Small signals are fine-grained: relative error stays below ~6 %.
    mid = (magnitude > 256) & (magnitude < 32000)
    assert (error[mid] / magnitude[mid]).max() < 0.065


def test_bytes_helpers_round_trip() -> None:
    pcm = np.array([0, 1, -1, 32767, -32768], dtype=np.int16)
    assert g711.pcm_to_bytes(pcm) == b"\x00\x00\x01\x00\xff\xff\xff\x7f\x00\x80"
    assert np.array_equal(g711.pcm_from_bytes(g711.pcm_to_bytes(pcm) + b"\x01"), pcm)


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
@pytest.mark.parametrize("encoding,name", [("a-law", "alaw"), ("u-law", "ulaw")])
def test_agrees_with_sox(tmp_path: Path, encoding: str, name: str) -> None:
    """sox decodes exactly as we do; it encodes with rounding where the reference truncates,
    so its code may be the neighbour of ours at a decision boundary, never further."""
    codes = np.arange(256, dtype=np.uint8)
    (tmp_path / "codes.raw").write_bytes(codes.tobytes())
    subprocess.run(
        ["sox", "-D", "-t", "raw", "-r", "8000", "-e", encoding, "-b", "8", "-c", "1",
         str(tmp_path / "codes.raw"), "-t", "raw", "-e", "signed", "-b", "16",
         str(tmp_path / "pcm.raw")],
        check=True,
    )  # fmt: skip
    sox_decoded = np.fromfile(tmp_path / "pcm.raw", dtype="<i2")
    assert np.array_equal(sox_decoded, getattr(g711, f"{name}_decode")(codes))

    (tmp_path / "all.raw").write_bytes(g711.pcm_to_bytes(ALL_SAMPLES))
    subprocess.run(
        ["sox", "-D", "-V1", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1",
         str(tmp_path / "all.raw"), "-t", "raw", "-e", encoding, "-b", "8",
         str(tmp_path / "enc.raw")],
        check=True,
    )  # fmt: skip
    sox_codes = np.fromfile(tmp_path / "enc.raw", dtype=np.uint8)
    ours = getattr(g711, f"{name}_encode")(ALL_SAMPLES)
    # Compare as ranks among the ordered output levels: neighbours differ by one.
    decode = getattr(g711, f"{name}_decode")
    levels = np.unique(decode(codes).astype(np.int32))
    rank_ours = np.searchsorted(levels, decode(ours).astype(np.int32))
    rank_sox = np.searchsorted(levels, decode(sox_codes).astype(np.int32))
    assert np.abs(rank_ours - rank_sox).max() <= 1
    assert (ours == sox_codes).mean() > 0.97


def test_codecs_by_sdp_name() -> None:
    """The one G.711 the pacer, the test phone and the adapter pick by the negotiated name."""
    pcma, pcmu = g711.get_codec("PCMA"), g711.get_codec("pcmu")
    assert (pcma.payload_type, pcma.silence) == (8, g711.ALAW_SILENCE)
    assert (pcmu.payload_type, pcmu.silence) == (0, g711.ULAW_SILENCE)
    assert pcma.encode(ALL_SAMPLES) == g711.alaw_encode(ALL_SAMPLES).tobytes()
    assert pcmu.encode(ALL_SAMPLES) == g711.ulaw_encode(ALL_SAMPLES).tobytes()
    codes = bytes(range(256))
    assert np.array_equal(pcma.decode(codes), g711.ALAW_DECODE)
    assert np.array_equal(pcmu.decode(codes), g711.ULAW_DECODE)
    with pytest.raises(KeyError):
        g711.get_codec("G729")


def test_configuration_accepts_the_codecs_we_speak() -> None:
    assert set(CONFIG_CODECS) == set(g711.CODECS)
