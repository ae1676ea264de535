"""Answering-machine detection on our labelled set: the confusion table, the time to a verdict
and where the message would start after a machine's greeting (issue 12).

    .venv/bin/python bench/amd_bench.py [--corpus DIR] [--scale N] [--tune] [--asterisk]

Makes the set with ``bench/amd_corpus.py`` (into a temporary folder unless ``--corpus`` names
one), feeds each sample to ``MachineDetector`` and ``GreetingEnd`` in 20 ms frames as a call
would, and prints, for the held-out part (``test``) and the tuning part (``train``): the
confusion table (rows: the truth; columns: the verdict), the time to the verdict (median and
p90 per class), and GreetingEnd's error on machines: when the message would start minus the
true end of the beep (or of the greeting when it has none); negative = the message would
start before the greeting is over. ``--asterisk`` runs Asterisk's AMD() defaults instead of
ours; ``--tune`` searches a grid of parameters on the ``train`` part only and prints the best.

The verdict expected for silence and noise is ``unknown`` (nobody spoke).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import statistics
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from amd_corpus import Sample, load_corpus, make_corpus
from vestnik.calls.audio import Pcm
from vestnik.config.settings import AmdConfig
from vestnik.telephony.listen.amd import FRAME_SAMPLES, GreetingEnd, MachineDetector

TRUTHS = ("human", "machine", "silence", "noise")
VERDICTS = ("human", "machine", "unknown")
EXPECTED = {"human": "human", "machine": "machine", "silence": "unknown", "noise": "unknown"}
# Asterisk's AMD() defaults (amd.conf.sample), with our noise gate off.
ASTERISK = AmdConfig(
    initial_silence_ms=2500, greeting_ms=1500, after_greeting_silence_ms=800,
    total_analysis_ms=5000, min_word_length_ms=100, between_words_silence_ms=50,
    max_words=2, max_word_length_ms=5000, silence_threshold=256, noise_ratio=0.0,
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Outcome:
    sample: Sample
    verdict: str
    verdict_ms: int
    reason: str
    message_at_ms: int | None  # GreetingEnd's answer (machines only)


def frames(pcm: Pcm) -> list[Pcm]:
    count = len(pcm) // FRAME_SAMPLES
    return [pcm[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES] for i in range(count)]


def run_one(config: AmdConfig, sample: Sample, pcm: Pcm) -> Outcome:
    detector = MachineDetector(config)
    ending = GreetingEnd(config) if sample.truth == "machine" else None
    for frame in frames(pcm):
        detector.feed(frame)
        if ending is not None:
            ending.feed(frame)
        if detector.verdict is not None and (ending is None or ending.done):
            break
    verdict = detector.verdict
    assert verdict is not None and detector.decided_at_ms is not None, sample.id
    return Outcome(
        sample,
        verdict.value,
        detector.decided_at_ms,
        detector.reason or "",
        None if ending is None else ending.done_at_ms,
    )


def run(config: AmdConfig, corpus: list[tuple[Sample, Pcm]]) -> list[Outcome]:
    return [run_one(config, sample, pcm) for sample, pcm in corpus]


def accuracy(outcomes: list[Outcome]) -> float:
    right = sum(1 for o in outcomes if o.verdict == EXPECTED[o.sample.truth])
    return right / len(outcomes) if outcomes else 0.0


def pctl(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def report(title: str, outcomes: list[Outcome]) -> None:
    print(f"\n### {title}: {len(outcomes)} samples, {accuracy(outcomes):.1%} as expected\n")
    print("| truth \\ verdict | " + " | ".join(VERDICTS) + " | time to verdict, median / p90 |")
    print("|---|" + "---:|" * (len(VERDICTS) + 1))
    for truth in TRUTHS:
        rows = [o for o in outcomes if o.sample.truth == truth]
        if not rows:
            continue
        counts = Counter(o.verdict for o in rows)
        times = [o.verdict_ms / 1000 for o in rows]
        cells = " | ".join(str(counts.get(v, 0)) for v in VERDICTS)
        print(f"| {truth} ({len(rows)}) | {cells} | "
              f"{statistics.median(times):.2f} s / {pctl(times, 90):.2f} s |")  # fmt: skip
    machines = [o for o in outcomes if o.sample.truth == "machine" and o.message_at_ms is not None]
    for beep in (True, False):
        group = [o for o in machines if ("no beep" in o.sample.description) != beep]
        if not group:
            continue
        errors = [((o.message_at_ms or 0) - (o.sample.greeting_end_ms or 0)) / 1000 for o in group]
        early = sum(1 for e in errors if e < 0)
        label = "after a beep" if beep else "no beep"
        print(f"\nGreetingEnd, {label} ({len(group)}): message start − true end: median "
              f"{statistics.median(errors):+.2f} s, min {min(errors):+.2f} s, max "
              f"{max(errors):+.2f} s; started early {early}")  # fmt: skip
    wrong = [o for o in outcomes if o.verdict != EXPECTED[o.sample.truth]]
    if wrong:
        print("\nMisjudged:")
        for o in wrong:
            print(f"- {o.sample.id} ({o.sample.description}): {o.verdict} by {o.reason} at "
                  f"{o.verdict_ms / 1000:.2f} s")  # fmt: skip


GRID = {
    "greeting_ms": (1500, 2000),
    "after_greeting_silence_ms": (800, 1000),
    "max_words": (2, 3, 4),
    "between_words_silence_ms": (50, 80),
    "noise_ratio": (2.0, 3.0),
}


def tune(corpus: list[tuple[Sample, Pcm]]) -> AmdConfig:
    """The grid point with the most train samples as expected (ties: the faster verdicts)."""
    train = [(s, p) for s, p in corpus if s.split == "train"]
    best: tuple[float, float, AmdConfig] | None = None
    keys = list(GRID)
    for values in itertools.product(*(GRID[k] for k in keys)):
        config = dataclasses.replace(AmdConfig(), **dict(zip(keys, values, strict=True)))
        outcomes = [run_one(config, s, p) for s, p in train]
        score = accuracy(outcomes)
        speed = -statistics.mean(o.verdict_ms for o in outcomes)
        if best is None or (score, speed) > best[:2]:
            best = (score, speed, config)
    assert best is not None
    print(f"best on train: {best[0]:.1%}, " + ", ".join(
        f"{k}={getattr(best[2], k)}" for k in keys))  # fmt: skip
    return best[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="use (or make) the set in this folder")
    parser.add_argument("--scale", type=int, default=2, help="amd_corpus.py --scale")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--tune", action="store_true", help="grid-search on the train part")
    parser.add_argument("--asterisk", action="store_true", help="Asterisk's defaults")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.corpus or Path(tmp)
        if not (folder / "labels.json").exists():
            make_corpus(folder, args.seed, args.scale)
        corpus = load_corpus(folder)
    config = ASTERISK if args.asterisk else AmdConfig()
    if args.tune:
        config = tune(corpus)
    print(f"config: {config}")
    outcomes = run(config, corpus)
    report("held out (test)", [o for o in outcomes if o.sample.split == "test"])
    report("tuning part (train)", [o for o in outcomes if o.sample.split == "train"])


if __name__ == "__main__":
    main()
