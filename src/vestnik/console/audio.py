"""Audio the console's players fetch: 16-bit mono PCM at the call rate, as a WAV answer."""

from __future__ import annotations

import io
import wave

from starlette.responses import Response

from vestnik.calls.audio import SAMPLE_RATE


def wav_bytes(pcm: bytes) -> bytes:
    """``pcm`` (16-bit little-endian mono at ``SAMPLE_RATE``) in a WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm)
    return out.getvalue()


def wav_response(body: bytes, name: str) -> Response:
    """A WAV file (already encoded) for an ``<audio>`` player, named for a download."""
    headers = {"Content-Disposition": f'inline; filename="{name}"'}
    return Response(body, media_type="audio/wav", headers=headers)
