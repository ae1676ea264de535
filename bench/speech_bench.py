"""The reply recogniser alone: throughput per core, latency, CPU per reply, model memory.

    PYTHONPATH=src .venv/bin/python bench/speech_bench.py [--replies N]

Replies are festival-made (``да``, ``нет``, ``подтверждаю``, ``отмена`` and a sentence),
conformed to 8 kHz and sent through G.711 A-law and back, as a callee's phone would. Each
recognition goes through :meth:`WhisperRecognizer.recognize` (the pool a call uses) followed
by ``match_intent``: the latency is from the reply's end (handed to the recogniser) to its
intent. Throughput runs ``workers`` recognitions at once with ``cpu_threads = 1`` each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from pathlib import Path

from vestnik.calls.audio import Pcm
from vestnik.calls.intents import match_intent
from vestnik.config import SpeechConfig
from vestnik.media.level import conform
from vestnik.media.tts.festival import FestivalEngine
from vestnik.speech.model import ensure_model
from vestnik.speech.recognizer import WhisperRecognizer
from vestnik.telephony.rtp.g711 import PCMA

WORDS = ["да", "нет", "подтверждаю", "отмена"]
SENTENCE = "Да, я подтверждаю заказ, привезите его завтра после обеда."
INTENTS = (("yes", ("да", "подтверждаю")), ("no", ("нет", "отмена")))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def replies() -> dict[str, Pcm]:
    festival = FestivalEngine(processes=1)
    out = {}
    for text in [*WORDS, SENTENCE]:
        speech = festival.synthesize(text)
        out[text] = PCMA.decode(PCMA.encode(conform(speech.samples, speech.sample_rate)))
    festival.close()
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def latencies(asr: WhisperRecognizer, pcms: list[Pcm]) -> list[float]:
    """One at a time on an idle pool: reply handed over → intent known."""
    out = []
    for pcm in pcms:
        t0 = time.perf_counter()
        text = await asr.recognize(pcm, "ru")
        match_intent(text or "", INTENTS)
        out.append(time.perf_counter() - t0)
    return out


async def throughput(asr: WhisperRecognizer, pcms: list[Pcm]) -> tuple[float, float, int]:
    """(replies per second, CPU seconds per reply, replies not recognised) for all at once."""
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    texts = await asyncio.gather(*(asr.recognize(pcm, "ru") for pcm in pcms))
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    return len(pcms) / wall, cpu / len(pcms), sum(t is None for t in texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=24, help="replies per measurement")
    args = parser.parse_args()
    audio = replies()
    words = [audio[WORDS[i % len(WORDS)]] for i in range(args.replies)]
    sentences = [audio[SENTENCE]] * max(4, args.replies // 3)
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()}")
    print(f"reply lengths: words {[round(audio[w].size / 8000, 2) for w in WORDS]} s, "
          f"sentence {audio[SENTENCE].size / 8000:.2f} s")  # fmt: skip
    with tempfile.TemporaryDirectory() as data:
        model = ensure_model(Path(data) / "model")  # joined outside the measurement
        print("| measure | value |\n|---|---|")
        for workers in (1, 2):
            config = SpeechConfig(
                workers=workers, queue=args.replies, cpu_threads=1, model_dir=str(model),
                recognition_timeout_seconds=120.0,
            )  # fmt: skip
            asr = WhisperRecognizer(config, Path(data))
            before = rss_mb()
            t0 = time.perf_counter()
            asr.load()
            if workers == 1:
                print(f"| model load | {time.perf_counter() - t0:.2f} s |")
                print(f"| RSS before / after load | {before:.0f} / {rss_mb():.0f} MB "
                      f"(+{rss_mb() - before:.0f} MB) |")  # fmt: skip
                asyncio.run(latencies(asr, words[:2]))  # warm-up
                lat = asyncio.run(latencies(asr, words))
                print(f"| one-word reply → intent, p50 / p99 | {percentile(lat, 50) * 1e3:.0f}"
                      f" / {percentile(lat, 99) * 1e3:.0f} ms |")  # fmt: skip
                lat = asyncio.run(latencies(asr, sentences))
                print(f"| sentence reply → intent, p50 / p99 | {percentile(lat, 50) * 1e3:.0f}"
                      f" / {percentile(lat, 99) * 1e3:.0f} ms |")  # fmt: skip
            if workers == 1:
                print(f"| RSS after {len(words) + len(sentences) + 2} recognitions | "
                      f"{rss_mb():.0f} MB |")  # fmt: skip
            rate, cpu, missed = asyncio.run(throughput(asr, words))
            print(f"| one-word replies/s, workers={workers}, cpu_threads=1 | {rate:.2f} "
                  f"({rate / workers:.2f} per core), CPU {cpu:.2f} s/reply, "
                  f"{missed} not recognised |")  # fmt: skip
            asr.close()
        print(f"| load average after | {os.getloadavg()} |")


if __name__ == "__main__":
    main()
