"""A call's audio in the console, scoped like its detail page (another account's call or an
unknown id: 404): the last recording (``recording.wav``) and the message as the dialer renders
it (``message.wav``, rendered on demand by the service's own renderer, the dialer's; in a
process without a dialer, by one built from the config as ``serve`` builds it)."""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vestnik.calls import MessageType
from vestnik.calls.audio import Pcm
from vestnik.calls.ports import MessageSpec, RenderError
from vestnik.console.audio import wav_bytes, wav_response
from vestnik.console.context import Console, console_of, viewer_of, visible_accounts
from vestnik.media.render import AudioRenderer
from vestnik.store.console_calls import find_call
from vestnik.store.db import Connection
from vestnik.store.recordings import find_recording

RENDER_SECONDS = 60.0  # a first TTS render loads the engine: generous, but bounded
RENDERS_AT_ONCE = 2  # the console must not take the dialer's CPU


class _MessageAudio:
    """The service's renderer (or one made at the first request); at most RENDERS_AT_ONCE
    renders at once."""

    def __init__(self, console: Console) -> None:
        self.renderer = console.renderer or AudioRenderer(console.config, console.engine)
        self.slots = asyncio.Semaphore(RENDERS_AT_ONCE)

    async def render(self, message: MessageSpec) -> Pcm:
        async with self.slots:
            return await asyncio.wait_for(self.renderer.render(message), RENDER_SECONDS)


def _message_audio(request: Request) -> _MessageAudio:
    state = request.app.state
    if getattr(state, "message_audio", None) is None:
        state.message_audio = _MessageAudio(console_of(request))
    audio: _MessageAudio = state.message_audio
    return audio


async def message_wav(request: Request) -> Response:
    session_id = int(request.path_params["session_id"])
    visible = visible_accounts(viewer_of(request))
    call = await console_of(request).read(lambda conn: find_call(conn, session_id, visible))
    if call is None:
        raise HTTPException(404)
    kind = MessageType(call["message_type"])
    value = call["message_value"]
    if kind is MessageType.MEDIA and call["media_file_id"] is not None:
        value = str(call["media_file_id"])
    spec = MessageSpec(type=kind, value=value, account_id=call["account_id"])
    try:
        pcm = await _message_audio(request).render(spec)
    except (RenderError, TimeoutError) as exc:
        raise HTTPException(503, f"the message could not be rendered: {exc}") from exc
    return wav_response(wav_bytes(pcm.astype("<i2").tobytes()), f"call-{session_id}-message.wav")


async def recording_wav(request: Request) -> Response:
    session_id = int(request.path_params["session_id"])
    visible = visible_accounts(viewer_of(request))

    def read(conn: Connection) -> bytes | None:
        if find_call(conn, session_id, visible) is None:
            return None
        found = find_recording(conn, session_id)
        return None if found is None else bytes(found["wav"])

    wav = await console_of(request).read(read)
    if wav is None:
        raise HTTPException(404)
    return wav_response(wav, f"call-{session_id}-recording.wav")


ROUTES: list[BaseRoute] = [
    Route("/calls/{session_id:int}/message.wav", message_wav, name="call_message"),
    Route("/calls/{session_id:int}/recording.wav", recording_wav, name="call_recording"),
]
