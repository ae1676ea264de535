"""What the telephony tests share: an observer that records a call's progress, a test tone,
and message audio that is ready at once (or after a delay)."""

from __future__ import annotations

import asyncio

import numpy as np

from vestnik.calls.audio import Pcm


class RecordingObserver:
    """A ``CallObserver`` that keeps what it was told: ``names`` in order, each SIP Call-ID."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.call_ids: list[str] = []

    def on_dialing(self, sip_call_id: str) -> None:
        self.names.append("dialing")
        self.call_ids.append(sip_call_id)

    def on_ringing(self) -> None:
        self.names.append("ringing")

    def on_answered(self) -> None:
        self.names.append("answered")


def tone(seconds: float, hz: float = 440.0, level: float = 8000.0) -> Pcm:
    """A sine at 8 kHz; ``level=0`` gives silence."""
    t = np.arange(int(8000 * seconds)) / 8000
    return np.round(level * np.sin(2 * np.pi * hz * t)).astype(np.int16)


async def ready(pcm: Pcm, delay: float = 0.0) -> Pcm:
    """``pcm`` as the renderer hands it over, after ``delay`` seconds."""
    await asyncio.sleep(delay)
    return pcm
