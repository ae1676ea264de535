"""rtp_capture on pcap files written here, with known gaps, losses and odd records."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.support.rtp_capture import FRAME_BYTES, rtp_stats

SINK = 40000


def frame(src_port: int, seq: int, ssrc: int, *, dst_port: int = SINK, payload: int = 160) -> bytes:
    rtp = struct.pack("!BBHII", 0x80, 8, seq % 65536, seq * 160, ssrc) + bytes(payload)
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(rtp), 0) + rtp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))  # fmt: skip
    return bytes(12) + b"\x08\x00" + ip + udp


def icmp_frame() -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 56, 0, 0, 64, 1, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))  # fmt: skip
    return bytes(12) + b"\x08\x00" + ip + bytes(36)


def write_pcap(path: Path, packets: list[tuple[float, bytes]], snaplen: int = FRAME_BYTES) -> Path:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1)]
    for at, data in packets:
        kept = data[:snaplen]
        usec = round(at * 1e6)
        out.append(struct.pack("<IIII", usec // 10**6, usec % 10**6, len(kept), len(data)) + kept)
    path.write_bytes(b"".join(out))
    return path


def two_streams() -> list[tuple[float, bytes]]:
    """Stream A: 100 packets 20 ms apart with seq 50 missing (a 40 ms gap) and the sequence
    wrapping past 65535; stream B: 100 packets, seq 77 50 ms late (after 78 and 79), one
    duplicated. Interleaved by time as on the wire."""
    packets = []
    for i in range(100):
        if i != 50:
            packets.append((1000.0 + i * 0.020, frame(20000, 65500 + i, 0xAAAA)))
        at = 1000.005 + i * 0.020 + (0.050 if i == 70 else 0.0)
        packets.append((at, frame(20002, 7 + i, 0xBBBB)))
    packets.append((1000.005 + 30 * 0.020 + 0.001, frame(20002, 7 + 30, 0xBBBB)))
    packets.append((1000.3, frame(5060, 1, 1, dst_port=5060)))  # not to the sink port
    return sorted(packets, key=lambda p: p[0])


def test_known_loss_gap_duplicate_and_reorder(tmp_path: Path) -> None:
    stats = rtp_stats(write_pcap(tmp_path / "a.pcap", two_streams()), SINK)
    assert stats.streams == 2
    assert stats.packets == 99 + 101
    assert stats.lost == 1  # seq 50 of stream A, across the 16-bit wrap
    assert stats.streams_with_loss == 1
    assert stats.duplicated == 1
    assert stats.reordered == 1  # B's late packet
    assert stats.other == 1
    assert stats.packets_per_stream_min == 99 and stats.packets_per_stream_max == 101
    assert stats.gap_p50_ms == pytest.approx(20.0, abs=0.01)
    assert stats.gap_max_ms == pytest.approx(40.0, abs=0.01)  # A's lost one, B's late one


def test_gap_percentiles_over_all_streams(tmp_path: Path) -> None:
    packets = [(10.0 + i * 0.020 + (0.005 if i % 10 == 9 else 0.0), frame(30000 + 2 * s, i, s))
               for s in range(20) for i in range(200)]  # fmt: skip
    stats = rtp_stats(write_pcap(tmp_path / "b.pcap", packets), SINK)
    assert stats.streams == 20 and stats.lost == 0 and stats.reordered == 0
    assert stats.gap_p50_ms == pytest.approx(20.0, abs=0.01)
    assert stats.gap_p99_ms == pytest.approx(25.0, abs=0.01)  # one gap in ten is 25 ms
    assert stats.gap_max_ms == pytest.approx(25.0, abs=0.01)


def test_records_of_other_sizes_are_walked(tmp_path: Path) -> None:
    """Full-size records (a capture without -s 54) and an ICMP message among them, with the
    last record cut short by the capture's end: the same result as the fixed-size path."""
    packets = two_streams()
    packets.insert(10, (packets[9][0], icmp_frame()))
    path = write_pcap(tmp_path / "c.pcap", packets, snaplen=262144)
    path.write_bytes(path.read_bytes() + struct.pack("<IIII", 1, 0, 214, 214) + bytes(20))
    stats = rtp_stats(path, SINK)
    assert (stats.packets, stats.lost, stats.duplicated, stats.icmp) == (200, 1, 1, 1)
    assert stats.gap_max_ms == pytest.approx(40.0, abs=0.01)


def test_not_a_classic_pcap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.pcapng"
    path.write_bytes(bytes.fromhex("0a0d0d0a") + bytes(40))
    with pytest.raises(ValueError, match="dumpcap -P"):
        rtp_stats(path, SINK)
