"""Our fixes to sippy: each class here is a sippy class with one behaviour corrected.

These are the traps of design.md ("Known traps") and docs/telephony.md ("Traps handled"), each
covered by the SIPp tests:

* ``normalise_transport``: a Contact with upper-case ``transport=UDP`` (SIPp, some SBCs) made
  sippy's in-dialog request builder raise, so the ACK/BYE never left;
* ``TrunkUA.processChallenge``: after a 401/407 sippy sends the new INVITE before the ACK of
  the challenge (legal, but strict peers abort); ``UacCancelling``: a 200 OK overtaking our
  CANCEL was BYEd before it was ACKed. Both hold the new request until the ACK is out;
* ``OneWorkerOpts``: sippy's three sender threads per socket could reorder queued messages;
* ``TransactionManager``: closing the endpoint must not break UAs whose timers still run;
* ``sippy_to_monotonic``: sippy's clock is ``CLOCK_MONOTONIC_RAW``.

Everything here runs on the sippy thread (``loop.SippyLoop``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

# sippy has no type hints, so its classes are Any to mypy, and strict mode refuses a subclass
# of Any: that is the ``# type: ignore[misc]`` on each class below.
from sippy.CCEvents import CCEventTry
from sippy.SipTransactionManager import SipTransaction, SipTransactionManager
from sippy.UA import UA
from sippy.UacStateCancelling import UacStateCancelling
from sippy.Udp_server import Udp_server, Udp_server_opts

from vestnik.telephony.sip.loop import SippyLoop

log = logging.getLogger(__name__)

# A 408 that sippy made up itself (timer B: nothing came back) carries no To tag.
_LOCAL_TIMEOUT = 408


def is_local_timeout(resp: Any) -> bool:
    """Whether ``resp`` is sippy's own 408 for a request nothing answered, not the peer's."""
    return bool(resp.getSCode()[0] == _LOCAL_TIMEOUT and resp.getHFBody("to").getTag() is None)


def normalise_transport(msg: Any) -> None:
    """Lower-case ``transport=`` in Contact and Record-Route URIs, in place.

    SIPp (and some SBCs) write ``transport=UDP``; sippy's in-dialog request builder only knows
    ``udp`` and raises on anything else, which would leave the call without its ACK/BYE.
    """
    for name in ("contact", "record-route"):
        if msg.countHFs(name) == 0:
            continue
        for body in msg.getHFBodys(name):
            if getattr(body, "asterisk", False):
                continue
            url = body.getUrl()
            if isinstance(url.transport, str) and url.transport != url.transport.lower():
                url.transport = url.transport.lower()


class OneWorkerOpts(Udp_server_opts):  # type: ignore[misc]
    # sippy defaults to three sender and three receiver threads per socket, all on one queue:
    # two messages queued in order (an ACK, then the next request) can leave out of order.
    nworkers = 1


class TransactionManager(SipTransactionManager):  # type: ignore[misc]
    model_udp_server = (Udp_server, OneWorkerOpts)
    closed = False

    def shutdown(self) -> None:
        """Close the socket and stop every retransmission timer, but keep the tables: UAs
        may still have timers of their own (Cancelling, Disconnected) that look them up."""
        for t in [*self.tclient.values(), *self.tserver.values()]:
            for name in ("teA", "teB", "teC", "teD", "teE", "teF", "teG"):
                timer = getattr(t, name, None)
                if timer is not None:
                    timer.cancel()
                    setattr(t, name, None)
        self.cp_timer.cancel()
        self.l4r.shutdown()
        self.closed = True

    def newTransaction(self, msg: Any, *args: Any, **kwargs: Any) -> Any:
        if self.closed:  # a late BYE from a UA timer: the endpoint is gone, drop it
            return SipTransaction()
        return super().newTransaction(msg, *args, **kwargs)

    def transmitData(self, *args: Any, **kwargs: Any) -> None:
        if not self.closed:
            super().transmitData(*args, **kwargs)

    def incomingResponse(self, msg: Any, t: Any, checksum: Any) -> None:
        try:
            normalise_transport(msg)
        except Exception:  # a header we cannot parse: let sippy decide what to do
            log.debug("could not normalise transport in a response", exc_info=True)
        super().incomingResponse(msg, t, checksum)

    def incomingRequest(self, msg: Any, checksum: Any, tids: Any, server: Any) -> None:
        try:
            normalise_transport(msg)
        except Exception:
            log.debug("could not normalise transport in a request", exc_info=True)
        super().incomingRequest(msg, checksum, tids, server)


class UacCancelling(UacStateCancelling):  # type: ignore[misc]
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


class TrunkUA(UA):  # type: ignore[misc]
    """sippy's UA with our Via host (the advertised address) and a record of whether the
    final response was sippy's own timeout rather than something the network sent."""

    via_host: str | None = None
    via_port: int | None = None
    local_timeout = False
    sent_credentials = False  # an INVITE went out again with an answer to a challenge
    UacStateCancelling = UacCancelling

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
        if is_local_timeout(resp):
            self.local_timeout = True
        return super().recvResponse(resp, tr)


class InviteTrigger(CCEventTry):  # type: ignore[misc]
    """The INVITE trigger; fixes the addressing once sippy has built its defaults."""

    def __init__(self, data: Any, setup: Callable[[Any], None]) -> None:
        super().__init__(data)
        self._setup = setup

    def onUacSetupComplete(self, uac: Any) -> None:
        self._setup(uac)


def sippy_to_monotonic(sippy_monot: float) -> float:
    """sippy's ``MonoTime.monot`` reads clock id 4, which on Linux is CLOCK_MONOTONIC_RAW (not
    slewed by NTP, so it drifts from ``time.monotonic()``): convert to ``time.monotonic()``."""
    raw = getattr(time, "CLOCK_MONOTONIC_RAW", None)
    if raw is None:
        return sippy_monot
    return sippy_monot - (time.clock_gettime(raw) - time.monotonic())
