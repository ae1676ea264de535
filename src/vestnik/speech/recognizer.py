"""``WhisperRecognizer``: the bounded recognition pool behind the ``SpeechRecognizer`` port.

Recognition runs in ``workers`` threads of its own (CTranslate2 releases the GIL while it
computes), never in the event loop's or the media path's threads. At most ``workers`` run and
``queue`` more wait; a reply beyond both, or one that waits past
``recognition_timeout_seconds``, is answered None (not recognised) at once: a burst of replies
never delays a call. Each outcome is counted in ``vestnik_speech_recognitions_total``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from vestnik.calls.audio import SAMPLE_RATE, Pcm
from vestnik.config import SpeechConfig
from vestnik.metrics import observe_speech_recognition
from vestnik.speech.model import ensure_model, model_path

log = logging.getLogger(__name__)

MODEL_RATE = 16_000  # Whisper's input rate


class WhisperRecognizer:
    def __init__(self, config: SpeechConfig, data_dir: Path) -> None:
        self._config = config
        self._dir = model_path(config.model_dir, data_dir)
        self._pool = ThreadPoolExecutor(config.workers, thread_name_prefix="vestnik-speech")
        self._slots = threading.BoundedSemaphore(config.workers + config.queue)
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._closed = False

    @property
    def model_dir(self) -> Path:
        return self._dir

    def load(self) -> None:
        """Join (first time) and load the model: blocking; recognitions call it as needed."""
        with self._load_lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                path = ensure_model(self._dir)
                self._model = WhisperModel(
                    str(path), device="cpu", compute_type="int8",
                    cpu_threads=self._config.cpu_threads, num_workers=self._config.workers,
                )  # fmt: skip

    def transcribe(self, pcm: Pcm, language: str) -> str:
        """What ``pcm`` (8 kHz int16) says: blocking, on the calling thread; "" for silence."""
        self.load()
        # A reply is cut at max_reply_seconds by the listener; a longer one handed here
        # directly is cut too, so one reply cannot hold a worker for long.
        pcm = pcm[: int(self._config.max_reply_seconds * SAMPLE_RATE)]
        if pcm.size == 0:
            return ""
        audio = soxr.resample(pcm.astype(np.float32) / 32768.0, SAMPLE_RATE, MODEL_RATE)
        segments, _info = self._model.transcribe(
            audio, language=language, beam_size=1, without_timestamps=True,
            condition_on_previous_text=False, vad_filter=False,
            # One pass: Whisper's fallback re-decodes at higher temperatures when it is unsure,
            # which on noise took over 10 s for 1.5 s of audio.
            temperature=0.0,
        )  # fmt: skip
        return " ".join(segment.text.strip() for segment in segments).strip()

    async def recognize(self, pcm: Pcm, language: str) -> str | None:
        if self._closed or not self._slots.acquire(blocking=False):
            observe_speech_recognition("saturated")
            log.warning("speech recognition saturated: a reply is reported as not recognised")
            return None
        try:
            future = asyncio.get_running_loop().run_in_executor(
                self._pool, self.transcribe, pcm, language
            )
        except RuntimeError:  # the pool is shut down: the service is stopping
            self._slots.release()
            observe_speech_recognition("saturated")
            return None
        # The slot is freed when the work ends, even after a timeout gave up waiting for it.
        future.add_done_callback(lambda _f: self._slots.release())
        try:
            text = await asyncio.wait_for(
                asyncio.shield(future), self._config.recognition_timeout_seconds
            )
        except TimeoutError:
            observe_speech_recognition("timeout")
            log.warning("speech recognition took too long: a reply is reported as not recognised")
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # our caller gave up: its cancellation goes on
            observe_speech_recognition("failed")  # the pool was shut down under the work
            return None
        except Exception:
            observe_speech_recognition("failed")
            log.exception("speech recognition failed")
        else:
            observe_speech_recognition("recognised")
            return text
        return None

    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
