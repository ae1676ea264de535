"""The composition root: the whole service in one process and one event loop.

``Service`` wires the parts together: the database (migrated at start), the Call API (an ASGI
app on uvicorn), the telephony adapter (SIP + RTP), the message renderer, the dialer, and
background workers (webhook delivery). ``run(config)`` is what ``vestnik serve`` calls: it
blocks until SIGTERM/SIGINT, then stops gracefully (a second signal cuts the drain short).

Start order: database → renderer → telephony → dialer → HTTP → workers. Stop order is the
reverse where it matters: the dialer drains first while the API still answers (so
``release.call`` and ``list.calls`` keep working during the drain), then HTTP, the workers,
the telephony adapter and the database.

Other packages are imported lazily, inside ``start``, so importing this module is cheap and
a part that is switched off (``[dialer] enabled = false`` for an API-only process) is never
loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vestnik.config import Config, ConfigError, check_config, deployment_warnings
from vestnik.logs import configure_logging
from vestnik.threads import run_in_thread

if TYPE_CHECKING:
    from vestnik.calls.ports import MessageRenderer, Telephony
    from vestnik.console.commands import AdminRunner
    from vestnik.store.db import Engine

log = logging.getLogger("vestnik.service")

# How long uvicorn waits for open HTTP connections at shutdown.
HTTP_SHUTDOWN_SECONDS = 5.0
WORKER_STOP_SECONDS = 10.0


class ServiceError(RuntimeError):
    """The service cannot start (message is for the operator)."""


class BackgroundWorker(Protocol):
    """A long-running job in the service's loop: ``run`` until ``stop`` is awaited."""

    async def run(self) -> None: ...
    async def stop(self) -> None: ...


# Builds a worker once the engine exists: ``factory(config, engine)``.
WorkerFactory = Callable[[Config, "Engine"], BackgroundWorker]


def default_workers() -> list[WorkerFactory]:
    """The workers every full service runs: webhook delivery."""

    def webhooks(config: Config, engine: Engine) -> BackgroundWorker:
        from vestnik.events.delivery import WebhookWorker

        return WebhookWorker(config, engine)

    return [webhooks]


class _Server:
    """uvicorn without its own signal handling (the service owns the signals)."""

    def __init__(self, app: Any, config: Config) -> None:
        import uvicorn

        from vestnik.api.server import uvicorn_config

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        # Our root handler formats uvicorn's records too (vestnik.logs); with lifespan, the
        # API endpoint releases its connection at shutdown.
        self.server = Server(uvicorn_config(
            app, config, log_config=None, log_level=None, lifespan="on",
            timeout_graceful_shutdown=int(HTTP_SHUTDOWN_SECONDS),
        ))  # fmt: skip

    async def serve(self, sock: socket.socket) -> None:
        await self.server.serve(sockets=[sock])

    @property
    def started(self) -> bool:
        return bool(self.server.started)

    def exit(self) -> None:
        self.server.should_exit = True


def listen(host: str, port: int) -> socket.socket:
    """Bind the HTTP socket here, so a busy port is a clear error instead of uvicorn's exit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so (accepted ones
    # inherit it); without it each reply waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ServiceError(f"cannot listen for HTTP on {host}:{port}: {exc.strerror}") from exc
    sock.setblocking(False)
    return sock


def _address(config: Config) -> tuple[str, int]:
    return config.server.host, config.server.port


class Service:
    """The whole vestnik service. ``await start()``, later ``await stop()``.

    ``telephony`` / ``renderer`` / ``engine`` replace the configured ones (tests, embedding);
    ``workers`` replaces :func:`default_workers`; ``extra_routes`` go to the API app;
    ``admin`` runs the admin commands for the console's changes (the command line passes it;
    None: the console only reads).
    """

    def __init__(
        self,
        config: Config,
        *,
        engine: Engine | None = None,
        telephony: Telephony | None = None,
        renderer: MessageRenderer | None = None,
        workers: Sequence[WorkerFactory] | None = None,
        extra_routes: Sequence[Any] | None = None,
        listen_socket: socket.socket | None = None,
        edge_dir: Path | None = None,
        admin: AdminRunner | None = None,
    ) -> None:
        self.config = config
        self.admin = admin
        self.engine: Engine | None = engine
        self._own_engine = engine is None
        self.telephony = telephony
        self.renderer = renderer
        self.dialer: Any = None  # vestnik.dialer.Dialer when enabled
        self.app: Any = None
        self._worker_factories = list(default_workers() if workers is None else workers)
        self._extra_routes = list(extra_routes or [])
        self.workers: list[BackgroundWorker] = []
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._server: _Server | None = None
        self._server_task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self._listen_socket = listen_socket  # serve --workers: the supervisor's, shared
        self._edge_dir = edge_dir
        self._telephony_started = False
        self.edge: Any = None  # vestnik.telephony.edge.Edge when a trunk uses tcp or tls
        self._trunk_parts: list[_Stoppable] = []
        self._stopped = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._force = False
        self._started = False
        self._serving = False

    @property
    def http_port(self) -> int:
        """The bound HTTP port (useful with ``[server] port = 0``)."""
        if self._socket is None:
            raise RuntimeError("service not started")
        return int(self._socket.getsockname()[1])

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop(graceful=False)
            raise

    async def _start(self) -> None:
        self._started = True
        try:
            check_config(self.config)  # a Config built in code skips load_config's checks
        except ConfigError as exc:
            raise ServiceError(str(exc)) from None
        if self.config.dialer.enabled and self.telephony is None and not self.config.trunk_list:
            raise ServiceError(
                "no trunk configured: set [trunk] host (VESTNIK_TRUNK_HOST) or add [[trunks]] "
                "tables naming the SIP peers that receive the calls, or run API-only with "
                "[dialer] enabled = false"
            )
        for warning in deployment_warnings(self.config):
            log.warning("%s", warning)
        if self.engine is None:
            from vestnik.store.deadline import DatabaseTimeout

            try:
                self.engine = await run_in_thread(_open_engine, self.config)
            except DatabaseTimeout as exc:
                raise ServiceError(f"database: {exc}") from None
        engine = self.engine
        if self.config.dialer.enabled:
            from vestnik.dialer import Dialer

            if self.renderer is None:
                from vestnik.media.render import AudioRenderer

                self.renderer = AudioRenderer(self.config, engine)
            if self.telephony is None:
                self.telephony = await self._sip_telephony(engine)
            try:
                await self.telephony.start()
            except Exception as exc:
                raise ServiceError(f"telephony cannot start: {exc}") from exc
            self._telephony_started = True
            self.dialer = Dialer(
                self.config, engine, self.telephony, self.renderer, dialer_id=self._dialer_id()
            )
            self._trunk_parts = await _start_trunk_parts(
                self.telephony, engine, self.dialer, self.config
            )
            await self.dialer.start()
        from vestnik.api import create_app
        from vestnik.speech import unavailable_reason

        routes = [*_api_routes(self, engine), *self._extra_routes]
        wake = self.dialer.wake if self.dialer is not None else None  # new sessions claimed now
        self.app = create_app(self.config, engine, extra_routes=routes, on_session_queued=wake,
                              speech_unavailable=unavailable_reason(self.config))  # fmt: skip
        # Start-up objects live for ever: keep them out of the collector's full passes, which
        # otherwise cost ~40 ms each (measured) and stall request handling.
        gc.collect()
        gc.freeze()
        self._socket = self._listen_socket or listen(*_address(self.config))
        self._server = _Server(self.app, self.config)
        self._server_task = asyncio.create_task(self._server.serve(self._socket), name="http")
        while not self._server.started:
            if self._server_task.done():
                self._server_task.result()  # raises what stopped it
                raise ServiceError("the HTTP server stopped during start-up")
            await asyncio.sleep(0.01)
        for factory in self._worker_factories:
            worker = factory(self.config, engine)
            self.workers.append(worker)
            self._worker_tasks.append(asyncio.create_task(worker.run(), name=type(worker).__name__))
        log.info(
            "vestnik serving on http://%s:%d (dialer %s)",
            self.config.server.host, self.http_port,
            self.dialer.dialer_id if self.dialer else "off",
        )  # fmt: skip
        self._serving = True

    async def _sip_telephony(self, engine: Engine) -> Telephony:
        """The SIP adapter; with tcp/tls trunks, the SIP edge first (started, supervised, and
        stopped after the telephony), and the adapter sends those trunks' calls to it."""
        from vestnik.telephony.edge import Edge, EdgeError, config_via_edge

        edge = Edge(self.config, self._edge_dir)
        if not edge.needed:
            return _sip_telephony(self.config, engine)
        self.edge = edge
        try:
            await edge.start()
        except EdgeError as exc:
            raise ServiceError(f"SIP edge: {exc}") from None
        return _sip_telephony(config_via_edge(self.config, edge.hops), engine)

    def _dialer_id(self) -> str | None:
        """With ``[sip] port = 0`` the default id uses the port actually bound."""
        if self.config.dialer.id or self.config.sip.port:
            return None
        bound = getattr(self.telephony, "sip_port", None)
        return f"{socket.gethostname()}:{bound}" if bound else None

    def request_stop(self, graceful: bool = True) -> None:
        """Ask a running :meth:`serve_until_stopped` to stop (signal handlers call this)."""
        if not graceful or self._stop_requested.is_set():
            self._force = True
            if self.dialer is not None and self._stop_requested.is_set():
                log.warning("second stop request: cutting the drain short")
                self.dialer.hang_up_all()
        elif self.dialer is not None:
            log.info(
                "stopping: no new calls; %d calls in hand may finish within %g s "
                "(a second signal hangs them up)",
                self.dialer.active_sessions, self.config.dialer.shutdown_grace,
            )  # fmt: skip
        self._stop_requested.set()

    async def serve_until_stopped(self, on_ready: Callable[[], None] | None = None) -> None:
        """Start, wait for :meth:`request_stop` (or the HTTP server dying), stop."""
        await self.start()
        if on_ready is not None:
            on_ready()
        assert self._server_task is not None
        stop_wait = asyncio.create_task(self._stop_requested.wait())
        await asyncio.wait({stop_wait, self._server_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        if self._server_task.done() and not self._stop_requested.is_set():
            log.error("the HTTP server stopped unexpectedly; stopping the service")
        await self.stop(graceful=not self._force)

    async def stop(self, graceful: bool = True) -> None:
        """Drain the dialer, then stop HTTP, workers, telephony and the database. Idempotent."""
        if self._stopped.is_set() or not self._started:
            return
        self._stopped.set()
        if self.dialer is not None:
            try:
                await self.dialer.stop(graceful=graceful)
            except Exception:
                log.exception("dialer stop failed")
        if self._server is not None and self._server_task is not None:
            self._server.exit()
            await asyncio.gather(self._server_task, return_exceptions=True)
        elif self._socket is not None:
            self._socket.close()
        for worker in self.workers:
            try:
                await asyncio.wait_for(worker.stop(), WORKER_STOP_SECONDS)
            except Exception:
                log.exception("worker %s did not stop cleanly", type(worker).__name__)
        for task in self._worker_tasks:
            task.cancel()
        await asyncio.gather(*self._worker_tasks, return_exceptions=True)
        if self.telephony is not None and self._telephony_started:
            try:
                await self.telephony.stop()
            except Exception:
                log.exception("telephony stop failed")
        for part in self._trunk_parts:
            try:
                await part.stop()
            except Exception:
                log.exception("%s did not stop cleanly", type(part).__name__)
        if self.edge is not None:
            try:
                await self.edge.stop()
            except Exception:
                log.exception("SIP edge stop failed")
        if self.engine is not None and self._own_engine:
            self.engine.dispose()
        if self._serving:  # a failed start says why instead
            log.info("vestnik stopped")


def _open_engine(config: Config) -> Engine:
    from vestnik.media.shared_audio import copy_local_audio
    from vestnik.media.system import ensure_system_media
    from vestnik.store import create_db_engine, migrate

    engine = create_db_engine(config.database_url, timeout=config.database.timeout)
    try:
        migrate(engine)
        with engine.begin() as conn:
            ensure_system_media(conn, config.data_path)
        # Audio of files imported before the database held it, from this node's copies.
        copy_local_audio(engine, config.data_path)
    except BaseException:
        engine.dispose()
        raise
    return engine


class _Stoppable(Protocol):
    async def stop(self) -> None: ...


def _sip_telephony(config: Config, engine: Engine) -> Telephony:
    """SIP with the trunks' limits held in the database, for every process together, and the
    speech recogniser when spoken replies can be served (the adapter loads and closes it)."""
    from vestnik import speech
    from vestnik.dialer.trunk_gate import DatabaseTrunkGate
    from vestnik.telephony.sip.adapter import SipTelephony

    gate = DatabaseTrunkGate(engine, config.trunk_list, config.dialer.lease_seconds)
    recognizer = None if speech.unavailable_reason(config) else speech.create_recognizer(config)
    return SipTelephony(config, gate=gate, recognizer=recognizer)


def _api_routes(service: Service, engine: Engine) -> list[Any]:
    """Routes beyond the Call API: /metrics, Data API, media upload, recordings, console."""
    from vestnik.api.dataapi import dataapi_routes
    from vestnik.api.metrics import metrics_routes
    from vestnik.api.recordings import recording_routes
    from vestnik.api.upload import upload_routes
    from vestnik.console import console_routes
    from vestnik.media.audiofile import MediaImporter

    config = service.config
    return [
        *metrics_routes(engine),
        *dataapi_routes(config, engine),
        *upload_routes(config, engine, MediaImporter(config)),
        *recording_routes(config, engine),
        *console_routes(config, engine, service.admin, service.renderer),
    ]


async def _start_trunk_parts(
    telephony: Telephony, engine: Engine, dialer: Any, config: Config
) -> list[_Stoppable]:
    """The trunk gate's run (the dialer's lease owner) and the recorder of the trunks' status
    (``admin trunk list``), for a telephony that has them; returned in stop order. Rows show
    each trunk as configured (the telephony sees tcp/tls trunks as the edge's UDP address)."""
    from vestnik.dialer.trunk_gate import DatabaseTrunkGate
    from vestnik.dialer.trunk_status import TrunkStatusRecorder
    from vestnik.store.trunks import TrunkRow
    from vestnik.telephony.trunks import TrunkStates, TrunkStatus

    parts: list[_Stoppable] = []
    gate = getattr(telephony, "gate", None)
    if isinstance(gate, DatabaseTrunkGate):
        await gate.start(dialer.owner)
        parts.append(gate)
    trunks = getattr(telephony, "trunks", None)
    if isinstance(trunks, TrunkStates):
        configured = {t.name: t for t in config.trunk_list}

        def row(status: TrunkStatus) -> TrunkRow:
            trunk = configured.get(status.config.name, status.config)
            return TrunkRow(
                trunk.name,
                trunk.transport,
                trunk.host,
                trunk.sip_port,
                status.registered,
                status.state.value,
                status.last_error,
            )

        recorder = TrunkStatusRecorder(engine, dialer.dialer_id)
        recorder.start(row(status) for status in trunks)
        trunks.listeners.append(lambda status: recorder.record(row(status)))
        parts.append(recorder)
    return parts


async def _serve(
    service: Service, signals: Sequence[int], on_ready: Callable[[], None] | None
) -> None:
    loop = asyncio.get_running_loop()
    for sig in signals:
        loop.add_signal_handler(sig, service.request_stop)
    try:
        await service.serve_until_stopped(on_ready)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def run(
    config: Config,
    *,
    listen_socket: socket.socket | None = None,
    edge_dir: Path | None = None,
    signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT),
    on_ready: Callable[[], None] | None = None,
    admin: AdminRunner | None = None,
) -> None:
    """Run the service until one of ``signals`` (blocking). ``vestnik serve`` calls this; a
    worker of ``serve --workers`` passes the shared ``listen_socket``, its own ``edge_dir``,
    SIGTERM alone (the supervisor forwards a Ctrl-C) and ``on_ready`` (called once serving).

    Raises :class:`ServiceError` when it cannot start (the CLI prints the message).
    """
    configure_logging(config.log)
    service = Service(config, listen_socket=listen_socket, edge_dir=edge_dir, admin=admin)
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        runner.run(_serve(service, signals, on_ready))


def prepare_database(config: Config) -> None:
    """Open and migrate the database once and close it (the supervisor of ``serve --workers``,
    before its workers start, so that they do not race to migrate)."""
    from vestnik.store.deadline import DatabaseTimeout

    try:
        _open_engine(config).dispose()
    except DatabaseTimeout as exc:
        raise ServiceError(f"database: {exc}") from None


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (every platform but Windows): measured with the API
    benchmark, ~25 % more ``/health`` and ~4 % more ``start.informer_call`` requests per
    CPU-second than asyncio's own loop (docs/benchmarks.md); None: asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
