"""DatabaseTrunkGate: a trunk's limits held by two gates (as two processes) on one database."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.support.tcp_proxy import TcpProxy
from vestnik.config import TrunkConfig
from vestnik.dialer.trunk_gate import DatabaseTrunkGate
from vestnik.store import create_db_engine

GateFactory = Callable[..., Awaitable[DatabaseTrunkGate]]


@pytest.fixture
async def gates(engine: Engine) -> AsyncIterator[GateFactory]:
    """``await gates(owner, lease=…, **trunk)``: a started gate on the test database for one
    trunk named "carrier"."""
    made: list[DatabaseTrunkGate] = []

    async def make(owner: str, lease: float = 30.0, **trunk: Any) -> DatabaseTrunkGate:
        gate = DatabaseTrunkGate(engine, [TrunkConfig(name="carrier", host="sbc", **trunk)], lease)
        await gate.start(owner)
        made.append(gate)
        return gate

    yield make
    for gate in made:
        await gate.stop()


def deadline_in(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds


async def test_two_processes_never_exceed_max_concurrent_calls(gates: GateFactory) -> None:
    first = await gates("host-a:5060/run1", max_concurrent_calls=3)
    second = await gates("host-b:5060/run1", max_concurrent_calls=3)
    up = 0
    most = 0
    entered = 0

    async def call(gate: DatabaseTrunkGate, hold: float) -> None:
        nonlocal up, most, entered
        assert await gate.enter("carrier", deadline_in(30))
        up += 1
        entered += 1
        most = max(most, up)
        await asyncio.sleep(hold)
        up -= 1
        gate.leave("carrier")

    await asyncio.gather(*(call((first, second)[i % 2], 0.05 + 0.01 * (i % 3)) for i in range(24)))
    assert entered == 24
    assert most == 3


async def test_two_processes_never_exceed_calls_per_second(gates: GateFactory) -> None:
    rate = 10.0
    first = await gates("host-a:5060/run1", calls_per_second=rate)
    second = await gates("host-b:5060/run1", calls_per_second=rate)
    sent: list[float] = []

    async def call(gate: DatabaseTrunkGate) -> None:
        assert await gate.enter("carrier", deadline_in(30))
        sent.append(time.time())  # where the INVITE would leave
        gate.leave("carrier")

    await asyncio.gather(*(call((first, second)[i % 2]) for i in range(25)))
    sent.sort()
    n = int(rate)
    # Any n + 1 sends span at least one second: no window of one second holds more than
    # ``rate`` of them. (The instants are exact; a send can only be late, by the loop's
    # wake-up delay, which shortens the span after it: 50 ms allowed for a loaded machine.)
    spans = [sent[i + n] - sent[i] for i in range(len(sent) - n)]
    assert min(spans) >= 1.0 - 0.05, spans
    # ... and the rate is used, not wasted: 25 sends take about 2.4 s.
    assert sent[-1] - sent[0] < 2.4 + 0.5


async def test_a_full_trunk_refuses_at_the_deadline(gates: GateFactory) -> None:
    first = await gates("host-a:5060/run1", max_concurrent_calls=1)
    second = await gates("host-b:5060/run1", max_concurrent_calls=1)
    assert await first.enter("carrier", deadline_in(5))
    started = time.monotonic()
    assert not await second.enter("carrier", deadline_in(0.3))
    assert 0.25 <= time.monotonic() - started < 1.5
    first.leave("carrier")
    assert await second.enter("carrier", deadline_in(5))


async def test_a_rate_slot_past_the_deadline_is_refused_at_once(gates: GateFactory) -> None:
    gate = await gates("host-a:5060/run1", calls_per_second=1.0)
    assert await gate.enter("carrier", deadline_in(5))
    started = time.monotonic()
    assert not await gate.enter("carrier", deadline_in(0.5))  # the next slot is 1 s away
    assert time.monotonic() - started < 0.3
    assert await gate.enter("carrier", deadline_in(5))
    assert time.monotonic() - started >= 0.9


async def test_a_dead_holders_places_are_freed_when_its_lease_lapses(gates: GateFactory) -> None:
    dead = await gates("host-a:5060/run1", lease=1.0, max_concurrent_calls=2)
    assert await dead.enter("carrier", deadline_in(5))
    assert await dead.enter("carrier", deadline_in(5))
    # The process dies: its lease is no longer renewed, its calls never leave.
    assert dead._keeper is not None
    dead._keeper.cancel()
    alive = await gates("host-b:5060/run1", lease=1.0, max_concurrent_calls=2)
    assert not await alive.enter("carrier", deadline_in(0.2))
    started = time.monotonic()
    assert await alive.enter("carrier", deadline_in(5))
    assert time.monotonic() - started < 1.5


async def test_a_restarted_dialer_frees_its_previous_runs_places_at_once(
    gates: GateFactory,
) -> None:
    before = await gates("host-a:5060/run1", max_concurrent_calls=1)
    assert await before.enter("carrier", deadline_in(5))
    assert before._keeper is not None
    before._keeper.cancel()  # killed mid-call
    after = await gates("host-a:5060/run2", max_concurrent_calls=1)
    assert await after.enter("carrier", deadline_in(0.2))


async def test_an_abandoned_enter_gives_its_place_and_slot_back(gates: GateFactory) -> None:
    gate = await gates("host-a:5060/run1", max_concurrent_calls=1, calls_per_second=2.0)
    other = await gates("host-b:5060/run1", max_concurrent_calls=1, calls_per_second=2.0)
    assert await gate.enter("carrier", deadline_in(5))
    gate.leave("carrier")
    waiting = asyncio.create_task(gate.enter("carrier", deadline_in(5)))  # slot 0.5 s away
    await asyncio.sleep(0.2)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    started = time.monotonic()
    assert await other.enter("carrier", deadline_in(5))
    # The abandoned slot was handed back: the next call leaves on it, not 0.5 s after it.
    assert time.monotonic() - started < 0.6


async def test_trunks_without_limits_never_wait(gates: GateFactory) -> None:
    gate = await gates("host-a:5060/run1")
    started = time.monotonic()
    for _ in range(50):
        assert await gate.enter("carrier", deadline_in(0.01))
    assert await gate.enter("not-configured", deadline_in(0.01))
    assert time.monotonic() - started < 0.5


async def test_an_entry_woken_late_takes_a_new_instant(gates: GateFactory) -> None:
    """A process whose loop stalls past its entries' send instants must not send them all at
    once when it goes on: each late entry takes a new instant after those reserved meanwhile."""
    rate = 10.0
    stalled = await gates("host-a:5060/run1", calls_per_second=rate)
    other = await gates("host-b:5060/run1", calls_per_second=rate)
    sent: list[float] = []

    async def call(gate: DatabaseTrunkGate) -> None:
        assert await gate.enter("carrier", deadline_in(30))
        sent.append(time.time())

    # Three entries of the stalled gate take instants now, now + 0.1 and now + 0.2 ...
    waiting = [asyncio.ensure_future(call(stalled)) for _ in range(3)]
    while not sent:
        await asyncio.sleep(0.01)
    # ... the loop stalls for 0.5 s (the whole process, as under SIGSTOP) ...
    time.sleep(0.5)  # blocks the loop: the stall under test
    # ... and the other process's entries meanwhile reserve the instants after theirs.
    await asyncio.gather(*waiting, *(call(other) for _ in range(5)))
    assert stalled.late_wakeups >= 1
    sent.sort()
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 1 / rate - 0.05, gaps  # never two at once


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_entries_retried_through_an_outage_send_no_burst(db_url: str) -> None:
    """Two gates (two processes) lose the database for 1.5 s (every connection stops
    answering: each attempt fails at the 0.5 s deadline and is retried) while entries are
    waiting. Those that had their instants go out on time; the retried ones take instants when
    the database answers again, 1 / rate apart: no two at once, no second INVITE for one
    entry."""
    rate = 10.0
    with TcpProxy.in_front_of(db_url) as proxy:
        engine = create_db_engine(proxy.route(db_url), timeout=0.5)
        trunk = [TrunkConfig(name="carrier", host="sbc", calls_per_second=rate)]
        first, second = DatabaseTrunkGate(engine, trunk), DatabaseTrunkGate(engine, trunk)
        await first.start("host-a:5060/run1")
        await second.start("host-b:5060/run1")
        sent: list[float] = []

        async def call(gate: DatabaseTrunkGate) -> None:
            assert await gate.enter("carrier", deadline_in(30))
            sent.append(time.time())

        try:
            calls = [asyncio.ensure_future(call((first, second)[i % 2])) for i in range(16)]
            while len(sent) < 3:
                await asyncio.sleep(0.01)
            proxy.black_hole()
            await asyncio.sleep(1.5)
            proxy.forward()
            await asyncio.wait_for(asyncio.gather(*calls), 30)
        finally:
            await first.stop()
            await second.stop()
            engine.dispose()
    assert len(sent) == 16  # one send per entry, retries included
    sent.sort()
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 1 / rate - 0.05, gaps
    n = int(rate)
    assert min(sent[i + n] - sent[i] for i in range(len(sent) - n)) >= 1.0 - 0.05


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_entries_that_waited_for_the_trunks_row_are_not_sent_at_once(
    engine: Engine, gates: GateFactory
) -> None:
    """Another transaction holds the trunk's rate row for 1 s (an operator's UPDATE, a stalled
    process) while two processes' entries wait for it: the instants they get are counted from
    when they got the row, not from before they waited (already past: all sent at once)."""
    rate = 10.0
    first = await gates("host-a:5060/run1", calls_per_second=rate)
    second = await gates("host-b:5060/run1", calls_per_second=rate)
    assert await first.enter("carrier", deadline_in(5))  # the schedule starts
    sent: list[float] = []

    async def call(gate: DatabaseTrunkGate) -> None:
        assert await gate.enter("carrier", deadline_in(30))
        sent.append(time.time())

    def hold_the_row() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE trunk_rates SET next_call_at = next_call_at")
            held.set()
            time.sleep(1.0)

    held = threading.Event()
    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        await asyncio.to_thread(held.wait, 5)
        await asyncio.gather(*(call((first, second)[i % 2]) for i in range(6)))
    finally:
        await asyncio.to_thread(holder.join, 10)
    sent.sort()
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 1 / rate - 0.05, gaps
