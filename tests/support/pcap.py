"""Read RTP out of a classic libpcap file (Ethernet/IPv4/UDP), e.g. SIPp's bundled g711a.pcap;
write one (``write_udp``: what SIPp's ``play_pcap_audio`` plays); capture UDP on loopback with
dumpcap (Debian package ``wireshark-common``) and read it back."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from tests.support.processes import PeerProcess, require_binary, wait_until

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113
ETHERTYPE_IPV4 = 0x0800
IPPROTO_UDP = 17


@dataclass(frozen=True)
class RtpPacket:
    time: float
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def read_rtp(path: str | Path) -> list[RtpPacket]:
    """Every UDP datagram that parses as RTP version 2, in file order."""
    data = Path(path).read_bytes()
    magic_le = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS) else ">"
    magic, _, _, _, _, _, linktype = struct.unpack(endian + "IHHiIII", data[:24])
    scale = 1e-9 if magic == PCAP_MAGIC_NS else 1e-6
    offset = 24
    packets: list[RtpPacket] = []
    while offset + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack(endian + "IIII", data[offset : offset + 16])
        frame = data[offset + 16 : offset + 16 + caplen]
        offset += 16 + caplen
        udp = _udp_payload(frame, linktype)
        if udp is None or len(udp) < 12 or udp[0] >> 6 != 2:
            continue
        csrc = udp[0] & 0x0F
        header = 12 + 4 * csrc
        if udp[0] & 0x10 and len(udp) >= header + 4:  # header extension
            header += 4 + 4 * struct.unpack("!H", udp[header + 2 : header + 4])[0]
        seq, ts, ssrc = struct.unpack("!HII", udp[2:12])
        payload = udp[header:]
        if udp[0] & 0x20 and payload:  # padding
            payload = payload[: -payload[-1]]
        packets.append(
            RtpPacket(
                sec + frac * scale, udp[1] & 0x7F, bool(udp[1] & 0x80), seq, ts, ssrc, payload
            )
        )
    return packets


def read_udp(path: str | Path) -> list[tuple[float, bytes]]:
    """Every IPv4 UDP datagram's (kernel timestamp, payload), in file order."""
    data = Path(path).read_bytes()
    if len(data) < 24:
        return []
    magic_le = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS) else ">"
    magic, _, _, _, _, _, linktype = struct.unpack(endian + "IHHiIII", data[:24])
    scale = 1e-9 if magic == PCAP_MAGIC_NS else 1e-6
    offset = 24
    datagrams: list[tuple[float, bytes]] = []
    while offset + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack(endian + "IIII", data[offset : offset + 16])
        frame = data[offset + 16 : offset + 16 + caplen]
        offset += 16 + caplen
        udp = _udp_payload(frame, linktype)
        if udp is not None:
            datagrams.append((sec + frac * scale, udp))
    return datagrams


class LoopbackCapture:
    """``dumpcap`` on ``lo`` with a capture filter, into a classic pcap file; the kernel's
    timestamps say when each packet went over loopback, whatever the receiver was doing."""

    def __init__(self, path: Path, capture_filter: str) -> None:
        self.path = path
        binary = require_binary("dumpcap", "wireshark-common")
        argv = [binary, "-q", "-P", "-i", "lo", "-f", capture_filter, "-B", "64",
                "-w", str(path)]  # fmt: skip
        self._process = PeerProcess(f"dumpcap-{path.stem}", argv, path.parent)

    def __enter__(self) -> LoopbackCapture:
        process = self._process

        def capturing() -> bool:
            process.check_alive()
            return self.path.exists() and self.path.stat().st_size >= 24

        try:
            wait_until(capturing, 10, "dumpcap to capture")
        except RuntimeError:
            process.stop()
            refusal = [line for line in process.log().splitlines() if "permission" in line]
            if refusal:  # not root, and dumpcap has no capture capability
                pytest.skip(f"dumpcap may not capture on lo here: {refusal[0]}")
            raise
        except BaseException:
            process.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGTERM: dumpcap writes what it holds and exits."""
        self._process.stop()


def write_udp(
    path: str | Path,
    datagrams: list[tuple[float, bytes]],
    src: tuple[str, int] = ("127.0.0.1", 6000),
    dst: tuple[str, int] = ("127.0.0.1", 6002),
) -> Path:
    """A classic pcap (microseconds, Ethernet) of ``(time, UDP payload)`` datagrams from
    ``src`` to ``dst`` (SIPp replaces the addresses and ports when it plays it)."""
    path = Path(path)
    out = [struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET)]
    saddr, daddr = (bytes(int(x) for x in host.split(".")) for host in (src[0], dst[0]))
    for ident, (at, payload) in enumerate(datagrams):
        udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident & 0xFFFF, 0, 64,
                             IPPROTO_UDP, 0, saddr, daddr)  # fmt: skip
        words = struct.unpack("!10H", header)
        total = sum(words)
        while total >> 16:
            total = (total & 0xFFFF) + (total >> 16)
        header = header[:10] + struct.pack("!H", ~total & 0xFFFF) + header[12:]
        frame = b"\0" * 12 + struct.pack("!H", ETHERTYPE_IPV4) + header + udp
        sec = int(at)
        usec = min(999_999, round((at - sec) * 1e6))
        out.append(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


def _udp_payload(frame: bytes, linktype: int) -> bytes | None:
    if linktype == LINKTYPE_ETHERNET:
        ethertype, ip = struct.unpack("!H", frame[12:14])[0], frame[14:]
    elif linktype == LINKTYPE_LINUX_SLL:
        ethertype, ip = struct.unpack("!H", frame[14:16])[0], frame[16:]
    else:
        return None
    if ethertype != ETHERTYPE_IPV4 or len(ip) < 20 or ip[9] != IPPROTO_UDP:
        return None
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    return ip[ihl + 8 : total]


def rtp_audio(packets: list[RtpPacket]) -> npt.NDArray[np.int16]:
    """The G.711 audio of one RTP stream, decoded and placed by timestamp (gaps are silence)."""
    from vestnik.telephony.rtp.g711 import alaw_decode, ulaw_decode

    audio = [p for p in packets if p.payload_type in (0, 8)]
    if not audio:
        return np.zeros(0, dtype=np.int16)
    first = audio[0].timestamp
    end = max((p.timestamp - first) % (1 << 32) + len(p.payload) for p in audio)
    pcm = np.zeros(end, dtype=np.int16)
    for p in audio:
        start = (p.timestamp - first) % (1 << 32)
        decode = alaw_decode if p.payload_type == 8 else ulaw_decode
        pcm[start : start + len(p.payload)] = decode(p.payload)
    return pcm
