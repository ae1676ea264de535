"""Media upload over HTTP (ours; the vendor has none): ``POST /v4.0/media``.

A ``multipart/form-data`` request with the fields ``access_token`` (or ``?access_token=`` in
the URL), ``file`` (the audio) and optionally ``name``. The body is parsed as it streams in
(python-multipart): the file goes straight to a temporary file under ``<data_dir>/tmp`` and
the upload is refused as soon as it passes ``server.max_upload_bytes``. Then the same import
as ``vestnik admin media add`` runs (decode, check, convert, store: the
:class:`vestnik.calls.ports.AudioImporter` that ``vestnik.service`` passes in, i.e.
``vestnik.media.audiofile.MediaImporter``) in a worker thread, in one transaction with the
points charge. The temporary file is always deleted; a refused upload leaves no file and no
row.

Replies are JSON: ``{"data": {"media_file_id": N, "name", "duration", "size", "type"}}`` with
HTTP 200, or ``{"error": {...}}`` (the JSON-RPC error object, same mnemonics) with 4xx/5xx.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from vestnik.api.access import Exchange
from vestnik.api.client import client_address, trusted_networks
from vestnik.api.endpoint import Refused, admit, charge_request, gate_errors, refuse, respond
from vestnik.api.errors import ApiError
from vestnik.api.params import check_text
from vestnik.calls.ports import AudioImporter, AudioImportError
from vestnik.config import Config
from vestnik.store.db import Engine, now
from vestnik.store.media import get_media_file
from vestnik.threads import run_in_thread

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

log = logging.getLogger("vestnik.api.upload")

UPLOAD_PATH = "/v4.0/media"
UPLOAD_METHOD = "upload.media_file"  # the name limits and metrics know this request by
FILE_FIELD = "file"
TEXT_FIELDS = frozenset({"access_token", "name"})
MAX_TEXT_FIELD_BYTES = 4096
TMP_SUBDIR = "tmp"


def _check_text(value: str, field: str) -> None:
    """The Call API's rule for strings (no NUL: PostgreSQL cannot store it), as a 400."""
    try:
        check_text(value, field)
    except ApiError as exc:
        raise Refused(400, exc) from None


class _FormReader:
    """Collects text fields in memory and streams the file part into ``sink``."""

    def __init__(self, sink: BinaryIO, max_file_bytes: int) -> None:
        self.sink = sink
        self.max_file_bytes = max_file_bytes
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.file_bytes = 0
        self.file_seen = False
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._part: str | None = None
        self._is_file = False
        self._text = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._part, self._is_file, self._text = None, False, bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise refuse(400, "invalid_request", field="file")
        name = options[b"name"].decode("utf-8", "replace")
        if name == FILE_FIELD:
            if self.file_seen:
                raise refuse(400, "unexpected_parameters", field=FILE_FIELD)
            self.file_seen = True
            self._is_file = True
            raw = options.get(b"filename", b"")
            self.filename = os.path.basename(raw.decode("utf-8", "replace").replace("\\", "/"))
            _check_text(self.filename, FILE_FIELD)
        elif name not in TEXT_FIELDS:
            raise refuse(400, "unexpected_parameters", field=name, params={"parameters": [name]})
        self._part = name

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self.file_bytes += end - start
            if self.file_bytes > self.max_file_bytes:
                raise refuse(
                    413, "request_too_large", params={"max_body_bytes": self.max_file_bytes}
                )
            self.sink.write(data[start:end])
        else:
            self._text += data[start:end]
            if len(self._text) > MAX_TEXT_FIELD_BYTES:
                raise refuse(400, "invalid_parameter_value", field=self._part)

    def _part_end(self) -> None:
        if self._part is not None and not self._is_file:
            try:
                text = self._text.decode("utf-8")
            except UnicodeDecodeError:
                raise refuse(400, "character_encoding_not_allowed", field=self._part) from None
            _check_text(text, self._part)
            self.fields[self._part] = text


def _multipart_boundary(content_type: str | None) -> bytes:
    media, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if media != b"multipart/form-data" or not boundary:
        # The row's message names JSON (the Call API's rule); data.value shows what came.
        raise refuse(415, "unsupported_content_type", value=content_type)
    return boundary


class MediaUpload:
    """The Starlette endpoint (one per app)."""

    def __init__(self, config: Config, engine: Engine, importer: AudioImporter) -> None:
        self.config = config
        self.engine = engine
        self.importer = importer
        # The server's upload cap and the media import's own file cap, whichever is lower.
        self.max_bytes = min(config.server.max_upload_bytes, config.media.max_file_bytes)
        self.trusted_proxies = trusted_networks(config.server.trusted_proxies)

    async def handle(self, request: Request) -> Response:
        client = client_address(request.scope, self.trusted_proxies)
        exchange = Exchange(request.url.path, client, method=UPLOAD_METHOD)

        async def upload() -> Response:
            return JSONResponse({"data": await self._handle(request, exchange)})

        return await respond(exchange, "upload", log, upload)

    async def _handle(self, request: Request, exchange: Exchange) -> dict[str, Any]:
        boundary = _multipart_boundary(request.headers.get("content-type"))
        declared = request.headers.get("content-length")
        # A declared length far beyond the limit is refused before reading anything.
        if declared and declared.isdigit() and int(declared) > self.max_bytes + 65_536:
            raise refuse(413, "request_too_large", params={"max_body_bytes": self.max_bytes})
        tmp_dir = self.config.data_path / TMP_SUBDIR
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix="upload-", dir=tmp_dir)
        tmp_path = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as sink:
                form = _FormReader(sink, self.max_bytes)
                parser = MultipartParser(boundary, form.callbacks())
                try:
                    async for chunk in request.stream():
                        parser.write(chunk)
                    parser.finalize()
                except MultipartParseError:
                    raise refuse(400, "invalid_request", field=FILE_FIELD) from None
                except ClientDisconnect:
                    raise refuse(400, "invalid_request") from None
            token = form.fields.get("access_token") or request.query_params.get("access_token")
            if not token:
                raise refuse(400, "required_parameter_missed", field="access_token")
            if not form.file_seen or form.file_bytes == 0:
                raise refuse(400, "required_parameter_missed", field=FILE_FIELD)
            return await run_in_thread(
                self._import, token, exchange, tmp_path, form.fields.get("name"), form.filename
            )
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp_path.unlink()

    def _import(
        self,
        token: str,
        exchange: Exchange,
        path: Path,
        name: str | None,
        filename: str | None,
    ) -> dict[str, Any]:
        at = now()
        with gate_errors(), self.engine.begin() as conn:
            principal = admit(conn, token, exchange, at)
            try:
                media_id = self.importer.import_audio(
                    conn, principal.account_id, path, name or None, filename or "upload"
                )
            except AudioImportError as exc:
                reason = {"reason": str(exc)}
                raise refuse(
                    422, "invalid_parameter_value", field=FILE_FIELD, value=filename, params=reason
                ) from None
            charge_request(conn, self.config, principal, UPLOAD_METHOD, at)
            stored = get_media_file(conn, media_id)
        return {
            "media_file_id": int(stored["id"]),
            "name": stored["name"],
            "duration": -(-int(stored["duration_ms"]) // 1000),
            "size": int(stored["size"]),
            "type": stored["type"],
        }


def upload_routes(config: Config, engine: Engine, importer: AudioImporter) -> list[BaseRoute]:
    return [Route(UPLOAD_PATH, MediaUpload(config, engine, importer).handle, methods=["POST"])]
