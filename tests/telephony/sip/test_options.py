"""OPTIONS probes against SIPp trunks: any answer is up, silence is down, and back up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import numpy as np
import pytest

from tests.support.sipp import SippUas, requires_sipp
from vestnik import metrics
from vestnik.calls import ContactKind, FinishReason
from vestnik.calls.ports import DialSpec
from vestnik.config import Config
from vestnik.telephony.sip.adapter import SipTelephony
from vestnik.telephony.trunks import TrunkState, TrunkStatus

pytestmark = [requires_sipp, pytest.mark.sip]

TelephonyFactory = Callable[..., Awaitable[SipTelephony]]


def options_peer(workdir: Path, code: int = 200, reason: str = "OK", **kw: object) -> SippUas:
    """A SIPp trunk answering every OPTIONS with ``code reason``, until stopped."""
    template = {"code": code, "reason": reason}
    return SippUas.launch("uas_options.xml", workdir, calls=None, timeout=None,
                          template=template, **kw)  # fmt: skip


@pytest.fixture
async def telephony_for() -> AsyncIterator[TelephonyFactory]:
    """``await telephony_for(trunk_port, interval)``: a started SipTelephony probing one trunk."""
    started: list[SipTelephony] = []

    async def make(trunk_port: int, interval: float) -> SipTelephony:
        config = Config()
        config.rtp.pacer_process = False
        config.sip.bind_host = "127.0.0.1"
        config.sip.port = 0
        config.trunk.host = "127.0.0.1"
        config.trunk.port = trunk_port
        config.trunk.options_interval = interval
        telephony = SipTelephony(config)
        await telephony.start()
        started.append(telephony)
        return telephony

    yield make
    for telephony in started:
        await telephony.stop()


async def state_change(telephony: SipTelephony, timeout: float) -> tuple[TrunkStatus, float]:
    """The next change of the trunk's status, and when it came (``time.monotonic()``)."""
    changed: asyncio.Future[tuple[TrunkStatus, float]] = asyncio.get_running_loop().create_future()

    def listener(status: TrunkStatus) -> None:
        if not changed.done():
            changed.set_result((status, time.monotonic()))

    telephony.trunks.listeners.append(listener)
    try:
        return await asyncio.wait_for(changed, timeout)
    finally:
        telephony.trunks.listeners.remove(listener)


def gauge(trunk: str, state: str) -> str:
    return f'vestnik_trunk_state{{state="{state}",trunk="{trunk}"}}'


@pytest.mark.parametrize(
    "code,reason", [(200, "OK"), (404, "Not Found"), (405, "Method Not Allowed")]
)
async def test_any_sip_answer_marks_the_trunk_up(
    tmp_path: Path, telephony_for: TelephonyFactory, code: int, reason: str
) -> None:
    sipp = options_peer(tmp_path, code, reason)
    try:
        telephony = await telephony_for(sipp.port, 0.5)
        assert telephony.trunks.by_name["trunk"].state is TrunkState.UNKNOWN
        status, _ = await state_change(telephony, 3)
        assert status.state is TrunkState.UP, status
        assert sipp.received("OPTIONS") >= 1
        assert telephony.trunks.usable("trunk")
        scraped = metrics.process_metrics().decode()
        assert f"{gauge('trunk', 'up')} 1.0" in scraped
        assert f"{gauge('trunk', 'down')} 0.0" in scraped
    finally:
        sipp.stop()


async def test_a_silent_trunk_goes_down_within_the_bound_and_up_when_it_answers(
    tmp_path: Path, telephony_for: TelephonyFactory
) -> None:
    interval = 1.0  # no answer within min(interval, 8 s) = 1 s marks it down
    sipp = options_peer(tmp_path / "first")
    port = sipp.port
    try:
        telephony = await telephony_for(port, interval)
        status, _ = await state_change(telephony, 3)
        assert status.state is TrunkState.UP
        sipp.stop()
        stopped = time.monotonic()
        status, down_at = await state_change(telephony, 5)
        assert status.state is TrunkState.DOWN
        assert status.last_error == "no answer to OPTIONS within 1 s"
        # At most one interval until the next probe, then the answer's bound.
        assert down_at - stopped <= interval + 1.0 + 0.5
        assert not telephony.trunks.usable("trunk")
        assert f"{gauge('trunk', 'down')} 1.0" in metrics.process_metrics().decode()
        sipp = options_peer(tmp_path / "again", 405, "Method Not Allowed", port=port)
        status, _ = await state_change(telephony, 5)
        assert status.state is TrunkState.UP
        assert telephony.trunks.usable("trunk")
    finally:
        sipp.stop()


async def test_probes_off_leave_the_trunk_unknown_and_send_nothing(
    tmp_path: Path, telephony_for: TelephonyFactory
) -> None:
    sipp = options_peer(tmp_path)
    try:
        telephony = await telephony_for(sipp.port, 0)
        await asyncio.sleep(1.0)
        assert telephony.trunks.by_name["trunk"].state is TrunkState.UNKNOWN
        assert sipp.received("OPTIONS") == 0
        assert f"{gauge('trunk', 'unknown')} 1.0" in metrics.process_metrics().decode()
    finally:
        sipp.stop()


async def test_a_failed_invite_leaves_the_trunk_up(
    tmp_path: Path, telephony_for: TelephonyFactory
) -> None:
    """Only probes take a trunk out of rotation: an INVITE nobody answers does not."""
    sipp = options_peer(tmp_path)  # answers OPTIONS, never an INVITE
    try:
        telephony = await telephony_for(sipp.port, 0.5)
        status, _ = await state_change(telephony, 3)
        assert status.state is TrunkState.UP
        changes: list[TrunkState] = []
        telephony.trunks.listeners.append(lambda s: changes.append(s.state))
        spec = DialSpec(1, "74993720692", "79161234567", ContactKind.PHONE, 1.0, "")
        handle = telephony.place_call(spec, asyncio.sleep(0, np.zeros(8000, np.int16)), Silent())
        result = await asyncio.wait_for(handle.result(), 10)
        assert result.finish_reason is FinishReason.NO_SUCCESS_SUBSCRIBER_CALL, result
        await asyncio.sleep(1.0)  # two more probes
        assert changes == []
        assert telephony.trunks.by_name["trunk"].state is TrunkState.UP
        assert sipp.received("INVITE") >= 1
    finally:
        sipp.stop()


class Silent:
    def on_dialing(self, sip_call_id: str) -> None: ...
    def on_ringing(self) -> None: ...
    def on_answered(self) -> None: ...
