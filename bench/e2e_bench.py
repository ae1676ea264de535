"""Full-stack benchmark (issue 11): JSON-RPC requests at a fixed rate to a real ``vestnik serve``
→ real calls (API, queue, dialer, database, SIP, RTP pacer: nothing bypassed) → SIPp callees
that answer at once and wait for vestnik's BYE; every RTP packet captured on loopback.

    .venv/bin/python bench/e2e_bench.py --rate 20 --duration 5 --message-seconds 5
    .venv/bin/python bench/e2e_bench.py --rate 300 --duration 20 --message-seconds 20 \
        --target sqlite
    .venv/bin/python bench/e2e_bench.py --rate 200 --duration 20 --message-seconds 20 \
        --workers 2 --target postgresql \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Runs as root (dumpcap on ``lo``). vestnik's processes run this checkout's ``src/``.

Method (docs/benchmarks.md, "Full stack (issue 11)"):

- Database: SQLite in a temp dir, or with ``--database-url postgresql+…`` a fresh database
  ``vestnik_e2e_<time>_<pid>`` created on that server for the run and dropped after it.
- Provisioning with the admin CLI (``vestnik admin account create / number add / key create /
  media add``); limits from the generated ``vestnik.toml`` ([limits], [dialer], [rtp]) are
  high enough for every call of the run at once.
- The message is an uploaded media file (a speech-like synthetic WAV of ``--message-seconds``),
  not TTS: the dialer reads its converted PCM from disk once and every call shares it, so no
  rendering is measured. One warm-up call per SIPp instance is answered before the timed part.
- ``--sipp-instances K``: K SIPp callees, each its own ``[[trunks]]`` entry. Routing tries equal
  priorities in configuration order (it does not spread), so each trunk takes one contact
  prefix (``7900``, ``7901`` …) and request i calls a number of prefix i mod K.
- SIPp's SDP sends every call's RTP to one UDP port the bench binds and never reads: the
  packets are captured on ``lo`` before the socket drops them, and no ICMP port-unreachable
  comes back to the pacer's connected sockets (the capture counts ICMP to prove it).
- ``dumpcap -P -s 54 -B <MiB>``: classic pcap, 54 bytes per frame (up to the RTP header),
  70 bytes a packet on disk, in ``--capture-dir`` (default /dev/shm); its own statistics give
  the capture drops.
- Requests from a raw-socket HTTP/1.1 client on ``--connections`` keep-alive connections (as
  bench/api_bench.py), latency measured from each request's scheduled send time.
- After the last session is final: finish_reason counts and created→dial from the
  ``call_sessions`` rows, CPU of the whole vestnik process tree (main, pacer, workers) from
  /proc (user+system, children included) before the timed part and after the last call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import resource
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
from tests.support.processes import PeerProcess, free_port, free_port_range  # noqa: E402
from tests.support.rtp_capture import FRAME_BYTES, rtp_stats  # noqa: E402
from tests.support.sipp import SippUas  # noqa: E402

from e2e_report import (  # noqa: E402  (bench/)
    TARGETS,
    capture_drops,
    check_targets,
    cpu_seconds,
    print_report,
    session_results,
    wait_final,
)

HOST = "127.0.0.1"
VPN = "74993720692"
SCENARIO = "uas_bench.xml"  # in tests/support/scenarios/: answers at once, waits for BYE
RTP_PORT_LOW, RTP_PORT_HIGH = 10000, 32767  # below the kernel's ephemeral ports


# --- set-up -------------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment of vestnik's processes: this checkout's code, no stray VESTNIK_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VESTNIK_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return env


def fresh_database(url: str, workdir: Path) -> tuple[str, str | None]:
    """The run's database URL, and the PostgreSQL database to drop afterwards (if any)."""
    if not url:
        return f"sqlite:///{workdir / 'vestnik.db'}", None
    if url.startswith("sqlite"):
        return url, None
    import sqlalchemy as sa

    server = sa.engine.make_url(url)
    name = f"vestnik_e2e_{int(time.time())}_{os.getpid()}"
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.set(database=name).render_as_string(hide_password=False), name


def drop_database(url: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(sa.engine.make_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else str(value)


def write_config(
    path: Path, tables: dict[str, dict[str, object]], trunks: list[dict[str, object]]
) -> None:
    lines = [f"{k} = {toml_value(v)}" for k, v in tables.pop("", {}).items()]
    for table, keys in tables.items():
        lines += ["", f"[{table}]", *(f"{k} = {toml_value(v)}" for k, v in keys.items())]
    for trunk in trunks:
        lines += ["", "[[trunks]]", *(f"{k} = {toml_value(v)}" for k, v in trunk.items())]
    path.write_text("\n".join(lines) + "\n")


def service_config(
    args: argparse.Namespace, workdir: Path, db_url: str, sipps: list[SippUas]
) -> tuple[Path, int]:
    """vestnik.toml for the run; returns it and the HTTP port."""
    calls = int(args.rate * args.duration) + len(sipps) + 100
    span = 2 * (calls + 100) * args.workers
    if RTP_PORT_LOW + span - 1 > RTP_PORT_HIGH:
        raise SystemExit(f"{calls} calls x {args.workers} workers need {span} RTP ports: too many")
    http_port = free_port()
    sip_port, _ = free_port_range(args.workers)
    tables: dict[str, dict[str, object]] = {
        "": {"data_dir": str(workdir / "data")},
        "log": {"level": args.log_level},
        "server": {"host": HOST, "port": http_port},
        "database": {"url": db_url},
        "sip": {"bind_host": HOST, "port": sip_port},
        "rtp": {"bind_host": HOST, "port_min": RTP_PORT_LOW, "port_max": RTP_PORT_LOW + span - 1},
        "dialer": {
            "max_concurrent_calls": calls,
            "max_waiting_sessions": calls,
            "shutdown_grace": 10.0,
        },
        "limits": {"minute_limit": 10**9, "day_limit": 10**9, "max_concurrent_calls": calls},
    }
    trunks = []
    for k, sipp in enumerate(sipps):
        trunk: dict[str, object] = {"name": f"sipp{k}", "host": HOST, "port": sipp.port,
                                    "options_interval": 0}  # fmt: skip
        if len(sipps) > 1:
            trunk["prefixes"] = [contact_prefix(k)]
        trunks.append(trunk)
    path = workdir / "vestnik.toml"
    write_config(path, tables, trunks)
    return path, http_port


def contact_prefix(instance: int) -> str:
    return f"790{instance}"


def contact(i: int, instances: int) -> str:
    return f"{contact_prefix(i % instances)}{i % 10**7:07d}"


def admin(config: Path, *argv: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "vestnik", "admin", *argv, "--config", str(config), "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)} failed:\n{done.stderr}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def provision(config: Path, workdir: Path, message_seconds: float) -> tuple[str, int]:
    """An account with a number, an API key and the message file; (access token, media id)."""
    admin(config, "account", "create", "bench")
    admin(config, "number", "add", "bench", VPN)
    token = str(admin(config, "key", "create", "bench")["access_token"])
    wav = workdir / "message.wav"
    write_message_wav(wav, message_seconds)
    media_id = int(admin(config, "media", "add", "bench", str(wav))["media_file_id"])
    return token, media_id


def write_message_wav(path: Path, seconds: float) -> None:
    """A speech-like test signal: a few tones under a slow envelope, 8 kHz mono 16-bit."""
    import wave

    t = np.arange(int(8000 * seconds)) / 8000
    signal = sum(np.sin(2 * np.pi * f * t) for f in (220, 330, 770, 1400))
    pcm = np.round(2500 * signal * (0.55 + 0.45 * np.sin(2 * np.pi * 3 * t))).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(pcm.tobytes())


# --- the processes --------------------------------------------------------------------------


def sink_socket() -> socket.socket:
    """The UDP port all RTP goes to: bound (so no ICMP port-unreachable) and never read."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sink.bind((HOST, 0))
    return sink


def capture_filter(port: int) -> str:
    """RTP to the sink, and any ICMP port-unreachable about a datagram to it (bytes 28-31 of
    the ICMP message are the quoted UDP header's ports: another session's ICMP is not ours)."""
    return f"(udp and dst port {port}) or (icmp[icmptype] = icmp-unreach and icmp[30:2] = {port})"


def start_capture(args: argparse.Namespace, workdir: Path, path: Path, port: int) -> PeerProcess:
    argv = ["dumpcap", "-i", "lo", "-P", "-s", str(FRAME_BYTES), "-B", str(args.capture_buffer_mib),
            "-f", capture_filter(port), "-w", str(path)]  # fmt: skip
    capture = PeerProcess("dumpcap", argv, workdir)
    deadline = time.monotonic() + 10
    while "Capturing on" not in capture.log():
        capture.check_alive()
        if time.monotonic() > deadline:
            raise SystemExit("dumpcap did not start capturing: " + capture.log())
        time.sleep(0.05)
    return capture


def start_sipps(args: argparse.Namespace, workdir: Path, sink_port: int) -> list[SippUas]:
    injection = workdir / "media.csv"
    injection.write_text(f"SEQUENTIAL\n{HOST};{sink_port};\n")  # every call's RTP to the sink
    extra = ["-inf", str(injection), "-buff_size", str(8 << 20), *shlex.split(args.sipp_options)]
    sipps = []
    for k in range(args.sipp_instances):
        sipp = SippUas(SCENARIO, workdir / f"sipp{k}", calls=None, timeout=None, extra=extra,
                       trace=False)  # fmt: skip
        sipp.start()
        sipps.append(sipp)
    return sipps


def start_service(args: argparse.Namespace, config: Path, workdir: Path, port: int) -> PeerProcess:
    argv = [sys.executable, "-m", "vestnik", "serve", "--config", str(config)]
    if args.workers != 1:
        argv += ["--workers", str(args.workers)]
    service = PeerProcess("vestnik", argv, workdir)  # environment: child_env(), set in main
    deadline = time.monotonic() + 60
    while True:
        service.check_alive()
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=1) as reply:
                if reply.status == 200:
                    return service
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("vestnik serve did not answer /health: " + service.log()[-3000:])
        time.sleep(0.1)


def stop_service(service: PeerProcess) -> None:
    """SIGTERM to the main process only (as systemd's KillMode=mixed): with ``--workers`` the
    supervisor forwards it once to each worker; a second one would cut their drain short.
    What is left after 60 s gets the process group's SIGTERM/SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(service.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        service.proc.wait(60)
    service.stop()


# --- the load ---------------------------------------------------------------------------------


def informer_request(token: str, media_id: int, number: str) -> bytes:
    body = json.dumps({
        "jsonrpc": "2.0", "id": 1, "method": "start.informer_call",
        "params": {"access_token": token, "virtual_phone_number": VPN, "contact": number,
                   "contact_message": {"type": "media", "value": str(media_id)}},
    }, separators=(",", ":")).encode()  # fmt: skip
    return (
        b"POST /v4.0 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json; charset=UTF-8\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


async def fixed_rate(
    port: int, requests: list[bytes], rate: float, connections: int
) -> tuple[list[float], Counter[str], list[int]]:
    """Send ``requests`` at ``rate`` per second on keep-alive connections (request i on
    connection i % connections); latency from each request's scheduled send time, so a
    stall is not hidden. Returns the latencies (s), the errors by mnemonic, the session ids."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    ids: list[int] = []
    start = time.perf_counter() + 0.5

    async def connection(k: int) -> None:
        mine = range(k, len(requests), connections)
        done = 0
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
            for i in mine:
                scheduled = start + i / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(requests[i])
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                reply = await reader.readexactly(int(length.group(1)) if length else 0)
                latencies.append(time.perf_counter() - scheduled)
                done += 1
                found = re.search(rb'"call_session_id":(\d+)', reply)
                if found:
                    ids.append(int(found.group(1)))
                else:
                    mnemonic = re.search(rb'"mnemonic":"([^"]+)"', reply)
                    errors[mnemonic.group(1).decode() if mnemonic else reply[:80].decode()] += 1
            writer.close()
        except (OSError, asyncio.IncompleteReadError) as exc:  # the rest of this connection's
            errors[f"connection: {exc!r}"[:80]] += len(mine) - done  # requests count as lost

    await asyncio.gather(*(connection(k) for k in range(min(connections, len(requests)))))
    return sorted(latencies), errors, ids


def warm_up(port: int, token: str, media_id: int, db_url: str, instances: int) -> int:
    """One call through each SIPp, answered before the timed part (media file read, pacer
    started); returns the highest warm-up session id (the timed sessions come after it)."""
    from e2e_report import answered

    requests = [informer_request(token, media_id, f"{contact_prefix(k)}9999999")
                for k in range(instances)]  # fmt: skip
    _, errors, ids = asyncio.run(fixed_rate(port, requests, 10.0, 1))
    if errors or not ids:
        raise SystemExit(f"warm-up requests failed: {dict(errors)}")
    deadline = time.monotonic() + 30
    while not answered(db_url, ids):
        if time.monotonic() > deadline:
            raise SystemExit("warm-up calls were not answered within 30 s")
        time.sleep(0.2)
    return max(ids)


# --- the run ----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="requests (calls) per second")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of requests")
    parser.add_argument("--message-seconds", type=float, default=5.0, help="message length")
    parser.add_argument("--database-url", default="",
                        help="empty: SQLite in a temp dir; postgresql+psycopg://…: a fresh "
                             "database on that server, dropped after the run")  # fmt: skip
    parser.add_argument("--workers", type=int, default=1, help="vestnik serve --workers N")
    parser.add_argument("--sipp-instances", type=int, default=1, help="SIPp callees (1..10)")
    parser.add_argument("--sipp-options", default="", help="more SIPp arguments, e.g. '-nr'")
    parser.add_argument("--connections", type=int, default=64, help="client connections")
    parser.add_argument("--log-level", default="warning", help="vestnik [log] level")
    parser.add_argument(
        "--capture-dir", default="/dev/shm" if Path("/dev/shm").is_dir() else "/tmp"
    )
    parser.add_argument("--capture-buffer-mib", type=int, default=512, help="dumpcap -B")
    parser.add_argument("--target", choices=sorted(TARGETS), action="append", default=[],
                        help="check the results against issue 11's target")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the work dir and the capture")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if not 1 <= args.sipp_instances <= 10:
        parser.error("--sipp-instances must be 1..10")
    return args


def raise_fd_limit(calls: int) -> None:
    """Every call holds an RTP socket in vestnik's main process and in its pacer: children
    inherit the raised soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < calls + 1000:
        print(f"warning: open files limit {hard} < {calls + 1000} (ulimit -Hn)", file=sys.stderr)


def run(args: argparse.Namespace, workdir: Path, db_url: str, capture: Path) -> dict[str, Any]:
    sink = sink_socket()
    dumpcap = start_capture(args, workdir, capture, sink.getsockname()[1])
    sipps = start_sipps(args, workdir, sink.getsockname()[1])
    service: PeerProcess | None = None
    try:
        config, port = service_config(args, workdir, db_url, sipps)
        token, media_id = provision(config, workdir, args.message_seconds)
        service = start_service(args, config, workdir, port)
        after_id = warm_up(port, token, media_id, db_url, args.sipp_instances)
        count = int(args.rate * args.duration)
        requests = [informer_request(token, media_id, contact(i, args.sipp_instances))
                    for i in range(count)]  # fmt: skip
        sipp_pids = [s.process.pid for s in sipps if s.process is not None]
        cpu0 = (cpu_seconds([service.pid], True), cpu_seconds(sipp_pids, False),
                cpu_seconds([dumpcap.pid], False), time.process_time())  # fmt: skip
        started = time.time()
        latencies, errors, ids = asyncio.run(
            fixed_rate(port, requests, args.rate, args.connections)
        )
        rows = wait_final(
            db_url, after_id, len(ids), args.message_seconds, args.message_seconds + 180
        )
        cpu1 = (cpu_seconds([service.pid], True), cpu_seconds(sipp_pids, False),
                cpu_seconds([dumpcap.pid], False), time.process_time())  # fmt: skip
        window = time.time() - started
    finally:
        if service is not None:
            stop_service(service)
        for sipp in sipps:
            sipp.stop()
        time.sleep(0.5)  # the last packets reach the capture
        dumpcap.stop(timeout=30)
        sink.close()
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000 if latencies else (np.nan, np.nan)
    requests_result = {"sent": count, "accepted": len(ids), "errors": dict(errors),
                       "p50_ms": float(p50), "p99_ms": float(p99),
                       "max_ms": latencies[-1] * 1000 if latencies else np.nan}  # fmt: skip
    calls = max(1, len(ids))
    names = ("vestnik_s", "sipp_s", "dumpcap_s", "client_s")
    cpu = {name: after - before for name, before, after in zip(names, cpu0, cpu1, strict=True)}
    cpu["window_s"] = window
    cpu["vestnik_ms_per_call"] = 1000 * cpu["vestnik_s"] / calls
    cpu["sipp_ms_per_call"] = 1000 * cpu["sipp_s"] / calls
    cpu["vestnik_cores"] = cpu["vestnik_s"] / window
    return {"requests": requests_result, "sessions": session_results(rows), "cpu": cpu,
            "capture": capture_drops(dumpcap.log())}  # fmt: skip


def main() -> None:
    args = parse_args()
    raise_fd_limit(int(args.rate * args.duration))
    os.environ.clear()
    os.environ.update(child_env())  # what every child (admin CLI, serve) gets
    workdir = Path(tempfile.mkdtemp(prefix="vestnik-e2e-"))
    capture = Path(args.capture_dir) / f"vestnik-e2e-{os.getpid()}.pcap"
    db_url, pg_name = fresh_database(args.database_url, workdir)
    result: dict[str, Any] = {"run": {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": f"{platform.node()} {platform.machine()}", "cpus": os.cpu_count(),
        "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "rate": args.rate, "duration": args.duration, "message_seconds": args.message_seconds,
        "database": "postgresql" if pg_name else "sqlite", "workers": args.workers,
        "sipp_instances": args.sipp_instances, "connections": args.connections,
        "message": "uploaded media file, read once and shared; no TTS",
    }}  # fmt: skip
    try:
        result |= run(args, workdir, db_url, capture)
        started = time.perf_counter()
        rtp = rtp_stats(capture).as_dict()
        result["analysis_s"] = time.perf_counter() - started
        calls = result["sessions"]["count"] + args.sipp_instances  # and the warm-up calls
        rtp["expected_packets"] = int(calls * args.message_seconds * 50)  # 20 ms packets
        result["rtp"] = rtp
        result["capture"]["file_mb"] = capture.stat().st_size / 1e6
    finally:
        if pg_name:
            drop_database(args.database_url, pg_name)
        if not args.keep:
            capture.unlink(missing_ok=True)
            subprocess.run(["rm", "-rf", str(workdir)], check=False)
    result["targets"] = {name: check_targets(name, result) for name in args.target}
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print_report(result)
        if args.keep:
            print(f"kept: {workdir}, {capture}")


if __name__ == "__main__":
    main()
