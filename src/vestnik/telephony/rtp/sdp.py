"""SDP (RFC 4566 / 3264) for one G.711 audio stream with telephone-events.

``build_offer`` writes what vestnik sends in an INVITE, ``parse`` reads a peer's SDP,
``negotiate`` picks the codec and the telephone-event payload type from the peer's answer (or
offer), and ``build_answer`` answers an offer (the test phone uses it).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from vestnik.telephony.rtp.g711 import CODECS
from vestnik.telephony.rtp.packets import CLOCK_RATE, PT_TELEPHONE_EVENT_DEFAULT, PTIME_MS

# Static payload types of the codecs we speak (RFC 3551).
STATIC_CODECS: dict[str, int] = {name: codec.payload_type for name, codec in CODECS.items()}
_STATIC_NAMES: dict[int, str] = {pt: name for name, pt in STATIC_CODECS.items()}
TELEPHONE_EVENT = "telephone-event"
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

_session_versions = itertools.count(int(time.time()))


class SdpError(ValueError):
    """An SDP body we cannot use (malformed, no audio, no common codec)."""


@dataclass(frozen=True)
class Codec:
    name: str  # "PCMA" / "PCMU"
    payload_type: int


@dataclass
class MediaDescription:
    media: str
    port: int
    protocol: str
    formats: list[int]
    address: str | None = None  # media-level c=, else the session's
    rtpmap: dict[int, tuple[str, int]] = field(default_factory=dict)  # pt -> (name, clock)
    fmtp: dict[int, str] = field(default_factory=dict)
    ptime: int | None = None
    direction: str = "sendrecv"

    def encoding(self, payload_type: int) -> tuple[str, int] | None:
        """(name, clock rate) of a payload type: rtpmap first, else the static table."""
        if payload_type in self.rtpmap:
            return self.rtpmap[payload_type]
        if payload_type in _STATIC_NAMES:
            return (_STATIC_NAMES[payload_type], CLOCK_RATE)
        return None


@dataclass
class SessionDescription:
    origin_address: str | None
    address: str | None  # session-level c=
    media: list[MediaDescription]

    def audio(self) -> MediaDescription:
        """The first audio stream with a non-zero port."""
        for m in self.media:
            if m.media == "audio" and m.port != 0:
                return m
        raise SdpError("SDP has no active audio stream")

    def audio_address(self) -> tuple[str, int]:
        """Where to send RTP: (host, port) of the first active audio stream."""
        audio = self.audio()
        host = audio.address or self.address
        if not host:
            raise SdpError("SDP has no connection address (c=) for audio")
        return host, audio.port


@dataclass(frozen=True)
class Negotiated:
    codec: Codec
    telephone_event: int | None  # payload type, or None: send DTMF in-band
    remote: tuple[str, int]
    ptime: int


def parse(text: str) -> SessionDescription:
    """Parse an SDP body. Unknown lines are ignored; a malformed known line raises SdpError."""
    origin: str | None = None
    session_address: str | None = None
    media: list[MediaDescription] = []
    current: MediaDescription | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:].strip()
        try:
            if kind == "o":
                parts = value.split()
                origin = parts[5] if len(parts) >= 6 else None
            elif kind == "c":
                parts = value.split()
                if len(parts) < 3 or parts[0] != "IN":
                    raise SdpError(f"bad connection line: {line!r}")
                host = parts[2].split("/")[0]
                if current is None:
                    session_address = host
                else:
                    current.address = host
            elif kind == "m":
                parts = value.split()
                if len(parts) < 4:
                    raise SdpError(f"bad media line: {line!r}")
                port = int(parts[1].split("/")[0])
                formats = [int(f) for f in parts[3:] if f.isdigit()]
                current = MediaDescription(parts[0], port, parts[2], formats)
                media.append(current)
            elif kind == "a" and current is not None:
                _parse_attribute(current, value)
        except ValueError as exc:
            if isinstance(exc, SdpError):
                raise
            raise SdpError(f"bad SDP line {line!r}: {exc}") from exc
    if not media:
        raise SdpError("SDP has no media line")
    return SessionDescription(origin, session_address, media)


def _parse_attribute(m: MediaDescription, value: str) -> None:
    name, _, rest = value.partition(":")
    if name == "rtpmap":
        pt_text, _, encoding = rest.partition(" ")
        enc_name, _, clock = encoding.strip().partition("/")
        m.rtpmap[int(pt_text)] = (enc_name, int(clock.split("/")[0] or CLOCK_RATE))
    elif name == "fmtp":
        pt_text, _, params = rest.partition(" ")
        m.fmtp[int(pt_text)] = params.strip()
    elif name == "ptime":
        m.ptime = int(float(rest))
    elif name in DIRECTIONS:
        m.direction = name


def negotiate(
    remote: SessionDescription, preference: Sequence[str], *, remote_order: bool = False
) -> Negotiated:
    """Codec and telephone-event payload type from the peer's SDP.

    With ``remote_order`` (reading an answer) the peer's first format among our codecs wins:
    RFC 3264 has the answerer list what it will use first. Otherwise (answering an offer) the
    first of ``preference`` that the peer lists wins.
    """
    audio = remote.audio()
    wanted = [name.upper() for name in preference]
    listed: dict[str, int] = {}  # codec name -> payload type, in the peer's order
    event_pt: int | None = None
    for pt in audio.formats:
        encoding = audio.encoding(pt)
        if encoding is None or encoding[1] != CLOCK_RATE:
            continue
        name = encoding[0].upper()
        if name == TELEPHONE_EVENT.upper():
            event_pt = pt if event_pt is None else event_pt
        elif name in wanted and name not in listed:
            listed[name] = pt
    order = list(listed) if remote_order else wanted
    choice = next((name for name in order if name in listed), None)
    if choice is None:
        raise SdpError(f"no common codec: peer lists {audio.formats}, we speak {wanted}")
    return Negotiated(
        codec=Codec(choice, listed[choice]),
        telephone_event=event_pt,
        remote=remote.audio_address(),
        ptime=audio.ptime or PTIME_MS,
    )


def build_offer(
    address: str,
    port: int,
    codecs: Sequence[str],
    telephone_event: int | None = PT_TELEPHONE_EVENT_DEFAULT,
    session_id: int | None = None,
) -> str:
    """Our SDP offer: the codecs in preference order, then telephone-event 0-16."""
    payload_types: list[int] = []
    lines: list[str] = []
    for name in codecs:
        pt = STATIC_CODECS.get(name.upper())
        if pt is None:
            raise SdpError(f"unknown codec {name!r}; known: {', '.join(STATIC_CODECS)}")
        payload_types.append(pt)
        lines.append(f"a=rtpmap:{pt} {name.upper()}/{CLOCK_RATE}")
    if telephone_event is not None:
        payload_types.append(telephone_event)
        lines.append(f"a=rtpmap:{telephone_event} {TELEPHONE_EVENT}/{CLOCK_RATE}")
        lines.append(f"a=fmtp:{telephone_event} 0-16")
    return _session(address, port, payload_types, lines, session_id)


def build_answer(
    offer: SessionDescription,
    address: str,
    port: int,
    preference: Sequence[str],
    session_id: int | None = None,
) -> tuple[str, Negotiated]:
    """Answer an offer with one codec (our preferred among the offered) and its telephone-event."""
    chosen = negotiate(offer, preference)
    payload_types = [chosen.codec.payload_type]
    lines = [f"a=rtpmap:{chosen.codec.payload_type} {chosen.codec.name}/{CLOCK_RATE}"]
    if chosen.telephone_event is not None:
        payload_types.append(chosen.telephone_event)
        lines.append(f"a=rtpmap:{chosen.telephone_event} {TELEPHONE_EVENT}/{CLOCK_RATE}")
        lines.append(f"a=fmtp:{chosen.telephone_event} 0-16")
    return _session(address, port, payload_types, lines, session_id), chosen


def _session(
    address: str, port: int, payload_types: list[int], lines: list[str], session_id: int | None
) -> str:
    version = next(_session_versions)
    sid = session_id if session_id is not None else version
    family = "IP6" if ":" in address else "IP4"
    body = [
        "v=0",
        f"o=vestnik {sid} {version} IN {family} {address}",
        "s=vestnik",
        f"c=IN {family} {address}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(str(pt) for pt in payload_types)}",
        *lines,
        f"a=ptime:{PTIME_MS}",
        "a=sendrecv",
    ]
    return "\r\n".join(body) + "\r\n"
