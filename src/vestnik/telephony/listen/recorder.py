"""A call's recording (``record: true``): the callee's audio and ours, as one stereo WAV.

The call feeds :class:`CallRecorder` while it lasts: the callee's decoded frames on channel 0
at their place by RTP timestamp, ours on channel 1 at the times they were queued, both as
sample offsets from the moment of the answer. Each channel is a numpy int16 buffer that grows
in chunks of :data:`CHUNK_SAMPLES` as audio arrives, never beyond ``max_seconds``; what was
never written (lost packets, silence before the first packet, the end of the shorter channel)
is silence. Overlapping writes overwrite. :meth:`CallRecorder.recording` builds the file: WAV,
8 kHz, signed 16-bit PCM, 2 channels (channel 1 the callee, channel 2 ours), as long as the
longer channel.
"""

from __future__ import annotations

import io
import wave

import numpy as np

from vestnik.calls.audio import SAMPLE_RATE, Pcm
from vestnik.calls.ports import Recording

CALLEE, OURS = 0, 1
CHANNELS = 2
SAMPLE_WIDTH = 2  # bytes: signed 16-bit
CHUNK_SAMPLES = 10 * SAMPLE_RATE  # buffers grow by 10 s of audio at a time


class CallRecorder:
    """Both directions of one call, bounded to ``max_seconds`` from the answer."""

    def __init__(self, max_seconds: float) -> None:
        if max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, not {max_seconds!r}")
        self.max_samples = int(max_seconds * SAMPLE_RATE)
        self._buffers = [np.zeros(0, dtype=np.int16) for _ in range(CHANNELS)]
        self._lengths = [0] * CHANNELS  # samples up to the end of the last write
        self._added = False

    def add(self, channel: int, at_sample: int, pcm: Pcm) -> None:
        """Write ``pcm`` on ``channel`` (0 callee, 1 ours) from ``at_sample`` samples after
        the answer. Samples before the answer or past ``max_seconds`` are dropped."""
        if channel not in (CALLEE, OURS):
            raise ValueError(f"channel must be 0 (callee) or 1 (ours), not {channel!r}")
        start, data = at_sample, pcm
        if start < 0:
            data, start = data[-start:], 0
        end = min(start + len(data), self.max_samples)
        if end <= start:
            return
        buffer = self._reserve(channel, end)
        buffer[start:end] = data[: end - start]
        self._lengths[channel] = max(self._lengths[channel], end)
        self._added = True

    def _reserve(self, channel: int, samples: int) -> Pcm:
        buffer = self._buffers[channel]
        if len(buffer) < samples:
            size = min(-(-samples // CHUNK_SAMPLES) * CHUNK_SAMPLES, self.max_samples)
            grown = np.zeros(size, dtype=np.int16)
            grown[: len(buffer)] = buffer
            self._buffers[channel] = buffer = grown
        return buffer

    @property
    def samples(self) -> int:
        """The recording's length so far, in samples (the longer channel)."""
        return max(self._lengths)

    def recording(self) -> Recording | None:
        """The WAV of what was added, or None if nothing was."""
        if not self._added:
            return None
        length = self.samples
        frames = np.zeros((length, CHANNELS), dtype="<i2")
        for channel, buffer in enumerate(self._buffers):
            used = min(len(buffer), length)
            frames[:used, channel] = buffer[:used]
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            wav.setnchannels(CHANNELS)
            wav.setsampwidth(SAMPLE_WIDTH)
            wav.setframerate(SAMPLE_RATE)
            wav.writeframes(frames.tobytes())
        return Recording(out.getvalue(), round(length * 1000 / SAMPLE_RATE))
