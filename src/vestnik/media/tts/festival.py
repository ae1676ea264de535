"""festival (Debian ``festival`` + ``festvox-ru``) through long-lived ``festival -i`` processes.

Loading festival and its Russian voice takes ~0.5 s, a sentence ~0.15 s: a process per message
(``text2wave``) would spend most of its time starting, so each engine keeps up to ``processes``
festival processes and hands one to each synthesis (measured in docs/benchmarks.md). A
request is written to the process's stdin with a sentinel after it; festival answers on
stdout, the audio goes to a WAV file of the process's own. No answer within ``timeout``: the
process is killed (the next synthesis starts a new one) and the synthesis fails.

festival gives up on a whole utterance when one token holds a character its letter-to-sound
rules lack (``14:30``, ``№``, ``«``, ``—``, ``/``, ``@`` …): it prints ``LTS_Ruleset … no rule
matches`` and writes no audio. :func:`speakable` removes all of those from the (already
normalised) text, so any text either speaks or fails with a TtsError naming why.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import subprocess
import tempfile
import threading
import time
import wave
import weakref
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from num2words import num2words

from vestnik.media.tts.base import Speech, TtsError

DEFAULT_VOICE = "msu_ru_nsh_clunits"  # Debian festvox-ru
DEFAULT_PROCESSES = 1  # each holds ~490 MB: the Russian voice's unit database
DEFAULT_TIMEOUT = 30.0  # seconds for one synthesis (4000 characters take ~3 s)
START_TIMEOUT = 30.0  # seconds for festival to start and load the voice (~0.5 s)
INSTALL_HINT = "install the Debian packages festival and festvox-ru"
SENTINEL = "VESTNIK-FESTIVAL-DONE"
# What festival prints when it could not make the utterance.
_FAILURE = re.compile(r"LTS_Ruleset|SIOD ERROR|no rule matches|unbound variable|Error", re.I)

# Symbols the normaliser may leave: said as words (festival's rules know none of them).
_SYMBOL_WORDS = {
    "№": " номер ", "%": " процентов ", "@": " собака ", "&": " и ", "+": " плюс ",
    "=": " равно ", "#": " решётка ", "*": " звёздочка ", "$": " долларов ", "€": " евро ",
    "₽": " рублей ", "§": " параграф ", "°": " градусов ", "<": " меньше ", ">": " больше ",
}  # fmt: skip
_DASHES = re.compile(r"\s*[\u2010-\u2015\u2212]+\s*|\s+-+\s*|\s*-+\s+|-{2,}|^-+|-+$")
_PAUSES = re.compile(r"[\u2026;:()\[\]{}]")  # kept as phrase breaks
_DIGITS = re.compile(r"\d+")
_SPLIT_PUNCTUATION = re.compile(r"([.,!?])(?=[^\s.,!?])")
# Everything festival's Russian voice can read: letters (Latin letter by letter), hyphens
# inside words, and the punctuation its tokenizer strips from word edges.
_UNSAYABLE = re.compile(r"[^а-яёА-ЯЁa-zA-Z\-.,!?+ ]")
_SILENT_WORD = re.compile(r"(?<!\S)[ъьЪЬ\-.,!?]+(?!\S)")
_LETTER = re.compile(r"[а-яёА-ЯЁa-zA-Z]")
_STRESS = re.compile(r"(?<=[а-яёА-ЯЁ][аеёиоуыэюяАЕЁИОУЫЭЮЯ])\+(?=[а-яёА-ЯЁ])")
_STRESS_MARK = "\x00"  # stands for a kept stress mark while "+" becomes "плюс"


def _digit_words(match: re.Match[str]) -> str:
    digits = match[0]
    if len(digits) > 12:  # nobody says such a number: digit by digit
        return " " + " ".join(str(num2words(int(d), lang="ru")) for d in digits) + " "
    return f" {num2words(int(digits), lang='ru')} "


def speakable(text: str) -> str:
    """Normalised text made readable by festival: symbols in words, digits spelled, dashes
    as pauses, punctuation detached, any other character dropped; "" when nothing is left.
    A ``+`` inside a Russian word after a vowel is festival's stress mark and stays
    (``отме+на``: festival's own guess stresses the first syllable)."""
    text = _STRESS.sub(_STRESS_MARK, text.replace(_STRESS_MARK, " "))
    for symbol, words in _SYMBOL_WORDS.items():
        text = text.replace(symbol, words)
    text = text.replace(_STRESS_MARK, "+")
    text = _DIGITS.sub(_digit_words, text)
    text = _PAUSES.sub(",", text)
    text = _DASHES.sub(", ", text)
    text = _UNSAYABLE.sub(" ", text)
    text = _SPLIT_PUNCTUATION.sub(r"\1 ", text)
    text = re.sub(r"\s+([.,!?])", r"\1", text)
    text = re.sub(r"([.,!?])[.,!?]+", r"\1", text)
    text = _SILENT_WORD.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip(" ,")
    return text if _LETTER.search(text) else ""


class _Process:
    """One ``festival -i`` with the voice selected; used by one synthesis at a time."""

    def __init__(self, voice: str, workdir: Path) -> None:
        self.wav = workdir / f"{id(self)}.wav"
        try:
            self.proc = subprocess.Popen(
                ["festival", "-i"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                cwd=workdir, start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            raise TtsError(f"festival cannot start: {exc} ({INSTALL_HINT})") from exc
        output = self.run(f"(voice_{voice})", START_TIMEOUT)
        if _FAILURE.search(output) or voice not in output:
            self.kill()
            raise TtsError(f"festival has no voice {voice!r}: {output.strip()[-200:]}")

    def run(self, command: str, timeout: float) -> str:
        """``command``'s output; kills the process and raises TtsError when it does not end."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(f'{command}\n(format t "{SENTINEL}\\n")\n'.encode())
            self.proc.stdin.flush()
        except OSError as exc:
            self.kill()
            raise TtsError(f"festival exited: {exc}") from exc
        out = b""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while SENTINEL.encode() not in out:
            left = deadline - time.monotonic()
            ready = select.select([fd], [], [], max(0.0, left))[0] if left > 0 else []
            if not ready:
                self.kill()
                raise TtsError(f"festival did not answer within {timeout:g} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                self.kill()
                raise TtsError(f"festival exited: {out.decode(errors='replace')[-200:]}")
            out += chunk
        return out.decode(errors="replace")

    def synthesize(self, text: str, timeout: float) -> Speech:
        self.wav.unlink(missing_ok=True)
        quoted = text.replace("\\", " ").replace('"', " ")
        output = self.run(
            f'(utt.save.wave (utt.synth (Utterance Text "{quoted}")) "{self.wav}" \'riff)', timeout
        )
        if _FAILURE.search(output) or not self.wav.is_file():
            detail = " ".join(output.replace(SENTINEL, "").split())[:200]
            raise TtsError(f"festival could not say the text: {detail}")
        with wave.open(str(self.wav), "rb") as w:
            rate, raw = w.getframerate(), w.readframes(w.getnframes())
        self.wav.unlink(missing_ok=True)
        return Speech(samples=np.frombuffer(raw, dtype="<i2").astype(np.int16), sample_rate=rate)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()


def _stop_all(processes: list[_Process], workdir: str) -> None:
    for process in processes:
        process.kill()
    shutil.rmtree(workdir, ignore_errors=True)


def festival_version() -> str:
    """festival's version (``2.5.0``); TtsError when it is not installed."""
    binary = shutil.which("festival")
    if binary is None:
        raise TtsError(f"festival is not installed ({INSTALL_HINT})")
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TtsError(f"festival cannot run: {exc}") from exc
    match = re.search(r"(\d+\.\d+(?:\.\d+)?)", out.stdout + out.stderr)
    return match.group(1) if match else "unknown"


class FestivalEngine:
    """festival voice ``voice`` (Russian ``msu_ru_nsh_clunits``) in up to ``processes``
    festival processes, each synthesis bounded by ``timeout`` seconds."""

    def __init__(
        self,
        voice: str = DEFAULT_VOICE,
        *,
        processes: int = DEFAULT_PROCESSES,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_]+", voice):
            raise TtsError(f"festival voice name {voice!r} is not a voice name")
        self._version = festival_version()
        self._voice = voice
        self._timeout = timeout
        self._workdir = tempfile.mkdtemp(prefix="vestnik-festival-")
        self._idle: list[_Process] = []
        self._all: list[_Process] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max(1, processes))
        self._finalizer = weakref.finalize(self, _stop_all, self._all, self._workdir)
        # Fail now, not at the first call, on a missing voice; the process is kept.
        self._release(self._start())

    @property
    def name(self) -> str:
        return "festival"

    @property
    def version(self) -> str:
        return self._version

    @property
    def voice(self) -> str:
        return self._voice

    @property
    def language(self) -> str:
        return "ru" if "_ru_" in f"_{self._voice}_" else "en"

    @property
    def params(self) -> Mapping[str, object]:
        return {"pass": "speakable-v2"}  # changes to :func:`speakable` change the audio

    def _start(self) -> _Process:
        process = _Process(self._voice, Path(self._workdir))
        with self._lock:
            self._all.append(process)
        return process

    def _release(self, process: _Process) -> None:
        with self._lock:
            if process.alive:
                self._idle.append(process)
            elif process in self._all:
                self._all.remove(process)

    def synthesize(self, text: str) -> Speech:
        said = speakable(text)
        if not said:
            raise TtsError("the text has nothing festival can say (no letters or numbers)")
        if not self._slots.acquire(timeout=self._timeout):
            raise TtsError(f"festival was busy for {self._timeout:g} s")
        try:
            with self._lock:
                process = self._idle.pop() if self._idle else None
            if process is None:
                process = self._start()
            try:
                speech = process.synthesize(said, self._timeout)
            finally:
                self._release(process)
        finally:
            self._slots.release()
        if speech.samples.size == 0:
            raise TtsError("festival produced no audio for the text")
        return speech

    def close(self) -> None:
        """Stop the festival processes (also done when the engine is collected)."""
        self._finalizer()
