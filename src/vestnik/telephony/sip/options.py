"""OPTIONS probes: is each trunk answering? (docs/telephony.md, "Trunk health").

Every ``options_interval`` seconds (0: never; the first one interval after start) an
out-of-dialog OPTIONS goes to each trunk (its next hop: the outbound proxy when there is one)
from the calls' SIP endpoint. Any SIP
response (200, 404, 405, a 1xx …) marks the trunk up; none within ``min(options_interval,
8 s)`` marks it down, with the reason in ``last_error``. A failed INVITE never marks a trunk
down: only these probes do (``TrunkStates``).

The request is built and sent on the sippy thread (``SippyLoop.call``); sippy's transaction
layer retransmits it (timer A) and hands the first response back, which goes to the asyncio
loop with ``call_soon_threadsafe``. A probe that timed out has its transaction dropped there,
so no retransmission outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sippy.SipAddress import SipAddress
from sippy.SipCallId import SipCallId
from sippy.SipContact import SipContact
from sippy.SipFrom import SipFrom
from sippy.SipRequest import SipRequest
from sippy.SipTo import SipTo
from sippy.SipURL import SipURL

from vestnik.config import TrunkConfig
from vestnik.telephony.sip.addressing import next_hop
from vestnik.telephony.sip.endpoint import USER_AGENT, SipEndpoint
from vestnik.telephony.sip.fixes import is_local_timeout
from vestnik.telephony.trunks import TrunkState, TrunkStates

log = logging.getLogger(__name__)

# No answer within this long (or options_interval, if shorter) marks the trunk down.
ANSWER_TIMEOUT_SECONDS = 8.0


def answer_timeout(trunk: TrunkConfig) -> float:
    return min(trunk.options_interval, ANSWER_TIMEOUT_SECONDS)


class OptionsProbes:
    """One probing task per trunk with ``options_interval`` > 0, feeding ``trunks``."""

    def __init__(self, endpoint: SipEndpoint, trunks: TrunkStates) -> None:
        self.endpoint = endpoint
        self.trunks = trunks
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def start(self) -> None:
        for status in self.trunks:
            trunk = status.config
            if trunk.options_interval > 0:
                task = asyncio.create_task(self._run(trunk), name=f"options {trunk.name}")
                self._tasks.append(task)

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _run(self, trunk: TrunkConfig) -> None:
        # The first probe goes one interval after start: until then the trunk is "unknown"
        # (used), as with probes off.
        loop = asyncio.get_running_loop()
        started = loop.time()
        while not self._stopping:
            await asyncio.sleep(max(0.0, started + trunk.options_interval - loop.time()))
            started = loop.time()
            try:
                answer = await self.probe(trunk)
            except Exception as exc:  # never let a probe's bug end the probing
                log.exception("trunk %s: OPTIONS probe failed", trunk.name)
                answer = None
                error = f"OPTIONS not sent: {exc}"
            else:
                error = f"no answer to OPTIONS within {answer_timeout(trunk):g} s"
            if answer is None:
                if self.trunks.by_name[trunk.name].state is not TrunkState.DOWN:
                    log.warning("trunk %s is down: %s", trunk.name, error)
                self.trunks.set_state(trunk.name, TrunkState.DOWN, error)
            else:
                if self.trunks.by_name[trunk.name].state is TrunkState.DOWN:
                    log.info("trunk %s is up again (OPTIONS: %d %s)", trunk.name, *answer)
                self.trunks.set_state(trunk.name, TrunkState.UP)

    async def probe(self, trunk: TrunkConfig) -> tuple[int, str] | None:
        """Send one OPTIONS; the first response's (code, reason), or None: none in time."""
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[tuple[int, str]] = loop.create_future()

        def on_response(code: int, reason: str) -> None:
            if not answered.done():
                answered.set_result((code, reason))

        def respond(resp: Any) -> None:  # on the sippy thread
            if is_local_timeout(resp):
                return  # sippy's timer, not the trunk
            code, reason = resp.getSCode()
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(on_response, int(code), str(reason))

        sent: asyncio.Future[Any] = loop.create_future()

        def send() -> None:  # on the sippy thread
            try:
                transaction = self._send(trunk, respond)
            except Exception as exc:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, sent, None, exc)
                return
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, sent, transaction, None)

        self.endpoint.loop.call(send)
        transaction = await sent
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation
            # that meets an answer, and the probes would outlive stop().
            async with asyncio.timeout(answer_timeout(trunk)):
                return await answered
        except TimeoutError:
            return None
        finally:
            if transaction is not None:
                self.endpoint.loop.call(self.endpoint.forget, transaction)

    def _send(self, trunk: TrunkConfig, respond: Any) -> Any:
        """Build and send the OPTIONS (sippy thread); its client transaction."""
        endpoint = self.endpoint
        fr0m = SipFrom(
            address=SipAddress(url=SipURL(username=USER_AGENT, host=trunk.domain), hadbrace=True)
        )
        fr0m.genTag()
        to = SipTo(
            address=SipAddress(url=SipURL(host=trunk.host, port=trunk.sip_port), hadbrace=True)
        )
        contact = SipContact(
            address=SipAddress(
                url=SipURL(username=USER_AGENT, host=endpoint.contact_host, port=endpoint.port)
            )
        )
        request = SipRequest(
            method="OPTIONS",
            ruri=SipURL(host=trunk.host, port=trunk.sip_port),
            fr0m=fr0m,
            to=to,
            contact=contact,
            callid=SipCallId(),
            target=(next_hop(trunk), "udp"),
            user_agent=USER_AGENT,
        )
        return endpoint.send_request(request, respond)


def _resolve(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
