"""Write audio as an RTP stream in a classic libpcap file, for SIPp's ``play_pcap_audio``.

SIPp replays the file's UDP payloads with the file's timing, to the caller's SDP address and
from its own media port (it rewrites the addresses, so the ones here are placeholders). One
G.711 packet per 20 ms; ``tests.support.pcap.read_rtp`` reads the file back.
"""

from __future__ import annotations

import struct
from pathlib import Path

from vestnik.calls.audio import Pcm
from vestnik.telephony.rtp.g711 import get_codec

FRAME = 160  # samples per packet: 20 ms at 8 kHz
_LINKTYPE_ETHERNET = 1


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(payload: bytes, src_port: int, dst_port: int) -> bytes:
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))  # fmt: skip
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    ethernet = b"\0" * 12 + struct.pack("!H", 0x0800)
    return ethernet + ip + udp


def write_rtp_pcap(
    path: Path, pcm: Pcm, codec: str = "PCMA", *, ssrc: int = 0x5EED, src_port: int = 6000
) -> Path:
    """``pcm`` (8 kHz, 16-bit) as ``codec`` RTP packets, one every 20 ms from time 0 (the last
    partial frame padded with silence)."""
    g711 = get_codec(codec)
    data = g711.encode(pcm)
    if len(data) % FRAME:
        data += bytes([g711.silence]) * (FRAME - len(data) % FRAME)
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, _LINKTYPE_ETHERNET)]
    for i in range(len(data) // FRAME):
        rtp = struct.pack(
            "!BBHII", 0x80, (0x80 if i == 0 else 0) | g711.payload_type, i & 0xFFFF,
            (i * FRAME) & 0xFFFFFFFF, ssrc,
        ) + data[i * FRAME : (i + 1) * FRAME]  # fmt: skip
        frame = _frame(rtp, src_port, src_port + 2)
        usec = i * 20_000
        out.append(
            struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame))
        )
        out.append(frame)
    path.write_bytes(b"".join(out))
    return path
