"""RTP statistics over every stream of a loopback capture, vectorised (for bench/e2e_bench.py).

The capture is a classic libpcap file (``dumpcap -P``) of Ethernet frames, as ``lo`` gives
them. With a snap length of 54 bytes (Ethernet 14 + IPv4 20 + UDP 8 + RTP 12) every RTP packet
is stored as a record of the same size, so the file is one numpy array of fixed-size records
and 6 million packets parse in about a second; a file with records of other sizes is walked
record by record instead (slower, same result).

A stream is one (UDP source port, SSRC) pair. Over all streams together: the gaps between
consecutive packets of a stream (capture timestamps) as p50/p99/p99.9/max, and sequence
numbers: lost (missing from a stream's first to its last sequence number), duplicated,
reordered (arrived after a later one). ICMP packets in the capture are counted too (a port
unreachable would make the sender's next ``send()`` fail).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
# Offsets in an Ethernet frame carrying IPv4 without options.
IP, UDP, RTP = 14, 34, 42
FRAME_BYTES = RTP + 12  # the snap length that keeps every RTP header and nothing more


@dataclass
class RtpStats:
    packets: int = 0
    streams: int = 0
    icmp: int = 0
    other: int = 0  # captured frames that are neither RTP to the port nor ICMP
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    streams_with_loss: int = 0
    packets_per_stream_min: int = 0
    packets_per_stream_max: int = 0
    gap_p50_ms: float = 0.0
    gap_p99_ms: float = 0.0
    gap_p999_ms: float = 0.0
    gap_max_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_frames(path: str | Path) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.uint8]]:
    """Capture times (seconds) and the first ``FRAME_BYTES`` of every frame (shorter frames
    padded with zeros). A record cut short at the end of the file (capture stopped) is left
    out."""
    data = np.fromfile(path, dtype=np.uint8)
    if len(data) < 24:
        raise ValueError(f"{path}: not a pcap file (too short)")
    magic = int(data[:4].view("<u4")[0])
    endian = "<" if magic in (PCAP_MAGIC_US, PCAP_MAGIC_NS) else ">"
    magic = int(data[:4].view(endian + "u4")[0])
    if magic not in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        raise ValueError(f"{path}: not a classic pcap file (pcapng? capture with dumpcap -P)")
    linktype = int(data[20:24].view(endian + "u4")[0])
    if linktype != LINKTYPE_ETHERNET:
        raise ValueError(f"{path}: link type {linktype}, expected Ethernet (capture on lo)")
    scale = 1e-9 if magic == PCAP_MAGIC_NS else 1e-6
    body = data[24:]
    fixed = _fixed_records(body, endian)
    if fixed is None:
        return _walk_records(body, endian, scale)
    headers, frames = fixed
    times = headers[:, 0].astype(np.float64) + headers[:, 1].astype(np.float64) * scale
    return times, frames


def _fixed_records(
    body: npt.NDArray[np.uint8], endian: str
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint8]] | None:
    """Every record as one row when all have the first record's size, else None."""
    if len(body) < 16:
        return np.zeros((0, 4), np.uint32), np.zeros((0, FRAME_BYTES), np.uint8)
    caplen = int(body[8:12].view(endian + "u4")[0])
    stride = 16 + caplen
    count = len(body) // stride
    rows = body[: count * stride].reshape(count, stride)
    headers = rows[:, :16].copy().view(endian + "u4").astype(np.uint32)
    if caplen < FRAME_BYTES or not np.all(headers[:, 2] == caplen):
        return None
    return headers, rows[:, 16 : 16 + FRAME_BYTES]


def _walk_records(
    body: npt.NDArray[np.uint8], endian: str, scale: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.uint8]]:
    raw = body.tobytes()
    offsets: list[int] = []
    lengths: list[int] = []
    at = 0
    while at + 16 <= len(raw):
        caplen = int.from_bytes(raw[at + 8 : at + 12], "little" if endian == "<" else "big")
        if at + 16 + caplen > len(raw):
            break
        offsets.append(at)
        lengths.append(caplen)
        at += 16 + caplen
    starts = np.asarray(offsets, dtype=np.int64)
    header_index = starts[:, None] + np.arange(8)
    seconds_usec = body[header_index].copy().view(endian + "u4").reshape(-1, 2)
    times = seconds_usec[:, 0].astype(np.float64) + seconds_usec[:, 1].astype(np.float64) * scale
    frames = np.zeros((len(starts), FRAME_BYTES), np.uint8)
    for row, (start, caplen) in enumerate(zip(offsets, lengths, strict=True)):
        take = min(caplen, FRAME_BYTES)
        frames[row, :take] = body[start + 16 : start + 16 + take]
    return times, frames


def _be16(frames: npt.NDArray[np.uint8], at: int) -> npt.NDArray[np.int64]:
    return (frames[:, at].astype(np.int64) << 8) | frames[:, at + 1].astype(np.int64)


def _be32(frames: npt.NDArray[np.uint8], at: int) -> npt.NDArray[np.int64]:
    return (_be16(frames, at) << 16) | _be16(frames, at + 2)


def rtp_stats(path: str | Path, port: int | None = None) -> RtpStats:
    """Statistics of the RTP packets (to ``port``, when given) in the capture at ``path``."""
    times, frames = read_frames(path)
    ipv4 = (_be16(frames, 12) == 0x0800) & ((frames[:, IP] >> 4) == 4)
    icmp = ipv4 & (frames[:, IP + 9] == 1)
    rtp = ipv4 & (frames[:, IP] == 0x45) & (frames[:, IP + 9] == 17)
    rtp &= (frames[:, RTP] >> 6) == 2
    if port is not None:
        rtp &= _be16(frames, UDP + 2) == port
    stats = RtpStats(icmp=int(icmp.sum()), other=int(len(frames) - icmp.sum() - rtp.sum()))
    frames, times = frames[rtp], times[rtp]
    stats.packets = len(frames)
    if not len(frames):
        return stats
    key = (_be16(frames, UDP) << 32) | _be32(frames, RTP + 8)
    # By stream, then by capture time: dumpcap writes in capture order, so a stable sort by
    # stream keeps each stream's packets in time order (sorted first if they were not).
    if len(times) > 1 and np.any(np.diff(times) < 0):
        by_time = np.argsort(times, kind="stable")
        key, times, frames = key[by_time], times[by_time], frames[by_time]
    order = np.argsort(key, kind="stable")
    key, times = key[order], times[order]
    seq = _be16(frames, RTP + 2)[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, len(key)))
    stats.streams = len(starts)
    stats.packets_per_stream_min, stats.packets_per_stream_max = (
        int(counts.min()),
        int(counts.max()),
    )
    same = ~first[1:]
    gaps = np.diff(times)[same] * 1000.0
    if len(gaps):
        p50, p99, p999 = np.percentile(gaps, [50, 99, 99.9])
        stats.gap_p50_ms, stats.gap_p99_ms, stats.gap_p999_ms = float(p50), float(p99), float(p999)
        stats.gap_max_ms = float(gaps.max())
    _sequence_stats(stats, seq, first, starts)
    return stats


def _sequence_stats(
    stats: RtpStats,
    seq: npt.NDArray[np.int64],
    first: npt.NDArray[np.bool_],
    starts: npt.NDArray[np.intp],
) -> None:
    """Lost, duplicated and reordered packets from the sequence numbers in arrival order."""
    step = np.zeros(len(seq), dtype=np.int64)
    step[1:] = ((seq[1:] - seq[:-1] + 32768) % 65536) - 32768  # signed, wraps at 2**16
    step[first] = 0
    unwrapped = np.cumsum(step)  # per stream relative to its first packet, after the resets
    unwrapped -= np.repeat(unwrapped[starts], np.diff(np.append(starts, len(seq))))
    sizes = np.diff(np.append(starts, len(seq)))
    low = np.minimum.reduceat(unwrapped, starts)
    high = np.maximum.reduceat(unwrapped, starts)
    if np.all(step[~first] > 0):  # in order, no duplicate: the common case, no sort needed
        distinct = sizes
    else:
        stream_of = np.repeat(np.arange(len(starts), dtype=np.int64), sizes)
        keys = np.sort((stream_of << 32) | (unwrapped + (1 << 31)))
        new_key = np.ones(len(keys), dtype=bool)
        new_key[1:] = keys[1:] != keys[:-1]
        distinct = np.bincount(keys[new_key] >> 32, minlength=len(starts))
    expected = high - low + 1
    stats.duplicated = int(len(seq) - distinct.sum())
    stats.lost = int((expected - distinct).sum())
    stats.reordered = int((step[~first] < 0).sum())
    stats.streams_with_loss = int((expected > distinct).sum())
