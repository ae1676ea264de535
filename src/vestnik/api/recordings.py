"""Call recordings over HTTP (ours): ``GET /system/media/talk/{call_session_id}/{recording_id}/``.

The path is the vendor's record link with our host (``full_record_file_link`` of
``get.calls_report`` gives it whole; ``store.recordings.RECORDING_PATH``). Unlike the
vendor's links it needs the account's access token: ``Authorization: Bearer <token>`` or
``?access_token=<token>``. The same gates as the Call API and the media upload follow: the
token (invalid, expired, blocked: 401), the account (inactive: 403), its IP allow-list (403),
its points (one request weighs ``download.call_record``'s weight, 429 past the limits). A
recording of another account, of another session or that does not exist is 404
``entity_not_found``: whether it exists elsewhere is not told.

A success is the WAV itself (``audio/wav``, ``Content-Disposition: attachment``); a refusal
is ``{"error": {...}}`` (the JSON-RPC error object, same mnemonics) with its HTTP status.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vestnik.api.access import Exchange
from vestnik.api.client import client_address, trusted_networks
from vestnik.api.endpoint import Refused, admit, charge_request, gate_errors, refuse, respond
from vestnik.api.errors import ApiError
from vestnik.config import Config
from vestnik.store.db import Engine, now
from vestnik.store.recordings import RECORDING_PATH, find_recording
from vestnik.threads import run_in_thread

log = logging.getLogger("vestnik.api.recordings")

DOWNLOAD_METHOD = "download.call_record"  # the name limits and the access log know it by
_ROUTE = RECORDING_PATH.replace("{call_session_id}", "{call_session_id:int}").replace(
    "{recording_id}", "{recording_id:int}"
)
_BEARER = "bearer "


def _token(request: Request) -> str | None:
    """``Authorization: Bearer`` first, else ``?access_token=``; None: neither."""
    header = request.headers.get("authorization", "")
    if header[: len(_BEARER)].lower() == _BEARER:
        return header[len(_BEARER) :].strip() or None
    return request.query_params.get("access_token") or None


class RecordingDownload:
    """The Starlette endpoint (one per app)."""

    def __init__(self, config: Config, engine: Engine) -> None:
        self.config = config
        self.engine = engine
        self.trusted_proxies = trusted_networks(config.server.trusted_proxies)

    async def handle(self, request: Request) -> Response:
        client = client_address(request.scope, self.trusted_proxies)
        exchange = Exchange(request.url.path, client, method=DOWNLOAD_METHOD, verb="GET")

        async def download() -> Response:
            token = _token(request)
            if token is None:
                missing = ApiError("required_parameter_missed", field="access_token")
                raise Refused(401, missing, {"WWW-Authenticate": "Bearer"})
            session_id = int(request.path_params["call_session_id"])
            recording_id = int(request.path_params["recording_id"])
            found = await run_in_thread(self._read, token, exchange, session_id, recording_id)
            return _wav_response(found)

        return await respond(exchange, "recordings", log, download)

    def _read(
        self, token: str, exchange: Exchange, session_id: int, recording_id: int
    ) -> dict[str, Any]:
        at = now()
        try:
            with gate_errors(), self.engine.begin() as conn:
                principal = admit(conn, token, exchange, at)
                charge_request(conn, self.config, principal, DOWNLOAD_METHOD, at)
                found = find_recording(
                    conn, session_id, recording_id=recording_id, account_id=principal.account_id
                )
                if found is None:  # rolls the charge back: only successes are charged
                    raise refuse(404, "entity_not_found", field="recording_id", value=recording_id)
        except Refused as exc:
            if exc.status == 401:
                exc.headers = {"WWW-Authenticate": "Bearer"}
            raise
        return found


def _wav_response(found: dict[str, Any]) -> Response:
    name = f"call-{found['call_session_id']}-{found['attempt']}-{found['id']}.wav"
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "private, no-store",
    }
    return Response(bytes(found["wav"]), media_type="audio/wav", headers=headers)


def recording_routes(config: Config, engine: Engine) -> list[BaseRoute]:
    endpoint = RecordingDownload(config, engine)
    return [Route(_ROUTE, endpoint.handle, methods=["GET"])]
