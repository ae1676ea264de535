"""A trunk's limits hold for several ``vestnik serve`` processes together, at the callee.

Two processes on one PostgreSQL database dial one SIPp trunk with ``calls_per_second = 25``
and ``max_concurrent_calls = 14``, for 120 sessions of three accounts (cap 6 each, sessions
interleaved so that the dialers' batches hold the accounts in every order), and in the
middle the database stalls: one transaction holds the trunk's rate row and every account row
for 2 s (as an operator's ``UPDATE`` would). What is checked is what reached the callee, as
captured on loopback (``tests/support/trunk_load.py``):

* no sliding 1-second window holds more than ``floor(25 * 1.1) = 27`` calls' INVITEs (the
  limit + 10 %, rounded down: a window holds whole INVITEs), the stall and its end included;
* calls up at once at the callee never above the trunk's cap, nor any account's;
* no deadlock and no batch retried one by one in the services' logs;
* every session final (``success_finish``), every contact offered exactly once.

A second run stops one process (SIGSTOP) for 1.5 s while it holds send instants reserved
ahead (one account, a cap that does not bind), then lets it go on: the INVITEs whose instants
passed meanwhile must not leave at once (before the fix that window held 35).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from tests.support.trunk_load import CalleeCall, LoadPlan, run_load

pytestmark = [pytest.mark.sip, pytest.mark.postgres]

PLAN = LoadPlan(
    processes=2,
    accounts=3,
    sessions_per_account=40,
    calls_per_second=25.0,
    trunk_cap=14,
    account_cap=6,
    stall_after=1.5,
    stall_seconds=2.0,
    timeout=40.0,
)
PAUSE_PLAN = LoadPlan(
    processes=2,
    accounts=1,
    sessions_per_account=100,
    calls_per_second=25.0,
    trunk_cap=40,
    account_cap=100,
    stall_after=None,
    pause_after=1.5,
    pause_seconds=1.5,
    timeout=40.0,
)
MAX_PER_WINDOW = math.floor(PLAN.calls_per_second * 1.1)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_processes_hold_the_trunks_rate_and_caps_at_the_callee(
    tmp_path: Path, db_url: str
) -> None:
    result = run_load(db_url, tmp_path, PLAN)
    print(f"max INVITEs in a 1 s window: {result.max_window()}, peak calls {result.peak_calls()}")
    sessions = PLAN.accounts * PLAN.sessions_per_account
    assert result.finish_reasons == Counter(success_finish=sessions), result.finish_reasons
    assert Counter(c.contact for c in result.calls) == Counter(
        f"792600{a}{n:04d}" for a in range(PLAN.accounts) for n in range(PLAN.sessions_per_account)
    )
    assert result.stall is not None
    assert result.deadlocks == 0, "deadlock in the logs"
    assert result.batch_retries == 0, "a dialer batch failed and was retried"
    assert result.max_window() <= MAX_PER_WINDOW, _timeline(result.calls)
    assert result.peak_calls() <= PLAN.trunk_cap
    for account in range(PLAN.accounts):
        assert result.peak_calls(str(account)) <= PLAN.account_cap, account
    # The rate was what held the calls back: at least one window came near the limit.
    assert result.max_window() >= PLAN.calls_per_second * 0.8


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_process_that_stalls_sends_no_burst_when_it_goes_on(tmp_path: Path, db_url: str) -> None:
    result = run_load(db_url, tmp_path, PAUSE_PLAN)
    print(f"max INVITEs in a 1 s window: {result.max_window()}")
    assert result.finish_reasons == Counter(success_finish=PAUSE_PLAN.sessions_per_account)
    assert len(result.calls) == PAUSE_PLAN.sessions_per_account
    assert result.pause is not None
    assert result.max_window() <= MAX_PER_WINDOW, _timeline(result.calls)


def _timeline(calls: list[CalleeCall]) -> str:
    times = [c.invite_at for c in calls]
    start = times[0] if times else 0.0
    return "INVITEs at (s): " + " ".join(f"{t - start:.3f}" for t in times)
