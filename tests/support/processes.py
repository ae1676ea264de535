"""Ports, waiting and child processes for the tests' real peers (SIPp, baresip, Kamailio).

A peer binds loopback ports that were free a moment ago, runs in its own process group with its
output in a log file, and is killed with its group on exit; a missing binary skips the test with
the Debian package to install.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

LOOPBACK = "127.0.0.1"


# --- ports and processes -----------------------------------------------------------------


def free_port(*, tcp_too: bool = True) -> int:
    """A loopback UDP port that is free now (and free for TCP too: SIP peers bind both)."""
    for _ in range(200):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind((LOOPBACK, 0))
            port = int(udp.getsockname()[1])
            if not tcp_too or _tcp_free(port):
                return port
        finally:
            udp.close()
    raise RuntimeError("no free loopback port found")


def _bindable(kind: socket.SocketKind, port: int) -> bool:
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.bind((LOOPBACK, port))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def _tcp_free(port: int) -> bool:
    return _bindable(socket.SOCK_STREAM, port)


def udp_free(port: int) -> bool:
    return _bindable(socket.SOCK_DGRAM, port)


def udp_port_owned_by(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a UDP socket bound to ``port`` (not merely someone)."""
    inodes = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    fds = Path(f"/proc/{pid}/fd")
    with contextlib.suppress(OSError):
        for fd in fds.iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in inodes:
                    return True
    return False


def free_port_range(count: int, *, low: int = 30000, high: int = 60000) -> tuple[int, int]:
    """``count`` consecutive UDP ports (even start) that are all free now: an RTP range."""
    rng = random.Random()
    for _ in range(200):
        start = rng.randrange(low, high - count) & ~1
        if all(udp_free(p) for p in range(start, start + count)):
            return start, start + count - 1
    raise RuntimeError(f"no free range of {count} UDP ports")


def require_binary(name: str, package: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if os.access(f"/usr/sbin/{name}", os.X_OK) else None
    )
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package {package})")
    return path


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


async def async_wait_until(
    check: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    """``wait_until`` for coroutines: polls without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        await asyncio.sleep(0.02)


class PeerProcess:
    """A child process in its own process group, with its output in a log file."""

    def __init__(self, name: str, argv: Sequence[str], workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            list(argv),
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(
                f"{self.name} exited with {self.proc.returncode}:\n{self.log()[-3000:]}"
            )

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM to the group we started, then SIGKILL if it lingers."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        else:
            # Children (Kamailio's workers) may outlive a dead parent: end the group too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()


class Peer:
    """Common context-manager plumbing: a temp dir and one process."""

    name = "peer"

    def __init__(self, workdir: Path | None) -> None:
        self._own_dir = workdir is None
        self.workdir = (
            Path(tempfile.mkdtemp(prefix=f"vestnik-{self.name}-"))
            if workdir is None
            else Path(workdir)
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process: PeerProcess | None = None

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def log(self) -> str:
        return self.process.log() if self.process else ""
