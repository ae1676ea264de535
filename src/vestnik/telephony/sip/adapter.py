"""``SipTelephony``: the dialer's ``Telephony`` port over a SIP trunk.

Signalling is sippy's UAC (retransmissions, CANCEL, 401/407 digest, in-dialog BYE) on its own
thread (``loop.SippyLoop``); media is our RTP pacer (``rtp.pacer``: a child process by default).
The adapter owns what its calls share: the SIP endpoint, the RTP port range, the pacer, the
encoded-audio cache, the trunks' run-time status (``trunks``) and the optional per-trunk gate;
each call is a ``call.SipCall``, which tries the trunks of its route in order (failover).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Awaitable
from typing import Protocol

from vestnik import metrics
from vestnik.calls.audio import Pcm
from vestnik.calls.ports import CallObserver, DialSpec, SpeechRecognizer, TrunkGate
from vestnik.calls.routing import by_priority
from vestnik.config import Config, TrunkConfig, check_config
from vestnik.telephony.rtp.pacer.process import ProcessPacer
from vestnik.telephony.rtp.pacer.scheduler import PacerStats, RtpPacer
from vestnik.telephony.rtp.pacer.stream import EncodedAudioCache
from vestnik.telephony.rtp.ports import PortsExhausted, RtpPortPool
from vestnik.telephony.sip.call import SipCall
from vestnik.telephony.sip.endpoint import SipEndpoint
from vestnik.telephony.sip.loop import SippyLoop
from vestnik.telephony.sip.options import OptionsProbes
from vestnik.telephony.sip.registration import RegisterTiming, Registration
from vestnik.telephony.trunks import TrunkStates, TrunkStatus
from vestnik.threads import run_in_thread

log = logging.getLogger(__name__)

# While every RTP port is taken, look again this often (ports are also freed by others).
PORT_RETRY_SECONDS = 0.1


# The speech model's threads run at this nice value: recognition takes the CPU the event loop
# and the pacer leave (a saturated recogniser answers "not recognised", a late packet is lost).
RECOGNITION_NICE = 10


class ManagedRecognizer(SpeechRecognizer, Protocol):
    """The ``SpeechRecognizer`` the adapter is handed, and owns from then on: ``load`` (the
    model, blocking) runs at the first call that asks for a spoken reply, in a thread of its
    own at ``RECOGNITION_NICE`` (on Linux nice is per thread, and the threads the model creates
    as it loads, which do the computing, inherit it), so that the reply is not slowed by it;
    ``close`` at ``stop``."""

    def load(self) -> None: ...
    def close(self) -> None: ...


class TelephonyError(RuntimeError):
    """The adapter cannot start (bad configuration, SIP port taken)."""


class SipTelephony:
    """The ``Telephony`` port over the configured SIP trunks. One per process (sippy's event
    loop is process-wide); ``start`` binds SIP on ``sip.bind_host:sip.port`` (port 0: any free
    port, see ``sip_port``) and starts the pacer thread.

    ``trunks`` is every trunk's run-time status (fed by others: OPTIONS, REGISTER); a call
    skips a trunk that is not ``usable``. ``gate`` (None: no limits) holds each trunk's
    ``calls_per_second`` and ``max_concurrent_calls``: a call enters it before each INVITE
    and leaves it when that INVITE's call is over. ``recognizer`` hears the listening calls'
    ``collect_speech`` replies (None: they are reported as not recognised)."""

    def __init__(
        self,
        config: Config,
        gate: TrunkGate | None = None,
        recognizer: ManagedRecognizer | None = None,
    ) -> None:
        check_config(config)  # transport and codecs this version implements, among others
        self.config = config
        self.gate = gate
        self.recognizer = recognizer
        self._loading = False
        self.trunks = TrunkStates(config.trunk_list)
        self._by_name = {t.name: t for t in config.trunk_list}
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
        self.endpoint = SipEndpoint(
            config.sip.bind_host, config.sip.port, self.sippy,
            advertised_host=config.sip.advertised_host,
        )  # fmt: skip
        # Back-off of the registrations (tests shorten it before ``start``).
        self.register_timing = RegisterTiming()
        self.registrations: list[Registration] = []
        self.options = OptionsProbes(self.endpoint, self.trunks)
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
        self._start_registrations()
        for status in self.trunks:
            _export(status)
        self.trunks.listeners.append(_export)
        self.options.start()
        trunks = ", ".join(f"{t.name} {t.host}:{t.sip_port}" for t in self.config.trunk_list)
        log.info("SIP on %s:%d, trunks: %s", self.config.sip.bind_host, self.sip_port,
                 trunks or "none")  # fmt: skip

    def route(self, names: tuple[str, ...]) -> list[TrunkConfig]:
        """The trunks a call tries, in order: ``names`` (a ``DialSpec.route``; names that are
        not configured are left out), or, when empty, every trunk by priority."""
        if not names:
            return by_priority(self.config.trunk_list)
        unknown = [n for n in names if n not in self._by_name]
        if unknown:
            log.warning("route names trunks that are not configured: %s", ", ".join(unknown))
        return [self._by_name[n] for n in names if n in self._by_name]

    def _start_registrations(self) -> None:
        """One ``Registration`` per trunk with ``register = true``; they do not hold up the
        start (routing skips a trunk until it is registered)."""
        for trunk in self.config.trunk_list:
            if trunk.register:
                registration = Registration(
                    trunk, self.endpoint, self.sippy, self.trunks, self.register_timing
                )
                registration.start()
                self.registrations.append(registration)

    async def stop(self, timeout: float = 5.0) -> None:
        """End every call still up (CANCEL/BYE), un-register, then close SIP and the pacer."""
        calls = list(self._calls)
        for call in calls:
            call.release()
        if calls:
            await asyncio.wait([asyncio.ensure_future(c.result()) for c in calls], timeout=timeout)
        await self.options.stop()
        if _export in self.trunks.listeners:
            self.trunks.listeners.remove(_export)
        registrations, self.registrations = self.registrations, []
        await asyncio.gather(*(r.stop() for r in registrations))
        if self.recognizer is not None:
            self.recognizer.close()
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
        if dial.listen is not None and dial.listen.collect_speech is not None:
            self.load_recognizer()  # while it dials, rings and speaks: before the first reply
        call = SipCall(self, dial, audio, observer)
        self._calls.add(call)
        return call

    def load_recognizer(self) -> None:
        """Load the speech model in the background now (once; a no-op without a recogniser).
        Done at the first call that asks for a spoken reply, not at ``start``: a process that
        never hears one never holds the model (~150 MB)."""
        if self.recognizer is not None and not self._loading:
            self._loading = True
            threading.Thread(target=_load_recognizer, args=(self.recognizer,),
                             name="vestnik-speech-load", daemon=True).start()  # fmt: skip

    def call_ended(self, call: SipCall) -> None:
        """A call is over: forget it, and wake whoever waits for its RTP port."""
        self._calls.discard(call)
        self._port_freed.set()


def _load_recognizer(recognizer: ManagedRecognizer) -> None:
    with contextlib.suppress(OSError):  # (not permitted: the model's threads run at normal nice)
        os.setpriority(os.PRIO_PROCESS, 0, RECOGNITION_NICE)  # this thread only (Linux)
    try:
        recognizer.load()
    except Exception:  # each reply tries again (and is reported as not recognised)
        log.exception("the speech model could not be loaded")


def _export(status: TrunkStatus) -> None:
    """A trunk's state and registration at ``/metrics``."""
    metrics.observe_trunk(status.config.name, status.state.value, status.registered)
