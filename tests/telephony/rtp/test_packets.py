"""RTP header and RFC 4733 telephone-event encoding."""

from __future__ import annotations

import struct

import pytest

from vestnik.telephony.rtp.packets import (
    DTMF_EVENTS,
    PT_PCMA,
    RtpError,
    RtpPacket,
    TelephoneEvent,
    pack_header,
)


def test_pack_writes_rfc3550_fixed_header() -> None:
    packet = RtpPacket(PT_PCMA, 0x1234, 0xDEADBEEF, 0x01020304, b"\xd5" * 160, marker=True)
    data = packet.pack()
    assert len(data) == 172
    assert data[:12] == bytes.fromhex("80881234deadbeef01020304")
    assert RtpPacket.parse(data) == packet
    assert pack_header(PT_PCMA, 0x1234, 0xDEADBEEF, 0x01020304, True) == data[:12]


def test_sequence_and_timestamp_wrap() -> None:
    data = RtpPacket(0, 0x10000 + 5, 2**32 + 7, 1).pack()
    parsed = RtpPacket.parse(data)
    assert (parsed.sequence_number, parsed.timestamp, parsed.marker) == (5, 7, False)


def test_parse_skips_csrc_extension_and_padding() -> None:
    first = 0x80 | 0x20 | 0x10 | 2  # padding, extension, 2 CSRCs
    header = struct.pack("!BBHII", first, 0, 1, 2, 3) + b"\x00" * 8
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\x11\x22\x33\x44"
    padding = b"\x00\x00\x03"
    parsed = RtpPacket.parse(header + extension + b"voice" + padding)
    assert parsed.payload == b"voice"


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x00",
        bytes.fromhex("40000001000000020000000300"),
        bytes.fromhex("a0000001000000020000000300"),
    ],
)
def test_parse_rejects_malformed(data: bytes) -> None:
    with pytest.raises(RtpError):
        RtpPacket.parse(data)


def test_telephone_event_payload() -> None:
    event = TelephoneEvent(event=DTMF_EVENTS["#"], end=True, volume=10, duration=800)
    assert event.pack() == bytes([11, 0x80 | 10]) + (800).to_bytes(2, "big")
    assert TelephoneEvent.parse(event.pack()) == event
    assert TelephoneEvent.parse(event.pack()).key == "#"
    assert TelephoneEvent(event=16).key is None
    # Durations beyond 16 bits saturate rather than wrap.
    assert TelephoneEvent.parse(TelephoneEvent(1, duration=70000).pack()).duration == 0xFFFF
    with pytest.raises(RtpError):
        TelephoneEvent.parse(b"\x01\x02")


def test_dtmf_event_codes() -> None:
    assert [DTMF_EVENTS[k] for k in "0123456789*#ABCD"] == list(range(16))
