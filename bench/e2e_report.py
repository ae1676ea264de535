"""bench/e2e_bench.py's measurements and results: dumpcap's drop statistics, CPU from /proc,
the sessions read back from the database, the targets of issue 11 checked, the table."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from vestnik.store import create_db_engine
from vestnik.store.schema import call_sessions

# Issue 11's targets: the run they are meant for, and what each result must be.
TARGETS: dict[str, dict[str, Any]] = {
    "sqlite": {
        "rate": 300,
        "duration": 20,
        "message_seconds": 20,
        "workers": 1,
        "request_p99_ms": 50,
        "created_dial_p99_ms": 200,
        "gap_p99_ms": 25,
        "lost": 0,
    },
    "postgresql": {
        "rate": 200,
        "duration": 20,
        "message_seconds": 20,
        "workers": 2,
        "request_p99_ms": 100,
        "created_dial_p99_ms": 500,
        "gap_p99_ms": 25,
    },
}


def capture_drops(log: str) -> dict[str, int]:
    """dumpcap's closing statistics: received/dropped on the interface and the split of drops."""
    m = re.search(r"received/dropped on interface '[^']*': (\d+)/(\d+) \(pcap:(\d+)/dumpcap:(\d+)"
                  r"/flushed:(\d+)/ps_ifdrop:(\d+)\)", log)  # fmt: skip
    if m is None:
        return {"received": -1, "dropped": -1}
    names = ("received", "dropped", "pcap", "dumpcap", "flushed", "ps_ifdrop")
    return dict(zip(names, map(int, m.groups()), strict=True))


def cpu_seconds(pids: list[int], tree: bool) -> float:
    """User+system CPU of ``pids`` (with ``tree``: and of all their descendants), reaped
    children included, from /proc."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
            stats[int(entry)] = (int(fields[1]), ticks / os.sysconf("SC_CLK_TCK"))
    chosen = set(pids)
    while tree:
        more = {pid for pid, (ppid, _) in stats.items() if ppid in chosen} - chosen
        if not more:
            break
        chosen |= more
    return sum(stats[pid][1] for pid in chosen if pid in stats)


def _rows(db_url: str, where: Any) -> list[Any]:
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            columns = (call_sessions.c.id, call_sessions.c.state, call_sessions.c.finish_reason,
                       call_sessions.c.created_at, call_sessions.c.dial_at,
                       call_sessions.c.answer_at, call_sessions.c.end_at,
                       call_sessions.c.trunk)  # fmt: skip
            return list(conn.execute(sa.select(*columns).where(where)))
    finally:
        engine.dispose()


def answered(db_url: str, ids: list[int]) -> bool:
    rows = _rows(db_url, call_sessions.c.id.in_(ids))
    if any(r.state == "finished" and r.finish_reason != "success_finish" for r in rows):
        raise SystemExit(f"a warm-up call failed: {[tuple(r) for r in rows]}")
    return len(rows) == len(ids) and all(r.answer_at is not None for r in rows)


def wait_final(
    db_url: str, after_id: int, accepted: int, not_before: float, timeout: float
) -> list[Any]:
    """The sessions after ``after_id`` once all ``accepted`` are final (or at the timeout).
    Called when the last request is answered: no call can end within ``not_before`` seconds,
    so the database is not read while the calls are up."""
    deadline = time.monotonic() + timeout
    time.sleep(not_before)
    while True:
        rows = _rows(db_url, call_sessions.c.id > after_id)
        done = len(rows) >= accepted and all(r.state == "finished" for r in rows)
        if done or time.monotonic() > deadline:
            return rows
        time.sleep(1.0)


def percentiles_ms(values: list[float] | np.ndarray, points: tuple[float, ...]) -> list[float]:
    if len(values) == 0:
        return [float("nan")] * len(points)
    return [float(v) * 1000 for v in np.percentile(np.asarray(values), points)]


def session_results(rows: list[Any]) -> dict[str, Any]:
    reasons = Counter(str(r.finish_reason) for r in rows if r.state == "finished")
    unfinished = Counter(str(r.state) for r in rows if r.state != "finished")
    to_dial = [r.dial_at - r.created_at for r in rows if r.dial_at is not None]
    p50, p99 = percentiles_ms(to_dial, (50, 99))
    ends = [r.end_at for r in rows if r.end_at is not None]
    return {
        "count": len(rows),
        "finish_reasons": dict(reasons.most_common()),
        "trunks": dict(sorted(Counter(str(r.trunk) for r in rows).items())),
        "unfinished": dict(unfinished),
        "created_dial_p50_ms": p50,
        "created_dial_p99_ms": p99,
        "created_dial_max_ms": max(to_dial, default=float("nan")) * 1000,
        "first_created": min((r.created_at for r in rows), default=None),
        "last_end": max(ends, default=None),
    }


def check_targets(name: str, result: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """(criterion, met, measured) for target ``name``."""
    target, run = TARGETS[name], result["run"]
    req, ses, rtp = result["requests"], result["sessions"], result["rtp"]
    planned = int(target["rate"] * target["duration"])
    success = ses["finish_reasons"].get("success_finish", 0)
    checks = [
        ("run as the target specifies",
         all(run[k] == target[k] for k in ("rate", "duration", "message_seconds", "workers")),
         f"{run['rate']:g}/s for {run['duration']:g} s of {run['message_seconds']:g} s calls, "
         f"workers {run['workers']}"),
        (f"all {planned} calls success_finish", success == planned == req["sent"],
         f"{success} of {req['sent']} sent"),
        (f"request p99 < {target['request_p99_ms']} ms",
         req["p99_ms"] < target["request_p99_ms"], f"{req['p99_ms']:.1f} ms"),
        (f"created->dial p99 < {target['created_dial_p99_ms']} ms",
         ses["created_dial_p99_ms"] < target["created_dial_p99_ms"],
         f"{ses['created_dial_p99_ms']:.1f} ms"),
        (f"inter-packet p99 <= {target['gap_p99_ms']} ms",
         rtp["gap_p99_ms"] <= target["gap_p99_ms"], f"{rtp['gap_p99_ms']:.2f} ms"),
    ]  # fmt: skip
    if "lost" in target:
        checks.append(("0 sequence gaps", rtp["lost"] == 0, f"{rtp['lost']} lost"))
    return checks


def print_report(result: dict[str, Any]) -> None:
    run, req, ses = result["run"], result["requests"], result["sessions"]
    rtp, cap, cpu = result["rtp"], result["capture"], result["cpu"]
    print(f"vestnik full-stack bench — {run['date']}")
    print(f"machine: {run['machine']}, {run['cpus']} CPUs, load average before "
          f"{run['loadavg']}; database {run['database']}, workers {run['workers']}, "
          f"SIPp instances {run['sipp_instances']}")  # fmt: skip
    print(f"load: {run['rate']:g} start.informer_call/s for {run['duration']:g} s, message "
          f"{run['message_seconds']:g} s ({run['message']})")  # fmt: skip
    rows = [
        ("requests sent / accepted", f"{req['sent']} / {req['accepted']}"),
        ("request errors", str(req["errors"] or "none")),
        ("request latency p50 / p99 / max",
         f"{req['p50_ms']:.1f} / {req['p99_ms']:.1f} / {req['max_ms']:.1f} ms"),
        ("sessions (timed part)", str(ses["count"])),
        ("finish_reason", ", ".join(f"{k} {v}" for k, v in ses["finish_reasons"].items())),
        ("calls per trunk", ", ".join(f"{k} {v}" for k, v in ses["trunks"].items())),
        ("not final at the end", str(ses["unfinished"] or "none")),
        ("created->dial p50 / p99 / max", f"{ses['created_dial_p50_ms']:.1f} / "
         f"{ses['created_dial_p99_ms']:.1f} / {ses['created_dial_max_ms']:.1f} ms"),
        ("RTP streams / packets", f"{rtp['streams']} / {rtp['packets']} "
         f"(expected {rtp['expected_packets']})"),
        ("packets per stream min / max",
         f"{rtp['packets_per_stream_min']} / {rtp['packets_per_stream_max']}"),
        ("inter-packet p50 / p99 / p99.9 / max", f"{rtp['gap_p50_ms']:.2f} / "
         f"{rtp['gap_p99_ms']:.2f} / {rtp['gap_p999_ms']:.2f} / {rtp['gap_max_ms']:.2f} ms"),
        ("sequence: lost / duplicated / reordered",
         f"{rtp['lost']} / {rtp['duplicated']} / {rtp['reordered']} "
         f"({rtp['streams_with_loss']} streams with loss)"),
        ("ICMP in the capture", str(rtp["icmp"])),
        ("capture received / dropped", f"{cap['received']} / {cap['dropped']} "
         f"(pcap {cap.get('pcap')}, dumpcap {cap.get('dumpcap')}, "
         f"ps_ifdrop {cap.get('ps_ifdrop')}); file {cap['file_mb']:.0f} MB"),
        ("CPU vestnik (process tree)", f"{cpu['vestnik_s']:.1f} s = "
         f"{cpu['vestnik_ms_per_call']:.2f} ms per call; {cpu['vestnik_cores']:.2f} cores "
         f"over {cpu['window_s']:.1f} s"),
        ("CPU SIPp / dumpcap / client", f"{cpu['sipp_s']:.1f} / {cpu['dumpcap_s']:.1f} / "
         f"{cpu['client_s']:.1f} s (SIPp {cpu['sipp_ms_per_call']:.2f} ms per call)"),
        ("analysis (pcap parse)", f"{result['analysis_s']:.1f} s"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    for target, checks in result.get("targets", {}).items():
        print(f"target {target}:")
        for criterion, met, measured in checks:
            print(f"  {'met   ' if met else 'MISSED'}  {criterion}: {measured}")
