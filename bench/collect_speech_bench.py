"""Spoken replies under load: N concurrent ``collect_speech`` calls against SIPp callees that
say "да" after the message, heard by the real Whisper recogniser.

    .venv/bin/python bench/collect_speech_bench.py --calls 200 --ramp 2

One SIPp callee (``uas_answer_play.xml``) answers every call and plays RTP built by
``tests.support.callee_rtp``: silence with festival's "да" (``tests.support.voice``) ``--say-at``
seconds after the answer. vestnik dials it ``--calls`` times through ``SipTelephony`` (the pacer
in its child process, as in production), the calls placed evenly over ``--ramp`` seconds,
each with a message of ``--message`` seconds and ``collect_speech`` (intents yes: да,
подтверждаю; no: нет, отмена). The recogniser has ``--workers`` and ``--queue``: a reply beyond
both is reported as not recognised at once (saturation), so at 200 calls most replies are.
``--no-recognizer``: the same calls without a recogniser (every reply "" at once), the
baseline for the RTP timing.

Printed: the outgoing RTP (all our streams, captured on lo with dumpcap: inter-packet gap
p50/p99/max, lost packets; ``tests.support.rtp_capture``), end of speech → result latency
p50/p99 for recognised and for refused replies (the end of speech is the answer + where the
"да" ends in the callee's pcap; SIPp starts the pcap when our ACK arrives, a few ms after the
answer), intents right / wrong / not recognised, and CPU of vestnik's main process (event loop,
SIP, recognition threads) and of its pacer child, over the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
from tests.support.listen_calls import Outcome, call, callee, telephony  # noqa: E402
from tests.support.pcap import LoopbackCapture  # noqa: E402
from tests.support.rtp_capture import rtp_stats  # noqa: E402
from tests.support.telephony import tone  # noqa: E402
from tests.support.voice import said, speech_bounds  # noqa: E402

from vestnik.calls.options import CollectSpeech  # noqa: E402
from vestnik.calls.ports import Listen  # noqa: E402

INTENTS = (("yes", ("да", "подтверждаю")), ("no", ("нет", "отмена")))


def cpu_of(pid: int | None) -> float:
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentiles(values: list[float]) -> str:
    if not values:
        return "none"
    p50, p99 = np.percentile(values, [50, 99])
    return f"p50 {p50 * 1000:6.0f} ms  p99 {p99 * 1000:6.0f} ms  max {max(values) * 1000:6.0f} ms"


async def run(args: argparse.Namespace, workdir: Path) -> None:
    reply = said("да")
    speech_end = args.say_at + speech_bounds(reply)[1]
    sipp = callee(workdir / "sipp", [], seconds=args.say_at + 4.0, say=[(args.say_at, reply)],
                  calls=args.calls)  # fmt: skip
    speech_dir = None if args.no_recognizer else Path(args.data_dir)
    t = await telephony(sipp.port, speech_dir=speech_dir, workers=args.workers,
                        queue=args.queue)  # fmt: skip
    listen = Listen(collect_speech=CollectSpeech(args.timeout, "ru", INTENTS))
    pacer_pid = getattr(t.pacer, "pid", None)
    try:
        t.load_recognizer()
        await asyncio.sleep(2.0)  # the model is loaded (in the background)
        cpu0, pacer0, t0 = own_cpu(), cpu_of(pacer_pid), time.monotonic()
        with LoopbackCapture(workdir / "ours.pcap", f"udp dst port {sipp.media_port}") as cap:

            async def one(i: int) -> Outcome:
                await asyncio.sleep(args.ramp * i / args.calls)
                return await call(t, tone(args.message), listen, timeout=120)

            outcomes = await asyncio.gather(*(one(i) for i in range(args.calls)))
            await asyncio.sleep(0.2)
            cap.stop()
        cpu1, pacer1, t1 = own_cpu(), cpu_of(pacer_pid), time.monotonic()
        await asyncio.to_thread(sipp.wait, 30.0)
    finally:
        sipp.stop()
        await t.stop()
    report(args, outcomes, speech_end, workdir, (cpu1 - cpu0, pacer1 - pacer0, t1 - t0))


def report(
    args: argparse.Namespace,
    outcomes: list[Outcome],
    speech_end: float,
    workdir: Path,
    cpu: tuple[float, float, float],
) -> None:
    main_cpu, pacer_cpu, wall = cpu
    right = [o for o in outcomes if o.result.speech_intent == "yes"]
    refused = [o for o in outcomes if o.result.speech_reply == ""]
    wrong = [o for o in outcomes if o not in right and o not in refused]
    finishes: dict[str, int] = {}
    for o in outcomes:
        name = o.result.finish_reason.value
        finishes[name] = finishes.get(name, 0) + 1
    stats = rtp_stats(workdir / "ours.pcap")
    print(f"collect_speech bench: {args.calls} calls over {args.ramp:g} s, message "
          f"{args.message:g} s, 'да' ending {speech_end:.2f} s after the answer; recogniser "
          f"workers={args.workers} queue={args.queue}")  # fmt: skip
    print(f"  finish reasons: {finishes}")
    print(f"  replies: {len(right)} right (yes), {len(wrong)} wrong "
          f"{[o.result.speech_reply for o in wrong][:5]}, {len(refused)} not recognised "
          f"(saturated or late)")  # fmt: skip
    latency = [o.seconds - speech_end for o in right]
    print(f"  end of speech -> intent (recognised):   {percentiles(latency)}")
    print(f"  end of speech -> result (not recognised): "
          f"{percentiles([o.seconds - speech_end for o in refused])}")  # fmt: skip
    print(f"  our RTP: {stats.streams} streams, {stats.packets} packets, lost {stats.lost}, gap "
          f"p50 {stats.gap_p50_ms:.2f} / p99 {stats.gap_p99_ms:.2f} / p99.9 "
          f"{stats.gap_p999_ms:.2f} / max {stats.gap_max_ms:.2f} ms")  # fmt: skip
    print(f"  CPU over {wall:.1f} s: main process {main_cpu:.2f} s ({100 * main_cpu / wall:.0f} % "
          f"of a core; loop, SIP, recognition), pacer child {pacer_cpu:.2f} s "
          f"({100 * pacer_cpu / wall:.0f} %); {1000 * main_cpu / len(outcomes):.0f} ms of main "
          f"CPU per call, {main_cpu / max(1, len(right)):.2f} s per recognised reply")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds to place them in")
    parser.add_argument("--message", type=float, default=1.0, help="message seconds")
    parser.add_argument("--say-at", type=float, default=1.5, help="seconds after the answer")
    parser.add_argument("--timeout", type=float, default=5.0, help="collect_speech timeout")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--queue", type=int, default=8)
    parser.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "vestnik-speech"),
                        help="where the model is joined (kept between runs)")  # fmt: skip
    parser.add_argument("--no-recognizer", action="store_true",
                        help="baseline: the same calls and VAD, no reply recognised")  # fmt: skip
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vestnik-speech-bench-"))
    asyncio.run(run(args, workdir))


if __name__ == "__main__":
    main()
