"""A trunk's limits across processes, measured at the callee (issue 11).

``run_load`` starts several ``vestnik serve`` processes on one database with one trunk (SIPp,
``SippUas.trunk``) that has ``calls_per_second`` and ``max_concurrent_calls``, queues sessions
of several accounts (each with a concurrent-call cap) interleaved, optionally stalls the
database in the middle (a transaction holds the trunk's rate row and every account row for a
few seconds, as an operator's ``UPDATE`` would), waits until every session is final, and
reads what arrived at SIPp: each call's INVITE and BYE times as captured on loopback
(dumpcap, kernel timestamps). ``LoadResult`` holds the figures the test and
``bench/limits_bench.py`` check: the most
distinct calls (Call-IDs) whose first INVITE arrived within any sliding 1-second window, the
most calls up at once on the trunk and per account, deadlocks and batch retries in the logs.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from tests.support.pcap import LoopbackCapture, read_udp
from tests.support.processes import free_port, wait_until
from tests.support.serve import ServeProcess, serve_env
from tests.support.sessions import new_account, queue_session
from tests.support.sipp import TRUNK_SCENARIO, SippUas
from vestnik.store import create_db_engine
from vestnik.store.schema import call_sessions

VPN = "74993720692"
MESSAGE = "Да."  # well under a second of speech: calls are short, the limits bind
_CALL_ID = re.compile(r"^(?:Call-ID|i)\s*:\s*(\S+)", re.M | re.I)
_METHOD_USER = re.compile(r"^(INVITE|BYE) sip:(?:([^@;>\s]+)@)?")


@dataclass(frozen=True)
class LoadPlan:
    processes: int = 3
    accounts: int = 3
    sessions_per_account: int = 50
    calls_per_second: float = 25.0
    trunk_cap: int = 30
    account_cap: int = 12
    stall_after: float | None = 2.0  # seconds after queueing; None: no stall
    stall_seconds: float = 3.0
    # SIGSTOP the first process (its whole group) this long after queueing, for pause_seconds
    # (a process that stalls with INVITE instants reserved); None: no pause.
    pause_after: float | None = None
    pause_seconds: float = 2.0
    timeout: float = 120.0


@dataclass
class CalleeCall:
    contact: str
    invite_at: float  # first INVITE received (retransmissions ignored)
    bye_at: float | None = None
    invites: int = 0  # INVITE packets received (retransmissions and re-sends count)


@dataclass
class LoadResult:
    calls: list[CalleeCall] = field(repr=False)
    finish_reasons: Counter[str]
    stall: tuple[float, float] | None  # wall-clock start and end of the database stall
    pause: tuple[float, float] | None  # wall-clock start and end of the process pause
    deadlocks: int
    batch_retries: int
    logs: dict[str, str] = field(default_factory=dict, repr=False)
    elapsed: float = 0.0

    def max_window(self, after: float | None = None) -> int:
        """Most calls whose first INVITE arrived in one sliding 1-second window (only windows
        starting at or after ``after``)."""
        starts = sorted(c.invite_at for c in self.calls)
        return max_in_window([t for t in starts if after is None or t >= after], 1.0)

    def peak_calls(self, account_digit: str | None = None) -> int:
        """Most calls up at once at the callee (INVITE received → BYE received)."""
        calls = [c for c in self.calls if account_digit is None or _account(c) == account_digit]
        return max_overlap((c.invite_at, c.bye_at or c.invite_at) for c in calls)


def _account(call: CalleeCall) -> str:
    return call.contact[6]  # contacts are 792600<account digit><4 digits>


def max_in_window(times: list[float], width: float) -> int:
    """Most of the sorted ``times`` inside any half-open window [t, t + width)."""
    best = low = 0
    for high, t in enumerate(times):
        while times[low] <= t - width:
            low += 1
        best = max(best, high - low + 1)
    return best


def max_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """Most intervals open at one instant (an end sorts before a start at the same time)."""
    edges = sorted(e for start, end in intervals for e in ((start, 1), (end, -1)))
    live = peak = 0
    for _, step in edges:
        live += step
        peak = max(peak, live)
    return peak


def callee_calls(datagrams: Iterable[tuple[float, bytes]]) -> list[CalleeCall]:
    """Every call the callee was offered, from the datagrams sent to it (``read_udp``)."""
    calls: dict[str, CalleeCall] = {}
    for at, payload in datagrams:
        message = payload.decode("utf-8", errors="replace")
        request = _METHOD_USER.match(message)
        call_id = _CALL_ID.search(message)
        if request is None or call_id is None:
            continue
        method, user = request.groups()
        call = calls.setdefault(call_id.group(1), CalleeCall(user or "", at))
        if method == "INVITE":
            call.invites += 1
        elif call.bye_at is None:
            call.bye_at = at
    return sorted(calls.values(), key=lambda c: c.invite_at)


def _queue(url: str, plan: LoadPlan) -> list[int]:
    """The accounts, then their sessions interleaved (a, b, c, a, b, c, …) in one commit."""
    engine = create_db_engine(url)
    with engine.begin() as conn:
        accounts = [new_account(conn, f"load{a}", plan.account_cap) for a in range(plan.accounts)]
        ids = [
            queue_session(
                conn,
                accounts[a],
                contact=f"792600{a}{n:04d}",
                message_value=MESSAGE,
                virtual_phone_number=VPN,
                caller_number=VPN,
            )
            for n in range(plan.sessions_per_account)
            for a in range(plan.accounts)
        ]
    engine.dispose()
    return ids


def _stall(url: str, seconds: float, span: list[float]) -> None:
    """Hold the trunk's rate row and every account row for ``seconds`` (one transaction)."""
    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE trunk_rates SET next_call_at = next_call_at")
            conn.exec_driver_sql("UPDATE accounts SET max_concurrent_calls = max_concurrent_calls")
            span.append(time.time())
            conn.exec_driver_sql(f"SELECT pg_sleep({seconds:.3f})")
        span.append(time.time())
    finally:
        engine.dispose()


def _pause(proc: ServeProcess, seconds: float, span: list[float]) -> None:
    """Stop ``proc``'s process group for ``seconds``, then let it go on."""
    os.killpg(proc.proc.pid, signal.SIGSTOP)
    span.append(time.time())
    try:
        time.sleep(seconds)
    finally:
        os.killpg(proc.proc.pid, signal.SIGCONT)
        span.append(time.time())


def _all_final(url: str, ids: list[int]) -> Counter[str]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(call_sessions.c.state, call_sessions.c.finish_reason).where(
                    call_sessions.c.id.in_(ids)
                )
            ).all()
    finally:
        engine.dispose()
    return Counter(str(reason) if state == "finished" else f"<{state}>" for state, reason in rows)


def run_load(url: str, workdir: Path, plan: LoadPlan) -> LoadResult:
    """Run ``plan`` against the migrated, empty PostgreSQL database at ``url``."""
    limits = {
        "VESTNIK_TRUNK_CALLS_PER_SECOND": str(plan.calls_per_second),
        "VESTNIK_TRUNK_MAX_CONCURRENT_CALLS": str(plan.trunk_cap),
        "VESTNIK_DIALER_MAX_WAITING_SESSIONS": "100",
        "VESTNIK_DIALER_SLOT_WAIT_SECONDS": str(int(plan.timeout)),
        "VESTNIK_DIALER_SHUTDOWN_GRACE": "5",
        # espeak-ng says MESSAGE in 0.16 s, festival (the default) in 0.72 s: the calls must be
        # short for the trunk's rate, not its concurrency cap, to be what binds.
        "VESTNIK_TTS_ENGINE": "espeak",
    }
    processes: list[ServeProcess] = []
    stall_span: list[float] = []
    pause_span: list[float] = []
    # SIPp's own trace stamps a message when SIPp gets round to it; the capture stamps it
    # when it crosses loopback, which is when it left.
    sipp = SippUas(TRUNK_SCENARIO, workdir / "sipp", calls=None, timeout=None, trace=False)
    capture_file = workdir / "callee.pcap"
    with sipp, LoopbackCapture(capture_file, f"udp dst port {sipp.port}") as capture:
        try:
            for i in range(plan.processes):
                port = free_port()
                env = serve_env(workdir / f"p{i}", url, sipp, port, free_port(), **limits)
                processes.append(ServeProcess(env, workdir / f"serve-{i}.log", port))
            for proc in processes:
                proc.wait_ready()
            started = time.monotonic()
            ids = _queue(url, plan)
            faults = []
            if plan.stall_after is not None:
                args = (url, plan.stall_seconds, stall_span)
                faults.append(threading.Timer(plan.stall_after, _stall, args))
            if plan.pause_after is not None:
                args = (processes[0], plan.pause_seconds, pause_span)
                faults.append(threading.Timer(plan.pause_after, _pause, args))
            for fault in faults:
                fault.start()
            reasons: Counter[str] = Counter()

            def final() -> bool:
                nonlocal reasons
                reasons = _all_final(url, ids)
                return not any(r.startswith("<") for r in reasons)

            wait_until(final, plan.timeout, "every session final", interval=0.5)
            elapsed = time.monotonic() - started
            for fault in faults:
                fault.join()
            for proc in processes:
                proc.terminate()
        finally:
            for proc in processes:
                proc.cleanup()
        capture.stop()
        calls = callee_calls(read_udp(capture_file))
    logs = {p.log.name: p.log.read_text(errors="replace") for p in processes}
    text = "\n".join(logs.values())
    return LoadResult(
        calls=calls,
        finish_reasons=reasons,
        stall=(stall_span[0], stall_span[1]) if len(stall_span) == 2 else None,
        pause=(pause_span[0], pause_span[1]) if len(pause_span) == 2 else None,
        deadlocks=text.lower().count("deadlock detected"),
        batch_retries=text.count("operations failed; retrying each"),
        logs=logs,
        elapsed=elapsed,
    )
