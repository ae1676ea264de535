"""REGISTER at the trunks that want it (``register = true``): one ``Registration`` per trunk.

The timing lives on the asyncio loop (``Registration``): register at start, refresh before the
granted time runs out (``refresh_delay``), retry with back-off when refused or unanswered,
un-register (``Expires: 0``) on a graceful stop, and keep ``TrunkStates`` up to date. Each
REGISTER exchange, with at most one answer to a 401/407 challenge, runs on the sippy thread
(``Registrar``) and hands its ``Outcome`` back with ``call_soon_threadsafe``.

Why not sippy's ``SipRegistrationAgent``: it refreshes only when the registration has already
expired, answers a 407 with ``Authorization`` instead of ``Proxy-Authorization``, reads the
granted time from the first Contact of the 200 OK (with several dialer processes on one account
that is often another process's contact), retries every 60 s without back-off and cannot
un-register. We reuse sippy's message classes, digest code and transaction layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sippy.SipAddress import SipAddress
from sippy.SipCallId import SipCallId
from sippy.SipContact import SipContact
from sippy.SipExpires import SipExpires
from sippy.SipFrom import SipFrom
from sippy.SipHeader import SipHeader
from sippy.SipRequest import SipRequest
from sippy.SipTo import SipTo
from sippy.SipURL import SipURL

from vestnik.config import TrunkConfig
from vestnik.telephony.sip.addressing import next_hop
from vestnik.telephony.sip.endpoint import USER_AGENT, SipEndpoint
from vestnik.telephony.sip.loop import SippyLoop
from vestnik.telephony.trunks import TrunkStates

log = logging.getLogger(__name__)

# Refresh this long before the granted time ends: more than sippy's 32 s timer F, so a refresh
# that goes unanswered still leaves time for the retry.
REFRESH_MARGIN = 40.0
# sippy gives up on a non-INVITE transaction after this (timer F), answering itself with 408.
TRANSACTION_TIMEOUT = 32


@dataclass(frozen=True)
class RegisterTiming:
    """Back-off and stop timings (the refresh follows the registrar's granted time)."""

    first_retry: float = 5.0  # seconds after the first failure; doubles with each failure
    max_retry: float = 300.0  # the back-off stops growing here
    stop_wait: float = 2.0  # how long ``stop`` waits for the answer to the un-REGISTER

    def retry_delay(self, failures: int) -> float:
        """Seconds before the next REGISTER after ``failures`` failures in a row (≥ 1)."""
        return float(min(self.first_retry * 2 ** max(0, failures - 1), self.max_retry))


def refresh_delay(granted: int) -> float:
    """Seconds from a successful REGISTER to its refresh: ``REFRESH_MARGIN`` before the
    registration ends, or halfway through when it is granted for less than twice that."""
    return max(granted - REFRESH_MARGIN, granted / 2)


@dataclass(frozen=True)
class Outcome:
    """How one REGISTER exchange ended."""

    code: int | None  # the final SIP code; None: nothing came back, or nothing was sent
    phrase: str = ""
    granted: int | None = None  # 2xx: seconds the registrar granted our contact
    error: str | None = None  # not 2xx: what went wrong, in plain words
    min_expires: int | None = None  # 423 Interval Too Brief: the registrar's Min-Expires
    retry_after: int | None = None  # a Retry-After header (503 and others)

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


def _number_header(msg: Any, name: str) -> int | None:
    """The leading number of a header such as ``Min-Expires: 3600`` or ``Retry-After: 120
    (busy)``, or None."""
    if msg.countHFs(name) == 0:
        return None
    text = str(msg.getHFBody(name)).strip()
    digits = text.split(None, 1)[0].split(";", 1)[0] if text else ""
    return int(digits) if digits.isdigit() else None


class Registrar:
    """The sippy side of one trunk's registration: builds each REGISTER (one Call-ID and
    From tag for all of them, CSeq counting up), answers one 401/407 per exchange and reports
    the ``Outcome``. Every method but ``__init__`` runs on the sippy thread."""

    def __init__(self, endpoint: SipEndpoint, trunk: TrunkConfig) -> None:
        self.endpoint = endpoint
        self.trunk = trunk
        self.next_hop = next_hop(trunk)
        self.call_id = f"{uuid.uuid4().hex}@vestnik"
        self.from_tag = uuid.uuid4().hex[:16]
        self.cseq = 0

    @property
    def hop_text(self) -> str:
        return "{}:{}".format(*self.next_hop)

    def aor(self) -> str:
        return f"sip:{self.trunk.username}@{self.trunk.domain}"

    def send(self, expires: int, done: Callable[[Outcome], None]) -> None:
        """Start one exchange: REGISTER with ``Expires: expires`` (0: un-register)."""
        try:
            self._send(self._request(expires), expires, done, answered=False)
        except Exception as exc:  # resolve the exchange whatever sippy did
            log.exception("could not send REGISTER to %s", self.hop_text)
            done(Outcome(None, error=f"REGISTER could not be sent to {self.hop_text}: {exc}"))

    def _request(self, expires: int, auth: Any = None) -> Any:
        trunk = self.trunk
        self.cseq += 1
        aor = SipURL(username=trunk.username, host=trunk.domain)
        if trunk.from_domain:
            ruri = SipURL(host=trunk.from_domain)
        else:
            ruri = SipURL(host=trunk.host, port=trunk.sip_port)
        fr0m = SipFrom(address=SipAddress(url=aor.getCopy(), hadbrace=True))
        fr0m.setTag(self.from_tag)
        contact_url = SipURL(
            username=trunk.username, host=self.endpoint.contact_host, port=self.endpoint.port
        )
        req = SipRequest(
            method="REGISTER",
            ruri=ruri,
            fr0m=fr0m,
            to=SipTo(address=SipAddress(url=aor, hadbrace=True)),
            callid=SipCallId(self.call_id),
            cseq=self.cseq,
            contact=SipContact(address=SipAddress(url=contact_url, hadbrace=True)),
            expires=SipExpires(number=expires),
            target=(self.next_hop, "udp"),
            user_agent=USER_AGENT,
        )
        if auth is not None:
            req.appendHeader(SipHeader(body=auth))
        return req

    def _send(
        self, req: Any, expires: int, done: Callable[[Outcome], None], answered: bool
    ) -> None:
        on_reply = partial(self._on_reply, req, expires, done, answered)
        self.endpoint.send_request(req, on_reply, cb_ifver=2)

    def _on_reply(
        self,
        req: Any,
        expires: int,
        done: Callable[[Outcome], None],
        answered: bool,
        resp: Any,
        t: Any,
    ) -> None:
        try:
            code, phrase = resp.getSCode()
            if code < 200:
                return
            if resp is getattr(t, "r408", None):  # sippy's own: timer F, nothing came back
                error = (
                    f"no response from the registrar {self.hop_text} within {TRANSACTION_TIMEOUT} s"
                )
                done(Outcome(None, error=error))
            elif 200 <= code < 300:
                done(Outcome(code, phrase, granted=self._granted(resp, expires)))
            elif code in (401, 407) and not answered and self.trunk.password:
                self._answer_challenge(req, resp, code, expires, done)
            else:
                done(self._refusal(resp, code, phrase, answered))
        except Exception as exc:
            log.exception("REGISTER reply from %s not handled", self.hop_text)
            done(Outcome(None, error=f"REGISTER reply not understood: {exc}"))

    def _answer_challenge(
        self, req: Any, resp: Any, code: int, expires: int, done: Callable[[Outcome], None]
    ) -> None:
        header = "www-authenticate" if code == 401 else "proxy-authenticate"
        for challenge in resp.getHFBodys(header):
            supported, qop = challenge.supportedAlgorithm()
            if supported:
                break
        else:
            phrase = resp.getSCode()[1]
            done(Outcome(code, phrase, error=(
                f"registrar answered {code} {phrase}: its challenge names no digest "
                "algorithm we can answer")))  # fmt: skip
            return
        auth = challenge.genAuthHF(
            self.trunk.username, self.trunk.password, "REGISTER", str(req.getRURI()), qop=qop
        )
        self._send(self._request(expires, auth), expires, done, answered=True)

    def _refusal(self, resp: Any, code: int, phrase: str, answered: bool) -> Outcome:
        answer = f"registrar answered {code} {phrase}".rstrip()
        if code in (401, 407) and answered:
            error = (
                f"authentication failed after credentials were sent ({answer}): "
                "check username and password"
            )
        elif code in (401, 407):
            error = f"{answer}: it demands authentication and the trunk's password is not set"
        elif answered:
            error = f"{answer} after credentials were sent"
        else:
            error = answer
        return Outcome(
            code,
            phrase,
            error=f"REGISTER {self.aor()} refused: {error}",
            min_expires=_number_header(resp, "min-expires") if code == 423 else None,
            retry_after=_number_header(resp, "retry-after"),
        )

    def _granted(self, resp: Any, asked: int) -> int:
        """Our contact's ``expires`` in the 200 OK (the registrar lists every contact of the
        account, other processes' too), else its Expires header, else what we asked for."""
        for contact in resp.getHFBodys("contact") if resp.countHFs("contact") else ():
            if getattr(contact, "asterisk", False):
                continue
            url = contact.getUrl()
            if url.host == self.endpoint.contact_host and (url.port or 5060) == self.endpoint.port:
                value = contact.address.getParam("expires")
                if value is not None and str(value).isdigit():
                    return int(value)
        from_header = _number_header(resp, "expires")
        return from_header if from_header is not None else asked


class Registration:
    """Keeps one trunk registered while the telephony runs. Runs on the asyncio loop."""

    def __init__(
        self,
        trunk: TrunkConfig,
        endpoint: SipEndpoint,
        sippy: SippyLoop,
        states: TrunkStates,
        timing: RegisterTiming | None = None,
    ) -> None:
        self.trunk = trunk
        self.sippy = sippy
        self.states = states
        self.timing = timing or RegisterTiming()
        self.registrar = Registrar(endpoint, trunk)
        self.expires = trunk.register_expires  # asked for; raised by a 423's Min-Expires
        self.failures = 0  # in a row
        self._sent_at = 0.0  # loop time the current exchange started
        self._valid_until = 0.0  # loop time the current registration ends (0: none)
        self._unanswered = False  # the last exchange got no answer: it may have been bound
        self._expiry: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"register {self.trunk.name}"
        )

    async def stop(self) -> None:
        """Stop refreshing and un-register (Expires: 0), waiting at most ``stop_wait``."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._expiry is not None:
            self._expiry.cancel()
        loop = asyncio.get_running_loop()
        if loop.time() < self._valid_until or self._unanswered:
            try:
                outcome = await asyncio.wait_for(self._exchange(0), self.timing.stop_wait)
            except TimeoutError:
                log.warning("trunk %s: no answer to the un-REGISTER within %.0f s",
                            self.trunk.name, self.timing.stop_wait)  # fmt: skip
            else:
                if not outcome.ok:
                    log.warning("trunk %s: un-REGISTER failed: %s", self.trunk.name, outcome.error)
        self._valid_until = 0.0
        self.states.set_registered(self.trunk.name, False)

    async def _exchange(self, expires: int) -> Outcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()

        def done(outcome: Outcome) -> None:  # sippy thread
            def resolve() -> None:
                if not future.done():
                    future.set_result(outcome)

            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(resolve)

        self._sent_at = loop.time()
        self._unanswered = True
        self.sippy.call(self.registrar.send, expires, done)
        outcome = await future
        self._unanswered = outcome.code is None
        return outcome

    async def _run(self) -> None:
        while True:
            outcome = await self._exchange(self.expires)
            await asyncio.sleep(self._next_delay(outcome))

    def _next_delay(self, outcome: Outcome) -> float:
        """Record an exchange's outcome; seconds until the next REGISTER."""
        name = self.trunk.name
        loop = asyncio.get_running_loop()
        if outcome.ok and outcome.granted:
            self.failures = 0
            # Counted from our REGISTER leaving, not from its answer: never past the registrar's.
            self._valid_until = self._sent_at + outcome.granted
            if self._expiry is not None:
                self._expiry.cancel()
            self._expiry = loop.call_at(self._valid_until, self._expired)
            self.states.set_registered(name, True)
            log.info("trunk %s: registered %s for %d s", name, self.registrar.aor(),
                     outcome.granted)  # fmt: skip
            return refresh_delay(outcome.granted)
        if outcome.code == 423 and outcome.min_expires and outcome.min_expires > self.expires:
            self.expires = outcome.min_expires  # Interval Too Brief: ask again, for longer
            return 0.0
        self.failures += 1
        delay = self.timing.retry_delay(self.failures)
        if outcome.retry_after:
            delay = max(delay, float(outcome.retry_after))
        error = (
            outcome.error or f"registrar answered {outcome.code} {outcome.phrase} granting no time"
        )
        # A refused refresh leaves the registration it refreshes valid until it ends.
        self.states.set_registered(name, loop.time() < self._valid_until, error)
        log.warning("trunk %s: %s; next REGISTER in %.0f s", name, error, delay)
        return delay

    def _expired(self) -> None:
        self._expiry = None
        if self.states.by_name[self.trunk.name].registered:
            self.states.set_registered(
                self.trunk.name, False, "registration expired: the refresh was not accepted"
            )
