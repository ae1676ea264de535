"""What one SIPp callee carries: the UAS of bench/e2e_bench.py driven by a SIPp caller.

    .venv/bin/python bench/sipp_capacity.py --rate 300 --calls 6000 --hold-seconds 20

SIPp's built-in ``uac`` scenario places ``--calls`` calls at ``--rate`` per second, each held
``--hold-seconds`` then hung up, against one SIPp running ``uas_bench.xml`` exactly as
bench/e2e_bench.py runs it (answers at once, waits for BYE, SDP pointing RTP at a bound
socket nobody reads; no RTP is sent here). Prints whether every call succeeded (the caller's
exit code) and the callee's CPU (user+system, /proc) per call and per second of the run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support.sipp import SippUas, run_sipp  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=300.0, help="new calls per second")
    parser.add_argument("--calls", type=int, default=6000)
    parser.add_argument("--hold-seconds", type=float, default=20.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vestnik-sipp-capacity-"))
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    injection = workdir / "media.csv"
    injection.write_text(f"SEQUENTIAL\n127.0.0.1;{sink.getsockname()[1]};\n")
    uas = SippUas("uas_bench.xml", workdir, calls=None, timeout=None, trace=False,
                  extra=["-inf", str(injection), "-buff_size", str(8 << 20)])  # fmt: skip
    uas.start()
    assert uas.process is not None
    try:
        cpu0, started = cpu_seconds(uas.process.pid), time.monotonic()
        caller = run_sipp(
            ["-sn", "uac", "-r", f"{args.rate:g}", "-m", str(args.calls),
             "-l", str(args.calls), "-d", str(int(args.hold_seconds * 1000)),
             "-i", "127.0.0.1", "-p", "0", "-nostdin", "-buff_size", str(8 << 20),
             f"127.0.0.1:{uas.port}"],
            timeout=args.calls / args.rate + args.hold_seconds + 120, workdir=workdir,
        )  # fmt: skip
        cpu, wall = cpu_seconds(uas.process.pid) - cpu0, time.monotonic() - started
    finally:
        uas.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, load average "
          f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}")  # fmt: skip
    verdict = "every call succeeded" if caller.returncode == 0 else "FAILED"
    print(f"{args.calls} calls at {args.rate:g}/s held {args.hold_seconds:g} s "
          f"(up to {int(min(args.calls, args.rate * args.hold_seconds))} at once): caller exit "
          f"{caller.returncode} ({verdict})")  # fmt: skip
    print(f"callee SIPp CPU {cpu:.2f} s over {wall:.1f} s: {1000 * cpu / args.calls:.3f} ms per "
          f"call, {100 * cpu / wall:.1f} % of one core")  # fmt: skip


if __name__ == "__main__":
    main()
