"""A small test phone: a SIP UAS on loopback that answers, records and logs DTMF.

The demo dials it, and so can anyone trying vestnik without an operator trunk. It speaks
through sippy's UAS state machine (the same stack vestnik dials with, on the same process-wide
``SippyLoop``), answers with PCMA or PCMU plus telephone-event, writes what it hears to one WAV
per call (decoded G.711, 8 kHz mono; the RTP timestamps place every packet, so a lost packet
is a 20 ms hole of silence, not a shift) and logs DTMF: RFC 4733 events as they arrive, or, when
the caller did not get telephone-event in our answer, dual tones found in the audio
(``vestnik.media.dtmf.detect_dtmf``, Goertzel).

Modes: ``answer`` (optionally after ``answer_delay``, optionally hanging up ``hangup_after``
seconds into the call), ``busy`` (486) and ``noanswer`` (180, then ringing until CANCEL).

    phone = TestPhone(PhoneSettings(record_dir=Path("rec")))
    host, port = phone.start()
    ...  # dial sip:anything@host:port
    record = phone.wait_call(timeout=30)
    phone.stop()
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import queue
import re
import secrets
import socket
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sippy.CCEvents import (
    CCEventConnect,
    CCEventDisconnect,
    CCEventFail,
    CCEventRing,
    CCEventTry,
    CCEventUpdate,
)
from sippy.MsgBody import MsgBody
from sippy.SipAddress import SipAddress
from sippy.SipContact import SipContact
from sippy.SipURL import SipURL
from sippy.Time.Timeout import Timeout
from sippy.UA import UA

from vestnik.media import sdp
from vestnik.media.codecs.g711 import (
    ALAW_SILENCE,
    ULAW_SILENCE,
    alaw_decode,
    pcm_to_bytes,
    ulaw_decode,
)
from vestnik.media.dtmf import detect_dtmf
from vestnik.media.rtp import (
    CLOCK_RATE,
    DTMF_KEYS,
    PT_PCMA,
    SAMPLES_PER_PACKET,
    RtpError,
    RtpPacket,
    TelephoneEvent,
    pack_header,
)
from vestnik.telephony.sip_endpoint import SipEndpoint

log = logging.getLogger(__name__)

PHONE_USER = "phone"
USER_AGENT = "vestnik test phone"
RTP_READ_TIMEOUT = 0.1  # seconds: how fast the receiver notices the call ended
MAX_TIMESTAMP_LEAD = 10.0  # seconds an RTP timestamp may run ahead of arrival time


class PhoneMode(StrEnum):
    ANSWER = "answer"
    BUSY = "busy"  # 486 Busy Here
    NOANSWER = "noanswer"  # 180 Ringing until the caller gives up


class HungUpBy(StrEnum):
    CALLER = "caller"  # BYE, or CANCEL before the answer
    PHONE = "phone"  # our BYE (hangup_after), or our final error response
    STOPPED = "stopped"  # the phone was stopped mid-call


@dataclass(frozen=True)
class PhoneSettings:
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port, see TestPhone.start()
    mode: PhoneMode = PhoneMode.ANSWER
    # Codecs we accept, in our preference order; an offer with none of them gets 488.
    codecs: tuple[str, ...] = ("PCMA", "PCMU")
    # Put telephone-event in our answer (when offered). Off: the caller must send tones.
    telephone_event: bool = True
    record_dir: Path | None = None  # None: do not write WAV files
    hangup_after: float | None = None  # seconds after the answer; None: wait for the caller
    answer_delay: float = 0.0  # seconds of ringing before the answer
    # Append every call's JSON line to this file as well.
    results_path: Path | None = None


@dataclass(frozen=True)
class Digit:
    digit: str
    at: float  # seconds after the answer (start of the tone)
    duration: float  # seconds (0.0 if no end was seen)
    method: str  # "rfc4733" or "inband"


@dataclass(frozen=True)
class PhoneCall:
    """What the phone saw of one call (one JSON line in the results)."""

    call_id: str
    from_uri: str
    from_user: str
    to_user: str  # the Request-URI user: the number that was dialled
    mode: str
    final_code: int  # what we answered: 200, 486, 488, 487 (cancelled) ...
    hung_up_by: str
    started_at: float  # UNIX time the INVITE arrived
    answered_at: float | None
    ended_at: float
    duration: float  # seconds from the answer to the end (0 if not answered)
    codec: str | None
    telephone_event: int | None  # payload type we agreed to, or None (in-band DTMF)
    digits: list[Digit] = field(default_factory=list)
    wav: str | None = None
    audio_seconds: float = 0.0  # length of the recording
    rtp_packets: int = 0  # audio packets received
    rtp_lost: int = 0  # packets missing from the sequence numbers (audio and events)
    first_rtp_after_answer: float | None = None  # seconds

    @property
    def digit_string(self) -> str:
        return "".join(d.digit for d in self.digits)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


class TestPhone:
    """The phone: ``start()``, then calls come in; ``stop()`` ends them and unbinds."""

    __test__ = False  # not a pytest class

    def __init__(
        self,
        settings: PhoneSettings | None = None,
        on_call: Callable[[PhoneCall], None] | None = None,
    ) -> None:
        self.settings = settings or PhoneSettings()
        for name in self.settings.codecs:
            if name.upper() not in sdp.STATIC_CODECS:
                raise ValueError(f"unknown codec {name!r}; known: {', '.join(sdp.STATIC_CODECS)}")
        self.on_call = on_call
        self.calls: list[PhoneCall] = []
        self._finished: queue.Queue[PhoneCall] = queue.Queue()
        self._active: set[_Call] = set()
        self._lock = threading.Lock()
        self._endpoint: SipEndpoint | None = None

    @property
    def address(self) -> tuple[str, int]:
        if self._endpoint is None:
            raise RuntimeError("the phone is not started")
        return self.settings.host, self._endpoint.port

    @property
    def uri(self) -> str:
        host, port = self.address
        return f"sip:{PHONE_USER}@{host}:{port}"

    def start(self) -> tuple[str, int]:
        if self.settings.record_dir is not None:
            self.settings.record_dir.mkdir(parents=True, exist_ok=True)
        endpoint = SipEndpoint(self.settings.host, self.settings.port, on_request=self._on_request)
        endpoint.open()
        self._endpoint = endpoint
        return self.address

    def stop(self) -> None:
        """Hang up calls in progress (BYE, or 480 while ringing) and close the socket."""
        endpoint, self._endpoint = self._endpoint, None
        if endpoint is None:
            return
        with self._lock:
            active = list(self._active)
        for call in active:
            endpoint.loop.call_sync(call.stop)
        for call in active:
            call.join(5.0)
        endpoint.close()

    def wait_call(self, timeout: float) -> PhoneCall:
        """The next finished call (blocks up to ``timeout`` seconds; raises TimeoutError)."""
        try:
            return self._finished.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no call finished within {timeout} s") from None

    # --- on the sippy thread -----------------------------------------------------------

    def _on_request(self, req: Any, sip_t: Any) -> Any:
        method = req.getMethod()
        if req.getHFBody("to").getTag() is not None:
            return (req.genResponse(481, "Call/Transaction Does Not Exist"), None, None)
        if method == "OPTIONS":
            return (req.genResponse(200, "OK"), None, None)
        if method != "INVITE":
            return (req.genResponse(405, "Method Not Allowed"), None, None)
        if self._endpoint is None:  # stopping
            return (req.genResponse(503, "Service Unavailable"), None, None)
        call = _Call(self, self._endpoint)
        with self._lock:
            self._active.add(call)
        try:
            return call.ua.recvRequest(req, sip_t)
        except Exception:
            # sippy would only print it; answer instead of leaving the caller retransmitting.
            log.exception("phone: cannot handle INVITE")
            with self._lock:
                self._active.discard(call)
            return (req.genResponse(500, "Server Internal Error"), None, None)

    # --- any thread --------------------------------------------------------------------

    def _publish(self, call: _Call, record: PhoneCall) -> None:
        with self._lock:
            self._active.discard(call)
            self.calls.append(record)
            if self.settings.results_path is not None:
                try:
                    with open(self.settings.results_path, "a", encoding="utf-8") as out:
                        out.write(record.to_json() + "\n")
                except OSError:
                    log.exception("phone: cannot append to %s", self.settings.results_path)
        self._finished.put(record)
        if self.on_call is not None:
            try:
                self.on_call(record)
            except Exception:
                log.exception("on_call callback failed")


class _Call:
    """One incoming call. SIP callbacks run on the sippy thread; RTP on a thread of its own."""

    def __init__(self, phone: TestPhone, endpoint: SipEndpoint) -> None:
        self.phone = phone
        self.settings = phone.settings
        self.ua = UA(
            endpoint.global_config,
            event_cb=self._on_event,
            conn_cbs=(self._on_connected,),
            disc_cbs=(self._on_disconnected,),
            fail_cbs=(self._on_failed,),
        )
        host = self.settings.host
        self.ua.lContact = SipContact(
            address=SipAddress(url=SipURL(username=PHONE_USER, host=host, port=endpoint.port))
        )
        self.ua.local_ua = USER_AGENT  # sippy wants the Server header's text here
        self.started_at = time.time()
        self.call_id = ""
        self.from_uri = ""
        self.from_user = ""
        self.to_user = ""
        self.final_code = 0
        self.hung_up_by: HungUpBy | None = None  # set by whoever ends the call first
        self.answered_at: float | None = None  # UNIX time
        self.answered_mono: float | None = None
        self.negotiated: sdp.Negotiated | None = None
        self.media: _MediaReceiver | None = None
        self._answer_timer: Any = None
        self._hangup_timer: Any = None
        self._done = threading.Event()
        self._ended = False

    # SIP side (sippy thread)

    def _on_event(self, event: Any, ua: Any) -> None:
        if isinstance(event, CCEventTry):
            self._on_invite(event)
        elif isinstance(event, CCEventUpdate):
            self._on_reinvite(event)
        elif isinstance(event, CCEventDisconnect | CCEventFail) and self.hung_up_by is None:
            # CANCEL or BYE from the caller; the disc/fail callbacks finish the call.
            self.hung_up_by = HungUpBy.CALLER

    def _on_invite(self, event: Any) -> None:
        call_id, cli, cld, body, _auth, _caller_name = event.getData()
        self.call_id = str(call_id)
        self.from_user = str(cli or "")
        self.to_user = str(cld or "")
        self.from_uri = str(self.ua.rUri.getUrl()) if self.ua.rUri is not None else ""
        mode = self.settings.mode
        if mode == PhoneMode.BUSY:
            self._fail(486, "Busy Here")
            return
        if mode == PhoneMode.ANSWER:
            try:
                offer = sdp.parse(str(body)) if body is not None else None
                if offer is None:
                    raise sdp.SdpError("INVITE without SDP offer")
                self._prepare_answer(offer)
            except (sdp.SdpError, OSError) as exc:
                log.info("phone: refusing call %s: %s", self.call_id, exc)
                self._fail(488, "Not Acceptable Here")
                return
        self.ua.recvEvent(CCEventRing((180, "Ringing", None)))
        if mode == PhoneMode.ANSWER:
            if self.settings.answer_delay > 0:
                self._answer_timer = Timeout(self._answer, self.settings.answer_delay)
            else:
                self._answer()

    def _on_reinvite(self, event: Any) -> None:
        """A re-INVITE (hold, session refresh, new offer): answer on the same socket and codec
        when the offer allows, else 488 (the call goes on as it was)."""
        body = event.getData()
        try:
            if self.media is None or self.negotiated is None:
                raise sdp.SdpError("no media yet")
            if body is None:  # an offerless re-INVITE: offer what we answered before
                answer = self._answer_sdp
            else:
                answer, _ = sdp.build_answer(
                    sdp.parse(str(body)),
                    self.settings.host,
                    self.media.port,
                    (self.negotiated.codec.name,),
                )
        except sdp.SdpError as exc:
            log.info("phone: refusing re-INVITE on %s: %s", self.call_id, exc)
            self.ua.recvEvent(CCEventFail((488, "Not Acceptable Here")))
            return
        self.ua.recvEvent(CCEventConnect((200, "OK", MsgBody(answer))))

    def _prepare_answer(self, offer: sdp.SessionDescription) -> None:
        if not self.settings.telephone_event:
            # Drop telephone-event from what we consider, so the answer leaves it out.
            audio = offer.audio()
            audio.formats = [
                pt
                for pt in audio.formats
                if (audio.encoding(pt) or ("", 0))[0].lower() != sdp.TELEPHONE_EVENT
            ]
        media = _MediaReceiver(self.settings.host)
        try:
            answer, negotiated = sdp.build_answer(
                offer, self.settings.host, media.port, self.settings.codecs
            )
        except sdp.SdpError:
            media.close()
            raise
        self.media = media
        self.negotiated = negotiated
        self._answer_sdp = answer

    def _answer(self) -> None:
        self._answer_timer = None
        if self._ended or self.ua.isDead():
            return
        self.ua.recvEvent(CCEventConnect((200, "OK", MsgBody(self._answer_sdp))))

    def _fail(self, code: int, reason: str) -> None:
        self.hung_up_by = self.hung_up_by or HungUpBy.PHONE
        self.ua.recvEvent(CCEventFail((code, reason)))

    def _on_connected(self, ua: Any, *args: Any) -> None:
        self.final_code = 200
        self.answered_at = time.time()
        self.answered_mono = time.monotonic()
        assert self.media is not None and self.negotiated is not None
        self.media.start(self.negotiated, self.answered_mono)
        if self.settings.hangup_after is not None:
            self._hangup_timer = Timeout(self._hang_up, self.settings.hangup_after)

    def _hang_up(self) -> None:
        self._hangup_timer = None
        if not self._ended and self.hung_up_by is None:
            self.hung_up_by = HungUpBy.PHONE
            self.ua.recvEvent(CCEventDisconnect())

    def _on_disconnected(self, ua: Any, *args: Any) -> None:
        if self.final_code == 0:
            self.final_code = 487  # cancelled while ringing
        self._end()

    def _on_failed(self, ua: Any, rtime: Any = None, origin: Any = None, code: Any = 0) -> None:
        if self.final_code == 0:
            self.final_code = int(code or 500)
        self._end()

    def stop(self) -> None:
        """The phone is stopping: BYE an answered call, 480 a ringing one."""
        if self._ended:
            return
        self.hung_up_by = self.hung_up_by or HungUpBy.STOPPED
        if self.ua.isConnected():
            self.ua.recvEvent(CCEventDisconnect())
        elif not self.ua.isDead():
            self.ua.recvEvent(CCEventFail((480, "Temporarily Unavailable")))
        if not self._ended:  # the UA had nothing to do: finish anyway
            self._end()

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        self.hung_up_by = self.hung_up_by or HungUpBy.CALLER
        for timer in (self._answer_timer, self._hangup_timer):
            if timer is not None:
                timer.cancel()
        self._answer_timer = self._hangup_timer = None
        ended_at = time.time()
        # Writing the WAV and scanning it for tones is slow work: not on the SIP thread.
        threading.Thread(
            target=self._finish, args=(ended_at,), name=f"phone-finish-{self.call_id}", daemon=True
        ).start()

    def join(self, timeout: float) -> None:
        self._done.wait(timeout)

    # Off the SIP thread

    def _finish(self, ended_at: float) -> None:
        try:
            record = self._build_record(ended_at)
        except Exception:
            log.exception("phone: could not finish call %s", self.call_id)
            record = self._signalling_record(ended_at)
        self.phone._publish(self, record)
        self._done.set()

    def _signalling_record(self, ended_at: float) -> PhoneCall:
        """What the SIP side alone knows of the call (no media): the record if media fails."""
        return PhoneCall(
            call_id=self.call_id,
            from_uri=self.from_uri,
            from_user=self.from_user,
            to_user=self.to_user,
            mode=str(self.settings.mode),
            final_code=self.final_code,
            hung_up_by=str(self.hung_up_by or HungUpBy.CALLER),
            started_at=self.started_at,
            answered_at=self.answered_at,
            ended_at=ended_at,
            duration=0.0,
            codec=None,
            telephone_event=None,
        )

    def _build_record(self, ended_at: float) -> PhoneCall:
        media = self.media
        heard = media.finish() if media is not None else None
        wav: str | None = None
        digits: list[Digit] = []
        audio_seconds = 0.0
        if heard is not None:
            digits = list(heard.events)
            audio_seconds = len(heard.pcm) / CLOCK_RATE
            if self.negotiated is not None and self.negotiated.telephone_event is None:
                digits += [
                    Digit(found.key, heard.audio_offset + found.start, found.end - found.start,
                          "inband")
                    for found in detect_dtmf(heard.pcm)
                ]  # fmt: skip
            if self.settings.record_dir is not None and self.answered_at is not None:
                wav = str(self._write_wav(heard.pcm))
        digits.sort(key=lambda d: d.at)
        return dataclasses.replace(
            self._signalling_record(ended_at),
            duration=ended_at - self.answered_at if self.answered_at is not None else 0.0,
            codec=self.negotiated.codec.name if self.negotiated else None,
            telephone_event=self.negotiated.telephone_event if self.negotiated else None,
            digits=digits,
            wav=wav,
            audio_seconds=audio_seconds,
            rtp_packets=heard.packets if heard else 0,
            rtp_lost=heard.lost if heard else 0,
            first_rtp_after_answer=heard.first_packet_offset if heard else None,
        )

    def _write_wav(self, pcm: npt.NDArray[np.int16]) -> Path:
        assert self.settings.record_dir is not None
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.answered_at))
        safe_id = re.sub(r"[^A-Za-z0-9._-]", "_", self.call_id)[:80] or secrets.token_hex(8)
        path = self.settings.record_dir / f"{stamp}-{safe_id}.wav"
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(CLOCK_RATE)
            out.writeframes(pcm_to_bytes(pcm))
        return path.resolve()


@dataclass
class _Heard:
    pcm: npt.NDArray[np.int16]
    events: list[Digit]
    packets: int
    lost: int
    first_packet_offset: float | None  # seconds after the answer
    audio_offset: float  # seconds after the answer where pcm[0] plays


class _MediaReceiver:
    """One call's RTP socket: audio into a timestamp-placed buffer, RFC 4733 events logged.

    Every audio packet is answered with one packet of silence, so the caller sees a live,
    symmetric stream (some stacks time out a call without incoming RTP).
    """

    def __init__(self, host: str) -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                  socket.SOCK_DGRAM)  # fmt: skip
        self.sock.bind((host, 0))
        self.sock.settimeout(RTP_READ_TIMEOUT)
        self.port = int(self.sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._chunks: list[tuple[int, bytes]] = []  # (sample position, G.711 bytes)
        self._events: list[Digit] = []
        self._packets = 0
        self._lost = 0
        self._first_mono: float | None = None

    def start(self, negotiated: sdp.Negotiated, answered_mono: float) -> None:
        self._negotiated = negotiated
        self._answered = answered_mono
        self._thread = threading.Thread(target=self._run, name="phone-rtp", daemon=True)
        self._thread.start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def finish(self) -> _Heard:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self.close()
        if not self._chunks:
            pcm = np.zeros(0, dtype=np.int16)
        else:
            end = max(pos + len(data) for pos, data in self._chunks)
            codes = np.full(end, self._silence_code, dtype=np.uint8)
            for pos, data in self._chunks:
                codes[pos : pos + len(data)] = np.frombuffer(data, dtype=np.uint8)
            pcm = self._decode(codes.tobytes())
        first = None if self._first_mono is None else self._first_mono - self._answered
        return _Heard(pcm, self._events, self._packets, self._lost, first, first or 0.0)

    @property
    def _silence_code(self) -> int:
        return ALAW_SILENCE if self._negotiated.codec.payload_type == PT_PCMA else ULAW_SILENCE

    def _decode(self, data: bytes) -> npt.NDArray[np.int16]:
        if self._negotiated.codec.name == "PCMA":
            return alaw_decode(data)
        return ulaw_decode(data)

    def _run(self) -> None:
        codec_pt = self._negotiated.codec.payload_type
        event_pt = self._negotiated.telephone_event
        # Timestamps are unwrapped per SSRC and anchored where that stream's first packet
        # arrived, so a new SSRC mid-call lands at the right place on the timeline.
        anchors: dict[int, tuple[int, int]] = {}  # ssrc -> (first timestamp, sample position)
        last_ts: dict[int, int] = {}
        unwrapped: dict[int, int] = {}
        last_seq: dict[int, int] = {}
        events_seen: dict[tuple[int, int, int], int] = {}  # (ssrc, ts, event) -> index
        reply_seq, reply_ts = secrets.randbits(16), secrets.randbits(32)
        reply_ssrc = secrets.randbits(32)
        silence = bytes([self._silence_code]) * SAMPLES_PER_PACKET
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            try:
                packet = RtpPacket.parse(data)
            except RtpError:
                continue
            if self._first_mono is None:
                self._first_mono = now
            ssrc = packet.ssrc
            if ssrc not in anchors:
                position = round((now - self._first_mono) * CLOCK_RATE)
                anchors[ssrc] = (packet.timestamp, position)
                last_ts[ssrc] = packet.timestamp
                unwrapped[ssrc] = packet.timestamp
            else:
                step = (packet.timestamp - last_ts[ssrc] + (1 << 31)) % (1 << 32) - (1 << 31)
                unwrapped[ssrc] += step
                last_ts[ssrc] = packet.timestamp
            first_ts, anchor = anchors[ssrc]
            # Audio and telephone-events share one sequence space per SSRC.
            if ssrc in last_seq:
                gap = (packet.sequence_number - last_seq[ssrc]) % (1 << 16)
                if 1 < gap < 1000:
                    self._lost += gap - 1
            last_seq[ssrc] = packet.sequence_number
            if packet.payload_type == codec_pt:
                position = anchor + unwrapped[ssrc] - first_ts
                # A timestamp far ahead of the wall clock would make a huge, mostly empty
                # recording: such a packet is dropped, not placed.
                horizon = (now - self._first_mono + MAX_TIMESTAMP_LEAD) * CLOCK_RATE
                if 0 <= position <= horizon:
                    self._chunks.append((position, packet.payload))
                self._packets += 1
                reply = pack_header(codec_pt, reply_seq, reply_ts, reply_ssrc, False) + silence
                reply_seq += 1
                reply_ts += SAMPLES_PER_PACKET
                with contextlib.suppress(OSError):
                    self.sock.sendto(reply, source)
            elif event_pt is not None and packet.payload_type == event_pt:
                self._on_event(packet, ssrc, now, events_seen)

    def _on_event(
        self, packet: RtpPacket, ssrc: int, now: float, seen: dict[tuple[int, int, int], int]
    ) -> None:
        try:
            event = TelephoneEvent.parse(packet.payload)
        except RtpError:
            return
        key = DTMF_KEYS.get(event.event)
        if key is None:
            return
        # One event = one RTP timestamp; its packets repeat with a growing duration.
        ident = (ssrc, packet.timestamp, event.event)
        duration = event.duration / CLOCK_RATE if event.end else 0.0
        if ident not in seen:
            seen[ident] = len(self._events)
            self._events.append(Digit(key, now - self._answered, duration, "rfc4733"))
        elif event.end:
            index = seen[ident]
            self._events[index] = dataclasses.replace(self._events[index], duration=duration)
