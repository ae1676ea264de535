"""``SipCall``: one outgoing call on the asyncio loop; the ``CallHandle`` the dialer holds.

A call is a coroutine (``SipCall._run``) fed by signals: sippy events posted by its ``SipLeg``
with ``call_soon_threadsafe``, the dialing timer, ``release()``, the message audio becoming
ready and the pacer reporting that everything was sent. Each call ends in exactly one
``CallResult``; nothing here raises to the dialer.

Call flow: INVITE (SDP offer: our codecs in preference order + telephone-event) → 1xx (180/183
→ ``on_ringing``; early media is not an answer) → 200 OK → ACK (sippy), ``on_answered``, RTP
starts at once (silence until there is something to send) → DTMF string → message → BYE.
``DialSpec.listen``: the callee is read too (``listen.flow.ListenFlow``); else never.
``dialing_timeout`` or ``release()`` before the answer → CANCEL (a 200 OK racing
the CANCEL is ACKed and BYEd by sippy's Cancelling state).

Failover (``failover.py``): the call tries its route's trunks in order, skipping those that are
not usable (``TrunkStates``) and those whose gate (``TrunkGate.enter``) does not let it in
before ``dialing_timeout``; each INVITE is a ``SipLeg`` with its own Call-ID, and the signals of
an abandoned leg are dropped. ``on_dialing`` is called for each INVITE with its Call-ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from vestnik import metrics
from vestnik.calls import FinishReason, finish_reason_for_sip_code
from vestnik.calls.audio import Pcm
from vestnik.calls.ports import CallObserver, CallResult, DialSpec
from vestnik.config import TrunkConfig
from vestnik.telephony.listen.flow import ListenFlow, listen_result
from vestnik.telephony.rtp import sdp
from vestnik.telephony.rtp.g711 import G711Codec, get_codec
from vestnik.telephony.rtp.pacer.ipc import RemoteStream
from vestnik.telephony.rtp.pacer.stream import RtpStream, dtmf_items
from vestnik.telephony.rtp.packets import PT_TELEPHONE_EVENT_DEFAULT
from vestnik.telephony.rtp.ports import PortsExhausted
from vestnik.telephony.sip.addressing import AddressError, caller_user, target_for
from vestnik.telephony.sip.failover import (
    NO_RESPONSE_SECONDS,
    RouteLog,
    fails_over,
    trunk_refusal,
)
from vestnik.telephony.sip.leg import SipLeg
from vestnik.telephony.trunks import TrunkState

if TYPE_CHECKING:
    from vestnik.telephony.sip.adapter import SipTelephony

log = logging.getLogger(__name__)

RINGING_CODES = (180, 181, 182, 183)


class SipCall:
    """One outgoing call; the ``CallHandle`` the dialer holds. It tries the trunks of its
    route in order (``failover``), one ``SipLeg`` (one INVITE, one Call-ID) per trunk."""

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
        self.call_id = _new_call_id()
        self._audio_source = audio
        self._audio_task: asyncio.Future[Pcm] | None = None
        self._own_audio_task = False
        self._loop = asyncio.get_running_loop()
        self._signals: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._released = False
        self._release_event = asyncio.Event()
        self._leg: SipLeg | None = None
        self._gen = 0  # which leg's signals count: older legs' are dropped
        self._trunk: TrunkConfig | None = None  # the trunk of the current INVITE
        self._entered: str | None = None  # the trunk whose gate this call holds
        self._final: tuple[int | None, str | None] = (None, None)  # this INVITE's final
        self._rang = False  # 180-183 seen: the failover is over
        self._route = RouteLog()
        self._deadline = 0.0  # loop time when dialing_timeout is up
        self._stream: RtpStream | RemoteStream | None = None
        self._sock: Any = None
        self._answered_at: float | None = None  # time.monotonic() of the 200 OK
        self._flow: ListenFlow | None = None  # dial.listen: the callee is read
        self._result: asyncio.Future[CallResult] = self._loop.create_future()
        self._task = self._loop.create_task(self._main(), name=f"call {dial.session_id}")

    # -- CallHandle -------------------------------------------------------------------------
    def release(self) -> None:
        if not self._released:
            self._released = True
            self._release_event.set()
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

    async def _next_signal(self) -> tuple[Any, ...]:
        """The next signal that concerns the current INVITE (a leg's signals come wrapped
        as ``("leg", generation, signal)``; those of an abandoned leg are dropped)."""
        while True:
            signal = await self._signals.get()
            if signal[0] in ("leg", "silent") and signal[1] != self._gen:
                continue
            return signal[2] if signal[0] == "leg" else signal

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
        if self._flow is not None:  # a spoken reply still being recognised
            result = await self._flow.settle(result)
        if self._leg is not None and self._trunk is not None:  # the last INVITE, on record
            code, phrase = self._final
            note = result.detail or result.sip_reason or "no final response"
            self._route.tried(self._trunk.name, code, phrase, note)
            metrics.observe_sip_final_response(code, self._trunk.name)
        self._result.set_result(self._route.recorded(result))
        self.telephony.call_ended(self)

    def _cleanup(self) -> None:
        self._leave()
        if self._flow is not None:
            self._flow.close()  # stop reading before the socket can go
        if self._stream is not None:
            self._stream.stop()  # the pacer closes the socket when it drops the stream
        elif self._sock is not None:
            self._sock.close()
        task = self._audio_task
        if task is not None and self._own_audio_task and not task.done():
            task.cancel()
        elif task is None and inspect.iscoroutine(self._audio_source):
            self._audio_source.close()  # never answered: the render is not needed

    def _leave(self) -> None:
        """The INVITE that entered the trunk gate is over: leave it."""
        gate, entered = self.telephony.gate, self._entered
        self._entered = None
        if gate is not None and entered is not None:
            try:
                gate.leave(entered)
            except Exception:
                log.exception("trunk gate: leave(%s) failed", entered)

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
        heard = listen_result(self.dial.listen, self._flow)
        return CallResult(reason, code, phrase, self.call_id, detail, delay, **heard)

    async def _run(self) -> CallResult:
        t = self.telephony
        route = t.route(self.dial.route)
        try:
            self._sock = await t.open_rtp_socket(t.config.dialer.slot_wait_seconds)
        except PortsExhausted as exc:
            return self._result_for(FinishReason.MAX_OUT_CALL_REACHED, detail=str(exc))
        if self._released:  # release.call while it waited for a port: no INVITE
            return self._result_for(FinishReason.RELEASED, detail="released before the INVITE")
        timeout = max(0.0, self.dial.dialing_timeout)
        self._deadline = self._loop.time() + timeout
        timer = self._loop.call_later(timeout, self._post, ("timeout",))
        try:
            answer = await self._try_route(route)
        finally:
            timer.cancel()
        if isinstance(answer, CallResult):
            return answer
        return await self._talk(*answer)

    async def _try_route(self, route: list[TrunkConfig]) -> CallResult | tuple[int, str, str]:
        """INVITE the route's trunks in turn until one rings, answers or refuses for good."""
        last: CallResult | None = None
        for trunk in route:
            if self._released or self._loop.time() >= self._deadline:
                break
            unusable = self._unusable(trunk.name)
            if unusable:
                self._route.skip(trunk.name, unusable)
                continue
            if not await self._enter(trunk.name):
                if not self._released:
                    self._route.skip(trunk.name, "at its call limits", limits=True)
                continue
            outcome, failover = await self._attempt(trunk)
            if not failover or not isinstance(outcome, CallResult):
                return outcome
            code, phrase = self._final
            self._route.tried(trunk.name, code, phrase, outcome.detail or "no response")
            metrics.observe_sip_final_response(code, trunk.name)
            self._leg, self._trunk, self._final = None, None, (None, None)
            self._leave()
            last = outcome
        if self._released:
            return self._result_for(
                FinishReason.RELEASED, phrase="released", detail="released before the INVITE"
            )
        if last is None:
            return self._route.nothing_tried()
        return last

    def _unusable(self, name: str) -> str | None:
        """Why routing must pass over this trunk now (None: it may be tried)."""
        trunks = self.telephony.trunks
        if trunks.usable(name):
            return None
        status = trunks.by_name.get(name)
        if status is None:
            return "unknown trunk"
        why = "down" if status.state is TrunkState.DOWN else "not registered"
        return f"{why}: {status.last_error}" if status.last_error else why

    async def _enter(self, trunk: str) -> bool:
        """The trunk gate's consent for one more INVITE (no gate: yes); False when it did not
        come before dialing_timeout, or the call was released meanwhile."""
        gate = self.telephony.gate
        if gate is None:
            return True
        enter = asyncio.ensure_future(gate.enter(trunk, self._deadline))
        stop = asyncio.ensure_future(self._release_event.wait())
        try:
            await asyncio.wait({enter, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not enter.done():
            enter.cancel()
            await asyncio.gather(enter, return_exceptions=True)
        if enter.cancelled():
            return False
        if enter.exception() is not None:
            log.error("trunk gate: enter(%s) failed: %r", trunk, enter.exception())
            return False
        if not enter.result():
            return False
        self._entered = trunk
        if self._released:
            self._leave()
            return False
        return True

    async def _attempt(self, trunk: TrunkConfig) -> tuple[CallResult | tuple[int, str, str], bool]:
        """One INVITE to ``trunk``: the answer, or a result and whether to try the next trunk."""
        t = self.telephony
        dial = self.dial
        try:
            target = target_for(trunk, dial.contact, dial.contact_kind)
        except AddressError as exc:
            return self._result_for(FinishReason.SUBSCRIBER_NUMBER_PROBLEMS, detail=str(exc)), False
        try:
            caller = caller_user(trunk, dial.caller)
        except AddressError as exc:
            return self._result_for(FinishReason.INTERNAL_ERROR, detail=f"caller: {exc}"), False
        port = self._sock.getsockname()[1]
        events = PT_TELEPHONE_EVENT_DEFAULT if trunk.telephone_event else None
        offer = sdp.build_offer(t.media_host, port, trunk.codecs, events)
        self._gen += 1
        gen = self._gen
        if self._route.attempts:
            self.call_id = _new_call_id()  # a new INVITE to another trunk: a new dialog
        self._trunk = trunk
        self._leg = SipLeg(t.endpoint, t.config, trunk, target, caller, self.call_id, offer,
                           (t.media_host, port), lambda s: self._post(("leg", gen, s)))  # fmt: skip
        t.sippy.call(self._leg.start)
        metrics.observe_invite(trunk.name)
        self._notify(self.observer.on_dialing, self.call_id)
        silent = self._loop.call_later(NO_RESPONSE_SECONDS, self._post, ("silent", gen))
        try:
            return await self._until_answer(silent)
        finally:
            silent.cancel()

    async def _until_answer(
        self, silent: asyncio.TimerHandle
    ) -> tuple[CallResult | tuple[int, str, str], bool]:
        responded = False
        sent_at = self._loop.time()
        assert self._leg is not None
        hop = "{}:{}".format(*self._leg.target.next_hop)
        while True:
            signal = await self._next_signal()
            kind = signal[0]
            if kind == "provisional":
                responded = True
                silent.cancel()
                if signal[1] in RINGING_CODES and not self._rang:
                    self._rang = True
                    self._notify(self.observer.on_ringing)
            elif kind == "answered":
                self._final = (signal[1], signal[2])
                self._answered_at = signal[4]
                return (signal[1], signal[2], signal[3]), False
            elif kind == "failed":
                return self._refused(signal, hop, self._loop.time() - sent_at)
            elif kind == "silent" and not responded:  # (queued before a late 1xx: moot)
                self._hangup()
                detail = f"no response from the trunk {hop} within {NO_RESPONSE_SECONDS:g} s"
                return self._result_for(
                    FinishReason.NO_SUCCESS_SUBSCRIBER_CALL, detail=detail
                ), True
            elif kind == "timeout":
                self._hangup()
                return self._unanswered(responded, hop), False
            elif kind == "release":
                self._hangup()
                released = self._result_for(
                    FinishReason.RELEASED, phrase="released", detail="CANCEL on release"
                )
                return released, False

    def _refused(self, signal: tuple[Any, ...], hop: str, waited: float) -> tuple[CallResult, bool]:
        """The INVITE ended without an answer: a final response, sippy's timer B, or no send;
        and whether the next trunk is tried."""
        code, phrase, from_network, sent_credentials = signal[1:5]
        failover = fails_over(code, from_network, self._rang)
        reason = FinishReason.NO_SUCCESS_SUBSCRIBER_CALL
        if code is None:
            detail = f"could not send the INVITE to the trunk {hop}: {phrase}"
            return self._result_for(reason, detail=detail), failover
        if not from_network:  # sippy's own timer B
            detail = f"no response from the trunk {hop} within {waited:.0f} s"
            return self._result_for(reason, detail=detail), failover
        self._final = (code, phrase)
        assert self._trunk is not None
        detail = trunk_refusal(code, phrase, sent_credentials, self._trunk)
        return self._result_for(finish_reason_for_sip_code(code), code, phrase, detail), failover

    def _unanswered(self, responded: bool, hop: str) -> CallResult:
        """``dialing_timeout`` passed (we CANCEL)."""
        timeout = self.dial.dialing_timeout
        if not responded:
            return self._result_for(
                FinishReason.NO_SUCCESS_SUBSCRIBER_CALL,
                detail=f"no response from the trunk {hop} within dialing_timeout {timeout:g} s",
            )
        return self._result_for(
            FinishReason.SUBSCRIBER_NOT_RESPONSIBLE,
            phrase="no answer",
            detail=f"CANCEL after dialing_timeout {timeout:g} s",
        )

    async def _talk(self, code: int, phrase: str, answer_sdp: str) -> CallResult:
        self._notify(self.observer.on_answered)
        try:
            assert self._trunk is not None
            codecs = self._trunk.codecs
            chosen = sdp.negotiate(sdp.parse(answer_sdp), codecs, remote_order=True)
            self._sock.connect(chosen.remote)
        except (sdp.SdpError, OSError) as exc:
            self._hangup()
            return self._result_for(
                FinishReason.NO_SUCCESS_SUBSCRIBER_CALL, code, phrase, f"unusable answer: {exc}"
            )
        stream, codec = self._open_stream(chosen)
        self._start_audio()
        while True:
            signal = await self._next_signal()
            result = self._on_talk_signal(signal, stream, codec, code, phrase)
            if result is not None:
                return result

    def _open_stream(self, chosen: sdp.Negotiated) -> tuple[RtpStream | RemoteStream, G711Codec]:
        """Start the call's RTP with the DTMF string queued (silence until the message)."""
        t = self.telephony
        codec = get_codec(chosen.codec.name)
        if self._leg is not None:
            self._leg.codec = codec.name
        dialer = t.config.dialer
        items = dtmf_items(
            self.dial.dtmf, codec, chosen.telephone_event, dialer.dtmf_tone_ms, dialer.dtmf_gap_ms
        )
        sock, listen = self._sock, self.dial.listen
        if listen is not None:
            dtmf = (self.dial.dtmf, items, dialer.dtmf_tone_ms, dialer.dtmf_gap_ms)
            self._flow = ListenFlow(listen, sock, chosen.telephone_event, self._signals.put_nowait,
                                    self._answered_at, t.config, dtmf, t.recognizer)  # fmt: skip
        self._stream = t.pacer.open_stream(sock, codec, chosen.telephone_event,
                                           on_done=lambda _stream: self._stream_done(sock),
                                           items=items if listen is None else ())  # fmt: skip
        if self._flow is not None:
            self._flow.start(self._stream)
        return self._stream, codec

    def _on_talk_signal(self, signal: tuple[Any, ...], stream: RtpStream | RemoteStream,
                        codec: G711Codec, code: int, phrase: str) -> CallResult | None:  # fmt: skip
        """What a signal after the answer does; the call's result once it is over."""
        kind = signal[0]
        if kind == "audio":
            try:
                pcm = self._audio_task.result() if self._audio_task else None
            except Exception as exc:  # RenderError or any other failure of the render
                stream.stop()
                self._hangup()
                return self._result_for(
                    FinishReason.INTERNAL_ERROR, code, phrase, f"message not rendered: {exc}"
                )
            encoded = self.telephony.encoded.get(pcm, codec) if pcm is not None else b""
            if self._flow is not None:
                self._flow.audio(pcm, encoded)
            else:
                stream.play(encoded)
                stream.finish()
        elif kind == "listen":
            assert self._flow is not None
            if self._flow.signal(signal):  # the reply is complete: we hang up
                stream.stop()
                self._hangup()
                return self._result_for(FinishReason.SUCCESS_FINISH, code, phrase)
        elif kind == "played":
            self._hangup()
            if stream.finished:
                return self._result_for(FinishReason.SUCCESS_FINISH, code, phrase)
            return self._result_for(  # the pacer went away under us
                FinishReason.INTERNAL_ERROR, code, phrase, "media stream ended unexpectedly"
            )
        elif kind == "bye":
            stream.stop()
            return self._result_for(
                FinishReason.SUBSCRIBER_DISCONNECTS, code, "callee BYE", "callee hung up"
            )
        elif kind == "release":
            stream.stop()
            self._hangup()
            return self._result_for(FinishReason.RELEASED, code, "released", "BYE on release")
        elif kind == "failed":  # sippy gave up on the dialog after the 200
            stream.stop()
            return self._result_for(
                FinishReason.NO_SUCCESS_SUBSCRIBER_CALL, signal[1], signal[2], "failed after answer"
            )
        return None

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
        """Pacer thread: the stream is dropped, so its socket can go (a listening call's on
        the loop, once it is no longer read)."""
        try:
            if self._flow is None:
                sock.close()
            else:
                self._flow.close_socket(sock)
        finally:
            self._post(("played",))


def _new_call_id() -> str:
    return f"{uuid.uuid4().hex}@vestnik"
