"""SipCall at the trunk gate: the INVITE leaves only once the gate lets it, and a call
released while it waits there sends none (the gate gets its place back)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.sipp import SippUas, requires_sipp
from vestnik.calls import ContactKind, FinishReason
from vestnik.calls.ports import DialSpec
from vestnik.config import Config
from vestnik.dialer.trunk_gate import DatabaseTrunkGate
from vestnik.store import create_db_engine
from vestnik.telephony.sip.adapter import SipTelephony

pytestmark = [requires_sipp, pytest.mark.sip]


class Observer:
    def __init__(self) -> None:
        self.dialing_at: float | None = None

    def on_dialing(self, sip_call_id: str) -> None:
        self.dialing_at = time.monotonic()

    def on_ringing(self) -> None: ...
    def on_answered(self) -> None: ...


def silence() -> asyncio.Future[object]:
    future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    future.set_result(np.zeros(800, np.int16))
    return future


async def test_a_call_waits_at_a_full_trunk_and_a_release_there_sends_nothing(
    tmp_path: Path, sqlite_url: str
) -> None:
    engine = create_db_engine(sqlite_url)
    sipp = SippUas.trunk(tmp_path / "sipp")
    sipp.start()
    config = Config()
    config.rtp.pacer_process = False
    config.sip.bind_host, config.sip.port = "127.0.0.1", 0
    config.trunk.host, config.trunk.port = "127.0.0.1", sipp.port
    config.trunk.max_concurrent_calls = 1
    config.trunk.options_interval = 0
    other = DatabaseTrunkGate(engine, config.trunk_list)  # another process, holding the place
    gate = DatabaseTrunkGate(engine, config.trunk_list)
    telephony = SipTelephony(config, gate=gate)
    await telephony.start()
    await other.start("other:5060/run1")
    await gate.start("this:5060/run1")
    loop = asyncio.get_running_loop()
    try:
        assert await other.enter("trunk", loop.time() + 5)
        spec = DialSpec(1, "74993720692", "79161234567", ContactKind.PHONE, 10.0, "")
        observer = Observer()
        handle = telephony.place_call(spec, silence(), observer)
        await asyncio.sleep(0.5)
        assert observer.dialing_at is None  # no INVITE while the trunk is full
        handle.release()
        result = await asyncio.wait_for(handle.result(), 2)
        assert result.finish_reason is FinishReason.RELEASED, result
        assert sipp.calls_by_contact() == {}

        # The place comes free in the other process: the next call goes out, once it is.
        second = telephony.place_call(spec, silence(), (observer := Observer()))
        await asyncio.sleep(0.3)
        assert observer.dialing_at is None
        freed_at = time.monotonic()
        other.leave("trunk")
        await asyncio.wait_for(_dialing(observer), 3)
        assert observer.dialing_at is not None and observer.dialing_at >= freed_at
        second.release()
        await asyncio.wait_for(second.result(), 5)
    finally:
        await telephony.stop()
        await gate.stop()
        await other.stop()
        sipp.stop()
        engine.dispose()
    assert sipp.calls_by_contact() == {"79161234567": 1}


async def _dialing(observer: Observer) -> None:
    while observer.dialing_at is None:
        await asyncio.sleep(0.01)
