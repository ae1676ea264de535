"""G.711 A-law (PCMA) and µ-law (PCMU) by lookup tables: the one G.711 of vestnik.

The tables are built once at import from the ITU-T G.711 segment rules (the same rules as the
classic Sun ``g711.c`` that sox and most softphones use). Encoding indexes a 65,536-entry table
by the sample's 16-bit pattern, decoding a 256-entry table by the code byte, so a whole message
converts in one numpy operation. ``audioop`` is not used: it is gone in Python 3.13.

``get_codec(name)`` gives the codec an SDP negotiation picked (``PCMA``/``PCMU``): its RTP
payload type, its silence byte, ``encode`` (PCM → code bytes, what the pacer sends) and
``decode``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vestnik.calls.audio import Pcm
from vestnik.telephony.rtp.packets import PT_PCMA, PT_PCMU

Codes = npt.NDArray[np.uint8]

# Code byte of digital silence (a zero sample).
ALAW_SILENCE = 0xD5
ULAW_SILENCE = 0xFF

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159  # in 14-bit units, before the bias


def _segment(magnitude: npt.NDArray[np.int32], ends: list[int]) -> npt.NDArray[np.int32]:
    """Index of the first segment whose upper end is >= magnitude (len(ends) if none)."""
    return np.searchsorted(np.asarray(ends, dtype=np.int32), magnitude, side="left").astype(
        np.int32
    )


def _build_alaw_encode() -> Codes:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3  # 13-bit
    positive = pcm >= 0
    mask = np.where(positive, 0xD5, 0x55)
    magnitude = np.where(positive, pcm, -pcm - 1)
    seg = _segment(magnitude, [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    shift = np.where(seg < 2, 1, seg)
    aval = (np.minimum(seg, 7) << 4) | ((magnitude >> shift) & 0x0F)
    aval = np.where(seg >= 8, 0x7F, aval)
    codes = (aval ^ mask).astype(np.uint8)
    # Reorder from "value -32768 first" to "index = value as uint16".
    return np.roll(codes, -32768)


def _build_ulaw_encode() -> Codes:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2  # 14-bit
    negative = pcm < 0
    mask = np.where(negative, 0x7F, 0xFF)
    magnitude = np.minimum(np.where(negative, -pcm, pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = _segment(magnitude, [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    uval = (np.minimum(seg, 7) << 4) | ((magnitude >> (np.minimum(seg, 7) + 1)) & 0x0F)
    uval = np.where(seg >= 8, 0x7F, uval)
    codes = (uval ^ mask).astype(np.uint8)
    return np.roll(codes, -32768)


def _build_alaw_decode() -> Pcm:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    t = (code & 0x0F) << 4
    seg = (code & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(code & 0x80, t, -t).astype(np.int16)


def _build_ulaw_decode() -> Pcm:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((code & 0x0F) << 3) + _ULAW_BIAS) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


ALAW_ENCODE: Codes = _build_alaw_encode()
ULAW_ENCODE: Codes = _build_ulaw_encode()
ALAW_DECODE: Pcm = _build_alaw_decode()
ULAW_DECODE: Pcm = _build_ulaw_decode()
for _table in (ALAW_ENCODE, ULAW_ENCODE, ALAW_DECODE, ULAW_DECODE):
    _table.setflags(write=False)


def _encode(table: Codes, pcm: Pcm) -> Codes:
    return table[np.asarray(pcm, dtype=np.int16).view(np.uint16)]


def _decode(table: Pcm, data: bytes | Codes) -> Pcm:
    return table[np.frombuffer(data, dtype=np.uint8)]


def alaw_encode(pcm: Pcm) -> Codes:
    """A-law code bytes for 16-bit samples (one byte per sample)."""
    return _encode(ALAW_ENCODE, pcm)


def ulaw_encode(pcm: Pcm) -> Codes:
    """µ-law code bytes for 16-bit samples (one byte per sample)."""
    return _encode(ULAW_ENCODE, pcm)


def alaw_decode(data: bytes | Codes) -> Pcm:
    return _decode(ALAW_DECODE, data)


def ulaw_decode(data: bytes | Codes) -> Pcm:
    return _decode(ULAW_DECODE, data)


def pcm_to_bytes(pcm: Pcm) -> bytes:
    """Little-endian 16-bit bytes (WAV / raw s16le order)."""
    return np.asarray(pcm, dtype="<i2").tobytes()


def pcm_from_bytes(data: bytes) -> Pcm:
    """16-bit little-endian bytes to samples (a trailing odd byte is dropped)."""
    usable = len(data) - len(data) % 2
    return np.frombuffer(data[:usable], dtype="<i2").astype(np.int16)


@dataclass(frozen=True, eq=False)
class G711Codec:
    """One G.711 law as an RTP codec."""

    name: str  # the SDP encoding name
    payload_type: int  # static RTP payload type (RFC 3551)
    silence: int  # code byte of a zero sample
    encode_table: Codes
    decode_table: Pcm

    def encode(self, pcm: Pcm) -> bytes:
        """16-bit samples → code bytes, one per sample."""
        return _encode(self.encode_table, pcm).tobytes()

    def decode(self, data: bytes | Codes) -> Pcm:
        return _decode(self.decode_table, data)


PCMA = G711Codec("PCMA", PT_PCMA, ALAW_SILENCE, ALAW_ENCODE, ALAW_DECODE)
PCMU = G711Codec("PCMU", PT_PCMU, ULAW_SILENCE, ULAW_ENCODE, ULAW_DECODE)
CODECS: dict[str, G711Codec] = {codec.name: codec for codec in (PCMA, PCMU)}


def get_codec(name: str) -> G711Codec:
    """The codec of an SDP encoding name (case-insensitive); ``KeyError`` for others."""
    return CODECS[name.upper()]
