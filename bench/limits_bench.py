"""A trunk's limits across processes, measured at the callee (issue 11).

    .venv/bin/python bench/limits_bench.py                       # 3 processes, 3 accounts
    .venv/bin/python bench/limits_bench.py --processes 2 --sessions 100 --rate 25 --stall 3

Several ``vestnik serve`` processes on one fresh PostgreSQL database (``VESTNIK_TEST_PG_URL``
names the server; a database of its own is made and dropped) dial one SIPp trunk with
``calls_per_second`` and ``max_concurrent_calls``, for sessions of several accounts (each
with a concurrent-call cap, sessions interleaved), with a database stall in the middle (one
transaction holds the trunk's rate row and every account row for ``--stall`` seconds).
Printed: the most calls whose INVITE reached SIPp in any sliding 1-second window (all, and
from the stall's end on), the most calls up at once at SIPp on the trunk and per account,
deadlocks and batch retries in the services' logs, finish reasons. Loopback only; bounded
by ``--timeout``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.db import PG_ADMIN_URL
from tests.support.trunk_load import LoadPlan, run_load

from vestnik.store import create_db_engine, migrate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--accounts", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=80, help="per account")
    parser.add_argument("--rate", type=float, default=25.0, help="trunk calls_per_second")
    parser.add_argument("--trunk-cap", type=int, default=30)
    parser.add_argument("--account-cap", type=int, default=12)
    parser.add_argument("--stall", type=float, default=3.0, help="seconds (0: none)")
    parser.add_argument("--stall-after", type=float, default=2.0)
    parser.add_argument("--pause", type=float, default=0.0, help="SIGSTOP one process (s)")
    parser.add_argument("--pause-after", type=float, default=7.0)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--keep", type=Path, help="keep the logs and traces in this folder")
    args = parser.parse_args()
    plan = LoadPlan(
        processes=args.processes,
        accounts=args.accounts,
        sessions_per_account=args.sessions,
        calls_per_second=args.rate,
        trunk_cap=args.trunk_cap,
        account_cap=args.account_cap,
        stall_after=args.stall_after if args.stall > 0 else None,
        stall_seconds=args.stall,
        pause_after=args.pause_after if args.pause > 0 else None,
        pause_seconds=args.pause,
        timeout=args.timeout,
    )
    name = f"vestnik_limits_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(False)
    try:
        engine = create_db_engine(url)
        migrate(engine)
        engine.dispose()
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            result = run_load(url, args.keep, plan)
        else:
            with tempfile.TemporaryDirectory(prefix="vestnik-limits-") as tmp:
                result = run_load(url, Path(tmp), plan)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    print(f"date {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {platform.node()}")
    print(f"plan {plan}")
    print(f"sessions final in {result.elapsed:.1f} s: {dict(result.finish_reasons)}")
    print(f"calls at the callee: {len(result.calls)} "
          f"(INVITE packets {sum(c.invites for c in result.calls)})")  # fmt: skip
    rate = plan.calls_per_second
    print(f"max calls in a sliding 1 s window: {result.max_window()} "
          f"(limit {rate:g}, +10 % = {rate * 1.1:g})")  # fmt: skip
    if result.stall is not None:
        print(f"  from the stall's end on: {result.max_window(after=result.stall[1] - 1.0)} "
              f"(stall {result.stall[1] - result.stall[0]:.1f} s)")  # fmt: skip
    if result.pause is not None:
        print(f"  from the pause's end on: {result.max_window(after=result.pause[1] - 1.0)} "
              f"(pause {result.pause[1] - result.pause[0]:.1f} s)")  # fmt: skip
    print(f"peak calls up at the callee: trunk {result.peak_calls()} (cap {plan.trunk_cap}), "
          + ", ".join(f"account {a} {result.peak_calls(str(a))}" for a in range(plan.accounts))
          + f" (cap {plan.account_cap})")  # fmt: skip
    lengths = sorted(c.bye_at - c.invite_at for c in result.calls if c.bye_at is not None)
    if lengths:
        print(f"call length at the callee (INVITE → BYE): p50 {lengths[len(lengths) // 2]:.2f} s,"
              f" max {lengths[-1]:.2f} s")  # fmt: skip
    print(f"deadlocks in the logs: {result.deadlocks}, batch retries: {result.batch_retries}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
