"""Message audio as every part of vestnik passes it: mono signed 16-bit PCM at 8 kHz."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 8000
# Identical messages share one (read-only) array: never write into it.
Pcm = npt.NDArray[np.int16]

__all__ = ["SAMPLE_RATE", "Pcm"]
