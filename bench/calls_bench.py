"""Call load benchmark: one vestnik process (SipTelephony driven directly) against a SIPp UAS.

    .venv/bin/python bench/calls_bench.py                 # 200, 1000 and 2000 calls
    .venv/bin/python bench/calls_bench.py --calls 1000 --rate 100 --message 20
    .venv/bin/python bench/calls_bench.py --transport tls --calls 200 1000   # through the edge

For each level it places ``calls`` calls at ``rate`` new calls per second; each plays a
``message``-second synthetic message (one shared buffer), then hangs up. SIPp answers every
call; its SDP (per call, from an injection file) sends every ``sample``-th call's RTP to a
receiver process that timestamps each packet, and the rest to a socket nobody reads (as SIPp
itself does). Printed per level: calls completed/failed, CPU of this process while all calls
are up, pacer cost per packet, inter-packet gap p50/p99/max and loss on the sampled streams,
200 OK -> first RTP packet p50/p99, RSS per active call, call setup (INVITE sent -> 200 OK)
p50/p99. With ``--transport tls`` (or ``tcp``) the calls go the way a tls trunk's do: vestnik's
SIP edge (Kamailio, telephony/edge) → a carrier Kamailio over TLS with a certificate made at
start (tests.support.tls_carrier) → SIPp over UDP; the CPU of the edge and of the carrier
Kamailio (each process group) is printed too.

Loopback only; bounded by ``--calls`` and a timeout per level.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import platform
import resource
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vestnik.calls import ContactKind, FinishReason
from vestnik.calls.audio import Pcm
from vestnik.calls.ports import CallResult, DialSpec
from vestnik.config import Config, TrunkConfig
from vestnik.telephony.edge import Edge, config_via_edge
from vestnik.telephony.sip.adapter import SipTelephony

ROOT = Path(__file__).resolve().parent.parent
# The tests' SIPp launcher (tests.support.sipp) from this checkout, not sippy's "tests" package.
sys.path.insert(0, str(ROOT))
from tests.support.certs import TestCa  # noqa: E402
from tests.support.sipp import SippUas  # noqa: E402
from tests.support.tls_carrier import TlsCarrier  # noqa: E402

SCENARIO = "uas_bench.xml"  # in tests/support/scenarios/
HOST = "127.0.0.1"
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux value


# --- receiver process ------------------------------------------------------------------------


def receiver_main(conn: mp.connection.Connection) -> None:
    """Bind a sampling socket and a sink socket; record (ssrc, seq, arrival) on the first
    until told to stop, then send back per-stream statistics."""
    sample = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sample.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sample.bind((HOST, 0))
    sample.settimeout(0.2)
    # Kernel receive timestamps: the gaps do not include this process's own scheduling delays.
    sample.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sink.bind((HOST, 0))
    conn.send((sample.getsockname()[1], sink.getsockname()[1]))
    streams: dict[int, tuple[list[float], list[int]]] = {}
    buf = bytearray(2048)
    ancillary = socket.CMSG_SPACE(16)
    while not conn.poll():
        try:
            n, ancdata, _flags, _addr = sample.recvmsg_into([buf], ancillary)
        except TimeoutError:
            continue
        if n < 12:
            continue
        at = time.time()
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                seconds, nanoseconds = struct.unpack("qq", data[:16])
                at = seconds + nanoseconds / 1e9
        ssrc = int.from_bytes(buf[8:12], "big")
        seq = int.from_bytes(buf[2:4], "big")
        entry = streams.get(ssrc)
        if entry is None:
            entry = streams[ssrc] = ([], [])
        entry[0].append(at)
        entry[1].append(seq)
    gaps: list[np.ndarray] = []
    expected = received = 0
    for times, seqs in streams.values():
        if len(times) < 2:
            continue
        gaps.append(np.diff(np.asarray(times)) * 1000.0)
        unwrapped = np.unwrap(np.asarray(seqs, dtype=np.float64), period=65536)
        expected += int(unwrapped.max() - unwrapped.min()) + 1
        received += len(set(unwrapped.astype(np.int64).tolist()))
    all_gaps = np.concatenate(gaps) if gaps else np.zeros(1)
    conn.send(
        {
            "streams": len(streams),
            "packets": received,
            "lost": expected - received,
            "gap_p50": float(np.percentile(all_gaps, 50)),
            "gap_p99": float(np.percentile(all_gaps, 99)),
            "gap_max": float(all_gaps.max()),
        }
    )


# --- the load ----------------------------------------------------------------------------------


class SetupObserver:
    """Times INVITE sent (on_dialing) → 200 OK (on_answered)."""

    def __init__(self) -> None:
        self.dialing: float | None = None
        self.setup: float | None = None

    def on_dialing(self, sip_call_id: str) -> None:
        self.dialing = time.monotonic()

    def on_ringing(self) -> None:
        pass

    def on_answered(self) -> None:
        if self.dialing is not None:
            self.setup = time.monotonic() - self.dialing


@dataclass
class LevelReport:
    calls: int
    rate: float
    message_s: float
    placed_rate: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)
    cpu_percent: float = 0.0
    window_s: float = 0.0
    active_in_window: tuple[int, int] = (0, 0)
    us_per_packet: float = 0.0
    late_ticks: int = 0
    ticks: int = 0
    max_tick_ms: float = 0.0
    lag_p99_ms: float = 0.0
    lag_max_ms: float = 0.0
    first_audio_p50_ms: float = 0.0
    first_audio_p99_ms: float = 0.0
    rss_per_call_kb: float = 0.0
    receiver: dict[str, float] = field(default_factory=dict)
    sipp_exit: int | None = None
    transport: str = "udp"
    setup_p50_ms: float = 0.0
    setup_p99_ms: float = 0.0
    edge_cpu_percent: float | None = None
    carrier_cpu_percent: float | None = None
    edge_ms_per_call: float = 0.0
    carrier_ms_per_call: float = 0.0


def group_cpu_seconds(pgid: int | None) -> float:
    """User+system CPU of every live process in process group ``pgid``."""
    if pgid is None:
        return 0.0
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def stream_path(
    transport: str, sipp: SippUas, workdir: Path, config: Config, stack: contextlib.AsyncExitStack
) -> tuple[Config, int | None, int | None]:
    """The trunk of ``config`` for ``transport``: SIPp itself (udp), or a carrier Kamailio over
    TLS/TCP in front of SIPp reached through a started SIP edge. Returns the config for
    SipTelephony and the edge's and the carrier's process groups."""
    if transport == "udp":
        config.trunk.host, config.trunk.port = HOST, sipp.port
        config.trunk.options_interval = 0  # the SIPp scenario answers calls, not OPTIONS
        return config, None, None
    ca = TestCa(workdir / "ca")
    carrier = TlsCarrier((HOST, sipp.port), ca.issue("carrier", ips=[HOST]),
                         workdir=workdir / "carrier", children=4)  # fmt: skip
    carrier.start()
    stack.callback(carrier.stop)
    host, port = carrier.address(transport)
    config.trunk = TrunkConfig(host=host, port=port, transport=transport,
                               tls_ca_file=str(ca.cert), options_interval=0)  # fmt: skip
    config.data_dir = str(workdir / "var")
    edge = Edge(config)
    await edge.start()
    stack.push_async_callback(edge.stop)
    assert carrier.process is not None
    return config_via_edge(config, edge.hops), edge.pid, carrier.process.pid


def rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(child: int | None = None) -> float:
    """CPU of this process, plus the pacer child's when it runs in one."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    total = usage.ru_utime + usage.ru_stime
    if child is not None:
        with open(f"/proc/{child}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def child_rss_kb(child: int | None) -> int:
    if child is None:
        return 0
    with open(f"/proc/{child}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def synthetic_message(seconds: float) -> Pcm:
    """A speech-like test signal: a few tones with a slow envelope (one shared buffer)."""
    t = np.arange(int(8000 * seconds)) / 8000
    wave = sum(np.sin(2 * np.pi * f * t) for f in (220, 330, 770, 1400))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 3 * t)
    pcm = np.round(2500 * wave * envelope).astype(np.int16)
    pcm.setflags(write=False)
    return pcm


async def run_level(
    calls: int,
    rate: float,
    message_s: float,
    sample_every: int,
    realtime: bool,
    thread: bool,
    transport: str = "udp",
) -> LevelReport:
    async with contextlib.AsyncExitStack() as stack:
        return await _run_level(
            stack, calls, rate, message_s, sample_every, realtime, thread, transport
        )


async def _run_level(
    stack: contextlib.AsyncExitStack,
    calls: int,
    rate: float,
    message_s: float,
    sample_every: int,
    realtime: bool,
    thread: bool,
    transport: str,
) -> LevelReport:
    report = LevelReport(calls, rate, message_s, transport=transport)
    parent, child = mp.Pipe()
    receiver = mp.Process(target=receiver_main, args=(child,), daemon=True)
    receiver.start()
    sample_port, sink_port = parent.recv()

    workdir = Path(tempfile.mkdtemp(prefix="vestnik-calls-bench-"))
    injection = workdir / "media.csv"
    lines = ["SEQUENTIAL"]
    for i in range(calls):
        port = sample_port if i % sample_every == 0 else sink_port
        lines.append(f"{HOST};{port};")
    injection.write_text("\n".join(lines) + "\n")
    timeout = int(calls / rate + message_s + 60)
    sipp = SippUas(
        SCENARIO,
        workdir,
        calls=calls,
        timeout=timeout,
        extra=["-inf", str(injection)],
        trace=False,  # a message trace of thousands of calls would load the machine measured
    )
    sipp.start()

    config = Config()
    config.sip.bind_host = HOST
    config.sip.port = 0
    config.rtp.bind_host = HOST
    config.rtp.port_min, config.rtp.port_max = 20000, 39999
    config.rtp.realtime_priority = realtime
    config.rtp.pacer_process = not thread
    config, edge_pgid, carrier_pgid = await stream_path(transport, sipp, workdir, config, stack)
    telephony = SipTelephony(config)
    await telephony.start()
    message = synthetic_message(message_s)

    async def audio() -> Pcm:
        return message

    child = getattr(telephony.pacer, "pid", None)
    baseline_rss = rss_kb() + child_rss_kb(child)
    handles = []
    observers = [SetupObserver() for _ in range(calls)]
    edge_start, carrier_start = group_cpu_seconds(edge_pgid), group_cpu_seconds(carrier_pgid)
    started = time.monotonic()
    for i in range(calls):
        due = started + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        dial = DialSpec(i, "74990000000", f"7916{i:07d}", ContactKind.PHONE, 30.0, "")
        handles.append(telephony.place_call(dial, audio(), observers[i]))
    ramp = time.monotonic() - started
    report.placed_rate = calls / ramp if ramp > 0 else float(calls)

    # Window: all calls up (ramp done + a second to answer) until the first ones end.
    await asyncio.sleep(1.0)
    window = max(1.0, message_s - ramp - 2.0)
    stats = telephony.pacer_stats
    cpu0, t0 = cpu_seconds(child), time.monotonic()
    edge0, carrier0 = group_cpu_seconds(edge_pgid), group_cpu_seconds(carrier_pgid)
    busy0, packets0, ticks0, late0 = (
        stats.busy_seconds, stats.packets_sent, stats.ticks, stats.late_ticks
    )  # fmt: skip
    active0 = telephony.pacer.active_streams
    rss_full = rss_kb() + child_rss_kb(child)
    await asyncio.sleep(window)
    cpu1, t1 = cpu_seconds(child), time.monotonic()
    active1 = telephony.pacer.active_streams
    report.window_s = t1 - t0
    report.cpu_percent = 100.0 * (cpu1 - cpu0) / (t1 - t0)
    if edge_pgid is not None:
        report.edge_cpu_percent = 100.0 * (group_cpu_seconds(edge_pgid) - edge0) / (t1 - t0)
        report.carrier_cpu_percent = (
            100.0 * (group_cpu_seconds(carrier_pgid) - carrier0) / (t1 - t0)
        )
    report.active_in_window = (active0, active1)
    packets = stats.packets_sent - packets0
    report.us_per_packet = 1e6 * (stats.busy_seconds - busy0) / packets if packets else 0.0
    report.ticks = stats.ticks - ticks0
    report.late_ticks = stats.late_ticks - late0
    report.max_tick_ms = stats.max_tick_seconds * 1000
    report.rss_per_call_kb = (rss_full - baseline_rss) / max(1, active0)

    results: list[CallResult] = await asyncio.wait_for(
        asyncio.gather(*(h.result() for h in handles)), timeout=message_s + 90
    )
    for r in results:
        report.reasons[r.finish_reason.value] = report.reasons.get(r.finish_reason.value, 0) + 1
    delays = np.array([r.first_audio_delay for r in results if r.first_audio_delay is not None])
    if len(delays):
        report.first_audio_p50_ms = float(np.percentile(delays, 50) * 1000)
        report.first_audio_p99_ms = float(np.percentile(delays, 99) * 1000)
    report.edge_ms_per_call = 1000 * (group_cpu_seconds(edge_pgid) - edge_start) / calls
    report.carrier_ms_per_call = 1000 * (group_cpu_seconds(carrier_pgid) - carrier_start) / calls
    setups = np.array([o.setup for o in observers if o.setup is not None]) * 1000
    if len(setups):
        report.setup_p50_ms = float(np.percentile(setups, 50))
        report.setup_p99_ms = float(np.percentile(setups, 99))
    lags = np.array(telephony.pacer.recent_lags) * 1000
    if len(lags):
        report.lag_p99_ms = float(np.percentile(lags, 99))
        report.lag_max_ms = float(lags.max())
    await telephony.stop()
    await asyncio.sleep(1.0)  # let the last packets land
    parent.send("stop")
    report.receiver = parent.recv()
    receiver.join(5)
    try:
        report.sipp_exit = sipp.wait(30)
    except subprocess.TimeoutExpired:  # wait() has stopped it
        report.sipp_exit = None
    shutil.rmtree(workdir, ignore_errors=True)
    return report


def print_report(r: LevelReport) -> None:
    ok = r.reasons.get(FinishReason.SUCCESS_FINISH.value, 0)
    rx = r.receiver
    print(f"--- {r.calls} calls at {r.rate:g}/s (placed at {r.placed_rate:.1f}/s), "
          f"message {r.message_s:g} s, transport {r.transport}")  # fmt: skip
    print(f"  completed (success_finish): {ok}/{r.calls}   outcomes: {r.reasons}   "
          f"sipp exit: {r.sipp_exit}")  # fmt: skip
    low, high = r.active_in_window
    print(f"  CPU of vestnik (main process + pacer process) with {low}..{high} "
          f"streams up: {r.cpu_percent:.1f}% of one core over {r.window_s:.1f} s")  # fmt: skip
    print(f"  pacer: {r.us_per_packet:.1f} us/packet, late ticks {r.late_ticks}/{r.ticks}, "
          f"longest tick {r.max_tick_ms:.1f} ms; tick start lag over the whole run "
          f"p99 {r.lag_p99_ms:.1f} ms, max {r.lag_max_ms:.1f} ms")  # fmt: skip
    print(f"  sampled streams: {rx.get('streams')} streams, {rx.get('packets')} packets, "
          f"lost {rx.get('lost')}; gap p50 {rx.get('gap_p50', 0):.2f} ms, "
          f"p99 {rx.get('gap_p99', 0):.2f} ms, max {rx.get('gap_max', 0):.2f} ms")  # fmt: skip
    print(f"  200 OK -> first RTP: p50 {r.first_audio_p50_ms:.1f} ms, "
          f"p99 {r.first_audio_p99_ms:.1f} ms")  # fmt: skip
    print(f"  call setup (INVITE sent -> 200 OK): p50 {r.setup_p50_ms:.1f} ms, "
          f"p99 {r.setup_p99_ms:.1f} ms")  # fmt: skip
    if r.edge_cpu_percent is not None:
        print(f"  CPU of the SIP edge (Kamailio, all processes) while all calls are up: "
              f"{r.edge_cpu_percent:.1f}% of one core; of the carrier Kamailio: "
              f"{r.carrier_cpu_percent:.1f}%; over the whole run per call (INVITE to BYE): "
              f"edge {r.edge_ms_per_call:.2f} ms, "
              f"carrier {r.carrier_ms_per_call:.2f} ms")  # fmt: skip
    print(f"  RSS per active call: {r.rss_per_call_kb:.1f} KB "
          f"(message audio shared: {r.message_s * 8:.0f} KB once)")  # fmt: skip
    sys.stdout.flush()


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="*", default=[200, 1000, 2000])
    parser.add_argument("--rate", type=float, default=100.0, help="new calls per second")
    parser.add_argument("--message", type=float, default=0.0,
                        help="message seconds (default: max(20, ramp + 10))")  # fmt: skip
    parser.add_argument("--sample", type=int, default=10, help="watch every n-th call's RTP")
    parser.add_argument("--realtime", action="store_true", help="rtp.realtime_priority = true")
    parser.add_argument("--thread", action="store_true", help="rtp.pacer_process = false")
    parser.add_argument("--transport", choices=("udp", "tls", "tcp"), default="udp",
                        help="tls/tcp: through the SIP edge to a carrier Kamailio")  # fmt: skip
    args = parser.parse_args()
    raise_fd_limit()
    print(f"vestnik calls bench — {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, fd limit "
          f"{resource.getrlimit(resource.RLIMIT_NOFILE)[0]}")  # fmt: skip
    print(f"pacer: {'thread in the main process' if args.thread else 'child process'}, "
          f"real-time priority {'on' if args.realtime else 'off'}")  # fmt: skip
    for calls in args.calls:
        message = args.message or max(20.0, calls / args.rate + 10.0)
        report = asyncio.run(
            run_level(
                calls, args.rate, message, args.sample, args.realtime, args.thread, args.transport
            )
        )
        print_report(report)


if __name__ == "__main__":
    main()
