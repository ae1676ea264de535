"""``SipCall``: one outgoing call on the asyncio loop; the ``CallHandle`` the dialer holds.

A call is a coroutine (``SipCall._run``) fed by signals: sippy events posted by its ``SipLeg``
with ``call_soon_threadsafe``, the dialing timer, ``release()``, the message audio becoming
ready and the pacer reporting that everything was sent. Each call ends in exactly one
``CallResult``; nothing here raises to the dialer.

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
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from vestnik import metrics
from vestnik.calls import FinishReason, finish_reason_for_sip_code
from vestnik.calls.audio import Pcm
from vestnik.calls.ports import CallObserver, CallResult, DialSpec
from vestnik.telephony.rtp import sdp
from vestnik.telephony.rtp.g711 import G711Codec, get_codec
from vestnik.telephony.rtp.pacer.ipc import RemoteStream
from vestnik.telephony.rtp.pacer.stream import RtpStream, dtmf_items
from vestnik.telephony.rtp.packets import PT_TELEPHONE_EVENT_DEFAULT
from vestnik.telephony.rtp.ports import PortsExhausted
from vestnik.telephony.sip.addressing import AddressError, caller_user, target_for
from vestnik.telephony.sip.leg import SipLeg

if TYPE_CHECKING:
    from vestnik.telephony.sip.adapter import SipTelephony

log = logging.getLogger(__name__)

RINGING_CODES = (180, 181, 182, 183)


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
        self._release_requested = asyncio.Event()  # wakes a wait at the trunk gate
        self._leg: SipLeg | None = None
        self._stream: RtpStream | RemoteStream | None = None
        self._sock: Any = None
        self._answered_at: float | None = None  # time.monotonic() of the 200 OK
        self._gate_trunk: str | None = None  # the trunk whose gate this call entered
        self._result: asyncio.Future[CallResult] = self._loop.create_future()
        self._task = self._loop.create_task(self._main(), name=f"call {dial.session_id}")

    # -- CallHandle -------------------------------------------------------------------------
    def release(self) -> None:
        if not self._released:
            self._released = True
            self._release_requested.set()
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
        self.telephony.call_ended(self)

    def _cleanup(self) -> None:
        if self._gate_trunk is not None and self.telephony.gate is not None:
            self.telephony.gate.leave(self._gate_trunk)
            self._gate_trunk = None
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
        refused = await self._enter_gate()
        if refused is not None:
            return refused
        if self._released:  # release.call while it waited for a port: no INVITE
            return self._result_for(FinishReason.RELEASED, detail="released before the INVITE")
        offer = sdp.build_offer(
            t.media_host,
            self._sock.getsockname()[1],
            t.config.trunk.codecs,
            PT_TELEPHONE_EVENT_DEFAULT if t.config.trunk.telephone_event else None,
        )
        media = (t.media_host, self._sock.getsockname()[1])
        self._leg = SipLeg(
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

    async def _enter_gate(self) -> CallResult | None:
        """The trunk's limits for every process (``TrunkGate``), right before the INVITE:
        None when it may leave now; waits at most the dialing timeout."""
        gate = self.telephony.gate
        if gate is None:
            return None
        trunk = self.telephony.config.trunk.name
        timeout = max(0.0, self.dial.dialing_timeout)
        entering = asyncio.ensure_future(gate.enter(trunk, self._loop.time() + timeout))
        released = asyncio.ensure_future(self._release_requested.wait())
        await asyncio.wait({entering, released}, return_when=asyncio.FIRST_COMPLETED)
        released.cancel()
        if not entering.done():  # released while waiting: the gate takes back what it gave
            entering.cancel()
            await asyncio.gather(entering, return_exceptions=True)
            return self._result_for(FinishReason.RELEASED, detail="released before the INVITE")
        if not entering.result():
            return self._result_for(
                FinishReason.MAX_OUT_CALL_REACHED,
                detail=f"trunk {trunk}: no call place within dialing_timeout {timeout:g} s "
                "(its calls_per_second or max_concurrent_calls)",
            )
        self._gate_trunk = trunk
        return None

    async def _until_answer(self) -> CallResult | tuple[int, str, str]:
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
                return self._refused(signal, trunk, self._loop.time() - sent_at)
            elif kind == "timeout":
                self._hangup()
                return self._unanswered(responded, trunk)
            elif kind == "release":
                self._hangup()
                return self._result_for(
                    FinishReason.RELEASED, phrase="released", detail="CANCEL on release"
                )

    def _refused(self, signal: tuple[Any, ...], trunk: str, waited: float) -> CallResult:
        """The INVITE ended without an answer: a final response, sippy's timer B, or no send."""
        code, phrase, from_network, sent_credentials = signal[1:5]
        if code is None:
            return self._result_for(
                FinishReason.NO_SUCCESS_SUBSCRIBER_CALL,
                detail=f"could not send the INVITE to the trunk {trunk}: {phrase}",
            )
        if not from_network:  # sippy's own timer B
            return self._result_for(
                FinishReason.NO_SUCCESS_SUBSCRIBER_CALL,
                detail=f"no response from the trunk {trunk} within {waited:.0f} s",
            )
        username = bool(self.telephony.config.trunk.username)
        detail = trunk_refusal(code, phrase, sent_credentials, username)
        return self._result_for(finish_reason_for_sip_code(code), code, phrase, detail)

    def _unanswered(self, responded: bool, trunk: str) -> CallResult:
        """``dialing_timeout`` passed (we CANCEL)."""
        timeout = self.dial.dialing_timeout
        if not responded:
            return self._result_for(
                FinishReason.NO_SUCCESS_SUBSCRIBER_CALL,
                detail=f"no response from the trunk {trunk} within dialing_timeout {timeout:g} s",
            )
        return self._result_for(
            FinishReason.SUBSCRIBER_NOT_RESPONSIBLE,
            phrase="no answer",
            detail=f"CANCEL after dialing_timeout {timeout:g} s",
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
        stream, codec = self._open_stream(chosen)
        self._start_audio()
        while True:
            signal = await self._signals.get()
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
        sock = self._sock
        self._stream = t.pacer.open_stream(
            sock,
            codec,
            chosen.telephone_event,
            on_done=lambda _stream: self._stream_done(sock),
            items=items,
        )
        return self._stream, codec

    def _on_talk_signal(
        self,
        signal: tuple[Any, ...],
        stream: RtpStream | RemoteStream,
        codec: G711Codec,
        code: int,
        phrase: str,
    ) -> CallResult | None:
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
            if pcm is not None:
                stream.play(self.telephony.encoded.get(pcm, codec))
            stream.finish()
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
        """Pacer thread: the stream is dropped, so its socket can go."""
        try:
            sock.close()
        finally:
            self._post(("played",))
