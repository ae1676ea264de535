"""``vestnik serve --workers N``: N worker processes of the service under one supervisor.

The supervisor (the process started as ``vestnik serve``) migrates the database once, binds the
HTTP socket once, and starts each worker as a fresh Python process (``python -m
vestnik.cli.workers``) that inherits that socket: the workers accept from one listening queue,
so a worker that dies loses no queued connection and its restart needs no new bind
(docs/architecture.md, "Threads and processes", says why this and not SO_REUSEPORT). Each
worker gets its own SIP port, RTP slice, dialer id and edge ports
(:func:`vestnik.config.workers.worker_config`) and runs the whole service as ``serve`` does.

The supervisor restarts a worker that dies (back-off 1 s doubling to 30 s, reset after 60 s
up) and logs it. SIGTERM or SIGINT reaches it: it sends SIGTERM to every worker once (each
drains as ``serve`` does) and exits when all have exited; a second signal sends SIGUSR1,
which cuts the drains short (not a second SIGTERM: sent a moment after the first, before the
worker ran, the kernel would merge the two into one and the worker would drain for the whole
grace; seen once in CI under load). The workers ignore SIGINT, so a Ctrl-C, which the
terminal sends to the whole process group, is acted on once, by the supervisor. A worker that
fails before it serves at the first start (a busy port, a bad trunk) makes the supervisor stop
the others and exit 1; so do ``MAX_FAILED_STARTS`` failed restarts in a row.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pickle
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from vestnik import metrics
from vestnik.config import Config
from vestnik.config.workers import worker_config

log = logging.getLogger("vestnik.workers")

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
# A worker up this long is healthy again: its next restart waits FIRST_BACKOFF.
STABLE_SECONDS = 60.0
# Restarts in a row that fail before serving, after which the supervisor gives up.
MAX_FAILED_STARTS = 5
_READY = b"r"
METRICS_DIR_PREFIX = "vestnik-metrics-"
_PR_SET_PDEATHSIG = 1


@dataclass
class WorkerJob:
    """What a worker process reads from its standard input (pickled) at start."""

    config: Config
    index: int
    count: int
    http_fd: int
    ready_fd: int
    supervisor_pid: int
    metrics_dir: str


@dataclass
class _Worker:
    index: int
    config: Config
    proc: subprocess.Popen[bytes] | None = None
    ready_pipe: int | None = None  # read end: a byte once serving, EOF when it dies
    ready: bool = False
    ever_ready: bool = False
    failed_starts: int = 0
    backoff: float = FIRST_BACKOFF
    started_at: float = 0.0
    restart_at: float | None = None
    codes: list[int] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.proc is not None


class Supervisor:
    """Starts ``count`` workers on the bound ``http_socket`` and keeps them running."""

    def __init__(
        self, config: Config, count: int, http_socket: socket.socket, metrics_dir: Path
    ) -> None:
        self.config = config
        self.socket = http_socket
        self.metrics_dir = metrics_dir
        self.workers = [_Worker(i, worker_config(config, i, count)) for i in range(count)]
        self._count = count
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._signals = 0
        self._handled_signals = 0
        self._failed = False

    @property
    def stopping(self) -> bool:
        return self._handled_signals > 0 or self._failed

    def run(self) -> int:
        """Supervise until every worker has exited; the exit status of ``serve``."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        try:
            for worker in self.workers:
                self._spawn(worker)
            while any(w.running for w in self.workers) or not self.stopping:
                self._wait(self._timeout())
                self._forward_signals()
                self._reap()
                self._restart_due()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._wake_read.close()
            self._wake_write.close()
        if self._failed:
            return 1
        return 0 if all(w.codes and w.codes[-1] == 0 for w in self.workers) else 1

    # --- signals ------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        with contextlib.suppress(OSError):
            self._wake_write.send(b"s")

    def _forward_signals(self) -> None:
        while self._handled_signals < self._signals:
            self._handled_signals += 1
            live = [w for w in self.workers if w.proc is not None]
            if self._handled_signals == 1:
                log.info("stopping: SIGTERM to %d workers; each drains its calls", len(live))
            else:
                log.warning("second stop request: the workers cut their drain short")
            for worker in self.workers:
                worker.restart_at = None
            first = self._handled_signals == 1
            self._terminate(live, signal.SIGTERM if first else _CUT_SHORT)

    @staticmethod
    def _terminate(workers: list[_Worker], sig: int = signal.SIGTERM) -> None:
        for worker in workers:
            if worker.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    worker.proc.send_signal(sig)

    # --- waiting ------------------------------------------------------------------------

    def _timeout(self) -> float:
        due = [w.restart_at for w in self.workers if w.restart_at is not None]
        if not due:
            return 1.0
        return max(0.0, min(1.0, min(due) - time.monotonic()))

    def _wait(self, timeout: float) -> None:
        pipes = {w.ready_pipe: w for w in self.workers if w.ready_pipe is not None}
        readable, _, _ = select.select([self._wake_read.fileno(), *pipes], [], [], timeout)
        for fd in readable:
            if fd == self._wake_read.fileno():
                with contextlib.suppress(BlockingIOError):
                    self._wake_read.recv(4096)
                continue
            worker = pipes[fd]
            data = os.read(fd, 64)
            if data and not worker.ready:
                worker.ready = worker.ever_ready = True
                worker.failed_starts = 0
                pid = worker.proc.pid if worker.proc else "?"
                log.info("worker %d (pid %s) serving: %s", worker.index, pid,
                         _describe(worker.config))  # fmt: skip
            elif not data:  # EOF: the worker's end closed, it is exiting
                os.close(fd)
                worker.ready_pipe = None

    # --- workers ------------------------------------------------------------------------

    def _spawn(self, worker: _Worker) -> None:
        read_end, write_end = os.pipe()
        job = WorkerJob(
            worker.config, worker.index, self._count, self.socket.fileno(), write_end,
            os.getpid(), str(self.metrics_dir),
        )  # fmt: skip
        # Started with SIGINT ignored (kept across exec), so that a Ctrl-C during its start-up
        # cannot raise KeyboardInterrupt in it: the supervisor alone acts on SIGINT.
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "vestnik.cli.workers"],
                stdin=subprocess.PIPE,
                pass_fds=(self.socket.fileno(), write_end),
            )
        finally:
            signal.signal(signal.SIGINT, handler)
            os.close(write_end)
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(pickle.dumps(job))
            proc.stdin.close()
        worker.proc, worker.ready_pipe, worker.ready = proc, read_end, False
        worker.started_at, worker.restart_at = time.monotonic(), None

    def _reap(self) -> None:
        for worker in self.workers:
            proc = worker.proc
            if proc is None or proc.poll() is None:
                continue
            code = proc.returncode
            worker.proc = None
            worker.codes.append(code)
            if worker.ready_pipe is not None:
                os.close(worker.ready_pipe)
                worker.ready_pipe = None
            if self.stopping:
                log.info("worker %d (pid %d) exited (%s)", worker.index, proc.pid, _how(code))
                continue
            self._died(worker, proc.pid, code)

    def _died(self, worker: _Worker, pid: int, code: int) -> None:
        if not worker.ready:
            worker.failed_starts += 1
            if not worker.ever_ready or worker.failed_starts >= MAX_FAILED_STARTS:
                log.error("worker %d (pid %d) could not start (%s%s); stopping the others",
                          worker.index, pid, _how(code),
                          f", {worker.failed_starts} times in a row" if worker.ever_ready
                          else "")  # fmt: skip
                self._failed = True
                for other in self.workers:
                    other.restart_at = None
                self._terminate([w for w in self.workers if w.proc is not None])
                return
        elif time.monotonic() - worker.started_at > STABLE_SECONDS:
            worker.backoff = FIRST_BACKOFF
        log.error("worker %d (pid %d) died (%s); restarting it in %g s; its calls are settled "
                  "by the lease rules", worker.index, pid, _how(code), worker.backoff)  # fmt: skip
        worker.restart_at = time.monotonic() + worker.backoff
        worker.backoff = min(worker.backoff * 2, MAX_BACKOFF)

    def _restart_due(self) -> None:
        now = time.monotonic()
        for worker in self.workers:
            if worker.restart_at is not None and worker.restart_at <= now and not self.stopping:
                self._spawn(worker)
                log.info("worker %d restarted (pid %s)", worker.index,
                         worker.proc.pid if worker.proc else "?")  # fmt: skip


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# A worker's second stop request (a signal of its own: pending signals of one kind merge).
_CUT_SHORT = signal.SIGUSR1


def _how(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _describe(config: Config) -> str:
    dialer = config.dialer
    if not dialer.enabled:
        return "API only"
    return (f"sip port {config.sip.port or 'any'}, rtp {config.rtp.port_min}..{config.rtp.port_max}"
            f", dialer id {dialer.id or 'the default'}")  # fmt: skip


def remove_orphaned_metrics_dirs() -> None:
    """The folders of earlier runs whose supervisor was killed (kill -9 leaves them)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{METRICS_DIR_PREFIX}*-*"):
        pid = folder.name.removeprefix(METRICS_DIR_PREFIX).split("-")[0]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, OSError):
            continue  # not ours to judge (another user's, or a name we did not make)


def serve_workers(config: Config, count: int) -> int:
    """``vestnik serve`` with ``count`` > 1 workers: the database migrated once, the HTTP
    socket bound once, then :class:`Supervisor`. Returns the exit status."""
    from vestnik import service
    from vestnik.logs import configure_logging

    configure_logging(config.log)
    service.prepare_database(config)
    http_socket = service.listen(config.server.host, config.server.port)
    # Where the workers' metrics meet (vestnik.metrics): one folder per run, removed at exit.
    remove_orphaned_metrics_dirs()
    metrics_dir = Path(tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{os.getpid()}-"))
    try:
        log.info("vestnik serving on http://%s:%d with %d workers (supervisor pid %d)",
                 config.server.host, http_socket.getsockname()[1], count, os.getpid())  # fmt: skip
        return Supervisor(config, count, http_socket, metrics_dir).run()
    finally:
        http_socket.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


# --- the worker process ---------------------------------------------------------------------


def _exit_with_supervisor(supervisor_pid: int) -> bool:
    """Ask the kernel for SIGTERM when the supervisor dies (Linux), so that a killed
    supervisor leaves no orphan holding the ports; False if it is already gone."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    return os.getppid() == supervisor_pid


def _tag_log_records(index: int, log_format: str) -> None:
    """Every record of worker ``index`` says so: ``worker`` in JSON, ``vestnik.dialer[1]`` as
    the logger's name in text (the workers share the supervisor's standard error)."""
    make = logging.getLogRecordFactory()

    def tagged(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        record.worker = index
        if log_format == "text":
            record.name = f"{record.name}[{index}]"
        return record

    logging.setLogRecordFactory(tagged)


def worker_main() -> int:
    """One worker: read its :class:`WorkerJob`, run the service until SIGTERM."""
    from vestnik import service
    from vestnik.cli.admin.inprocess import run_admin

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    job: WorkerJob = pickle.load(sys.stdin.buffer)
    if not _exit_with_supervisor(job.supervisor_pid):
        return 1
    _tag_log_records(job.index, job.config.log.format)
    metrics.share_with_workers(Path(job.metrics_dir), job.index)
    http_socket = socket.socket(fileno=job.http_fd)
    http_socket.setblocking(False)
    ready = os.fdopen(job.ready_fd, "wb", buffering=0)

    def on_ready() -> None:
        with contextlib.suppress(OSError):
            ready.write(_READY)

    try:
        service.run(
            job.config,
            listen_socket=http_socket,
            edge_dir=job.config.data_path / "edge" / f"worker-{job.index}",
            signals=(signal.SIGTERM, _CUT_SHORT),
            on_ready=on_ready,
            admin=run_admin,
        )
    except service.ServiceError as exc:
        sys.stderr.write(f"vestnik: error: worker {job.index}: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())
