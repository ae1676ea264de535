"""Write RTP into a classic libpcap file (Ethernet/IPv4/UDP), the form SIPp's
``play_pcap_audio`` plays: it sends each packet's UDP payload to the call's media address, at
the pace of the capture timestamps (SIPp rewrites addresses and ports, not the RTP header).
``tests.support.pcap.read_rtp`` reads such a file back."""

from __future__ import annotations

import struct
from pathlib import Path

PCAP_MAGIC_US = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
FRAME_SAMPLES = 160  # 20 ms at 8 kHz
_SRC_IP, _DST_IP = bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(payload: bytes, src_port: int, dst_port: int) -> bytes:
    udp_length = 8 + len(payload)
    pseudo = _SRC_IP + _DST_IP + struct.pack("!BBH", 0, 17, udp_length)
    header = struct.pack("!HHHH", src_port, dst_port, udp_length, 0)
    udp_sum = _checksum(pseudo + header + payload) or 0xFFFF
    udp = struct.pack("!HHHH", src_port, dst_port, udp_length, udp_sum) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, _SRC_IP,
                     _DST_IP)  # fmt: skip
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    ethernet = b"\x00\x00\x00\x00\x00\x02" + b"\x00\x00\x00\x00\x00\x01" + b"\x08\x00"
    return ethernet + ip + udp


def rtp_packet(payload_type: int, sequence: int, timestamp: int, ssrc: int, payload: bytes,
               marker: bool = False) -> bytes:  # fmt: skip
    second = (0x80 if marker else 0) | payload_type
    header = struct.pack("!BBHII", 0x80, second, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)
    return header + payload


def write_rtp_pcap(
    path: str | Path,
    encoded: bytes,
    *,
    payload_type: int = 8,
    ssrc: int = 0x5EED1234,
    first_sequence: int = 1000,
    first_timestamp: int = 80_000,
    start: float = 1_700_000_000.0,
    src_port: int = 6000,
    dst_port: int = 6002,
) -> int:
    """``encoded`` (one G.711 byte per sample) as 20 ms RTP packets, 20 ms apart; the number
    of packets (a last partial frame is dropped)."""
    out = bytearray(struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET))
    count = len(encoded) // FRAME_SAMPLES
    for k in range(count):
        payload = encoded[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES]
        rtp = rtp_packet(payload_type, first_sequence + k, first_timestamp + k * FRAME_SAMPLES,
                         ssrc, payload, marker=k == 0)  # fmt: skip
        frame = _frame(rtp, src_port, dst_port)
        at = start + k * 0.02
        seconds = int(at)
        micros = round((at - seconds) * 1_000_000)
        out += struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame
    Path(path).write_bytes(bytes(out))
    return count
