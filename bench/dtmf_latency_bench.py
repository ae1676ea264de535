"""DTMF detection latency: from the callee's key press on the wire to ``dtmf_reply`` known.

    .venv/bin/python bench/dtmf_latency_bench.py --calls 30

For each mode (RFC 4733 events; in-band tones from a callee without telephone-event) one SIPp
callee answers ``--calls`` calls in turn and plays RTP built by ``tests.support.callee_rtp``:
silence with one press of "1" (100 ms) ``--press-at`` seconds in. vestnik dials it through
``SipTelephony`` (the pacer in its child process, as in production) with
``collect_dtmf = {max_digits: 1}``, a message of 0.5 s, so the press ends the call.

The press's time is the kernel's timestamp (dumpcap on lo) of its first packet as it went to
vestnik: the first telephone-event packet, or the first audio packet carrying the tone. The
reply's time is when the call's ``CallResult`` (with ``dtmf_reply``) was in the caller's hands
(``time.time()``, the same clock). Prints min / median / p95 / max in milliseconds per mode.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
from tests.support.callee_rtp import Press  # noqa: E402
from tests.support.listen_calls import call, callee, telephony  # noqa: E402
from tests.support.pcap import LoopbackCapture, read_rtp  # noqa: E402
from tests.support.telephony import tone  # noqa: E402

from vestnik.calls.options import CollectDtmf  # noqa: E402
from vestnik.calls.ports import Listen  # noqa: E402
from vestnik.telephony.rtp.g711 import PCMA  # noqa: E402

SILENCE = bytes([PCMA.silence]) * 160


def press_times(pcap: Path, inband: bool) -> list[float]:
    """The wall-clock time of each press's first packet, in order."""
    times: list[float] = []
    last = -1.0
    for p in read_rtp(pcap):
        if inband:
            first = p.payload_type == PCMA.payload_type and p.payload != SILENCE
        else:
            first = p.payload_type == 101 and p.marker
        if first and p.time - last > 0.5:  # a new press (one per call)
            times.append(p.time)
        if first:
            last = p.time
    return times


async def run_mode(workdir: Path, calls: int, press_at: float, inband: bool) -> list[float]:
    sipp = callee(
        workdir, [Press(press_at, "1")], seconds=press_at + 1.0, inband=inband,
        events=not inband, calls=calls,
    )  # fmt: skip
    t = await telephony(sipp.port)
    listen = Listen(collect_dtmf=CollectDtmf(max_digits=1, timeout=5, finish_on="#"))
    replies: list[float] = []
    capture_file = workdir / "press.pcap"
    try:
        with LoopbackCapture(capture_file, f"udp src port {sipp.media_port}") as capture:
            for _ in range(calls):
                outcome = await call(t, tone(0.5), listen)
                replies.append(time.time())
                if outcome.result.dtmf_reply != "1":
                    raise SystemExit(f"wrong reply: {outcome.result}")
                await asyncio.sleep(0.3)  # SIPp's pcap of this call is over
            await asyncio.sleep(0.3)
            capture.stop()
    finally:
        sipp.stop()
        await t.stop()
    presses = press_times(capture_file, inband)
    if len(presses) != calls:
        raise SystemExit(f"{len(presses)} presses captured for {calls} calls")
    return [(reply - press) * 1000 for press, reply in zip(presses, replies, strict=True)]


def report(name: str, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(
        f"{name:10s} n={len(ordered):3d}  min {ordered[0]:6.1f}  median "
        f"{statistics.median(ordered):6.1f}  p95 {p95:6.1f}  max {ordered[-1]:6.1f}  (ms)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=30, help="calls per mode")
    parser.add_argument("--press-at", type=float, default=1.0, help="seconds after the answer")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vestnik-dtmf-latency-"))
    results = {}
    for name, inband in (("rfc4733", False), ("in-band", True)):
        results[name] = await run_mode(workdir / name, args.calls, args.press_at, inband)
    print(f"DTMF press -> dtmf_reply known, {args.calls} calls per mode, loopback")
    for name, latencies in results.items():
        report(name, latencies)


if __name__ == "__main__":
    asyncio.run(main())
