"""``SipTelephony``: the dialer's ``Telephony`` port over a SIP trunk.

Signalling is sippy's UAC (retransmissions, CANCEL, 401/407 digest, in-dialog BYE) on its own
thread (``SippyLoop``); media is our RTP pacer (``media.pacer``: a child process by default).
A call is a coroutine on the asyncio loop (``SipCall._run``) fed by signals: sippy events posted
with ``call_soon_threadsafe``, the dialing timer, ``release()``, the message audio becoming ready
and the pacer reporting that everything was sent. Each call ends in exactly one ``CallResult``;
nothing here raises to the dialer.

Call flow: INVITE (SDP offer: our codecs in preference order + telephone-event) → 1xx (180/183
→ ``on_ringing``; early media is not an answer) → 200 OK → ACK (sippy), ``on_answered``, RTP
starts at once (silence until there is something to send) → DTMF string → message → BYE.
``dialing_timeout`` or ``release()`` before the answer → CANCEL (a 200 OK racing
the CANCEL is ACKed and BYEd by sippy's Cancelling state).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from sippy.CCEvents import (
    CCEventConnect,
    CCEventDisconnect,
    CCEventFail,
    CCEventRedirect,
    CCEventRing,
    CCEventTry,
    CCEventUpdate,
)
from sippy.MsgBody import MsgBody
from sippy.SipAddress import SipAddress
from sippy.SipCallId import SipCallId
from sippy.SipContact import SipContact
from sippy.SipFrom import SipFrom
from sippy.SipTo import SipTo
from sippy.SipURL import SipURL
from sippy.UA import UA
from sippy.UacStateCancelling import UacStateCancelling

from vestnik import metrics
from vestnik.calls import FinishReason, finish_reason_for_sip_code
from vestnik.calls.audio import Pcm
from vestnik.calls.ports import CallObserver, CallResult, DialSpec
from vestnik.config import Config, check_config
from vestnik.media import sdp
from vestnik.media.pacer import (
    CODECS,
    EncodedAudioCache,
    PacerStats,
    ProcessPacer,
    RemoteStream,
    RtpPacer,
    RtpStream,
    dtmf_items,
)
from vestnik.media.rtp import PT_TELEPHONE_EVENT_DEFAULT
from vestnik.telephony.addressing import AddressError, Target, caller_user, target_for, trunk_domain
from vestnik.telephony.rtp_ports import PortsExhausted, RtpPortPool
from vestnik.telephony.sip_endpoint import USER_AGENT, SipEndpoint
from vestnik.telephony.sippy_loop import SippyLoop
from vestnik.threads import run_in_thread

log = logging.getLogger(__name__)

RINGING_CODES = (180, 181, 182, 183)
# While every RTP port is taken, look again this often (ports are also freed by others).
PORT_RETRY_SECONDS = 0.1
# A 408 that sippy made up itself (timer B: nothing came back) carries no To tag.
_LOCAL_TIMEOUT = 408


class TelephonyError(RuntimeError):
    """The adapter cannot start (bad configuration, SIP port taken)."""


# --- sippy thread ---------------------------------------------------------------------------


def trunk_refusal(code: int, phrase: str, sent_credentials: bool, have_credentials: bool) -> str:
    """``finish_detail`` for a final response to our INVITE, in plain words."""
    answered = f"trunk answered {code} {phrase}".rstrip()
    if code in (401, 407):
        if sent_credentials:
            return f"authentication failed after credentials were sent ({answered})"
        if not have_credentials:
            return f"{answered}: it demands authentication and [trunk] username is not set"
        return f"{answered}: its challenge names no digest algorithm we can answer"
    if sent_credentials:
        return f"{answered} after credentials were sent"
    return answered


class _Cancelling(UacStateCancelling):  # type: ignore[misc]
    """sippy's Cancelling state, except that when a 200 OK overtakes our CANCEL the BYE goes
    out after the ACK: sippy builds the BYE inside the response callback, which its
    transaction layer runs before sending the ACK."""

    def recvResponse(self, resp: Any, tr: Any) -> Any:
        code = resp.getSCode()[0]
        if not 200 <= code < 300:
            return super().recvResponse(resp, tr)
        ua = self.ua
        held: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = []
        ua.newTransaction = lambda req, *a, **kw: held.append((req, a, kw))
        try:
            return super().recvResponse(resp, tr)
        finally:
            del ua.newTransaction  # back to the class method
            for req, args, kwargs in held:
                SippyLoop.instance().call(partial(ua.newTransaction, req, *args, **kwargs))


class _UA(UA):  # type: ignore[misc]
    """sippy's UA with our Via host (the advertised address) and a record of whether the
    final response was sippy's own timeout rather than something the network sent."""

    via_host: str | None = None
    via_port: int | None = None
    local_timeout = False
    sent_credentials = False  # an INVITE went out again with an answer to a challenge
    UacStateCancelling = _Cancelling

    def genRequest(self, *args: Any, **kwargs: Any) -> Any:
        req = super().genRequest(*args, **kwargs)
        if self.via_host is not None:
            via = req.getHFBody("via")
            via.hostname = self.via_host
            via.port = self.via_port
        return req

    def processChallenge(self, *args: Any) -> Any:
        # sippy re-sends the INVITE with credentials from inside the response callback, that
        # is before its transaction layer ACKs the 401/407. Legal, but strict peers (SIPp)
        # reject it: hold the new INVITE until the ACK is out.
        held: list[tuple[Any, dict[str, Any]]] = []
        self.newUacTransaction = lambda req, **kw: held.append((req, kw))
        try:
            answered = super().processChallenge(*args)
            self.sent_credentials = self.sent_credentials or bool(answered)
            return answered
        finally:
            del self.newUacTransaction
            for req, kwargs in held:
                SippyLoop.instance().call(partial(self.newUacTransaction, req, **kwargs))

    def recvResponse(self, resp: Any, tr: Any) -> Any:
        code = resp.getSCode()[0]
        if code == _LOCAL_TIMEOUT and resp.getHFBody("to").getTag() is None:
            self.local_timeout = True
        return super().recvResponse(resp, tr)


class _Try(CCEventTry):  # type: ignore[misc]
    """The INVITE trigger; fixes the addressing once sippy has built its defaults."""

    def __init__(self, data: Any, setup: Callable[[Any], None]) -> None:
        super().__init__(data)
        self._setup = setup

    def onUacSetupComplete(self, uac: Any) -> None:
        self._setup(uac)


Post = Callable[[tuple[Any, ...]], None]


def _sippy_to_monotonic(sippy_monot: float) -> float:
    """sippy's ``MonoTime.monot`` reads clock id 4, which on Linux is CLOCK_MONOTONIC_RAW (not
    slewed by NTP, so it drifts from ``time.monotonic()``): convert to ``time.monotonic()``."""
    raw = getattr(time, "CLOCK_MONOTONIC_RAW", None)
    if raw is None:
        return sippy_monot
    return sippy_monot - (time.clock_gettime(raw) - time.monotonic())


class _SipLeg:
    """The sippy side of one call. All methods run on the sippy thread."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        config: Config,
        target: Target,
        caller: str,
        call_id: str,
        offer: str,
        media: tuple[str, int],
        post: Post,
    ) -> None:
        self.endpoint = endpoint
        self.config = config
        self.target = target
        self.caller = caller
        self.call_id = call_id
        self.offer = offer
        self.media = media  # our RTP address, as offered
        self.post = post
        self.codec: str | None = None  # set by SipCall once the answer is negotiated
        self.ua: _UA | None = None

    def start(self) -> None:
        trunk = self.config.trunk
        sip = self.config.sip
        try:
            ua = _UA(
                self.endpoint.global_config,
                event_cb=self._on_event,
                username=trunk.username or None,
                password=trunk.password if trunk.username else None,
                nh_address=self.target.next_hop,
                dead_cbs=(self._on_dead,),
            )
            ua.local_ua = USER_AGENT
            if trunk.outbound_proxy:
                ua.outbound_proxy = self.target.next_hop
            advertised = sip.advertised_host or sip.bind_host
            ua.lContact = SipContact(
                address=SipAddress(
                    url=SipURL(username=self.caller, host=advertised, port=self.endpoint.port)
                )
            )
            if advertised != sip.bind_host:
                ua.via_host, ua.via_port = advertised, self.endpoint.port
            self.ua = ua
            body = MsgBody(self.offer)
            ua.recvEvent(
                _Try((SipCallId(self.call_id), self.caller, self.target.user, body, None, None),
                     self._address)
            )  # fmt: skip
        except Exception as exc:  # resolve the call whatever sippy did
            log.exception("could not send INVITE")
            self.post(("failed", None, f"INVITE not sent: {exc}", False, False))

    def _address(self, ua: Any) -> None:
        target = self.target
        ua.rTarget = SipURL(username=target.user, host=target.host, port=target.port)
        ua.rUri = SipTo(
            address=SipAddress(url=SipURL(username=target.user, host=target.to_host), hadbrace=True)
        )
        from_url = SipURL(username=self.caller, host=trunk_domain(self.config.trunk))
        ua.lUri = SipFrom(address=SipAddress(url=from_url, hadbrace=True))
        ua.lUri.setTag(ua.lTag)

    def hangup(self) -> None:
        """CANCEL before the answer, BYE after. Sent as an event to the UA: ``ua.disconnect()``
        would also echo a Disconnect into our own callback."""
        ua = self.ua
        if ua is not None and not ua.isDead():
            ua.recvEvent(CCEventDisconnect(origin="caller"))

    def _on_event(self, event: Any, ua: Any) -> None:
        data = event.getData() or ()
        if isinstance(event, CCEventRing):
            self.post(("provisional", data[0], data[1]))
        elif isinstance(event, CCEventConnect):
            body = data[2] if len(data) > 2 else None
            self.post(("answered", data[0], data[1], "" if body is None else str(body),
                       _sippy_to_monotonic(event.rtime.monot)))  # fmt: skip
        elif isinstance(event, CCEventFail | CCEventRedirect):
            local = bool(getattr(ua, "local_timeout", False))
            credentials = bool(getattr(ua, "sent_credentials", False))
            self.post(("failed", data[0], data[1], not local, credentials))
        elif isinstance(event, CCEventDisconnect):
            self.post(("bye",))
        elif isinstance(event, CCEventUpdate):
            SippyLoop.instance().call(self._answer_update, event.getData())

    def _answer_update(self, body: Any) -> None:
        """A re-INVITE from the far end (session refresh, hold): answer with our media as
        negotiated. Our RTP keeps going where it goes; the call's outcome does not change."""
        ua = self.ua
        if ua is None or ua.isDead():
            return
        try:
            preference = [self.codec] if self.codec else self.config.trunk.codecs
            offer = sdp.parse(str(body)) if body is not None else None
            answer = self.offer
            if offer is not None:
                answer, _ = sdp.build_answer(offer, *self.media, preference)
        except sdp.SdpError as exc:
            log.info("re-INVITE refused: %s", exc)
            ua.recvEvent(CCEventFail((488, "Not Acceptable Here")))
            return
        ua.recvEvent(CCEventConnect((200, "OK", MsgBody(answer))))

    def _on_dead(self, ua: Any) -> None:
        self.ua = None


# --- asyncio side ---------------------------------------------------------------------------


class SipCall:
    """One outgoing call; the ``CallHandle`` the dialer holds."""

    def __init__(
        self,
        telephony: SipTelephony,
        dial: DialSpec,
        audio: Awaitable[Pcm],
        observer: CallObserver,
    ) -> None:
        self.telephony = telephony
        self.dial = dial
        self.observer = observer
        self.call_id = f"{uuid.uuid4().hex}@vestnik"
        self._audio_source = audio
        self._audio_task: asyncio.Future[Pcm] | None = None
        self._own_audio_task = False
        self._loop = asyncio.get_running_loop()
        self._signals: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._released = False
        self._leg: _SipLeg | None = None
        self._stream: RtpStream | RemoteStream | None = None
        self._sock: Any = None
        self._answered_at: float | None = None  # time.monotonic() of the 200 OK
        self._result: asyncio.Future[CallResult] = self._loop.create_future()
        self._task = self._loop.create_task(self._main(), name=f"call {dial.session_id}")

    # -- CallHandle -------------------------------------------------------------------------
    def release(self) -> None:
        if not self._released:
            self._released = True
            self._post(("release",))

    def result(self) -> Awaitable[CallResult]:
        return asyncio.shield(self._result)

    @property
    def done(self) -> bool:
        return self._result.done()

    # -- plumbing ---------------------------------------------------------------------------
    def _post(self, signal: tuple[Any, ...]) -> None:
        """Queue a signal for ``_run``; callable from any thread."""
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self._loop.call_soon_threadsafe(self._signals.put_nowait, signal)

    def _notify(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("call observer failed (session %s)", self.dial.session_id)

    def _hangup(self) -> None:
        if self._leg is not None:
            self.telephony.sippy.call(self._leg.hangup)

    async def _main(self) -> None:
        try:
            result = await self._run()
        except Exception as exc:
            log.exception("call %s failed inside vestnik", self.dial.session_id)
            self._hangup()
            result = CallResult(
                FinishReason.INTERNAL_ERROR, sip_call_id=self.call_id, detail=repr(exc)
            )
        finally:
            self._cleanup()
        if self._leg is not None:  # an INVITE went out
            metrics.observe_sip_final_response(result.sip_code)
        self._result.set_result(result)
        self.telephony._call_done(self)

    def _cleanup(self) -> None:
        if self._stream is not None:
            self._stream.stop()  # the pacer closes the socket when it drops the stream
        elif self._sock is not None:
            self._sock.close()
        task = self._audio_task
        if task is not None and self._own_audio_task and not task.done():
            task.cancel()
        elif task is None and inspect.iscoroutine(self._audio_source):
            self._audio_source.close()  # never answered: the render is not needed

    def _result_for(
        self,
        reason: FinishReason,
        code: int | None = None,
        phrase: str | None = None,
        detail: str | None = None,
    ) -> CallResult:
        delay = None
        stream = self._stream
        if stream is not None and stream.first_sent_at is not None and self._answered_at:
            delay = max(0.0, stream.first_sent_at - self._answered_at)
        return CallResult(reason, code, phrase, self.call_id, detail, delay)

    async def _run(self) -> CallResult:
        t = self.telephony
        dial = self.dial
        try:
            target = target_for(t.config.trunk, dial.contact, dial.contact_kind)
        except AddressError as exc:
            return self._result_for(FinishReason.SUBSCRIBER_NUMBER_PROBLEMS, detail=str(exc))
        try:
            caller = caller_user(t.config.trunk, dial.caller)
        except AddressError as exc:
            return self._result_for(FinishReason.INTERNAL_ERROR, detail=f"caller: {exc}")
        try:
            self._sock = await t.open_rtp_socket(t.config.dialer.slot_wait_seconds)
        except PortsExhausted as exc:
            return self._result_for(FinishReason.MAX_OUT_CALL_REACHED, detail=str(exc))
        if self._released:  # release.call while it waited for a port: no INVITE
            return self._result_for(FinishReason.RELEASED, detail="released before the INVITE")
        offer = sdp.build_offer(
            t.media_host,
            self._sock.getsockname()[1],
            t.config.trunk.codecs,
            PT_TELEPHONE_EVENT_DEFAULT if t.config.trunk.telephone_event else None,
        )
        media = (t.media_host, self._sock.getsockname()[1])
        self._leg = _SipLeg(
            t.endpoint, t.config, target, caller, self.call_id, offer, media, self._post
        )
        t.sippy.call(self._leg.start)
        self._notify(self.observer.on_dialing, self.call_id)
        timer = self._loop.call_later(max(0.0, dial.dialing_timeout), self._post, ("timeout",))
        try:
            answer = await self._until_answer()
        finally:
            timer.cancel()
        if isinstance(answer, CallResult):
            return answer
        return await self._talk(*answer)

    async def _until_answer(self) -> CallResult | tuple[int, str, str]:
        t = self.telephony
        responded = False
        rang = False
        sent_at = self._loop.time()
        assert self._leg is not None
        trunk = "{}:{}".format(*self._leg.target.next_hop)
        while True:
            signal = await self._signals.get()
            kind = signal[0]
            if kind == "provisional":
                responded = True
                if signal[1] in RINGING_CODES and not rang:
                    rang = True
                    self._notify(self.observer.on_ringing)
            elif kind == "answered":
                self._answered_at = signal[4]
                return signal[1], signal[2], signal[3]
            elif kind == "failed":
                code, phrase, from_network, sent_credentials = signal[1:5]
                if code is None:
                    return self._result_for(
                        FinishReason.NO_SUCCESS_SUBSCRIBER_CALL,
                        detail=f"could not send the INVITE to the trunk {trunk}: {phrase}",
                    )
                if not from_network:  # sippy's own timer B
                    waited = self._loop.time() - sent_at
                    return self._result_for(
                        FinishReason.NO_SUCCESS_SUBSCRIBER_CALL,
                        detail=f"no response from the trunk {trunk} within {waited:.0f} s",
                    )
                detail = trunk_refusal(
                    code, phrase, sent_credentials, bool(t.config.trunk.username)
                )
                return self._result_for(finish_reason_for_sip_code(code), code, phrase, detail)
            elif kind == "timeout":
                self._hangup()
                if not responded:
                    timeout = self.dial.dialing_timeout
                    return self._result_for(
                        FinishReason.NO_SUCCESS_SUBSCRIBER_CALL,
                        detail=f"no response from the trunk {trunk} within dialing_timeout "
                        f"{timeout:g} s",
                    )
                return self._result_for(
                    FinishReason.SUBSCRIBER_NOT_RESPONSIBLE,
                    phrase="no answer",
                    detail=f"CANCEL after dialing_timeout {self.dial.dialing_timeout:g} s",
                )
            elif kind == "release":
                self._hangup()
                return self._result_for(
                    FinishReason.RELEASED, phrase="released", detail="CANCEL on release"
                )

    async def _talk(self, code: int, phrase: str, answer_sdp: str) -> CallResult:
        t = self.telephony
        self._notify(self.observer.on_answered)
        try:
            chosen = sdp.negotiate(sdp.parse(answer_sdp), t.config.trunk.codecs, remote_order=True)
            self._sock.connect(chosen.remote)
        except (sdp.SdpError, OSError) as exc:
            self._hangup()
            return self._result_for(
                FinishReason.NO_SUCCESS_SUBSCRIBER_CALL, code, phrase, f"unusable answer: {exc}"
            )
        codec = CODECS[chosen.codec.name]
        if self._leg is not None:
            self._leg.codec = codec.name
        dialer = t.config.dialer
        items = dtmf_items(
            self.dial.dtmf, codec, chosen.telephone_event, dialer.dtmf_tone_ms, dialer.dtmf_gap_ms
        )
        sock = self._sock
        self._stream = t.pacer.open_stream(
            sock,
            codec,
            chosen.telephone_event,
            on_done=lambda _stream: self._stream_done(sock),
            items=items,
        )
        self._start_audio()
        while True:
            signal = await self._signals.get()
            kind = signal[0]
            if kind == "audio":
                try:
                    pcm = self._audio_task.result() if self._audio_task else None
                except Exception as exc:  # RenderError or any other failure of the render
                    self._stream.stop()
                    self._hangup()
                    return self._result_for(
                        FinishReason.INTERNAL_ERROR, code, phrase, f"message not rendered: {exc}"
                    )
                if pcm is not None:
                    self._stream.play(t.encoded.get(pcm, codec))
                self._stream.finish()
            elif kind == "played":
                self._hangup()
                if self._stream.finished:
                    return self._result_for(FinishReason.SUCCESS_FINISH, code, phrase)
                return self._result_for(  # the pacer went away under us
                    FinishReason.INTERNAL_ERROR, code, phrase, "media stream ended unexpectedly"
                )
            elif kind == "bye":
                self._stream.stop()
                return self._result_for(
                    FinishReason.SUBSCRIBER_DISCONNECTS, code, "callee BYE", "callee hung up"
                )
            elif kind == "release":
                self._stream.stop()
                self._hangup()
                return self._result_for(FinishReason.RELEASED, code, "released", "BYE on release")
            elif kind == "failed":  # sippy gave up on the dialog after the 200
                self._stream.stop()
                return self._result_for(
                    FinishReason.NO_SUCCESS_SUBSCRIBER_CALL,
                    signal[1],
                    signal[2],
                    "failed after answer",
                )

    def _start_audio(self) -> None:
        source = self._audio_source
        if isinstance(source, asyncio.Future):
            task = source
        else:
            task = asyncio.ensure_future(source)
            self._own_audio_task = True
        self._audio_task = task
        task.add_done_callback(lambda _t: self._post(("audio",)))

    def _stream_done(self, sock: Any) -> None:
        """Pacer thread: the stream is dropped, so its socket can go."""
        try:
            sock.close()
        finally:
            self._post(("played",))


class SipTelephony:
    """The ``Telephony`` port over the configured SIP trunk. One per process (sippy's event
    loop is process-wide); ``start`` binds SIP on ``sip.bind_host:sip.port`` (port 0: any free
    port, see ``sip_port``) and starts the pacer thread."""

    def __init__(self, config: Config) -> None:
        check_config(config)  # transport and codecs this version implements, among others
        self.config = config
        self.media_host = config.rtp.advertised_host or config.rtp.bind_host
        self.rtp_ports = RtpPortPool(config.rtp.bind_host, config.rtp.port_min, config.rtp.port_max)
        self.encoded = EncodedAudioCache()
        realtime = config.rtp.realtime_priority
        self.pacer: RtpPacer | ProcessPacer = (
            ProcessPacer(realtime=realtime)
            if config.rtp.pacer_process
            else RtpPacer(realtime=realtime)
        )
        self.sippy: SippyLoop = SippyLoop.instance()
        self.endpoint = SipEndpoint(config.sip.bind_host, config.sip.port, self.sippy)
        self._calls: set[SipCall] = set()
        self._port_freed = asyncio.Event()
        self._started = False

    @property
    def sip_port(self) -> int:
        """The bound SIP port (after ``start``)."""
        return self.endpoint.port

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    @property
    def max_calls(self) -> int:
        """One call per even port of the RTP range."""
        return self.rtp_ports.size

    async def open_rtp_socket(self, timeout: float) -> socket.socket:
        """A socket of the RTP range, waiting up to ``timeout`` for a port to be freed (the
        pacer closes a finished call's socket a moment after the call ends)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                return self.rtp_ports.open()
            except PortsExhausted:
                left = deadline - loop.time()
                if left <= 0:
                    raise
            self._port_freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._port_freed.wait(), min(left, PORT_RETRY_SECONDS))

    @property
    def pacer_stats(self) -> PacerStats:
        return self.pacer.stats

    async def start(self) -> None:
        if self._started:
            return
        try:
            await run_in_thread(self.endpoint.open)
        except OSError as exc:
            raise TelephonyError(
                f"cannot bind SIP on {self.config.sip.bind_host}:{self.config.sip.port}: {exc}"
            ) from exc
        try:
            await run_in_thread(self.pacer.start)
        except Exception as exc:
            await run_in_thread(self.endpoint.close)
            raise TelephonyError(f"cannot start the RTP pacer: {exc}") from exc
        metrics.register_pacer(self.pacer)
        self._started = True
        log.info("SIP on %s:%d, trunk %s:%d", self.config.sip.bind_host, self.sip_port,
                 self.config.trunk.host, self.config.trunk.port)  # fmt: skip

    async def stop(self, timeout: float = 5.0) -> None:
        """End every call still up (CANCEL/BYE), then close SIP and the pacer."""
        calls = list(self._calls)
        for call in calls:
            call.release()
        if calls:
            await asyncio.wait([asyncio.ensure_future(c.result()) for c in calls], timeout=timeout)
        if self._started:
            # Give sippy a moment to put the CANCELs/BYEs on the wire before the socket goes.
            await asyncio.sleep(0.05)
            await run_in_thread(self.endpoint.close)
            metrics.unregister_pacer(self.pacer)
            await run_in_thread(self.pacer.close)
            self._started = False

    def place_call(self, dial: DialSpec, audio: Awaitable[Pcm], observer: CallObserver) -> SipCall:
        if not self._started:
            raise TelephonyError("SipTelephony.start() was not called")
        call = SipCall(self, dial, audio, observer)
        self._calls.add(call)
        return call

    def _call_done(self, call: SipCall) -> None:
        self._calls.discard(call)
        self._port_freed.set()
