"""An account's audio files (``media list``): upload (``media add``), play, remove.

An upload is saved under its own file name in a temporary directory, imported by ``media add
ACCOUNT FILE`` exactly as from the command line, and deleted afterwards. The player plays the
message audio vestnik stores for the file (``media_audio``: 8 kHz mono, level-normalised, what
a call plays), served as WAV by ``/accounts/{id}/media/{media_id}/audio``.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vestnik.console.audio import wav_bytes, wav_response
from vestnik.console.context import console_of, require_account, require_operator
from vestnik.console.manage_common import (
    CONSOLE_ACTIONS,
    Flash,
    account_action,
    account_or_404,
    admin_data,
    field,
    option,
    perform,
    refused,
    shown,
    viewing,
)
from vestnik.console.render import render
from vestnik.media.audiofile import resolve_media_path
from vestnik.store.media import TYPE_SYSTEM, media_pcm, stored_audio

PAGE = viewing("/accounts/{id}/media", ("media", "list"))
_UNSAFE = re.compile(r"[^\w.\- ]+")


async def media_page(request: Request, account_id: int, flash: Flash | None = None) -> Response:
    account = await account_or_404(request, account_id)
    files = await admin_data(request, ["media", "list", str(account_id)])
    return render(request, "account_media.html", account=account, files=files,
                  section="media", **shown(flash))  # fmt: skip


async def media(request: Request) -> Response:
    return await media_page(request, int(request.path_params["account_id"]))


def _upload_name(upload: UploadFile) -> str:
    """The upload's own file name, made safe as a path (the import keeps it as the original)."""
    name = _UNSAFE.sub("_", Path(upload.filename or "").name).strip(" .")
    return name or "upload"


async def media_add(request: Request) -> Response:
    require_operator(request)
    account_id = int(request.path_params["account_id"])
    await account_or_404(request, account_id)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await media_page(request, account_id, refused("choose an audio file to upload"))
    with tempfile.TemporaryDirectory(prefix="vestnik-upload-") as folder:
        path = Path(folder) / _upload_name(upload)
        with path.open("wb") as out:
            while chunk := await upload.read(1 << 20):
                out.write(chunk)
        name = option("name", field(form, "name"))
        argv = ["media", "add", str(account_id), str(path), *name]
        # Shown with the upload's name: the temporary path means nothing to the reader.
        flash = await perform(request, argv, shown_argv=[*argv[:3], path.name, *name],
                              summary=_added)  # fmt: skip
    return await media_page(request, account_id, flash)


def _added(data: dict[str, Any]) -> str:
    # ``media add`` prints the row's fields: one line says it better.
    return f"media file {data['media_file_id']} ({data['name']}) added, {data['duration_ms']} ms"


async def _remove(request: Request, account_id: int, form: FormData) -> tuple[list[str], None]:
    media_id = field(form, "media_id")
    listed = await admin_data(request, ["media", "list", str(account_id)])
    if not any(str(row["id"]) == media_id for row in listed):
        raise HTTPException(404)  # another account's file, or no such id
    return ["media", "remove", str(account_id), media_id], None


async def media_audio(request: Request) -> Response:
    """The message audio of a file the account may use (its own or a system one), as WAV."""
    account_id = int(request.path_params["account_id"])
    media_id = int(request.path_params["media_id"])
    require_account(request, account_id)
    console = console_of(request)
    row = await console.read(lambda conn: media_pcm(conn, media_id))
    if row is None or (row.account_id != account_id and row.type != TYPE_SYSTEM):
        raise HTTPException(404)
    pcm = await console.read(lambda conn: stored_audio(conn, media_id))
    if pcm is None:  # made before the audio was kept in the database: this node's file
        path = resolve_media_path(console.config.data_path, row.pcm_path)
        try:
            pcm = path.read_bytes()
        except OSError:
            raise HTTPException(404) from None
    return wav_response(wav_bytes(pcm), f"media-{media_id}.wav")


CONSOLE_ACTIONS[("media", "add")] = "/accounts/{id}/media/add"

ROUTES: list[BaseRoute] = [
    Route("/accounts/{account_id:int}/media", media, name="media"),
    Route("/accounts/{account_id:int}/media/add", media_add, methods=["POST"]),
    account_action("media/remove", ("media", "remove"), _remove, media_page),
    Route("/accounts/{account_id:int}/media/{media_id:int}/audio", media_audio),
]
