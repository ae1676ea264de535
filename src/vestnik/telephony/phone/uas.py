"""A small test phone: a SIP UAS on loopback that answers, records and logs DTMF.

The demo dials it, and so can anyone trying vestnik without an operator trunk. It speaks
through sippy's UAS state machine (the same stack vestnik dials with, on the same process-wide
``SippyLoop``), answers with PCMA or PCMU plus telephone-event, writes what it hears to one WAV
per call (decoded G.711, 8 kHz mono; the RTP timestamps place every packet, so a lost packet
is a 20 ms hole of silence, not a shift) and logs DTMF: RFC 4733 events as they arrive, or, when
the caller did not get telephone-event in our answer, dual tones found in the audio
(``vestnik.telephony.rtp.dtmf.detect_dtmf``, Goertzel).

Modes: ``answer`` (optionally after ``answer_delay``, optionally hanging up ``hangup_after``
seconds into the call), ``busy`` (486) and ``noanswer`` (180, then ringing until CANCEL).

    phone = TestPhone(PhoneSettings(record_dir=Path("rec")))
    host, port = phone.start()
    ...  # dial sip:anything@host:port
    record = phone.wait_call(timeout=30)
    phone.stop()
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from vestnik.telephony.phone.call import PHONE_USER, IncomingCall
from vestnik.telephony.phone.records import PhoneCall, PhoneSettings
from vestnik.telephony.rtp import sdp
from vestnik.telephony.sip.endpoint import SipEndpoint

log = logging.getLogger(__name__)


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
        self._active: set[IncomingCall] = set()
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
        call = IncomingCall(self.settings, self._endpoint, self._publish)
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

    def _publish(self, call: IncomingCall, record: PhoneCall) -> None:
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
