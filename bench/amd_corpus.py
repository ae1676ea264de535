"""A labelled set for answering-machine detection, of our own making (issue 12).

    .venv/bin/python bench/amd_corpus.py OUT_DIR [--seed 12] [--scale 1]

Writes ``OUT_DIR/<id>.wav`` (8 kHz mono 16-bit, after a G.711 round trip: what the detector
hears on a call) and ``OUT_DIR/labels.json``: for each sample its ``truth`` (human, machine,
silence, noise), ``split`` (train: the part the defaults were tuned on; test: held out),
``greeting_end_ms`` (machines: where the beep, or the greeting when there is none, ends) and
a description. The same seed gives the same set, byte for byte.

Voices: espeak-ng's Russian voice (the ``espeak-ng`` command line, 22.05 kHz, resampled to
8 kHz with soxr) with its variants, speeds and pitches. piper's Russian voice is not installed
on this machine (no model file), so every voice here is espeak-ng's. Held out: the variants in
``TEST_VARIANTS`` (never seen while tuning), and every other silence and noise sample.

Classes:
* human — a short answer ("Алло?", "Да, слушаю" …) after 0.2–1.2 s, then the person waits
  (silence with a faint line hiss); a third of them over background noise (-45…-30 dBFS);
* machine — a voicemail greeting ("Здравствуйте, вы позвонили …, оставьте сообщение после
  сигнала") after 0.1–0.8 s, then a beep (425–1400 Hz, 0.2–1.0 s) and the silence of a
  mailbox recording; a quarter of them with no beep;
* silence — digital silence or a faint hiss (-70…-60 dBFS);
* noise — white or pink noise (pink: in the telephone band, 200–3600 Hz) at -50…-20 dBFS.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.amd_audio import (
    human_answer,
    ms_of,
    noisy_line,
    quiet_line,
    to_line,
    voicemail,
)

from vestnik.calls.audio import SAMPLE_RATE, Pcm

TRAIN_VARIANTS = ("ru", "ru+m1", "ru+f2", "ru+m3", "ru+f4", "ru+klatt")
TEST_VARIANTS = ("ru+m7", "ru+f5", "ru+m5", "ru+f1")
HUMAN_TEXTS = (
    "Алло?",
    "Да, слушаю",
    "Алло, кто это?",
    "Да?",
    "Слушаю вас",
    "Алло, говорите",
    "Да, алло",
    "Алло, я слушаю",
)
MACHINE_TEXTS = (
    "Здравствуйте, вы позвонили Ивану Петрову. Оставьте сообщение после сигнала.",
    "Абонент не может ответить. Оставьте сообщение после звукового сигнала.",
    "Привет, это Маша. Я сейчас не могу подойти к телефону, оставьте сообщение после сигнала.",
    "Здравствуйте. Вы позвонили в компанию Вестник. Все операторы заняты. "
    "Оставьте ваше сообщение после сигнала, и мы перезвоним.",
    "Добрый день. Сейчас я не могу ответить. Пожалуйста, оставьте сообщение.",
    "Вы позвонили на автоответчик. Говорите после сигнала.",
)


@dataclass(frozen=True)
class Sample:
    id: str
    truth: str  # human | machine | silence | noise
    split: str  # train | test
    description: str
    duration_ms: int
    greeting_end_ms: int | None = None  # machines: the end of the beep (or greeting)


class Maker:
    """Builds the samples, each from its own seeded random state."""

    def __init__(self, out: Path, seed: int) -> None:
        self.out = out
        self.seed = seed
        self.samples: list[Sample] = []

    def _rngs(self, key: str) -> tuple[random.Random, np.random.Generator]:
        # A stable per-sample seed (str hashes are salted per process; this is not).
        value = self.seed * 1_000_003 + sum(ord(ch) * (i + 1) for i, ch in enumerate(key))
        return random.Random(value), np.random.default_rng(value)

    def _write(self, sample: Sample, signal: np.ndarray, law: str) -> None:
        pcm = to_line(signal, law)
        soundfile.write(str(self.out / f"{sample.id}.wav"), pcm, SAMPLE_RATE, subtype="PCM_16")
        self.samples.append(sample)

    def human(self, index: int, voice: str, text: str, noisy: bool, split: str) -> None:
        key = f"human-{index:03d}"
        rnd, rng = self._rngs(key)
        signal, note = human_answer(rnd, rng, voice, text, noisy)
        law = rnd.choice(("PCMA", "PCMU"))
        self._write(Sample(key, "human", split, f"{note}, {law}", ms_of(signal)), signal, law)

    def machine(self, index: int, voice: str, text: str, with_beep: bool, split: str) -> None:
        key = f"machine-{index:03d}"
        rnd, rng = self._rngs(key)
        signal, end, note = voicemail(rnd, rng, voice, text, with_beep)
        law = rnd.choice(("PCMA", "PCMU"))
        note = f"{text[:30]!r}… {note}, {law}"
        self._write(Sample(key, "machine", split, note, ms_of(signal), end), signal, law)

    def line(self, truth: str, index: int, split: str) -> None:
        key = f"{truth}-{index:03d}"
        rnd, rng = self._rngs(key)
        signal, note = (quiet_line if truth == "silence" else noisy_line)(rnd, rng, 7000)
        law = rnd.choice(("PCMA", "PCMU"))
        self._write(Sample(key, truth, split, f"{note}, {law}", 7000), signal, law)


def make_corpus(out: Path, seed: int = 12, scale: int = 1) -> list[Sample]:
    """Write the set into ``out`` (created); ``scale`` repeats each combination with new
    random choices."""
    out.mkdir(parents=True, exist_ok=True)
    maker = Maker(out, seed)
    voices = [(v, "train") for v in TRAIN_VARIANTS] + [(v, "test") for v in TEST_VARIANTS]
    h = m = 0
    for _ in range(scale):
        for vi, (voice, split) in enumerate(voices):
            for ti, text in enumerate(HUMAN_TEXTS):
                if (vi + ti) % 2 == 0:  # half the combinations, every text and voice
                    maker.human(h, voice, text, noisy=(h % 3 == 2), split=split)
                    h += 1
            for text in MACHINE_TEXTS:
                maker.machine(m, voice, text, with_beep=(m % 4 != 3), split=split)
                m += 1
    for i in range(12 * scale):
        maker.line("silence", i, "train" if i % 2 == 0 else "test")
    for i in range(24 * scale):
        maker.line("noise", i, "train" if i % 2 == 0 else "test")
    labels = [asdict(s) for s in maker.samples]
    (out / "labels.json").write_text(json.dumps(labels, ensure_ascii=False, indent=1) + "\n")
    return maker.samples


def load_corpus(folder: Path) -> list[tuple[Sample, Pcm]]:
    """The samples of a folder written by ``make_corpus``, with their audio."""
    labels = json.loads((folder / "labels.json").read_text())
    out = []
    for item in labels:
        sample = Sample(**item)
        data, _ = soundfile.read(str(folder / f"{sample.id}.wav"), dtype="int16")
        out.append((sample, np.asarray(data, dtype=np.int16)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--scale", type=int, default=1)
    args = parser.parse_args()
    samples = make_corpus(args.out, args.seed, args.scale)
    counts: dict[tuple[str, str], int] = {}
    for s in samples:
        counts[(s.truth, s.split)] = counts.get((s.truth, s.split), 0) + 1
    for (truth, split), n in sorted(counts.items()):
        print(f"{truth:8s} {split:5s} {n}")
    print(f"{len(samples)} samples in {args.out}")


if __name__ == "__main__":
    main()
