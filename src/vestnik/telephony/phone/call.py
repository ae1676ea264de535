"""One call the test phone answers: SIP on the sippy thread, then the call's record.

SIP callbacks run on the sippy thread; the RTP receiver (``media.MediaReceiver``) on a thread
of its own; writing the WAV and scanning it for in-band tones on a third, once the call ended.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import secrets
import threading
import time
import wave
from collections.abc import Callable
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

from vestnik.telephony.phone.media import MediaReceiver
from vestnik.telephony.phone.records import Digit, HungUpBy, PhoneCall, PhoneMode, PhoneSettings
from vestnik.telephony.rtp import sdp
from vestnik.telephony.rtp.dtmf import detect_dtmf
from vestnik.telephony.rtp.g711 import pcm_to_bytes
from vestnik.telephony.rtp.packets import CLOCK_RATE
from vestnik.telephony.sip.endpoint import SipEndpoint

log = logging.getLogger(__name__)

PHONE_USER = "phone"
USER_AGENT = "vestnik test phone"


class IncomingCall:
    """One incoming call. SIP callbacks run on the sippy thread; RTP on a thread of its own."""

    def __init__(
        self,
        settings: PhoneSettings,
        endpoint: SipEndpoint,
        publish: Callable[[IncomingCall, PhoneCall], None],
    ) -> None:
        self.settings = settings
        self._publish = publish
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
        self.media: MediaReceiver | None = None
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
        media = MediaReceiver(self.settings.host)
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
        self._publish(self, record)
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
