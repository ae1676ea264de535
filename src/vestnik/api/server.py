"""How vestnik runs uvicorn: one ``uvicorn.Config`` for the service and the tests.

uvicorn bounds an idle keep-alive connection (``timeout_keep_alive``) but nothing else a slow
client does, so a few hundred sockets that trickle bytes hold the server's connections and
memory for ever. :class:`GuardedHttpProtocol` (uvicorn's httptools protocol) adds the bounds:

* headers: a request's headers must be complete ``[server] header_timeout`` seconds after its
  first byte; for a connection's first request, after the connection opened (so a connection
  that sends nothing is closed too);
* header size: the request line and headers at most :data:`MAX_HEADER_BYTES` (httptools has
  no limit) → HTTP 431;
* body: after the headers, the body must arrive at ``[server] min_body_rate`` bytes per second
  on average, after a grace of ``header_timeout`` (Apache's mod_reqtimeout rule: an idle
  timeout alone lets 1 byte every few seconds hold a connection for days);
* keep-alive after a reply sent before its request's body ended (uvicorn's own keep-alive
  timer is cancelled by that body);
* replies the client does not read: while a reply waits for the client to make room, some of
  it must leave every :attr:`GuardedHttpProtocol.send_timeout` seconds (nginx's
  ``send_timeout``). uvicorn closes a connection with ``transport.close()``, which waits for
  unsent data for ever; so the transport reports a stall as soon as anything waits
  (a write buffer limit of 0), and the guard covers a closing connection too.

A connection past a bound is dropped at once (no reply; it may not be reading either).
uvicorn's proxy-header support is off: :func:`vestnik.api.client.client_address` decides who
the client is. uvicorn's access log is off: the APIs write their own (``vestnik.access``).
"""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from vestnik.config import Config

MAX_HEADER_BYTES = 65_536
_HEADERS_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 31\r\nconnection: close\r\n\r\n"
    b"Request headers are too large.\n"
)


class _HeadersTooLarge(Exception):
    """Raised in a parser callback to stop the parser; the reply is a 431."""


class _Phase(Enum):
    HEADERS = "headers"  # waiting for a request's headers to complete
    BODY = "body"  # waiting for its body
    IDLE = "idle"  # nothing owed by the client: the app is working, or uvicorn's keep-alive
    # The reply went out before the body ended: uvicorn's keep-alive timer is gone (any data
    # cancels it), so this one bounds the wait for the next request.
    KEEP_ALIVE = "keep-alive"


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the bounds of the module doc."""

    header_timeout: ClassVar[float] = 10.0
    min_body_rate: ClassVar[float] = 500.0  # bytes per second; 0: no body bound
    send_timeout: ClassVar[float] = 60.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = _Phase.IDLE
        self._since = 0.0  # loop time the phase began
        self._header_bytes = 0
        self._body_bytes = 0
        self._guard: asyncio.TimerHandle | None = None
        self._headers_too_large = False
        self._send_guard: asyncio.TimerHandle | None = None
        self._unsent = 0  # bytes waiting for the client at the send guard's last look

    # The server is a TCP server (loop.create_server): its transport is always a Transport,
    # narrower than the BaseTransport of the protocol's signature.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        transport.set_write_buffer_limits(high=0)  # pause_writing whenever data must wait
        self._enter(_Phase.HEADERS)

    def connection_lost(self, exc: Exception | None) -> None:
        self._enter(_Phase.IDLE)
        self._stop_send_guard()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_guard is None:
            self._unsent = self.transport.get_write_buffer_size()
            self._send_guard = self.loop.call_later(self.send_timeout, self._check_send)

    def resume_writing(self) -> None:
        self._stop_send_guard()
        super().resume_writing()

    def data_received(self, data: bytes) -> None:
        # httptools buffers a header until it ends: bytes still short of the headers' end are
        # counted here (a chunk that began in the previous request is not, so this bound is
        # MAX_HEADER_BYTES plus one read); complete headers are measured exactly below.
        if self._phase is _Phase.HEADERS:
            self._header_bytes += len(data)
        super().data_received(data)
        if (
            self._phase is _Phase.HEADERS
            and self._header_bytes > MAX_HEADER_BYTES
            and not self.transport.is_closing()
        ):
            self._headers_too_large = True
            self.send_400_response("")

    def send_400_response(self, msg: str) -> None:
        """uvicorn's reply to a request it cannot parse; a 431 for too large headers."""
        if not self._headers_too_large:
            super().send_400_response(msg)
            return
        self._enter(_Phase.IDLE)
        self.transport.write(_HEADERS_TOO_LARGE)
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase is not _Phase.HEADERS:  # a first request is timed from the connection
            self._enter(_Phase.HEADERS)

    def on_headers_complete(self) -> None:
        # As sent, near enough: ": " and CRLF are 4 bytes a header.
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > MAX_HEADER_BYTES:
            self._headers_too_large = True
            raise _HeadersTooLarge  # uvicorn answers through send_400_response
        self._enter(_Phase.BODY)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        replied = self.cycle is not None and self.cycle.response_complete and not self.pipeline
        self._enter(_Phase.KEEP_ALIVE if replied else _Phase.IDLE)
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._enter(_Phase.IDLE)  # the connection is the WebSocket protocol's from now on
        super().handle_websocket_upgrade()

    def _enter(self, phase: _Phase) -> None:
        if self._guard is not None:
            self._guard.cancel()
            self._guard = None
        self._phase = phase
        self._since = self.loop.time()
        self._header_bytes = self._body_bytes = 0
        deadline = self._deadline()
        if deadline is not None:
            self._guard = self.loop.call_at(deadline, self._check)

    def _deadline(self) -> float | None:
        if self._phase is _Phase.HEADERS:
            return self._since + self.header_timeout
        if self._phase is _Phase.KEEP_ALIVE:
            return self._since + self.timeout_keep_alive
        if self._phase is _Phase.BODY and self.min_body_rate > 0:
            return self._since + self.header_timeout + self._body_bytes / self.min_body_rate
        return None

    def _check(self) -> None:
        self._guard = None
        if self.flow is not None and self.flow.read_paused:
            # The server stopped reading (pipelining, a slow app), not the client: its clock
            # starts again.
            self._enter(self._phase)
            return
        deadline = self._deadline()
        if deadline is None:
            return
        if self.loop.time() < deadline:  # the body arrived meanwhile: a later deadline
            self._guard = self.loop.call_at(deadline, self._check)
            return
        self._enter(_Phase.IDLE)
        self.transport.abort()

    def _check_send(self) -> None:
        self._send_guard = None
        unsent = self.transport.get_write_buffer_size()
        if not unsent:
            return
        if unsent >= self._unsent:  # nothing left in send_timeout seconds
            self.transport.abort()
            return
        self._unsent = unsent
        self._send_guard = self.loop.call_later(self.send_timeout, self._check_send)

    def _stop_send_guard(self) -> None:
        if self._send_guard is not None:
            self._send_guard.cancel()
            self._send_guard = None


def guarded_protocol(config: Config) -> type[GuardedHttpProtocol]:
    """:class:`GuardedHttpProtocol` with ``config``'s bounds (uvicorn takes a class)."""

    class Bound(GuardedHttpProtocol):
        header_timeout = config.server.header_timeout
        min_body_rate = config.server.min_body_rate

    return Bound


def uvicorn_config(app: Any, config: Config, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for serving ``app`` as vestnik does; ``options`` add to it
    (host, port, log_level, lifespan …)."""
    return uvicorn.Config(
        app,
        http=guarded_protocol(config),
        proxy_headers=False,
        access_log=False,
        **options,
    )
