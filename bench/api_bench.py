"""Call API throughput: start.informer_call next to a trivial endpoint of the same stack.

    .venv/bin/python bench/api_bench.py [--duration 10] [--connections 32] [--rate 500]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--db-calls auto|inline|thread|async]

Starts the service without the dialer (``vestnik serve`` with ``VESTNIK_DIALER_ENABLED=false``:
the Call API, the Data API, the upload and /metrics on uvicorn, and the webhook worker, which
finds nothing to do but looks every ``[webhooks] poll_interval_seconds``, ~3 % of a core when
idle) on a fresh database, pinned to one core with ``taskset``: a SQLite file by default; with
``--database-url`` (PostgreSQL) a database created for the run on that server (named
``vestnik_bench_<pid>``; the URL's own database is only used to create and drop it). The
PostgreSQL server is not pinned: on a 2-core machine it shares the other core with the load
generator. Its log
level is set to ``warning`` (``VESTNIK_LOG_LEVEL``): the INFO access log, one line per request,
is left out of the measurement, as in the earlier runs of docs/benchmarks.md. Then on loopback:

1. ``wrk`` (Debian package) at full speed, pinned to another core: ``GET /health`` and a valid
   ``start.informer_call`` (``bench/api_informer.lua``); prints requests/s, latency percentiles
   and the ratio;
2. a fixed-rate run of start.informer_call (``--rate`` req/s from a minimal raw-socket client,
   latency measured from each request's scheduled send time, so a stall is not hidden); prints
   p50/p90/p99/max.

It also reads the server's CPU time from /proc: "req per server CPU-second" is what one
dedicated core would do, a fairer figure than req/s on a shared machine; "µs server CPU per
request" is its inverse. On PostgreSQL the CPU time of the database's backends serving the
run (their pids from ``pg_stat_activity``; readable when the server runs on this machine)
is printed too.

Every created session is counted in the database at the end (sessions = successful replies).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import sqlalchemy as sa

from vestnik.auth import TokenKind
from vestnik.config import LimitsConfig
from vestnik.store import create_db_engine, migrate
from vestnik.store.accounts import create_account
from vestnik.store.admin_numbers import add_number
from vestnik.store.admin_users import issue_token
from vestnik.store.schema import call_sessions

HERE = Path(__file__).resolve().parent
VPN = "74993720692"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fresh_postgresql(url: str, settings: Sequence[str] = ()) -> tuple[str, str]:
    """A new empty database on the server of ``url``: (its URL, its name). ``settings``
    (``name=value``) become the database's own defaults (``ALTER DATABASE ... SET``)."""
    name = f"vestnik_bench_{os.getpid()}"
    admin = create_db_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        for setting in settings:
            key, _, value = setting.partition("=")
            if not (key.replace("_", "").isalnum() and value.replace("_", "").isalnum()):
                raise SystemExit(f"not a setting: {setting!r} (NAME=VALUE, letters and digits)")
            conn.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET {key} = '{value}'")
    admin.dispose()
    return sa.make_url(url).set(database=name).render_as_string(hide_password=False), name


def drop_postgresql(url: str, name: str) -> None:
    admin = create_db_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def backend_cpu_seconds(url: str | None, name: str | None) -> float | None:
    """CPU time so far of the PostgreSQL backends connected to database ``name`` (but this
    query's own); None when not PostgreSQL or /proc does not show them (another machine)."""
    if url is None or name is None:
        return None
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            pids = (
                conn.execute(
                    sa.text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = :name"
                        " AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    try:
        return sum(cpu_seconds(int(pid)) for pid in pids)
    except OSError:
        return None


def seed(url: str) -> str:
    engine = create_db_engine(url)
    migrate(engine)
    limits = LimitsConfig(minute_limit=10**9, day_limit=10**9)
    with engine.begin() as conn:
        account_id = create_account(conn, "bench", limits)
        add_number(conn, account_id, VPN, None)
        token = issue_token(conn, account_id, TokenKind.PERMANENT).access_token
    engine.dispose()
    return token


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(args: argparse.Namespace, url: str, script: Path | None, env: dict[str, str]) -> dict:
    cmd = ["taskset", "-c", args.client_cpu, "wrk", "-t1", f"-c{args.connections}",
           f"-d{args.duration}s", "--latency"]  # fmt: skip
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, env=env, check=True).stdout
    result: dict[str, float | str] = {"raw": out}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    result["rps"] = float(rps.group(1)) if rps else 0.0
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)", out, re.M)
        if m:
            value = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            result[f"p{pct}_ms"] = value
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non2xx"] = int(errors.group(1)) if errors else 0
    return result


async def fixed_rate(
    port: int, token: str, rate: float, seconds: float, connections: int = 32
) -> tuple[list[float], int]:
    """Send ``rate`` req/s on keep-alive connections; latency from each scheduled send time.

    A minimal HTTP/1.1 client on raw sockets (a few µs per request), so the load generator
    does not steal the measurement; request i goes on connection i % connections.
    """
    body = (
        '{"jsonrpc":"2.0","id":"bench","method":"start.informer_call","params":{'
        f'"access_token":"{token}","virtual_phone_number":"{VPN}","contact":"79260000000",'
        '"contact_message":{"type":"tts","value":"Ваш заказ готов к выдаче"}}}'
    ).encode()
    request = (
        b"POST /v4.0 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json; charset=UTF-8\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    total = int(rate * seconds)
    latencies: list[float] = []
    failures = 0
    start = time.perf_counter() + 0.5

    async def worker(k: int) -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in range(k, total, connections):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            reply = await reader.readexactly(length)
            latencies.append(time.perf_counter() - scheduled)
            if b'"result"' not in reply:
                failures += 1
        writer.close()

    await asyncio.gather(*(worker(k) for k in range(connections)))
    return sorted(latencies), failures


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p / 100))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description="Call API throughput benchmark")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--server-cpu", default="1")
    parser.add_argument("--client-cpu", default="0")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server to run on (a fresh database is created and dropped); "
        "default: a fresh SQLite file",
    )
    parser.add_argument(
        "--pg-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a PostgreSQL setting of the fresh database (e.g. synchronous_commit=off)",
    )
    parser.add_argument(
        "--db-calls",
        choices=("auto", "inline", "thread", "async"),
        help="[server] db_calls for the run",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        raise SystemExit("needs wrk and taskset (apt-get install wrk util-linux)")
    workdir = Path(tempfile.mkdtemp(prefix="vestnik-bench-"))
    pg_name: str | None = None
    if args.database_url:
        url_db, pg_name = fresh_postgresql(args.database_url, args.pg_setting)
    else:
        url_db = f"sqlite:///{workdir / 'vestnik.db'}"
    try:
        run(args, workdir, url_db, pg_name)
    finally:
        if pg_name is not None:
            drop_postgresql(args.database_url, pg_name)
        shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, workdir: Path, url_db: str, pg_name: str | None) -> None:
    pg_url = url_db if pg_name is not None else None
    token = seed(url_db)
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_env = {
        **os.environ,
        "VESTNIK_DATABASE_URL": url_db,
        "VESTNIK_DATA_DIR": str(workdir / "data"),
        "VESTNIK_DIALER_ENABLED": "false",
        "VESTNIK_LOG_LEVEL": "warning",
    }
    if args.db_calls:
        server_env["VESTNIK_SERVER_DB_CALLS"] = args.db_calls
    server = subprocess.Popen(
        ["taskset", "-c", args.server_cpu, sys.executable, "-m", "vestnik", "serve",
         "--host", "127.0.0.1", "--port", str(port)],
        env=server_env,
    )  # fmt: skip
    try:
        wait_ready(base)
        env = {**os.environ, "VESTNIK_BENCH_TOKEN": token, "VESTNIK_BENCH_VPN": VPN}
        pid = server.pid
        cpu = cpu_seconds(pid)
        health = run_wrk(args, base + "/health", None, env)
        health["cpu"], cpu = cpu_seconds(pid) - cpu, cpu_seconds(pid)
        db_cpu = backend_cpu_seconds(pg_url, pg_name)
        informer = run_wrk(args, base + "/v4.0", HERE / "api_informer.lua", env)
        informer["cpu"], cpu = cpu_seconds(pid) - cpu, cpu_seconds(pid)
        db_cpu_after = backend_cpu_seconds(pg_url, pg_name)
        if db_cpu is not None and db_cpu_after is not None:
            # Backends that left during the run are not counted: the pool keeps its own.
            informer["db_cpu"] = db_cpu_after - db_cpu
        latencies: list[float] = []
        failures = 0
        fixed_cpu = 0.0
        if args.rate > 0:
            # The load generator itself on the client CPU, away from the server's.
            os.sched_setaffinity(0, {int(args.client_cpu)})
            latencies, failures = asyncio.run(fixed_rate(port, token, args.rate, args.duration))
            fixed_cpu = cpu_seconds(pid) - cpu
    finally:
        server.terminate()
        server.wait(10)
    engine = create_db_engine(url_db)
    with engine.connect() as conn:
        sessions = conn.execute(sa.select(sa.func.count()).select_from(call_sessions)).scalar()
    engine.dispose()

    where = f"PostgreSQL database {pg_name}" if pg_name else "SQLite"
    settings = "".join(f", {setting}" for setting in args.pg_setting)
    print(
        f"{where}{settings}, db_calls {args.db_calls or 'auto'}; load average before: {load_before}"
    )
    print(f"server pinned to CPU {args.server_cpu}, wrk to CPU {args.client_cpu}"
          f"{' (PostgreSQL unpinned, sharing it)' if pg_name else ''}, "
          f"{args.connections} connections, {args.duration} s each")  # fmt: skip
    for name, r in (("GET /health", health), ("start.informer_call", informer)):
        print(
            f"{name:22s} {r['rps']:9.0f} req/s  p50 {r.get('p50_ms', 0):6.2f} ms  "
            f"p90 {r.get('p90_ms', 0):6.2f} ms  p99 {r.get('p99_ms', 0):6.2f} ms  "
            f"non-2xx {r['non2xx']}"
        )
        busy = float(r["cpu"]) / args.duration
        per_cpu_second = float(r["rps"]) * args.duration / max(float(r["cpu"]), 1e-9)
        print(
            f"{'':22s} server CPU busy {busy:5.0%}: {per_cpu_second:9.0f} req per server CPU-second"
            f", {1e6 / per_cpu_second:6.0f} µs server CPU per request"
        )
        if "db_cpu" in r:
            requests = float(r["rps"]) * args.duration
            print(
                f"{'':22s} PostgreSQL backends {float(r['db_cpu']) / args.duration:5.0%} of a CPU"
                f": {float(r['db_cpu']) * 1e6 / max(requests, 1):6.0f} µs per request"
            )
    ratio = informer["rps"] / health["rps"] if health["rps"] else 0.0
    print(f"ratio start.informer_call / health: {ratio:.2f}")
    if not latencies:
        print(f"sessions in the database: {sessions}")
        return
    print(
        f"fixed rate {args.rate:.0f} req/s for {args.duration} s: {len(latencies)} requests, "
        f"{failures} errors, p50 {pct(latencies, 50):.2f} ms, p90 {pct(latencies, 90):.2f} ms, "
        f"p99 {pct(latencies, 99):.2f} ms, max {latencies[-1] * 1000:.2f} ms, "
        f"server CPU busy {fixed_cpu / args.duration:.0%}"
    )
    print(f"sessions in the database: {sessions}")


if __name__ == "__main__":
    main()
